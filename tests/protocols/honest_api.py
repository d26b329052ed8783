"""The honest node, run through the public protocol API (as a team's own implementation would be)."""
from __future__ import annotations

from typing import Any

from ipv8.community import Community
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena import NodeSetup, Protocol
from arena.protocols.honest import honest_node_state
from honest.channels import ChannelStore
from honest.ledger import MemoryStore
from honest.node import HonestNode, HonestSettings


class HonestViaApi(Protocol):
    name = "honest_api"
    leader_schedule = "stake"  # the honest node's leaders are honest.pos.leader's: the referee re-runs the draw

    def create_node(self, node: NodeSetup) -> Community:
        settings = HonestSettings(
            my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(), max_peers=node.config.peer_limit,
            env=node.env, config=node.config, genesis_balances=node.genesis.balances,
            genesis_stakes=node.genesis.stakes, store=node.durable.setdefault("store", MemoryStore()),
            bootstrap=node.bootstrap, address=node.address,
            channel_store=node.durable.setdefault("channels", ChannelStore()))
        c = HonestNode(settings)
        c.start()
        return c

    def node_state(self, community: Any, node: NodeSetup) -> dict[str, Any]:
        return honest_node_state(community, node.name, node.index, node.role, node.team, True)
