"""Payment channels in a world (scenario ``channels:``): which channels to open, the payment workload, the closes,
and the ``channels`` / ``payments`` fields of ``result.json``.

The channel graph is a topology over the light nodes (graph node i = the i-th light node, blue or red). The payment
workload is drawn up front from the ``channel_payments`` stream of the seed, independently of the graph, so two runs
with one seed and different channel topologies ask for exactly the same payments.

Invoices are handed over out of band (a function call here, a QR code in real life): the payee makes a payment
hash, the payer routes a payment to it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from arena.runtime.topology import build_topology, same_capacity_graphs
from arena.scenario.model import Scenario
from arena.scenario.yamlsource import ScenarioError
from honest.node import HonestNode
from honest.schema import account_of

if TYPE_CHECKING:
    from arena.sim.world import NodeRuntime, World

SAME_CAPACITY_KINDS = ("complete", "barabasi_albert", "bottleneck", "multi_bottleneck")


def channel_config(sc: Scenario) -> dict[str, Any]:
    """The ``NodeConfig`` fields the scenario's ``channels:`` section sets."""
    c = sc.channels
    return {"channels": c.enabled, "channel_fee_base": c.fee_base, "channel_fee_ppm": c.fee_ppm,
            "channel_tx_fee": c.tx_fee, "htlc_hop_delta": c.hop_delta, "htlc_final_delta": c.final_delta,
            "payment_attempts": c.attempts, "dispute_window": c.dispute_window}


def channel_graph(sc: Scenario, seed: int) -> nx.Graph:
    """The channel topology over the light nodes, each edge with its ``capacity``."""
    c = sc.channels
    n = len(sc.light_list)
    topo = c.topology
    try:
        if topo.kind in SAME_CAPACITY_KINDS and not topo.params and topo.edges is None and n >= 6:
            return same_capacity_graphs(n, c.total_capacity, seed)[topo.kind]
        g = build_topology(topo.kind, n, seed=seed, params=topo.params, edges=topo.edges)
    except ValueError as exc:
        raise ScenarioError(f"channels.topology: {exc}") from exc
    ordered = sorted(g.edges())
    if ordered:
        base, extra = divmod(c.total_capacity, len(ordered))
        for i, (u, v) in enumerate(ordered):
            g.edges[u, v]["capacity"] = base + (1 if i < extra else 0)
    return g


def plan_opens(g: nx.Graph, funding: str) -> list[tuple[int, int, int]]:
    """(funder, peer, deposit) per channel, in edge order: dual funding opens one channel from each end."""
    opens: list[tuple[int, int, int]] = []
    for u, v in sorted(g.edges()):
        cap = int(g.edges[u, v].get("capacity", 0))
        if funding == "single":
            if cap > 0:
                opens.append((u, v, cap))
            continue
        first = cap // 2
        if first > 0:
            opens.append((u, v, first))
        if cap - first > 0:
            opens.append((v, u, cap - first))
    return opens


def funding_needs(sc: Scenario, opens: list[tuple[int, int, int]]) -> Counter[int]:
    """What each funder (light node index) locks in its channels, on-chain fees included."""
    need: Counter[int] = Counter()
    for funder, _, deposit in opens:
        need[funder] += deposit + sc.channels.tx_fee
    return need


def payment_draws(sc: Scenario, rng: random.Random, teams: list[str]) -> list[tuple[float, int, int, int]]:
    """The channel payments ``(t, payer, payee, amount)``, payer and payee as positions among the members (whose
    teams are ``teams``), drawn from ``rng`` (the ``channel_payments`` stream) in one fixed order: the simulator and
    every live process draw the same list."""
    c = sc.channels
    payers = [i for i, team in enumerate(teams) if team == "blue"]
    stop = min(c.payments.stop if c.payments.stop is not None else sc.duration, sc.workload_stop)
    out: list[tuple[float, int, int, int]] = []
    if payers and len(teams) > 1 and c.payments.rate > 0:
        t = c.payments.start
        while True:
            t += rng.expovariate(c.payments.rate)
            if t >= stop:
                break
            payer = rng.choice(payers)
            payee = rng.choice([m for m in range(len(teams)) if m != payer])
            amount = rng.randint(c.payments.amount[0], c.payments.amount[1])
            out.append((t, payer, payee, amount))
    return out


