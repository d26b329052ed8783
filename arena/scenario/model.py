"""The scenario file: a typed model of a battle, validated with errors that name the key and line.

Nodes get global indexes in a fixed order: validators first, then light nodes, then merchants. Scenarios refer to
nodes by that index (partitions, crashes, explicit topologies) and reports name them ``validator0``, ``light4``.

Every number is bounded, so a typo cannot make a run hang or exhaust memory: at most :data:`MAX_NODES` nodes
(at least one validator), at most :data:`MAX_DURATION` virtual seconds, timers no shorter than
:data:`MIN_INTERVAL`, latencies at most :data:`MAX_LATENCY`, rates at most :data:`MAX_RATE` per virtual second,
token amounts at most :data:`MAX_AMOUNT`, probabilities in [0, 1], and no NaN or infinity anywhere.
Plugin names and parameters and topology kinds and parameters are checked against the plugin registry and the
topology builders by :func:`arena.scenario.checks.check_scenario`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from arena.scenario.yamlsource import (
    LocatedValueError,
    ScenarioError,
    YamlDoc,
    apply_override,
    load_yaml,
    load_yaml_text,
    validate,
)

MAX_NODES = 5_000
"""Most nodes a scenario may have (validators + light nodes + merchants together). The simulator keeps every node in
one process; beyond a few thousand a run takes hours. It also bounds every per-node count (peer limits, Sybils)."""

MAX_DURATION = 86_400.0
"""Longest battle, in virtual seconds (one day); also the bound of every time and interval in a scenario."""

MIN_INTERVAL = 0.01
"""Shortest period of a recurring timer (tick, slot, ping, gossip timeouts, HTLC deltas), in virtual seconds:
shorter timers only make a run crawl."""

MAX_TICK = 3_600.0
"""Longest plugin tick, in virtual seconds."""

MAX_LATENCY = 60.0
"""Largest link latency or jitter, in seconds."""

MAX_RATE = 10_000.0
"""Most workload events (transfers, purchases, channel payments) per virtual second."""

MAX_AMOUNT = 10**15
"""Largest token amount (balance, stake, price, fee, capacity). Even ``MAX_NODES`` balances of ``MAX_AMOUNT``
sum to less than 2**63, so totals fit the signed 64-bit integers of the wire format."""

MAX_SEED = 2**63 - 1
"""Largest seed (seeds are 64-bit)."""

MAX_COUNT = 1_000_000
"""Bound of the remaining counts (mempool sizes, finality depth, dispute windows)."""

MAX_BANDWIDTH = 1e12
"""Largest link bandwidth, in bytes per virtual second."""

_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}$"


class Strict(BaseModel):
    """Unknown keys are errors and every float must be finite (NaN and infinity are refused)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _seconds(default: Any, description: str, *, ge: float = 0.0) -> Any:
    """A time in virtual seconds, from ``ge`` to MAX_DURATION."""
    return Field(default, ge=ge, le=MAX_DURATION, description=f"{description} (virtual seconds, {ge:g} to "
                 f"{MAX_DURATION:g})")


def _interval(default: float, description: str) -> Any:
    """A recurring timer's period, from MIN_INTERVAL to MAX_DURATION."""
    return Field(default, ge=MIN_INTERVAL, le=MAX_DURATION, description=f"{description} (virtual seconds, "
                 f"{MIN_INTERVAL:g} to {MAX_DURATION:g})")


def _amount(default: int | None, description: str, *, ge: int = 0) -> Any:
    """A token amount, from ``ge`` to MAX_AMOUNT."""
    return Field(default, ge=ge, le=MAX_AMOUNT, description=f"{description} ({ge} to {MAX_AMOUNT:_})")


def _count(default: int, description: str, *, ge: int = 0, le: int = MAX_COUNT) -> Any:
    return Field(default, ge=ge, le=le, description=f"{description} ({ge} to {le:_})")


AmountBound = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
NodeIndex = Annotated[int, Field(ge=0, lt=MAX_NODES, description="a node's global index")]
Latency = Annotated[float, Field(ge=0, le=MAX_LATENCY)]


def _amount_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if low > high:
        raise ValueError(f"amount range [{low}, {high}] is empty: the first (lowest) amount must not exceed "
                         "the second (highest)")
    return value


