"""Fuzzing the wire: random, truncated, re-signed-with-garbage, badly signed and mutated packets of every message type
fed to running validators and light nodes (day-1 and proof-of-stake).

Every packet goes through ``HonestNode.on_packet`` in the node's own context, as a delivery would. Nothing may raise,
and nothing may be logged as an error (py-ipv8's dispatcher catches handler exceptions and only logs them, so the log
is where a crashing handler shows up). Packets that cannot be authentic (random bytes, truncations, bad signatures,
trailing garbage) must leave the node's state exactly as it was; mutated packets only have to be survived.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from honest_kit import build, node, payload_strategy, running, sample_payload, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload

from arena.sim.world import World
from honest.schema import (
    ITEM_TX,
    MESSAGES,
    TX_TRANSFER,
    BlockResponse,
    Frozen,
    Gossip,
    GossipItem,
    HeaderAnnounce,
    Purchase,
    SubmitTx,
    Tx,
)

MSG_IDS = sorted(MESSAGES)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VALIDATOR, LIGHT = 0, 4  # node indexes (4 validators, then light nodes)
SIG_LEN = 64  # curve25519
DECODE_DROPS = {"malformed", "bad_signature", "truncated", "unknown_message"}


class ErrorLog(logging.Handler):
    """Collects ERROR records: py-ipv8 logs (instead of raising) exceptions escaping a message handler."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Target:
    """A node under fuzz (``victim``), a peer that sends to it (``sender``), and valid packets of every type."""

    def __init__(self, world: World, victim: int, sender: int) -> None:
        self.world = world
        self.runtime = world.nodes[victim]
        self.node = node(world, victim)
        self.sender = node(world, sender)
        self.src = world.nodes[sender].endpoint.address
        self.payloads = realistic_payloads(world)
        self.packets = {mid: self.pack(self.payloads[mid]) for mid in MSG_IDS}
        #: message ids the node has a handler for (not yet the payment-channel ones)
        self.handled = [mid for mid in MSG_IDS if self.node.decode_map[mid] is not None]

    def pack(self, payload: Frozen) -> bytes:
        return self.sender.ezr_pack(payload.msg_id, payload)

    def deliver(self, data: bytes) -> None:
        self.world.in_node(self.runtime, self.node.on_packet, (self.src, data))

    def state(self) -> dict[str, Any]:
        n = self.node
        peers = sorted((k, tuple(p.address), p.role) for k, p in n.peers.peers.items())
        if n.role != "validator":
            return {"peers": peers, "known_balance": n.known_balance, "headers": sorted(n.headers),
                    "best": n.best_header_height, "queries": sorted((q, v.done, len(v.answers))
                                                                  for q, v in n.queries.items()),
                    "orders": len(n.orders)}
        out: dict[str, Any] = {"peers": peers, "rejected": list(n.rejected.items()), "seen": sorted(n.gossip.seen)}
        if n.config.consensus == "none":
            out.update(ledger=n.ledger.snapshot(), applied=sorted(n.applied),
                       held=sorted((s, sorted(h)) for s, h in n.held.items()))
        else:
            st_ = n.tree.state(n.head)
            assert st_ is not None
            out.update(ledger=st_.snapshot(), head=n.head, blocks=len(n.tree), finalized=n.tree.finalized,
                       mempool=sorted(t.tx_id for t in n.mempool), orphans=list(n.orphans), votes=len(n.pending_votes))
        return out


def realistic_payloads(world: World) -> dict[int, Frozen]:
    """A valid payload for every message id; transaction and chain messages carry real signed objects."""
    out: dict[int, Frozen] = {mid: sample_payload(cls) for mid, cls in MESSAGES.items()}
    v0, payer, payee = node(world, VALIDATOR), node(world, LIGHT), node(world, LIGHT + 1)
    state = v0.ledger if v0.config.consensus == "none" else v0.tree.state(v0.head)
    assert state is not None
    tx = Tx.create(payer.key, TX_TRANSFER, payee.account, 3, state.nonce(payer.account) + 1, 0)
    out[SubmitTx.msg_id] = SubmitTx(tx)
    out[Gossip.msg_id] = Gossip([GossipItem(ITEM_TX, tx.to_bytes())])
    out[Purchase.msg_id] = Purchase(1, tx)
    block = v0.tree.block(v0.head)
    if block is not None:
        out[BlockResponse.msg_id] = BlockResponse(0, block)
        out[HeaderAnnounce.msg_id] = HeaderAnnounce(block.header)
    return out


