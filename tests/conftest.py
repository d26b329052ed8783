"""How the suite is spread over xdist workers (``pytest -n auto``, the README's command), and compiled files.

* Order: ``live`` tests, then ``slow`` ones, then the rest, each part in the order pytest gave it. Each worker is
  handed the next test when it has one left to run after the current one (xdist's ``loadgroup`` scheduling, with
  the smallest queue), so the long tests start early, the short ones fill in at the end, and no worker is left
  running a long battle while the others are idle.
* Live lanes: a live battle waits on real time for most of its wall time (its node processes need a fraction of a
  core). ``-n auto`` starts ``LIVE_LANES`` workers more than there are cores when live tests are selected; those
  workers take the live tests, the others the simulations, so the cores stay busy and at most ``LIVE_LANES`` live
  battles run at once. Once one kind of test is used up, every worker takes the other. ``-n N`` (N workers, the
  ones beyond the cores being the lanes) and ``PYTEST_XDIST_AUTO_NUM_WORKERS`` are obeyed as they are.
* Groups: tests marked ``xdist_group(NAME)`` run on one worker, one after another (``tests/test_arsenal.py``: tests
  that read one shared battle find it already run). Tests that use a module-scoped fixture of their own module are
  grouped by it without a mark (a module's battle, browser or cluster is built once, not once per worker). xdist's
  own ``--dist loadgroup`` cannot do this with pytest 9 (it renames ``item._nodeid``, which pytest 9 no longer
  reads), so the workers write their groups and live tests to a file the controller's scheduler reads before it
  hands out any test. All this applies to the default
  ``--dist load``; any other ``--dist`` is xdist's own.
* ``PYTHONDONTWRITEBYTECODE`` (some containers set it) is dropped for the session: with it every xdist worker, live
  node process and CLI subprocess compiles the arena from source again, and pytest rewrites it again (the ``arena``
  pytest plugin's distribution is rewritten whole), some 7 s of CPU per worker. The ``__pycache__`` folders this
  leaves are the ones any plain Python run leaves (``.gitignore`` lists them).

Nothing here changes what a test checks: with ``-p no:xdist`` or ``-n 0`` only the order changes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):  # the xdist workers and every subprocess inherit this
    sys.dont_write_bytecode = False

LIVE_LANES = 2  # live battles at once, on workers beyond the cores
_GROUPS_DIR = "arena_groups_dir"  # workerinput key: where the workers write what they collected
_groups_dir = pytest.StashKey[str]()  # the controller's folder for it


# ================================================ how many workers =================================================
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _selects_live(config: pytest.Config) -> bool:
    """Whether ``-m`` lets tests marked ``live`` run (no ``-m``: yes)."""
    markexpr = str(config.getoption("markexpr", "") or "")
    if not markexpr:
        return True
    try:
        from _pytest.mark.expression import Expression

        def matcher(name: str, **_kwargs: object) -> bool:
            return name == "live"

        return bool(Expression.compile(markexpr).evaluate(matcher))  # type: ignore[arg-type]
    except Exception:  # a pytest without that module, or a strange expression: assume live tests run
        return True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or config.option.numprocesses == "logical":
        return None  # xdist's own answer
    return _cores() + (LIVE_LANES if _selects_live(config) else 0)


# ================================================ order, groups, live tests (every process) ========================
def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("live") is not None:
        return 0
    if item.get_closest_marker("slow") is not None:
        return 1
    return 2


def _module_fixture_groups(items: list[pytest.Item]) -> None:
    """Tests that share a module-scoped fixture of their own module (one value per parameter) are put in one
    ``xdist_group``, unless they are marked with one already: otherwise each worker that gets one of them builds the
    fixture again (a battle, a browser, a Dask cluster) and the module's setup is paid once per worker."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys: dict[int, list[str]] = {}
    for i, item in enumerate(items):
        if item.get_closest_marker("xdist_group") is not None:
            continue
        module = item.getparent(pytest.Module)
        info = getattr(item, "_fixtureinfo", None)
        if module is None or info is None:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        mine = []
        for name in info.names_closure:
            for fixturedef in info.name2fixturedefs.get(name, ()):
                if fixturedef.scope == "module" and fixturedef.baseid == module.nodeid:
                    mine.append(f"{module.nodeid}::{name}[{params.get(name, '')}]")
        if mine:
            keys[i] = mine
            for key in mine[1:]:
                parent[find(key)] = find(mine[0])
    for i, mine in keys.items():
        items[i].add_marker(pytest.mark.xdist_group(find(mine[0])))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live, then slow, then the rest, each part in the order pytest gave it (fixture scopes kept together); tests
    sharing a module-scoped fixture in one group."""
    items.sort(key=_rank)
    _module_fixture_groups(items)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """In a worker: write the groups and the live tests before xdist tells the controller what was collected."""
    workerinput = getattr(session.config, "workerinput", None)
    if not isinstance(workerinput, dict) or not workerinput.get(_GROUPS_DIR):
        return
    groups, live = {}, []
    for item in session.items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None:
            groups[item.nodeid] = str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        if item.get_closest_marker("live") is not None:
            live.append(item.nodeid)
    target = Path(workerinput[_GROUPS_DIR]) / f"{workerinput['workerid']}.json"
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps({"groups": groups, "live": live}), encoding="utf-8")
    partial.replace(target)


# ================================================ the controller's scheduler =======================================
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    stash = node.config.stash
    if _groups_dir not in stash:
        stash[_groups_dir] = tempfile.mkdtemp(prefix="arena-xdist-groups-")
    node.workerinput[_GROUPS_DIR] = stash[_groups_dir]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _groups_dir in config.stash:
        shutil.rmtree(config.stash[_groups_dir], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist other than load: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """One unit of work per test or per group (biggest groups first, then the collection's order); a worker
        gets its next unit when it has one test left after the one it runs; lane workers prefer live units, the
        others the rest."""

        groups: dict[str, str] | None = None
        live: frozenset[str] = frozenset()

        def schedule(self) -> None:
            if self.groups is None:  # every worker has collected (and written its file) by now
                groups: dict[str, str] = {}
                live: set[str] = set()
                folder = self.config.stash.get(_groups_dir, None)
                for path in sorted(Path(folder).glob("*.json")) if folder else []:
                    found = json.loads(path.read_text(encoding="utf-8"))
                    groups.update(found["groups"])
                    live.update(found["live"])
                self.groups, self.live = groups, frozenset(live)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            group = (self.groups or {}).get(nodeid)
            return f"group::{group}" if group is not None else nodeid

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) >= 2:  # the one it runs and the next
                return
            self._assign_work_unit(node)

        def _is_lane(self, node: Any) -> bool:
            """Workers gw0 .. gw(k-1) are the lanes, k the workers beyond the cores."""
            worker = str(getattr(node.gateway, "id", ""))
            return worker[2:].isdigit() and int(worker[2:]) < self.numnodes - _cores()

        def _pick(self, node: Any) -> str:
            if self.numnodes <= _cores():  # no lanes: the order decides
                return next(iter(self.workqueue))
            want_live = self._is_lane(node)
            other = None
            for scope, unit in self.workqueue.items():
                if any(nodeid in self.live for nodeid in unit) == want_live:
                    return scope
                if other is None:
                    other = scope
            assert other is not None
            return other

        def _assign_work_unit(self, node: Any) -> None:
            scope = self._pick(node)
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

    return LaneScheduling(config, log)


# ================================================ shared battles ==================================================
#: ``arena tournament`` over sybil, eclipse x none, peer_diversity, one seed, 45 s battles (4 cells + 2 baselines)
TINY_TOURNAMENT = ["tournament", "--attacks", "sybil,eclipse", "--defenses", "none", "--defenses", "peer_diversity",
                   "--seeds", "1", "-j", "2", "--param", "duration=45", "--param", "settle=10"]


@pytest.fixture(scope="session")
def tiny_tournament(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """:data:`TINY_TOURNAMENT` run once per worker, as ``arena tournament`` (the click result and its ``--out``).
    ``tests/test_tournament.py`` and ``tests/test_scoring.py`` read it (only read: the folder is shared); their tests
    are in the ``tiny_tournament`` xdist group, so it runs once in a session."""
    from click.testing import CliRunner

    from arena.cli.main import main

    out = tmp_path_factory.mktemp("tiny_tournament") / "t"
    return CliRunner().invoke(main, [*TINY_TOURNAMENT, "--out", str(out)]), out


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's first command, ``arena run scenarios/quickstart.yaml`` (the full 90 s battle: red steals), run
    once per worker: its run directory (only read) and what it printed. ``tests/test_story.py`` and
    ``tests/test_report_browser.py`` read it; their tests that do are in the ``quickstart`` xdist group."""
    from click.testing import CliRunner

    from arena.cli.main import main

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.yaml"
    out = tmp_path_factory.mktemp("quickstart") / "run"
    res = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output
