"""The payment-channel workload of a scenario (``channels.enabled``), live: the simulator's opens, payments and
closes (:mod:`arena.protocols.channel_workload`), carried out by the process that runs the paying node.

The one thing a live battle cannot do as the simulator does is the invoice: there the payer calls the payee's
``create_invoice`` (a function call standing for a QR code). Live, the payee may be in another process, so each
process creates, before the start, the invoices of every payment to one of its nodes (with the node's own random
stream, so that nobody else knows the preimages); the coordinator collects the payment hashes (``INVOICES`` lines
of the workers) and hands them all to every worker with the start. A payment whose invoice never arrived (a payee
that was down) is not attempted. ``arena node`` has no coordinator: it does not run the channel workload.
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.live.plan import BattlePlan
from arena.protocols.channel_workload import channel_graph, funding_needs, payment_draws, plan_opens
from arena.runtime.rng import stream
from arena.scenario.yamlsource import ScenarioError
from honest.schema import account_of


@dataclass(frozen=True)
class LivePayment:
    """Payment ``k`` of the schedule, payer and payee as plan indices."""

    k: int
    t: float
    payer: int
    payee: int
    amount: int


@dataclass
class LiveChannelPlan:
    """Members (light nodes, by plan index), opens ``(funder, peer, deposit)`` by plan index, payments, the close."""

    members: list[int]
    edges: list[list[int]]
    opens: list[tuple[int, int, int]]
    payments: list[LivePayment]

    @classmethod
    def build(cls, plan: BattlePlan) -> LiveChannelPlan:
        """The simulator's plan for these nodes; a funder whose genesis balance cannot cover its deposits is a
        scenario error (as in the simulator)."""
        sc = plan.scenario
        members = [i for i in range(sc.node_count) if plan.role(i) == "light"]
        graph = channel_graph(sc, plan.seed)
        opens = plan_opens(graph, sc.channels.funding)
        balances = plan.genesis().balances
        for pos, amount in sorted(funding_needs(sc, opens).items()):
            i = members[pos]
            have = balances.get(account_of(plan.public_keys[i]), 0)
            if amount > have:
                raise ScenarioError(f"channels: {plan.name(i)} must deposit {amount} into its channels but has a "
                                    f"genesis balance of {have} (raise genesis_balance or lower "
                                    "channels.total_capacity)")
        draws = payment_draws(sc, stream(plan.seed, "channel_payments"), [plan.team(i) for i in members])
        payments = [LivePayment(k, t, members[a], members[b], amount) for k, (t, a, b, amount) in enumerate(draws)]
        edges = [[u, v, int(graph.edges[u, v].get("capacity", 0))] for u, v in sorted(graph.edges())]
        return cls(members, edges, [(members[u], members[v], d) for u, v, d in opens], payments)

    def trace_fields(self, plan: BattlePlan) -> dict[str, object]:
        """The ``channel_plan`` event, as the simulator's world writes it."""
        c = plan.scenario.channels
        return {"kind": c.topology.kind, "funding": c.funding, "members": [plan.name(i) for i in self.members],
                "edges": self.edges}


__all__ = ["LiveChannelPlan", "LivePayment"]
