"""py-ipv8's own test suite as an oracle for the simulator: ``pytest -p arena.ipv8_oracle --pyargs ipv8.test...``.

With this plugin every test runs as it does on the arena:

* each ``unittest.IsolatedAsyncioTestCase`` (py-ipv8's ``TestBase`` included) gets a fresh :class:`OracleLoop`, a
  :class:`~arena.sim.loop.VirtualLoop`: time moves only when nothing is ready, and ``asyncio.sleep`` costs nothing;
* py-ipv8's ``MockEndpoint``/``AutoMockEndpoint`` are replaced by subclasses of the simulator's
  :class:`~arena.sim.endpoint.SimEndpoint` (same constructor, addresses and checks), so every packet travels
  through the loop's :class:`~arena.sim.network.SimNetwork` with a small latency instead of ``call_soon``;
* py-ipv8's wall clock and global random are the simulator's (:func:`arena.sim.ipv8_patches.virtual_ipv8`): the
  clock reads :data:`ORACLE_EPOCH` plus the test's virtual time, the random stream is seeded by the test's id,
  and signatures go through the arena's crypto backend (``--ipv8-oracle-crypto=stock`` leaves py-ipv8's).

Tests that cannot run there are skipped with the reason given in :data:`SKIPS` (one entry per module, class or
test). The terminal summary ends with a line counting the virtual loops and simulated endpoints the run made.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import unittest
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ipv8.test.mocking import endpoint as mock_endpoint
from ipv8.test.mocking.endpoint import AutoMockEndpoint as _AutoMockEndpoint
from ipv8.test.mocking.endpoint import MockEndpoint as _MockEndpoint

from arena.scenario.model import DEFAULT_EPOCH
from arena.sim.endpoint import SimEndpoint
from arena.sim.ipv8_patches import virtual_ipv8
from arena.sim.loop import VirtualLoop
from arena.sim.network import Address, LinkSpec, SimNetwork, new_context

__all__ = ["ORACLE_EPOCH", "ORACLE_LATENCY", "SKIPS", "OracleAutoMockEndpoint", "OracleLoop", "OracleMockEndpoint",
           "OracleState", "state"]

#: What py-ipv8's ``time.time()`` reads at virtual second 0 of every test.
ORACLE_EPOCH = DEFAULT_EPOCH
#: One-way latency of every simulated link (virtual seconds). ``TestBase.deliver_messages`` returns after two idle
#: polls 10 ms apart, so a request/answer chain must fit in that: py-ipv8's mock delivers with no latency at all.
ORACLE_LATENCY = 0.0005

#: Tests that do not run on the simulator: ``module``, ``module::Class`` or ``module::Class::test`` -> the reason.
#: A dotted package or module name covers every module under it (a module listed whole is reported as skipped at
#: collection, so that one that cannot even be imported here is not an error).
SKIPS: dict[str, str] = {
    "ipv8.test.REST": "needs a real aiohttp server on a socket; and aiohttp_apispec does not import in this venv "
                      "(marshmallow 4 has no __version__), so it fails on stock py-ipv8 too",
    "ipv8.test.messaging.interfaces.udp.test_endpoint::TestUDPEndpoint::test_send_invalid_destination":
        "opens real UDP sockets: the virtual loop has no selector",
    "ipv8.test.messaging.interfaces.udp.test_endpoint::TestUDPEndpoint::test_send_many_messages":
        "opens real UDP sockets: the virtual loop has no selector",
    "ipv8.test.messaging.interfaces.udp.test_endpoint::TestUDPEndpoint::test_send_message":
        "opens real UDP sockets: the virtual loop has no selector",
    "ipv8.test.messaging.interfaces.udp.test_endpoint::TestUDPEndpoint::test_send_too_big_message":
        "opens real UDP sockets: the virtual loop has no selector",
    "ipv8.test.messaging.anonymization.test_community::TestTunnelCommunity::test_tunnel_data":
        "listens on a real UDP endpoint for the exit's traffic: the virtual loop has no selector",
    "ipv8.test.messaging.anonymization.test_hiddenservices::TestHiddenServices::test_pex_lookup_exit_is_ip":
        "its exit node opens real UDP sockets (TunnelExitSocket): the virtual loop has no selector",
    "ipv8.test.test_taskmanager::TestTaskManager::test_register_executor_task":
        "expects the work on an executor thread; the virtual loop runs executor work inline, on the loop's thread",
    "ipv8.test.test_taskmanager::TestTaskManager::test_register_executor_task_anon":
        "expects the executor task still running afterwards; the virtual loop runs executor work inline, at once",
}


@dataclass
class OracleState:
    """What the plugin did in this session (read by the terminal summary and by tests)."""

    loops: int = 0
    endpoints: int = 0
    tests: int = 0
    skipped_modules: int = 0
    crypto: str = "arena"
    loop: OracleLoop | None = None


state = OracleState()


class OracleLoop(VirtualLoop):
    """A test's virtual-time loop, with its own simulated network. Exceptions escaping callbacks go to asyncio's
    default handler, as on a stock loop (``TestBase`` installs its own handler in ``setUp``), instead of stopping the
    run as in a battle."""

    def __init__(self) -> None:
        super().__init__()
        self.set_exception_handler(None)
        self.network = SimNetwork(self, seed=0, default_link=LinkSpec(latency=ORACLE_LATENCY))
        self.hosts = itertools.count()
        state.loop = self
        state.loops += 1


def _current_loop() -> OracleLoop:
    loop = state.loop
    if loop is None or loop.is_closed():
        raise RuntimeError("arena.ipv8_oracle: a mock endpoint was made outside an asyncio test case's loop")
    return loop


async def _crash_event_loop(exc: BaseException) -> None:
    raise exc


class OracleMockEndpoint(SimEndpoint, _MockEndpoint):
    """py-ipv8's ``MockEndpoint`` (a LAN and a WAN address, ``open()`` without awaiting, an ``AssertionError`` for
    an unknown address) on the simulated network of the running test's :class:`OracleLoop`."""

    def __init__(self, lan_address: Address, wan_address: Address) -> None:
        _MockEndpoint.__init__(self, lan_address, wan_address)
        self._join_network()

    def _join_network(self) -> None:
        """What ``SimEndpoint.__init__`` does, at both addresses (a later endpoint at an address takes it over,
        as in py-ipv8's ``internet`` dict)."""
        loop = _current_loop()
        network = loop.network
        host = next(loop.hosts)
        self.network = network
        self.address = self.wan_address
        self.host = host
        self.node = f"endpoint{host}"
        self.context = new_context(self.node)
        self.outgoing = None
        self.incoming = None
        self.bytes_up = 0
        self.bytes_down = 0
        for address in {tuple(self.wan_address), tuple(self.lan_address)}:
            network.endpoints[(address[0], address[1])] = self
            network.host_of[(address[0], address[1])] = host
        network.invalidate()
        state.endpoints += 1

    def assert_open(self) -> None:
        assert self._open

    def get_address(self) -> Address:
        return self.wan_address

    def open(self) -> None:  # type: ignore[override]  # py-ipv8's mock opens synchronously
        self._open = True

    def close(self, timeout: float = 0.0) -> None:
        self._open = False

    def send(self, socket_address: Address, packet: bytes) -> None:
        if not self._open:
            return
        if (socket_address[0], socket_address[1]) not in self.network.endpoints:
            exc = AssertionError(f"Attempted to send data to unregistered address {socket_address!r}")
            if self.SEND_INET_EXCEPTION_TO_LOOP:
                asyncio.get_running_loop().create_task(_crash_event_loop(exc))
            raise exc
        SimEndpoint.send(self, socket_address, packet)


