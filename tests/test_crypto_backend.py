"""The libsodium backend (``arena.runtime.crypto``) gives py-ipv8's own answers, bit for bit, on every input.

The reference is py-ipv8's unpatched ``ECCrypto`` methods on a fresh instance (never the shared
``default_eccrypto``). Hostile inputs are built with a small pure-Python Ed25519 below (independent of both
libraries): small-order and non-canonical keys, keys with a torsion component, small-order and torsion-shifted R,
S >= L, forgeries that only work against a small-order key, wrong lengths, odd argument types.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipv8.keyvault.crypto import ECCrypto, default_eccrypto

from arena.runtime.crypto import (
    SMALL_ORDER_Y,
    FastEd25519,
    VerifyCache,
    fast_crypto,
    ipv8_create_signature,
    ipv8_is_valid_signature,
    libsodium_agrees,
    sodium_verify,
)
from arena.scenario.model import load_scenario
from arena.sim.ipv8_patches import virtual_ipv8
from arena.sim.runner import run_battle

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
REF = ECCrypto()  # py-ipv8 as it ships: the class's own functions on an instance nobody patches
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- a small Ed25519 in extended coordinates (RFC 8032), to craft what no honest signer makes --------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]
ZERO: Point = (0, 1, 1, 0)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if (x & 1) != sign else x


def affine(x: int, y: int) -> Point:
    return (x, y, 1, x * y % P)


def padd(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pneg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def pmul(k: int, p: Point) -> Point:
    out = ZERO
    while k:
        if k & 1:
            out = padd(out, p)
        p = padd(p, p)
        k >>= 1
    return out


def encode(p: Point) -> bytes:
    zi = pow(p[2], P - 2, P)
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(b: bytes) -> Point | None:
    """The point of an encoding; a non-canonical y (y >= p) is reduced, as OpenSSL does."""
    n = int.from_bytes(b, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    y = y - P if y >= P else y
    x = _recover_x(y, sign)
    return None if x is None else affine(x, y)


_BY = 4 * pow(5, P - 2, P) % P
BASE = affine(_recover_x(_BY, 0) or 0, _BY)
T8 = decode(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
assert T8 is not None
TORSION = [pmul(i, T8) for i in range(8)]  # TORSION[0] is the identity


def h_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


def expand(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, digest[32:]


def raw_sign(a: int, key: bytes, msg: bytes, r: int, big_r: Point | None = None) -> bytes:
    """s = r + h * a for the published key bytes ``key``; ``big_r`` replaces [r]B as R (torsion games)."""
    rb = encode(pmul(r, BASE) if big_r is None else big_r)
    return rb + ((r + h_int(rb, key, msg) * a) % L).to_bytes(32, "little")


def forge_small_order(key: bytes, point: Point, msg: bytes, s: int) -> bytes | None:
    """A signature of ``msg`` under a small-order key ``point`` (encoded as ``key``): R = [s]B - [h]A, found by
    trying the eight candidates R = [s]B - [j]A until h agrees (the cofactorless equation then holds)."""
    for j in range(8):
        rb = encode(padd(pmul(s, BASE), pneg(pmul(j, point))))
        if encode(pmul(h_int(rb, key, msg), point)) == encode(pmul(j, point)):
            return rb + s.to_bytes(32, "little")
    return None


def small_order_r(a: int, key: bytes, torsion: Point, msgs: list[bytes]) -> tuple[bytes, bytes] | None:
    """For the key [a]B + ``torsion``: a message and signature whose R is of small order (s = h * a, so
    [s]B - [h]A = -[h]T), which py-ipv8 accepts and libsodium refuses."""
    for m in msgs:
        for t in TORSION:
            rb = encode(t)
            h = h_int(rb, key, m)
            if encode(pneg(pmul(h, torsion))) == rb:
                return m, rb + (h * a % L).to_bytes(32, "little")
    return None


# -- the two sides ------------------------------------------------------------------------------------------------
def pub_bin(vk: bytes, x25519: bytes = bytes(32)) -> bytes:
    return b"LibNaCLPK:" + x25519 + vk


def ref_key(vk: bytes) -> Any:
    return ECCrypto.key_from_public_bin(REF, pub_bin(vk))


def ref_verify(key: Any, data: Any, sig: Any) -> bool:
    return ipv8_is_valid_signature(REF, key, data, sig)


def new_backend(**limits: int) -> FastEd25519:
    return FastEd25519(partial(ipv8_create_signature, REF), partial(ipv8_is_valid_signature, REF), **limits)


FAST = new_backend()
CACHED = VerifyCache(REF, verify=FAST.is_valid_signature)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except BaseException as exc:  # the type is what must agree
        return "raises", type(exc)


def same_verdict(vk: bytes, data: bytes, sig: bytes) -> bool:
    """Assert the fast path, the cached fast path (twice) and the raw libsodium call; return py-ipv8's answer."""
    key = ref_key(vk)
    expected = ref_verify(key, data, sig)
    assert type(expected) is bool
    assert FAST.is_valid_signature(key, data, sig) is expected
    assert CACHED.is_valid_signature(key, data, sig) is expected
    assert CACHED.is_valid_signature(key, data, sig) is expected
    return expected


