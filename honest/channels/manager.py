"""The channel protocol of one node, assembled from its parts, and the timer that drives them all.

:class:`ChannelManager` is the one object a node (or a benchmark's stand-in host) holds: opening
(:mod:`~honest.channels.opening`), direct updates (:mod:`~honest.channels.updates`), multi-hop payments
(:mod:`~honest.channels.multihop`), closing (:mod:`~honest.channels.closing`) and watching the chain
(:mod:`~honest.channels.chain_watch`) share its state (:mod:`~honest.channels.core`). ``tick`` visits the channels
once per period and gives each part its turn, in a fixed order (the simulator's traces depend on it).
"""

from __future__ import annotations

from .chain_watch import ChainWatch
from .closing import ChannelClosing
from .model import DONE, PROPOSED
from .multihop import MultiHop
from .opening import ChannelOpening
from .updates import ChannelUpdates


class ChannelManager(ChannelOpening, ChannelUpdates, MultiHop, ChannelClosing, ChainWatch):
    """The channel protocol of one node (see :mod:`honest.channels`)."""

    def tick(self) -> None:
        """Periodic: resend what went unanswered, expire HTLCs, give up on silent peers, resubmit transactions."""
        now = self.env.now()
        now_ms = int(now * 1000)
        for ch in list(self.channels.values()):
            status = ch.status
            if status in DONE:
                continue
            if status == PROPOSED:
                self._tick_proposal(ch, now)
                continue
            self._tick_update(ch, now)
            if self._tick_close(ch, now):
                continue
            self._tick_htlcs(ch, now, now_ms)
            if ch.want_close:
                self._close_if_idle(ch)
        self._resubmit_txs(now)
        self.blocks.retry(now)
