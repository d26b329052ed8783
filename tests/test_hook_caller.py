"""The typed hook caller: one method per spec, pluggy's relay, the red switch, and every plugin fault contained.

Each hook is driven directly (no battle) with the hostile red plugin of ``tests/red_plugins/hostile.py`` placed in
front of a well-behaved witness: whatever the hostile plugin does, nothing escapes, the fault names the plugin, the
hook and a line of its own file, the witness's answer is the one the node gets, and its arguments are as before.
"""

from __future__ import annotations

import inspect
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from ipv8.keyvault.crypto import default_eccrypto

from arena import NodeContext, Packet, Params, Plugin, hookimpl
from arena.plugin_api import hookspecs
from arena.plugin_host.budget import Bounds
from arena.plugin_host.caller import HookCaller, method_name
from arena.plugin_host.faults import Fault
from arena.plugin_host.registry import HOOK_NAMES
from arena.plugin_host.validation import RETURNS
from honest.chain import Head
from honest.env import NodeHooks
from honest.messages import InMessage, OutMessage, PaymentStatus, PeerInfo
from honest.schema import Block, ChannelState, Ping, Tx, Vote

sys.path.insert(0, str(Path(__file__).parent / "red_plugins"))
from hostile import Hostile, HostileParams

HOSTILE_FILE = "hostile.py"
KEY = default_eccrypto.generate_key("curve25519")
MODES = ["raise", "exit", "keyboard", "recursion", "garbage", "mutate"]


def _args(hook: str) -> dict[str, Any]:
    """Real arguments for each hook (what honest code or a backend would pass)."""
    tx = Tx.create(KEY, 0, b"r" * 20, 5, 1, 1, b"")
    block = Block.create(KEY, 1, 1, b"p" * 32, [tx], b"s" * 32)
    peers = [PeerInfo(bytes([i]) * 8, (f"127.0.0.{i}", 7000), 1, 0.0, 0.0) for i in range(1, 4)]
    states = [ChannelState(b"c" * 32, i, 10 - i, i, b"a", b"b") for i in range(3)]
    table: dict[str, dict[str, Any]] = {
        "arena_node_start": {}, "arena_node_stop": {}, "arena_tick": {"now": 1.0},
        "arena_adversary_ready": {"adversary": None}, "arena_wallet_ready": {"wallet": None},
        "arena_genesis": {"stakes": {b"a": 1}, "balances": {b"a": 10}},
        "arena_identity_message": {"identity": None,
                                   "message": InMessage("Ping", Ping(1), ("127.0.0.1", 1), b"k")},
        "arena_outgoing_packet": {"packet": Packet(("127.0.0.1", 1), ("127.0.0.2", 2), b"data")},
        "arena_incoming_packet": {"packet": Packet(("127.0.0.2", 2), ("127.0.0.1", 1), b"data")},
        "arena_outgoing_message": {"message": OutMessage("Ping", Ping(1), ("127.0.0.2", 2), None)},
        "arena_incoming_message": {"message": InMessage("Ping", Ping(1), ("127.0.0.2", 2), b"k")},
        "arena_validate_transfer": {"tx": tx}, "arena_validate_block": {"block": block},
        "arena_propose_block": {"block": block}, "arena_cast_vote": {"vote": Vote.create(KEY, 1, block.block_hash)},
        "arena_fork_choice": {"heads": [Head(b"h" * 32, 3, 3), Head(b"g" * 32, 3, 3)]},
        "arena_payment_confirmed": {"payment": PaymentStatus(1, b"t" * 32, 5, b"b" * 20, "pending", 0, 1, 0.0)},
        "arena_admit_peer": {"peer": peers[0], "peers": peers[1:]},
        "arena_choose_eviction": {"peers": peers[1:], "newcomer": peers[0]},
        "arena_select_peers": {"purpose": "gossip", "peers": peers},
        "arena_channel_sign_update": {"state": states[-1]},
        "arena_channel_close": {"channel": None, "states": states},
        "arena_channel_close_seen": {"channel": None, "close": None},
    }
    return table[hook]


def _good_answer(hook: str, args: dict[str, Any]) -> Any:
    """What the witness answers: a valid answer of the hook's type."""
    return {
        "arena_validate_transfer": "witness", "arena_validate_block": "witness", "arena_admit_peer": "witness",
        "arena_channel_sign_update": "witness", "arena_propose_block": "withhold", "arena_cast_vote": "withhold",
        "arena_fork_choice": args.get("heads", [Head(b"", 0, 0)])[-1].block_hash if "heads" in args else None,
        "arena_payment_confirmed": True,
        "arena_choose_eviction": args.get("newcomer"), "arena_select_peers": args.get("peers", [])[:1],
        "arena_channel_close": args.get("states", [None])[0],
    }.get(hook)


