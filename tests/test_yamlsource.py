"""Tests for arena.scenario.yamlsource: errors must name file, line and dotted key so scenario authors can fix them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arena.scenario.yamlsource import (
    LocatedValueError,
    ScenarioError,
    YamlDoc,
    apply_override,
    load_yaml,
    load_yaml_text,
    parse_param,
    validate,
)


class Validator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    stake: int

    @field_validator("stake")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("stake must be positive")
        return v


class Eclipse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["eclipse"]
    target: int


class Spam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["spam"]
    rate: float


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    validators: list[Validator]
    attacks: list[Eclipse | Spam] = Field(default_factory=list)


class Tagged(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attacks: list[Annotated[Eclipse | Spam, Field(discriminator="kind")]] = Field(default_factory=list)


GOOD = """\
name: demo
validators:
  - name: a
    stake: 10
  - name: b
    stake: 20
"""


def _error(model: type[BaseModel], text: str, path: str = "s.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        validate(model, load_yaml_text(text, path))
    return info.value


def test_lines_recorded_for_keys_and_items() -> None:
    doc = load_yaml_text(GOOD)
    assert doc.data["validators"][1]["stake"] == 20
    assert doc.lines[("name",)] == 1
    assert doc.lines[("validators",)] == 2
    assert doc.lines[("validators", 0)] == 3
    assert doc.lines[("validators", 1, "stake")] == 6
    assert doc.line_for(("validators", 1, "missing", "deeper")) == 5
    assert validate(Scenario, doc).validators[0].stake == 10


def test_unknown_key_names_key_and_its_own_line() -> None:
    text = GOOD.replace("    stake: 20\n", "    stake: 20\n    stak: 3\n")
    err = _error(Scenario, text)
    assert str(err) == "s.yaml:7: validators.1.stak: unknown key"
    assert err.path == "s.yaml"
    assert err.problems == [(7, "validators.1.stak", "unknown key")]


def test_wrong_type_names_line() -> None:
    err = _error(Scenario, GOOD.replace("stake: 20", "stake: lots"))
    int_msg = "Input should be a valid integer, unable to parse string as an integer"
    assert str(err) == f"s.yaml:6: validators.1.stake: {int_msg}"


def test_validator_error_message_kept() -> None:
    err = _error(Scenario, GOOD.replace("stake: 10", "stake: -1"))
    assert str(err).startswith("s.yaml:4: validators.0.stake: Value error, stake must be positive")


def test_missing_key_names_parent_line() -> None:
    text = "name: demo\nvalidators:\n  - name: a\n    stake: 1\n  - name: b\n"
    err = _error(Scenario, text)
    assert str(err) == "s.yaml:5: validators.1.stake: missing required key"


def test_missing_top_level_key_points_at_document() -> None:
    err = _error(Scenario, "\n\nvalidators: []\n")
    assert err.problems == [(3, "name", "missing required key")]


def test_several_problems_one_line_each() -> None:
    text = "name: demo\nvalidators:\n  - name: a\n    stake: x\n  - stake: 2\n"
    lines = str(_error(Scenario, text)).splitlines()
    assert lines == [
        "s.yaml:4: validators.0.stake: Input should be a valid integer, unable to parse string as an integer",
        "s.yaml:5: validators.1.name: missing required key",
    ]


def test_union_tags_dropped_from_key_path() -> None:
    text = "attacks:\n  - kind: eclipse\n    target: 1\n  - kind: eclipse\n    target: nope\n"
    err = _error(Tagged, text)
    assert str(err) == (
        "s.yaml:5: attacks.1.target: Input should be a valid integer, unable to parse string as an integer"
    )
    # A plain (smart-mode) union reports one error per member; every key path stays clean of member names.
    err = _error(Scenario, "name: x\nvalidators: []\nattacks:\n  - kind: spam\n    rate: fast\n")
    assert err.problems
    for line, key, _ in err.problems:
        assert "[" not in key and "Spam" not in key and "Eclipse" not in key
        assert key.startswith("attacks.0")
        assert line in (4, 5)
    assert (5, "attacks.0.rate", "Input should be a valid number, unable to parse string as a number") in err.problems


def test_non_mapping_root() -> None:
    err = _error(Scenario, "- 1\n- 2\n")
    assert err.problems[0][0] == 1
    assert err.problems[0][1] == ""


def test_yaml_syntax_error_line() -> None:
    with pytest.raises(ScenarioError) as info:
        load_yaml_text("name: demo\nvalidators:\n  - name: a\n   stake: [1, 2\n", "bad.yaml")
    msg = str(info.value)
    assert msg.startswith("bad.yaml:")
    assert "YAML syntax error" in msg
    line = info.value.problems[0][0]
    assert line is not None and line >= 4
    with pytest.raises(ScenarioError) as info:
        load_yaml_text("a: 1\nb: : 2\n", "bad.yaml")
    assert info.value.problems[0][0] == 2
    assert str(info.value).startswith("bad.yaml:2: YAML syntax error")


def test_duplicate_key() -> None:
    with pytest.raises(ScenarioError) as info:
        load_yaml_text("name: a\nvalidators:\n  - name: x\n    name: y\n", "d.yaml")
    assert str(info.value) == "d.yaml:4: validators.0.name: duplicate key 'name' (first defined on line 3)"


def test_merge_keys_may_override_without_duplicate_error() -> None:
    text = "base: &b {stake: 1, name: x}\nv1:\n  <<: *b\n  stake: 5\nv2:\n  <<: *b\n"
    doc = load_yaml_text(text)
    assert doc.data["v1"] == {"stake": 5, "name": "x"}
    assert doc.data["v2"] == {"stake": 1, "name": "x"}
    assert doc.lines[("v1", "stake")] == 4


def test_aliased_mapping_reused_is_not_a_duplicate() -> None:
    text = "a: &a {<<: {x: 1}, x: 2}\nb: *a\nc: *a\n"
    doc = load_yaml_text(text)
    assert doc.data == {"a": {"x": 2}, "b": {"x": 2}, "c": {"x": 2}}


def test_empty_document() -> None:
    doc = load_yaml_text("")
    assert doc.data is None
    assert doc.line_for(("x",)) is None


def test_load_yaml_file_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(GOOD, encoding="utf-8")
    doc = load_yaml(f)
    assert isinstance(doc, YamlDoc)
    assert doc.path == str(f)
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_yaml(missing)
    assert str(info.value) == f"{missing}: file not found"


def test_apply_override_nested_lists() -> None:
    data: dict[str, Any] = {"validators": [{"stake": 1, "tags": [1, 2]}, {"stake": 2}]}
    out = apply_override(data, "validators.0.tags.1", 99)
    assert out["validators"][0]["tags"] == [1, 99]
    assert data["validators"][0]["tags"] == [1, 2]  # original untouched
    out = apply_override(out, "validators.1.stake", 500)
    assert out["validators"][1]["stake"] == 500
    out = apply_override(out, "network.latency.ms", 5)
    assert out["network"] == {"latency": {"ms": 5}}
    assert apply_override(None, "a.b", 1) == {"a": {"b": 1}}


def test_apply_override_errors() -> None:
    data = {"validators": [{"stake": 1}], "name": "x"}
    with pytest.raises(ScenarioError, match=r"^--param validators\.3\.stake: index 3 out of range"):
        apply_override(data, "validators.3.stake", 1)
    with pytest.raises(ScenarioError, match=r"^--param validators\.first: 'first' is not a list index"):
        apply_override(data, "validators.first", 1)
    with pytest.raises(ScenarioError, match=r"^--param name\.x: name is a str, not a mapping or list"):
        apply_override(data, "name.x", 1)
    with pytest.raises(ScenarioError, match="empty key path"):
        apply_override(data, "a..b", 1)


def test_apply_override_int_keys() -> None:
    assert apply_override({"m": {1: "a"}}, "m.1", "b") == {"m": {1: "b"}}


def test_parse_param() -> None:
    assert parse_param("validators.0.stake=500") == ("validators.0.stake", 500)
    assert parse_param("a=b,c") == ("a", "b,c")
    assert parse_param("a=1.5") == ("a", 1.5)
    assert parse_param("a=true") == ("a", True)
    assert parse_param("a=[1, 2]") == ("a", [1, 2])
    assert parse_param("a=x=y") == ("a", "x=y")
    assert parse_param(" a = 3") == ("a", 3)
    for bad in ("novalue", "=3", "a..b=1", "a=[1, 2"):
        with pytest.raises(ScenarioError, match="--param"):
            parse_param(bad)


# ============================================== strict loading ==================================================
def _load_error(text: str, path: str = "s.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        load_yaml_text(text, path)
    assert len(info.value.problems) == 1
    return str(info.value)


def test_python_and_custom_tags_refused() -> None:
    assert _load_error("a: !!python/object/apply:os.system [ls]\n") == (
        "s.yaml:1: a: YAML tag !!python/object/apply:os.system is not allowed (only plain YAML values: mappings, "
        "lists, strings, numbers, booleans, null)")
    assert "YAML tag !thing is not allowed" in _load_error("a:\n  - !thing 3\n")
    assert _load_error("a:\n  - !thing 3\n").startswith("s.yaml:2: a.0: ")
    assert "!!binary" in _load_error("a: !!binary aGk=\n")
    assert load_yaml_text("a: !!str 3\nb: !!int '4'\n").data == {"a": "3", "b": 4}


def test_alias_expansion_is_bounded() -> None:
    lines = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 12)]
    message = _load_error("\n".join(lines) + "\n")
    assert "aliases expand to more than" in message
    assert message.startswith("s.yaml:")
    assert load_yaml_text("a: &a [1, 2]\nb: [*a, *a, *a]\n").data["b"] == [[1, 2]] * 3


def test_non_finite_numbers_refused() -> None:
    for text in ("a: .nan\n", "a: .inf\n", "a: -.Inf\n", "a: 1e400\n"):
        assert "is not a finite number" in _load_error(text)
    assert _load_error("x: 1\na: [.nan]\n").startswith("s.yaml:2: a.0: ")


def test_nesting_and_size_limits() -> None:
    message = _load_error("a: " + "[" * 100 + "]" * 100 + "\n")
    assert "nesting deeper than" in message and message.startswith("s.yaml:1: ")
    assert "too large" in _load_error("a: '" + "x" * (2 * 1024 * 1024) + "'\n")


def test_control_characters_and_bad_utf8_name_a_line(tmp_path: Path) -> None:
    assert _load_error("a: 1\nb: \x01\n").startswith("s.yaml:2: YAML error:")
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_yaml(f)
    assert str(info.value) == f"{f}:2: not valid UTF-8 (invalid continuation byte)"


def test_problems_stay_on_one_line_each() -> None:
    err = _error(Scenario, 'name: demo\nvalidators: []\n"bad\\nkey": 1\n')
    assert str(err) == "s.yaml:3: bad\\nkey: unknown key"


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = 0
    stop: float = 1

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.stop < self.start:
            raise LocatedValueError("stop is before start", ("stop",))
        return self


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    windows: list[Window]


def test_located_value_error_points_at_its_key() -> None:
    text = "windows:\n  - {start: 0, stop: 1}\n  - start: 5\n    stop: 2\n"
    err = _error(Holder, text)
    assert str(err) == "s.yaml:4: windows.1.stop: Value error, stop is before start"


def test_clean_loc_keeps_keys_of_dict_documents() -> None:
    doc = YamlDoc({"name": "x", "validators": [{"name": "a", "stake": "no"}]}, {}, "<dict>")
    with pytest.raises(ScenarioError) as info:
        validate(Scenario, doc)
    assert info.value.problems[0][1] == "validators.0.stake"
