"""Peering (limit, eviction, liveness) and gossip (de-duplication, expiry) of the honest node, in small worlds."""

from __future__ import annotations

from typing import Any

from honest_kit import at, build, events, every, node, result, scenario

from arena.sim.world import World
from honest.schema import ITEM_TX, TX_TRANSFER, GossipItem, Tx
from honest.state import STALE_NONCE


def all_nodes(world: World) -> range:
    return range(len(world.nodes))


# -- peering -------------------------------------------------------------------------------------------------------
def test_peer_limit_is_never_exceeded_and_evictions_are_counted() -> None:
    world = build(scenario(validators=4, light_nodes=4, duration=30, peering={"peer_limit": 3, "ask_interval": 2},
                           workload={"rate": 2, "stop": 25}))
    worst: dict[int, int] = {}

    def sample(now: float) -> None:
        for i in all_nodes(world):
            worst[i] = max(worst.get(i, 0), node(world, i).peers.counted())

    every(world, 0.1, 0.1, sample)
    world.run()
    assert len(worst) == 8
    assert max(worst.values()) == 3, worst  # full, never over
    evictions = sum(node(world, i).peers.evictions for i in all_nodes(world))
    assert evictions > 0
    assert evictions == len(events(world, "evict"))
    # validators keep the whole validator set on top of the limit (the committee stays connected)
    for i in range(4):
        vals = node(world, i).peers.by_role(0)
        assert len(vals) == 3, f"validator {i} lost a validator peer"
    for i in all_nodes(world):
        table = node(world, i).peers
        assert 1 <= table.counted() <= 3
        assert node(world, i).public_key not in table.peers  # never itself


def test_silent_peer_is_removed_after_timeout_live_ones_stay() -> None:
    crashed = 5
    world = build(scenario(validators=3, light_nodes=3, duration=20, events=[{"at": 4, "crash": crashed}],
                           peering={"ping_interval": 1, "peer_timeout": 5}, workload={"rate": 0}))
    had: dict[int, bool] = {}

    def before() -> None:
        key = node(world, crashed).public_key
        for i in all_nodes(world):
            if i != crashed:
                had[i] = key in node(world, i).peers.peers

    at(world, 3.9, before)
    world.run()
    key = node(world, crashed).public_key
    assert had and all(had.values()), had  # everybody knew it before the crash
    for i in all_nodes(world):
        if i == crashed:
            continue
        table = node(world, i).peers
        assert key not in table.peers
        assert table.removed_silent == 1  # only the crashed one; live peers answer pings
        assert len(table) == len(world.nodes) - 2


# -- gossip --------------------------------------------------------------------------------------------------------
def test_gossip_duplicates_are_suppressed_in_a_complete_graph() -> None:
    world = build(scenario(duration=15, workload={"rate": 4, "stop": 12}))
    world.run()
    intents = events(world, "intent")
    n = len(intents)
    assert n > 20
    vals = [node(world, i) for i in range(4)]
    assert result(world)["validators_agree"]
    # 4 validators, forward to all: the first validator gets 3 copies back, each other one 1 new + 2 copies
    assert sum(v.gossip.duplicates for v in vals) == 9 * n
    for v in vals:
        assert v.gossip.duplicates > 0
        assert len(v.applied) == n  # each applied once
        assert set(v.gossip.seen) == {GossipItem(ITEM_TX, data).item_id for data in _tx_bytes(world, intents)}


def _tx_bytes(world: World, intents: list[dict[str, Any]]) -> list[bytes]:
    """The gossiped bytes of every intent's transaction (day-1 validators do not keep transactions, so they are
    signed again from the trace: Ed25519 signatures are deterministic)."""
    by_account = {node(world, i).account.hex(): node(world, i) for i in all_nodes(world)}
    out = []
    for e in intents:
        tx = Tx.create(by_account[e["sender"]].key, TX_TRANSFER, bytes.fromhex(e["receiver"]), e["amount"], e["nonce"],
                       e["fee"])
        assert tx.tx_id.hex() == e["tx"]
        out.append(tx.to_bytes())
    return out


def test_seen_set_expires_and_a_late_replay_is_stopped_by_nonces() -> None:
    world = build(scenario(duration=20, gossip={"message_timeout": 4}, workload={"rate": 0}))
    payer_i, payee_i = 4, 5
    sent: list[Tx] = []
    seen_at: dict[str, list[bool]] = {}

    def pay() -> None:
        tx = node(world, payer_i).pay(node(world, payee_i).account, 25, 1)
        assert tx is not None
        sent.append(tx)

    def check_seen(label: str) -> None:
        iid = GossipItem(ITEM_TX, sent[0].to_bytes()).item_id
        seen_at[label] = [iid in node(world, i).gossip.seen for i in range(4)]

    def resubmit() -> None:
        assert node(world, payer_i).submit(sent[0])

    at(world, 3.0, pay, index=payer_i)
    at(world, 3.5, check_seen, "fresh")
    at(world, 3.6, resubmit, index=payer_i)  # within the timeout: suppressed by the seen-set
    at(world, 12.0, check_seen, "expired")
    at(world, 12.1, resubmit, index=payer_i)  # after expiry: the ledger's nonce check stops it
    world.run()
    (tx,) = sent
    assert seen_at["fresh"] == [True] * 4
    assert seen_at["expired"] == [False] * 4
    vals = [node(world, i) for i in range(4)]
    assert all(v.gossip.expired > 0 for v in vals)
    # A resubmission of a transaction the ledger already holds is recognised (light nodes resubmit lost
    # transfers), never applied twice; anything that does reach the nonce check is refused as stale.
    rejections = [e for e in events(world, "tx_rejected") if e["tx"] == tx.tx_id.hex()]
    assert all(e["t"] > 12 and e["reason"] == STALE_NONCE for e in rejections)
    payer, payee = node(world, payer_i).account, node(world, payee_i).account
    for v in vals:
        assert v.ledger.balance(payer) == 1000 - 26 and v.ledger.balance(payee) == 1025
        assert v.ledger.nonce(payer) == 1
        # and directly: the same transaction again, after expiry, changes nothing
        before = v.ledger.snapshot()
        assert v.accept_tx(tx, None) is False
        assert v.rejected[tx.tx_id] == STALE_NONCE
        assert v.ledger.snapshot() == before
    assert result(world)["validators_agree"]
