"""One OS process of a live battle: some of the scenario's nodes, on real UDP sockets and a real asyncio loop.

Each node is the same :class:`~honest.node.HonestNode` (or the same Community of a team's protocol,
:class:`arena.protocols.api.Protocol`, behind the same message boundary) with the same plugins as in the
simulator; only what is around it changes: a :class:`~arena.live.endpoint.LiveEndpoint` instead of the simulated
one, the loop's clock measured from the battle's shared start time, SQLite storage for validators, and its own run
directory (``trace.jsonl``, ``states/<name>.json``, ``ledger.sqlite``, ``live_stats.<pid>.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ipv8.community import Community
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena.live.adversary import LiveAdversaryHost
from arena.live.channels import LiveChannelPlan, LivePayment
from arena.live.endpoint import GuardSettings, LiveEndpoint, own_udp_sockets
from arena.live.links import LinkEmulator
from arena.live.plan import Address, BattlePlan
from arena.plugin_api.adversary import TeamBudget
from arena.plugin_api.base import NodeContext
from arena.plugin_host.faults import Fault
from arena.plugin_host.registry import Registry, default_registry
from arena.protocols.api import Genesis, NodeSetup, Protocol
from arena.protocols.honest import WorkItem, genesis_fields, honest_node_state, node_config, workload_schedule
from arena.protocols.hosted import checked_state, env_hooks
from arena.protocols.registry import load_files as load_protocol_files
from arena.protocols.registry import protocol_class
from arena.runtime.assembly import NodePlugins, assemble_plugins, plugin_uses, wire_transport
from arena.runtime.crypto import fast_crypto
from arena.runtime.keys import KeyFileError, generate_key, node_key, read_key_file, write_key_file
from arena.runtime.message_boundary import MessageBoundary, guard_handlers
from arena.runtime.rng import stream
from arena.runtime.trace import Trace
from arena.scenario.yamlsource import ScenarioError
from arena.sim.runner import package_versions
from honest.channels import ChannelStore
from honest.env import NodeEnv, NodeHooks, NoHooks
from honest.ledger import LedgerStore, MemoryStore, SqliteStore
from honest.node import HonestNode, HonestSettings
from honest.schema import account_of

log = logging.getLogger("arena.live")
NO_HOOKS = NoHooks()
STATS_INTERVAL = 1.0


class LiveTrace(Trace):
    """A trace file written line by line (a SIGKILL loses no finished line); a restarted node appends to it."""

    def __init__(self, path: Path, level: str) -> None:
        super().__init__(None, level)
        self.appended = path.is_file() and path.stat().st_size > 0
        if self.appended:
            _cut_partial_line(path)
        self.path = path
        self._file = path.open("a" if self.appended else "w", encoding="utf-8", buffering=1)


def _cut_partial_line(path: Path) -> None:
    """Drop a last line left unfinished by a kill, so every line of the file stays valid JSON."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def load_or_create_key(path: Path, create: bool = True) -> PrivateKey:
    """A py-ipv8 private key file (``key_to_bin``); a new curve25519 key (mode 0600) when it is missing and
    ``create``."""
    try:
        if not path.is_file() and create:
            key = generate_key()
            write_key_file(path, key)
            return key
        return read_key_file(path)
    except KeyFileError as exc:
        raise ScenarioError(f"--key {exc}") from None


