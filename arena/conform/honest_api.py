"""The reference honest node run through the public protocol API, as a team's own implementation is run.

``arena conform honest`` runs this, so the honest node goes through the same path (``HostedProtocol``, the message
boundary on its endpoint, the ``wire`` summary in every state) as the implementation it is compared with.
"""

from __future__ import annotations

from typing import Any

from ipv8.community import Community
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena.protocols.api import NodeSetup, Protocol
from arena.protocols.honest import honest_node_state
from honest.channels import ChannelStore
from honest.ledger import MemoryStore
from honest.node import HonestNode, HonestSettings


class HonestViaApi(Protocol):
    """The honest node behind :class:`arena.Protocol` (its ``durable`` dict holds the ledger and channel stores)."""

    name = "honest"
    description = "the reference honest node, through the public protocol API"
    leader_schedule = "stake"

    def create_node(self, node: NodeSetup) -> Community:
        settings = HonestSettings(
            my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(), max_peers=node.config.peer_limit,
            env=node.env, config=node.config, genesis_balances=node.genesis.balances,
            genesis_stakes=node.genesis.stakes, store=node.durable.setdefault("store", MemoryStore()),
            bootstrap=node.bootstrap, address=node.address,
            channel_store=node.durable.setdefault("channels", ChannelStore()))
        community = HonestNode(settings)
        community.start()
        return community

    def node_state(self, community: Community, node: NodeSetup) -> dict[str, Any]:
        assert isinstance(community, HonestNode)
        return honest_node_state(community, node.name, node.index, node.role, node.team, True)


__all__ = ["HonestViaApi"]
