"""Node identities derived from the scenario seed, so a run can be replayed with the same keys.

py-ipv8's curve25519 keys are libnacl key pairs; a libnacl ``SecretKey`` and ``SigningKey`` can be built from
a 32-byte seed, which is what ``LibNaCLSK`` takes in its serialised form (``LibNaCLSK:`` + 32 bytes + 32 bytes).
"""

from __future__ import annotations

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from arena.runtime.rng import derive_bytes


def derive_key(seed: int, name: str) -> PrivateKey:
    """The curve25519 private key named ``name`` under ``seed`` (for example ``node:3`` or ``sybil:3:17``)."""
    material = derive_bytes(seed, f"key:{name}", 64)
    return default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + material)


def node_key(seed: int, index: int) -> PrivateKey:
    return derive_key(seed, f"node:{index}")