class Witness(Plugin):
    """Answers every hook correctly; records what it was handed."""

    name = "witness"
    team = "red"

    def __init__(self, node: NodeContext, params: Params) -> None:
        super().__init__(node, params)
        self.calls: list[str] = []


def _witness_hook(hook: str) -> Any:
    spec = getattr(hookspecs, hook)
    names = list(inspect.signature(spec).parameters)

    def impl(self: Witness, *args: Any) -> Any:
        self.calls.append(hook)
        given = dict(zip(names, args, strict=True))
        answer = _good_answer(hook, given)
        if hook == "arena_select_peers":  # one of the objects it was given
            return given["peers"][:1]
        if hook in ("arena_choose_eviction",):
            return given["newcomer"]
        if hook == "arena_channel_close":
            return given["states"][0]
        if hook == "arena_fork_choice":
            return given["heads"][-1].block_hash
        return answer

    impl.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         *[inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]])
    code_names = ", ".join(["self", *names])
    ns: dict[str, Any] = {"impl": impl}
    exec(f"def {hook}({code_names}):\n    return impl({code_names})", ns)  # pluggy reads the real arg names
    return hookimpl(ns[hook])


for _hook in HOOK_NAMES:
    setattr(Witness, _hook, _witness_hook(_hook))


def _ctx(team: str = "red") -> NodeContext:
    return NodeContext(3, "light", team, lambda: 5.0, lambda ev, **f: None, random.Random(1))


def _caller(mode: str, hook: str, red_active: bool = True, bounds: Bounds | None = None
            ) -> tuple[HookCaller, list[Fault], Witness]:
    faults: list[Fault] = []
    caller = HookCaller(3, "light3", lambda: 5.0, lambda: red_active, faults.append, mtu=1500,
                        bounds=bounds or Bounds(), context=_ctx())
    witness = Witness(_ctx(), Params())
    caller.register(witness)  # pluggy calls the last registered first: the hostile plugin goes first
    caller.register(Hostile(_ctx(), HostileParams(hook=hook, mode=mode)))  # type: ignore[arg-type]
    return caller, faults, witness


def _call(caller: HookCaller, hook: str, args: dict[str, Any]) -> Any:
    return getattr(caller, method_name(hook))(**args)


# -- the caller's shape ------------------------------------------------------------------------------------------
def test_the_caller_has_a_typed_method_for_every_hook_spec() -> None:
    for hook in HOOK_NAMES:
        method = getattr(HookCaller, method_name(hook), None)
        assert method is not None, f"HookCaller has no method for {hook}"
        spec_args = [a for a in inspect.signature(getattr(hookspecs, hook)).parameters if a != "node"]
        assert list(inspect.signature(method).parameters)[1:] == spec_args, hook
    assert set(RETURNS) == set(HOOK_NAMES), "every hook has an answer check"


def test_honest_codes_view_of_the_caller_matches_the_specs() -> None:
    for name, member in inspect.getmembers(NodeHooks, inspect.isfunction):
        if name == "has" or name.startswith("_"):
            continue
        hook = f"arena_{name}"
        assert hook in HOOK_NAMES, f"honest.env.NodeHooks.{name} is no hook"
        spec_args = [a for a in inspect.signature(getattr(hookspecs, hook)).parameters if a != "node"]
        assert list(inspect.signature(member).parameters)[1:] == spec_args, name


def test_hook_specs_type_their_arguments_with_real_classes() -> None:
    for hook in HOOK_NAMES:
        hints = inspect.signature(getattr(hookspecs, hook)).parameters
        loose = [n for n, p in hints.items() if p.annotation in ("Any", inspect.Parameter.empty)]
        assert not loose, f"{hook}: arguments typed Any: {loose}"


