"""Node identities: derived from the scenario seed for the simulator and live rehearsals (a run can be replayed with
the same keys), or generated locally and kept in a key file for a real battle.

py-ipv8's curve25519 keys are libnacl key pairs; a libnacl ``SecretKey`` and ``SigningKey`` can be built from
a 32-byte seed, which is what ``LibNaCLSK`` takes in its serialised form (``LibNaCLSK:`` + 32 bytes + 32 bytes).
The seed of a battle is published with its scenario, so a seed-derived key is anyone's key: anyone can recompute it
and sign for that node. A real battle therefore never uses one (``arena node`` refuses to, unless ``--rehearsal``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from arena.runtime.rng import derive_bytes

KEY_FILE_MODE = 0o600


class KeyFileError(ValueError):
    """A key file that cannot be read, is not a py-ipv8 private key, or would be overwritten."""


def derive_key(seed: int, name: str) -> PrivateKey:
    """The curve25519 private key named ``name`` under ``seed`` (for example ``node:3`` or ``sybil:3:17``)."""
    material = derive_bytes(seed, f"key:{name}", 64)
    return default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + material)


def node_key(seed: int, index: int) -> PrivateKey:
    """Node ``index``'s key under ``seed``: the simulator's and a rehearsal's (public to anyone with the seed)."""
    return derive_key(seed, f"node:{index}")


def is_seed_key(seed: int, index: int, public_key: bytes) -> bool:
    """Whether ``public_key`` is node ``index``'s seed-derived key, i.e. one whose private half anyone can compute."""
    return bytes(node_key(seed, index).pub().key_to_bin()) == bytes(public_key)


def generate_key() -> PrivateKey:
    """A fresh curve25519 key from the operating system's randomness (nothing to do with any seed)."""
    return default_eccrypto.generate_key("curve25519")  # type: ignore[return-value]


def write_key_file(path: Path, key: PrivateKey) -> None:
    """Write ``key`` to a new file readable by its owner only (0600 from the first byte; never overwrites)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        raise KeyFileError(f"{path} exists already (a key file is never overwritten)") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.key_to_bin())
    os.chmod(path, KEY_FILE_MODE)  # in case the umask took bits away... or the file system ignores the mode


def read_key_file(path: Path) -> PrivateKey:
    """The private key in ``path`` (py-ipv8's ``key_to_bin`` form)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    try:
        return default_eccrypto.key_from_private_bin(data)  # type: ignore[return-value]
    except Exception as exc:
        raise KeyFileError(f"{path}: not a py-ipv8 private key ({type(exc).__name__})") from None


def public_key_hex(key: PrivateKey) -> str:
    """What a node publishes to the organiser's roster (never the key file)."""
    return bytes(key.pub().key_to_bin()).hex()


__all__ = ["KEY_FILE_MODE", "KeyFileError", "derive_key", "generate_key", "is_seed_key", "node_key", "public_key_hex",
           "read_key_file", "write_key_file"]
