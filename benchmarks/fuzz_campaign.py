"""A fuzz campaign you can re-run: every message type, thrown at a validator, a light node and a merchant.

A small proof-of-stake world (4 validators, 3 light nodes, 1 merchant) runs for a few virtual seconds; then each
target receives ``--packets`` packets of every message type (26 types) through ``HonestNode.on_packet``, in its
own context, as a delivery would. The sender is a genesis validator the target already peers with (the most
trusted sender there is, so whatever it cannot do, nobody can). The packets mix, by a seeded rng:

* ``random``     the prefix and message id, then random bytes;
* ``truncate``   a valid packet cut short;
* ``bitflip``    a valid packet with a few bits flipped (after the prefix);
* ``resign``     a valid payload with bytes mutated, inserted or deleted, then correctly signed by the sender;
* ``meaning``    a correctly signed, well-formed payload whose values make no sense: overflowing amounts and fees,
                 self-transfers, unknown accounts, nonce edge cases (0, used, next, far, 2^64-1), maximum-size lists
                 (255 items), heights and slots at 2^64-1, query ids that were never asked; transactions inside
                 are validly signed by the sender.

After every packet the script compares what the protocol protects, before and after, and checks each change
against the allow-list of that message type (``ALLOWED`` below). It reports, per type and target, the packets
sent, the exceptions that escaped ``on_packet`` (and errors logged, which is how py-ipv8 reports a crashing
handler), and the forbidden state changes. The target is 0 and 0. Between batches the world runs on for a moment,
so replies the packets provoked are delivered and handled too.

Usage::

    python benchmarks/fuzz_campaign.py                  # 20,000 packets per type and target, 3 processes
    python benchmarks/fuzz_campaign.py --packets 300 --jobs 1 --types Delivery,HeaderAnnounce
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import PackError, default_serializer

import honest.node.light
from arena.plugin_host.registry import Registry
from arena.protocols.honest import HonestProtocol
from arena.scenario.model import scenario_from_dict
from arena.sim.world import World
from honest.node import HonestNode
from honest.schema import (
    ITEM_BLOCK,
    ITEM_TX,
    ITEM_VOTE,
    MAX_LIST_ITEMS,
    MESSAGES,
    TX_KINDS,
    TX_TRANSFER,
    Block,
    BlockHeader,
    Frozen,
    GossipItem,
    PeerEntry,
    Tx,
    Vote,
    public_key_of,
    sign,
)

SCENARIO: dict[str, Any] = {
    "name": "fuzz_campaign", "seed": 7, "duration": 86_400, "validators": 4, "light_nodes": 3,
    "merchants": [{"price": 50}], "genesis_balance": 1000, "peering": {"peer_limit": 16},
    "consensus": {"mode": "pos", "slot": 1.0, "finality": "votes", "block_reward": 10},
    "light": {"confirmations": 1},
    "workload": {"rate": 3, "amount": [1, 20], "fee": 1, "start": 1, "stop": 6, "purchases": 0.2},
    "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.02, "jitter": 0.01}},
}
WARMUP = 8.0  # virtual seconds before the campaign (blocks, finality, peers, a few orders)
TARGETS = {"validator": (0, 1), "light": (4, 0), "merchant": (7, 0)}  # role -> (target index, sender index)
HEADER_SLOT_SLACK: int = getattr(honest.node.light, "HEADER_SLOT_SLACK", 2)  # (2 on code that predates it)
KINDS = ("random", "truncate", "bitflip", "resign", "meaning")
BATCH = 250  # packets between two moments of running the world
TOP = (1 << 64) - 1
EDGE_INTS = {"B": (0, 1, 2, 255), "H": (0, 1, 0xFFFF), "I": (0, 1, 2, 0xFFFFFFFF),
             "Q": (0, 1, 2, 49, 50, 51, 1 << 32, 1 << 63, TOP - 1, TOP)}

# -- what the protocol protects, and what each message type may change -----------------------------------------------
#: The protected facts (see :func:`facts`), and for each message type the ones it may change (with the condition in
#: :func:`violations`). Anything else that changes is a forbidden state change.
#:
#: * ``mempool``  SubmitTx, Gossip: only by transactions that are validly signed and that the head state accepts
#:                (``check_tx`` passes, or only the nonce is in the future);
#: * ``headers``  HeaderAnnounce: only headers signed by a genesis staker with height <= slot <= now + slack;
#: * ``orders``   Purchase: only one order per payment transaction, validly signed by the buyer who sent it, paying
#:                this merchant at least the price;
#: * ``peers``    Announce: only the sender's own entry;
#: * everything else (the chain and its head, finality, balances, received goods, deliveries, the status of
#:   orders, a light node's balance and nonce) may change in none of the types: no single packet from one sender
#:   can move them (a head moves by a block only its leader can sign, a balance by a majority of validators).
ALLOWED: dict[str, frozenset[str]] = {cls.__name__: frozenset() for cls in MESSAGES.values()}
ALLOWED.update(SubmitTx=frozenset({"mempool"}), Gossip=frozenset({"mempool"}),
               HeaderAnnounce=frozenset({"headers"}), Purchase=frozenset({"orders"}), Announce=frozenset({"peers"}))


def facts(n: HonestNode) -> dict[str, Any]:
    """What the protocol protects, cheaply (compared before and after every packet)."""
    state = n.tree.state(n.head)
    assert state is not None
    return {
        "chain": (n.head, n.tree.finalized, len(n.tree), state.state_root() if n.role == "validator" else b""),
        "mempool": frozenset(t.tx_id for t in n.mempool),
        "headers": (n.best_header_height, len(n.headers)),
        "goods": (n.received_goods, len(n.delivered)),
        "orders": tuple(sorted(n.orders)),
        "order_status": {k: (o.status, o.confirmations) for k, o in n.orders.items()},
        "balance": (n.known_balance, n.next_nonce),
        "peers": frozenset(n.peers.peers),
    }


def violations(n: HonestNode, kind: str, sender_key: bytes, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    bad: list[str] = []
    allowed = ALLOWED[kind]
    for name, value in after.items():
        if name == "order_status":  # orders already open: a new order (see ``orders``) has no history
            value = {k: v for k, v in value.items() if k in before[name]}
        if value == before[name]:
            continue
        if name not in allowed:
            bad.append(name)
            continue
        if name == "mempool":
            state = n.tree.state(n.head)
            assert state is not None
            for t in n.mempool:
                if t.tx_id in value - before[name] and (not t.valid_signature()
                                                        or state.check_tx(t) not in (None, "future_nonce")):
                    bad.append("mempool:invalid_tx")
        elif name == "headers":
            if n.best_header_height > n.now_slot() + HEADER_SLOT_SLACK:
                bad.append("headers:future")
            new = list(n.headers.values())[-1]
            if new.proposer not in n.validator_accounts or not new.valid_signature():
                bad.append("headers:not_a_validator")
        elif name == "orders":
            tx_ids = [o.tx_id for o in n.orders.values()]
            if len(set(tx_ids)) != len(tx_ids):
                bad.append("orders:payment_reused")
            for k in set(value) - set(before[name]):
                o = n.orders[k]
                if o.amount < n.config.price or o.buyer != default_account(sender_key):
                    bad.append("orders:bad_payment")
        elif name == "peers":
            if (value ^ before[name]) - {sender_key}:
                bad.append("peers:other_entry")
    return bad


def default_account(key: bytes) -> bytes:
    from honest.schema import account_of

    return account_of(key)


# -- the world ------------------------------------------------------------------------------------------------------
@contextmanager
def world_running(seed: int) -> Iterator[World]:
    sc = scenario_from_dict({**SCENARIO, "seed": seed})
    world = World(sc, HonestProtocol(), Registry(), None, keep_trace=False)
    world.protocol.prepare(world)
    with world.running():
        world.loop.run_until(WARMUP)
        yield world


def node(world: World, i: int) -> HonestNode:
    c = world.nodes[i].community
    assert isinstance(c, HonestNode)
    return c


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 3:
            self.first.append(record.getMessage()[:300])


# -- packets --------------------------------------------------------------------------------------------------------
class Forge:
    """Packets of every kind for one (target, sender) pair, from a seeded rng."""

    def __init__(self, world: World, target: int, sender: int, rng: random.Random) -> None:
        self.world = world
        self.t = node(world, target)
        self.s = node(world, sender)
        self.rng = rng
        self.auth = default_serializer.pack_serializable(
            BinMemberAuthenticationPayload(self.s.my_peer.public_key.key_to_bin()))
        v0 = node(world, 0)
        self.blocks = [b for b in (v0.tree.block(h) for h in v0.tree.ancestors(v0.head)) if b is not None]
        self.accounts = [node(world, i).account for i in range(len(world.nodes))]
        self.txs = [t for b in self.blocks for t in b.txs][:64]

    # raw material
    def sign_body(self, mid: int, body: bytes) -> bytes:
        unsigned = self.s.get_prefix() + bytes([mid]) + self.auth + body
        return unsigned + default_eccrypto.create_signature(self.s.key, unsigned)

    def valid(self, cls: type[Frozen]) -> Frozen:
        return self.payload(cls, wrong=False)

    def i(self, fmt: str, wrong: bool) -> int:
        if wrong and self.rng.random() < 0.7:
            return self.rng.choice(EDGE_INTS[fmt])
        bits = {"B": 8, "H": 16, "I": 32, "Q": 64}[fmt]
        return self.rng.getrandbits(bits) if wrong else self.rng.randint(0, 3)

    def b(self, n: int) -> bytes:
        pick = self.rng.random()
        if n == 20 and pick < 0.6:
            return self.rng.choice(self.accounts) if pick < 0.4 else self.rng.randbytes(20)
        if n == 32 and pick < 0.3 and self.blocks:
            return self.rng.choice(self.blocks).block_hash
        if n == 32 and pick < 0.5 and self.txs:
            return self.rng.choice(self.txs).tx_id
        return self.rng.randbytes(n)

    def tx(self, wrong: bool) -> Tx:
        """A transaction validly signed by the sender; ``wrong``: with values that make no sense."""
        state = self.t.tree.state(self.t.head)
        assert state is not None
        used = state.nonce(self.s.account)
        if not wrong:
            return Tx.create(self.s.key, TX_TRANSFER, self.t.account, 50, used + 1, 1)
        r = self.rng
        kind = r.choice([TX_TRANSFER] * 4 + list(TX_KINDS) + [7, 255])
        receiver = r.choice([self.s.account, self.t.account, r.randbytes(20), *self.accounts])
        amount = r.choice([0, 1, 50, 999, 1000, 1001, 1 << 63, TOP, r.getrandbits(64)])
        fee = r.choice([0, 1, 1000, 1 << 63, TOP, TOP - amount if amount else TOP])
        nonce = r.choice([0, used, used + 1, used + 2, used + 64, 1 << 32, TOP])
        data = r.choice([b"", r.randbytes(r.randint(1, 64)), b"\x00" * 300])
        return Tx.create(self.s.key, kind, receiver, amount, nonce, fee, data)

    def header(self, wrong: bool) -> BlockHeader:
        r = self.rng
        now = self.t.now_slot()
        height = r.choice([0, 1, now, now + 1, now + HEADER_SLOT_SLACK + 1, 1 << 32, TOP]) if wrong else now
        slot = min(TOP, r.choice([height, height + 1, now, now + 2, now + 3, TOP])) if wrong else now
        parent = r.choice([b.block_hash for b in self.blocks] or [bytes(32)]) if r.random() < 0.8 else r.randbytes(32)
        pk = public_key_of(self.s.key)
        u = BlockHeader(height, slot, parent, pk, r.randbytes(32), r.randbytes(32), b"")
        return BlockHeader(height, slot, parent, pk, u.tx_root, u.state_root, sign(self.s.key, u.canonical()))

    def block(self, wrong: bool) -> Block:
        r = self.rng
        if not wrong or r.random() < 0.3:
            return r.choice(self.blocks)
        n = r.choice([0, 1, 5, MAX_LIST_ITEMS]) if r.random() < 0.2 else r.randint(0, 4)
        txs = [self.tx(True) for _ in range(min(n, 40))] * (n // max(1, min(n, 40))) if n else []
        txs = txs[:n]
        h = self.header(True)
        return Block(BlockHeader(h.height, h.slot, h.parent, h.proposer_key, Block.tx_root_of(txs), h.state_root,
                                 h.signature), txs)

    def item(self, wrong: bool) -> GossipItem:
        r = self.rng
        which = r.choice([ITEM_TX, ITEM_TX, ITEM_BLOCK, ITEM_VOTE, 0, 9])
        if which == ITEM_TX:
            return GossipItem(ITEM_TX, self.tx(wrong).to_bytes())
        if which == ITEM_BLOCK:
            return GossipItem(ITEM_BLOCK, self.block(wrong).to_bytes())
        if which == ITEM_VOTE:
            b = r.choice(self.blocks)
            height = r.choice([b.header.height, 0, TOP]) if wrong else b.header.height
            return GossipItem(ITEM_VOTE, Vote.create(self.s.key, height, b.block_hash).to_bytes())
        return GossipItem(which, r.randbytes(r.randint(0, 64)))

    def value(self, fmt: Any, wrong: bool) -> Any:
        r = self.rng
        if isinstance(fmt, list):
            n = (r.choice([0, 1, MAX_LIST_ITEMS]) if r.random() < 0.3 else r.randint(0, 8)) if wrong else 1
            if fmt[0] is GossipItem:
                n = min(n, 64) if r.random() < 0.9 else n  # a full list of transactions is costly: mostly fewer
                return [self.item(wrong) for _ in range(n)]
            return [self.value(fmt[0], wrong) for _ in range(n)]
        if fmt is Tx:
            return self.tx(wrong)
        if fmt is Block:
            return self.block(wrong)
        if fmt is BlockHeader:
            return self.header(wrong)
        if fmt is PeerEntry:
            return PeerEntry(r.choice([public_key_of(node(self.world, i).key) for i in range(3)] + [r.randbytes(74)]),
                             (f"10.0.{r.randint(0, 255)}.{r.randint(0, 255)}", r.randint(0, 65535)), self.i("B", wrong))
        if isinstance(fmt, type) and issubclass(fmt, Frozen):
            return self.payload(fmt, wrong)
        if fmt in EDGE_INTS:
            return self.i(fmt, wrong)
        if fmt == "?":
            return r.random() < 0.5
        if fmt in ("20s", "32s"):
            return self.b(int(fmt[:-1]))
        if fmt in ("varlenH", "varlenI"):
            return r.randbytes(r.choice([0, 1, 20, 64, 300]) if wrong else 8)
        if fmt == "varlenHutf8":
            return r.choice(["", "ok", "é" * 40, "\x00"])
        if fmt == "ipv4":
            return (r.choice([self.s.address[0], "0.0.0.0", "255.255.255.255"]),
                    r.choice([self.s.address[1], 0, 65535]))
        raise AssertionError(f"no values for format {fmt!r}")

    def payload(self, cls: type[Frozen], wrong: bool) -> Frozen:
        values = [self.value(f, wrong) for f in cls.format_list]
        if cls.__name__ == "Announce" and not wrong:
            values = [0, self.s.address]
        return cls(*values)

    # packet kinds
    def packet(self, cls: type[Frozen], how: str) -> bytes:
        r = self.rng
        mid = cls.msg_id
        if how == "random":
            return self.s.get_prefix() + bytes([mid]) + r.randbytes(r.randint(0, 400))
        if how == "meaning":
            for _ in range(8):  # a payload too big to encode (a nested object over 64 KiB) is drawn again
                try:
                    body = default_serializer.pack_serializable(self.payload(cls, True))
                except PackError:
                    continue
                return self.sign_body(mid, body)
            how = "resign"
        body = default_serializer.pack_serializable(self.valid(cls))
        if how == "resign":
            data = bytearray(body)
            for _ in range(r.randint(1, 4)):
                op = r.random()
                at = r.randint(0, len(data))
                if op < 0.5 and data:
                    data[min(at, len(data) - 1)] ^= 1 << r.randint(0, 7)
                elif op < 0.75:
                    data.insert(at, r.getrandbits(8))
                elif data:
                    del data[min(at, len(data) - 1)]
            return self.sign_body(mid, bytes(data))
        packet = self.sign_body(mid, body)
        if how == "truncate":
            return packet[:r.randint(0, len(packet) - 1)]
        data = bytearray(packet)  # bitflip
        for _ in range(r.randint(1, 3)):
            data[r.randint(22, len(data) - 1)] ^= 1 << r.randint(0, 7)
        return bytes(data)


# -- the campaign ---------------------------------------------------------------------------------------------------
@dataclass
class TypeResult:
    target: str
    kind: str
    sent: int = 0
    escaped: int = 0
    forbidden: int = 0
    by_packet: Counter[str] = field(default_factory=Counter)
    forbidden_what: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0


def fuzz_target(role: str, packets: int, types: list[str] | None = None, seed: int = 7,
                progress: Callable[[str], None] | None = None) -> list[TypeResult]:
    """Send ``packets`` packets of every message type (or ``types``) to the node playing ``role``."""
    target, sender = TARGETS[role]
    results: list[TypeResult] = []
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        with world_running(seed) as world:
            runtime = world.nodes[target]
            t = node(world, target)
            src = world.nodes[sender].endpoint.address
            sender_key = node(world, sender).public_key
            for _mid, cls in sorted(MESSAGES.items()):
                if types and cls.__name__ not in types:
                    continue
                rng = random.Random(f"{seed}:{role}:{cls.__name__}")
                forge = Forge(world, target, sender, rng)
                res = TypeResult(role, cls.__name__)
                logged = errors.count
                w0, c0 = time.perf_counter(), time.process_time()
                for i in range(packets):
                    how = KINDS[i % len(KINDS)]
                    data = forge.packet(cls, how)
                    before = facts(t)
                    try:
                        world.in_node(runtime, t.on_packet, (src, data))
                    except Exception as exc:  # an exception that escaped the node: a bug
                        res.escaped += 1
                        if len(res.examples) < 3:
                            res.examples.append(f"{how}: {type(exc).__name__}: {exc}"[:300])
                    bad = violations(t, cls.__name__, sender_key, before, facts(t))
                    if bad:
                        res.forbidden += 1
                        res.forbidden_what.update(bad)
                        if len(res.examples) < 3:
                            res.examples.append(f"{how}: changed {bad}")
                    res.sent += 1
                    res.by_packet[how] += 1
                    if (i + 1) % BATCH == 0:
                        world.loop.run_until(world.loop.time() + 0.05)  # replies, gossip, a slot now and then
                world.loop.run_until(world.loop.time() + 0.5)
                res.escaped += errors.count - logged
                res.examples.extend(errors.first[: max(0, 3 - len(res.examples))] if errors.count > logged else [])
                res.wall, res.cpu = time.perf_counter() - w0, time.process_time() - c0
                results.append(res)
                if progress is not None:
                    progress(f"{role:9} {cls.__name__:17} {res.sent:7} sent  {res.escaped} escaped  "
                             f"{res.forbidden} forbidden  {res.sent / max(res.wall, 1e-9):8.0f}/s wall")
    finally:
        logging.getLogger().removeHandler(errors)
    return results


def _worker(args: tuple[str, int, list[str] | None, int]) -> list[dict[str, Any]]:
    role, packets, types, seed = args
    return [r.__dict__ | {"by_packet": dict(r.by_packet), "forbidden_what": dict(r.forbidden_what)}
            for r in fuzz_target(role, packets, types, seed, progress=lambda s: print(s, file=sys.stderr))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=20_000, help="packets per message type and target")
    ap.add_argument("--targets", default="validator,light,merchant")
    ap.add_argument("--types", default="", help="comma-separated message type names (default: all 26)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=3, help="worker processes (one target each)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    roles = [r for r in args.targets.split(",") if r]
    types = [t for t in args.types.split(",") if t] or None
    w0 = time.perf_counter()
    work = [(r, args.packets, types, args.seed) for r in roles]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(work))) as pool:
            rows = [row for part in pool.map(_worker, work) for row in part]
    else:
        rows = [row for w in work for row in _worker(w)]
    wall = time.perf_counter() - w0
    print(f"{'target':9} {'type':17} {'sent':>7} {'escaped':>7} {'forbidden':>9} {'pkt/s wall':>10} {'pkt/CPU-s':>9}")
    for r in rows:
        print(f"{r['target']:9} {r['kind']:17} {r['sent']:7} {r['escaped']:7} {r['forbidden']:9} "
              f"{r['sent'] / max(r['wall'], 1e-9):10.0f} {r['sent'] / max(r['cpu'], 1e-9):9.0f}")
        for ex in r["examples"]:
            print(f"    {ex}")
    sent, escaped, forbidden = (sum(r[k] for r in rows) for k in ("sent", "escaped", "forbidden"))
    cpu = sum(r["cpu"] for r in rows)
    print(f"total: {sent} packets, {escaped} escaped, {forbidden} forbidden state changes; "
          f"{wall:.1f} s wall ({sent / wall:.0f} packets/s), {cpu:.1f} CPU-s in the targets "
          f"({sent / max(cpu, 1e-9):.0f} packets/CPU-s), {len(roles)} targets x {len(rows) // max(1, len(roles))} "
          f"types")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "wall": wall, "cpu": cpu}, indent=1, default=str))
    return 1 if escaped or forbidden else 0


if __name__ == "__main__":
    sys.exit(main())