def sodium_says(vk: bytes, data: bytes, sig: bytes) -> bool:
    return len(sig) == 64 and sodium_verify(vk, data, sig)


# -- fixed hostile classes: what each library does, and that the backend answers as py-ipv8 ------------------------
SEED = hashlib.sha256(b"test_crypto_backend").digest()
A_SCALAR, PREFIX = expand(SEED)
A_POINT = pmul(A_SCALAR, BASE)
VK = encode(A_POINT)
MSG = b"a block, say"
NONCE = h_int(PREFIX, MSG)
GOOD = raw_sign(A_SCALAR, VK, MSG, NONCE)
S_GOOD = int.from_bytes(GOOD[32:], "little")


def _cases() -> list[tuple[str, bytes, bytes, bytes, bool, bool]]:
    """(name, verify key, data, signature, py-ipv8's answer, libsodium's answer) as measured on pyipv8 3.2.1 with
    ipv8-rust-tunnels 0.1.53 (OpenSSL 3) and PyNaCl 1.6.2; the test fails if either library changes its mind."""
    out: list[tuple[str, bytes, bytes, bytes, bool, bool]] = [
        ("valid", VK, MSG, GOOD, True, True),
        ("valid, empty message", VK, b"", raw_sign(A_SCALAR, VK, b"", 7), True, True),
        ("other message", VK, MSG + b"!", GOOD, False, False),
        ("S + L", VK, MSG, GOOD[:32] + (S_GOOD + L).to_bytes(32, "little"), False, False),
        ("S = L", VK, MSG, GOOD[:32] + L.to_bytes(32, "little"), False, False),
        ("S with the top bit", VK, MSG, GOOD[:63] + bytes([GOOD[63] | 0x80]), False, False),
        ("signature 63 bytes", VK, MSG, GOOD[:63], False, False),
        ("signature 65 bytes", VK, MSG, GOOD + b"\0", False, False),
        ("signature empty", VK, MSG, b"", False, False),
        ("all-zero signature", VK, MSG, bytes(64), False, False),
        ("all-zero key, all-zero signature (forgery)", bytes(32), b"hello world", bytes(64), True, False),
        ("all-zero key, all-zero signature, other message", bytes(32), MSG, bytes(64), False, False),
        ("identity R, s = h * a (key owner)", VK, MSG,
         encode(ZERO) + (h_int(encode(ZERO), VK, MSG) * A_SCALAR % L).to_bytes(32, "little"), True, False),
        ("non-canonical R (identity as p + 1)", encode(ZERO), MSG, (P + 1).to_bytes(32, "little") + bytes(32),
         False, False),
        ("identity key as p + 1, R = identity, s = 0 (forgery)", (P + 1).to_bytes(32, "little"), MSG,
         encode(ZERO) + bytes(32), True, False),
        ("identity key with the sign bit, R = identity, s = 0", (1 | 1 << 255).to_bytes(32, "little"), MSG,
         encode(ZERO) + bytes(32), True, False),
        ("off-curve key", (2).to_bytes(32, "little"), MSG, GOOD, False, False),
    ]
    for i in range(1, 8):
        out.append((f"R + T{i}, signed consistently", VK, MSG,
                    raw_sign(A_SCALAR, VK, MSG, NONCE, padd(pmul(NONCE, BASE), TORSION[i])), False, False))
    for i, t in enumerate(TORSION):
        forged = forge_small_order(encode(t), t, MSG, 12345)
        if forged is not None:
            out.append((f"small-order key T{i}, forgery", encode(t), MSG, forged, True, False))
    a_t = encode(padd(A_POINT, TORSION[1]))
    holds = [m for m in (bytes([j]) for j in range(64)) if encode(pmul(h_int(raw_sign(A_SCALAR, a_t, m, 9)[:32],
                                                                           a_t, m), TORSION[1])) == encode(ZERO)]
    fails = [m for m in (bytes([j]) for j in range(64)) if m not in holds]
    out.append(("key A + T1, equation holds", a_t, holds[0], raw_sign(A_SCALAR, a_t, holds[0], 9), True, True))
    out.append(("key A + T1, equation fails", a_t, fails[0], raw_sign(A_SCALAR, a_t, fails[0], 9), False, False))
    found = small_order_r(A_SCALAR, a_t, TORSION[1], [bytes([j]) for j in range(64)])
    assert found is not None
    out.append(("key A + T1, small-order R (key owner)", a_t, found[0], found[1], True, False))
    for y in range(2, 19):  # non-canonical y + p: never signable, both refuse
        if _recover_x(y, 0) is not None:
            out.append((f"non-canonical key y = {y} + p", (y + P).to_bytes(32, "little"), MSG, GOOD, False, False))
            break
    return out