class OracleAutoMockEndpoint(OracleMockEndpoint, _AutoMockEndpoint):
    """py-ipv8's ``AutoMockEndpoint`` (random unique addresses) as an :class:`OracleMockEndpoint`."""

    def __init__(self) -> None:
        _AutoMockEndpoint.__init__(self)
        self._join_network()


_REPLACED = {_MockEndpoint: OracleMockEndpoint, _AutoMockEndpoint: OracleAutoMockEndpoint}


def _rebind(mapping: dict[Any, Any]) -> None:
    """Point every name in py-ipv8's loaded test modules that refers to a key of ``mapping`` at its value."""
    import sys

    for name, module in list(sys.modules.items()):
        if (name == "ipv8.test" or name.startswith("ipv8.test.")) and module is not None:
            namespace = vars(module)
            for attr, value in list(namespace.items()):
                if isinstance(value, type) and value in mapping:
                    namespace[attr] = mapping[value]


def _setup_asyncio_runner(self: unittest.IsolatedAsyncioTestCase) -> None:
    """``IsolatedAsyncioTestCase._setupAsyncioRunner`` with the virtual-time loop."""
    assert self._asyncioRunner is None, "asyncio runner is already initialized"  # type: ignore[attr-defined]
    self._asyncioRunner = asyncio.Runner(debug=True, loop_factory=OracleLoop)  # type: ignore[attr-defined]


