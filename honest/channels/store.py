"""Channel durability: where a node's channels outlive a crash, and what of them a restarted node takes up again.

Kept apart from the protocol so that a different storage (a file, a database) only touches this module. HTLCs and
payments in flight at a crash are not durable: a restarted node forgets them.
"""

from __future__ import annotations

from .model import FAILED, PROPOSED, Channel, Op


class ChannelStore:
    """Where a node's channels outlive a crash. In the simulator the restarted node gets the same object, and every
    change is "written" at once (the store keeps the channel objects themselves)."""

    def __init__(self) -> None:
        self.channels: dict[bytes, Channel] = {}

    def save(self, ch: Channel) -> None:
        self.channels[ch.channel_id] = ch


def restored(old: Channel) -> Channel:
    """The durable parts of a stored channel as a fresh record: identity, signed states, my unanswered proposal,
    close progress. A channel still waiting for the peer's accept is given up."""
    ch = Channel(old.channel_id, old.a, old.b, old.key_a, old.key_b, old.deposit, old.mine_a, old.peer_address,
                 old.status, old.since, list(old.states), pending=old.pending, open_height=old.open_height,
                 close_height=old.close_height, closer=old.closer, close_kind=old.close_kind,
                 published_seq=old.published_seq, disputed=old.disputed)
    if ch.pending is not None:
        ch.pending_op = Op(ch.mine_of(ch.latest) - ch.mine_of(ch.pending))
    if ch.status == PROPOSED:
        ch.status = FAILED
    return ch
