"""Honest edges that used to accept anything (issue 13, point 5): each case is dropped and counted, never changes
state.

* a ``Delivery`` counts only for an order the node placed, from the merchant it placed it with, once;
* a ``HeaderAnnounce`` counts only from a genesis staker, and no higher than the slot clock allows;
* a ``TxStatusReply`` counts only from the validator asked, under the (unpredictable) query id it was asked with;
* one order per payment transaction;
* strict decoding on every handler path: every length within the packet, the whole packet consumed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest
from honest_kit import build, node, running, sample_payload, scenario
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer

from arena.sim.world import World
from honest.node import HonestNode
from honest.schema import (
    MESSAGES,
    TX_TRANSFER,
    BlockHeader,
    Delivery,
    Frozen,
    HeaderAnnounce,
    Purchase,
    SubmitTx,
    Tx,
    TxStatusReply,
)

V0, V1, V2, L0, L1, M = 0, 1, 2, 3, 4, 5  # node indexes: 3 validators, 2 light nodes, 1 merchant
TOP = (1 << 64) - 1


@pytest.fixture
def world() -> Iterator[World]:
    sc = scenario(validators=3, light_nodes=2, merchants=[{"price": 50}], duration=60,
                  consensus={"mode": "pos", "slot": 1.0, "finality": "votes"}, light={"confirmations": 1},
                  workload={"rate": 1, "stop": 4, "purchases": 0.0})
    w = build(sc, keep_trace=False)
    with running(w):
        w.loop.run_until(6.0)
        yield w


def deliver(world: World, to: int, sender: int, payload: Frozen) -> None:
    s = node(world, sender)
    deliver_raw(world, to, sender, s.ezr_pack(payload.msg_id, payload))


def deliver_raw(world: World, to: int, sender: int, data: bytes) -> None:
    n = node(world, to)
    world.in_node(world.nodes[to], n.on_packet, (world.nodes[sender].endpoint.address, data))


def signed_packet(s: HonestNode, mid: int, body: bytes) -> bytes:
    """A packet correctly signed by ``s`` whose payload bytes are ``body``, whatever they encode."""
    auth = BinMemberAuthenticationPayload(s.my_peer.public_key.key_to_bin())
    unsigned = s.get_prefix() + bytes([mid]) + default_serializer.pack_serializable(auth) + body
    return unsigned + default_eccrypto.create_signature(s.key, unsigned)


def unpaid_tx(world: World, payer: int, receiver: bytes, amount: int = 50) -> Tx:
    p = node(world, payer)
    return Tx.create(p.key, TX_TRANSFER, receiver, amount, p.next_nonce + 50, 0)


# -- Delivery -------------------------------------------------------------------------------------------------------
def test_unsolicited_delivery_is_dropped(world: World) -> None:
    buyer = node(world, L0)
    before = buyer.received_goods
    for sender in (V0, L1, M):  # nobody is owed anything: no order was placed
        deliver(world, L0, sender, Delivery(1, TOP))
        deliver(world, L0, sender, Delivery(buyer.query_seq, 50))
    assert buyer.received_goods == before
    assert buyer.drops["unsolicited"] >= 6


def test_delivery_only_from_the_merchant_once(world: World) -> None:
    buyer, merchant = node(world, L0), node(world, M)
    world.in_node(world.nodes[L0], buyer.buy, world.nodes[M].endpoint.address, merchant.account, 50, 0)
    order_id = buyer.query_seq
    before = buyer.received_goods
    deliver(world, L0, L1, Delivery(order_id, 50))  # the right order id, from somebody else
    deliver(world, L0, V0, Delivery(order_id, 50))
    assert buyer.received_goods == before
    deliver(world, L0, M, Delivery(order_id, TOP))  # more than was paid
    assert buyer.received_goods == before
    deliver(world, L0, M, Delivery(order_id, 50))
    deliver(world, L0, M, Delivery(order_id, 50))  # once
    assert buyer.received_goods == before + 50


# -- HeaderAnnounce -------------------------------------------------------------------------------------------------
def _header(signer: HonestNode, height: int, slot: int) -> BlockHeader:
    from honest.schema import public_key_of, sign

    pk = public_key_of(signer.key)
    unsigned = BlockHeader(height, slot, bytes(32), pk, bytes(32), bytes(32), b"")
    return BlockHeader(height, slot, bytes(32), pk, bytes(32), bytes(32), sign(signer.key, unsigned.canonical()))


def test_header_from_a_non_validator_is_dropped(world: World) -> None:
    light = node(world, L0)
    best, known = light.best_header_height, dict(light.headers)
    for signer in (L1, M):
        deliver(world, L0, signer, HeaderAnnounce(_header(node(world, signer), TOP, TOP)))
        deliver(world, L0, V0, HeaderAnnounce(_header(node(world, signer), best + 1, light.now_slot())))
    assert light.best_header_height == best
    assert light.headers == known
    assert light.drops["header_not_a_validator"] == 4


def test_header_beyond_the_slot_clock_is_dropped(world: World) -> None:
    light, v = node(world, L0), node(world, V1)
    best = light.best_header_height
    now = light.now_slot()
    for height, slot in ((TOP, TOP), (now + 50, now + 50), (now + 3, now + 3), (now, now - 1)):
        deliver(world, L0, V1, HeaderAnnounce(_header(v, height, slot)))
    assert light.best_header_height == best
    assert light.drops["header_from_the_future"] == 4
    deliver(world, L0, V1, HeaderAnnounce(_header(v, now + 1, now + 1)))  # within the slack: a header like any other
    assert light.best_header_height == max(best, now + 1)


# -- TxStatusReply and Purchase -------------------------------------------------------------------------------------
def _open_order(world: World, order_id: int = 1) -> Tx:
    """An order for a payment no validator has seen: the honest answer is "unknown", never "finalized"."""
    merchant = node(world, M)
    tx = unpaid_tx(world, L0, merchant.account)
    deliver(world, M, L0, Purchase(order_id, tx))
    return tx


def test_status_reply_from_anyone_but_the_asked_validator_is_dropped(world: World) -> None:
    merchant = node(world, M)
    tx = _open_order(world)
    assert merchant.status_queries, "the merchant asked at once"
    outstanding = dict(merchant.status_queries)
    asked = {k for k, _ in outstanding.values()}
    others = [i for i in (V0, V1, V2, L0, L1) if node(world, i).public_key not in asked]
    assert others
    for qid in outstanding:
        for i in others:  # the right query id, the wrong peer
            deliver(world, M, i, TxStatusReply(qid, tx.tx_id, 3, 1, 10))
    for guess in range(0, 300):  # guessing query ids (today's were a counter)
        deliver(world, M, L1, TxStatusReply(guess, tx.tx_id, 3, 1, 10))
    asker = next(i for i in (V0, V1, V2) if node(world, i).public_key in asked)
    qid = next(q for q, (k, _) in outstanding.items() if k == node(world, asker).public_key)
    deliver(world, M, asker, TxStatusReply(qid, bytes(32), 3, 1, 10))  # the asked validator, another transaction
    assert all(o.status not in ("finalized", "delivered") for o in merchant.orders.values())
    assert not merchant.delivered
    assert merchant.drops["unsolicited"] >= len(outstanding) * len(others) + 301
    assert merchant.status_queries == outstanding  # nothing was used up


def test_status_query_ids_are_unpredictable_and_answered_once(world: World) -> None:
    merchant = node(world, M)
    _open_order(world, 1)
    _open_order(world, 2)  # same payer, a fresh transaction (different nonce is not needed: another order id)
    qids = sorted(merchant.status_queries)
    assert len(qids) >= 2
    assert qids != list(range(qids[0], qids[0] + len(qids))), "query ids must not be a counter"
    qid, (key, tx_id) = next(iter(merchant.status_queries.items()))
    asker = next(i for i in (V0, V1, V2) if node(world, i).public_key == key)
    deliver(world, M, asker, TxStatusReply(qid, tx_id, 0, 0, 0))
    assert qid not in merchant.status_queries
    drops = merchant.drops["unsolicited"]
    deliver(world, M, asker, TxStatusReply(qid, tx_id, 3, 1, 10))  # a replay of an answered query
    assert merchant.drops["unsolicited"] == drops + 1
    assert not merchant.delivered


def test_one_order_per_payment(world: World) -> None:
    merchant, buyer = node(world, M), node(world, L0)
    tx = buyer.make_tx(merchant.account, 50, 1)
    world.in_node(world.nodes[L0], buyer.submit, tx)
    for order_id in range(1, 21):
        deliver(world, M, L0, Purchase(order_id, tx))
    assert len(merchant.orders) == 1
    assert merchant.drops["duplicate_payment"] == 19
    world.loop.run_until(world.loop.time() + 20)
    assert len(merchant.delivered) == 1, merchant.delivered


# -- strict decoding ------------------------------------------------------------------------------------------------
def _pack_field(fmt: Any, value: Any) -> bytes:
    if isinstance(fmt, list):
        return bytes([len(value)]) + b"".join(_pack_field(fmt[0], v) for v in value)
    if isinstance(fmt, type):
        data = default_serializer.pack_serializable(value)
        return struct.pack(">H", len(data)) + data
    return bytes(default_serializer.get_packer_for(fmt).pack(value))


def noncanonical(payload: Frozen) -> list[tuple[str, bytes]]:
    """Encodings of ``payload`` that py-ipv8's serializer reads back as (nearly) the same payload: the last
    length-prefixed field's length running past the end, slack inside a nested object, a loose bool."""
    cls = type(payload)
    values = [getattr(payload, n) for n in cls.names]
    fields = [_pack_field(f, v) for f, v in zip(cls.format_list, values, strict=True)]
    out: list[tuple[str, bytes]] = []
    last_fmt, last = cls.format_list[-1], fields[-1]
    if last_fmt in ("varlenH", "varlenHutf8", "varlenI") or isinstance(last_fmt, type):
        size = 4 if last_fmt == "varlenI" else 2
        (n,) = struct.unpack(">I" if size == 4 else ">H", last[:size])
        longer = struct.pack(">I" if size == 4 else ">H", n + 7) + last[size:]
        out.append(("length_past_end", b"".join(fields[:-1]) + longer))
    for i, fmt in enumerate(cls.format_list):
        if isinstance(fmt, type):  # slack inside a nested object
            data = default_serializer.pack_serializable(values[i])
            slack = struct.pack(">H", len(data) + 3) + data + b"\x00\x00\x00"
            out.append((f"slack_in_{cls.names[i]}", b"".join(fields[:i]) + slack + b"".join(fields[i + 1:])))
        if isinstance(fmt, list) and values[i]:
            items = [default_serializer.pack_serializable(v) for v in values[i]]
            body = b"".join(struct.pack(">H", len(d)) + d for d in items[:-1])
            body += struct.pack(">H", len(items[-1]) + 1) + items[-1] + b"\x00"
            out.append((f"slack_in_{cls.names[i]}", b"".join(fields[:i]) + bytes([len(items)]) + body
                        + b"".join(fields[i + 1:])))
        if fmt == "?":
            out.append(("loose_bool", b"".join(fields[:i]) + b"\x02" + b"".join(fields[i + 1:])))
    return out


