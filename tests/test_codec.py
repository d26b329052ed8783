"""The one-pass decoder (``honest.codec``) accepts exactly what py-ipv8's unpack-and-re-encode round trip accepts,
and builds the same objects, on random and hostile encodings of every schema type."""

from __future__ import annotations

from typing import Any

import pytest
from honest_kit import payload_strategy, sample_payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipv8.messaging.serialization import default_serializer

from honest import codec
from honest.schema import MESSAGES, OBJECTS, Frozen, Gossip, GossipItem, Tx, TxAck

TYPES: list[type[Frozen]] = sorted([*MESSAGES.values(), *OBJECTS], key=lambda c: c.__name__)

def instances(cls: type[Frozen]) -> st.SearchStrategy[Any]:
    return payload_strategy(cls)  # the fuzz tests' own strategy: every schema type, nested lists included


def outcome(fn: Any, cls: type[Frozen], data: bytes) -> tuple[bool, Any]:
    try:
        return True, fn(cls, data)
    except ValueError as e:
        return False, type(e)
    except Exception as e:  # the reference (py-ipv8) raises its own errors; the compiled decoder may not
        if fn is codec.decode:
            raise AssertionError(f"codec raised a non-ValueError: {e!r}") from e
        return False, type(e)


def fields(obj: Any) -> Any:
    if isinstance(obj, Frozen):
        return (type(obj).__name__, tuple((n, fields(getattr(obj, n))) for n in obj.names))
    if isinstance(obj, tuple):
        return tuple(fields(x) for x in obj)
    return (type(obj).__name__, obj)


def assert_same(cls: type[Frozen], data: bytes) -> None:
    ok_ref, ref = outcome(codec.round_trip_decode, cls, data)
    ok_fast, fast = outcome(codec.decode, cls, data)
    assert ok_ref == ok_fast, (cls.__name__, data.hex(), ref, fast)
    if ok_ref:
        assert type(fast) is type(ref)
        assert fields(fast) == fields(ref)
        assert fast.to_bytes() == data


mutation = st.tuples(st.sampled_from(["flip", "cut", "grow", "insert", "delete", "set"]), st.integers(0, 10_000),
                     st.integers(0, 255))


def mutate(data: bytes, how: tuple[str, int, int]) -> bytes:
    kind, pos, byte = how
    if not data:
        return bytes([byte])
    i = pos % len(data)
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << (byte % 8))]) + data[i + 1:]
    if kind == "set":
        return data[:i] + bytes([byte]) + data[i + 1:]
    if kind == "cut":
        return data[:i]
    if kind == "grow":
        return data + bytes([byte])
    if kind == "insert":
        return data[:i] + bytes([byte]) + data[i:]
    return data[:i] + data[i + 1:]


# Examples per schema type (34 types): 40 valid encodings with 1-3 mutations each here, 40 random byte strings, 4
# exhaustive single-byte sweeps, 30 encodings, 30 odd field values; was 60/40/4/60/40 (the suite's CPU budget, issue
# #16). The round trip below also checks that every valid encoding re-encodes to its bytes.
@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_decoder_agrees_with_the_round_trip(cls: type[Frozen], data: st.DataObject) -> None:
    obj = data.draw(instances(cls))
    encoded = obj.to_bytes()
    assert_same(cls, encoded)  # every valid encoding decodes to the same object
    for how in data.draw(st.lists(mutation, min_size=1, max_size=3)):
        encoded = mutate(encoded, how)
        assert_same(cls, encoded)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=120))
def test_random_bytes_are_judged_the_same(cls: type[Frozen], raw: bytes) -> None:
    assert_same(cls, raw)


def test_the_refusals_the_round_trip_existed_for() -> None:
    ack = TxAck(b"\x01" * 32, True, "ok").to_bytes()
    assert codec.decode(TxAck, ack).accepted is True
    loose_bool = ack[:32] + b"\x02" + ack[33:]
    with pytest.raises(ValueError):
        codec.decode(TxAck, loose_bool)
    with pytest.raises(ValueError):
        codec.decode(TxAck, ack + b"\x00")  # trailing bytes
    with pytest.raises(ValueError):
        codec.decode(TxAck, ack[:-1])  # a length past the end
    item = GossipItem(1, b"abc")
    packed = Gossip([item]).to_bytes()
    # grow the nested item's size by one and append a byte: slack inside the nested payload
    size = int.from_bytes(packed[1:3], "big")
    slack = packed[:1] + (size + 1).to_bytes(2, "big") + packed[3:] + b"\x00"
    with pytest.raises(ValueError):
        codec.decode(Gossip, slack)
    with pytest.raises(ValueError):
        Gossip.from_bytes(slack)


def test_decoded_and_constructed_objects_stay_frozen() -> None:
    g = codec.decode(Gossip, Gossip([GossipItem(1, b"x")]).to_bytes())
    assert isinstance(g.items, tuple)
    with pytest.raises(AttributeError):
        g.items = ()
    t = Tx(0, b"k", b"\x00" * 20, 1, 1, 0, b"", b"s")
    with pytest.raises(AttributeError):
        t.amount = 5
    assert Gossip([item := GossipItem(2, b"y")]).items == (item,)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_single_byte_change_is_judged_the_same(cls: type[Frozen], data: st.DataObject) -> None:
    """Exhaustive over positions: every byte set to a few telling values, and every cut and one-byte extension."""
    encoded = data.draw(instances(cls)).to_bytes()
    for i in range(len(encoded)):
        for value in {0, 1, 2, 0x7F, 0xFF, (encoded[i] + 1) & 0xFF, (encoded[i] - 1) & 0xFF}:
            assert_same(cls, encoded[:i] + bytes([value]) + encoded[i + 1:])
        assert_same(cls, encoded[:i])
        assert_same(cls, encoded[:i] + b"\x00" + encoded[i:])
    assert_same(cls, encoded + b"\x00")


def reference_pack(obj: Any) -> tuple[bool, Any]:
    try:
        return True, bytes(default_serializer.pack_serializable(obj))
    except Exception as e:
        return False, type(e)


def our_pack(obj: Any) -> tuple[bool, Any]:
    try:
        return True, codec.encode(obj)
    except Exception as e:
        return False, type(e)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_encoder_makes_py_ipv8s_bytes(cls: type[Frozen], data: st.DataObject) -> None:
    obj = data.draw(instances(cls))
    assert our_pack(obj) == reference_pack(obj)


odd_values = st.one_of(st.none(), st.integers(-2, 2**64 + 1), st.booleans(), st.text(max_size=3),
                       st.binary(max_size=40), st.lists(st.integers(0, 3), max_size=300),
                       st.tuples(st.text(max_size=3), st.integers(-1, 70_000)))


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_odd_field_values_pack_or_fail_as_py_ipv8_does(cls: type[Frozen], data: st.DataObject) -> None:
    """A plugin can hand any value to a schema constructor: the bytes, or the error type, are py-ipv8's."""
    obj = data.draw(instances(cls))
    field = data.draw(st.sampled_from(cls.names))
    obj.__dict__[field] = data.draw(odd_values)
    assert our_pack(obj) == reference_pack(obj)


def test_a_node_signs_the_same_packet_py_ipv8_would() -> None:
    from honest_kit import build, node, running, scenario

    with running(build(scenario(duration=2), keep_trace=False)) as world:
        n = node(world, 0)
        for cls in TYPES:
            if cls.msg_id:
                payload = sample_payload(cls, fill_lists=True)
                assert n.pack_signed(payload) == n.ezr_pack(payload.msg_id, payload), cls.__name__
