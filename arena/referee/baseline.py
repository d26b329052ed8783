"""What an attack cost the honest network: an attacked run's ``result.json`` against its baseline (red disabled).

Pure: both arguments are result dicts as the runner and the referee write them; missing figures give None.
"""

from __future__ import annotations

from typing import Any


def _num(result: dict[str, Any], *path: str) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _throughput(result: dict[str, Any]) -> float | None:
    """Honest transactions finalised per virtual second (the referee's ``latency.count``)."""
    count, seconds = _num(result, "latency", "count"), _num(result, "virtual_seconds")
    return count / seconds if count is not None and seconds else None


def _pair(attacked: float | None, baseline: float | None) -> dict[str, Any]:
    diff = attacked - baseline if attacked is not None and baseline is not None else None
    ratio = attacked / baseline if attacked is not None and baseline else None
    return {"attacked": _round(attacked), "baseline": _round(baseline), "diff": _round(diff), "ratio": _round(ratio)}


def _round(x: float | None) -> float | int | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(x, 6)


def compare(attacked: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Each metric as ``{attacked, baseline, diff, ratio}`` (attacked - baseline, attacked / baseline).

    ``stolen`` (tokens), ``throughput`` (honest transactions finalised per virtual second), ``latency_mean``
    (seconds from intent to finality), ``messages_sent`` (packets sent by all nodes).
    """
    return {
        "stolen": _pair(_num(attacked, "stolen") or 0.0, _num(baseline, "stolen") or 0.0),
        "throughput": _pair(_throughput(attacked), _throughput(baseline)),
        "latency_mean": _pair(_num(attacked, "latency", "mean"), _num(baseline, "latency", "mean")),
        "messages_sent": _pair(_num(attacked, "messages", "sent"), _num(baseline, "messages", "sent")),
    }


__all__ = ["compare"]
