"""Running the honest protocol in a world: genesis, node construction, workload, final states.

The workload is drawn up front from the ``workload`` stream of the seed (who pays whom, how much, when), so two
runs with one seed ask for the same transfers. Each intent is recorded in the trace by the paying node.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipv8.community import Community
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from arena.protocols.base import WorldProtocol
from arena.protocols.channel_workload import ChannelPlan, channel_config, channel_results
from arena.scenario.model import Scenario
from honest.channels import ChannelStore
from honest.config import NodeConfig
from honest.contract import CONTRACT_VERSION, block_record
from honest.env import NodeEnv
from honest.ledger import MemoryStore
from honest.node import HonestNode, HonestSettings
from honest.schema import account_of, public_key_of

if TYPE_CHECKING:
    from arena.sim.world import NodeRuntime, World


def node_config(sc: Scenario, merchant_price: int = 50) -> NodeConfig:
    c, p, g, lp = sc.consensus, sc.peering, sc.gossip, sc.light
    return NodeConfig(
        peer_limit=p.peer_limit, ping_interval=p.ping_interval, peer_timeout=p.peer_timeout,
        ask_interval=p.ask_interval, message_timeout=g.message_timeout, fanout=g.fanout,
        batch_interval=g.batch_interval, consensus=c.mode, slot=c.slot, block_reward=c.block_reward,
        max_block_txs=c.max_block_txs, finality=c.finality, depth=c.depth, mempool_size=c.mempool_size,
        mempool_per_sender=c.mempool_per_sender, query_validators=lp.query_validators, majority=lp.majority,
        confirmations=lp.confirmations, price=merchant_price, **channel_config(sc),
    )


@dataclass
class GenesisTables:
    """Genesis balances and stakes by account, and node names by account (shared by the sim and live backends)."""

    balances: dict[bytes, int] = field(default_factory=dict)
    stakes: dict[bytes, int] = field(default_factory=dict)
    names: dict[bytes, str] = field(default_factory=dict)


def genesis_tables(sc: Scenario, public_keys: Sequence[bytes]) -> GenesisTables:
    """The genesis of ``sc`` given every node's public key (index order; from the seed, or a live roster)."""
    g = GenesisTables()
    for index, ((role, spec), pk) in enumerate(zip(sc.roles(), public_keys, strict=True)):
        acct = account_of(pk)
        g.names[acct] = f"{role}{index}"
        default = sc.genesis_balance if role == "light" else 0
        g.balances[acct] = spec.balance if spec.balance is not None else default
        if role == "validator":
            g.stakes[acct] = getattr(spec, "stake", 0)
    return g


def genesis_fields(sc: Scenario, g: GenesisTables, plugins: dict[str, list[str]],
                   leader_schedule: str = "stake") -> dict[str, Any]:
    """The fields of the ``genesis`` trace event (what the referee knows about every node, and the protocol's
    declared leader rule: :attr:`arena.protocols.api.Protocol.leader_schedule`)."""
    roles = sc.roles()
    return dict(protocol=sc.protocol, contract=CONTRACT_VERSION, leader_schedule=leader_schedule,
                accounts={g.names[a]: a.hex() for a in g.names},
                balances={g.names[a]: b for a, b in g.balances.items()},
                stakes={g.names[a]: s for a, s in g.stakes.items()},
                teams={f"{r}{i}": spec.team for i, (r, spec) in enumerate(roles)},
                roles={f"{r}{i}": r for i, (r, _) in enumerate(roles)},
                reward=sc.consensus.block_reward, mode=sc.consensus.mode, max_delay=sc.referee.max_delay,
                duration=sc.duration, settle=sc.settle, plugins=plugins)


@dataclass(frozen=True)
class WorkItem:
    """One honest intent of the workload: at ``t`` node ``payer`` pays node ``target`` (kind "pay" or "buy")."""

    t: float
    kind: str
    payer: int
    target: int
    amount: int
    fee: int


