"""``docs/reference/scenario.md``: every scenario key, walked out of the pydantic model that validates it.

Each key's type, default and bounds come from the field itself, and its sentence from the field's ``description``, so
the page cannot disagree with what ``arena run`` accepts. A nested section is a table of its own; a section whose keys
and defaults repeat another's (the two teams, every ``plugins[]``) points at the first instead of repeating it.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from arena.reference.markdown import code, header, prose, table
from arena.scenario import model

PATH = "scenario.md"
ROOT_TITLE = "top level"


@dataclass
class Key:
    """One row of a section's table."""

    name: str
    type: str
    default: str
    bounds: str
    meaning: str


@dataclass
class Section:
    """One model at one place in the scenario: its dotted path and its keys."""

    path: str
    model: type[BaseModel]
    keys: list[Key] = field(default_factory=list)
    same_as: str | None = None


# -- types ----------------------------------------------------------------------------------------------------------
def _strip(ann: Any) -> Any:
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    return ann


def _is_union(ann: Any) -> bool:
    return get_origin(ann) in (Union, types.UnionType)


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def type_name(ann: Any) -> str:
    """A YAML writer's name for an annotation: ``float``, ``"pos" | "none"``, ``list[mapping]``, ``null``."""
    ann = _strip(ann)
    origin, args = get_origin(ann), get_args(ann)
    if ann is type(None):
        return "null"
    if ann is Any:
        return "any"
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if _is_union(ann):
        return " | ".join(type_name(a) for a in args)
    if origin in (list, tuple, dict, set, frozenset):
        inner = ", ".join(type_name(a) for a in args if a is not Ellipsis)
        return f"[{inner}]" if origin is tuple else f"{origin.__name__}[{inner}]"
    if _is_model(ann):
        return "mapping"
    return getattr(ann, "__name__", str(ann))


# -- bounds ---------------------------------------------------------------------------------------------------------
def number(value: Any) -> str:
    """A number as the page writes it: ``1_000_000`` for large integers, ``0.02`` and ``86400`` for floats."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _constraints(metadata: list[Any]) -> list[str]:
    """``ge``/``gt``/``le``/``lt``, lengths and patterns of one metadata list, in words."""
    value: list[str] = ["", ""]  # lowest, highest
    length: list[str] = ["", ""]
    other: list[str] = []
    for m in metadata:
        if isinstance(m, FieldInfo):
            other += _constraints(list(m.metadata))
        elif isinstance(m, at.Ge):
            value[0] = number(m.ge)
        elif isinstance(m, at.Gt):
            value[0] = f"above {number(m.gt)}"
        elif isinstance(m, at.Le):
            value[1] = number(m.le)
        elif isinstance(m, at.Lt):
            value[1] = f"below {number(m.lt)}"
        elif isinstance(m, at.MinLen):
            length[0] = number(m.min_length)
        elif isinstance(m, at.MaxLen):
            length[1] = number(m.max_length)
        elif getattr(m, "pattern", None):
            other.append(f"matches {code(m.pattern)}")
    words = [_range(*value)] if any(value) else []
    if any(length):
        words.append("length " + _range(*length))
    return words + other


def _range(low: str, high: str) -> str:
    """``0 to 60``, ``above 0, at most 60``, ``at least 1``, ``below 5000``."""
    if low and high:
        plain = not low.startswith("above") and not high.startswith("below")
        return f"{low} to {high}" if plain else f"{_side(low, 'at least')}, {_side(high, 'at most')}"
    return _side(low, "at least") if low else _side(high, "at most")


def _side(bound: str, word: str) -> str:
    return bound if bound.startswith(("above", "below")) else f"{word} {bound}"


def _nested_bounds(ann: Any, label: str = "") -> list[str]:
    """Bounds written inside an annotation: list items, dict keys and values, the branches of a union."""
    found: list[str] = []
    if get_origin(ann) is Annotated:
        base, *extras = get_args(ann)
        words = _constraints(list(extras))
        tag = next((e.tag for e in extras if hasattr(e, "tag")), None)
        if words:
            found.append(f"{tag or label}: {', '.join(words)}" if (tag or label) else ", ".join(words))
        return found + _nested_bounds(base, tag or label)
    origin, args = get_origin(ann), get_args(ann)
    if _is_union(ann):
        for a in args:
            found += _nested_bounds(a, label)
    elif origin is dict:
        found += _nested_bounds(args[0], "keys") + _nested_bounds(args[1], "values")
    elif origin in (list, tuple, set, frozenset):
        seen: list[str] = []
        for a in args:
            for text in _nested_bounds(a, "each item"):
                if text not in seen:
                    seen.append(text)
        found += seen
    return found


def bounds(info: FieldInfo) -> str:
    """Every bound of a field, in words (empty: none beyond its type)."""
    words = _constraints(list(info.metadata)) + _nested_bounds(info.annotation)
    return "; ".join(words)


# -- defaults -------------------------------------------------------------------------------------------------------
def yaml_value(value: Any) -> str:
    """A default as it would be written in a scenario file."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return number(value)
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_value(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):
        return "see below"
    return str(value)