_saved_runner_setup: Any = None


# ============================================== pytest hooks ====================================================
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipv8-oracle", "py-ipv8's tests on the arena simulator")
    group.addoption("--ipv8-oracle-crypto", choices=("arena", "stock"), default="arena",
                    help="signatures through the arena's crypto backend (default) or py-ipv8's own")


def pytest_configure(config: pytest.Config) -> None:
    global _saved_runner_setup
    config.addinivalue_line("markers", "ipv8_oracle_skip(reason): not run on the arena simulator")
    state.crypto = config.getoption("--ipv8-oracle-crypto")
    mock_endpoint.MockEndpoint = OracleMockEndpoint  # type: ignore[misc]
    mock_endpoint.AutoMockEndpoint = OracleAutoMockEndpoint  # type: ignore[misc]
    _rebind(_REPLACED)
    _saved_runner_setup = unittest.IsolatedAsyncioTestCase.__dict__["_setupAsyncioRunner"]
    unittest.IsolatedAsyncioTestCase._setupAsyncioRunner = _setup_asyncio_runner  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _saved_runner_setup is not None:
        unittest.IsolatedAsyncioTestCase._setupAsyncioRunner = _saved_runner_setup  # type: ignore[attr-defined]
    mock_endpoint.MockEndpoint = _MockEndpoint  # type: ignore[misc]
    mock_endpoint.AutoMockEndpoint = _AutoMockEndpoint  # type: ignore[misc]
    _rebind({new: old for old, new in _REPLACED.items()})


def skip_reason(nodeid_parts: tuple[str, ...]) -> str | None:
    """The :data:`SKIPS` reason for a test named by (module, class, test) or (module, test), or for a module named
    by (module,), if any: the longest entry naming it, or a package above its module."""
    for n in range(len(nodeid_parts), 1, -1):
        reason = SKIPS.get("::".join(nodeid_parts[:n]))
        if reason is not None:
            return reason
    module = nodeid_parts[0].split(".")
    for n in range(len(module), 0, -1):
        reason = SKIPS.get(".".join(module[:n]))
        if reason is not None:
            return reason
    return None


def _module_name(path: Path) -> str:
    """The dotted name of the module at ``path`` (its packages are the folders with an ``__init__.py``)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport | None:
    """A module listed whole in :data:`SKIPS` is reported skipped without being imported."""
    if not isinstance(collector, pytest.Module):
        return None
    reason = skip_reason((_module_name(collector.path),))
    if reason is None:
        return None
    state.skipped_modules += 1
    return pytest.CollectReport(collector.nodeid, "skipped", (str(collector.path), 0, f"Skipped: ipv8-oracle: "
                                                              f"{reason}"), [])


def _parts(item: pytest.Item) -> tuple[str, ...]:
    module = getattr(item, "module", None)
    modname = module.__name__ if module is not None else item.nodeid.split("::")[0]
    cls = getattr(item, "cls", None)
    return (modname, cls.__name__, item.name) if cls is not None else (modname, item.name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        reason = skip_reason(_parts(item))
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"ipv8-oracle: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Setup, call and teardown of one test with py-ipv8 on virtual time (its epoch plus the loop's time) and a
    random stream named after the test."""
    state.loop = None
    state.tests += 1

    def wall_clock() -> float:
        loop = state.loop
        return ORACLE_EPOCH + (loop.time() if loop is not None else 0.0)

    with virtual_ipv8(wall_clock, random.Random(f"ipv8-oracle:{item.nodeid}"), state.crypto == "arena"):
        yield
    state.loop = None


def pytest_report_header(config: pytest.Config) -> str:
    return (f"ipv8-oracle: VirtualLoop + SimEndpoint, epoch {ORACLE_EPOCH:.0f}, latency {ORACLE_LATENCY * 1e3:g} ms, "
            f"crypto {state.crypto}, {len(SKIPS)} skip entries")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"ipv8-oracle: {state.tests} tests, {state.loops} virtual loops, "
                                f"{state.endpoints} simulated endpoints, {state.skipped_modules} modules skipped "
                                f"whole; wall clock from epoch {ORACLE_EPOCH:.0f}")


@pytest.fixture
def ipv8_oracle() -> Iterator[OracleState]:
    """The plugin's state (its current loop while a test runs): for tests checking that the oracle is active."""
    yield state
