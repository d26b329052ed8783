"""The course template's PingPong community, in current py-ipv8 style: the smallest real Community the arena runs.

Kept as ``protocol: pingpong`` so that the simulator can be checked (and demonstrated) without the blockchain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.peer import Peer


@vp_compile
class Ping(VariablePayload):
    msg_id = 1
    format_list = ["I"]
    names = ["n"]


@vp_compile
class Pong(VariablePayload):
    msg_id = 2
    format_list = ["I"]
    names = ["n"]


class PingPongSettings(CommunitySettings):
    interval: float = 2.0
    record: Callable[..., None] | None = None


class PingPongCommunity(Community):
    """Every ``interval`` seconds, ping every verified peer; answer pings with pongs."""

    community_id = bytes.fromhex("61726561706f6e67706f6e672d636f6d6d756e69")
    settings_class = PingPongSettings

    def __init__(self, settings: PingPongSettings) -> None:
        super().__init__(settings)
        self.interval = settings.interval
        self.record = settings.record or (lambda *a, **k: None)
        self.pings_received = 0
        self.pongs_received = 0
        self.counter = 0
        self.add_message_handler(Ping, self.on_ping)
        self.add_message_handler(Pong, self.on_pong)

    def started(self) -> None:
        self.register_task("send_ping", self.send_ping, interval=self.interval, delay=0)

    def send_ping(self) -> None:
        self.counter += 1
        for peer in sorted(self.get_peers(), key=lambda p: p.mid):
            self.ez_send(peer, Ping(self.counter))

    @lazy_wrapper(Ping)
    def on_ping(self, peer: Peer, payload: Any) -> None:
        self.pings_received += 1
        self.record("ping", src=f"{peer.address[0]}:{peer.address[1]}", n=payload.n)
        self.ez_send(peer, Pong(payload.n))

    @lazy_wrapper(Pong)
    def on_pong(self, peer: Peer, payload: Any) -> None:
        self.pongs_received += 1