class PluginUse(Strict):
    """A plugin attached to nodes, with its parameters (checked against the plugin's own ``Params`` model by
    :func:`arena.scenario.checks.check_scenario` before the run)."""

    name: str = Field(min_length=1, max_length=200, description="a plugin's name (see `arena plugins`)")
    params: dict[str, Any] = Field(default_factory=dict, description="the plugin's parameters")


class LinkModel(Strict):
    latency: float = Field(0.02, ge=0, le=MAX_LATENCY, description=f"one-way delay (seconds, 0 to {MAX_LATENCY:g})")
    jitter: float = Field(0.0, ge=0, le=MAX_LATENCY, description=f"random extra delay (seconds, 0 to "
                          f"{MAX_LATENCY:g})")
    jitter_dist: Literal["uniform", "exponential", "normal"] = Field(
        "uniform", description="how the extra delay is drawn, with jitter as its scale")
    loss: float = Field(0.0, ge=0, le=1, description="probability a packet is lost (0 to 1)")
    duplicate: float = Field(0.0, ge=0, le=1, description="probability a packet is delivered twice (0 to 1)")
    reorder: bool = Field(True, description="whether packets may overtake each other (false: each link delivers in "
                          "the order sent)")
    bandwidth: float | None = Field(None, gt=0, le=MAX_BANDWIDTH, description=f"bytes per virtual second (above 0, "
                                    f"at most {MAX_BANDWIDTH:g}); none = unlimited")
    mtu: int = Field(65507, ge=64, le=65507, description="largest packet in bytes (64 to 65507, UDP's maximum)")


class LinkOverride(LinkModel):
    a: int = Field(ge=0, lt=MAX_NODES, description="one end: a node index that exists in the scenario")
    b: int = Field(ge=0, lt=MAX_NODES, description="the other end: a node index that exists in the scenario")

    @model_validator(mode="after")
    def _two_ends(self) -> LinkOverride:
        if self.a == self.b:
            raise LocatedValueError(f"a link needs two different nodes, not {self.a} twice", ("b",))
        return self


class TopologyModel(Strict):
    kind: str = Field("complete", min_length=1, max_length=100, description="one of the kinds of "
                      "arena.runtime.topology.TOPOLOGY_KINDS (complete, erdos_renyi, barabasi_albert, bottleneck, "
                      "multi_bottleneck, ring, star, line, explicit)")
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters (erdos_renyi: p; "
                                   "barabasi_albert: m; multi_bottleneck: clusters)")
    edges: list[tuple[NodeIndex, NodeIndex]] | None = Field(
        None, description="the edge list of an explicit topology; every node index must exist")


