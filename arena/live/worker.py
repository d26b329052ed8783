"""A worker process of ``arena live``: ``python -m arena.live.worker SPEC.json``.

Speaks a line protocol on stdin/stdout with the coordinator: prints ``READY [addresses]`` once its sockets are
bound and its nodes built, waits for ``START <epoch>`` (unless the spec already has a start time), runs, then prints
``DONE``. An error before the start is reported as ``ERROR <message>``. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from arena.live.endpoint import loopback_only
from arena.live.plan import Address
from arena.live.process import LiveProcess, ProcessSpec
from arena.plugin_host.registry import PluginError
from arena.scenario.yamlsource import ScenarioError


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _read_start() -> float:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    word, _, value = line.strip().partition(" ")
    if word != "START":
        raise RuntimeError(f"expected 'START <epoch>' from the coordinator, got {line.strip()!r}")
    return float(value)


async def _main(spec: ProcessSpec) -> None:
    proc = LiveProcess(spec)

    def ready(addresses: list[Address]) -> None:
        _say("READY " + json.dumps([list(a) for a in addresses]))

    await proc.run(ready, _read_start)
    _say("DONE")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    loopback_only()
    spec = ProcessSpec.from_json(json.loads(Path(args[0]).read_text(encoding="utf-8")))
    try:
        asyncio.run(_main(spec))
    except (ScenarioError, PluginError, OSError) as exc:
        _say(f"ERROR {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
