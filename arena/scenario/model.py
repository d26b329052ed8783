"""The scenario file: a typed model of a battle, validated with errors that name the key and line.

Nodes get global indexes in a fixed order: validators first, then light nodes, then merchants. Scenarios refer to
nodes by that index (partitions, crashes, explicit topologies) and reports name them ``validator0``, ``light4``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arena.scenario.yamlsource import ScenarioError, YamlDoc, apply_override, load_yaml, load_yaml_text, validate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginUse(Strict):
    """A plugin attached to nodes, with its parameters (checked against the plugin's own model at build time)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class LinkModel(Strict):
    latency: float = Field(0.02, ge=0)
    jitter: float = Field(0.0, ge=0)
    jitter_dist: Literal["uniform", "exponential", "normal"] = "uniform"
    loss: float = Field(0.0, ge=0, le=1)
    duplicate: float = Field(0.0, ge=0, le=1)
    reorder: bool = True
    bandwidth: float | None = Field(None, gt=0)
    mtu: int = Field(65507, ge=64)


class LinkOverride(LinkModel):
    a: int = Field(ge=0)
    b: int = Field(ge=0)


class TopologyModel(Strict):
    kind: str = "complete"
    params: dict[str, Any] = Field(default_factory=dict)
    edges: list[tuple[int, int]] | None = None


class NetworkModel(Strict):
    topology: TopologyModel = Field(default_factory=TopologyModel)
    link: LinkModel = Field(default_factory=LinkModel)
    regions: dict[int, str] = Field(default_factory=dict)
    region_latency: dict[str, float] = Field(default_factory=dict, description="'eu-us': 0.08")
    links: list[LinkOverride] = Field(default_factory=list)

    @field_validator("region_latency")
    @classmethod
    def _pairs(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key.count("-") != 1:
                raise ValueError(f"region pair {key!r} must look like 'a-b'")
        return v


class EventModel(Strict):
    """A scheduled fault. Exactly one of partition, heal, crash, restart."""

    at: float = Field(ge=0)
    partition: list[list[int]] | None = None
    heal: bool | None = None
    crash: int | None = None
    restart: int | None = None

    @model_validator(mode="after")
    def _one(self) -> EventModel:
        given = [k for k in ("partition", "heal", "crash", "restart") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an event needs exactly one of partition, heal, crash, restart (got {given or 'none'})")
        return self


class NodeModel(Strict):
    team: Literal["blue", "red"] = "blue"
    balance: int | None = Field(None, ge=0)
    plugins: list[PluginUse] = Field(default_factory=list)


class ValidatorModel(NodeModel):
    stake: int = Field(100, ge=0)


class LightModel(NodeModel):
    pass


class MerchantModel(NodeModel):
    price: int = Field(50, ge=1, description="value of the goods sold for one payment")


class WorkloadModel(Strict):
    """Honest transfers between light nodes (and purchases from merchants), drawn from a seeded stream."""

    rate: float = Field(1.0, ge=0, description="transfers per virtual second, over all honest light nodes")
    amount: tuple[int, int] = (1, 20)
    fee: int = Field(1, ge=0)
    start: float = Field(1.0, ge=0)
    stop: float | None = Field(None, ge=0)
    purchases: float = Field(0.0, ge=0, description="purchases from merchants per virtual second")


class ConsensusModel(Strict):
    mode: Literal["none", "pos"] = "pos"
    slot: float = Field(1.0, gt=0)
    block_reward: int = Field(0, ge=0)
    max_block_txs: int = Field(255, ge=1, le=255, description="py-ipv8 lists hold at most 255 payloads")
    finality: Literal["votes", "depth"] = "votes"
    depth: int = Field(3, ge=1, description="k for k-deep finality (and the default confirmation depth)")
    mempool_size: int = Field(10_000, ge=1)
    mempool_per_sender: int = Field(64, ge=1)


class PeeringModel(Strict):
    peer_limit: int = Field(12, ge=1)
    ping_interval: float = Field(5.0, gt=0)
    peer_timeout: float = Field(15.0, gt=0)
    ask_interval: float = Field(10.0, gt=0)
    bootstrap: int = Field(3, ge=1, description="how many of the first validators every node walks to at start")


class GossipModel(Strict):
    message_timeout: float = Field(30.0, gt=0)
    fanout: int = Field(0, ge=0, description="0 = forward to all peers")
    batch_interval: float = Field(0.05, ge=0)


class LightPolicyModel(Strict):
    query_validators: int = Field(3, ge=1)
    majority: float = Field(0.5, ge=0, lt=1, description="answers agreeing must exceed this share of those asked")
    confirmations: int = Field(1, ge=0, description="blocks on top before a merchant delivers (0 = in mempool)")


class BudgetModel(Strict):
    sybils: int = Field(0, ge=0, description="how many extra identities the red team may create")
    sybil_cost: int = Field(0, ge=0, description="price of one identity: the referee reports sybil_spend and "
                            "red_net_gain = stolen - sybil_spend (theft is theft: the verdict uses stolen)")


class TeamModel(Strict):
    plugins: list[PluginUse] = Field(default_factory=list)
    budget: BudgetModel = Field(default_factory=BudgetModel)


class TeamsModel(Strict):
    red: TeamModel = Field(default_factory=TeamModel)
    blue: TeamModel = Field(default_factory=TeamModel)


class RefereeModel(Strict):
    max_delay: float | None = Field(None, gt=0, description="honest transfers finalised later than this are a "
                                    "liveness violation")


class ChannelPaymentsModel(Strict):
    """Multi-hop payments between the channel members, drawn from a seeded stream (the same for every topology)."""

    rate: float = Field(2.0, ge=0, description="payments per virtual second, over all honest channel members")
    amount: tuple[int, int] = (1, 50)
    start: float = Field(10.0, ge=0, description="first payment (leave time for the opens to reach a block)")
    stop: float | None = Field(None, ge=0)


class ChannelsModel(Strict):
    """Payment channels between the light nodes (course day 3); off unless ``enabled``.

    The channel graph is a topology over the light nodes (graph node i = the i-th light node) whose ``total_capacity``
    is spread evenly over its edges, as ``arena.runtime.topology.same_capacity_graphs`` does. ``dual`` funding opens one
    channel from each end holding half an edge's capacity (so both directions start with liquidity); ``single``
    lets the lower index fund the whole edge.
    """

    enabled: bool = False
    topology: TopologyModel = Field(default_factory=lambda: TopologyModel(kind="barabasi_albert"))
    total_capacity: int = Field(20_000, ge=0)
    funding: Literal["dual", "single"] = "dual"
    open_at: float = Field(2.0, ge=0)
    payments: ChannelPaymentsModel = Field(default_factory=ChannelPaymentsModel)
    fee_base: int = Field(1, ge=0, description="every relay keeps fee_base + amount * fee_ppm / 1e6")
    fee_ppm: int = Field(0, ge=0)
    tx_fee: int = Field(0, ge=0, description="fee of the on-chain channel transactions")
    hop_delta: float = Field(2.0, gt=0, description="seconds of HTLC expiry per hop")
    final_delta: float = Field(3.0, gt=0, description="seconds of HTLC expiry the payee gets")
    attempts: int = Field(3, ge=1, description="routes a payer tries per payment")
    dispute_window: int = Field(10, ge=1, description="blocks a force close waits for a dispute (consensus rule)")
    close_at: float | None = Field(None, ge=0, description="every funder closes its channels at this time")
    close_mode: Literal["cooperative", "unilateral"] = "cooperative"


class ExpectModel(Strict):
    verdict: Literal["red_won", "blue_won", "unknown"] | None = None
    stolen: int | None = None
    min_stolen: int | None = None


class Scenario(Strict):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    name: str
    description: str = ""
    seed: int = 1
    duration: float = Field(60.0, gt=0)
    settle: float = Field(0.0, ge=0, description="final seconds with red plugins off and no new workload")
    tick: float = Field(1.0, gt=0)
    trace_level: Literal["summary", "default", "packets"] = "default"
    protocol: Literal["honest", "pingpong"] = "honest"
    network: NetworkModel = Field(default_factory=NetworkModel)
    events: list[EventModel] = Field(default_factory=list)
    validators: int | list[ValidatorModel] = 4
    light_nodes: int | list[LightModel] = 10
    merchants: int | list[MerchantModel] = 0
    genesis_balance: int = Field(1000, ge=0, description="balance of each light node unless it sets its own")
    workload: WorkloadModel = Field(default_factory=WorkloadModel)
    consensus: ConsensusModel = Field(default_factory=ConsensusModel)
    peering: PeeringModel = Field(default_factory=PeeringModel)
    gossip: GossipModel = Field(default_factory=GossipModel)
    light: LightPolicyModel = Field(default_factory=LightPolicyModel)
    teams: TeamsModel = Field(default_factory=TeamsModel)
    referee: RefereeModel = Field(default_factory=RefereeModel)
    channels: ChannelsModel = Field(default_factory=ChannelsModel)
    expect: ExpectModel | None = None

    @field_validator("validators", mode="after")
    @classmethod
    def _validators(cls, v: int | list[ValidatorModel]) -> list[ValidatorModel]:
        return [ValidatorModel() for _ in range(v)] if isinstance(v, int) else v

    @field_validator("light_nodes", mode="after")
    @classmethod
    def _lights(cls, v: int | list[LightModel]) -> list[LightModel]:
        return [LightModel() for _ in range(v)] if isinstance(v, int) else v

    @field_validator("merchants", mode="after")
    @classmethod
    def _merchants(cls, v: int | list[MerchantModel]) -> list[MerchantModel]:
        return [MerchantModel() for _ in range(v)] if isinstance(v, int) else v

    @model_validator(mode="after")
    def _indexes(self) -> Scenario:
        n = self.node_count
        if n < 1:
            raise ValueError("a scenario needs at least one node")
        for ev in self.events:
            for i in [*(x for g in ev.partition or [] for x in g), ev.crash, ev.restart]:
                if i is not None and not 0 <= i < n:
                    raise ValueError(f"event at t={ev.at} names node {i}, but nodes are 0..{n - 1}")
        for link in self.network.links:
            if link.a >= n or link.b >= n:
                raise ValueError(f"link {link.a}-{link.b} names a node outside 0..{n - 1}")
        return self

    @model_validator(mode="after")
    def _channels_need_blocks(self) -> Scenario:
        if self.channels.enabled and self.consensus.mode != "pos":
            raise ValueError("channels need consensus.mode pos (dispute windows are counted in blocks)")
        return self

    # -- derived views -------------------------------------------------------------------------------------------
    @property
    def validator_list(self) -> list[ValidatorModel]:
        assert isinstance(self.validators, list)
        return self.validators

    @property
    def light_list(self) -> list[LightModel]:
        assert isinstance(self.light_nodes, list)
        return self.light_nodes

    @property
    def merchant_list(self) -> list[MerchantModel]:
        assert isinstance(self.merchants, list)
        return self.merchants

    @property
    def node_count(self) -> int:
        return len(self.validator_list) + len(self.light_list) + len(self.merchant_list)

    def roles(self) -> list[tuple[str, NodeModel]]:
        """(role, spec) for every node in index order."""
        return ([("validator", v) for v in self.validator_list] + [("light", x) for x in self.light_list]
                + [("merchant", m) for m in self.merchant_list])

    @property
    def workload_stop(self) -> float:
        stop = self.workload.stop if self.workload.stop is not None else self.duration
        return min(stop, self.duration - self.settle)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def load_scenario(path: str | Path, overrides: list[tuple[str, Any]] | None = None) -> Scenario:
    """Load and validate a scenario file; ``overrides`` are ``(dotted.key, value)`` pairs applied first."""
    doc = load_yaml(path)
    for key, value in overrides or []:
        doc = YamlDoc(apply_override(doc.data, key, value), doc.lines, doc.path)
    if not isinstance(doc.data, dict):
        raise ScenarioError(f"{path}: a scenario must be a mapping of keys")
    return validate(Scenario, doc)


def scenario_from_text(text: str, path: str = "<string>") -> Scenario:
    return validate(Scenario, load_yaml_text(text, path))


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    return validate(Scenario, YamlDoc(data, {}, "<dict>"))


__all__ = ["Scenario", "ScenarioError", "load_scenario", "scenario_from_dict", "scenario_from_text"]
