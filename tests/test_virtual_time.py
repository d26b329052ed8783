"""One virtual time for any Community: inside the simulator every py-ipv8 module reads the scenario's epoch plus
virtual time as its wall clock, and the seeded stream as its global random; the loop is the current event loop."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from typing import Any

import ipv8.community
import ipv8.dht.community
import ipv8.dht.routing
import ipv8.peer
import ipv8.peerdiscovery.churn
import ipv8.taskmanager
import pytest

from arena.plugin_host.registry import Registry
from arena.protocols.base import PingPongProtocol
from arena.scenario.model import DEFAULT_EPOCH, scenario_from_dict
from arena.sim import ipv8_patches
from arena.sim.ipv8_patches import GLOBAL_RANDOM_FUNCS, virtual_time
from arena.sim.loop import VirtualLoop
from arena.sim.world import World

SCENARIO: dict[str, Any] = {"name": "clock", "protocol": "pingpong", "duration": 10, "validators": 3,
                            "light_nodes": 0}


def make_world(**extra: Any) -> World:
    protocol = PingPongProtocol()
    world = World(scenario_from_dict({**SCENARIO, **extra}), protocol, Registry())
    protocol.prepare(world)
    return world


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter (clean ``sys.modules``); it prints one JSON value, returned here."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_py_ipv8_reads_epoch_plus_virtual_time_inside_a_world() -> None:
    world = make_world()
    with world.running():
        assert world.loop.time() == 0.0  # the arena's own clock stays 0-based
        assert ipv8.peer.time() == DEFAULT_EPOCH
        world.loop.run_until(3.25)
        now = DEFAULT_EPOCH + 3.25
        assert ipv8.peer.time() == now  # from time import time
        assert ipv8.community.time() == now
        assert ipv8.peerdiscovery.churn.time() == now
        assert ipv8.taskmanager.time.time() == now  # import time
        assert ipv8.dht.routing.time.time() == now
        assert ipv8.dht.routing.time.time_ns() == int(now * 1e9)
        assert ipv8.dht.routing.time.sleep is time.sleep  # everything else is the real module's
        assert ipv8.dht.routing.random.random is not random.random  # the seeded stream
        assert ipv8.dht.community.os.urandom is not os.urandom  # so are the DHT's token secrets
        assert ipv8.dht.community.os.path is os.path
        # py-ipv8 stamps its peers with that clock.
        peers = [p for n in world.nodes for p in n.community.get_peers()]  # type: ignore[union-attr]
        assert peers
        assert all(DEFAULT_EPOCH <= p.last_response <= now for p in peers)
        world.loop.run_until(7.0)
        assert ipv8.peer.time() == DEFAULT_EPOCH + 7.0


def test_the_scenario_epoch_sets_the_clock() -> None:
    world = make_world(epoch=1234.5)
    with world.running():
        world.loop.run_until(2.0)
        assert ipv8.peer.time() == 1236.5
        assert ipv8.dht.routing.time.time() == 1236.5
        assert world.loop.time() == 2.0


def test_originals_are_restored_after_the_run() -> None:
    world = make_world()
    world.run()
    assert ipv8.peer.time is time.time
    assert ipv8.community.time is time.time
    assert ipv8.community.random is random.random
    assert ipv8.peerdiscovery.churn.sample is random.sample
    assert ipv8.taskmanager.time is time
    assert ipv8.dht.routing.time is time
    assert ipv8.dht.routing.random is random
    assert ipv8.dht.community.os is os
    assert not any(isinstance(f, ipv8_patches._PatchingFinder) for f in sys.meta_path)
    assert not ipv8_patches._ACTIVE


def test_nested_blocks_restore_in_order() -> None:
    with virtual_time(lambda: 1.0, random.Random(1)):
        assert ipv8.peer.time() == 1.0
        with virtual_time(lambda: 2.0, random.Random(2)):
            assert ipv8.peer.time() == 2.0
            assert ipv8.dht.routing.time.time() == 2.0
            assert ipv8.community.random() == random.Random(2).random()
        assert ipv8.peer.time() == 1.0
        assert ipv8.dht.routing.time.time() == 1.0
    assert ipv8.peer.time is time.time
    assert ipv8.dht.routing.time is time


def test_blocks_leaving_out_of_order_leave_no_stand_in_behind() -> None:
    """Two battles in threads of one process: the first to start is the first to end."""
    outer = virtual_time(lambda: 1.0, random.Random(1))
    inner = virtual_time(lambda: 2.0, random.Random(2))
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    assert ipv8.peer.time() == 2.0  # the block still running keeps its clock
    inner.__exit__(None, None, None)
    assert ipv8.peer.time is time.time
    assert ipv8.dht.routing.time is time
    assert ipv8.community.choice is random.choice
    assert not ipv8_patches._ACTIVE


def test_a_module_imported_during_the_run_reads_virtual_time() -> None:
    got = run_python("""
        import json, sys, time, random
        lazy = ["ipv8.attestation.identity.community", "ipv8.messaging.anonymization.pex",
                "ipv8.bootstrapping.dispersy.bootstrapper", "ipv8.messaging.interfaces.statistics_endpoint"]
        from arena.plugin_host.registry import Registry
        from arena.protocols.base import PingPongProtocol
        from arena.scenario.model import scenario_from_dict
        from arena.sim.world import World
        p = PingPongProtocol()
        w = World(scenario_from_dict({"name": "c", "protocol": "pingpong", "duration": 10, "validators": 2,
                                      "light_nodes": 0, "epoch": 5000.0}), p, Registry())
        p.prepare(w)
        before = [m for m in lazy if m in sys.modules]
        with w.running():
            w.loop.run_until(1.5)
            import importlib
            mods = [importlib.import_module(m) for m in lazy]
            inside = [mods[0].time(), mods[1].time.time(), mods[2].time(), mods[3].time.time(),
                      mods[2].choice is random.choice, mods[1].random.random is random.random]
            loaders = [type(m.__loader__).__name__ for m in mods]
        after = [mods[0].time is time.time, mods[1].time is time, mods[2].time is time.time,
                 mods[2].choice is random.choice, mods[3].time is time, mods[1].random is random]
        print(json.dumps({"before": before, "inside": inside, "after": after, "loaders": loaders}))
    """)
    assert got["before"] == []
    assert got["inside"] == [5001.5, 5001.5, 5001.5, 5001.5, False, False]
    assert got["after"] == [True] * 6
    assert got["loaders"] == ["SourceFileLoader"] * 4  # the module keeps its own loader


WALK = """
    import importlib, json, os, pkgutil, random, secrets, sys, time, types
    import ipv8
    from arena.plugin_host.registry import Registry
    from arena.protocols.base import PingPongProtocol
    from arena.scenario.model import scenario_from_dict
    from arena.sim.ipv8_patches import GLOBAL_RANDOM_FUNCS, is_ipv8_module
    from arena.sim.world import World

    def import_all():
        names, failed = [], []
        for info in pkgutil.walk_packages(ipv8.__path__, "ipv8."):
            if info.name == "ipv8.test" or info.name.startswith("ipv8.test."):
                continue
            try:
                importlib.import_module(info.name)
                names.append(info.name)
            except Exception:  # e.g. REST: aiohttp_apispec does not import with this marshmallow
                failed.append(info.name)
        importlib.import_module("ipv8_service")
        return names, failed

    real = {id(time): "time module", id(time.time): "time.time", id(time.time_ns): "time.time_ns",
            id(random): "random module", **{id(f): "random." + n for n, f in GLOBAL_RANDOM_FUNCS.items()},
            id(os): "os module", id(os.urandom): "os.urandom", id(secrets): "secrets module"}

    def real_refs():
        out = []
        for name, mod in sorted(sys.modules.items()):
            if is_ipv8_module(name) and not name.startswith("ipv8.test") and isinstance(mod, types.ModuleType):
                out += [f"{name}.{k} is {real[id(v)]}" for k, v in vars(mod).items() if id(v) in real]
        return out

    MODE = "%s"
    if MODE == "before":
        names, failed = import_all()
    p = PingPongProtocol()
    w = World(scenario_from_dict({"name": "c", "protocol": "pingpong", "duration": 10, "validators": 2,
                                  "light_nodes": 0}), p, Registry())
    p.prepare(w)
    with w.running():
        w.loop.run_until(1.0)
        if MODE == "during":
            names, failed = import_all()
        inside = real_refs()
    after = real_refs()
    print(json.dumps({"names": len(names), "failed": failed, "inside": inside, "after": len(after)}))
