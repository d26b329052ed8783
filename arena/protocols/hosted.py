"""Running a team's protocol (:class:`arena.protocols.api.Protocol`) in a world, the same way as the honest one.

The arena does for it what it does for the honest protocol: the genesis event, the seeded workload (through
``Protocol.pay`` / ``Protocol.buy``), each node's plugins, the message boundary on its endpoint (the message and
packet hooks, strict decoding of what arrives: :mod:`arena.runtime.message_boundary`), crashes and restarts with
the node's ``durable`` dict kept, and the final states. The identity fields of a state (name, index, role, team,
account, up) are the arena's, whatever the protocol wrote; the verdict comes from the same referee.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ipv8.community import Community

from arena.protocols.api import Genesis, NodeSetup, Protocol
from arena.protocols.base import WorldProtocol
from arena.protocols.honest import (
    attach_plugins_with_accounts,
    bootstrap_addresses,
    genesis_fields,
    node_config,
    workload_schedule,
)
from arena.runtime.message_boundary import MessageBoundary, guard_handlers, where
from arena.sim.loop import SimulationError
from honest.env import NodeEnv, NodeHooks
from honest.schema import account_of, public_key_of

if TYPE_CHECKING:
    from arena.sim.world import NodeRuntime, World

#: Keys of a state file the arena fills in itself.
IDENTITY = ("name", "index", "role", "team", "account", "up")


#: Hooks the arena calls itself for a team's protocol: the genesis when the node is made, the message hooks at the
#: endpoint boundary.
ARENA_CALLED = frozenset({"arena_genesis", "arena_outgoing_message", "arena_incoming_message"})


class TeamHooks:
    """``env.hooks`` of a team's protocol. What the arena does itself (:data:`ARENA_CALLED`) is not done twice when
    the implementation also asks (the honest node through the API does): those calls are no-ops here, and ``has``
    says no. Every decision and veto hook passes through to the node's hook caller."""

    def __init__(self, hooks: NodeHooks) -> None:
        self._hooks = hooks

    def has(self, name: str) -> bool:
        return name not in ARENA_CALLED and self._hooks.has(name)

    def genesis(self, stakes: dict[bytes, int], balances: dict[bytes, int]) -> None:
        return None

    def outgoing_message(self, message: Any) -> None:
        return None

    def incoming_message(self, message: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hooks, name)


def env_hooks(hooks: NodeHooks) -> NodeHooks:
    return cast("NodeHooks", TeamHooks(hooks))


class StateError(RuntimeError):
    """A protocol's ``node_state`` returned something that is not a JSON object of the contract's kind."""