# -- containment: every hook, every misbehaviour -----------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_a_misbehaving_plugin_is_contained_named_and_ignored(hook: str, mode: str) -> None:
    caller, faults, witness = _caller(mode, hook)
    args = _args(hook)
    before = {k: _observable(v) for k, v in args.items()}
    answer = _call(caller, hook, args)  # nothing escapes: not SystemExit, not KeyboardInterrupt, not garbage
    expected = _good_answer(hook, args)
    if getattr(hookspecs, hook).arena_spec["firstresult"]:
        assert answer == expected
    elif hook in COLLECTING:
        assert answer == [expected]
    else:
        assert answer is None
    assert hook in witness.calls, "the next plugin is still asked"
    for k, v in args.items():
        assert _observable(v) == before[k], f"{k} is as it was before the plugin's call"
    harmless = mode == "mutate" and not any(isinstance(v, (Packet, InMessage, OutMessage, Block))
                                            for v in args.values())
    if harmless:  # nothing it could change (lists are its own copies): it did nothing wrong
        assert faults == []
        return
    assert len(faults) == 1, faults
    fault = faults[0]
    assert (fault.plugin, fault.team, fault.hook, fault.node_name) == ("hostile", "red", hook, "light3")
    path, line = fault.where[-1].rsplit(":", 1)
    assert path.endswith(HOSTILE_FILE) and int(line) > 0, fault
    assert caller.faulted == ["hostile"]
    witness.calls.clear()
    _call(caller, hook, _args(hook))  # disabled: only the witness is asked, no second fault
    assert len(faults) == 1 and witness.calls == [hook]


COLLECTING = {"arena_validate_transfer", "arena_validate_block", "arena_admit_peer", "arena_channel_sign_update"}


def _observable(v: Any) -> Any:
    if isinstance(v, Packet):
        return (v.src, v.dst, v.data, v.drop, v.delay, v.copies)
    if isinstance(v, (InMessage, OutMessage)):
        return (v.payload, v.drop)
    if isinstance(v, list):
        return [id(x) for x in v]
    if isinstance(v, Block):
        return (v.header, list(v.txs))
    return v


def test_a_red_plugin_is_not_called_while_red_is_switched_off() -> None:
    caller, faults, witness = _caller("raise", "arena_tick", red_active=False)
    assert not caller.has("arena_tick")
    caller.tick(1.0)
    assert faults == [] and witness.calls == []


def test_node_stop_reaches_red_plugins_in_the_settle_period_but_they_cannot_send() -> None:
    caller, _, witness = _caller("none", "arena_tick", red_active=False)
    caller.node_stop()
    assert witness.calls == ["arena_node_stop"]
    assert caller.charge_send(100) is False


def test_firstresult_stops_at_the_first_answer() -> None:
    faults: list[Fault] = []
    caller = HookCaller(0, "merchant0", lambda: 0.0, on_fault=faults.append, context=_ctx("blue"))
    w = Witness(_ctx(), Params())
    caller.register(w)

    class Decides(Plugin):
        name = "decides"
        team = "blue"

        @hookimpl
        def arena_payment_confirmed(self, node: NodeContext, payment: Any) -> bool | None:
            return False

    caller.register(Decides(_ctx("blue"), Params()))
    assert caller.payment_confirmed(_args("arena_payment_confirmed")["payment"]) is False
    assert "arena_payment_confirmed" not in w.calls, "firstresult: the later plugin's answer ends the call"
    assert faults == []


def test_a_hook_that_never_returns_is_interrupted_and_named() -> None:
    caller, faults, witness = _caller("loop", "arena_tick", bounds=Bounds(call_cpu=0.2))
    caller.tick(1.0)
    assert len(faults) == 1 and faults[0].kind == "exception" and "PluginTimeout" in faults[0].error
    assert faults[0].where and faults[0].where[-1].startswith(("tests/red_plugins/hostile.py", "/"))
    assert witness.calls == ["arena_tick"]


def test_cpu_time_over_the_per_second_budget_is_a_budget_fault() -> None:
    caller, faults, _ = _caller("none", "arena_tick", bounds=Bounds(cpu_per_second=0.0, cpu_burst=0.0))
    caller.tick(1.0)
    assert faults and faults[0].kind == "budget" and "CPU" in faults[0].error


def test_sends_over_the_packet_budget_stop_the_plugin() -> None:
    caller, faults, _ = _caller("none", "arena_tick", bounds=Bounds(packets_per_second=10))
    allowed = [caller.charge_send(100) for _ in range(20)]
    assert allowed == [True] * 10 + [False] * 10
    assert faults and faults[0].kind == "budget" and "10 packets" in faults[0].error


