"""The plan of a live battle: every node's address and public key, who bootstraps from whom, process groups.

Everything a process needs to run its share of the battle is in the plan (and serialises to JSON for a worker).
Keys come from the seed exactly as in the simulator (``node_key``), so accounts and the genesis match: fine for a
rehearsal, never for a real battle (the seed is public). On battle day a *roster* file replaces the seed-derived
public keys and loopback addresses of the nodes it lists; ``arena node`` without ``--rehearsal`` refuses a plan in
which any node keeps its seed-derived key.
"""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from arena.protocols.honest import GenesisTables, genesis_tables
from arena.runtime.keys import node_key
from arena.runtime.topology import build_topology
from arena.scenario.model import Scenario, scenario_from_dict
from arena.scenario.yamlsource import ScenarioError

Address = tuple[str, int]
LOOPBACK = "127.0.0.1"
#: How a plan gives nodes their IPs: all on ``LOOPBACK`` (``shared``), or node *i* on 127.0.0.(i+2) (``per_node``:
#: each node its own address, as on a LAN where every team has a machine; the guard then limits each node's IP).
HOSTS = ("shared", "per_node")
MAX_PER_NODE = 253  # 127.0.0.2 .. 127.0.0.254


def per_node_host(index: int) -> str:
    """Node ``index``'s own loopback address under ``hosts: per_node`` (127.0.0.1 stays the organiser's)."""
    if not 0 <= index < MAX_PER_NODE:
        raise ScenarioError(f"per-node hosts: node {index} does not fit in 127.0.0.2..127.0.0.254 "
                            f"(at most {MAX_PER_NODE} nodes)")
    return f"127.0.0.{index + 2}"