CASES = _cases()


@pytest.mark.parametrize(("name", "vk", "data", "sig", "ipv8", "sodium"), CASES, ids=[c[0] for c in CASES])
def test_hostile_classes(name: str, vk: bytes, data: bytes, sig: bytes, ipv8: bool, sodium: bool) -> None:
    assert same_verdict(vk, data, sig) is ipv8, name
    assert sodium_says(vk, data, sig) is sodium, name


def test_the_libraries_really_disagree_somewhere_and_the_fast_path_is_used() -> None:
    """The table is not trivial (some classes differ), and honest checks do go to libsodium."""
    assert any(c[4] != c[5] for c in CASES)
    assert libsodium_agrees()
    backend = new_backend()
    assert backend.is_valid_signature(ref_key(VK), MSG, GOOD) is True
    assert backend.is_valid_signature(ref_key(VK), MSG + b"!", GOOD) is False
    assert (backend.fast_verifies, backend.deferred) == (2, 0)
    assert backend.is_valid_signature(ref_key(bytes(32)), b"hello world", bytes(64)) is True  # py-ipv8 answers
    assert backend.deferred == 1


def test_without_the_self_test_every_check_goes_to_py_ipv8() -> None:
    backend = new_backend()
    backend.verifies = False  # what a libsodium failing SELF_TEST gets
    assert backend.is_valid_signature(ref_key(VK), MSG, GOOD) is True
    assert (backend.fast_verifies, backend.deferred) == (0, 1)


def test_small_order_table_is_libsodiums_blacklist() -> None:
    ys = {int.from_bytes(encode(t), "little") & ((1 << 255) - 1) for t in TORSION}
    assert ys | {P, P + 1} == set(SMALL_ORDER_Y)


# -- random and mutated inputs ------------------------------------------------------------------------------------
@FUZZ
@given(seed=st.binary(min_size=32, max_size=32), data=st.binary(max_size=600))
def test_signatures_are_byte_identical(seed: bytes, data: bytes) -> None:
    key = ECCrypto.key_from_private_bin(REF, b"LibNaCLSK:" + hashlib.sha256(seed).digest() + seed)
    backend = new_backend()
    expected = ipv8_create_signature(REF, key, data)
    assert backend.create_signature(key, data) == expected
    assert backend.create_signature(key, data) == expected  # from the memo
    assert (backend.sign_misses, backend.sign_hits, backend.deferred) == (1, 1, 0)
    assert same_verdict(bytes(key.pub().key_to_bin()[42:]), data, expected) is True


def _mutate(sig: bytes, how: int, where: int, value: int) -> bytes:
    b = bytearray(sig)
    if how == 0:
        b[where % 64] ^= 1 << (value % 8)
    elif how == 1:
        b[where % 64] = value % 256
    elif how == 2:  # S + k * L (non-canonical S, same residue)
        s = int.from_bytes(sig[32:], "little") + (1 + value % 7) * L
        b[32:] = (s % (1 << 256)).to_bytes(32, "little")
    elif how == 3:  # R + T (not re-signed)
        r = decode(sig[:32])
        if r is not None:
            b[:32] = encode(padd(r, TORSION[1 + value % 7]))
    elif how == 4:
        return bytes(b[: where % 64])
    elif how == 5:
        return bytes(b) + bytes([value % 256]) * (1 + where % 4)
    elif how == 6:  # R replaced by a small-order point
        b[:32] = encode(TORSION[value % 8])
    elif how == 7:
        b[:32], b[32:] = b[32:], b[:32]
    return bytes(b)


