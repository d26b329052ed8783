"""Tournaments and sweeps on Dask distributed: a LocalCluster gives the local engine's verdicts and traces, a
resumed tournament runs only the battles whose cell id is missing, a cell id follows the content (plugin source
included), a stored cell replays to its trace hash, and without the extra ``--cluster`` is a one-line exit 2."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arena.experiments import engines
from arena.experiments.cells import RESULTS, CellStore, cell_id, materialize
from arena.experiments.engines import DaskEngine, Engine, LocalEngine
from arena.experiments.replay import replay_cmd
from arena.experiments.sweep import run_sweep, sweep_cmd
from arena.experiments.tournament import NONE, plan, run_tournament, stored_runs, tournament_cmd
from arena.plugin_host.registry import default_registry
from arena.scenario.model import load_scenario

#: 20 s battles: eclipse still beats the undefended control (stolen 50) and peer_diversity still holds
PARAMS = [("duration", 20), ("settle", 5)]
SHORT = ["--param", "duration=20", "--param", "settle=5"]
TINY_ARGS = ["--attacks", "eclipse", "--defenses", "none,peer_diversity", "--seeds", "1", *SHORT]
GOSSIP_SINK = Path(__file__).parent / "red_plugins" / "gossip_sink.py"
TINY_SWEEP = """\
name: tiny_stake
seed: 3
duration: 20
validators: [{stake: 100}, {stake: 100}, {stake: 100}]
light_nodes: 3
genesis_balance: 1000
workload: {rate: 2, amount: [1, 10], fee: 1}
consensus: {mode: pos, slot: 1.0, block_reward: 10, finality: votes}
network: {topology: {kind: complete}, link: {latency: 0.02}}
"""
ECLIPSE = Path(__file__).resolve().parents[1] / "scenarios" / "attack_eclipse.yaml"


def digest(runs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must not depend on the engine: which battle, its id, verdict, stolen and trace hash."""
    return [(r["attack"], r["defense"], r["seed"], r["red"], r["cell_id"], r["verdict"], r["stolen"],
             r["trace_sha256"]) for r in runs]


@pytest.fixture(scope="module")
def dask() -> Iterator[DaskEngine]:
    with DaskEngine("local:2") as engine:
        yield engine