def _valid_tx(world: World) -> Tx:
    p, r = node(world, L0), node(world, L1)
    return Tx.create(p.key, TX_TRANSFER, r.account, 3, p.next_nonce + 7, 1)


def test_submit_tx_with_a_length_past_the_end_is_malformed(world: World) -> None:
    """The reported case: the same transaction in two encodings, the nested size running past the packet."""
    v = node(world, V0)
    tx = _valid_tx(world)
    for _name, body in noncanonical(SubmitTx(tx)):
        before = v.drops["malformed"]
        deliver_raw(world, V0, L0, signed_packet(node(world, L0), SubmitTx.msg_id, body))
        assert v.drops["malformed"] == before + 1, _name
        assert tx.tx_id not in v.mempool, _name


@pytest.mark.parametrize("role_index", [V0, L0, M], ids=["validator", "light", "merchant"])
def test_every_handler_decodes_strictly(world: World, role_index: int) -> None:
    """Every message type with a non-canonical encoding (there is one for each type with a length-prefixed last
    field, a nested object or a bool) is dropped as malformed by every role, before its handler runs."""
    target = node(world, role_index)
    sender = V1 if role_index != V1 else V0
    tried = 0
    for mid, cls in sorted(MESSAGES.items()):
        payload = sample_payload(cls, fill_lists=True)
        if cls is SubmitTx or cls is Purchase:
            payload = cls(*([_valid_tx(world)] if cls is SubmitTx else [1, _valid_tx(world)]))
        for name, body in noncanonical(payload):
            before = target.drops["malformed"]
            deliver_raw(world, role_index, sender, signed_packet(node(world, sender), mid, body))
            assert target.drops["malformed"] == before + 1, (cls.__name__, name)
            tried += 1
    assert tried >= 18
