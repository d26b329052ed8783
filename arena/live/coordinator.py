"""``arena live``: a scenario on real UDP sockets, its nodes spread over worker processes, judged like a simulation.

The coordinator plans addresses (127.0.0.1 only) and process groups, starts one worker subprocess per group
(``python -m arena.live.worker``), waits until every worker has bound its sockets, then gives them all one start
time. Start-up takes seconds (every worker imports py-ipv8 and builds its nodes), so it reports each phase to a
``phase(name, done, total)`` callback: ``processes`` started, ``nodes`` ready, ``battle`` seconds, ``stopping``
workers, ``judging``. During the battle it carries out the scenario's crash and restart events by killing
(SIGKILL) and starting again the process of the node named (which runs alone). Afterwards it merges the nodes'
run directories, judges them with the same referee as the simulator, and writes ``result.json`` with the seal of
the run directory and of every node directory under it (``nodes/<name>/trace.jsonl``, ``nodes/<name>/states/*.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.live.channels import LiveChannelPlan
from arena.live.endpoint import GuardSettings
from arena.live.plan import BattlePlan
from arena.live.process import ProcessSpec
from arena.plugin_host.registry import Registry, default_registry
from arena.protocols.channel_workload import channel_results
from arena.protocols.honest import genesis_fields
from arena.referee.checkers import Verdict, judge_run_dir
from arena.referee.outcome import summarize
from arena.referee.seal import seal
from arena.runtime.trace import Trace
from arena.scenario.model import Scenario
from arena.scenario.yamlsource import ScenarioError
from arena.sim.runner import package_versions, write_result

Phase = Callable[[str, float, float], None]
"""``phase(name, done, total)``: ``processes``, ``nodes``, ``battle`` (seconds), ``stopping``, ``judging``."""

READY_TIMEOUT = 60.0  # seconds for a worker to import, bind and build its nodes (a loaded CI machine is slow)
START_DELAY = 0.5  # seconds between the last READY and the battle's start
STOP_GRACE = 30.0  # seconds after the battle's end for workers to write their states


class LiveError(RuntimeError):
    """A worker failed to start or the battle could not run."""


@dataclass
class Worker:
    group: int
    indices: list[int]
    spec_path: Path
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    incarnation: int = 0
    killed: bool = False


@dataclass
class LiveOutcome:
    result: dict[str, Any]
    out_dir: Path
    verdict: Verdict
    plan: BattlePlan
    node_dirs: list[Path] = field(default_factory=list)


def udp_rcvbuf_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (machine-wide; Linux only)."""
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return None
    rows = [line.split() for line in lines if line.startswith("Udp:")]
    if len(rows) < 2 or "RcvbufErrors" not in rows[0]:
        return None
    return int(rows[1][rows[0].index("RcvbufErrors")])


def check_plugins(plan: BattlePlan, registry: Registry, red_enabled: bool = True) -> None:
    """Fail early (a user error) on unknown plugins, wrong teams and bad parameters."""
    teams = plan.scenario.teams
    for i, (_, spec) in enumerate(plan.scenario.roles()):
        if spec.team == "red" and not red_enabled:
            continue
        team = teams.red if spec.team == "red" else teams.blue
        for use in [*team.plugins, *spec.plugins]:
            info = registry.get(use.name)
            if info.team != spec.team:
                raise ScenarioError(f"plugin {use.name!r} is a {info.team} plugin but {plan.name(i)} is on the "
                                    f"{spec.team} team")
            try:
                info.cls.Params(**use.params)
            except Exception as exc:
                raise ScenarioError(f"plugin {use.name!r} params: {exc}") from exc