"""


@pytest.mark.parametrize("mode", ["before", "during"])
def test_no_py_ipv8_module_reads_the_real_clock_or_random_inside_the_simulator(mode: str) -> None:
    """Every importable py-ipv8 module (``ipv8.test`` aside), imported before the run or during it."""
    got = run_python(WALK % mode)
    assert got["names"] > 100
    # Not importable here: REST (aiohttp_apispec fails with this marshmallow), netifaces and Windows providers.
    assert all(name.startswith(("ipv8.REST.", "ipv8.messaging.interfaces.lan_addresses.")) for name in got["failed"])
    assert got["inside"] == []
    assert got["after"] > 30  # outside the run, they are all the real ones again (so the walk does see them)


def test_a_runner_made_loop_is_the_current_loop() -> None:
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        loop = runner.get_loop()
        assert asyncio.get_event_loop() is loop
        future: asyncio.Future[int] = asyncio.Future()  # what a synchronous setUp does
        assert future.get_loop() is loop

        async def main() -> int:
            await asyncio.sleep(30)
            loop.call_soon(future.set_result, 7)
            return await future

        assert runner.run(main()) == 7
        assert loop.time() == 30.0
    assert loop.is_closed()
    assert asyncio.get_event_loop_policy()._local._loop is None  # type: ignore[attr-defined]


def test_closing_a_loop_that_is_no_longer_current_leaves_the_current_one() -> None:
    first = VirtualLoop()
    second = VirtualLoop()
    assert asyncio.get_event_loop() is second
    first.close()
    assert asyncio.get_event_loop() is second
    second.close()
    assert asyncio.get_event_loop_policy()._local._loop is None  # type: ignore[attr-defined]


def test_global_random_functions_are_all_found() -> None:
    assert {"random", "getrandbits", "choice", "sample", "randint", "shuffle", "uniform"} <= set(GLOBAL_RANDOM_FUNCS)


def test_the_honest_node_stamps_py_ipv8_peers_with_py_ipv8s_clock() -> None:
    """A peer py-ipv8 verified is kept alive by the honest node in py-ipv8's own clock (epoch-based here), not in the
    battle's 0-based time: else py-ipv8's churn would see it 1.7e9 s stale."""
    import honest_kit as hk
    from ipv8.keyvault.crypto import default_eccrypto
    from ipv8.peer import Peer

    world = hk.build(hk.scenario(duration=4, validators=2, light_nodes=0, workload={"rate": 0}))
    with world.running():
        world.loop.run_until(2.0)
        node = hk.node(world, 0)
        other = world.nodes[1].endpoint.address
        peer = Peer(default_eccrypto.generate_key("curve25519").pub(), other)
        node.network.add_verified_peer(peer)
        peer.last_response = 0.0
        node._touch_ipv8_peer(other)
        assert peer.last_response == pytest.approx(world.scenario.epoch + 2.0)
