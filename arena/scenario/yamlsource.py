"""YAML loading that remembers source lines, so scenario errors can point at ``file:line: key.path``.

Scenario files are written by hand; a bare pydantic traceback is useless to their authors. This module keeps
the line of every mapping key and sequence item and turns validation errors into one-line messages.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = [
    "ScenarioError",
    "YamlDoc",
    "apply_override",
    "load_yaml",
    "load_yaml_text",
    "parse_param",
    "validate",
]

T = TypeVar("T", bound=BaseModel)

Loc = tuple[str | int, ...]
Problem = tuple[int | None, str, str]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _format_problem(path: str | None, line: int | None, key: str, message: str) -> str:
    where = path or ""
    if line is not None:
        where = f"{where}:{line}" if where else f"line {line}"
    parts = [p for p in (where, key, message) if p]
    return ": ".join(parts)


class ScenarioError(Exception):
    """A user-facing problem with a scenario file; ``str()`` is the whole message, one line per problem."""

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        self.path = path
        self.problems: list[Problem] = list(problems)
        if message is None:
            message = "\n".join(_format_problem(path, line, key, msg) for line, key, msg in self.problems)
        elif not self.problems:
            self.problems = [(None, "", message)]
        super().__init__(message)

    @classmethod
    def at(cls, path: str | None, line: int | None, key: str, message: str) -> ScenarioError:
        """Build a single-problem error (the common case)."""
        return cls(path=path, problems=[(line, key, message)])


@dataclass
class YamlDoc:
    """Plain data from a YAML file plus the 1-based line of every key path in it."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    path: str = "<string>"

    def line_for(self, loc: Sequence[str | int]) -> int | None:
        """Line of the longest prefix of ``loc`` present in the file (a missing key points at its parent)."""
        loc = tuple(loc)
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader used only for composing nodes and constructing scalars."""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _path_key(key: Any) -> str | int:
    return key if isinstance(key, str | int) else str(key)


class _Builder:
    """Walks a composed node tree, building plain data and recording lines per key path."""

    def __init__(self, loader: _Loader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[Loc, int] = {}
        self._active: set[int] = set()
        self._checked: set[int] = set()  # aliased mappings are flattened in place; check duplicates only once

    def build(self, node: Node, loc: Loc) -> Any:
        if id(node) in self._active:
            raise ScenarioError.at(self.path, _line(node), _dotted(loc), "recursive YAML alias")
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return self._sequence(node, loc)
            return self.loader.construct_object(node, deep=True)
        finally:
            self._active.discard(id(node))

    def _key(self, key_node: Node, loc: Loc) -> Any:
        key = self.loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ScenarioError.at(self.path, _line(key_node), _dotted(loc), "mapping key must be a scalar") from None
        return key

    def _check_duplicates(self, node: MappingNode, loc: Loc) -> None:
        # Only the node's own keys count; keys pulled in by a `<<` merge may legitimately be overridden.
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, loc)
            if key in seen:
                raise ScenarioError.at(
                    self.path,
                    _line(key_node),
                    _dotted((*loc, _path_key(key))),
                    f"duplicate key {key!r} (first defined on line {seen[key]})",
                )
            seen[key] = _line(key_node)

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        if id(node) not in self._checked:
            self._check_duplicates(node, loc)
            self._checked.add(id(node))
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            sub = (*loc, _path_key(key))
            self.lines[sub] = _line(key_node)
            result[key] = self.build(value_node, sub)
        return result

    def _sequence(self, node: SequenceNode, loc: Loc) -> list[Any]:
        result: list[Any] = []
        for index, item in enumerate(node.value):
            sub = (*loc, index)
            self.lines[sub] = _line(item)
            result.append(self.build(item, sub))
        return result


def _yaml_problem(err: yaml.YAMLError, path: str) -> ScenarioError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        # PyYAML splits messages as context ("while parsing a block mapping") + problem ("expected <block end>...").
        detail = ", ".join(part for part in (err.context, err.problem) if part) or "invalid YAML"
        label = "YAML error" if isinstance(err, yaml.constructor.ConstructorError) else "YAML syntax error"
        return ScenarioError.at(path, line, "", f"{label}: {detail}")
    return ScenarioError.at(path, None, "", f"YAML error: {err}")


def load_yaml_text(text: str, path: str = "<string>") -> YamlDoc:
    """Parse one YAML document, keeping the line of every key and list item."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return YamlDoc(data=None, lines={}, path=path)
        builder = _Builder(loader, path)
        builder.lines[()] = _line(root)
        data = builder.build(root, ())
        return YamlDoc(data=data, lines=builder.lines, path=path)
    except yaml.YAMLError as err:
        raise _yaml_problem(err, path) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> YamlDoc:
    """Read and parse a YAML file; any I/O or syntax problem becomes a ScenarioError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError.at(name, None, "", "file not found") from None
    except UnicodeDecodeError as err:
        raise ScenarioError.at(name, None, "", f"not valid UTF-8 ({err.reason})") from None
    except OSError as err:
        raise ScenarioError.at(name, None, "", err.strerror or str(err)) from None
    return load_yaml_text(text, name)


def _dotted(parts: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in parts)


def _clean_loc(loc: Sequence[str | int], doc: YamlDoc, keep_last: bool) -> Loc:
    """Drop pydantic-internal loc parts (union tags, ``function-after[...]``) that are not keys in the data."""
    clean: Loc = ()
    for index, part in enumerate(loc):
        if isinstance(part, str) and "[" in part:
            continue
        candidate = (*clean, part)
        if candidate in doc.lines or (keep_last and index == len(loc) - 1):
            clean = candidate
    return clean


def validate(model: type[T], doc: YamlDoc) -> T:
    """Validate ``doc.data`` against ``model``, reporting every problem as ``file:line: key.path: message``."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        problems: list[Problem] = []
        for error in err.errors():
            kind = error["type"]
            loc = _clean_loc(error["loc"], doc, keep_last=kind == "missing")
            if kind == "extra_forbidden":
                message = "unknown key"
            elif kind == "missing":
                message = "missing required key"
            else:
                message = error["msg"]
            problems.append((doc.line_for(loc), _dotted(loc), message))
        raise ScenarioError(path=doc.path, problems=problems) from None