def _default(info: FieldInfo, instance: BaseModel | None, name: str) -> Any:
    """The default of a field where it sits: read from the parent's default when there is one (so
    ``channels.topology.kind`` shows ``barabasi_albert``, not the class default ``complete``)."""
    if instance is not None:
        return getattr(instance, name)
    if info.default is PydanticUndefined and info.default_factory is None:
        return PydanticUndefined
    return info.get_default(call_default_factory=True)


# -- the walk -------------------------------------------------------------------------------------------------------
def _children(ann: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The models inside an annotation, with the suffix their keys get (``.`` or ``[].``)."""
    ann = _strip(ann)
    origin, args = get_origin(ann), get_args(ann)
    if _is_model(ann):
        yield ".", ann
    elif _is_union(ann):
        for a in args:
            yield from _children(a)
    elif origin in (list, tuple):
        for a in args:
            for suffix, m in _children(a):
                yield "[]" + suffix, m


def sections(root: type[BaseModel] = model.Scenario) -> list[Section]:
    """Every section of the scenario, depth first, in field order."""
    out: list[Section] = []
    seen: dict[tuple[type[BaseModel], str], str] = {}

    def walk(path: str, cls: type[BaseModel], instance: BaseModel | None) -> None:
        sec = Section(path, cls)
        out.append(sec)
        later: list[tuple[str, type[BaseModel], BaseModel | None]] = []
        for name, info in cls.model_fields.items():
            value = _default(info, instance, name)
            default = "required" if value is PydanticUndefined else yaml_value(value)
            sec.keys.append(Key(name, type_name(info.annotation), default, bounds(info), info.description or ""))
            for suffix, sub in _children(info.annotation):
                child = f"{path}.{name}" if path else name
                child += suffix.rstrip(".")
                sub_instance = value if isinstance(value, sub) and suffix == "." else None
                later.append((child, sub, sub_instance))
        for child, sub, sub_instance in later:
            fingerprint = (sub, repr(sub_instance) if sub_instance is not None else "")
            if fingerprint in seen:
                out.append(Section(child, sub, same_as=seen[fingerprint]))
            else:
                seen[fingerprint] = child
                walk(child, sub, sub_instance)

    walk("", root, None)
    return out


def _doc(cls: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (not an inherited one)."""
    doc = cls.__dict__.get("__doc__") or ""
    return prose(doc.strip().split("\n\n")[0])


def render() -> str:
    """The page."""
    lines = header(
        "Scenario keys", "arena/scenario/model.py",
        "Every key a scenario file may hold, with its type, its default, its bounds and what it does. A key not "
        "listed here is an error (`arena run` names its file and line). Dotted paths name nested keys; `[]` marks "
        "the entries of a list. Limits common to many keys: "
        f"at most {number(model.MAX_NODES)} nodes (MAX_NODES), at most {number(model.MAX_DURATION)} virtual seconds "
        f"(MAX_DURATION), timers no shorter than {number(model.MIN_INTERVAL)} s (MIN_INTERVAL), token amounts at most "
        f"{number(model.MAX_AMOUNT)} (MAX_AMOUNT), and no NaN or infinity anywhere. Plugin names and parameters are "
        "checked against the plugins found (`arena plugins`).")
    for sec in sections():
        title = code(sec.path) if sec.path else ROOT_TITLE
        lines += [f"## {title}", ""]
        if sec.same_as is not None:
            lines += [f"The same keys and defaults as {code(sec.same_as)}.", ""]
            continue
        doc = _doc(sec.model)
        if doc:
            lines += [doc, ""]
        prefix = f"{sec.path}." if sec.path else ""
        lines += table(("key", "type", "default", "bounds", "meaning"),
                       [(code(prefix + k.name), code(k.type), code(k.default), k.bounds, k.meaning)
                        for k in sec.keys])
    return "\n".join(lines)


__all__ = ["PATH", "Key", "Section", "bounds", "render", "sections", "type_name", "yaml_value"]