class Coordinator:
    def __init__(self, scenario: Scenario, out_dir: Path, processes: int = 3, base_port: int | None = None,
                 seed: int | None = None, plugin_files: tuple[str, ...] | list[str] = (), red_enabled: bool = True,
                 guard: GuardSettings | None = None, progress: Callable[[float], None] | None = None,
                 phase: Phase | None = None, hosts: str = "shared", emulate_links: bool = False,
                 protocol_files: tuple[str, ...] | list[str] = ()) -> None:
        self.sc = scenario
        self.protocol_files = [str(Path(p).resolve()) for p in protocol_files]
        if scenario.protocol == "pingpong":
            raise ScenarioError("protocol: pingpong runs in the simulator only (arena run)")
        self.out_dir = out_dir
        self.plan = BattlePlan.build(scenario, seed, base_port, hosts=hosts)
        self.hosts = hosts
        self.emulate_links = emulate_links
        self.plugin_files = [str(Path(p).resolve()) for p in plugin_files]
        self.red_enabled = red_enabled
        self.guard = guard or GuardSettings()
        self.progress = progress
        self.phase = phase
        check_plugins(self.plan, default_registry(self.plugin_files), red_enabled)
        self.channel_plan = LiveChannelPlan.build(self.plan) if scenario.channels.enabled else None
        self.invoices: dict[int, str] = {}  # payment k -> hash (hex), from the workers' INVOICES lines
        self.groups = self.plan.groups(processes)
        self.nodes_dir = out_dir.resolve() / "nodes"
        self.procs_dir = out_dir / "procs"
        self.start_at = 0.0
        self.workers: list[Worker] = []
        self.events: list[dict[str, Any]] = []
        self.trace: Trace | None = None
        self._drains: list[asyncio.Future[None]] = []

    # -- the trace of the coordinator ------------------------------------------------------------------------------
    def now(self) -> float:
        return max(0.0, time.time() - self.start_at) if self.start_at else 0.0

    def _tell(self, name: str, done: float, total: float) -> None:
        if self.phase is not None:
            self.phase(name, done, total)

    def emit(self, ev: str, **fields: Any) -> None:
        assert self.trace is not None
        self.trace.emit(self.now(), ev, **fields)
        if self.trace._file is not None:
            self.trace._file.flush()

    # -- workers ---------------------------------------------------------------------------------------------------
    def _spec(self, k: int, indices: list[int], start_at: float | None) -> Path:
        spec = ProcessSpec(self.plan, indices, self.nodes_dir, start_at, self.plugin_files, guard=self.guard,
                           red_enabled=self.red_enabled, rehearsal=True, emulate_links=self.emulate_links,
                           channels=self.channel_plan is not None, invoices=dict(self.invoices),
                           protocol_files=self.protocol_files)
        path = self.procs_dir / f"p{k}.json"
        path.write_text(json.dumps(spec.to_json(), sort_keys=True) + "\n", encoding="utf-8")
        return path

    async def _spawn(self, w: Worker) -> None:
        w.incarnation += 1
        log = w.log_path.with_name(f"{w.log_path.stem}.{w.incarnation}.log").open("w", encoding="utf-8")
        try:
            w.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "arena.live.worker", str(w.spec_path), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log)
        finally:
            log.close()
        w.killed = False

    async def _ready(self, w: Worker, timeout: float) -> None:
        """Wait for the worker's READY line (its sockets are bound); then keep its stdout drained."""
        assert w.proc is not None and w.proc.stdout is not None
        deadline = time.time() + timeout
        line = ""
        while True:
            try:
                raw = await asyncio.wait_for(w.proc.stdout.readline(), max(0.1, deadline - time.time()))
            except TimeoutError:
                raise LiveError(f"worker p{w.group} (nodes {self._names(w)}) not ready after {timeout:.0f} s; "
                                f"see {w.log_path.parent}") from None
            line = raw.decode(errors="replace").strip()
            if line.startswith("INVOICES "):
                self.invoices.update({int(k): str(v) for k, v in json.loads(line[9:]).items()})
                continue
            if not raw or line.startswith(("READY", "ERROR")):
                break
        if line.startswith("ERROR"):
            raise ScenarioError(f"worker p{w.group}: {line[6:]}")
        if not line.startswith("READY"):
            raise LiveError(f"worker p{w.group} (nodes {self._names(w)}) failed to start; see {w.log_path.parent}")
        self._drains.append(asyncio.ensure_future(self._drain(w.proc.stdout)))

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        """Read and drop what a worker prints after READY (a plugin's prints must not fill the pipe)."""
        while await stream.read(65536):
            pass

    def _names(self, w: Worker) -> str:
        return ",".join(self.plan.name(i) for i in w.indices)

    def _worker_of(self, index: int) -> Worker | None:
        return next((w for w in self.workers if index in w.indices), None)

    async def _kill(self, w: Worker) -> None:
        if w.proc is not None and w.proc.returncode is None:
            w.proc.kill()
            await w.proc.wait()
        w.killed = True

    # -- the battle ------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        sc, plan = self.sc, self.plan
        for k, indices in enumerate(self.groups):
            w = Worker(k, indices, self._spec(k, indices, None), self.procs_dir / f"p{k}.log")
            self.workers.append(w)
        try:
            started = 0
            self._tell("processes", 0, len(self.workers))
            for w in self.workers:
                await self._spawn(w)
                started += 1
                self._tell("processes", started, len(self.workers))
            ready: list[int] = []
            self._tell("nodes", 0, sc.node_count)

            async def ready_one(w: Worker) -> None:
                await self._ready(w, READY_TIMEOUT)
                ready.extend(w.indices)
                self._tell("nodes", len(ready), sc.node_count)

            await asyncio.gather(*(ready_one(w) for w in self.workers))
            self.start_at = time.time() + START_DELAY
            self._tell("battle", 0, sc.duration)
            for w in self.workers:
                assert w.proc is not None and w.proc.stdin is not None
                w.proc.stdin.write(f"START {self.start_at!r}\n".encode())
                if self.channel_plan is not None:
                    w.proc.stdin.write(f"INVOICES {json.dumps(self.invoices, sort_keys=True)}\n".encode())
                await w.proc.stdin.drain()
                # later incarnations (restarts) start at once: their spec carries the start time
                w.spec_path = self._spec(w.group, w.indices, self.start_at)
            assert self.trace is not None
            self.trace.emit(0.0, "genesis", **genesis_fields(sc, plan.genesis(), plan.plugin_names(self.red_enabled)))
            if self.channel_plan is not None:
                self.trace.emit(0.0, "channel_plan", **self.channel_plan.trace_fields(plan))
            await self._events()
            await self._sleep_until(sc.duration)
            deadline = time.time() + STOP_GRACE
            for k, w in enumerate(self.workers):
                self._tell("stopping", k, len(self.workers))
                if w.proc is None or w.killed:
                    continue
                try:
                    code = await asyncio.wait_for(w.proc.wait(), max(0.1, deadline - time.time()))
                except TimeoutError:
                    self.events.append({"worker": w.group, "problem": "did not stop in time; killed"})
                    await self._kill(w)
                    continue
                if code != 0:
                    self.events.append({"worker": w.group, "nodes": self._names(w), "problem": f"exit code {code}",
                                        "log": str(w.log_path.with_name(f"{w.log_path.stem}.{w.incarnation}.log"))})
            self._tell("stopping", len(self.workers), len(self.workers))
        finally:
            for w in self.workers:
                if w.proc is not None and w.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        w.proc.kill()
                    await w.proc.wait()
            for d in self._drains:
                d.cancel()

    async def _sleep_until(self, t: float) -> None:
        while True:
            now = time.time() - self.start_at
            if now >= t:
                return
            if self.progress is not None:
                self.progress(max(0.0, now))
            self._tell("battle", max(0.0, now), self.sc.duration)
            await asyncio.sleep(min(0.5, t - now))

    async def _events(self) -> None:
        for ev in sorted(self.sc.events, key=lambda e: e.at):
            await self._sleep_until(ev.at)
            if ev.partition is not None:
                self.emit("partition", groups=[sorted(g) for g in ev.partition])
            elif ev.heal:
                self.emit("heal")
            elif ev.crash is not None:
                w = self._worker_of(ev.crash)
                if w is not None and not w.killed:
                    await self._kill(w)
                    self.emit("crash", node=ev.crash)
            elif ev.restart is not None:
                w = self._worker_of(ev.restart)
                if w is not None and w.killed:
                    await self._spawn(w)
                    assert w.proc is not None and w.proc.stdout is not None
                    self._drains.append(asyncio.ensure_future(self._drain(w.proc.stdout)))
                    self.emit("restart", node=ev.restart)

    # -- afterwards ------------------------------------------------------------------------------------------------
    def run(self) -> LiveOutcome:
        """Run the battle in real time, then judge it. Writes ``result.json`` in ``out_dir``."""
        sc, plan = self.sc, self.plan
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.nodes_dir.mkdir(exist_ok=True)
        self.procs_dir.mkdir(exist_ok=True)
        self.trace = Trace(self.out_dir / "trace.jsonl", sc.trace_level)
        self.trace.header(seed=plan.seed, scenario=sc.name, scenario_sha256=sc.digest(), backend="live",
                          level=sc.trace_level, versions=package_versions(), red_enabled=self.red_enabled,
                          processes=[[plan.name(i) for i in g] for g in self.groups],
                          addresses={plan.name(i): f"{a[0]}:{a[1]}" for i, a in enumerate(plan.addresses)})
        buf_before = udp_rcvbuf_errors()
        started = time.perf_counter()
        try:
            asyncio.run(self._run())
        finally:
            self.trace.close()
        wall = time.perf_counter() - started
        buf_after = udp_rcvbuf_errors()
        self._tell("judging", 0, 1)
        node_dirs = [self.nodes_dir / plan.name(i) for i in range(sc.node_count)]
        node_dirs = [d for d in node_dirs if (d / "trace.jsonl").is_file()]
        verdict = judge_run_dir(self.out_dir, node_dirs)
        stats = self._stats(node_dirs)
        messages = _messages(stats)
        if buf_before is not None and buf_after is not None:
            messages["udp_rcvbuf_errors"] = buf_after - buf_before
        states = [json.loads(p.read_text(encoding="utf-8")) for d in node_dirs for p in sorted((d / "states").glob(
            "*.json"))]
        g = plan.genesis()
        result: dict[str, Any] = {
            "scenario": sc.name, "seed": plan.seed, "backend": "live", "virtual_seconds": sc.duration,
            "wall_seconds": round(wall, 3), "messages": messages,
            "trace_sha256": self.trace.sha256, "trace_events": self.trace.lines + sum(
                _count_lines(d / "trace.jsonl") for d in node_dirs),
            "red_enabled": self.red_enabled,
            "plugin_faults": [f for s in stats for f in s.get("plugin_faults", [])],
            "processes": [[plan.name(i) for i in grp] for grp in self.groups],
            "addresses": {plan.name(i): f"{a[0]}:{a[1]}" for i, a in enumerate(plan.addresses)},
            "states_missing": sorted({plan.name(i) for i in range(sc.node_count)}
                                     - {str(s.get("name")) for s in states}),
            "worker_problems": self.events,
            # one machine, seed-derived keys: a rehearsal by construction (docs/battle_day.md)
            "rehearsal": True, "hosts": self.hosts, "links_emulated": self.emulate_links,
        }
        result.update(summarize(states, {a.hex(): n for a, n in g.names.items()},
                                {g.names[a]: s for a, s in g.stakes.items()}))
        result.update(channel_results(states, result.get("canonical_validator")))
        if self.channel_plan is not None:
            result["channel_invoices"] = {"payments": len(self.channel_plan.payments), "invoices": len(self.invoices)}
        result.update(verdict.as_result())
        # the coordinator's trace and states, and every node directory's (``nodes/<name>/...``), as judged
        result["seal"] = seal(self.out_dir)
        write_result(self.out_dir, result)
        return LiveOutcome(result, self.out_dir, verdict, plan, node_dirs)

    def _stats(self, node_dirs: list[Path]) -> list[dict[str, Any]]:
        """The last stats snapshot of every process incarnation of every node."""
        out = []
        for d in node_dirs:
            for p in sorted(d.glob("live_stats.*.json")):
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    out.append(json.loads(p.read_text(encoding="utf-8")))
        return out