def workload_schedule(sc: Scenario, rng: random.Random) -> list[WorkItem]:
    """The seeded workload (transfers first, then purchases), drawn from the ``workload`` stream ``rng``."""
    w = sc.workload
    roles = sc.roles()
    payers = [i for i, (r, spec) in enumerate(roles) if r == "light" and spec.team == "blue"]
    receivers = [i for i, (r, _) in enumerate(roles) if r == "light"]
    merchants = [i for i, (r, spec) in enumerate(roles) if r == "merchant" and spec.team == "blue"]
    stop = sc.workload_stop
    out: list[WorkItem] = []
    if payers and len(receivers) > 1 and w.rate > 0:
        t = w.start
        while True:
            t += rng.expovariate(w.rate)
            if t >= stop:
                break
            payer = rng.choice(payers)
            receiver = rng.choice([r for r in receivers if r != payer])
            amount = rng.randint(w.amount[0], w.amount[1])
            out.append(WorkItem(t, "pay", payer, receiver, amount, w.fee))
    if payers and merchants and w.purchases > 0:
        t = w.start
        while True:
            t += rng.expovariate(w.purchases)
            if t >= stop:
                break
            buyer, merchant = rng.choice(payers), rng.choice(merchants)
            out.append(WorkItem(t, "buy", buyer, merchant, 0, w.fee))
    return out


def bootstrap_addresses(world: World, node: NodeRuntime) -> list[tuple[str, int]]:
    """The first validators this node can reach; else its topology neighbours (its LAN)."""
    sc = world.scenario
    n_val = len(sc.validator_list)
    wanted = [i for i in range(min(sc.peering.bootstrap, n_val)) if i != node.index]
    reachable = [i for i in wanted if world.network.connected(node.index, i)]
    if not reachable:
        reachable = world.network.neighbours(node.index)[: sc.peering.peer_limit]
    return [world.nodes[i].endpoint.address for i in reachable]


def attach_plugins_with_accounts(world: World) -> GenesisTables:
    """Each node's account on its context, then the scenario's plugins (each plugin's context copies the account),
    then the genesis of the world's keys."""
    for node in world.nodes:
        node.context.account = account_of(node.key.pub().key_to_bin()).hex()
    world.attach_scenario_plugins()
    return genesis_tables(world.scenario, [bytes(n.key.pub().key_to_bin()) for n in world.nodes])