@pytest.fixture(scope="module", params=["none", "pos"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    sc = scenario(validators=4, light_nodes=3, duration=60, consensus={"mode": request.param},
                  workload={"rate": 3, "stop": 6})
    w = build(sc, keep_trace=False)
    with running(w):
        w.loop.run_until(8.0)
        yield w


@contextmanager
def no_error_logs() -> Iterator[None]:
    """Fail if anything is logged at ERROR inside the block (py-ipv8's dispatcher logs handler exceptions)."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        yield
    finally:
        root.removeHandler(errors)
    assert not errors.records, [r.getMessage()[:600] for r in errors.records]


@pytest.fixture(params=["validator", "light"])
def target(request: pytest.FixtureRequest, world: World) -> Iterator[Target]:
    yield Target(world, VALIDATOR, 1) if request.param == "validator" else Target(world, LIGHT, VALIDATOR)
    # the world still runs: replies the fuzzing provoked are delivered and handled without failures
    with no_error_logs():
        world.loop.run_until(world.loop.time() + 0.5)


def assert_unchanged(t: Target, data: bytes) -> None:
    before = t.state()
    t.deliver(data)
    assert t.state() == before


# -- packets that cannot be authentic: survived, and no effect --------------------------------------------------------
def test_valid_packets_are_accepted(target: Target) -> None:
    """Sanity check for the tests below: the unmodified packets decode and pass authentication (message types the
    node has no handler for, the payment-channel ones so far, are counted as unknown)."""
    handled = target.handled
    assert len(handled) >= 18
    for mid in MSG_IDS:
        before = Counter(target.node.drops)
        target.deliver(target.packets[mid])
        new = Counter(target.node.drops) - before
        if mid in handled:
            assert not set(new) & DECODE_DROPS, (MESSAGES[mid].__name__, new)
        else:
            assert new == Counter({"unknown_message": 1}), (MESSAGES[mid].__name__, new)


def test_random_bytes(target: Target) -> None:
    prefix = target.node._prefix

    @FUZZ
    @given(st.one_of(st.binary(max_size=300),
                     st.tuples(st.sampled_from([*MSG_IDS, 0, 6, 99, 230]), st.binary(max_size=300))
                     .map(lambda m: prefix + bytes([m[0]]) + m[1])))
    def check(data: bytes) -> None:
        assert_unchanged(target, data)

    with no_error_logs():
        check()


def test_truncated_packets(target: Target) -> None:
    @FUZZ
    @given(st.sampled_from(MSG_IDS), st.data())
    def check(mid: int, data: st.DataObject) -> None:
        packet = target.packets[mid]
        cut = data.draw(st.integers(0, len(packet) - 1))
        assert_unchanged(target, packet[:cut])

    with no_error_logs():
        check()
    assert sum(target.node.drops[k] for k in DECODE_DROPS) > 0


def test_bad_signatures(target: Target) -> None:
    n = target.node

    @FUZZ
    @given(st.sampled_from(target.handled), st.integers(0, SIG_LEN - 1), st.integers(1, 255))
    def check(mid: int, pos: int, xor: int) -> None:
        packet = bytearray(target.packets[mid])
        packet[len(packet) - SIG_LEN + pos] ^= xor
        before = n.drops["bad_signature"]
        assert_unchanged(target, bytes(packet))
        assert n.drops["bad_signature"] == before + 1

    with no_error_logs():
        check()
    # a packet claiming another node's key (same length) fails too
    impostor = node(target.world, 2).public_key
    for mid in MSG_IDS:
        packet = target.packets[mid]
        swapped = packet[:25] + impostor + packet[25 + len(impostor):]
        assert len(swapped) == len(packet)
        assert_unchanged(target, swapped)


def test_authentic_packets_with_trailing_garbage(target: Target) -> None:
    """Correctly signed by a peer, but with bytes after the payload: dropped as malformed, no effect."""
    s = target.sender
    auth = BinMemberAuthenticationPayload(s.my_peer.public_key.key_to_bin())

    @FUZZ
    @given(st.sampled_from(target.handled), st.binary(min_size=1, max_size=40))
    def check(mid: int, junk: bytes) -> None:
        body = s.serializer.pack_serializable_list([auth, target.payloads[mid]])
        unsigned = s.get_prefix() + bytes([mid]) + body + junk
        packet = unsigned + default_eccrypto.create_signature(s.key, unsigned)
        before = target.node.drops["malformed"]
        assert_unchanged(target, packet)
        assert target.node.drops["malformed"] == before + 1

    with no_error_logs():
        check()


# -- packets that may be authentic: only survived ---------------------------------------------------------------------
def test_mutated_packets(target: Target) -> None:
    @FUZZ
    @given(st.sampled_from(MSG_IDS), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1,
                                               max_size=4), st.sampled_from(["flip", "insert", "delete"]))
    def check(mid: int, edits: list[tuple[int, int]], how: str) -> None:
        packet = bytearray(target.packets[mid])
        for where, value in edits:
            i = 22 + where % (len(packet) - 22)  # keep the prefix: otherwise the node ignores the packet
            if how == "flip":
                packet[i] ^= value or 1
            elif how == "insert":
                packet.insert(i, value)
            elif len(packet) > 23:
                del packet[i]
        target.deliver(bytes(packet))

    with no_error_logs():
        check()


FIELD_STATE = ("ledger", "applied", "held", "head", "blocks", "finalized", "mempool", "known_balance", "best")


def fuzz_fields(t: Target, cls: type[Frozen]) -> None:
    # 20 payloads per message type, target and consensus mode (2,080 in all; was 40): the slow fuzz campaign below
    # sends 300 validly signed nonsense packets of every type to each role on top of these.
    @settings(max_examples=20, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(payload_strategy(cls))
    def check(payload: Frozen) -> None:
        before = t.state()
        t.deliver(t.pack(payload))
        after = t.state()
        for key in FIELD_STATE:
            assert after.get(key) == before.get(key), key

    with no_error_logs():
        check()


@pytest.mark.parametrize("mid", MSG_IDS, ids=lambda m: MESSAGES[m].__name__)
def test_authentic_packets_with_random_fields(world: World, mid: int) -> None:
    """Every message type, correctly signed by a peer, with arbitrary field values: no handler may crash, and
    since no inner signature can be valid, no ledger, chain or mempool changes."""
    fuzz_fields(Target(world, VALIDATOR, 1), MESSAGES[mid])
    fuzz_fields(Target(world, LIGHT, VALIDATOR), MESSAGES[mid])
    with no_error_logs():
        world.loop.run_until(world.loop.time() + 0.5)


def test_reserved_ids_never_crash_or_log_errors(world: World) -> None:
    """py-ipv8's own ids (231-255) stay handled, so stock peers can discover the node (battle day), but garbage
    under those ids is counted as a drop, never raised or logged as an error, and never changes the ledger."""
    t = Target(world, VALIDATOR, 1)
    prefix = t.node._prefix

    @FUZZ
    @given(st.integers(231, 255), st.binary(max_size=200))
    def check(mid: int, tail: bytes) -> None:
        assert_unchanged(t, prefix + bytes([mid]) + tail)

    with no_error_logs():
        check()


# -- the re-runnable fuzz campaign (benchmarks/fuzz_campaign.py), small --------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("role", ["validator", "light", "merchant"])
def test_fuzz_campaign_small(role: str, tmp_path: Path) -> None:
    """300 packets of every message type (random, truncated, bit-flipped, re-signed mutations and validly signed
    nonsense) at a validator, a light node and a merchant: nothing escapes, nothing changes that the campaign's
    allow-list forbids. Run in its own process: the campaign drives its own world and event loop."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_campaign.py"
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(script), "--packets", "300", "--targets", role, "--jobs", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert out.exists(), proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == len(MESSAGES)
    assert all(r["sent"] == 300 for r in rows)
    report = {r["kind"]: (r["escaped"], r["forbidden"], r["examples"]) for r in rows if r["escaped"] or r["forbidden"]}
    assert not report, report
    assert proc.returncode == 0, proc.stdout[-2000:]
