"""Channel fraud: close a channel unilaterally on an old state while the counterparty cannot dispute it.

The red light node is the hub of a star of payment channels, so honest payments to ``victim`` flow out of the
channel red funded towards it: every new state pays red less. When the victim is offline (the scenario crashes
it), red force-closes that channel publishing the state that pays red the most (the opening one: all of red's
deposit back). Nobody disputes within the dispute window, the stale state settles, and red keeps what it had
already paid. A watchtower holding the victim's latest state disputes the close and red loses the whole channel.
"""

from __future__ import annotations

from typing import Any

from arena import NodeContext, Params, Plugin, hookimpl


class ChannelFraudParams(Params):
    victim: int = 5  # node index of the counterparty (the scenario crashes it)
    close_at: float = 50.0  # when to publish the old state (after the victim went offline)


class ChannelFraud(Plugin):
    """Force-close a channel on the old state that pays us most while the victim is offline."""

    name = "channel_fraud"
    team = "red"
    Params = ChannelFraudParams
    scenario = "attack_channel_fraud.yaml"

    def __init__(self, node: NodeContext, params: ChannelFraudParams) -> None:
        super().__init__(node, params)
        self.params: ChannelFraudParams = params
        self.closed = False

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or self.closed or now < self.params.close_at:
            return
        victim = next((c for c in adv.contacts() if c.name == f"{c.role}{self.params.victim}"), None)
        for ch in adv.channels():
            if victim is not None and ch.status == "open" and {ch.a, ch.b} == {adv.me.account, victim.account}:
                self.closed = adv.close_channel(ch.channel_id) or self.closed

    @hookimpl
    def arena_channel_close(self, node: NodeContext, channel: Any, states: list[Any]) -> Any | None:
        a_side = channel.side == "a"

        def ours(st: Any) -> int:
            return int(st.balance_a if a_side else st.balance_b)

        best = max(states, key=lambda st: (ours(st), -st.seq))
        gain = ours(best) - ours(channel)
        if gain <= 0:
            return None  # nothing to win on this one: close it honestly
        self.node.evidence("channel_fraud", f"force-closed channel {channel.channel_id.hex()[:8]} on state {best.seq} "
                           f"paying us {gain} more than the latest (seq {channel.seq})",
                           channel=channel.channel_id.hex(), published_seq=best.seq, latest_seq=channel.seq, gain=gain)
        return best