@FUZZ
@given(seed=st.binary(min_size=32, max_size=32), data=st.binary(max_size=300),
       how=st.integers(0, 7), where=st.integers(0, 200), value=st.integers(0, 1 << 16),
       other=st.binary(max_size=300))
def test_mutated_signatures(seed: bytes, data: bytes, how: int, where: int, value: int, other: bytes) -> None:
    a, prefix = expand(seed)
    vk = encode(pmul(a, BASE))
    sig = raw_sign(a, vk, data, h_int(prefix, data))
    bad = _mutate(sig, how, where, value)
    same_verdict(vk, data, bad)
    same_verdict(vk, other, bad)
    same_verdict(vk, other, sig)


def _crafted_key(kind: int, a: int, value: int) -> bytes:
    """Keys from each hostile class."""
    if kind == 0:  # a small-order point, any of its encodings (sign bit, p and p + 1)
        y = sorted(SMALL_ORDER_Y)[value % len(SMALL_ORDER_Y)]
        return (y | (value >> 3 & 1) << 255).to_bytes(32, "little")
    if kind == 1:  # a key with a torsion component
        return encode(padd(pmul(a, BASE), TORSION[1 + value % 7]))
    if kind == 2:  # a non-canonical y (y + p for small y), on the curve or not
        return ((value % 19 + P) | (value >> 5 & 1) << 255).to_bytes(32, "little")
    if kind == 3:
        return bytes(32)
    return random.Random(value).randbytes(32)


@FUZZ
@given(kind=st.integers(0, 4), seed=st.binary(min_size=32, max_size=32), value=st.integers(0, 1 << 20),
       data=st.binary(max_size=200), how=st.integers(0, 3), sig_bytes=st.binary(min_size=64, max_size=64))
def test_crafted_keys_and_signatures(kind: int, seed: bytes, value: int, data: bytes, how: int,
                                     sig_bytes: bytes) -> None:
    a, prefix = expand(seed)
    vk = _crafted_key(kind, a, value)
    point = decode(vk)
    sigs = [sig_bytes, raw_sign(a, vk, data, h_int(prefix, data))]
    if how == 1 and point is not None:
        forged = forge_small_order(vk, point, data, value % L)
        if forged is not None:
            sigs.append(forged)
    if how == 2 and kind == 1:
        found = small_order_r(a, vk, TORSION[1 + value % 7], [data + bytes([j]) for j in range(16)])
        if found is not None:
            data, sig = found
            sigs.append(sig)
    if how == 3:
        sigs.append(encode(TORSION[value % 8]) + sig_bytes[32:])
    for sig in sigs:
        same_verdict(vk, data, sig)


@FUZZ
@given(vk=st.binary(min_size=32, max_size=32), sig=st.binary(min_size=64, max_size=64), data=st.binary(max_size=64))
def test_random_everything(vk: bytes, sig: bytes, data: bytes) -> None:
    same_verdict(vk, data, sig)


@FUZZ
@given(bin_=st.one_of(st.binary(max_size=90), st.binary(min_size=64, max_size=66).map(lambda b: b"LibNaCLPK:" + b),
                      st.binary(min_size=64, max_size=64).map(lambda b: b"LibNaCLSK:" + b)))
def test_key_bins_parse_or_fail_alike(bin_: bytes) -> None:
    """The verify cache parses keys through py-ipv8 and memoises only successes: the same key or the same error."""
    cache = VerifyCache(REF, verify=FAST.is_valid_signature)
    expected = outcome(ECCrypto.key_from_public_bin, REF, bin_)
    for _ in range(2):
        got = outcome(cache.key_from_public_bin, bin_)
        assert got[0] == expected[0]
        if got[0] == "ok":
            assert got[1].key_to_bin() == expected[1].key_to_bin()
            assert same_verdict_key(got[1], expected[1])
        else:
            assert got[1] is expected[1]


def same_verdict_key(key: Any, ref: Any) -> bool:
    data, sig = MSG, GOOD
    return bool(FAST.is_valid_signature(key, data, sig) is ref_verify(ref, data, sig))


