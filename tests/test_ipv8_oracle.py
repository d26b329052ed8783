"""py-ipv8's own tests as an oracle: its Community, peer-discovery and DHT tests pass on the arena simulator
(virtual-time loop, simulated endpoint), and every test of py-ipv8 that cannot run there is listed with a reason."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arena.ipv8_oracle import SKIPS, skip_reason

ROOT = Path(__file__).resolve().parent.parent
ORACLE_MODULES = ["ipv8.test.test_community", "ipv8.test.peerdiscovery", "ipv8.test.dht"]
#: The number of tests in those modules in py-ipv8 3.2.1 (the version this project pins).
EXPECTED_TESTS = 121


def run_pytest(*args: str, cwd: Path = ROOT) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", "-p", "arena.ipv8_oracle", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-q", *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    return out.returncode, out.stdout + out.stderr


def counts(output: str) -> dict[str, int]:
    """The final summary line ("121 passed, 2 skipped in 5.0s") as {"passed": 121, "skipped": 2}."""
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)][-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)",
                                                   summary)}


@pytest.mark.slow  # 121 of py-ipv8's tests in a child pytest: CI runs it
def test_py_ipv8_community_discovery_and_dht_tests_pass_on_the_simulator() -> None:
    code, output = run_pytest("--pyargs", *ORACLE_MODULES)
    assert code == 0, output[-6000:]
    assert counts(output) == {"passed": EXPECTED_TESTS}, output[-3000:]
    # Every test ran on its own virtual loop, and py-ipv8's mock endpoints were the simulator's.
    line = re.search(r"ipv8-oracle: (\d+) tests, (\d+) virtual loops, (\d+) simulated endpoints, .* epoch (\d+)",
                     output)
    assert line is not None, output[-3000:]
    tests, loops, endpoints, epoch = map(int, line.groups())
    assert tests == loops == EXPECTED_TESTS
    assert endpoints >= 100
    assert epoch > 1_000_000_000  # a realistic Unix time: py-ipv8 takes 0 to mean "never"


PROBE = '''
    import asyncio
    import time

    import ipv8.peer
    from ipv8.test.base import TestBase
    from ipv8.test.mocking.community import MockCommunity
    from ipv8.test.mocking.endpoint import AutoMockEndpoint

    from arena.ipv8_oracle import ORACLE_EPOCH, OracleLoop, state
    from arena.sim.endpoint import SimEndpoint
    from arena.sim.loop import VirtualLoop


    class TestProbe(TestBase):
        def setUp(self) -> None:
            super().setUp()
            self.future = asyncio.Future()  # made in a synchronous setUp: must be on the test's loop
            self.initialize(MockCommunity, 2)

        async def test_runs_on_the_simulator(self) -> None:
            assert isinstance(self.loop, VirtualLoop) and isinstance(self.loop, OracleLoop)
            assert state.loop is self.loop
            assert self.future.get_loop() is self.loop
            assert issubclass(AutoMockEndpoint, SimEndpoint)
            for i in range(2):
                endpoint = self.endpoint(i)
                assert isinstance(endpoint, SimEndpoint)
                assert endpoint.network is self.loop.network
            assert ipv8.peer.time() == ORACLE_EPOCH + self.loop.time()
            before = self.loop.network.stats.delivered
            await self.introduce_nodes()
            assert self.loop.network.stats.delivered > before  # the packets went through the simulated network
            await asyncio.sleep(3600)  # virtual: costs nothing
            assert ipv8.peer.time() == ORACLE_EPOCH + self.loop.time() >= ORACLE_EPOCH + 3600
            assert abs(time.time() - ipv8.peer.time()) > 1000  # the real clock is not py-ipv8's


    def test_the_fixture_shows_the_plugin(ipv8_oracle) -> None:
        assert ipv8_oracle is state
        assert ipv8_oracle.crypto == "arena"
'''


def test_the_plugin_runs_tests_on_the_virtual_loop_and_simulated_endpoint(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(textwrap.dedent(PROBE))
    code, output = run_pytest(str(probe), cwd=tmp_path)
    assert code == 0, output[-6000:]
    assert counts(output) == {"passed": 2}, output[-3000:]


def _definitions(path: Path) -> set[str]:
    """``Class`` and ``Class::method`` (and top-level ``function``) names defined in a Python file."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            names.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
    return names


def test_every_skip_names_an_existing_test_and_gives_a_reason() -> None:
    assert SKIPS
    for key, reason in SKIPS.items():
        assert key.startswith("ipv8.test"), key
        assert isinstance(reason, str) and 10 <= len(reason.strip()) <= 200, key
        module, _, rest = key.partition("::")
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, f"{key}: no module {module}"
        if rest:
            assert rest in _definitions(Path(spec.origin)), f"{key}: {rest} is not defined in {module}"
        assert skip_reason((module, *rest.split("::")) if rest else (module,)) == reason


def test_skip_reason_covers_packages_classes_and_tests() -> None:
    assert skip_reason(("ipv8.test.REST.test_network_endpoint",)) == SKIPS["ipv8.test.REST"]
    assert skip_reason(("ipv8.test.REST.test_network_endpoint", "TestX", "test_y")) == SKIPS["ipv8.test.REST"]
    assert skip_reason(("ipv8.test.test_community", "TestCommunityCompatibility", "test_x")) is None
    assert skip_reason(("ipv8.test.RESTless",)) is None