@pytest.fixture(scope="module")
def dask_run(dask: DaskEngine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """eclipse x {none, peer_diversity} x seed 1 plus its baseline, on the LocalCluster, stored as it finished."""
    out = tmp_path_factory.mktemp("dask")
    p = plan(default_registry(), out, ["eclipse"], [NONE, "peer_diversity"], 1, PARAMS)
    return out, run_tournament(p, engine=dask, store=CellStore(out))


@pytest.mark.slow
def test_a_local_cluster_gives_the_verdicts_and_traces_of_the_local_engine(
        dask_run: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    out, on_dask = dask_run
    local = run_tournament(plan(default_registry(), tmp_path, ["eclipse"], [NONE, "peer_diversity"], 1, PARAMS),
                           jobs=1)
    assert len(on_dask) == 3 and digest(on_dask) == digest(local)
    assert {r["verdict"] for r in on_dask if r["red"]} == {"red_won", "blue_won"}
    stored = sorted(p.stem for p in (out / RESULTS).glob("*.json"))
    assert stored == sorted(r["cell_id"] for r in on_dask)  # every battle was written as it finished


@pytest.mark.slow
def test_resume_runs_only_the_cells_whose_results_are_missing(dask: DaskEngine,
                                                              dask_run: tuple[Path, list[dict[str, Any]]],
                                                              tmp_path: Path) -> None:
    out, first = dask_run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    lost = next(r for r in first if r["red"] and r["defense"] == NONE)
    (again / RESULTS / f"{lost['cell_id']}.json").unlink()
    p = plan(default_registry(), again, ["eclipse"], [NONE, "peer_diversity"], 1, PARAMS)
    done = stored_runs(p, CellStore(again))
    assert len(done) == 2
    before = dask.submitted
    runs = run_tournament(p, engine=dask, store=CellStore(again), done=done)
    assert dask.submitted - before == 1
    assert digest(runs) == digest(first)
    assert (again / RESULTS / f"{lost['cell_id']}.json").is_file()
    before = dask.submitted  # nothing missing now: nothing is submitted
    assert digest(run_tournament(p, engine=dask, done=stored_runs(p, CellStore(again)))) == digest(first)
    assert dask.submitted == before


class Lent(Engine):
    """The module's LocalCluster lent to one command: it counts what it is given and is not closed with it."""

    name = "dask"

    def __init__(self, engine: DaskEngine) -> None:
        super().__init__()
        self.engine = engine

    @property
    def describe(self) -> str:
        return self.engine.describe

    def run(self, fn: Any, items: Any) -> Iterator[Any]:
        self.submitted += len(items)
        return self.engine.run(fn, items)


@pytest.mark.slow
def test_the_command_on_local_2_then_resumed_on_local_processes(dask: DaskEngine, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "t"
    # the command's own make_engine (which reads and checks the address) makes its DaskEngine("local:2") here: the
    # module's LocalCluster of two workers, rather than starting a second one (a few seconds of CPU in each worker)
    lent: list[tuple[str, Lent]] = []

    def on_the_module_cluster(address: str) -> Lent:
        lent.append((address, Lent(dask)))
        return lent[-1][1]

    monkeypatch.setattr(engines, "DaskEngine", on_the_module_cluster)
    res = CliRunner().invoke(tournament_cmd, [*TINY_ARGS, "--out", str(out), "--cluster", "local:2"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "tournament.json").read_text())
    ids = [r["cell_id"] for c in doc["cells"] for r in c["runs"]] + [b["cell_id"] for b in doc["baselines"]]
    assert len(set(ids)) == 3 and doc["timing"]["engine"] == "dask local:2"
    assert [(address, engine.submitted) for address, engine in lent] == [("local:2", 3)]  # all three on the cluster
    (out / RESULTS / f"{ids[0]}.json").unlink()
    made: list[Engine] = []

    def spy(cluster: str | None, jobs: int = 1) -> Engine:
        made.append(LocalEngine(jobs))
        return made[-1]

    monkeypatch.setattr("arena.experiments.tournament.make_engine", spy)
    res = CliRunner().invoke(tournament_cmd, [*TINY_ARGS, "--resume", str(out), "-j", "1"])
    assert res.exit_code == 0, res.output
    assert made[0].submitted == 1
    again = json.loads((out / "tournament.json").read_text())
    assert (again["timing"]["ran"], again["timing"]["reused"]) == (1, 2)
    assert [c["counts"] for c in again["cells"]] == [c["counts"] for c in doc["cells"]]


@pytest.mark.slow
def test_a_stored_cell_replays_to_its_trace_hash(dask_run: tuple[Path, list[dict[str, Any]]],
                                                 tmp_path: Path) -> None:
    out, runs = dask_run
    cell = next(r for r in runs if r["red"] and r["defense"] == "peer_diversity")
    copy = tmp_path / "copy"
    shutil.copytree(out / RESULTS, copy / RESULTS)  # the stored results alone: no run directory, no scenario file
    res = CliRunner().invoke(replay_cmd, [str(copy), cell["cell_id"][:12]])
    assert res.exit_code == 0, res.output
    assert f"deterministic: trace sha256 {cell['trace_sha256']}" in res.output
    assert (copy / "replays" / cell["cell_id"][:12] / "trace.jsonl").is_file()
    stored = copy / RESULTS / f"{cell['cell_id']}.json"
    doc = json.loads(stored.read_text())
    doc["summary"]["trace_sha256"] = "0" * 64
    stored.write_text(json.dumps(doc))
    res = CliRunner().invoke(replay_cmd, [str(copy), cell["cell_id"], "--out", str(tmp_path / "r2")])
    assert res.exit_code == 3 and "NOT deterministic" in res.output


def test_replay_of_an_unknown_cell_is_a_one_line_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(replay_cmd, [str(tmp_path), "abc123"])
    assert res.exit_code == 2 and "no cell" in res.output


@pytest.mark.slow
def test_a_sweep_on_a_local_cluster_gives_the_same_rows(dask: DaskEngine, tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SWEEP)
    cases = {"equal": [], "big": [("validators.0.stake", 1000)]}
    before = dask.submitted
    assert run_sweep(str(path), cases, [3, 4], engine=dask) == run_sweep(str(path), cases, [3, 4])
    assert dask.submitted - before == 4  # one task per (case, seed)


def test_the_cell_id_follows_the_scenario_the_plugins_source_and_the_seed(tmp_path: Path) -> None:
    plugin = tmp_path / "gossip_sink.py"
    plugin.write_text(GOSSIP_SINK.read_text())
    sc = load_scenario(ECLIPSE, [("teams.red.plugins", [{"name": "gossip_sink"}])])
    first = cell_id(sc, default_registry([plugin]), 1)
    assert cell_id(sc, default_registry([plugin]), 1) == first  # a content hash: the same content, the same id
    assert len({first, cell_id(sc, default_registry([plugin]), 2),
                cell_id(sc, default_registry([plugin]), 1, red=False)}) == 3
    assert cell_id(load_scenario(ECLIPSE, [("teams.red.plugins", [{"name": "gossip_sink"}]), ("duration", 31)]),
                   default_registry([plugin]), 1) != first
    plugin.write_text(GOSSIP_SINK.read_text() + "\n# a changed line\n")
    assert cell_id(sc, default_registry([plugin]), 1) != first


def test_a_changed_built_in_plugin_changes_the_cell_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.experiments import cells

    reg = default_registry()
    sc = load_scenario(ECLIPSE)
    first = cell_id(sc, reg, 1)
    real = cells.plugin_file

    def edited(info: Any) -> Path:
        path = real(info)
        if info.name != "eclipse":
            return path
        copy = tmp_path / path.name
        copy.write_text(path.read_text() + "\n# edited\n")
        return copy

    monkeypatch.setattr(cells, "plugin_file", edited)
    assert cell_id(sc, reg, 1) != first


def test_a_changed_arena_or_protocol_source_changes_the_cell_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results of an older simulator or referee are not resumed as if they were today's."""
    from arena.experiments import cells

    sc = load_scenario(ECLIPSE)
    reg = default_registry()
    first = cell_id(sc, reg, 1)
    digest = cells.engine_digest()
    assert digest == cells.engine_digest() and len(digest) == 64
    monkeypatch.setattr(cells, "engine_digest", lambda: "0" * 64)  # another build of arena/ or honest/
    assert cell_id(sc, reg, 1) != first


def test_plugin_files_travel_with_the_task(tmp_path: Path) -> None:
    """A worker without the client's files loads the shipped source; where the file is the same, the original."""
    here = tmp_path / "mine.py"
    here.write_text("x = 1\n")
    assert materialize([(str(here), "x = 1\n")]) == (str(here),)
    (elsewhere,) = materialize([(str(tmp_path / "gone" / "mine.py"), "x = 2\n")])
    assert Path(elsewhere).name == "mine.py" and Path(elsewhere).read_text() == "x = 2\n"
    (changed,) = materialize([(str(here), "x = 3\n")])  # same path, other text: never the stale file
    assert changed != str(here) and Path(changed).read_text() == "x = 3\n"


def test_plan_ships_the_resolved_scenario_and_plugin_sources(tmp_path: Path) -> None:
    plugin = tmp_path / "gossip_sink.py"
    plugin.write_text(GOSSIP_SINK.read_text())
    p = plan(default_registry([plugin]), tmp_path, ["eclipse"], [NONE], 1, PARAMS, plugin_files=[str(plugin)])
    job = next(j for j in p.jobs if j.red)
    assert json.loads(job.scenario_json)["duration"] == 20
    assert job.plugin_sources == ((str(plugin), plugin.read_text()),)
    assert len({j.cell_id for j in p.jobs}) == len(p.jobs) == 2


def test_a_worker_with_other_plugin_sources_refuses_the_battle(tmp_path: Path) -> None:
    """The worker computes the cell id again: another battle than the planned one never runs nor is stored."""
    from dataclasses import replace

    from arena.experiments.cells import WorkerMismatch
    from arena.experiments.tournament import run_job

    job = plan(default_registry(), tmp_path, ["eclipse"], [NONE], 1, PARAMS, baseline=False).jobs[0]
    with pytest.raises(WorkerMismatch, match="install the same ipv8-arena"):
        run_job(replace(job, cell_id="0" * 64))
    assert not Path(job.out_dir).exists()


@pytest.mark.parametrize("command, args", [
    (tournament_cmd, TINY_ARGS),
    (sweep_cmd, ["{tiny}", "--seeds", "1"]),
])
def test_without_the_extra_cluster_is_a_one_line_error(command: Any, args: list[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = engines.importlib.import_module

    def no_dask(name: str, *rest: Any) -> Any:
        if name.split(".")[0] in ("distributed", "dask"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *rest)

    monkeypatch.setattr(engines.importlib, "import_module", no_dask)
    (tmp_path / "tiny.yaml").write_text(TINY_SWEEP)
    args = [a.format(tiny=tmp_path / "tiny.yaml") for a in args]
    res = CliRunner().invoke(command, [*args, "--out", str(tmp_path / "o"), "--cluster", "local:2"])
    assert res.exit_code == 2, res.output
    assert "pip install 'ipv8-arena[cluster]'" in res.output
    assert not (tmp_path / "o" / RESULTS).exists()  # nothing ran


@pytest.mark.parametrize("address, message", [("foo", "tcp://HOST:8786 or local:N"), ("local:0", "N >= 1"),
                                              ("local:x", "N >= 1")])
def test_a_bad_cluster_address_is_a_one_line_error(address: str, message: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(tournament_cmd, [*TINY_ARGS, "--out", str(tmp_path), "--cluster", address])
    assert res.exit_code == 2 and message in res.output, res.output
