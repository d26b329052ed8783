"""The one way a node calls its plugins: a typed method per hook spec, through pluggy's hook relay, contained.

Each plugin instance is registered with pluggy behind a *guard*: for every hook the plugin implements, a function
that pluggy calls in the plugin's place. The guard

* applies the red switch (red plugins act only while red is active: not in the settle period, not in a baseline);
* hands the plugin its own :class:`~arena.NodeContext` (its name on trace events, its own random stream);
* contains every exception the plugin raises, ``BaseException`` included (``SystemExit``, ``KeyboardInterrupt``,
  ``RecursionError``, a CPU-time interrupt): the plugin is disabled and the fault recorded;
* hands it its own copies of lists, dicts and mutable records, so nothing it changes reaches the node;
* checks the answer against the hook's spec and every change to a packet or message (:mod:`.validation`): a
  wrong one is a fault, the answer is ignored and the argument put back; a new schema object in an answer or a
  replaced payload is re-encoded through the wire format, so it holds only what a packet could;
* meters time, sends and trace events against the plugin's bounds (:mod:`.budget`).

pluggy then does what the specs declare: ``firstresult`` hooks stop at the first answer that is not None, the
others collect every answer. A guard whose plugin faulted answers None, so the next plugin is asked.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from arena.plugin_api import hookspecs
from arena.plugin_api.base import PROJECT, NodeContext, Plugin
from arena.plugin_api.packet import Packet
from arena.plugin_host.budget import BOUNDS, STOPWATCH, Bounds, Meter
from arena.plugin_host.faults import Fault, FaultKind, describe, plugin_frames, shown_path, stack_frames
from arena.plugin_host.registry import HOOK_NAMES
from arena.plugin_host.validation import (
    RETURNS,
    check_message,
    check_packet,
    message_snapshot,
    packet_snapshot,
    restore_message,
    restore_packet,
)
from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo
from honest.schema import Block, ChannelState, Frozen, Tx, Vote

if TYPE_CHECKING:
    from arena.plugin_api.adversary import Adversary, Identity, Wallet
    from honest.chain import Head
    from honest.channels import ChannelCloseSeen, ChannelView

ALWAYS = frozenset({"arena_node_stop"})  # bookkeeping hooks red plugins get even when switched off (they cannot send)

FaultSink = Callable[[Fault], None]


def plugin_file(plugin: Plugin) -> str | None:
    """The source file of a plugin's class (where its fault frames are looked for)."""
    return class_file(type(plugin))


def class_file(cls: type[Any]) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None


