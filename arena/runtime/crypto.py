"""Faster, memoised Ed25519 for py-ipv8, with exactly py-ipv8's answers.

py-ipv8 3.2 signs and verifies through ``ipv8_rust_tunnels`` (Rust over OpenSSL): about twice libsodium's cost.
:func:`fast_crypto` points an :class:`~ipv8.keyvault.crypto.ECCrypto` (py-ipv8's ``default_eccrypto``) at
:class:`FastEd25519`, which uses libsodium through PyNaCl for py-ipv8's curve25519 keys and memoises signatures,
and optionally at a :class:`VerifyCache` that memoises verification results. Everything else (other key types,
odd argument types, the inputs below) goes to py-ipv8's own functions. Leaving the block puts the originals back.

Keys. A curve25519 private key serialises as ``LibNaCLSK:`` + X25519 secret (32) + Ed25519 seed (32); a public key
as ``LibNaCLPK:`` + X25519 public key (32) + Ed25519 verify key (32). Ed25519 signing is deterministic (RFC 8032):
libsodium's signature from the seed is byte-identical to OpenSSL's, and each private key is checked once on a probe
message before its fast path is used.

Verification must give py-ipv8's answer for every input, hostile ones included: red plugins craft packets. Both
libraries compute the same cofactorless equation (``encode([S]B - [h]A) == R`` byte for byte, ``h`` over the
bytes as given); they differ only in the checks around it. Measured (``tests/test_crypto_backend.py`` keeps it):

================================================  =========================  ==========================
input                                             py-ipv8 (OpenSSL)          libsodium
================================================  =========================  ==========================
signature not 64 bytes                            False                      (not asked)
S >= L (non-canonical S)                          False                      False
small-order public key (8 encodings, all-zero     **accepts forgeries**:     False
included) or its non-canonical forms (p, p+1,     R = [S]B works for any
x = 0 with the sign bit set)                      message
non-canonical public key (y >= p)                 decoded mod p, then the    False
                                                  equation decides
public key with a torsion component (A + T)       True iff the equation      same
                                                  holds
small-order R (e.g. the identity, which the       True when the equation     False
key's owner can produce: s = h * a)               holds
non-canonical R                                   False (never equal)        False
R + T (torsion added to a valid R)                False                      False
================================================  =========================  ==========================

So the fast path takes only inputs where neither side's extra checks can fire: a 64-byte signature with a
canonical R that is not of small order and S < L, and a public key that is canonical and not of small order
(classified once per key object). Everything else, which no honest node ever produces, is answered by py-ipv8.
On that domain both compute the same thing; :data:`SELF_TEST` checks it once per process against vectors a
cofactored or torsion-tolerant build would get wrong, and turns the fast verification off if it fails.

Key bins are parsed by py-ipv8 only: a truncated or malformed bin raises its ``ValueError`` (a ``str`` or
``bytearray`` its ``TypeError``) exactly as before; a bin with trailing bytes is accepted by py-ipv8, which keeps
the first 74, so the verify key is read from the parsed key's ``key_to_bin()``, never from the bytes received.
Arguments py-ipv8 would refuse (``bytearray``, ``str``, a private key as the verifying key, a non-key) go to
py-ipv8 and get its answer or its exception. Nothing here reads the clock or a random source; the memos are plain
bounded dicts (FIFO eviction), for one thread (the event loop's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import nacl.bindings  # also runs sodium_init before the raw calls below
from ipv8.keyvault.crypto import ECCrypto, default_eccrypto
from ipv8.keyvault.private.openssl import OpenSSLSK
from ipv8.keyvault.public.openssl import OpenSSLPK
from ipv8_rust_tunnels import PrivateKey as RustPrivateKey
from ipv8_rust_tunnels import PublicKey as RustPublicKey
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

__all__ = ["SELF_TEST", "SMALL_ORDER_Y", "CryptoPatch", "FastEd25519", "VerifyCache", "fast_crypto",
           "ipv8_create_signature", "ipv8_is_valid_signature", "libsodium_agrees", "plain_point", "plain_signature",
           "sodium_sign", "sodium_verify"]

_SK_PREFIX = b"LibNaCLSK:"
_PK_PREFIX = b"LibNaCLPK:"
_BIN_LEN = 74  # prefix (10) + X25519 part (32) + Ed25519 part (32)
_ED_OFFSET = 42
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_Y_MASK = (1 << 255) - 1
#: The y-coordinates of the eight small-order points, with the two non-canonical encodings (p, p + 1) of y = 0 and
#: y = 1: libsodium's blacklist. The sign bit is ignored (x = 0 with the sign bit set is one of these too).
SMALL_ORDER_Y = frozenset({
    0, 1, _P - 1, _P, _P + 1,
    int.from_bytes(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"),
    int.from_bytes(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little"),
})
_PROBE = b"arena.runtime.crypto: probe message"
log = logging.getLogger(__name__)

#: py-ipv8's own functions, taken from the class: the reference every answer here is held to.
ipv8_create_signature: Callable[[ECCrypto, Any, Any], bytes] = ECCrypto.create_signature
ipv8_is_valid_signature: Callable[[ECCrypto, Any, Any, Any], bool] = ECCrypto.is_valid_signature


#: Vectors inside the fast path's domain on which a cofactored or torsion-tolerant Ed25519 (as some libsodium builds
#: could be) would answer differently from OpenSSL: (verify key, data, signature, py-ipv8's answer). A valid
#: signature, the wrong message, R with a torsion point added (signed consistently), and a key with a torsion
#: component where the cofactorless equation holds and where it does not. Checked once per process.
SELF_TEST: tuple[tuple[str, str, str, bool], ...] = (
    ("ea7754d13150f6be40f5911ad6a25c51def3e4fe027af30edf82fe4c6dbe4938", "6172656e612073656c662d74657374",
     "986bbb9178e34d8893041d5af1ebc84f8f27a2926fcd4a41e846717c9e1d8303cddce6d1037d2831f6da25cde513020b9f59853afd73a"
     "a34b19b481a829cb20e", True),
    ("ea7754d13150f6be40f5911ad6a25c51def3e4fe027af30edf82fe4c6dbe4938", "6172656e612073656c662d7465737421",
     "986bbb9178e34d8893041d5af1ebc84f8f27a2926fcd4a41e846717c9e1d8303cddce6d1037d2831f6da25cde513020b9f59853afd73a"
     "a34b19b481a829cb20e", False),
    ("ea7754d13150f6be40f5911ad6a25c51def3e4fe027af30edf82fe4c6dbe4938", "6172656e612073656c662d74657374",
     "6c699942f803d9e81a281ef13fcf3164481bfd43af48294a40d095e957a63321e6c12159b013070aec4b315b361f2d3bf825ddf1956d800"
     "281aac8b92facda08", False),
    ("3717d6b67924d004351c9afa16992f7ce81df1d49dce88ef7ed673440394dbab", "6172656e612073656c662d7465737402",
     "d84526a054f6f7233d40210ef16d1aea333400edd05943b074205b8c1dc0e3a970a9e066b8381610f5282afce08cdff51d209bd7dc2e2"
     "5d38bafd7581b008700", True),
    ("3717d6b67924d004351c9afa16992f7ce81df1d49dce88ef7ed673440394dbab", "6172656e612073656c662d7465737400",
     "986bbb9178e34d8893041d5af1ebc84f8f27a2926fcd4a41e846717c9e1d8303c7b403a58b1f265f3c0e5c9538ac9e09c5b63d8c7f858"
     "d03a1f9bc949cfeaf09", False),
)
_agrees: bool | None = None


def libsodium_agrees() -> bool:
    """Whether this process's libsodium and py-ipv8 both give :data:`SELF_TEST`'s answers (computed once). When
    not, :class:`FastEd25519` verifies nothing itself."""
    global _agrees
    if _agrees is None:
        reference = ECCrypto()
        ok = True
        for vk_hex, data_hex, sig_hex, expected in SELF_TEST:
            vk, data, sig = bytes.fromhex(vk_hex), bytes.fromhex(data_hex), bytes.fromhex(sig_hex)
            key = ECCrypto.key_from_public_bin(reference, _PK_PREFIX + bytes(32) + vk)
            ok = ok and plain_point(vk) and plain_signature(sig) and sodium_verify(vk, data, sig) is expected \
                and ipv8_is_valid_signature(reference, key, data, sig) is expected
        if not ok:
            log.warning("libsodium and py-ipv8 disagree on Ed25519 test vectors: verification stays with py-ipv8")
        _agrees = ok
    return _agrees


def sodium_sign(secret_key: bytes, data: bytes) -> bytes:
    """libsodium's detached Ed25519 signature of ``data`` with a 64-byte secret key (seed + verify key)."""
    signed = _ffi.new("unsigned char[]", len(data) + 64)
    _lib.crypto_sign(signed, _ffi.NULL, data, len(data), secret_key)
    return bytes(_ffi.buffer(signed, 64))