def _messages(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Packets over all nodes: sent, read, delivered to py-ipv8, dropped by reason; lost: sent from one node of the
    battle to another and never read there (the kernel's buffer drops, and packets to a crashed node)."""
    total: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    max_queue = 0
    rcvbufs: list[int] = []
    for s in stats:
        ep = s.get("endpoint", {})
        for k in ("sent", "received", "delivered", "bytes_sent", "sent_known", "received_known"):
            total[k] += int(ep.get(k, 0))
        reasons.update({k: int(v) for k, v in ep.get("dropped_by_reason", {}).items()})
        max_queue = max(max_queue, int(ep.get("max_queue", 0)))
        if ep.get("rcvbuf"):
            rcvbufs.append(int(ep["rcvbuf"]))
    lost = max(0, total["sent_known"] - total["received_known"])
    return {"sent": total["sent"], "delivered": total["delivered"], "received": total["received"],
            "dropped": sum(reasons.values()), "dropped_by_reason": dict(sorted(reasons.items())),
            "bytes_sent": total["bytes_sent"], "between_nodes": {"sent": total["sent_known"],
                                                                 "received": total["received_known"]},
            "lost": lost, "loss_rate": round(lost / total["sent_known"], 6) if total["sent_known"] else 0.0,
            "max_send_queue": max_queue, "socket_rcvbuf_min": min(rcvbufs, default=None)}


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def run_live(scenario: Scenario, out_dir: Path, processes: int = 3, base_port: int | None = None,
             seed: int | None = None, plugin_files: tuple[str, ...] | list[str] = (), red_enabled: bool = True,
             guard: GuardSettings | None = None, progress: Callable[[float], None] | None = None,
             phase: Phase | None = None, hosts: str = "shared", emulate_links: bool = False,
             protocol_files: tuple[str, ...] | list[str] = ()) -> LiveOutcome:
    """Run ``scenario`` live on loopback (127.0.0.1, or node *i* on 127.0.0.(i+2) with ``hosts="per_node"``) in
    ``processes`` worker processes; judge it; write ``result.json``. ``progress(t)``: battle seconds;
    ``phase(name, done, total)``: start-up, battle, stop and judging; ``emulate_links``: the scenario's latency,
    jitter and loss applied to sends (a rehearsal; off, the network is what it is); ``protocol_files``: the
    ``--protocol`` files every worker loads (the scenario's ``protocol`` names the one that runs)."""
    return Coordinator(scenario, out_dir, processes, base_port, seed, plugin_files, red_enabled, guard,
                       progress, phase, hosts, emulate_links, protocol_files).run()


__all__ = ["Coordinator", "LiveError", "LiveOutcome", "Phase", "run_live", "udp_rcvbuf_errors"]