@dataclass
class ProcessSpec:
    """What one live process runs (serialised to JSON for a worker subprocess)."""

    plan: BattlePlan
    indices: list[int]
    out_dir: Path  # each node's directory is out_dir / <name>
    start_at: float | None = None  # battle start (epoch seconds); None: wait for the coordinator's START line
    plugin_files: list[str] = field(default_factory=list)
    key_files: dict[int, str] = field(default_factory=dict)
    listen: dict[int, Address] = field(default_factory=dict)  # bind address when not the plan's
    guard: GuardSettings = field(default_factory=GuardSettings)
    red_enabled: bool = True
    allow_non_loopback: bool = False
    sybils: int | None = None  # this process's share of the red budget (None: computed from the plan)
    bootstrap: list[Address] | None = None  # instead of the plan's first validators (arena node --bootstrap)
    extra_plugins: list[str] = field(default_factory=list)  # attached to every node here, default params
    flat: bool = False  # one node whose directory is out_dir itself (arena node --out)
    rehearsal: bool = True  # seed-derived keys allowed (arena live, arena node --rehearsal); else key files only
    emulate_links: bool = False  # delay and drop sends per the scenario's link model (rehearsals only)
    channels: bool = False  # run the channel workload (arena live: the coordinator exchanges the invoices)
    invoices: dict[int, str] = field(default_factory=dict)  # payment k -> payment hash (hex), once known
    protocol_files: list[str] = field(default_factory=list)  # --protocol files (their protocol: plan.scenario's)

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "indices": self.indices, "out_dir": str(self.out_dir),
                "start_at": self.start_at, "plugin_files": self.plugin_files,
                "key_files": {str(k): v for k, v in self.key_files.items()},
                "listen": {str(k): list(v) for k, v in self.listen.items()}, "guard": asdict(self.guard),
                "red_enabled": self.red_enabled, "allow_non_loopback": self.allow_non_loopback, "sybils": self.sybils,
                "bootstrap": None if self.bootstrap is None else [list(a) for a in self.bootstrap],
                "extra_plugins": self.extra_plugins, "flat": self.flat, "rehearsal": self.rehearsal,
                "emulate_links": self.emulate_links, "channels": self.channels,
                "invoices": {str(k): v for k, v in self.invoices.items()}, "protocol_files": self.protocol_files}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProcessSpec:
        boot = d.get("bootstrap")
        return cls(BattlePlan.from_json(d["plan"]), [int(i) for i in d["indices"]], Path(d["out_dir"]),
                   d.get("start_at"), list(d.get("plugin_files", [])),
                   {int(k): v for k, v in d.get("key_files", {}).items()},
                   {int(k): (str(v[0]), int(v[1])) for k, v in d.get("listen", {}).items()},
                   GuardSettings(**d.get("guard", {})), bool(d.get("red_enabled", True)),
                   bool(d.get("allow_non_loopback", False)), d.get("sybils"),
                   None if boot is None else [(str(a[0]), int(a[1])) for a in boot],
                   list(d.get("extra_plugins", [])), bool(d.get("flat", False)), bool(d.get("rehearsal", True)),
                   bool(d.get("emulate_links", False)), bool(d.get("channels", False)),
                   {int(k): str(v) for k, v in d.get("invoices", {}).items()}, list(d.get("protocol_files", [])))

    def node_dir(self, name: str) -> Path:
        return self.out_dir if self.flat else self.out_dir / name