def test_a_copies_bomb_is_refused_and_the_packet_goes_on_unchanged() -> None:
    caller, faults, _ = _caller("mutate", "arena_outgoing_packet")
    pkt = Packet(("127.0.0.1", 1), ("127.0.0.2", 2), b"data")
    caller.outgoing_packet(pkt)
    assert (pkt.copies, pkt.data) == (1, b"data")
    assert faults[0].kind == "bad_mutation"


def test_a_packet_hook_may_not_redirect_or_grow_past_the_mtu() -> None:
    class Redirect(Plugin):
        name = "redirect"
        team = "red"

        @hookimpl
        def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
            packet.dst = ("127.0.0.9", 9)

    class Grow(Plugin):
        name = "grow"
        team = "red"

        @hookimpl
        def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
            packet.data = b"x" * 2000

    for cls, words in ((Redirect, "packet.dst"), (Grow, "MTU")):
        faults: list[Fault] = []
        caller = HookCaller(0, "light0", lambda: 0.0, on_fault=faults.append, mtu=1500, context=_ctx())
        caller.register(cls(_ctx(), Params()))
        pkt = Packet(("127.0.0.1", 1), ("127.0.0.2", 2), b"data")
        caller.outgoing_packet(pkt)
        assert pkt.dst == ("127.0.0.2", 2) and pkt.data == b"data"
        assert words in faults[0].error


def test_a_payload_of_another_type_is_refused() -> None:
    class Swap(Plugin):
        name = "swap"
        team = "red"

        @hookimpl
        def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
            message.payload = Tx.create(KEY, 0, b"r" * 20, 1, 1, 0, b"")

    faults: list[Fault] = []
    caller = HookCaller(0, "light0", lambda: 0.0, on_fault=faults.append, context=_ctx())
    caller.register(Swap(_ctx(), Params()))
    msg = OutMessage("Ping", Ping(1), ("127.0.0.2", 2), None)
    caller.outgoing_message(msg)
    assert isinstance(msg.payload, Ping) and "Ping" in faults[0].error


def _assembled(cls: type[Plugin]) -> tuple[HookCaller, list[Fault], list[tuple[str, dict[str, Any]]]]:
    """A caller built the way both backends build it (sealed per-plugin contexts, counted trace events)."""
    from arena.runtime.assembly import plugin_context

    events: list[tuple[str, dict[str, Any]]] = []
    base = NodeContext(3, "light", "red", lambda: 5.0, lambda ev, **f: events.append((ev, f)), random.Random(1))
    faults: list[Fault] = []
    caller = HookCaller(3, "light3", lambda: 5.0, on_fault=faults.append, context=base)
    caller.register(cls(plugin_context(base, cls.name, 1, caller.charge_event), Params()))
    return caller, faults, events


def test_a_plugin_cannot_rename_itself_or_its_node() -> None:
    class Impostor(Plugin):
        name = "impostor"
        team = "red"

        @hookimpl
        def arena_tick(self, node: NodeContext, now: float) -> None:
            node.index = 0
            node.plugin = "confirmation_depth"

    caller, faults, _ = _assembled(Impostor)
    caller.tick(1.0)
    assert faults and "read-only" in faults[0].error
    ctx = caller.guards[0].context
    assert ctx is not None and (ctx.index, ctx.plugin) == (3, "impostor")


@pytest.mark.parametrize("data", [{"ev": "delivery"}, {"t": 0.0}, {"node": 0}, {"blob": "x" * 5000},
                                  {"obj": object()}])
def test_trace_events_are_plain_bounded_and_cannot_forge_fields(data: dict[str, Any]) -> None:
    class Forger(Plugin):
        name = "forger"
        team = "red"

        @hookimpl
        def arena_tick(self, node: NodeContext, now: float) -> None:
            node.log("fake", **data)

    caller, faults, events = _assembled(Forger)
    caller.tick(1.0)
    assert events == [] and faults and faults[0].kind == "exception"


def test_a_plugin_that_floods_the_trace_is_stopped() -> None:
    class Chatty(Plugin):
        name = "chatty"
        team = "red"

        @hookimpl
        def arena_tick(self, node: NodeContext, now: float) -> None:
            for i in range(10_000):
                node.log("spam", i=i)

    caller, faults, events = _assembled(Chatty)
    caller.tick(1.0)
    assert len(events) == Bounds().events_per_second
    assert faults and faults[0].kind == "budget" and "trace events" in faults[0].error
    assert all(ev == "plugin" and f["plugin"] == "chatty" and f["node"] == 3 for ev, f in events)