def _index(container: list[Any], part: str, dotted: str) -> int:
    if not part.isdigit():
        raise ScenarioError(f"--param {dotted}: {part!r} is not a list index")
    index = int(part)
    if index >= len(container):
        raise ScenarioError(f"--param {dotted}: index {index} out of range (list has {len(container)} items)")
    return index


def _map_key(container: dict[Any, Any], part: str) -> Any:
    # YAML may have produced int keys; prefer an existing int key when the string form is absent.
    if part not in container and part.lstrip("-").isdigit() and int(part) in container:
        return int(part)
    return part


def apply_override(data: Any, dotted: str, value: Any) -> Any:
    """Return a deep copy of ``data`` with ``a.0.b`` set to ``value``, creating missing mapping keys."""
    parts = dotted.split(".")
    if not dotted or any(not p for p in parts):
        raise ScenarioError(f"--param {dotted}: empty key path component")
    root = {} if data is None else copy.deepcopy(data)
    current: Any = root
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = _dotted(parts[:depth]) or "<root>"
        if isinstance(current, list):
            index = _index(current, part, dotted)
            if last:
                current[index] = value
            else:
                if current[index] is None:
                    current[index] = {}
                current = current[index]
        elif isinstance(current, dict):
            key = _map_key(current, part)
            if last:
                current[key] = value
            else:
                if current.get(key) is None:
                    current[key] = {}
                current = current[key]
        else:
            raise ScenarioError(f"--param {dotted}: {where} is a {type(current).__name__}, not a mapping or list")
    return root


def parse_param(text: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is parsed as YAML so ``10`` is an int and ``a,b`` stays a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--param {text!r}: expected key.path=value")
    if any(not p or p != p.strip() for p in key.split(".")):
        raise ScenarioError(f"--param {text!r}: malformed key path {key!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        detail = getattr(err, "problem", None) or str(err)
        raise ScenarioError(f"--param {key}: cannot parse value {raw!r}: {detail}") from None
    return key, value
