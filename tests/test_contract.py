"""The referee contract (``honest/contract.py``) is locked and kept: the committed ``docs/reference/contract.json`` and
``contract.md`` are the generated ones, a schema change without a ``CONTRACT_VERSION`` bump fails, every ``Recorder``
helper writes exactly its event's fields, a real honest battle's events and states validate against the models,
and the honest code emits no contract event by hand."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ipv8.keyvault.crypto import default_eccrypto

from arena import reference
from arena.reference import contract as page
from arena.reference import markdown
from arena.scenario.model import scenario_from_dict
from arena.sim.runner import run_battle
from honest import contract
from honest.schema import TX_TRANSFER, Block, Tx, account_of

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = ROOT / reference.DOCS_DIR
HONEST = ROOT / "honest"
GENERATED = {page.PATH: lambda: markdown.page(page.render().splitlines()), page.JSON_PATH: page.render_json}
HINT = "bump CONTRACT_VERSION in honest/contract.py if the contract changed, then run `arena reference --write`"


# -- the lock ----------------------------------------------------------------------------------------------------
def committed_json() -> dict[str, Any]:
    path = REF_DIR / page.JSON_PATH
    assert path.is_file(), f"{path} is missing: {HINT}"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", [page.PATH, page.JSON_PATH])
def test_committed_contract_files_are_the_generated_ones(name: str) -> None:
    generated = GENERATED[name]()
    path = REF_DIR / name
    assert path.is_file(), f"{path} is missing: {HINT}"
    assert path.read_text(encoding="utf-8") == generated, (
        f"docs/reference/{name} differs from what honest/contract.py generates: {HINT}")


def test_the_fingerprint_is_the_one_locked_for_the_version() -> None:
    problem = page.lock_problem()
    assert problem is None, problem
    data = committed_json()
    assert data["contract_version"] == contract.CONTRACT_VERSION, f"contract.json names another version: {HINT}"
    assert data["fingerprint"] == page.LOCKED[contract.CONTRACT_VERSION] == page.fingerprint(), HINT
    body = {k: data[k] for k in ("events", "states", "required_events", "arena_events", "$defs")}
    assert page.fingerprint(body) == data["fingerprint"], "contract.json's fingerprint is not its content's"


def test_every_locked_version_is_a_released_one() -> None:
    assert max(page.LOCKED) == contract.CONTRACT_VERSION, "LOCKED holds a version newer than CONTRACT_VERSION"
    assert all(len(fp) == 64 and int(fp, 16) >= 0 for fp in page.LOCKED.values())


@dataclasses.dataclass(frozen=True)
class IntentWithMemo(contract.Intent):
    memo: str = ""


def test_a_schema_change_without_a_version_bump_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    before = page.fingerprint()
    monkeypatch.setitem(contract.EVENTS, "intent", IntentWithMemo)  # a new field
    changed = page.fingerprint()
    assert changed != before
    problem = page.lock_problem()
    assert problem is not None and "bump CONTRACT_VERSION" in problem and "arena reference --write" in problem
    # regenerating the files does not make it pass: the committed json would then differ from the lock
    doc = json.loads(page.render_json())
    assert doc["fingerprint"] == changed != page.LOCKED[doc["contract_version"]]
    # bumping the version without locking its fingerprint is caught too, with the line to add
    monkeypatch.setattr(contract, "CONTRACT_VERSION", contract.CONTRACT_VERSION + 1)
    problem = page.lock_problem()
    assert problem is not None and changed in problem and "LOCKED" in problem
    monkeypatch.setitem(page.LOCKED, contract.CONTRACT_VERSION, changed)
    assert page.lock_problem() is None


def test_the_fingerprint_sees_types_defaults_and_required_events(monkeypatch: pytest.MonkeyPatch) -> None:
    before = page.fingerprint()

    @dataclasses.dataclass(frozen=True)
    class Withheld(contract.BlockWithheld):  # same fields, another default
        slot: int = 0

    monkeypatch.setitem(contract.EVENTS, "withheld", Withheld)
    assert page.fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(contract, "REQUIRED", (*contract.REQUIRED, "tx_rejected"))
    assert page.fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(contract, "ARENA_EVENTS", contract.ARENA_EVENTS[:-1])
    assert page.fingerprint() != before
    monkeypatch.undo()
    assert page.fingerprint() == before


def test_prose_changes_need_only_a_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    before, text = page.fingerprint(), page.render_json()
    monkeypatch.setitem(page.NOTES, "Delivery", {"order": "another wording"})
    assert page.render_json() != text
    assert page.fingerprint() == before


def test_the_schema_is_deterministic_and_complete() -> None:
    assert page.render_json() == page.render_json()
    data = committed_json()
    assert set(data["events"]) == set(contract.EVENTS)
    assert set(data["states"]) == set(contract.STATES) == {"validator", "light", "merchant"}
    assert data["required_events"] == list(contract.REQUIRED)
    assert set(contract.REQUIRED) <= set(contract.EVENTS)
    assert not set(contract.ARENA_EVENTS) & set(contract.EVENTS)
    for ev, cls in contract.EVENTS.items():
        body = data["$defs"][cls.__name__]
        assert body["additionalProperties"] is False, ev  # an event has exactly its fields
        assert list(body["properties"]) == [f.name for f in dataclasses.fields(cls)], ev
    for cls in set(contract.STATES.values()):
        assert data["$defs"][cls.__name__]["additionalProperties"] is True  # implementation-specific keys allowed


def test_every_field_has_a_meaning_and_notes_name_real_fields() -> None:
    for cls in [*page.events(), *page.state_models()]:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [f.name for f in dataclasses.fields(cls) if not page.meaning(cls, f)]
        assert not missing, f"{cls.__name__}: fields without a meaning (a `#:` comment in honest/contract.py): " \
                            f"{missing}"
        stray = set(page.NOTES.get(cls.__name__, {})) - names
        assert not stray, f"arena/reference/contract.py NOTES[{cls.__name__!r}] names no field: {stray}"
    assert set(page.NOTES) <= {c.__name__ for c in [*page.events(), *page.state_models()]}


def test_the_page_names_every_event_helper_and_state() -> None:
    text = (REF_DIR / page.PATH).read_text(encoding="utf-8")
    for ev, cls in contract.EVENTS.items():
        assert f"### `{ev}` (`{cls.__name__}`)" in text
        assert f"env.events.{page.helpers()[ev]}(" in text
    for ev in contract.ARENA_EVENTS:
        assert f"`{ev}`" in text
    for cls in page.state_models():
        assert f"### `{cls.__name__}`" in text
    assert contract.CONTRACT_VERSION == committed_json()["contract_version"]
    assert page.fingerprint() in text


# -- the helpers write exactly their events ----------------------------------------------------------------------
KEY = default_eccrypto.generate_key("curve25519")
OTHER = default_eccrypto.generate_key("curve25519")
TX = Tx.create(KEY, TX_TRANSFER, account_of(OTHER.pub().key_to_bin()), 7, 3, 1)
BLOCK = Block.create(KEY, 5, 9, b"\x01" * 32, [TX], b"\x02" * 32)
SAMPLES: dict[str, Any] = {"Tx": TX, "Block": BLOCK, "bytes": b"\xab" * 32, "int": 4, "str": "code",
                           "bool": True, "int | None": 2}


def sample_args(method: Any) -> dict[str, Any]:
    out = {}
    for name, p in list(inspect.signature(method).parameters.items())[1:]:
        ann = p.annotation if isinstance(p.annotation, str) else p.annotation.__name__
        assert ann in SAMPLES, f"Recorder.{method.__name__}({name}: {ann}): add a sample for {ann}"
        out[name] = SAMPLES[ann]
    return out


def recorder_methods() -> list[str]:
    return [n for n, v in vars(contract.Recorder).items() if inspect.isfunction(v) and not n.startswith("_")]


def test_every_event_has_exactly_one_helper_and_every_helper_an_event() -> None:
    helpers = page.helpers()
    assert set(helpers) == set(contract.EVENTS), "events without a Recorder helper, or helpers of no event"
    assert sorted(helpers.values()) == sorted(recorder_methods())
    assert len(set(helpers.values())) == len(helpers)


@pytest.mark.parametrize("ev", list(contract.EVENTS))
def test_every_helper_emits_exactly_its_dataclass_fields(ev: str) -> None:
    cls = contract.EVENTS[ev]
    written: list[tuple[str, dict[str, Any]]] = []
    rec = contract.Recorder(lambda name, **fields: written.append((name, fields)), 17)
    method = getattr(contract.Recorder, page.helpers()[ev])
    method(rec, **sample_args(method))
    assert len(written) == 1
    name, fields = written[0]
    assert name == ev
    assert list(fields) == [f.name for f in dataclasses.fields(cls)], f"Recorder.{method.__name__} writes other " \
                                                                    f"fields than {cls.__name__}"
    assert fields["node"] == 17
    page.event_adapter(cls).validate_json(json.dumps(fields))  # the types too


def test_the_helpers_write_what_they_are_given() -> None:
    written: list[tuple[str, dict[str, Any]]] = []
    rec = contract.Recorder(lambda name, **fields: written.append((name, fields)), 3)
    rec.intent(TX, "purchase")
    rec.tx_included(TX, BLOCK)
    assert written[0] == ("intent", {"node": 3, "tx": TX.tx_id.hex(), "sender": TX.sender.hex(),
                                     "receiver": TX.receiver.hex(), "amount": 7, "fee": 1, "nonce": 3,
                                     "purpose": "purchase"})
    assert written[1][1] == {"node": 3, "tx": TX.tx_id.hex(), "block": BLOCK.block_hash.hex(), "height": 5}


def test_strict_validation_refuses_wrong_types_and_extra_keys() -> None:
    adapter = page.event_adapter(contract.BlockFinalized)
    good = {"node": 1, "height": 2, "hash": "ab"}
    adapter.validate_json(json.dumps(good))
    for bad in ({**good, "node": True}, {**good, "height": 2.0}, {**good, "extra": 1}, {"node": 1, "height": 2}):
        with pytest.raises(ValueError):
            adapter.validate_json(json.dumps(bad))
    state = page.state_adapter(contract.ClientState)
    ok = {"name": "light4", "index": 4, "role": "light", "team": "blue", "account": "00", "up": True, "mine": [1]}
    state.validate_json(json.dumps(ok))  # implementation-specific keys are allowed
    with pytest.raises(ValueError):
        state.validate_json(json.dumps({**ok, "up": "yes"}))


# -- a real honest battle keeps the contract ---------------------------------------------------------------------
BATTLE: dict[str, Any] = {
    "name": "contract", "seed": 2, "duration": 24, "settle": 6,
    "validators": 4,
    "light_nodes": [{}, {}, {}, {"team": "red", "plugins": [{"name": "double_spend",
                                                             "params": {"attempts": 2, "start": 4, "interval": 4}}]}],
    "merchants": 1, "teams": {"red": {"budget": {"sybils": 1}}}, "genesis_balance": 1000,
    "workload": {"rate": 2, "amount": [1, 20], "fee": 1, "purchases": 0.3},
    "consensus": {"mode": "pos", "slot": 1.0, "block_reward": 10, "finality": "votes"},
    "light": {"confirmations": 0},
    "channels": {"enabled": True, "topology": {"kind": "ring"}, "total_capacity": 2000, "open_at": 2,
                 "payments": {"rate": 2, "amount": [5, 20], "start": 6, "stop": 14}, "close_at": 15,
                 "dispute_window": 2},
    "network": {"topology": {"kind": "complete"}, "link": {"latency": 0.02, "jitter": 0.01}},
}


@pytest.fixture(scope="module")
def battle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contract-battle")
    run_battle(scenario_from_dict(BATTLE), out_dir=out, report=False)
    return out


def trace(run_dir: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    with open(run_dir / "trace.jsonl", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            ev = json.loads(line)
            if "ev" in ev:  # the first line is the run's header
                yield n, ev["ev"], ev


def test_every_contract_event_of_an_honest_battle_validates_strictly(battle: Path) -> None:
    seen: dict[str, int] = {}
    for n, name, ev in trace(battle):
        cls = contract.EVENTS.get(name)
        if cls is None:
            continue
        fields = {k: v for k, v in ev.items() if k not in ("t", "ev")}
        try:
            page.event_adapter(cls).validate_json(json.dumps(fields))
        except ValueError as exc:
            raise AssertionError(f"trace.jsonl:{n}: {name} does not match {cls.__name__}: {exc}") from None
        seen[name] = seen.get(name, 0) + 1
    # the battle reaches the events the verdict needs and the channel events, so the check means something
    wanted = {*contract.REQUIRED, "tx_accepted", "tx_included", "tx_finalized", "propose", "channel_opened",
              "channel_signed", "channel_closed", "channel_settled"}
    assert wanted <= set(seen), f"the battle never emitted {sorted(wanted - set(seen))}"


def test_every_honest_state_file_validates(battle: Path) -> None:
    files = sorted((battle / "states").glob("*.json"))
    assert len(files) == 9
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        cls = contract.STATES[data["role"]]
        try:
            page.state_adapter(cls).validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AssertionError(f"{path.name} does not match {cls.__name__}: {exc}") from None
        if cls is contract.ValidatorState:
            assert len(data["chain"]) == data["finalized_height"] > 0


# -- the honest code emits contract events only through env.events ------------------------------------------------
EMITTERS = ("record", "_record", "emit", "_emit")


def hand_written_events(source: str, where: str) -> list[str]:
    """``where:line: name`` for every call of a trace writer (``record``, ``emit``) naming a contract event."""
    out = []
    for node in ast.walk(ast.parse(source, where)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in EMITTERS:
            continue
        values = [*node.args[:1], *(k.value for k in node.keywords if k.arg in ("ev", "event", "name"))]
        for v in values:
            if isinstance(v, ast.Constant) and v.value in contract.EVENTS:
                out.append(f"{where}:{node.lineno}: {v.value}")
    return out


def test_the_honest_code_emits_contract_events_only_through_env_events() -> None:
    sources = [p for p in sorted(HONEST.rglob("*.py")) if p.name != "contract.py"]
    assert len(sources) > 20
    found = [hit for p in sources
             for hit in hand_written_events(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert not found, "contract events written by hand (use env.events.<helper>):\n" + "\n".join(found)


def test_the_scan_finds_a_hand_written_event() -> None:
    src = ('def f(env, world):\n    env.record("intent", node=1)\n    env.record("tx_refused", node=1)\n'
           '    world.emit("delivery", node=2)\n    record(ev="finalized")\n    env.record("status", s="finalized")\n')
    assert hand_written_events(src, "x.py") == ["x.py:2: intent", "x.py:4: delivery", "x.py:5: finalized"]
