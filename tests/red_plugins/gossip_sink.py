"""A red validator that is a black hole for bounded fan-out gossip, written against the public API only.

With fan-out, each honest validator forwards an item to a few peers drawn at random; a red validator drawn as one
of them swallows the item (it neither forwards gossip nor tells anyone its chain status, so nobody can pull from it
either), and it still receives everything, so its peers keep choosing it. ``tests/test_gossip_scale.py`` checks
that push plus pull still delivers every block, finalises every honest transfer and keeps the validators agreeing.
"""

from __future__ import annotations

from arena import NodeContext, OutMessage, Params, Plugin, hookimpl


class GossipSinkParams(Params):
    kinds: list[str] = ["Gossip", "ChainStatus", "BlockResponse"]


class GossipSink(Plugin):
    """Swallow every gossip item, chain status and block answer this validator would send."""

    name = "gossip_sink"
    team = "red"
    Params = GossipSinkParams

    def __init__(self, node: NodeContext, params: GossipSinkParams) -> None:
        super().__init__(node, params)
        self.kinds = set(params.kinds)
        self.swallowed = 0

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: OutMessage) -> None:
        if message.kind in self.kinds:
            message.drop = True
            self.swallowed += 1
            if self.swallowed in (1, 100, 1000):
                node.evidence("gossip_swallowed", f"swallowed {self.swallowed} messages", count=self.swallowed)