class _Guard:
    """One plugin instance as pluggy sees it (see the module docstring)."""

    def __init__(self, caller: HookCaller, plugin: Plugin, name: str, team: str) -> None:
        self.caller = caller
        self.plugin = plugin
        self.name = name  # as registered (the class's, checked by the registry): the instance cannot rename itself
        self.team = team
        self.file = plugin_file(plugin)
        own = getattr(plugin, "node", None)  # the plugin's own sealed context, kept even if the plugin rebinds it
        self.context: NodeContext | None = own if isinstance(own, NodeContext) else caller.context
        self.meter = Meter(caller.bounds)
        self.disabled = False
        self.depth = 0
        self.hook = ""  # the hook being called now (a send over budget is charged to it)
        self.hooks = [n for n in HOOK_NAMES if callable(getattr(plugin, n, None))]
        for hook in self.hooks:
            setattr(self, hook, self._wrap(hook, getattr(plugin, hook)))

    def _wrap(self, hook: str, method: Callable[..., Any]) -> Callable[..., Any]:
        names = pluggy._hooks.varnames(method)[0]
        check_return = RETURNS[hook]

        @functools.wraps(method)
        def guarded(*args: Any) -> Any:
            return self.call(hook, method, names, args, check_return)

        return guarded

    def call(self, hook: str, method: Callable[..., Any], names: tuple[str, ...], args: tuple[Any, ...],
             check_return: Callable[[Any, dict[str, Any]], str | None]) -> Any:
        caller = self.caller
        if self.disabled or (self.team == "red" and hook not in ALWAYS and not caller.red_active()):
            return None
        if self.depth >= MAX_REENTRY:  # e.g. a transport hook whose own send runs it again
            self.fail(hook, "budget", f"re-entered its own hooks more than {MAX_REENTRY} deep")
            return None
        given = dict(zip(names, args, strict=True))
        back: dict[int, Any] = {}
        kwargs = {k: _isolate(v, back) for k, v in given.items()}
        if "node" in kwargs and self.context is not None:
            kwargs["node"] = self.context
        packet = given.get("packet")
        message = given.get("message")
        snap = packet_snapshot(packet) if isinstance(packet, Packet) else \
            message_snapshot(message) if isinstance(message, (InMessage, OutMessage)) else None
        caller.stack.append(self)
        self.hook = hook
        self.depth += 1
        STOPWATCH.start(caller.bounds.call_cpu, self.file)
        result: Any = None
        fault: tuple[FaultKind, str, BaseException | None] | None = None
        try:
            result = method(**kwargs)
        except BaseException as exc:  # everything a plugin raises is its own fault, SystemExit included
            fault = ("exception", describe(exc), exc)
        finally:
            elapsed = STOPWATCH.stop()
            self.depth -= 1
            caller.stack.pop()
        if self.disabled and fault is None:  # stopped during the call (a send over its bounds)
            fault = ("budget", "", None)
        if fault is None and elapsed is not None and (over := self.meter.charge_cpu(caller.clock(), elapsed)):
            fault = ("budget", over, None)
        if fault is None and (bad := check_return(result, kwargs)):
            fault = ("bad_return", bad, None)
        if fault is None:
            result, bad = _answer(result, back, kwargs)
            if bad:
                fault = ("bad_return", bad, None)
        if fault is None and snap is not None:
            if isinstance(packet, Packet):
                bad = check_packet(packet, snap, caller.mtu)
                if bad is None and packet.copies > snap[5] and (over := self.meter.charge_send(
                        caller.clock(), packet.copies - snap[5], len(packet.data))):
                    fault = ("budget", over, None)
            elif isinstance(message, (InMessage, OutMessage)):
                bad = check_message(message, snap) or _canonical_payload(message, snap[3])
            if bad:
                fault = ("bad_mutation", bad, None)
        if fault is not None:
            if isinstance(packet, Packet) and snap is not None:
                restore_packet(packet, snap)
            elif message is not None and snap is not None:
                restore_message(message, snap)
            self.fail(hook, *fault)  # a no-op when already disabled
            return None
        return result

    def fail(self, hook: str, kind: FaultKind, error: str, exc: BaseException | None = None) -> None:
        if self.disabled:
            return
        self.disabled = True
        caller = self.caller
        try:
            where = plugin_frames(exc, self.file) if exc is not None else stack_frames(self.file)
            if not where and self.file is not None:
                line = _def_line(self.plugin, hook)
                where = [f"{shown_path(self.file)}:{line}"] if line else []
        except BaseException:  # e.g. a RecursionError deep in a plugin's recursion: the fault is still recorded
            where = []
        fault = Fault(round(caller.clock(), 6), caller.node_index, caller.node_name, self.name, self.team, hook,
                      kind, error, where)
        caller.refresh()
        caller.on_fault(fault)


MAX_REENTRY = 8


def _isolate(value: Any, back: dict[int, Any]) -> Any:
    """What a plugin is handed in place of ``value``: its own copy of lists, dicts and mutable records (peer
    entries, payment statuses), so nothing it changes reaches the node; ``back`` maps each copy to its original."""
    if isinstance(value, list):
        return [_isolate(v, back) for v in value]
    if isinstance(value, dict):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not isinstance(value, MUTABLE_BY_DESIGN) \
            and not value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        twin = copy.copy(value)
        back[id(twin)] = value
        return twin
    return value


MUTABLE_BY_DESIGN = (Packet, InMessage, OutMessage)  # hooks change these on purpose; changes are checked instead


def _answer(result: Any, back: dict[int, Any], handed: dict[str, Any]) -> tuple[Any, str | None]:
    """The answer as the node gets it: copies mapped back to the node's own objects, one of the objects it was
    handed as it is, and a new schema object re-encoded and decoded (so it holds only what the wire can hold)."""
    if isinstance(result, list):
        return [back.get(id(x), x) for x in result], None
    if id(result) in back:
        return back[id(result)], None
    if any(result is v or (isinstance(v, list) and any(result is x for x in v)) for v in handed.values()):
        return result, None
    if isinstance(result, Frozen):
        try:
            return type(result).from_bytes(result.to_bytes()), None
        except Exception as exc:
            return None, f"returned a {type(result).__name__} that does not encode ({describe(exc)})"
    return result, None


def _canonical_payload(message: InMessage | OutMessage, old: Any) -> str | None:
    """A payload a plugin replaced is re-encoded and decoded, as it would be on the wire."""
    if message.payload is old:
        return None
    try:
        message.payload = type(message.payload).from_bytes(message.payload.to_bytes())
    except Exception as exc:
        return f"set message.payload to a {type(message.payload).__name__} that does not encode ({describe(exc)})"
    return None