class HonestProtocol(WorldProtocol):
    name = "honest"

    def prepare(self, world: World) -> None:
        sc = world.scenario
        g = attach_plugins_with_accounts(world)
        self.balances, self.stakes, self.names = g.balances, g.stakes, g.names
        self.stores: dict[int, MemoryStore] = {}
        for node in world.nodes:
            self.stores[node.index] = MemoryStore()
        self.channel_stores = {node.index: ChannelStore() for node in world.nodes}
        world.emit("genesis", **genesis_fields(
            sc, g, {n.name: n.plugin_names for n in world.nodes if n.plugin_names}))
        self.channel_plan = ChannelPlan.build(world, self.balances) if sc.channels.enabled else None

    def create(self, world: World, node: NodeRuntime) -> Community:
        sc = world.scenario
        spec = sc.roles()[node.index][1]
        price = getattr(spec, "price", 50)
        env = NodeEnv(
            index=node.index, role=node.role, team=node.team, clock=world.loop.time,
            rng=world.streams.get(f"node:{node.index}"), record=world.emit, hooks=node.hooks,
        )
        settings = HonestSettings(
            my_peer=Peer(node.key), endpoint=node.endpoint, network=Network(), max_peers=sc.peering.peer_limit,
            env=env, config=node_config(sc, price), genesis_balances=self.balances, genesis_stakes=self.stakes,
            store=self.stores[node.index], bootstrap=bootstrap_addresses(world, node), address=node.endpoint.address,
            channel_store=self.channel_stores[node.index],
        )
        community = HonestNode(settings)
        community.start()
        return community

    def after_start(self, world: World) -> None:
        self._schedule_workload(world)
        if self.channel_plan is not None:
            self.channel_plan.schedule(world)

    def on_restart(self, world: World, node: NodeRuntime) -> None:
        """The recreated node already announced itself to its bootstrap peers in ``start``."""

    # -- workload ------------------------------------------------------------------------------------------------
    def _schedule_workload(self, world: World) -> None:
        for item in workload_schedule(world.scenario, world.streams.get("workload")):
            payer = world.nodes[item.payer]
            if item.kind == "pay":
                world.loop.call_at(item.t, self._pay, world, payer, world.nodes[item.target], item.amount, item.fee,
                                   context=payer.endpoint.context)
            else:
                world.loop.call_at(item.t, self._buy, world, payer, world.nodes[item.target], item.fee,
                                   context=payer.endpoint.context)

    def _pay(self, world: World, payer: NodeRuntime, receiver: NodeRuntime, amount: int, fee: int) -> None:
        node = payer.community
        if payer.up and isinstance(node, HonestNode):
            node.pay(account_of(public_key_of(receiver.key)), amount, fee)

    def _buy(self, world: World, buyer: NodeRuntime, merchant: NodeRuntime, fee: int) -> None:
        node = buyer.community
        m = merchant.community
        if buyer.up and isinstance(node, HonestNode) and isinstance(m, HonestNode):
            node.buy(merchant.endpoint.address, m.account, m.config.price, fee)

    # -- results -------------------------------------------------------------------------------------------------
    def node_state(self, node: NodeRuntime) -> dict[str, Any]:
        c = node.community
        assert isinstance(c, HonestNode)
        return honest_node_state(c, node.name, node.index, node.role, node.team, node.up)

    def write_states(self, world: World, out_dir: Path) -> None:
        states = out_dir / "states"
        states.mkdir(exist_ok=True)
        for node in world.nodes:
            if isinstance(node.community, HonestNode):
                (states / f"{node.name}.json").write_text(json.dumps(self.node_state(node), sort_keys=True) + "\n")

    def final_state(self, world: World) -> dict[str, Any]:
        from arena.referee.outcome import summarize

        states = [self.node_state(n) for n in world.nodes if isinstance(n.community, HonestNode)]
        out = summarize(states, self.names_hex(), {self.names[a]: s for a, s in self.stakes.items()})
        out.update(channel_results(states, out.get("canonical_validator")))
        return out

    def names_hex(self) -> dict[str, str]:
        return {a.hex(): n for a, n in self.names.items()}

    def judge(self, out_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
        from arena.referee.checkers import judge_run_dir

        return judge_run_dir(out_dir).as_result()


def honest_node_state(c: HonestNode, name: str, index: int, role: str, team: str, up: bool) -> dict[str, Any]:
    """The final state of one honest node as the referee reads it (``states/<name>.json``)."""
    out: dict[str, Any] = {"name": name, "index": index, "role": role, "team": team,
                           "account": c.account.hex(), "up": up, "drops": dict(sorted(c.drops.items())),
                               "sent": dict(sorted(c.sent.items())),
                               "relayed": dict(sorted(c.gossip.relayed.items())),
                           "peers": len(c.peers), "gossip_duplicates": c.gossip.duplicates}
    if role == "validator":
        if c.config.consensus == "none":
            out.update(ledger=c.ledger.snapshot(), applied=len(c.applied), head_height=0, finalized_height=0,
                       supply=c.ledger.supply(), minted=c.ledger.minted, burned=c.ledger.burned,
                       genesis_supply=c.ledger.genesis_supply)
        else:
            tree = c.tree
            fin_state = tree.state(tree.finalized)
            assert fin_state is not None
            chain = tree.chain(tree.finalized)
            votes = tree.counted_votes()
            out.update(
                head=c.head.hex(), head_height=tree.height_of(c.head) or 0, finalized=tree.finalized.hex(),
                finalized_height=tree.finalized_height, ledger=fin_state.snapshot(),
                supply=fin_state.supply(), minted=fin_state.minted, burned=fin_state.burned,
                genesis_supply=fin_state.genesis_supply, forks_seen=tree.forks_seen(),
                blocks_proposed=c.blocks_proposed, mempool=len(c.mempool),
                chain=[block_record(b, votes.get(b.block_hash, ())) for b in chain],
                evidence=len(getattr(tree, "evidence", [])), channel_counts=c.settlements.summary(),
            )
    else:
        out.update(delivered=list(c.delivered), received_goods=c.received_goods,
                   best_header_height=c.best_header_height, known_balance=c.known_balance)
        if c.channels.channels or c.channels.stats.attempted:
            out.update(c.channels.summary())
    return out
