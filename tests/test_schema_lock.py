"""The wire schema is frozen: its fingerprint matches ``honest/schema.lock``, ids are unique and outside py-ipv8's
reserved range, payloads are immutable, and the bytes that signatures cover do not drift either."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from honest_kit import sample_payload

from arena.cli.schema import UPDATE_HINT, lock_path, lock_problem, lock_text, read_lock, schema_cmd
from honest import schema
from honest.schema import (
    TX_TRANSFER,
    BlockHeader,
    ChannelState,
    Frozen,
    GossipItem,
    Tx,
    Vote,
    sha256,
)

ALL_TYPES: list[type[Frozen]] = [*schema.MESSAGES.values(), *schema.OBJECTS]

#: SHA-256 over the canonical (signed) encodings of fixed objects; see ``test_signed_encodings_are_frozen``.
CANONICAL_DIGEST = "f5f0e75c7eb1f9d788d32648d0d6f8fe02519aa00ac953c2923999fff0ef261d"


def test_fingerprint_matches_lock() -> None:
    path = lock_path()
    assert path.exists(), f"{path} is missing: {UPDATE_HINT}"
    locked = read_lock(path)
    assert locked is not None, f"{path} is unreadable: {UPDATE_HINT}"
    version, fp = locked
    assert fp == schema.fingerprint(), (
        f"the wire schema changed: fingerprint {schema.fingerprint()} != locked {fp}. The red team builds against "
        f"the frozen schema; if the change is deliberate, {UPDATE_HINT}"
    )
    assert version == schema.SCHEMA_VERSION, f"lock version {version} != SCHEMA_VERSION: {UPDATE_HINT}"
    assert lock_problem(path) is None


def test_fingerprint_sees_every_kind_of_change(monkeypatch: pytest.MonkeyPatch) -> None:
    before = schema.fingerprint()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    assert schema.fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(schema.Ping, "format_list", ["Q"])  # a field's format
    assert schema.fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(schema.Tx, "names", [*schema.Tx.names[:-1], "sig"])  # a nested object's field name
    assert schema.fingerprint() != before
    monkeypatch.undo()
    assert schema.fingerprint() == before


def test_message_ids_unique_and_not_reserved() -> None:
    declared = [c for c in vars(schema).values()
                if isinstance(c, type) and issubclass(c, Frozen) and c is not Frozen and c.msg_id]
    ids = [c.msg_id for c in declared]
    assert len(ids) == len(set(ids)), f"duplicate message ids: {sorted(ids)}"
    assert set(declared) == set(schema.MESSAGES.values()), "a message class is missing from MESSAGES"
    for mid, cls in schema.MESSAGES.items():
        assert cls.msg_id == mid
        assert 1 <= mid < 231, f"{cls.__name__}: id {mid} is in py-ipv8's reserved range 231-255 (or 0)"
    for cls in schema.OBJECTS:
        assert cls.msg_id == 0, f"{cls.__name__} is an object, not a message"


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_payloads_are_immutable(cls: type[Frozen]) -> None:
    payload = sample_payload(cls)
    for name in cls.names:
        before = getattr(payload, name)
        with pytest.raises(AttributeError):
            setattr(payload, name, before)
        assert getattr(payload, name) is before
    # and it survives the wire unchanged
    assert cls.from_bytes(payload.to_bytes()).to_bytes() == payload.to_bytes()


def _has_list(cls: type[Frozen]) -> bool:
    return any(isinstance(f, list) for f in cls.format_list)


def test_list_fields_hold_payloads() -> None:
    """py-ipv8 packs ``[X]`` only when X is a payload class; a list of a plain format fails once non-empty."""
    for cls in ALL_TYPES:
        for name, fmt in zip(cls.names, cls.format_list, strict=True):
            if isinstance(fmt, list):
                assert len(fmt) == 1 and isinstance(fmt[0], type) and issubclass(fmt[0], Frozen), (
                    f"{cls.__name__}.{name}: {fmt!r} is not a list of payloads")


@pytest.mark.parametrize("cls", [
    c for c in ALL_TYPES if _has_list(c)
], ids=lambda c: c.__name__)
def test_list_fields_round_trip(cls: type[Frozen]) -> None:
    """Messages with list fields survive the wire with a non-empty list."""
    payload = sample_payload(cls, fill_lists=True)
    data = payload.to_bytes()
    again = cls.from_bytes(data)
    assert again.to_bytes() == data
    for name, fmt in zip(cls.names, cls.format_list, strict=True):
        if isinstance(fmt, list):
            assert len(getattr(again, name)) == 1


def test_from_bytes_refuses_trailing_bytes() -> None:
    data = sample_payload(schema.Ping).to_bytes()
    with pytest.raises(ValueError, match="trailing"):
        schema.Ping.from_bytes(data + b"\x00")


def canonical_vectors() -> bytes:
    """Canonical encodings (what signatures cover) and derived ids of fixed objects, concatenated."""
    key = bytes(range(74))
    tx = Tx(TX_TRANSFER, key, bytes(range(20)), 5, 7, 1, b"data", b"")
    header = BlockHeader(3, 9, bytes(32), key, bytes(range(32)), bytes(reversed(range(32))), b"")
    vote = Vote(3, bytes(range(32)), key, b"")
    chan = ChannelState(bytes(range(32)), 4, 60, 40, b"", b"")
    item = GossipItem(1, b"payload")
    return b"|".join([tx.canonical(), tx.tx_id, tx.sender, header.canonical(), header.block_hash, vote.canonical(),
                      chan.canonical(), item.item_id])


def test_signed_encodings_are_frozen() -> None:
    """The schema lock covers field formats; this covers the byte layouts that signatures and ids are computed over
    (``canonical()``), which the red team must reproduce bit for bit."""
    digest = sha256(canonical_vectors()).hex()
    assert digest == CANONICAL_DIGEST, (
        f"the canonical (signed) encoding changed: {digest}. Signatures made by other implementations stop "
        f"verifying. If deliberate, {UPDATE_HINT}, and update CANONICAL_DIGEST in this test"
    )


# -- the ``arena schema`` command ----------------------------------------------------------------------------------
def test_cli_prints_table_and_fingerprint() -> None:
    res = CliRunner().invoke(schema_cmd, [])
    assert res.exit_code == 0, res.output
    assert schema.fingerprint() in res.output
    for cls in ALL_TYPES:
        assert cls.__name__ in res.output


def test_cli_check_passes_on_the_real_lock() -> None:
    res = CliRunner().invoke(schema_cmd, ["--check", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "matches" in res.output


def test_cli_write_then_check(tmp_path: Path) -> None:
    lock = tmp_path / "schema.lock"
    lock.write_text("version = 1\nfingerprint = 00\n")
    res = CliRunner().invoke(schema_cmd, ["--check", "--quiet", "--lock", str(lock)])
    assert res.exit_code == 1
    assert "arena schema --write-lock" in res.output
    res = CliRunner().invoke(schema_cmd, ["--write-lock", "--quiet", "--lock", str(lock)])
    assert res.exit_code == 0, res.output
    assert lock.read_text() == lock_text()
    assert read_lock(lock) == (schema.SCHEMA_VERSION, schema.fingerprint())
    res = CliRunner().invoke(schema_cmd, ["--check", "--quiet", "--lock", str(lock)])
    assert res.exit_code == 0, res.output


def test_cli_check_fails_on_missing_lock(tmp_path: Path) -> None:
    res = CliRunner().invoke(schema_cmd, ["--check", "--quiet", "--lock", str(tmp_path / "none.lock")])
    assert res.exit_code == 1