def _def_line(plugin: Plugin, hook: str) -> int | None:
    """Where the plugin defines ``hook`` (a fault without a traceback points there)."""
    if not hook.startswith("arena_"):
        return None
    try:
        return inspect.getsourcelines(getattr(type(plugin), hook))[1]
    except (TypeError, OSError, AttributeError):
        return None


class HookCaller:
    """The plugins of one node. Backends build it through :mod:`arena.runtime.assembly`; honest code calls its
    typed methods (after the cheap :meth:`has` test on hot paths)."""

    def __init__(self, node_index: int, node_name: str, clock: Callable[[], float],
                 red_active: Callable[[], bool] = lambda: True, on_fault: FaultSink | None = None,
                 mtu: int = 65507, bounds: Bounds = BOUNDS, context: NodeContext | None = None) -> None:
        self.node_index = node_index
        self.node_name = node_name
        self.clock = clock
        self.red_active = red_active
        self.on_fault: FaultSink = on_fault or (lambda fault: None)
        self.mtu = mtu
        self.bounds = bounds
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.context = context  # the node's own context (each plugin is handed its own copy instead)
        self.instances: list[Plugin] = []
        self.guards: list[_Guard] = []
        self.stack: list[_Guard] = []
        self._active: frozenset[str] = frozenset()
        self._red_only = False

    # -- plugins ---------------------------------------------------------------------------------------------------
    def register(self, plugin: Plugin, name: str | None = None, team: str | None = None) -> None:
        """Add a plugin instance; its name and team are the registered ones (default: its class's)."""
        cls = type(plugin)
        guard = _Guard(self, plugin, name or cls.name, team or cls.team)
        self.pm.register(guard, name=f"{guard.name}@{len(self.guards)}")
        self.pm.check_pending()
        self.instances.append(plugin)
        self.guards.append(guard)
        if self.context is None and isinstance(getattr(plugin, "node", None), NodeContext):
            self.context = plugin.node
        self.refresh()

    def refresh(self) -> None:
        live = [g for g in self.guards if not g.disabled]
        self._active = frozenset(h for g in live for h in g.hooks)
        self._red_only = bool(live) and all(g.team == "red" for g in live)

    def build(self, cls: type[Plugin], make: Callable[..., Any], *args: Any, **kwargs: Any
              ) -> tuple[Any, BaseException | None]:
        """Run plugin code that is not a hook (``make``: its ``Params`` validators or its constructor) with the same
        time limit; what it raised is returned, never let through."""
        STOPWATCH.start(self.bounds.call_cpu, class_file(cls))
        try:
            return make(*args, **kwargs), None
        except BaseException as exc:
            return None, exc
        finally:
            STOPWATCH.stop()

    def construction_fault(self, cls: type[Plugin], what: str, exc: BaseException) -> None:
        """Record that building plugin ``cls`` failed (``what``: ``__init__`` or ``Params``); it is not attached."""
        file = class_file(cls)
        try:
            where = plugin_frames(exc, file)
        except BaseException:
            where = []
        self.on_fault(Fault(round(self.clock(), 6), self.node_index, self.node_name, cls.name, cls.team, what,
                            "exception", describe(exc), where))

    def implements(self, name: str) -> bool:
        """Whether any enabled plugin of this node implements hook ``name`` (red switch or not)."""
        return name in self._active

    def has(self, name: str) -> bool:
        """Whether any enabled plugin of this node implements hook ``name`` and may act now."""
        return name in self._active and (not self._red_only or self.red_active())

    @property
    def names(self) -> list[str]:
        """The registered names of this node's plugins, in order."""
        return [g.name for g in self.guards]

    @property
    def faulted(self) -> list[str]:
        return [g.name for g in self.guards if g.disabled]

    def charge_event(self, size: int) -> bool:
        """Count one trace event (``node.log``/``node.evidence``) of the plugin acting now against its bounds."""
        guard = self.stack[-1] if self.stack else None
        if guard is None:
            return True
        over = guard.meter.charge_event(self.clock(), size)
        if over:
            guard.fail(guard.hook, "budget", over)
            return False
        return True

    def charge_send(self, size: int) -> bool:
        """Count one packet of ``size`` bytes against the plugin acting now (the adversary capability's sends);
        False when that puts it over its bounds (the packet is not sent, the plugin is stopped)."""
        guard = self.stack[-1] if self.stack else next((g for g in self.guards if g.team == "red"), None)
        if guard is None or guard.disabled:
            return guard is None
        if guard.team == "red" and not self.red_active():
            return False  # switched off (the settle period, or node_stop bookkeeping): nothing leaves
        over = guard.meter.charge_send(self.clock(), 1, size)
        if over:
            guard.fail(guard.hook if self.stack else "adversary.send", "budget", over)
            return False
        return True

    def _relay(self, name: str, **kwargs: Any) -> Any:
        return getattr(self.pm.hook, name)(node=self.context, **kwargs)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def node_start(self) -> None:
        if self.has("arena_node_start"):
            self._relay("arena_node_start")

    def node_stop(self) -> None:
        if self.implements("arena_node_stop"):
            self._relay("arena_node_stop")

    def tick(self, now: float) -> None:
        if self.has("arena_tick"):
            self._relay("arena_tick", now=now)

    def adversary_ready(self, adversary: Adversary) -> None:
        if self.has("arena_adversary_ready"):
            self._relay("arena_adversary_ready", adversary=adversary)

    def wallet_ready(self, wallet: Wallet) -> None:
        if self.has("arena_wallet_ready"):
            self._relay("arena_wallet_ready", wallet=wallet)

    def genesis(self, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
        if self.has("arena_genesis"):
            self._relay("arena_genesis", stakes=stakes, balances=balances)

    def identity_message(self, identity: Identity, message: InMessage) -> None:
        if self.has("arena_identity_message"):
            self._relay("arena_identity_message", identity=identity, message=message)

    # -- transport -------------------------------------------------------------------------------------------------
    def outgoing_packet(self, packet: Packet) -> None:
        if self.has("arena_outgoing_packet"):
            self._relay("arena_outgoing_packet", packet=packet)

    def incoming_packet(self, packet: Packet) -> None:
        if self.has("arena_incoming_packet"):
            self._relay("arena_incoming_packet", packet=packet)

    # -- protocol messages -----------------------------------------------------------------------------------------
    def outgoing_message(self, message: OutMessage) -> None:
        if self.has("arena_outgoing_message"):
            self._relay("arena_outgoing_message", message=message)

    def incoming_message(self, message: InMessage) -> None:
        if self.has("arena_incoming_message"):
            self._relay("arena_incoming_message", message=message)

    # -- ledger and consensus --------------------------------------------------------------------------------------
    def validate_transfer(self, tx: Tx) -> list[str]:
        return list(self._relay("arena_validate_transfer", tx=tx)) if self.has("arena_validate_transfer") else []

    def validate_block(self, block: Block) -> list[str]:
        return list(self._relay("arena_validate_block", block=block)) if self.has("arena_validate_block") else []

    def propose_block(self, block: Block) -> Block | Literal["withhold"] | None:
        return self._relay("arena_propose_block", block=block) if self.has("arena_propose_block") else None

    def cast_vote(self, vote: Vote) -> Vote | Literal["withhold"] | None:
        return self._relay("arena_cast_vote", vote=vote) if self.has("arena_cast_vote") else None

    def fork_choice(self, heads: list[Head]) -> bytes | None:
        return self._relay("arena_fork_choice", heads=heads) if self.has("arena_fork_choice") else None

    def payment_confirmed(self, payment: PaymentStatus) -> bool | None:
        return self._relay("arena_payment_confirmed", payment=payment) if self.has("arena_payment_confirmed") \
            else None

    # -- peering ---------------------------------------------------------------------------------------------------
    def admit_peer(self, peer: PeerInfo, peers: list[PeerInfo]) -> list[str]:
        return list(self._relay("arena_admit_peer", peer=peer, peers=peers)) if self.has("arena_admit_peer") \
            else []

    def choose_eviction(self, peers: list[PeerInfo], newcomer: PeerInfo) -> PeerInfo | None:
        return self._relay("arena_choose_eviction", peers=peers, newcomer=newcomer) \
            if self.has("arena_choose_eviction") else None

    def select_peers(self, purpose: str, peers: list[PeerInfo]) -> list[PeerInfo] | None:
        return self._relay("arena_select_peers", purpose=purpose, peers=peers) if self.has("arena_select_peers") \
            else None

    # -- payment channels ------------------------------------------------------------------------------------------
    def channel_sign_update(self, state: ChannelState) -> list[str]:
        return list(self._relay("arena_channel_sign_update", state=state)) \
            if self.has("arena_channel_sign_update") else []

    def channel_close(self, channel: ChannelView, states: list[ChannelState]) -> ChannelState | None:
        return self._relay("arena_channel_close", channel=channel, states=states) \
            if self.has("arena_channel_close") else None

    def channel_close_seen(self, channel: ChannelView, close: ChannelCloseSeen) -> None:
        if self.has("arena_channel_close_seen"):
            self._relay("arena_channel_close_seen", channel=channel, close=close)


def method_name(hook: str) -> str:
    """The caller's method for a hook spec: ``arena_validate_block`` -> ``validate_block``."""
    return hook.removeprefix("arena_")


__all__ = ["HOOK_NAMES", "STOPWATCH", "HookCaller", "method_name", "plugin_file"]