def sodium_verify(verify_key: bytes, data: bytes, signature: bytes) -> bool:
    """libsodium's Ed25519 check of a 64-byte ``signature`` (its own rules: see the module's table)."""
    signed = signature + data
    out = _ffi.new("unsigned char[]", len(signed))
    out_len = _ffi.new("unsigned long long *")
    return bool(_lib.crypto_sign_open(out, out_len, signed, len(signed), verify_key) == 0)


def plain_point(encoding: bytes) -> bool:
    """Whether a 32-byte point encoding is one on which libsodium and OpenSSL decode and check alike: canonical
    (y < p) and not one of the small-order points."""
    y = int.from_bytes(encoding, "little") & _Y_MASK
    return y < _P and y not in SMALL_ORDER_Y


def plain_signature(signature: bytes) -> bool:
    """A 64-byte signature whose R is a plain point and whose S is canonical (S < L)."""
    return plain_point(signature[:32]) and int.from_bytes(signature[32:], "little") < _L


class _PerKey:
    """Something derived from a py-ipv8 key object, kept by identity (the entry holds the key and its Rust object,
    so an id is never reused while its entry lives). None when deriving raised. Bounded: cleared when full."""

    def __init__(self, derive: Callable[[Any], Any], limit: int) -> None:
        self.derive = derive
        self.limit = limit
        self._items: dict[int, tuple[Any, Any, Any]] = {}

    def get(self, key: Any) -> Any:
        entry = self._items.get(id(key))
        ec = getattr(key, "ec", None)
        if entry is not None and entry[0] is key and entry[1] is ec:
            return entry[2]
        try:
            value = self.derive(key)
        except Exception:  # not a key this backend knows: the caller defers to py-ipv8
            return None
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[id(key)] = (key, ec, value)
        return value