# -- odd arguments, other key types -------------------------------------------------------------------------------
def test_odd_arguments_give_py_ipv8s_result_or_exception() -> None:
    sk = ECCrypto.key_from_private_bin(REF, b"LibNaCLSK:" + bytes(32) + SEED)
    pk = sk.pub()
    sig = ipv8_create_signature(REF, sk, MSG)

    class NotAKey:
        def verify(self, signature: bytes, msg: bytes) -> bool:
            return True

    verify_calls: list[tuple[Any, ...]] = [
        (pk, MSG, sig), (sk, MSG, sig), (pk, MSG.decode(), sig), (pk, MSG, sig.decode("latin-1")),
        (pk, bytearray(MSG), sig), (pk, MSG, memoryview(sig)), (NotAKey(), MSG, sig), (pk, None, sig),
        (pk, MSG, None), (pk, MSG, sig + sig), (pk, MSG[:0], sig[:0]),
    ]
    for args in verify_calls:
        expected = outcome(ipv8_is_valid_signature, REF, *args)
        assert outcome(FAST.is_valid_signature, *args) == expected, args
        assert outcome(CACHED.is_valid_signature, *args) == expected, args
    sign_calls: list[tuple[Any, ...]] = [(sk, MSG), (sk, MSG.decode()), (sk, bytearray(MSG)), (pk, MSG),
                                         (NotAKey(), MSG), (sk, None)]
    for args in sign_calls:
        assert outcome(FAST.create_signature, *args) == outcome(ipv8_create_signature, REF, *args), args


def test_other_key_types_go_to_py_ipv8_unmemoised() -> None:
    medium = ECCrypto.generate_key(REF, "medium")
    backend = new_backend()
    first, second = backend.create_signature(medium, MSG), backend.create_signature(medium, MSG)
    assert first != second  # ECDSA as py-ipv8 makes it: randomised, so never memoised
    pub = medium.pub()
    assert backend.is_valid_signature(pub, MSG, first) is ref_verify(pub, MSG, first) is True
    assert backend.is_valid_signature(pub, MSG + b"!", first) is ref_verify(pub, MSG + b"!", first) is False
    assert (backend.sign_misses, backend.sign_hits, backend.fast_verifies, backend.deferred) == (0, 0, 0, 4)


# -- memo bounds and the installed patch -------------------------------------------------------------------------
def test_signature_memo_is_bounded_and_exact() -> None:
    backend = new_backend(sign_limit=4, sign_bytes=3000)
    keys = [ECCrypto.key_from_private_bin(REF, b"LibNaCLSK:" + bytes(32) + bytes([i]) * 32) for i in range(3)]
    for round_ in range(3):
        for i in range(20):
            for key in keys:
                data = bytes([i]) * (100 * (i % 7))
                for _ in range(2):
                    assert backend.create_signature(key, data) == ipv8_create_signature(REF, key, data), round_
                memo = list(backend.memoised())
                assert len(memo) <= 4
                assert sum(len(d) + 200 for _, d, _ in memo) <= 3000
    assert backend.sign_hits > 0


def test_fast_crypto_patches_and_restores_an_instance() -> None:
    crypto = ECCrypto()
    assert vars(crypto) == {}
    with fast_crypto(crypto) as patch:
        assert set(vars(crypto)) == {"create_signature", "is_valid_signature", "key_from_public_bin"}
        assert patch.cache is not None
        assert crypto.is_valid_signature == patch.cache.is_valid_signature
        with fast_crypto(crypto) as inner:  # nested: shared
            assert inner is patch
        assert crypto.create_signature == patch.backend.create_signature
        sk = crypto.key_from_private_bin(b"LibNaCLSK:" + bytes(32) + SEED)
        sig = crypto.create_signature(sk, MSG)
        assert crypto.is_valid_signature(crypto.key_from_public_bin(sk.pub().key_to_bin()), MSG, sig)
    assert vars(crypto) == {}
    assert ipv8_create_signature(crypto, sk, MSG) == sig

    def marker(key: Any, data: Any, sig: Any) -> bool:
        return False

    crypto.is_valid_signature = marker  # type: ignore[method-assign]
    with fast_crypto(crypto, cache_verify=False) as patch:
        assert patch.cache is None
        assert set(vars(crypto)) == {"create_signature", "is_valid_signature"}
        assert crypto.is_valid_signature(ref_key(bytes(32)), MSG, bytes(64)) is False  # deferred to marker
    assert vars(crypto) == {"is_valid_signature": marker}


def test_virtual_ipv8_installs_the_backend_and_undoes_it() -> None:
    with virtual_ipv8(lambda: 1.0, random.Random(3)) as cache:
        assert cache is not None
        assert "create_signature" in vars(default_eccrypto)
        assert default_eccrypto.key_from_public_bin == cache.key_from_public_bin
    for name in ("create_signature", "is_valid_signature", "key_from_public_bin"):
        assert name not in vars(default_eccrypto)