def parse_address(text: str, what: str = "address") -> Address:
    """``HOST:PORT`` -> ``(host, port)``; a one-line error naming ``what`` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ScenarioError(f"{what}: {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """``n`` UDP ports free on ``host`` right now, picked at random *below* the kernel's ephemeral range: a socket
    bound to port 0 elsewhere (a test, a py-ipv8 peer) can never take one of them between planning and binding."""
    low, _ = _ephemeral_range()
    pool = range(10_000, low) if low > 10_000 + 4 * n else range(1024, low)
    rng = random.SystemRandom()
    socks: list[socket.socket] = []
    try:
        for port in rng.sample(pool, min(len(pool), 20 * n + 100)):
            if len(socks) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < n:
            raise OSError(f"could not find {n} free UDP ports on {host}")
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class RosterEntry:
    address: Address | None = None
    public_key: bytes | None = None


def load_roster(path: str | Path) -> tuple[dict[str, RosterEntry], float | None]:
    """A roster file (YAML or JSON): ``nodes: {validator0: {address: HOST:PORT, public_key: HEX}}``, ``start_at``."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"roster {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes", {}), dict):
        raise ScenarioError(f"roster {path}: expected a mapping with 'nodes: {{name: {{address, public_key}}}}'")
    out: dict[str, RosterEntry] = {}
    for name, row in (data.get("nodes") or {}).items():
        if not isinstance(row, dict):
            raise ScenarioError(f"roster {path}: nodes.{name} must be a mapping")
        addr = parse_address(str(row["address"]), f"roster nodes.{name}.address") if row.get("address") else None
        pk = None
        if row.get("public_key"):
            try:
                pk = bytes.fromhex(str(row["public_key"]))
            except ValueError:
                raise ScenarioError(f"roster {path}: nodes.{name}.public_key is not hex") from None
        out[str(name)] = RosterEntry(addr, pk)
    start = data.get("start_at")
    return out, float(start) if start is not None else None


@dataclass
class BattlePlan:
    """Addresses and public keys of every node of a scenario, in index order."""

    scenario: Scenario
    seed: int
    addresses: list[Address]
    public_keys: list[bytes]
    _graph: nx.Graph | None = field(default=None, repr=False)

    @classmethod
    def build(cls, scenario: Scenario, seed: int | None = None, base_port: int | None = None,
              host: str = LOOPBACK, roster: dict[str, RosterEntry] | None = None,
              hosts: str = "shared") -> BattlePlan:
        """Seed-derived keys (a rehearsal's; a roster replaces them); ``host:base_port+index``, or with
        ``hosts="per_node"`` node *i* on 127.0.0.(i+2) (free ports when ``base_port`` is None); roster overrides."""
        seed = scenario.seed if seed is None else seed
        n = scenario.node_count
        if hosts not in HOSTS:
            raise ScenarioError(f"hosts {hosts!r}: one of {', '.join(HOSTS)}")
        if base_port is not None and base_port + n - 1 > 65535:
            raise ScenarioError(f"--base-port {base_port}: {n} nodes do not fit below port 65536")
        if hosts == "per_node":
            ips = [per_node_host(i) for i in range(n)]
            ports = [free_ports(1, ip)[0] for ip in ips] if base_port is None else [base_port + i for i in range(n)]
        else:
            ips = [host] * n
            ports = free_ports(n, host) if base_port is None else [base_port + i for i in range(n)]
        addresses = list(zip(ips, ports, strict=True))
        keys = [bytes(node_key(seed, i).pub().key_to_bin()) for i in range(n)]
        names = [f"{r}{i}" for i, (r, _) in enumerate(scenario.roles())]
        for name, entry in (roster or {}).items():
            if name not in names:
                raise ScenarioError(f"roster names {name!r}, but the scenario's nodes are {names[0]}..{names[-1]}")
            i = names.index(name)
            if entry.address is not None:
                addresses[i] = entry.address
            if entry.public_key is not None:
                keys[i] = entry.public_key
        return cls(scenario, seed, addresses, keys)

    # -- views -------------------------------------------------------------------------------------------------------
    def name(self, index: int) -> str:
        return f"{self.scenario.roles()[index][0]}{index}"

    def role(self, index: int) -> str:
        return self.scenario.roles()[index][0]

    def team(self, index: int) -> str:
        return self.scenario.roles()[index][1].team

    def price(self, index: int) -> int:
        return int(getattr(self.scenario.roles()[index][1], "price", 50))

    @property
    def graph(self) -> nx.Graph:
        if self._graph is None:
            topo = self.scenario.network.topology
            try:
                self._graph = build_topology(topo.kind, self.scenario.node_count, seed=self.seed, params=topo.params,
                                             edges=topo.edges)
            except ValueError as exc:
                raise ScenarioError(f"network.topology: {exc}") from exc
        return self._graph

    def connected(self, a: int, b: int) -> bool:
        return a == b or self.graph.has_edge(a, b)

    def bootstrap(self, index: int) -> list[Address]:
        """As the simulator: the first validators this node has a link to; else its topology neighbours."""
        sc = self.scenario
        n_val = len(sc.validator_list)
        wanted = [i for i in range(min(sc.peering.bootstrap, n_val)) if i != index]
        reachable = [i for i in wanted if self.connected(index, i)]
        if not reachable:
            reachable = sorted(self.graph.neighbors(index))[: sc.peering.peer_limit] if index in self.graph else []
        return [self.addresses[i] for i in reachable]

    def genesis(self) -> GenesisTables:
        return genesis_tables(self.scenario, self.public_keys)

    def index_by_address(self) -> dict[Address, int]:
        return {a: i for i, a in enumerate(self.addresses)}

    def plugin_names(self, red_enabled: bool = True) -> dict[str, list[str]]:
        """Plugins attached to each node by the scenario (the genesis event lists them, as in the simulator)."""
        teams = self.scenario.teams
        out: dict[str, list[str]] = {}
        for i, (_, spec) in enumerate(self.scenario.roles()):
            if spec.team == "red" and not red_enabled:
                continue
            team = teams.red if spec.team == "red" else teams.blue
            uses = [u.name for u in [*team.plugins, *spec.plugins]]
            if uses:
                out[self.name(i)] = uses
        return out

    def red_budget_share(self, indices: list[int]) -> int:
        """Sybils the red nodes among ``indices`` may create: the team budget split evenly over red nodes."""
        red = [i for i in range(self.scenario.node_count) if self.team(i) == "red"]
        total = self.scenario.teams.red.budget.sybils
        if not red:
            return 0
        base, extra = divmod(total, len(red))
        return sum(base + (1 if k < extra else 0) for k, i in enumerate(red) if i in indices)

    # -- process groups --------------------------------------------------------------------------------------------
    def groups(self, processes: int) -> list[list[int]]:
        """Nodes per OS process: a node that a crash/restart event names runs alone (a crash kills its process);
        red nodes share one process (their Sybil budget is shared); the rest are dealt round-robin."""
        n = self.scenario.node_count
        alone = sorted({i for ev in self.scenario.events for i in (ev.crash, ev.restart) if i is not None})
        red = [i for i in range(n) if self.team(i) == "red" and i not in alone]
        rest = [i for i in range(n) if i not in alone and i not in red]
        k = max(1, processes - len(alone))
        shared: list[list[int]] = [[] for _ in range(k)]
        if red:
            shared[0].extend(red)
        for j, i in enumerate(rest):
            shared[(j + (1 if red and k > 1 else 0)) % k].append(i)
        return [g for g in [*([i] for i in alone), *shared] if g]

    # -- serialisation ---------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.model_dump(mode="json"), "seed": self.seed,
                "addresses": [list(a) for a in self.addresses], "public_keys": [k.hex() for k in self.public_keys]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BattlePlan:
        return cls(scenario_from_dict(data["scenario"]), int(data["seed"]),
                   [(str(a[0]), int(a[1])) for a in data["addresses"]], [bytes.fromhex(k) for k in data["public_keys"]])

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


__all__ = ["HOSTS", "LOOPBACK", "BattlePlan", "RosterEntry", "free_ports", "load_roster", "parse_address",
           "per_node_host"]