class LiveNode:
    """One node of this process: key, endpoint, trace, plugins, and (once created) its Community."""

    def __init__(self, proc: LiveProcess, index: int) -> None:
        spec, plan = proc.spec, proc.spec.plan
        self.proc = proc
        self.index = index
        self.role = plan.role(index)
        self.team = plan.team(index)
        self.name = plan.name(index)
        self.dir = spec.node_dir(self.name)
        (self.dir / "states").mkdir(parents=True, exist_ok=True)
        key_file = spec.key_files.get(index)
        if key_file is None and not spec.rehearsal:
            raise ScenarioError(f"{self.name}: not a rehearsal, and no key file: a seed-derived key is anyone's key")
        self.key: PrivateKey = load_or_create_key(Path(key_file), create=spec.rehearsal) if key_file \
            else node_key(plan.seed, index)
        if bytes(self.key.pub().key_to_bin()) != plan.public_keys[index]:
            raise ScenarioError(f"{self.name}: the key does not match the plan's public key for this node "
                                "(put this node's public key in the roster)")
        self.trace = LiveTrace(self.dir / "trace.jsonl", plan.scenario.trace_level)
        host, port = spec.listen.get(index, plan.addresses[index])
        guard = spec.guard
        if plan.scenario.network.link.mtu < guard.max_packet:  # the scenario's MTU bounds packets, as in the sim
            guard = replace(guard, max_packet=plan.scenario.network.link.mtu)
        self.max_packet = guard.max_packet
        self.endpoint = LiveEndpoint(host, port, guard, allow_non_loopback=spec.allow_non_loopback)
        self.account = account_of(plan.public_keys[index])
        self.context = NodeContext(index, self.role, self.team, proc.clock, self.emit,
                                   stream(plan.seed, f"plugin:{index}"), self.account.hex())
        self.plugins: NodePlugins | None = None
        self.community: Community | None = None
        self.setup: NodeSetup | None = None  # a team protocol's node (None: the honest node)
        self.boundary: MessageBoundary | None = None
        self.store: LedgerStore = SqliteStore(self.dir / "ledger.sqlite") if self.role == "validator" \
            else MemoryStore()
        self.faults: list[dict[str, Any]] = []
        self.errors = 0
        self.host: LiveAdversaryHost | None = None  # the capability host (plugins only)

    def emit(self, ev: str, **fields: Any) -> None:
        self.trace.emit(max(0.0, self.proc.clock()), ev, **fields)

    @property
    def hooks(self) -> NodeHooks:
        """What honest code calls: the node's hook caller, or a no-op one when it runs no plugin."""
        return self.plugins.caller if self.plugins is not None else NO_HOOKS

    def on_fault(self, fault: Fault) -> None:
        record = fault.as_dict()
        self.faults.append(record)
        self.emit("plugin_fault", **{k: v for k, v in record.items() if k != "t"})

    def on_error(self, exc: BaseException) -> None:
        """A handler raised on a packet: recorded (first few with the error), the node goes on."""
        self.errors += 1
        if self.errors <= 20:
            self.emit("node_error", node=self.index, error=f"{type(exc).__name__}: {exc}")
            log.warning("%s: handler error", self.name, exc_info=exc)

    def packet_event(self, kind: str, src: Address, dst: Address, size: int) -> None:
        if kind.startswith("drop:"):
            if self.trace.drops:
                self.emit("drop", reason=kind[5:], src=f"{src[0]}:{src[1]}", dst=f"{dst[0]}:{dst[1]}", size=size)
        elif self.trace.packets:
            self.emit(kind, src=f"{src[0]}:{src[1]}", dst=f"{dst[0]}:{dst[1]}", size=size)

    def stats(self) -> dict[str, Any]:
        c = self.community
        out = {"node": self.name, "index": self.index, "pid": os.getpid(), "t": round(self.proc.clock(), 3),
               "endpoint": self.endpoint.stats.as_dict(), "address": list(self.endpoint.address),
               "plugin_faults": self.faults, "handler_errors": self.errors}
        if isinstance(c, HonestNode):
            out.update(messages_sent=dict(sorted(c.sent.items())), drops=dict(sorted(c.drops.items())),
                       peers=len(c.peers))
        elif self.boundary is not None:
            wire = self.boundary.summary()
            out.update(messages_sent=wire["sent"], drops=wire["dropped"])
        return out