def test_every_memoised_signature_and_check_of_a_battle_is_py_ipv8s() -> None:
    """A battle with the backend (red double-spender included): each memoised signature equals a fresh one from
    py-ipv8 with the same seed, each memoised verdict is py-ipv8's."""
    # its first 30 s (settle scaled), with the double spends at t=5 and 17: 1165 memoised signatures and 1148
    # memoised checks, every kind of signed message of the battle (3373 and 3354 in the whole 90 s)
    scenario = load_scenario(SCENARIOS / "quickstart.yaml", [("duration", 30)])
    with fast_crypto(default_eccrypto) as patch:
        run_battle(scenario, report=False)  # its virtual_ipv8 shares this patch
        memo = list(patch.backend.memoised())
        assert patch.cache is not None
        checks = list(patch.cache.memoised())
        counters = (patch.backend.sign_hits, patch.backend.sign_misses, patch.backend.fast_verifies)
    assert memo and checks and all(counters), counters
    for secret, data, sig in memo:
        key = ECCrypto.key_from_private_bin(REF, b"LibNaCLSK:" + bytes(32) + secret[:32])
        assert ipv8_create_signature(REF, key, data) == sig
    for key_bin, data, sig, ok in checks:
        assert ref_verify(ECCrypto.key_from_public_bin(REF, key_bin), data, sig) is ok


def test_a_battle_traces_alike_with_and_without_the_backend() -> None:
    scenario = load_scenario(SCENARIOS / "pingpong.yaml")
    fast = run_battle(scenario, report=False)
    plain = run_battle(scenario, report=False, cache_signatures=False)  # py-ipv8's crypto untouched
    assert fast.result["trace_sha256"] == plain.result["trace_sha256"]


#: The scenarios run their first 30 s here (of 90 and 120; settle scaled with it), and each attack acts within them:
#: two double spends in the quickstart (t=5 and 17), the Sybils from t=3 and their purchases from t=20, the double
#: signature at t=13. The replays come sooner (15 s after the original, not 40, with gossip forgetting after 10 s,
#: not 30, so that they still pass the seen-set): from t=17 they replay 11 transfers and 41 packets (as many as in
#: the first 60 s of the scenario as written) and 44 transfers are refused as stale (24 there). The py-ipv8 run
#: without the backend is the costly half.
SHORTER: dict[str, list[tuple[str, Any]]] = {
    "quickstart": [("duration", 30)], "attack_sybil": [("duration", 30)],
    "defense_equivocation_slashing": [("duration", 30)],
    "attack_replay": [("duration", 30), ("gossip.message_timeout", 10),
                      ("validators.4.plugins", [{"name": "replay", "params": {"after": 15}}])],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart", "attack_replay", "attack_sybil", "defense_equivocation_slashing"])
def test_hostile_battles_trace_alike_with_and_without_the_backend(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", SHORTER.get(name, []))
    fast = run_battle(scenario, report=False, keep_trace=True)
    assert any(e.get("ev") == "evidence" for e in fast.world.trace.kept or []), "the attack acted in the battle"
    plain = run_battle(scenario, report=False, cache_signatures=False)
    assert fast.result["trace_sha256"] == plain.result["trace_sha256"]


def test_a_live_process_runs_with_the_backend_and_undoes_it() -> None:
    """``LiveProcess.run`` installs the backend around everything it does and restores py-ipv8's crypto even when
    building the nodes fails (the stand-in below records what ``setup`` saw, then fails)."""
    import asyncio

    from arena.live.process import LiveProcess

    seen: dict[str, Any] = {}

    class StandIn:
        async def setup(self) -> None:
            seen["patched"] = set(vars(default_eccrypto))
            key = ECCrypto.key_from_private_bin(REF, b"LibNaCLSK:" + bytes(32) + SEED)
            seen["sig"] = default_eccrypto.create_signature(key, MSG)
            raise RuntimeError("no nodes today")

        def close(self) -> None:
            seen["closed"] = "create_signature" in vars(default_eccrypto)

    with pytest.raises(RuntimeError, match="no nodes today"):
        asyncio.run(LiveProcess.run(StandIn()))  # type: ignore[arg-type]
    assert seen["patched"] == {"create_signature", "is_valid_signature", "key_from_public_bin"}
    assert seen["sig"] == GOOD
    assert seen["closed"] is True  # nodes are closed while the backend is still in place
    assert not {"create_signature", "is_valid_signature", "key_from_public_bin"} & set(vars(default_eccrypto))