class _Memo:
    """A bounded dict with FIFO eviction, by number of entries and by bytes held."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: dict[Any, tuple[Any, int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any:
        entry = self._items.get(key)
        return None if entry is None else entry[0]

    def items(self) -> Iterator[tuple[Any, Any]]:
        for key, (value, _) in list(self._items.items()):
            yield key, value

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        while self._items and (len(self._items) >= self.limit or self.bytes + size > self.max_bytes):
            self.bytes -= self._items.pop(next(iter(self._items)))[1]
        self._items[key] = (value, size)
        self.bytes += size


def _secret_key_of(key: Any) -> bytes | None:
    """The 64-byte libsodium secret key of a py-ipv8 curve25519 private key, or None (not one, or its libsodium
    signature is not py-ipv8's: then py-ipv8 signs)."""
    if type(key) is not OpenSSLSK or type(key.ec) is not RustPrivateKey:
        return None
    kb = key.ec.key_to_bin()
    if type(kb) is not bytes or len(kb) != _BIN_LEN or not kb.startswith(_SK_PREFIX):
        return None
    _, secret = nacl.bindings.crypto_sign_seed_keypair(kb[_ED_OFFSET:])
    if sodium_sign(secret, _PROBE) != key.ec.signature(_PROBE):
        return None
    return bytes(secret)


def _verify_key_of(key: Any) -> bytes | None:
    """The Ed25519 verify key of a py-ipv8 curve25519 public key when it is a plain point, else None."""
    if type(key) is not OpenSSLPK or type(key.ec) is not RustPublicKey:
        return None
    kb = key.ec.key_to_bin()
    if type(kb) is not bytes or len(kb) != _BIN_LEN or not kb.startswith(_PK_PREFIX):
        return None
    vk = kb[_ED_OFFSET:]
    return vk if plain_point(vk) else None


class FastEd25519:
    """``create_signature`` and ``is_valid_signature`` of an ``ECCrypto``: libsodium for curve25519 keys, the
    original (``sign``, ``verify``) for everything else. Signatures are memoised by (secret key, data)."""

    def __init__(self, sign: Callable[[Any, Any], bytes], verify: Callable[[Any, Any, Any], bool],
                 sign_limit: int = 8192, sign_bytes: int = 32 << 20, key_limit: int = 1 << 16) -> None:
        self._sign = sign
        self._verify = verify
        self._secrets = _PerKey(_secret_key_of, key_limit)
        self._verify_keys = _PerKey(_verify_key_of, key_limit)
        self._signatures = _Memo(sign_limit, sign_bytes)
        self.verifies = libsodium_agrees()  # False: every check goes to py-ipv8
        self.sign_hits = 0  # signatures answered from the memo
        self.sign_misses = 0  # signatures made by libsodium
        self.fast_verifies = 0  # checks answered by libsodium
        self.deferred = 0  # signatures and checks passed to py-ipv8

    @classmethod
    def of(cls, crypto: ECCrypto, **limits: int) -> FastEd25519:
        """A backend deferring to ``crypto``'s current methods."""
        return cls(crypto.create_signature, crypto.is_valid_signature, **limits)

    def memoised(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        """(secret key, data, signature) of every memoised signature, oldest first."""
        for (secret, data), sig in self._signatures.items():
            yield secret, data, sig

    def create_signature(self, ec_key: Any, data: Any) -> bytes:
        if type(data) is bytes and type(ec_key) is OpenSSLSK:
            secret = self._secrets.get(ec_key)
            if secret is not None:
                memo_key = (secret, data)
                sig = self._signatures.get(memo_key)
                if sig is not None:
                    self.sign_hits += 1
                    return sig  # type: ignore[no-any-return]
                sig = sodium_sign(secret, data)
                self.sign_misses += 1
                self._signatures.put(memo_key, sig, len(data) + 200)
                return sig
        self.deferred += 1
        return self._sign(ec_key, data)

    def is_valid_signature(self, ec_key: Any, data: Any, signature: Any) -> bool:
        if type(ec_key) is OpenSSLPK and type(data) is bytes and type(signature) is bytes and len(signature) == 64 \
                and self.verifies and plain_signature(signature):
            vk = self._verify_keys.get(ec_key)
            if vk is not None:
                self.fast_verifies += 1
                return sodium_verify(vk, data, signature)
        self.deferred += 1
        return self._verify(ec_key, data, signature)


class VerifyCache:
    """Memoises ``is_valid_signature`` and ``key_from_public_bin`` (bounded, FIFO eviction).

    A check is a pure function of (public key bytes, data, signature) for py-ipv8's public keys, so only those and
    ``bytes`` arguments are memoised; anything else goes straight to the wrapped functions. Failed key parses are not
    memoised: the original raises again, with its own exception."""

    def __init__(self, crypto: ECCrypto, limit: int = 200_000, max_bytes: int = 64 << 20,
                 verify: Callable[[Any, Any, Any], bool] | None = None) -> None:
        self.crypto = crypto
        self.limit = limit
        self._valid = _Memo(limit, max_bytes)
        self._keys = _Memo(limit, max_bytes // 4)
        self._bins = _PerKey(lambda key: bytes(key.key_to_bin()), 1 << 16)
        self.hits = 0
        self.misses = 0
        self._orig_valid = crypto.is_valid_signature if verify is None else verify
        self._orig_key = crypto.key_from_public_bin

    def memoised(self) -> Iterator[tuple[bytes, bytes, bytes, bool]]:
        """(public key bin, data, signature, answer) of every memoised check, oldest first."""
        for (key_bin, data, signature), ok in self._valid.items():
            yield key_bin, data, signature, ok

    def is_valid_signature(self, public_key: Any, data: Any, signature: Any) -> bool:
        if type(public_key) is not OpenSSLPK or type(data) is not bytes or type(signature) is not bytes:
            return self._orig_valid(public_key, data, signature)
        key_bin = self._bins.get(public_key)
        if key_bin is None:
            return self._orig_valid(public_key, data, signature)
        k = (key_bin, data, signature)
        found = self._valid.get(k)
        if found is not None:
            self.hits += 1
            return found  # type: ignore[no-any-return]
        self.misses += 1
        ok = bool(self._orig_valid(public_key, data, signature))
        self._valid.put(k, ok, len(k[0]) + len(data) + len(signature) + 200)
        return ok

    def key_from_public_bin(self, key_bin: Any) -> Any:
        if type(key_bin) is not bytes:
            return self._orig_key(key_bin)
        key = self._keys.get(key_bin)
        if key is None:
            key = self._orig_key(key_bin)
            self._keys.put(key_bin, key, len(key_bin) + 400)  # py-ipv8 accepts any trailing bytes: count them
        return key


@dataclass
class CryptoPatch:
    """What :func:`fast_crypto` installed: the backend, and the verify cache in front of it (if any)."""

    crypto: ECCrypto
    backend: FastEd25519
    cache: VerifyCache | None
    saved: dict[str, Any]
    users: int = 1


_MISSING = object()
_ACTIVE: dict[int, CryptoPatch] = {}
_PATCHED = ("create_signature", "is_valid_signature", "key_from_public_bin")


@contextmanager
def fast_crypto(crypto: ECCrypto = default_eccrypto, *, cache_verify: bool = True) -> Iterator[CryptoPatch]:
    """Within the block, ``crypto`` signs and verifies through :class:`FastEd25519` (and, with ``cache_verify``,
    memoises checks and parsed public keys in a :class:`VerifyCache`). The methods are set on the instance and
    the instance's previous state is restored on leaving. Nested or overlapping blocks on one ``crypto`` share the
    first block's patch (and its caches); the last one to leave restores."""
    patch = _ACTIVE.get(id(crypto))
    if patch is not None and patch.crypto is crypto:
        patch.users += 1
    else:
        saved = {name: vars(crypto).get(name, _MISSING) for name in _PATCHED}
        backend = FastEd25519.of(crypto)
        cache = VerifyCache(crypto, verify=backend.is_valid_signature) if cache_verify else None
        patch = CryptoPatch(crypto, backend, cache, saved)
        _ACTIVE[id(crypto)] = patch
        crypto.create_signature = backend.create_signature  # type: ignore[method-assign]
        if cache is not None:
            crypto.is_valid_signature = cache.is_valid_signature  # type: ignore[method-assign]
            crypto.key_from_public_bin = cache.key_from_public_bin  # type: ignore[method-assign]
        else:
            crypto.is_valid_signature = backend.is_valid_signature  # type: ignore[method-assign]
    try:
        yield patch
    finally:
        patch.users -= 1
        if patch.users == 0:
            del _ACTIVE[id(crypto)]
            for name, value in patch.saved.items():
                if value is _MISSING:
                    vars(crypto).pop(name, None)
                else:
                    setattr(crypto, name, value)