class NetworkModel(Strict):
    topology: TopologyModel = Field(default_factory=TopologyModel, description="which nodes are linked")
    link: LinkModel = Field(default_factory=LinkModel, description="the link model of every link not overridden")
    regions: dict[NodeIndex, Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=dict, description="node index -> region name; every index must exist")
    region_latency: dict[str, Latency] = Field(default_factory=dict, description="'eu-us': 0.08 (seconds, 0 to "
                                               f"{MAX_LATENCY:g})")
    links: list[LinkOverride] = Field(default_factory=list, description="per-link overrides of the link model, each "
                                      "naming its two ends")

    @field_validator("region_latency")
    @classmethod
    def _pairs(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key.count("-") != 1:
                raise LocatedValueError(f"region pair {key!r} must look like 'a-b'", (key,))
        return v


class EventModel(Strict):
    """A scheduled fault. Exactly one of partition, heal, crash, restart; node indexes must exist."""

    at: float = _seconds(..., "when the event happens")
    partition: list[list[NodeIndex]] | None = Field(None, min_length=1, description="groups of node indexes "
                                                    "that can only reach their own group")
    heal: bool | None = Field(None, description="true: end the partition, every node reaches every other again")
    crash: NodeIndex | None = Field(None, description="the node that goes down (it keeps only its durable storage)")
    restart: NodeIndex | None = Field(None, description="the crashed node that comes back up")

    @model_validator(mode="after")
    def _one(self) -> EventModel:
        given = [k for k in ("partition", "heal", "crash", "restart") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an event needs exactly one of partition, heal, crash, restart (got {given or 'none'})")
        return self


class NodeModel(Strict):
    team: Literal["blue", "red"] = Field("blue", description="the team the node plays for (red nodes run the red "
                                         "plugins and get the adversary capability)")
    balance: int | None = _amount(None, "genesis balance of this node (default: genesis_balance)")
    plugins: list[PluginUse] = Field(default_factory=list, description="plugins on this node only, besides its "
                                     "team's")


class ValidatorModel(NodeModel):
    stake: int = _amount(100, "stake at genesis")


class LightModel(NodeModel):
    pass


class MerchantModel(NodeModel):
    price: int = _amount(50, "value of the goods sold for one payment", ge=1)


class WorkloadModel(Strict):
    """Honest transfers between light nodes (and purchases from merchants), drawn from a seeded stream."""

    rate: float = Field(1.0, ge=0, le=MAX_RATE, description=f"transfers per virtual second, over all honest light "
                        f"nodes (0 to {MAX_RATE:g})")
    amount: tuple[AmountBound, AmountBound] = Field(
        (1, 20), description=f"[lowest, highest] amount of a transfer, drawn uniformly (1 to {MAX_AMOUNT:_}, "
                             "lowest <= highest)")
    fee: int = _amount(1, "fee of every transfer")
    start: float = _seconds(1.0, "first transfer")
    stop: float | None = _seconds(None, "last transfer (default: the end of the battle, before settle)")
    purchases: float = Field(0.0, ge=0, le=MAX_RATE, description=f"purchases from merchants per virtual second "
                             f"(0 to {MAX_RATE:g})")

    @field_validator("amount")
    @classmethod
    def _amount_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _amount_range(v)

    @model_validator(mode="after")
    def _stop_after_start(self) -> WorkloadModel:
        if self.stop is not None and self.stop < self.start:
            raise LocatedValueError(f"stop ({self.stop:g}) is before start ({self.start:g})", ("stop",))
        return self


class ConsensusModel(Strict):
    mode: Literal["none", "pos"] = Field("pos", description="none: validators apply transfers on arrival (course "
                                         "day 1); pos: proof-of-stake blocks and finality")
    slot: float = _interval(1.0, "time between block proposals")
    block_reward: int = _amount(0, "tokens minted for the proposer of every block")
    max_block_txs: int = Field(255, ge=1, le=255, description="py-ipv8 lists hold at most 255 payloads (1 to 255)")
    finality: Literal["votes", "depth"] = Field("votes", description="votes: a block is final once validators "
                                                "holding more than 2/3 of the stake voted for it; depth: once depth "
                                                "blocks are on top")
    depth: int = _count(3, "k for k-deep finality (and the default confirmation depth)", ge=1, le=1_000)
    mempool_size: int = _count(10_000, "transactions a validator's mempool holds", ge=1)
    mempool_per_sender: int = _count(64, "mempool transactions per sender", ge=1)


class PeeringModel(Strict):
    peer_limit: int = _count(12, "most peers a node keeps", ge=1, le=MAX_NODES)
    ping_interval: float = _interval(5.0, "time between pings of a peer")
    peer_timeout: float = _interval(15.0, "silence after which a peer is dropped")
    ask_interval: float = _interval(10.0, "time between asks for more peers")
    bootstrap: int = _count(3, "how many of the first validators every node walks to at start", ge=1, le=MAX_NODES)


class GossipModel(Strict):
    message_timeout: float = _interval(30.0, "how long a gossiped message is remembered")
    fanout: int = _count(4, "validator peers each new item is forwarded to, drawn afresh per packet; 0 = all of "
                         "them (the workshop's flooding)", le=MAX_NODES)
    batch_interval: float = Field(0.2, ge=0, le=MAX_LATENCY, description="time gossip waits to batch items into one "
                                  f"packet; a block is sent at once (seconds, 0 to {MAX_LATENCY:g})")


class LightPolicyModel(Strict):
    query_validators: int = _count(3, "validators a light node asks about a balance, and a merchant about a payment",
                                   ge=1, le=MAX_NODES)
    majority: float = Field(0.5, ge=0, lt=1, description="balance answers agreeing must exceed this share of those "
                            "asked (0 to below 1); a merchant does not count answers")
    confirmations: int = _count(1, "confirmations a merchant waits for on any one answer: 1 = in a block, k = k-1 "
                                "blocks on top of it, 0 = in the mempool; finalised always suffices", le=1_000)


class BudgetModel(Strict):
    sybils: int = _count(0, "how many extra identities the red team may create", le=MAX_NODES)
    sybil_cost: int = _amount(0, "price of one identity: the referee reports sybil_spend and "
                              "red_net_gain = stolen - sybil_spend (theft is theft: the verdict uses stolen)")


class TeamModel(Strict):
    plugins: list[PluginUse] = Field(default_factory=list, description="plugins on every node of the team")
    budget: BudgetModel = Field(default_factory=BudgetModel, description="what the team may spend on identities")


class TeamsModel(Strict):
    red: TeamModel = Field(default_factory=TeamModel, description="the attackers' plugins and budget")
    blue: TeamModel = Field(default_factory=TeamModel, description="the defenders' plugins and budget")


class RefereeModel(Strict):
    max_delay: float | None = Field(None, gt=0, le=MAX_DURATION, description="honest transfers finalised later "
                                    f"than this are a liveness violation (virtual seconds, above 0, at most "
                                    f"{MAX_DURATION:g})")


class ChannelPaymentsModel(Strict):
    """Multi-hop payments between the channel members, drawn from a seeded stream (the same for every topology)."""

    rate: float = Field(2.0, ge=0, le=MAX_RATE, description="payments per virtual second, over all honest channel "
                        f"members (0 to {MAX_RATE:g})")
    amount: tuple[AmountBound, AmountBound] = Field(
        (1, 50), description=f"[lowest, highest] amount of a payment (1 to {MAX_AMOUNT:_}, lowest <= highest)")
    start: float = _seconds(10.0, "first payment (leave time for the opens to reach a block)")
    stop: float | None = _seconds(None, "last payment")

    @field_validator("amount")
    @classmethod
    def _amount_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _amount_range(v)

    @model_validator(mode="after")
    def _stop_after_start(self) -> ChannelPaymentsModel:
        if self.stop is not None and self.stop < self.start:
            raise LocatedValueError(f"stop ({self.stop:g}) is before start ({self.start:g})", ("stop",))
        return self


class ChannelsModel(Strict):
    """Payment channels between the light nodes (course day 3); off unless ``enabled``.

    The channel graph is a topology over the light nodes (graph node i = the i-th light node) whose ``total_capacity``
    is spread evenly over its edges, as ``arena.runtime.topology.same_capacity_graphs`` does. ``dual`` funding opens one
    channel from each end holding half an edge's capacity (so both directions start with liquidity); ``single``
    lets the lower index fund the whole edge.
    """

    enabled: bool = Field(False, description="whether the light nodes open channels and pay over them")
    topology: TopologyModel = Field(default_factory=lambda: TopologyModel(kind="barabasi_albert"),
                                    description="graph over the light nodes: edge indexes count light nodes only")
    total_capacity: int = _amount(20_000, "tokens locked in all channels together")
    funding: Literal["dual", "single"] = Field("dual", description="dual: one channel from each end with half an "
                                               "edge's capacity; single: the lower index funds the whole edge")
    open_at: float = _seconds(2.0, "when the channels are opened")
    payments: ChannelPaymentsModel = Field(default_factory=ChannelPaymentsModel, description="the multi-hop "
                                           "payment workload")
    fee_base: int = _amount(1, "every relay keeps fee_base + amount * fee_ppm / 1e6")
    fee_ppm: int = _count(0, "relay fee in parts per million of the amount", le=1_000_000)
    tx_fee: int = _amount(0, "fee of the on-chain channel transactions")
    hop_delta: float = _interval(2.0, "seconds of HTLC expiry per hop")
    final_delta: float = _interval(3.0, "seconds of HTLC expiry the payee gets")
    attempts: int = _count(3, "routes a payer tries per payment", ge=1, le=100)
    dispute_window: int = _count(10, "blocks a force close waits for a dispute (consensus rule)", ge=1)
    close_at: float | None = _seconds(None, "every funder closes its channels at this time")
    close_mode: Literal["cooperative", "unilateral"] = Field("cooperative", description="how close_at closes: "
                                                             "cooperative (both sign) or unilateral (force close)")


class ExpectModel(Strict):
    """What the battle's result must be when the scenario runs as a test (``pytest`` collects it).

    ``verdict``, ``stolen`` (exactly) and ``min_stolen`` (at least) are compared with the referee's result. A plugin
    that faulted (raised in a hook and was disabled) fails the expectation too, unless ``allow_faults`` is true:
    a battle whose attack crashed proves nothing about the defense.
    """

    verdict: Literal["red_won", "blue_won", "faulted", "unknown"] | None = Field(None, description="the verdict "
                                                                                 "the referee must reach")
    stolen: int | None = Field(None, ge=0, description="exact amount stolen")
    min_stolen: int | None = Field(None, ge=0, description="least amount stolen")
    allow_faults: bool = Field(False, description="accept plugin faults (by default a faulted plugin fails the "
                               "expectation)")


def _count_or_list(value: Any) -> str:
    return "list" if isinstance(value, list | tuple) else "count"


def _nodes_field(default: int, ge: int, model: str, description: str) -> Any:
    return Field(default, description=f"{description}: a count ({ge} to {MAX_NODES}) or a list of {model} "
                 f"entries; all nodes together at most MAX_NODES = {MAX_NODES}")


ValidatorsField = Annotated[
    Annotated[int, Field(ge=1, le=MAX_NODES), Tag("count")]
    | Annotated[list[ValidatorModel], Field(min_length=1, max_length=MAX_NODES), Tag("list")],
    Discriminator(_count_or_list),
]
LightsField = Annotated[
    Annotated[int, Field(ge=0, le=MAX_NODES), Tag("count")]
    | Annotated[list[LightModel], Field(max_length=MAX_NODES), Tag("list")],
    Discriminator(_count_or_list),
]
MerchantsField = Annotated[
    Annotated[int, Field(ge=0, le=MAX_NODES), Tag("count")]
    | Annotated[list[MerchantModel], Field(max_length=MAX_NODES), Tag("list")],
    Discriminator(_count_or_list),
]


#: ``protocol``: a name, or ``package.module:Class`` (dotted identifiers, one colon).
_PROTOCOL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*(:[A-Za-z_][A-Za-z0-9_]*)?$"
#: The simulator's wall clock at virtual second 0: 2023-11-14 22:13:20 UTC, a realistic time (py-ipv8 reads 0 as
#: "never" and computes ``time.time() - 30``).
DEFAULT_EPOCH = 1_700_000_000.0


class Scenario(Strict):
    """A battle. Bounds: at most MAX_NODES nodes and at least one validator, ``settle < duration <= MAX_DURATION``,
    and the per-field bounds given in each field's description."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    name: str = Field(pattern=_NAME_PATTERN, description="1 to 100 letters, digits, '_', '-', '.' or spaces, not "
                      "starting with '.', '-' or a space (it names the run directory)")
    description: str = Field("", max_length=10_000, description="free text about the battle (shown in reports)")
    seed: int = Field(1, ge=0, le=MAX_SEED, description="seed of every random stream (0 to 2**63-1)")
    duration: float = Field(60.0, gt=0, le=MAX_DURATION, description=f"length of the battle (virtual seconds, above "
                            f"0, at most MAX_DURATION = {MAX_DURATION:g})")
    settle: float = _seconds(0.0, "final seconds with red plugins off and no new workload; less than duration "
                             "(an override of duration that leaves settle alone scales it in proportion, and an "
                             "override leaving red active for less than half the battle is refused)")
    tick: float = Field(1.0, ge=MIN_INTERVAL, le=MAX_TICK, description=f"period of the plugin tick hook (virtual "
                        f"seconds, {MIN_INTERVAL:g} to {MAX_TICK:g})")
    trace_level: Literal["summary", "default", "packets"] = Field("default", description="how much trace.jsonl "
                                                                  "records: summary (no drops), default (drops "
                                                                  "too), packets (every packet too)")
    protocol: str = Field("honest", min_length=1, max_length=200, pattern=_PROTOCOL_PATTERN,
                          description="what runs on the nodes: honest (the reference blockchain), pingpong (the "
                          "course template), the name of an installed protocol (entry point group "
                          "arena.protocols), or package.module:Class (docs/protocols.md)")
    epoch: float = Field(DEFAULT_EPOCH, ge=0, le=4_102_444_800, description="the Unix time the simulator's wall "
                         "clock shows at virtual second 0 (what py-ipv8's time.time() returns; same for every run)")
    network: NetworkModel = Field(default_factory=NetworkModel, description="topology, links and regions")
    events: list[EventModel] = Field(default_factory=list, max_length=10_000, description="scheduled faults: "
                                     "partitions, heals, crashes, restarts")
    validators: ValidatorsField = _nodes_field(4, 1, "validator", "the validators (node indexes 0..)")
    light_nodes: LightsField = _nodes_field(10, 0, "light node", "the light nodes (indexes after the validators)")
    merchants: MerchantsField = _nodes_field(0, 0, "merchant", "the merchants (the last indexes)")
    genesis_balance: int = _amount(1000, "balance of each light node unless it sets its own")
    workload: WorkloadModel = Field(default_factory=WorkloadModel, description="the honest transfers and purchases")
    consensus: ConsensusModel = Field(default_factory=ConsensusModel, description="blocks, finality and mempools")
    peering: PeeringModel = Field(default_factory=PeeringModel, description="peer tables and their timers")
    gossip: GossipModel = Field(default_factory=GossipModel, description="how validators spread transactions, "
                                "blocks and votes")
    light: LightPolicyModel = Field(default_factory=LightPolicyModel, description="whom light nodes and merchants "
                                    "ask, and what they believe")
    teams: TeamsModel = Field(default_factory=TeamsModel, description="each team's plugins and budget")
    referee: RefereeModel = Field(default_factory=RefereeModel, description="what the referee judges besides theft")
    channels: ChannelsModel = Field(default_factory=ChannelsModel, description="payment channels between the light "
                                    "nodes (course day 3)")
    expect: ExpectModel | None = Field(None, description="the result the battle must have when it runs as a test")

    _source: YamlDoc | None = PrivateAttr(default=None)

    @field_validator("validators", mode="after")
    @classmethod
    def _validators(cls, v: int | list[ValidatorModel]) -> list[ValidatorModel]:
        return [ValidatorModel() for _ in range(v)] if isinstance(v, int) else list(v)

    @field_validator("light_nodes", mode="after")
    @classmethod
    def _lights(cls, v: int | list[LightModel]) -> list[LightModel]:
        return [LightModel() for _ in range(v)] if isinstance(v, int) else list(v)

    @field_validator("merchants", mode="after")
    @classmethod
    def _merchants(cls, v: int | list[MerchantModel]) -> list[MerchantModel]:
        return [MerchantModel() for _ in range(v)] if isinstance(v, int) else list(v)

    @model_validator(mode="after")
    def _bounds(self) -> Scenario:
        n = self.node_count
        if n > MAX_NODES:
            counts = {"validators": len(self.validator_list), "light_nodes": len(self.light_list),
                      "merchants": len(self.merchant_list)}
            largest = max(counts, key=lambda k: counts[k])
            raise LocatedValueError(f"{n} nodes in all ({', '.join(f'{k} {v}' for k, v in counts.items())}); a "
                                    f"scenario has at most MAX_NODES = {MAX_NODES}", (largest,))
        if self.settle >= self.duration:
            raise LocatedValueError(f"settle ({self.settle:g}) must be less than duration ({self.duration:g})",
                                    ("settle",))
        return self

    @model_validator(mode="after")
    def _indexes(self) -> Scenario:
        n = self.node_count
        for e, ev in enumerate(self.events):
            for g, group in enumerate(ev.partition or []):
                for k, i in enumerate(group):
                    _node_exists(i, n, ("events", e, "partition", g, k))
            for key in ("crash", "restart"):
                i = getattr(ev, key)
                if i is not None:
                    _node_exists(i, n, ("events", e, key))
        for k, link in enumerate(self.network.links):
            _node_exists(link.a, n, ("network", "links", k, "a"))
            _node_exists(link.b, n, ("network", "links", k, "b"))
        for i in self.network.regions:
            _node_exists(i, n, ("network", "regions", i))
        for k, (a, b) in enumerate(self.network.topology.edges or []):
            _node_exists(a, n, ("network", "topology", "edges", k))
            _node_exists(b, n, ("network", "topology", "edges", k))
        lights = len(self.light_list)
        for k, (a, b) in enumerate(self.channels.topology.edges or []):
            for i in (a, b):
                if not 0 <= i < lights:
                    raise LocatedValueError(f"channel graph node {i} does not exist (channel edges count light nodes "
                                            f"only: 0..{lights - 1})", ("channels", "topology", "edges", k))
        return self

    @model_validator(mode="after")
    def _channels_need_blocks(self) -> Scenario:
        if self.channels.enabled and self.consensus.mode != "pos":
            raise LocatedValueError("channels need consensus.mode pos (dispute windows are counted in blocks)",
                                    ("channels", "enabled"))
        return self

    # -- derived views -------------------------------------------------------------------------------------------
    @property
    def source(self) -> YamlDoc | None:
        """The YAML document the scenario was loaded from (for error lines), if any."""
        return self._source

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


def _node_exists(index: int, n: int, loc: tuple[str | int, ...]) -> None:
    if not 0 <= index < n:
        raise LocatedValueError(f"node {index} does not exist (this scenario has nodes 0..{n - 1})", loc)


def _from_doc(doc: YamlDoc) -> Scenario:
    if not isinstance(doc.data, dict):
        what = "the file is empty" if doc.data is None else f"the file holds a {type(doc.data).__name__}"
        raise ScenarioError.at(doc.path, doc.line_for(()) or 1, "",
                               f"{what}; a scenario must be a mapping of keys (name: ..., duration: ...)")
    scenario = validate(Scenario, doc)
    scenario._source = doc
    return scenario


def load_scenario(path: str | Path, overrides: list[tuple[str, Any]] | None = None) -> Scenario:
    """Load and validate a scenario file; ``overrides`` are ``(dotted.key, value)`` pairs applied first (a new
    ``duration`` without a new ``settle`` scales ``settle`` with it: :func:`scale_settle`, :func:`check_red_active`)."""
    doc = load_yaml(path)
    original = doc.data
    for key, value in overrides or []:
        doc = YamlDoc(apply_override(doc.data, key, value), doc.lines, doc.path)
    keys = {key for key, _ in overrides or []}
    if "duration" in keys and "settle" not in keys:
        doc = YamlDoc(scale_settle(original, doc.data), doc.lines, doc.path)
    scenario = _from_doc(doc)
    if keys & {"duration", "settle"}:
        check_red_active(scenario, "settle" if "settle" in keys else "duration")
    return scenario


def _time(data: Any, key: str) -> float | None:
    """``data[key]`` as a usable time (the model's default when absent; None when it is no finite number, so the
    model's own validation reports it)."""
    value = data.get(key, Scenario.model_fields[key].default) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def scale_settle(original: Any, data: Any) -> Any:
    """``data`` with ``settle`` scaled by new ``duration`` / the file's ``duration``, so a shorter battle keeps the
    same share of red activity (the file's 30 s settle of 120 s becomes 10 s of a 40 s battle). Other times
    (workload, events, plugin parameters) are absolute and stay. Unusable numbers are left to validation."""
    before, after, settle = _time(original, "duration"), _time(data, "duration"), _time(original, "settle")
    if before is None or after is None or settle is None or before <= 0 or after <= 0 or not settle:
        return data
    return {**data, "settle": round(settle * after / before, 3)}


def check_red_active(scenario: Scenario, key: str) -> None:
    """Refuse an overridden scenario whose red team is active (``duration - settle``) for less than half the
    battle: its verdict would say little about the attack. ``key``: the overridden key the message names."""
    if not any(spec.team == "red" for _, spec in scenario.roles()):
        return
    active = scenario.duration - scenario.settle
    if active < scenario.duration / 2:
        value = scenario.settle if key == "settle" else scenario.duration
        raise ScenarioError(f"--param {key}={value:g}: red would be active for {active:g} s of the "
                            f"{scenario.duration:g} s battle (duration - settle {scenario.settle:g}); it must be "
                            f"active for at least half (settle at most {scenario.duration / 2:g})")


def scenario_from_text(text: str, path: str = "<string>") -> Scenario:
    return _from_doc(load_yaml_text(text, path))


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    return _from_doc(YamlDoc(data, {}, "<dict>"))


__all__ = [
    "MAX_AMOUNT",
    "MAX_DURATION",
    "MAX_LATENCY",
    "MAX_NODES",
    "MAX_RATE",
    "MIN_INTERVAL",
    "Scenario",
    "ScenarioError",
    "check_red_active",
    "load_scenario",
    "scale_settle",
    "scenario_from_dict",
    "scenario_from_text",
]