class HostedProtocol(WorldProtocol):
    """A world protocol around one team protocol instance."""

    def __init__(self, impl: Protocol, ref: str) -> None:
        self.impl = impl
        self.ref = ref
        self.name = impl.name or ref

    # -- before the run --------------------------------------------------------------------------------------------
    def prepare(self, world: World) -> None:
        sc = world.scenario
        g = attach_plugins_with_accounts(world)
        self.genesis = Genesis.of(g.balances, g.stakes, g.names)
        self.names = g.names
        self.durable: dict[int, dict[str, Any]] = {n.index: {} for n in world.nodes}
        self.setups: dict[int, NodeSetup] = {}
        self.boundaries: dict[int, MessageBoundary] = {}
        fields = genesis_fields(sc, g, {n.name: n.plugin_names for n in world.nodes if n.plugin_names},
                                self.impl.leader_schedule)
        fields["protocol"] = self.name
        world.emit("genesis", **fields)

    # -- nodes -----------------------------------------------------------------------------------------------------
    def create(self, world: World, node: NodeRuntime) -> Community:
        sc = world.scenario
        spec = sc.roles()[node.index][1]
        env = NodeEnv(index=node.index, role=node.role, team=node.team, clock=world.loop.time,
                      rng=world.streams.get(f"node:{node.index}"), record=world.emit, hooks=env_hooks(node.hooks))
        setup = NodeSetup(index=node.index, name=node.name, role=node.role, team=node.team, key=node.key,
                          endpoint=node.endpoint, address=node.endpoint.address,
                          bootstrap=bootstrap_addresses(world, node), genesis=self.genesis,
                          config=node_config(sc, getattr(spec, "price", 50)), env=env,
                          durable=self.durable[node.index], restarted=node.index in self.setups)
        boundary = self.boundaries.get(node.index)
        if boundary is None:
            boundary = self.boundaries[node.index] = MessageBoundary(node.index, node.key, node.hooks, world.emit)
        node.endpoint.outgoing = boundary.outgoing
        node.endpoint.incoming = boundary.incoming
        self.setups[node.index] = setup
        try:
            community = self.impl.create_node(setup)
        except Exception as exc:
            raise SimulationError(failure(self.impl, "create_node", exc), node.name) from exc
        if not isinstance(community, Community):
            raise SimulationError(f"{type(self.impl).__name__}.create_node returned {type(community).__name__}, "
                                  "not a py-ipv8 Community", node.name)
        guard_handlers(community, boundary.handler_error)
        if not setup.restarted and node.hooks.has("arena_genesis"):  # the arena's knowledge: it tells the plugins
            node.hooks.genesis(stakes=dict(self.genesis.stakes), balances=dict(self.genesis.balances))
        return community

    def after_start(self, world: World) -> None:
        for item in workload_schedule(world.scenario, world.streams.get("workload")):
            payer = world.nodes[item.payer]
            world.loop.call_at(item.t, self._work, world, payer, world.nodes[item.target], item.kind, item.amount,
                               item.fee, context=payer.endpoint.context)

    def _work(self, world: World, payer: NodeRuntime, target: NodeRuntime, kind: str, amount: int,
              fee: int) -> None:
        if not payer.up or payer.community is None:
            return
        try:
            if kind == "pay":
                self.impl.pay(payer.community, account_of(public_key_of(target.key)), amount, fee)
            else:
                price = int(getattr(world.scenario.roles()[target.index][1], "price", 50))
                self.impl.buy(payer.community, target.endpoint.address, account_of(public_key_of(target.key)),
                              price, fee)
        except Exception as exc:  # the implementation's bug: the run fails, naming the node and the line
            what = failure(self.impl, "pay" if kind == "pay" else "buy", exc, error=False)
            world.loop.call_exception_handler({"message": what, "exception": exc})

    # -- results ---------------------------------------------------------------------------------------------------
    def node_state(self, node: NodeRuntime) -> dict[str, Any] | None:
        setup = self.setups.get(node.index)
        if setup is None or node.community is None:
            return None
        try:
            raw = self.impl.node_state(node.community, setup)
        except Exception as exc:
            raise StateError(f"{failure(self.impl, 'node_state', exc)} (node {node.name})") from exc
        state = checked_state(raw, type(self.impl).__name__)
        state.update(name=node.name, index=node.index, role=node.role, team=node.team,
                     account=setup.account.hex(), up=node.up)
        state["wire"] = self.boundaries[node.index].summary()
        return state

    def _states(self, world: World) -> list[dict[str, Any]]:
        return [s for n in world.nodes if (s := self.node_state(n)) is not None]

    def write_states(self, world: World, out_dir: Path) -> None:
        states = out_dir / "states"
        states.mkdir(exist_ok=True)
        for state in self._states(world):
            (states / f"{state['name']}.json").write_text(json.dumps(state, sort_keys=True) + "\n")

    def final_state(self, world: World) -> dict[str, Any]:
        from arena.referee.outcome import summarize

        states = self._states(world)
        out = summarize(states, {a.hex(): n for a, n in self.names.items()},
                        {self.names[a]: s for a, s in self.genesis.stakes.items()})
        out["protocol"] = self.name
        return out

    def judge(self, out_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
        from arena.referee.checkers import judge_run_dir

        return judge_run_dir(out_dir).as_result()


def failure(impl: Protocol, method: str, exc: BaseException, error: bool = True) -> str:
    """``OurChain.pay raised ValueError: no funds (ourchain.py:42)``: the innermost line of the failure that is not
    the arena's own (``error=False``: ``OurChain.pay failed (ourchain.py:42)``, for a report that adds the error)."""
    line = where(exc)
    at = f" ({line})" if line else ""
    if not error:
        return f"{type(impl).__name__}.{method} failed{at}"
    return f"{type(impl).__name__}.{method} raised {type(exc).__name__}: {exc}{at}"


def checked_state(raw: object, who: str) -> dict[str, Any]:
    """``raw`` as a JSON object (a copy), or :class:`StateError` saying why it is not one."""
    if not isinstance(raw, dict):
        raise StateError(f"{who}.node_state returned {type(raw).__name__}, not a dict")
    try:
        text = json.dumps(raw, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateError(f"{who}.node_state: not JSON data ({exc})") from None
    out: dict[str, Any] = json.loads(text)
    for key, value in out.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise StateError(f"{who}.node_state: {key} is not a finite number")
    return out


__all__ = ["HostedProtocol", "StateError", "checked_state"]
