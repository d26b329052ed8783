"""A red team that attacks the plugin host itself, through the public API only (``arena`` and ``honest.schema``).

Each ``mode`` is one attempt (``tests/test_red_team_host.py`` runs them): poisoned answers and arguments that
blow up later inside honest code (outside any hook), impersonation through the plugin's own ``NodeContext``,
unbounded trace writes, timeouts swallowed by a context manager, and so on. The file passes the load-time check
(``arena.plugin_host.import_check``): everything here is what a student's ``--plugin`` file may contain.
"""

from __future__ import annotations

from typing import Any, Literal

from arena import Adversary, NodeContext, Packet, Params, Plugin, Wallet, hookimpl
from honest.schema import Block, Gossip, Ping, SubmitTx, Tx, Vote

Mode = Literal[
    "none", "vote_overflow", "vote_str_hash", "propose_no_header", "propose_junk_txs", "payload_overflow",
    "incoming_junk_items", "incoming_none_tx", "peer_poison", "impersonate", "log_huge", "log_reserved",
    "swallow_timeout", "mro_catch", "recursive_send", "send_weird", "wallet_bomb", "wallet_weird",
    "tx_method_override", "memory_hog", "identity_work", "team_switch", "init_raise", "format_leak",
]

SEEN: list[Any] = []  # what the plugin observed, for the tests (module globals of the plugin's own file)


class RedTeamParams(Params):
    mode: Mode = "none"
    start: float = 3.0
    size: int = 1_000_000
    target: int = 0  # a node index to impersonate


class BombBytes(bytes):
    """Bytes that detonate when honest code hashes or compares them (outside any hook)."""

    def __hash__(self) -> int:
        raise RuntimeError("bomb: hashed outside the hook")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("bomb: compared outside the hook")


class Swallow:
    """A context manager whose exit swallows whatever was raised in its block (a hook timeout included)."""

    def __enter__(self) -> Swallow:
        return self

    def __exit__(self, *exc: object) -> bool:
        SEEN.append(("swallowed", exc[0]))
        return True


def spin(n: int) -> int:
    total = 0
    while True:
        total += n


