"""Protocol settings of an honest node (filled from the scenario by the arena; plain values, no arena types)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeConfig:
    peer_limit: int = 12
    ping_interval: float = 5.0
    peer_timeout: float = 15.0
    ask_interval: float = 10.0
    message_timeout: float = 30.0
    fanout: int = 4  # 0: forward to every validator peer
    batch_interval: float = 0.2
    consensus: str = "pos"  # none: apply transfers on arrival (course day 1); pos: blocks and finality
    slot: float = 1.0
    block_reward: int = 0
    max_block_txs: int = 255
    finality: str = "votes"
    depth: int = 3
    mempool_size: int = 10_000
    mempool_per_sender: int = 64
    query_validators: int = 3
    majority: float = 0.5
    confirmations: int = 1
    dispute_window: int = 10
    price: int = 50
    status_interval: float = 2.0
    query_interval: float = 1.0
    max_orphans: int = 256
    # payment channels (honest/channels/); the fee schedule and time locks are scenario-wide
    channels: bool = False  # run the channel timer
    channel_tick: float = 0.25
    channel_fee_base: int = 1  # a relay keeps base + amount * ppm // 1e6 of what it forwards
    channel_fee_ppm: int = 0
    channel_tx_fee: int = 0  # fee of on-chain channel transactions
    htlc_hop_delta: float = 2.0  # seconds of expiry each hop gives the next one
    htlc_final_delta: float = 3.0  # seconds the payee gets
    htlc_margin: float = 0.5  # a payee reveals, and a relay forwards, only with this much time left
    channel_update_timeout: float = 1.0  # resend an unanswered update / close request after this
    channel_open_timeout: float = 10.0  # give up on a proposal nobody accepted
    channel_close_timeout: float = 10.0  # no countersigned close by then: close unilaterally
    channel_resubmit: float = 3.0  # resubmit an on-chain channel transaction not yet seen in a block
    payment_attempts: int = 3  # routes tried per payment
    max_route_hops: int = 20
