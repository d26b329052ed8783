"""The references in docs/reference/ say what the code does: the committed pages equal the generated ones, every
scenario key and wire field has a meaning, every wire code enum matches the honest code's use of it, and
``arena reference --check`` catches a stale page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from ipv8.keyvault.crypto import default_eccrypto
from pydantic import BaseModel

import arena
from arena import reference
from arena.cli.main import main
from arena.plugin_api import adversary
from arena.reference import codes as codes_page
from arena.reference import honest_behaviour, index, wire
from arena.reference import scenario as scenario_page
from arena.scenario import model
from honest import codes, gossip, peering, schema
from honest.channels import ChannelManager
from honest.codes import EvidenceKind, ItemKind, Role, TxKind, TxStatus
from honest.contract import Recorder
from honest.env import NoHooks
from honest.messages import PaymentStatus
from honest.node import HonestNode, settings
from honest.node.purchases import STATUS, Purchases
from honest.node.queries import ValidatorQueries
from honest.state import LedgerState

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = ROOT / reference.DOCS_DIR
PLUGINS_DOC = ROOT / "docs" / "plugins.md"


# -- the lock: committed pages are the generated ones ------------------------------------------------------------


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return reference.render_all()


def test_committed_references_equal_the_generated_ones(pages: dict[str, str]) -> None:
    for rel, text in pages.items():
        path = ROOT / rel
        assert path.is_file(), f"{rel} is missing: run `arena reference --write`"
        assert path.read_text(encoding="utf-8") == text, f"{rel} is stale: run `arena reference --write`"


def test_no_stray_page_in_the_reference_directory(pages: dict[str, str]) -> None:
    on_disk = {p.name for p in REF_DIR.iterdir()}
    assert on_disk == {Path(rel).name for rel in pages}, "docs/reference/ holds pages the code does not generate"


def test_the_index_lists_every_page() -> None:
    listed = [name for name, _ in index.PAGES]
    assert listed == [name for name, _ in reference.RENDERERS if name != index.PATH]


def test_rendering_is_stable(pages: dict[str, str]) -> None:
    assert reference.render_all() == pages
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in pages.values())


# -- scenario keys -----------------------------------------------------------------------------------------------


def scenario_models() -> list[type[BaseModel]]:
    """Every model defined in arena/scenario/model.py (reachable from Scenario or not)."""
    return [v for v in vars(model).values() if isinstance(v, type) and issubclass(v, model.Strict)
            and v is not model.Strict and v.__module__ == model.__name__]


@pytest.mark.parametrize("cls", scenario_models(), ids=lambda c: c.__name__)
def test_every_scenario_field_has_a_description(cls: type[BaseModel]) -> None:
    missing = [name for name, info in cls.model_fields.items() if not (info.description or "").strip()]
    assert not missing, f"{cls.__name__} fields without Field(description=...): {missing}"


def test_every_scenario_section_is_reached_and_every_key_is_described() -> None:
    secs = scenario_page.sections()
    reached = {s.model for s in secs}
    unreached = [m for m in scenario_models() if not any(issubclass(r, m) for r in reached)]  # bases count
    assert not unreached, f"scenario models the reference never reaches from Scenario: {unreached}"
    for sec in secs:
        assert sec.same_as is not None or sec.keys, sec.path
        for k in sec.keys:
            assert k.type and k.default and k.meaning, (sec.path, k)


def test_scenario_page_shows_placed_defaults_and_bounds() -> None:
    keys = {f"{s.path}.{k.name}".lstrip("."): k for s in scenario_page.sections() for k in s.keys}
    assert keys["channels.topology.kind"].default == "barabasi_albert"  # the parent's default, not the class's
    assert keys["network.topology.kind"].default == "complete"
    assert keys["name"].default == "required"
    assert keys["light.confirmations"].default == "1" and keys["light.confirmations"].bounds == "0 to 1000"
    assert keys["duration"].bounds == "above 0, at most 86400"
    assert "count: 1 to 5000" in keys["validators"].bounds


# -- wire schema -------------------------------------------------------------------------------------------------


def all_types() -> list[type[schema.Frozen]]:
    return [*schema.MESSAGES.values(), *schema.OBJECTS]


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.__name__)
def test_every_wire_type_documents_itself_and_each_field(cls: type[schema.Frozen]) -> None:
    assert wire.summary(cls), f"{cls.__name__} has no docstring"
    notes = wire.field_notes(cls)
    assert list(notes) == list(cls.names), (f"honest/schema.py: {cls.__name__}'s docstring needs one `field: meaning` "
                                            f"line per field, in order: {cls.names}")


def test_every_format_in_the_schema_is_explained() -> None:
    for _, _, fields in schema.describe():
        for _, fmt in fields:
            assert wire.format_key(fmt) in wire.FORMATS, fmt


def test_wire_page_names_the_fingerprint(pages: dict[str, str]) -> None:
    assert schema.fingerprint() in pages[f"{reference.DOCS_DIR}/{wire.PATH}"]


def test_plugins_md_schema_table_agrees_with_the_schema() -> None:
    """docs/plugins.md once said ``route: [20s]`` where the schema says ``varlenH``."""
    text = PLUGINS_DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (?:\d+|\(object\)) \| (.*) \|$", text, re.M))
    for name, _, fields in schema.describe():
        assert name in rows, f"docs/plugins.md: no row for {name}"
        assert rows[name] == ", ".join(f"`{n}: {f}`" for n, f in fields), f"docs/plugins.md: {name}'s row"


# -- wire codes ----------------------------------------------------------------------------------------------------


def test_every_code_is_exported_by_arena() -> None:
    for enum, _ in codes.WIRE_CODES:
        assert enum.__name__ in arena.__all__
        assert getattr(arena, enum.__name__) is enum


@pytest.mark.parametrize(("enum", "carriers"), codes.WIRE_CODES, ids=lambda v: getattr(v, "__name__", ""))
def test_every_code_member_has_a_meaning_and_its_carriers_exist(enum: Any, carriers: tuple[str, ...]) -> None:
    comments = codes_page.member_comments(enum)
    assert set(comments) == set(enum.__members__), f"honest/codes.py: {enum.__name__} members need a # comment"
    assert enum in codes_page.UNKNOWN_VALUE
    described = {name: dict(fields) for name, _, fields in schema.describe()}
    for carrier in carriers:
        type_name, _, field_name = carrier.partition(".")
        assert described[type_name][field_name] == "B", carrier
    assert max(enum) < 256


def test_tx_status_labels_are_the_merchants_statuses() -> None:
    assert {int(s): s.label for s in TxStatus} == STATUS


def fake_validator(consensus: str, **state: Any) -> Any:
    tree = SimpleNamespace(finalized_height=state.get("finalized", 0),
                           confirmations=lambda tx_id, head: state.get("blocks", {}).get(tx_id))
    return SimpleNamespace(config=SimpleNamespace(consensus=consensus), tree=tree, head=b"h",
                           mempool=state.get("mempool", set()), rejected=state.get("rejected", set()),
                           ledger_has=lambda tx_id: tx_id in state.get("applied", set()))


def test_tx_status_codes_are_what_validators_answer() -> None:
    pos = fake_validator("pos", blocks={b"final": (2, 5), b"block": (4, 1)}, finalized=3, mempool={b"pool"},
                         rejected={b"bad"})
    answers = {tx: ValidatorQueries.tx_status(pos, tx)[0] for tx in (b"final", b"block", b"pool", b"bad", b"none")}
    assert answers == {b"final": TxStatus.FINALIZED, b"block": TxStatus.INCLUDED, b"pool": TxStatus.PENDING,
                       b"bad": TxStatus.REJECTED, b"none": TxStatus.UNKNOWN}
    day1 = fake_validator("none", applied={b"applied"}, rejected={b"bad"})
    answers = {tx: ValidatorQueries.tx_status(day1, tx)[0] for tx in (b"applied", b"bad", b"none")}
    assert answers == {b"applied": TxStatus.FINALIZED, b"bad": TxStatus.REJECTED, b"none": TxStatus.UNKNOWN}


def test_roles_are_the_announced_role_codes() -> None:
    assert peering.ROLE_CODE == {r.label: int(r) for r in Role}
    assert adversary.ROLE_CODE == peering.ROLE_CODE, "Sybil endpoints announce other codes than honest nodes"
    assert (settings.VALIDATOR, settings.LIGHT, settings.MERCHANT) == (Role.VALIDATOR, Role.LIGHT, Role.MERCHANT)
    assert peering.UNKNOWN_ROLE_AS in set(Role)


def test_tx_and_item_kinds_are_the_schema_constants() -> None:
    assert schema.TX_KINDS == {int(k): k.name.lower() for k in TxKind}
    assert (schema.TX_TRANSFER, schema.TX_SLASH) == (TxKind.TRANSFER, TxKind.SLASH)
    assert (schema.ITEM_TX, schema.ITEM_BLOCK, schema.ITEM_VOTE) == (ItemKind.TX, ItemKind.BLOCK, ItemKind.VOTE)
    assert set(gossip.KIND_NAMES) == set(ItemKind)


def test_evidence_kinds_are_what_the_ledger_reads() -> None:
    key = default_eccrypto.generate_key("curve25519")
    votes = [schema.Vote.create(key, 4, bytes([i]) * 32).to_bytes() for i in (1, 2)]
    headers = [schema.Block.create(key, 1, 1, bytes(32), [], bytes([i]) * 32).header.to_bytes() for i in (1, 2)]

    def reason(what: int, pair: list[bytes]) -> str | None:
        tx = schema.Tx.create(key, TxKind.SLASH, bytes(20), 0, 1, 0, schema.Evidence(what, *pair).to_bytes())
        return LedgerState()._check_slash(tx)[0]

    assert reason(EvidenceKind.VOTES, votes) == reason(EvidenceKind.HEADERS, headers) == "nothing_to_slash"
    assert reason(EvidenceKind.VOTES, headers) == reason(EvidenceKind.HEADERS, votes) == "bad_evidence"


# -- honest behaviour --------------------------------------------------------------------------------------------


def test_every_message_has_a_behaviour_row_in_id_order() -> None:
    assert [a.message for a in honest_behaviour.ANSWERS] == [schema.MESSAGES[m] for m in sorted(schema.MESSAGES)]


@pytest.mark.parametrize("answer", honest_behaviour.ANSWERS, ids=lambda a: a.message.__name__)
def test_every_behaviour_row_names_the_handler_the_node_runs(answer: Any) -> None:
    name = answer.handler.__name__
    assert any(getattr(c, name, None) is answer.handler for c in (HonestNode, peering.PeerTable, ChannelManager)), \
        f"{name} is not a handler of the honest node, its peer table or its channel manager"
    assert answer.who and answer.does and answer.whom


def merchant(need: int) -> Any:
    sent: list[Any] = []
    env = SimpleNamespace(has_hook=lambda name: False, record=lambda *a, **k: None, index=0,
                          events=Recorder(lambda *a, **k: None, 0))
    return SimpleNamespace(env=env, config=SimpleNamespace(confirmations=need, price=50), buyers={}, delivered=[],
                           send_to=lambda *a: sent.append(a))


@pytest.mark.parametrize("need", [0, 1, 2, 3])
def test_the_merchants_default_rule_is_the_documented_one(need: int) -> None:
    for status in TxStatus:
        for confirmations in range(5):
            order = PaymentStatus(1, b"t" * 32, 50, b"b" * 20, status.label, confirmations, 1, 0.0)
            Purchases._maybe_deliver(merchant(need), order)
            delivered = order.status == "delivered"
            assert delivered == honest_behaviour.default_delivers(status, confirmations, need), \
                (status, confirmations, need)


def test_behaviour_defaults_come_from_the_scenario_model() -> None:
    assert honest_behaviour.scenario_default("light.confirmations") == model.LightPolicyModel().confirmations
    assert honest_behaviour.scenario_default("peering.ping_interval") == model.PeeringModel().ping_interval


# -- the command ---------------------------------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["reference", *args])


def test_check_passes_on_the_tree() -> None:
    result = run("--check")
    assert result.exit_code == 0, result.output


def test_check_fails_on_a_tampered_copy_and_write_repairs_it(tmp_path: Path) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REF_DIR, copy)
    assert run("--check", "--dir", str(copy)).exit_code == 0
    page = copy / wire.PATH
    page.write_text(page.read_text(encoding="utf-8").replace("varlenH", "[20s]", 1), encoding="utf-8")
    (copy / codes_page.PATH).unlink()
    result = run("--check", "--dir", str(copy))
    assert result.exit_code == 1, result.output
    assert wire.PATH in result.output and codes_page.PATH in result.output and "--write" in result.output
    assert scenario_page.PATH not in result.output
    assert run("--write", "--dir", str(copy)).exit_code == 0
    assert run("--check", "--dir", str(copy)).exit_code == 0
    assert (REF_DIR / wire.PATH).read_text(encoding="utf-8") == (copy / wire.PATH).read_text(encoding="utf-8")


def test_default_prints_the_index_and_flags_exclude_each_other() -> None:
    result = run()
    assert result.exit_code == 0 and result.output == (REF_DIR / index.PATH).read_text(encoding="utf-8")
    assert run("--check", "--write").exit_code == 2


# -- docs/plugins.md: who calls each hook --------------------------------------------------------------------------
SIMPLECHAIN = ROOT / "examples" / "simplechain" / "simplechain.py"
PROTOCOL_TEMPLATE = ROOT / "arena" / "cli" / "templates" / "protocol.py.tmpl"


def who_calls() -> dict[str, tuple[str, str, str]]:
    """``hook -> (called by, on a team's protocol, simplechain)`` from the table in docs/plugins.md."""
    text = PLUGINS_DOC.read_text(encoding="utf-8")
    section = text.split("## Who calls each hook", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 4 and cells[0].startswith("`arena_"):
            for hook in re.findall(r"`(arena_\w+)`", cells[0]):
                rows[hook] = (cells[1], cells[2], cells[3])
    return rows


def asked_hooks(path: Path) -> set[str]:
    """The hooks a protocol's source asks through ``env.hooks``."""
    return {f"arena_{name}" for name in re.findall(r"env\.hooks\.(\w+)\(", path.read_text(encoding="utf-8"))}


def test_plugins_md_says_who_calls_every_hook() -> None:
    from arena.plugin_host.registry import HOOK_NAMES
    from arena.protocols.hosted import ARENA_CALLED

    rows = who_calls()
    assert sorted(rows) == sorted(HOOK_NAMES), "docs/plugins.md: the 'Who calls each hook' table misses hooks"
    asked = {h for h, (_, team, _) in rows.items() if team.startswith("when it asks")}
    arena_calls = {h for h, (_, team, _) in rows.items() if team.startswith("always")}
    assert asked | arena_calls == set(rows) and not asked & arena_calls
    assert ARENA_CALLED <= arena_calls, "hooks the arena calls for a team's protocol, not marked 'always'"
    for hook in asked:  # each is a method of the hooks honest code (and a team's protocol) is handed
        assert callable(getattr(NoHooks, hook.removeprefix("arena_"), None)), hook
        short = hook.removeprefix("arena_")
        assert f"env.hooks.{short}`" in rows[hook][1] or f"`{short}`" in rows[hook][1], hook


@pytest.mark.skipif(not SIMPLECHAIN.is_file(), reason="examples/simplechain is not there")
def test_plugins_md_names_the_hooks_simplechain_and_the_scaffold_ask() -> None:
    rows = who_calls()
    said = {h for h, (_, team, simple) in rows.items() if team.startswith("when it asks") and simple == "yes"}
    assert asked_hooks(SIMPLECHAIN) == said, "docs/plugins.md's simplechain column is not what simplechain asks"
    assert asked_hooks(PROTOCOL_TEMPLATE) == said, "the `arena new protocol` chain asks other hooks than the table"
