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
    fanout: int = 0
    batch_interval: float = 0.05
    consensus: str = "pos"  # none: apply transfers on arrival (course day 1); pos: blocks and finality
    slot: float = 1.0
    block_reward: int = 0
    max_block_txs: int = 1000
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
