"""What an honest node is started with: its community id, its settings, and the role numbers peers announce.

Kept apart from the node itself so that whoever starts nodes (the simulator, a live process, tests) and the parts of
the node can name these without importing the whole node.
"""

from __future__ import annotations

import hashlib

from ipv8.community import CommunitySettings

from ..channels import ChannelStore
from ..codes import Role
from ..config import NodeConfig
from ..env import NodeEnv
from ..ledger import LedgerStore
from ..messages import Address

COMMUNITY_ID = hashlib.sha1(b"ipv8-arena honest protocol v1").digest()
VALIDATOR, LIGHT, MERCHANT = Role.VALIDATOR, Role.LIGHT, Role.MERCHANT


class HonestSettings(CommunitySettings):
    env: NodeEnv
    config: NodeConfig
    genesis_balances: dict[bytes, int]
    genesis_stakes: dict[bytes, int]
    store: LedgerStore
    bootstrap: list[Address]
    address: Address
    channel_store: ChannelStore | None = None  # payment channels kept across a restart