@dataclass
class ChannelPlan:
    """What the world does with channels: members (light nodes), the graph, the opens."""

    members: list[NodeRuntime]
    graph: nx.Graph
    opens: list[tuple[int, int, int]]

    @classmethod
    def build(cls, world: World, balances: dict[bytes, int]) -> ChannelPlan:
        sc = world.scenario
        members = [n for n in world.nodes if n.role == "light"]
        graph = channel_graph(sc, world.seed)
        opens = plan_opens(graph, sc.channels.funding)
        for i, amount in sorted(funding_needs(sc, opens).items()):
            node = members[i]
            have = balances.get(account_of(node.key.pub().key_to_bin()), 0)
            if amount > have:
                raise ScenarioError(f"channels: {node.name} must deposit {amount} into its channels but has a genesis "
                                    f"balance of {have} (raise genesis_balance or lower channels.total_capacity)")
        world.emit("channel_plan", kind=sc.channels.topology.kind, funding=sc.channels.funding,
                   members=[m.name for m in members],
                   edges=[[u, v, int(graph.edges[u, v].get("capacity", 0))] for u, v in sorted(graph.edges())])
        return cls(members, graph, opens)

    def schedule(self, world: World) -> None:
        c = world.scenario.channels
        for funder, peer, deposit in self.opens:
            node = self.members[funder]
            world.loop.call_at(c.open_at, self._open, node, self.members[peer], deposit,
                               context=node.endpoint.context)
        teams = [m.team for m in self.members]
        for t, payer, payee, amount in payment_draws(world.scenario, world.streams.get("channel_payments"), teams):
            world.loop.call_at(t, self._pay, self.members[payer], self.members[payee], amount,
                               context=self.members[payer].endpoint.context)
        if c.close_at is not None:
            for node in self.members:
                world.loop.call_at(c.close_at, self._close, node, c.close_mode, context=node.endpoint.context)

    @staticmethod
    def _open(funder: NodeRuntime, peer: NodeRuntime, deposit: int) -> None:
        node = funder.community
        if funder.up and isinstance(node, HonestNode):
            node.channels.open_channel(peer.key.pub().key_to_bin(), peer.endpoint.address, deposit)

    @staticmethod
    def _pay(payer: NodeRuntime, payee: NodeRuntime, amount: int) -> None:
        node, other = payer.community, payee.community
        if payer.up and payee.up and isinstance(node, HonestNode) and isinstance(other, HonestNode):
            node.channels.pay(other.account, amount, other.channels.create_invoice(amount))

    @staticmethod
    def _close(member: NodeRuntime, mode: str) -> None:
        node = member.community
        if member.up and isinstance(node, HonestNode):
            for ch in node.channels.open_channels():
                if ch.mine_a:
                    node.channels.close(ch.channel_id, mode)


def channel_results(states: list[dict[str, Any]], canonical: str | None) -> dict[str, Any]:
    """``channels`` (opens and closes of the canonical finalised chain) and ``payments`` (honest payers) for
    ``result.json``."""
    counts: dict[str, int] = {"open": 0, "closed_cooperatively": 0, "closed_unilaterally": 0, "disputed": 0}
    vals = [s for s in states if s.get("role") == "validator" and s.get("team") == "blue" and "channel_counts" in s]
    canon = next((s for s in vals if s.get("name") == canonical), vals[0] if vals else None)
    if canon is not None:
        counts.update(canon["channel_counts"])
    pay: dict[str, Any] = {"attempted": 0, "succeeded": 0, "failed_by_reason": {}}
    reasons: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    latency = 0.0
    for s in states:
        p = s.get("payments")
        if s.get("team") != "blue" or not isinstance(p, dict):
            continue
        pay["attempted"] += p.get("attempted", 0)
        pay["succeeded"] += p.get("succeeded", 0)
        reasons.update(p.get("failed_by_reason", {}))
        for k in ("volume", "fees", "hops", "relayed", "unsettled"):
            extra[k] += int(p.get(k, 0))
        latency += float(p.get("latency", 0.0))
    pay["failed_by_reason"] = dict(sorted(reasons.items()))
    ok = pay["succeeded"]
    pay.update(volume=extra["volume"], fees=extra["fees"], unsettled=extra["unsettled"],
               mean_hops=round(extra["hops"] / ok, 6) if ok else None,
               mean_latency=round(latency / ok, 6) if ok else None)
    return {"channels": counts, "payments": pay}


__all__ = ["ChannelPlan", "channel_config", "channel_graph", "channel_results", "funding_needs", "payment_draws",
           "plan_opens"]