class RedTeam(Plugin):
    """One attack on the host per ``mode`` (see the module docstring)."""

    name = "redteam"
    team = "red"
    Params = RedTeamParams

    def __init__(self, node: NodeContext, params: RedTeamParams) -> None:
        super().__init__(node, params)
        self.p = params
        self.adversary: Adversary | None = None
        self.wallet: Wallet | None = None
        self.fired = False
        self.hoard: list[bytes] = []
        self.depth = 0
        if params.mode == "team_switch":
            self.team = "blue"  # what the hook caller reads to apply the red switch
            self.name = "confirmation_depth"  # and the name its faults are recorded under
        if params.mode == "init_raise":
            raise RuntimeError("raised while the world is being built, outside any hook")

    def on(self, mode: str) -> bool:
        return self.p.mode == mode and self.node.now() >= self.p.start

    # -- ticks: the attacks that need no particular hook ------------------------------------------------------------
    @hookimpl
    def arena_adversary_ready(self, node: NodeContext, adversary: Adversary) -> None:
        self.adversary = adversary

    @hookimpl
    def arena_wallet_ready(self, node: NodeContext, wallet: Wallet) -> None:
        self.wallet = wallet
        if self.p.mode == "format_leak":
            # "{0._host...}" as a literal is refused; built at run time it is not: another node's private state
            field = "{0." + "_host._world.nodes[" + str(self.p.target) + "].community.next_nonce}"
            SEEN.append(("leak", field.format(wallet)))
            field = "{0." + "_host._world.nodes[" + str(self.p.target) + "].context.team}"
            SEEN.append(("leak", field.format(wallet)))

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        mode = self.p.mode
        if mode == "team_switch":
            SEEN.append(("tick", now))
            if self.adversary is not None:
                self.adversary.send(self.adversary.validators()[0].address, Ping(3))
                SEEN.append(("sent", now))
            if now >= 12:
                raise KeyError("a fault blamed on another plugin and team")
        if now < self.p.start:
            return
        if mode == "impersonate" and not self.fired:
            self.fired = True
            self.node.index = self.p.target
            self.node.team = "blue"
            self.node.plugin = "someone_else"
            self.node.evidence("impersonate", "evidence written as another node")
            self.node.log("impersonate", note="a plugin event written as another node")
        elif mode == "log_huge":
            self.node.log("huge", blob="A" * self.p.size)
        elif mode == "log_reserved" and not self.fired:
            self.fired = True
            self.node.log("reserved", ev="finalized", height=99)
        elif mode == "swallow_timeout" and not self.fired:
            self.fired = True
            for _ in range(3):
                with Swallow():
                    spin(1)
            SEEN.append(("survived", now))
        elif mode == "mro_catch" and not self.fired:
            self.fired = True
            everything = tuple(Exception.mro()[:2])
            for _ in range(3):
                try:
                    spin(1)
                except everything as exc:
                    SEEN.append(("caught", type(exc).__name__))
            SEEN.append(("survived", now))
        elif mode == "send_weird" and self.adversary is not None and not self.fired:
            self.fired = True
            self.send_weird(self.adversary)
        elif mode == "wallet_bomb" and self.wallet is not None and not self.fired:
            self.fired = True
            tx = self.wallet.sign(0, BombBytes(b"r" * 20), 1, 1)
            SEEN.append(("wallet_bomb_submitted", self.wallet.submit(tx)))
        elif mode == "wallet_weird" and self.wallet is not None and not self.fired:
            self.fired = True
            self.wallet_weird(self.wallet)
        elif mode == "memory_hog":
            self.hoard.append(bytes(self.p.size))
            SEEN.append(("hoard", len(self.hoard)))
        elif mode == "identity_work" and self.adversary is not None and not self.fired:
            self.fired = True
            self.adversary.create_identity(work=64)
        elif mode == "recursive_send" and self.adversary is not None and not self.fired:
            self.fired = True
            self.adversary.send(self.adversary.validators()[0].address, Ping(7))

    def send_weird(self, adv: Adversary) -> None:
        me = adv.address
        targets = [("10.9.9.9", 1), (me[0], me[1]), (me[0], me[1] + 50), *[c.address for c in adv.contacts()]]
        junk = [b"", b"\x00", bytes(22), bytes(23) + b"\xff" * 40, b"\xff" * 65507]
        for dst in targets:
            for data in junk:
                adv.send_raw(dst, data)
            adv.send(dst, Ping(1))
        try:
            sybil = adv.create_identity()
            addr = adv.open_endpoint(sybil)
            adv.send(addr, Ping(2), sybil)  # from the Sybil to itself
            adv.send_raw(addr, bytes(100), sybil)
            for c in adv.contacts():
                adv.announce(c.address, sybil)
        except Exception as exc:
            SEEN.append(("send_weird", repr(exc)))
        SEEN.append(("send_weird_done", len(targets)))

    def wallet_weird(self, wallet: Wallet) -> None:
        for args in [(0, b"r" * 20, -5, 0), (0, b"r" * 20, 2**64, 0), (0, b"short", 1, 0), (250, b"r" * 20, 1, 0),
                     (0, b"r" * 20, 1, -1)]:
            try:
                tx = wallet.sign(*args)
                SEEN.append(("wallet_weird_submit", wallet.submit(tx)))
            except Exception as exc:
                SEEN.append(("wallet_weird", repr(exc)[:80]))

    # -- consensus answers that detonate later --------------------------------------------------------------------
    @hookimpl
    def arena_cast_vote(self, node: NodeContext, vote: Vote) -> Vote | None:
        if self.on("vote_overflow"):
            return Vote(2**70, vote.block_hash, vote.voter_key, vote.signature)
        if self.on("vote_str_hash"):
            return Vote(vote.height, "not bytes", vote.voter_key, vote.signature)
        return None

    @hookimpl
    def arena_propose_block(self, node: NodeContext, block: Block) -> Block | None:
        if self.on("propose_no_header"):
            return Block(None, ())
        if self.on("propose_junk_txs"):
            return Block(block.header, ["junk", 42])
        return None

    # -- messages -------------------------------------------------------------------------------------------------
    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        if self.on("payload_overflow") and isinstance(message.payload, Ping):
            message.payload = Ping(2**40)  # same type, a field that no longer packs
        if self.on("payload_overflow") and isinstance(message.payload, Gossip):
            message.payload = Gossip(["not an item"])

    @hookimpl
    def arena_incoming_message(self, node: NodeContext, message: Any) -> None:
        if self.on("incoming_junk_items") and isinstance(message.payload, Gossip):
            message.payload = Gossip(["not an item"])
        if self.on("incoming_none_tx") and isinstance(message.payload, SubmitTx):
            message.payload = SubmitTx(None)
        if self.on("tx_method_override") and isinstance(message.payload, SubmitTx):
            tx = message.payload.tx
            tx.valid_signature = always_true  # an instance attribute shadows the method
            SEEN.append(("override", tx.valid_signature()))

    @hookimpl
    def arena_validate_transfer(self, node: NodeContext, tx: Tx) -> str | None:
        if self.on("tx_method_override"):
            tx.valid_signature = always_true
        return None

    # -- peering --------------------------------------------------------------------------------------------------
    @hookimpl
    def arena_select_peers(self, node: NodeContext, purpose: str, peers: list[Any]) -> list[Any] | None:
        if self.on("peer_poison"):
            for p in peers:
                p.address = None  # the peer table's own entry: the list is a copy, its entries are not
        return None

    # -- transport ------------------------------------------------------------------------------------------------
    @hookimpl
    def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
        if self.p.mode == "recursive_send" and self.adversary is not None and self.fired:
            self.depth += 1
            SEEN.append(("depth", self.depth))
            self.adversary.send_raw(packet.dst, packet.data)  # runs this hook again, inside itself


def always_true() -> bool:
    return True


__all__ = ["SEEN", "RedTeam", "RedTeamParams"]
