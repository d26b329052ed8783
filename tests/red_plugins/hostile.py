"""A red team that would rather have no verdict than lose: it misbehaves in one chosen hook, one chosen way.

Written against the public API only (``arena`` and ``honest.schema``), as a student's plugin would be. Every hook
is implemented; all but ``params.hook`` behave (return None, change nothing). ``params.mode`` says how the chosen
hook misbehaves:

* ``raise``: ``KeyError('nope')``; ``exit``: ``SystemExit(1)`` (an exit code it would like to choose); ``keyboard``:
  ``KeyboardInterrupt``; ``recursion``: unbounded recursion;
* ``garbage``: an answer of the wrong type (a str where a hash, peer or state is expected, an int where a list is);
* ``mutate``: a bad change to its arguments (``packet.data = None``, ``packet.copies = 10**6``, a non-payload as
  ``message.payload``, the argument lists emptied);
* ``loop``: never returns (``while True``); ``flood``: sends as fast as it can through the adversary capability.

In ``arena_tick`` it also sets up what makes the rarer hooks fire: a Sybil identity pinging a validator (so
``arena_identity_message`` sees the Pong), and from t=12 a unilateral close of its open channels (so
``arena_channel_close`` and ``arena_channel_close_seen`` fire).
"""

from __future__ import annotations

from typing import Any, Literal

from arena import Adversary, Identity, NodeContext, Packet, Params, Plugin, Wallet, hookimpl
from honest.schema import Ping

Mode = Literal["raise", "exit", "keyboard", "recursion", "garbage", "mutate", "loop", "flood", "none"]


class HostileParams(Params):
    hook: str = "arena_tick"
    mode: Mode = "raise"


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


class Hostile(Plugin):
    """Misbehaves in one hook (see the module docstring)."""

    name = "hostile"
    team = "red"
    Params = HostileParams

    def __init__(self, node: NodeContext, params: HostileParams) -> None:
        super().__init__(node, params)
        self.p = params
        self.adversary: Adversary | None = None
        self.sybil: Identity | None = None
        self.closed = False

    # -- the misbehaviour -------------------------------------------------------------------------------------------
    def act(self, hook: str, garbage: Any = "garbage", **args: Any) -> Any:
        if hook != self.p.hook:
            return None
        mode = self.p.mode
        if mode == "raise":
            raise KeyError("nope")
        if mode == "exit":
            raise SystemExit(1)
        if mode == "keyboard":
            raise KeyboardInterrupt
        if mode == "recursion":
            return _recurse(0)
        if mode == "garbage":
            return garbage
        if mode == "mutate":
            self.mutate(args)
            return None
        if mode == "loop":
            n = 0
            while True:
                n += 1
        if mode == "flood" and self.adversary is not None:
            target = self.adversary.validators()[0].address
            for _ in range(100_000):
                self.adversary.send_raw(target, b"x" * 1000)
        return None

    def mutate(self, args: dict[str, Any]) -> None:
        for value in args.values():
            if isinstance(value, Packet):
                value.copies = 10**6
                value.data = None  # type: ignore[assignment]
            elif hasattr(value, "payload"):
                value.payload = object()
                value.drop = "yes"
            elif isinstance(value, list):
                value.clear()
                value.append("not a peer")
            elif hasattr(value, "txs"):
                value.txs.append("unpaid")  # a schema object: its lists are its own; this must not reach others

    # -- every hook -------------------------------------------------------------------------------------------------
    @hookimpl
    def arena_node_start(self, node: NodeContext) -> None:
        return self.act("arena_node_start")

    @hookimpl
    def arena_node_stop(self, node: NodeContext) -> None:
        return self.act("arena_node_stop")

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = self.adversary
        if adv is not None and self.sybil is None and adv.validators():
            try:
                self.sybil = adv.create_identity()
                adv.open_endpoint(self.sybil)
                adv.send(adv.validators()[0].address, Ping(1), self.sybil)
            except Exception:
                self.sybil = None
        if adv is not None and not self.closed and now >= 12:  # a unilateral close: arena_channel_close(_seen)
            for channel in adv.channels():
                if channel.status == "open":
                    self.closed = adv.close_channel(channel.channel_id) or self.closed
        return self.act("arena_tick")

    @hookimpl
    def arena_adversary_ready(self, node: NodeContext, adversary: Adversary) -> None:
        self.adversary = adversary
        return self.act("arena_adversary_ready")

    @hookimpl
    def arena_wallet_ready(self, node: NodeContext, wallet: Wallet) -> None:
        return self.act("arena_wallet_ready")

    @hookimpl
    def arena_genesis(self, node: NodeContext, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
        return self.act("arena_genesis", stakes=stakes, balances=balances)

    @hookimpl
    def arena_identity_message(self, node: NodeContext, identity: Identity, message: Any) -> None:
        return self.act("arena_identity_message", message=message)

    @hookimpl
    def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
        return self.act("arena_outgoing_packet", packet=packet)

    @hookimpl
    def arena_incoming_packet(self, node: NodeContext, packet: Packet) -> None:
        return self.act("arena_incoming_packet", packet=packet)

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        return self.act("arena_outgoing_message", message=message)

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        return self.act("arena_incoming_message", message=message)

    @hookimpl
    def arena_validate_transfer(self, node: NodeContext, tx: Any) -> str | None:
        return self.act("arena_validate_transfer", 42)

    @hookimpl
    def arena_validate_block(self, node: NodeContext, block: Any) -> str | None:
        return self.act("arena_validate_block", 42, block=block)

    @hookimpl
    def arena_propose_block(self, node: NodeContext, block: Any) -> Any:
        return self.act("arena_propose_block", block=block)

    @hookimpl
    def arena_cast_vote(self, node: NodeContext, vote: Any) -> Any:
        return self.act("arena_cast_vote", vote=vote)

    @hookimpl
    def arena_fork_choice(self, node: NodeContext, heads: list[Any]) -> bytes | None:
        return self.act("arena_fork_choice", heads=heads)

    @hookimpl
    def arena_payment_confirmed(self, node: NodeContext, payment: Any) -> bool | None:
        return self.act("arena_payment_confirmed", payment=payment)

    @hookimpl
    def arena_admit_peer(self, node: NodeContext, peer: Any, peers: list[Any]) -> str | None:
        return self.act("arena_admit_peer", 42, peers=peers)

    @hookimpl
    def arena_choose_eviction(self, node: NodeContext, peers: list[Any], newcomer: Any) -> Any:
        return self.act("arena_choose_eviction", peers=peers)

    @hookimpl
    def arena_select_peers(self, node: NodeContext, purpose: str, peers: list[Any]) -> list[Any] | None:
        return self.act("arena_select_peers", 7, peers=peers)

    @hookimpl
    def arena_channel_sign_update(self, node: NodeContext, state: Any) -> str | None:
        return self.act("arena_channel_sign_update", 42)

    @hookimpl
    def arena_channel_close(self, node: NodeContext, channel: Any, states: list[Any]) -> Any:
        return self.act("arena_channel_close", states=states)

    @hookimpl
    def arena_channel_close_seen(self, node: NodeContext, channel: Any, close: Any) -> None:
        return self.act("arena_channel_close_seen")


class HostileBlue(Hostile):
    """The same misbehaviour from a blue plugin (a defense that breaks must not pass for one that works)."""

    name = "hostile_blue"
    team = "blue"
