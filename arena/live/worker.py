"""A worker process of ``arena live``: ``python -m arena.live.worker SPEC.json``.

Speaks a line protocol on stdin/stdout with the coordinator: prints ``READY [addresses]`` once its sockets are
bound and its nodes built, waits for ``START <epoch>`` (unless the spec already has a start time), runs, then prints
``DONE``. With the channel workload, ``INVOICES {k: hash}`` (its nodes' invoices) goes before ``READY``, and the
coordinator's ``INVOICES`` (everyone's) follows ``START``. An error before the start is reported as
``ERROR <message>``. Logs go to stderr.
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


async def _read_line(word: str) -> str:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    got, _, value = line.strip().partition(" ")
    if got != word:
        raise RuntimeError(f"expected '{word} ...' from the coordinator, got {line.strip()!r}")
    return value


async def _main(spec: ProcessSpec) -> None:
    proc = LiveProcess(spec)

    def ready(addresses: list[Address]) -> None:
        if proc.channel_plan is not None:  # the payment hashes of this process's invoices, for the payers
            _say("INVOICES " + json.dumps(proc.invoices_made, sort_keys=True))
        _say("READY " + json.dumps([list(a) for a in addresses]))

    async def wait_start() -> float:
        start = float(await _read_line("START"))
        if proc.channel_plan is not None:
            proc.add_invoices(json.loads(await _read_line("INVOICES")))
        return start

    await proc.run(ready, wait_start)
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