class LiveProcess:
    """Runs the nodes ``spec.indices`` of a battle in this process until the scenario's duration has passed."""

    def __init__(self, spec: ProcessSpec, registry: Registry | None = None) -> None:
        self.spec = spec
        self.plan = spec.plan
        self.sc = spec.plan.scenario
        self.registry = registry
        self.loop_t0 = 0.0
        self.started = False
        self.nodes: list[LiveNode] = []
        self.groups: dict[int, int] | None = None  # partition groups in force
        self.by_address = self.plan.index_by_address()
        self._stop = asyncio.Event()
        share = spec.sybils if spec.sybils is not None else self.plan.red_budget_share(spec.indices)
        self.red_budget = TeamBudget(share, self.sc.teams.red.budget.sybil_cost)
        self.channel_plan: LiveChannelPlan | None = None
        self.invoices: dict[int, bytes] = {k: bytes.fromhex(v) for k, v in spec.invoices.items()}
        self.invoices_made: dict[int, str] = {}  # by this process, for payments to its nodes (published before start)
        load_protocol_files(spec.protocol_files)
        cls = protocol_class(self.sc.protocol)
        self.impl: Protocol | None = cls() if cls is not None else None  # None: the honest protocol

    # -- time ----------------------------------------------------------------------------------------------------
    def clock(self) -> float:
        """Seconds since the battle's start (the same in every process that shares ``start_at``)."""
        return asyncio.get_running_loop().time() - self.loop_t0 if self.started else 0.0

    @property
    def red_active(self) -> bool:
        return self.spec.red_enabled and self.clock() < self.sc.duration - self.sc.settle

    def call_at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` at battle time ``t``."""
        asyncio.get_running_loop().call_at(self.loop_t0 + t, self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("scheduled call %s failed", getattr(fn, "__name__", fn))

    def stop(self) -> None:
        """End the battle for this process early (SIGTERM, Ctrl-C)."""
        self._stop.set()

    # -- building --------------------------------------------------------------------------------------------------
    def _attach_plugins(self, node: LiveNode) -> None:
        """Assemble the node's plugins (:mod:`arena.runtime.assembly`, as the simulator does)."""
        uses = plugin_uses(self.sc, node.index, self.spec.red_enabled, self.spec.extra_plugins)
        if not uses:
            return
        registry = self.registry = self.registry or default_registry(self.spec.plugin_files)
        red_active = (lambda: self.red_active) if node.team == "red" else (lambda: True)
        node.host = LiveAdversaryHost(self.plan, node, node.key, self.clock, red_active)
        node.plugins = assemble_plugins(
            registry=registry, uses=uses, base=node.context, name=node.name, seed=self.plan.seed, host=node.host,
            red_budget=self.red_budget if node.team == "red" else None, red_active=red_active,
            record_fault=node.on_fault, mtu=node.max_packet)
        if node.plugins is not None:
            wire_transport(node.endpoint, node.plugins.caller)

    def _blocked(self, src: Address, dst: Address) -> str | None:
        """Topology and partitions of the scenario, between nodes of the plan (unknown addresses pass)."""
        a, b = self.by_address.get(src), self.by_address.get(dst)
        if a is None or b is None or a == b:
            return None
        if not self.plan.connected(a, b):
            return "no_link"
        groups = self.groups
        if groups is not None and groups.get(a, -1) != groups.get(b, -1):
            return "partition"
        return None

    def _create(self, node: LiveNode) -> None:
        """The honest Community (a team protocol's node is made at the start: :meth:`_create_hosted`), built while
        the socket is still closed (py-ipv8 would otherwise probe the
        machine's interfaces for a LAN address); its LAN and WAN address are set to the real bound address."""
        sc, plan = self.sc, self.plan
        g = self._genesis
        env = self._env(node)
        if self.impl is not None:
            env.hooks = env_hooks(node.hooks)
            boundary = node.boundary = MessageBoundary(node.index, node.key, node.hooks, node.emit)
            node.endpoint.outgoing, node.endpoint.incoming = boundary.outgoing, boundary.incoming
            node.setup = NodeSetup(
                index=node.index, name=node.name, role=node.role, team=node.team, key=node.key,
                endpoint=node.endpoint, address=plan.addresses[node.index],
                bootstrap=self.spec.bootstrap if self.spec.bootstrap is not None else plan.bootstrap(node.index),
                genesis=Genesis.of(g.balances, g.stakes, g.names), config=node_config(sc, plan.price(node.index)),
                env=env, restarted=node.trace.appended)
            return
        settings = HonestSettings(
            my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(), max_peers=sc.peering.peer_limit,
            env=env, config=node_config(sc, plan.price(node.index)), genesis_balances=g.balances,
            genesis_stakes=g.stakes, store=node.store,
            bootstrap=self.spec.bootstrap if self.spec.bootstrap is not None else plan.bootstrap(node.index),
            address=plan.addresses[node.index], channel_store=ChannelStore(),
        )
        node.community = self._placed(HonestNode(settings), node)

    def _env(self, node: LiveNode) -> NodeEnv:
        return NodeEnv(index=node.index, role=node.role, team=node.team, clock=self.clock,
                       rng=stream(self.plan.seed, f"node:{node.index}"), record=node.emit, hooks=node.hooks)

    def _placed(self, c: Community, node: LiveNode) -> Community:
        """No LAN probing of the machine's interfaces: the node's LAN and WAN address are its bound address."""
        if c.is_pending_task_active("discover_lan_addresses"):
            c.cancel_pending_task("discover_lan_addresses")
        c.my_estimated_lan = self.plan.addresses[node.index]
        c.my_estimated_wan = self.plan.addresses[node.index]
        return c

    def _create_hosted(self, node: LiveNode) -> None:
        """A team protocol's node, made at the battle's start (its timers start with it)."""
        assert self.impl is not None and node.setup is not None
        c = self.impl.create_node(node.setup)
        if not isinstance(c, Community):
            raise TypeError(f"{type(self.impl).__name__}.create_node returned {type(c).__name__}, not a Community")
        node.community = self._placed(c, node)
        assert node.boundary is not None
        guard_handlers(c, node.boundary.handler_error)
        g = node.setup.genesis
        if not node.setup.restarted and node.hooks.has("arena_genesis"):  # the arena tells the plugins, as in the sim
            node.hooks.genesis(stakes=dict(g.stakes), balances=dict(g.balances))

    # -- running ---------------------------------------------------------------------------------------------------
    async def run(self, ready: Callable[[list[Address]], None] | None = None,
                  wait_start: Callable[[], Awaitable[float]] | None = None,
                  handle_signals: bool = True) -> list[dict[str, Any]]:
        """Bind, create, wait for the start, run until the scenario's duration, write states. Returns stats.
        Crypto goes through :func:`~arena.runtime.crypto.fast_crypto` meanwhile (py-ipv8's answers, faster)."""
        done = contextlib.ExitStack()  # on leaving: self.close(), then the crypto patch is undone
        done.enter_context(fast_crypto(default_eccrypto))
        done.callback(self.close)
        try:
            await self.setup()
            if ready is not None:
                ready([n.endpoint.address for n in self.nodes])
            start_at = self.spec.start_at
            if start_at is None:
                if wait_start is None:
                    raise RuntimeError("no start time and no way to wait for one")
                start_at = await wait_start()
            self.begin(start_at)
            if handle_signals:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                        loop.add_signal_handler(sig, self.stop)
            await self.sleep_until(0.0)
            self.start_nodes()
            stats_task = asyncio.ensure_future(self._stats_loop())
            await self.sleep_until(self.sc.duration)
            stats_task.cancel()
            return await self.finish()
        finally:
            done.close()

    async def setup(self) -> None:
        """Build this process's nodes and plugins, create their Communities, bind their sockets."""
        self._genesis = self.plan.genesis()
        self.nodes = [LiveNode(self, i) for i in self.spec.indices]
        for node in self.nodes:
            self._attach_plugins(node)
        for node in self.nodes:
            self._create(node)
            node.endpoint.on_packet_event = node.packet_event
            node.endpoint.on_error = node.on_error
            node.endpoint.set_known(self.plan.addresses)
            if self.spec.emulate_links:
                node.endpoint.link_delay = LinkEmulator(self.plan, node.index).delay
            await node.endpoint.open()
        self._update_blocking()
        if self.spec.channels and self.sc.channels.enabled and self.impl is None:
            self._make_invoices()

    def _make_invoices(self) -> None:
        """Invoices of every payment to a node of this process, made by that node (its preimages stay here). A
        restarted process that was given the hashes makes none: its predecessor's preimages died with it."""
        self.channel_plan = LiveChannelPlan.build(self.plan)
        if self.spec.invoices:
            return
        mine = {n.index: n for n in self.nodes}
        for pay in self.channel_plan.payments:
            node = mine.get(pay.payee)
            if node is not None and isinstance(node.community, HonestNode):
                h = node.community.channels.create_invoice(pay.amount)
                self.invoices[pay.k] = h
                self.invoices_made[pay.k] = h.hex()

    def add_invoices(self, invoices: dict[int, str]) -> None:
        """Payment hashes of the other processes' nodes (handed over by the coordinator with the start)."""
        for k, h in invoices.items():
            self.invoices.setdefault(int(k), bytes.fromhex(h))

    def _update_blocking(self) -> None:
        """Check addresses on every packet only when the topology is not complete or a partition is in force."""
        n = self.sc.node_count
        complete = self.plan.graph.number_of_edges() >= n * (n - 1) // 2
        check = self._blocked if self.groups is not None or not complete else None
        for node in self.nodes:
            node.endpoint.blocked = check

    def begin(self, start_at: float) -> None:
        """Fix the battle clock (seconds since ``start_at``, epoch) and write the trace headers."""
        loop = asyncio.get_running_loop()
        self.loop_t0 = loop.time() - (time.time() - start_at)
        self.started = True
        self._write_headers(start_at)

    def close(self) -> None:
        for node in self.nodes:
            if node.host is not None:
                node.host.close()
            node.endpoint.close()
            node.trace.close()
            node.store.close()

    async def sleep_until(self, t: float) -> None:
        delay = t - self.clock()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _write_headers(self, start_at: float) -> None:
        sc, plan = self.sc, self.plan
        plugins = plan.plugin_names(self.spec.red_enabled)
        for node in self.nodes:
            if node.plugins is not None:
                plugins[node.name] = node.plugins.caller.names
        for node in self.nodes:
            if node.trace.appended:
                c = node.community
                if isinstance(c, HonestNode):
                    node.emit("node_restarted", node=node.index, pid=os.getpid(), blocks=len(c.tree),
                              finalized_height=c.tree.finalized_height,
                              head_height=c.tree.height_of(c.head) or 0)
                else:
                    node.emit("node_restarted", node=node.index, pid=os.getpid())
                continue
            node.trace.header(seed=plan.seed, scenario=sc.name, scenario_sha256=sc.digest(), backend="live",
                              level=sc.trace_level, versions=package_versions(), red_enabled=self.spec.red_enabled,
                              node=node.name, address=f"{node.endpoint.address[0]}:{node.endpoint.address[1]}",
                              start_at=start_at)
            leaders = self.impl.leader_schedule if self.impl is not None else "stake"
            node.trace.emit(0.0, "genesis", **genesis_fields(sc, self._genesis, plugins, leaders))

    def start_nodes(self) -> None:
        now = self.clock()
        for node in self.nodes:
            if self.impl is not None:
                self._create_hosted(node)
            else:
                assert isinstance(node.community, HonestNode)
                node.community.start()
        for node in self.nodes:
            if node.plugins is not None:
                node.plugins.start()
        mine = {n.index: n for n in self.nodes}
        for item in workload_schedule(self.sc, stream(self.plan.seed, "workload")):
            if item.payer in mine and item.t > now:
                self.call_at(item.t, self._work, mine[item.payer], item)
        if self.channel_plan is not None:
            self._schedule_channels(mine, now)
        tick = self.sc.tick
        for node in self.nodes:
            if node.plugins is not None and node.plugins.caller.implements("arena_tick"):
                self.call_at(tick * (int(now // tick) + 1), self._tick, node)
        for ev in sorted(self.sc.events, key=lambda e: e.at):
            if ev.at < now:
                if ev.partition is not None:
                    self._partition(ev.partition)
                elif ev.heal:
                    self._heal()
            elif ev.partition is not None:
                self.call_at(ev.at, self._partition, ev.partition)
            elif ev.heal:
                self.call_at(ev.at, self._heal)

    def _schedule_channels(self, mine: dict[int, LiveNode], now: float) -> None:
        """The simulator's channel opens, payments and closes for this process's nodes (what is past is skipped)."""
        cp, c = self.channel_plan, self.sc.channels
        assert cp is not None
        if c.open_at > now:
            for funder, peer, deposit in cp.opens:
                if funder in mine:
                    self.call_at(c.open_at, self._channel_open, mine[funder], peer, deposit)
        for pay in cp.payments:
            if pay.payer in mine and pay.t > now:
                self.call_at(pay.t, self._channel_pay, mine[pay.payer], pay)
        if c.close_at is not None and c.close_at > now:
            for i in cp.members:
                if i in mine:
                    self.call_at(c.close_at, self._channel_close, mine[i], c.close_mode)

    def _channel_open(self, node: LiveNode, peer: int, deposit: int) -> None:
        if isinstance(node.community, HonestNode):
            node.community.channels.open_channel(self.plan.public_keys[peer], self.plan.addresses[peer], deposit)

    def _channel_pay(self, node: LiveNode, pay: LivePayment) -> None:
        h = self.invoices.get(pay.k)
        if isinstance(node.community, HonestNode) and h is not None:  # no invoice: the payee never published one
            node.community.channels.pay(account_of(self.plan.public_keys[pay.payee]), pay.amount, h)

    @staticmethod
    def _channel_close(node: LiveNode, mode: str) -> None:
        c = node.community
        if isinstance(c, HonestNode):
            for ch in c.channels.open_channels():
                if ch.mine_a:
                    c.channels.close(ch.channel_id, mode)

    def _partition(self, groups: list[list[int]]) -> None:
        self.groups = {h: gi for gi, members in enumerate(groups) for h in members}
        self._update_blocking()

    def _heal(self) -> None:
        self.groups = None
        self._update_blocking()

    def _work(self, node: LiveNode, item: WorkItem) -> None:
        c = node.community
        if c is None:
            return
        plan = self.plan
        target = account_of(plan.public_keys[item.target])
        if self.impl is not None:
            if item.kind == "pay":
                self.impl.pay(c, target, item.amount, item.fee)
            else:
                self.impl.buy(c, plan.addresses[item.target], target, plan.price(item.target), item.fee)
        elif not isinstance(c, HonestNode):
            return
        elif item.kind == "pay":
            c.pay(target, item.amount, item.fee)
        else:
            c.buy(plan.addresses[item.target], target, plan.price(item.target), item.fee)

    def _tick(self, node: LiveNode) -> None:
        now = self.clock()
        if now >= self.sc.duration:
            return
        if node.plugins is not None:  # the caller applies the red switch
            node.plugins.caller.tick(now)
        tick = self.sc.tick
        self.call_at(tick * (int(now // tick) + 1), self._tick, node)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            self._write_stats(final=False)

    def _write_stats(self, final: bool) -> list[dict[str, Any]]:
        out = []
        sockets = own_udp_sockets() if final else None
        for node in self.nodes:
            st = {**node.stats(), "final": final}
            if sockets is not None:
                st["process_udp_sockets"] = sockets
            path = node.dir / f"live_stats.{os.getpid()}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(st, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(path)
            out.append(st)
        return out

    def _state(self, node: LiveNode, c: Community) -> dict[str, Any]:
        """The node's final state: the honest node's, or a team protocol's with the arena's identity fields."""
        if self.impl is None:
            assert isinstance(c, HonestNode)
            return honest_node_state(c, node.name, node.index, node.role, node.team, True)
        assert node.setup is not None and node.boundary is not None
        state = checked_state(self.impl.node_state(c, node.setup), type(self.impl).__name__)
        state.update(name=node.name, index=node.index, role=node.role, team=node.team, account=node.account.hex(),
                     up=True, wire=node.boundary.summary())
        return state

    async def finish(self) -> list[dict[str, Any]]:
        for node in self.nodes:
            if node.plugins is not None:
                node.plugins.caller.node_stop()
        for node in self.nodes:
            c = node.community
            if c is None:
                continue
            state = self._state(node, c)
            (node.dir / "states" / f"{node.name}.json").write_text(json.dumps(state, sort_keys=True) + "\n",
                                                                  encoding="utf-8")
            node.emit("live_stats", node=node.index, **node.endpoint.stats.as_dict())
        stats = self._write_stats(final=True)
        for node in self.nodes:
            if node.community is not None:
                await node.community.unload()
        return stats


__all__ = ["LiveNode", "LiveProcess", "LiveTrace", "ProcessSpec", "load_or_create_key"]
