"""YAML loading that remembers source lines, so scenario errors can point at ``file:line: key.path``.

Scenario files are written by hand; a bare pydantic traceback is useless to their authors. This module keeps
the line of every mapping key and sequence item and turns validation errors into one-line messages.

The loader is strict, because a scenario file is untrusted input that must fail fast and clearly, never hang or
exhaust memory:

* files larger than :data:`MAX_FILE_BYTES` and nesting deeper than :data:`MAX_DEPTH` are refused;
* alias expansion is bounded by :data:`MAX_ALIAS_VALUES` (a "billion laughs" document is refused, not built);
* only the standard YAML tags are accepted (:data:`ALLOWED_TAGS`): ``!!python/...`` and any custom tag are refused;
* ``.nan``, ``.inf`` and numbers too large for a float are refused (every number in a scenario must be finite);
* ``1e10`` is a number (as in YAML 1.2), not the string PyYAML's YAML 1.1 rules would make of it.

Every :class:`ScenarioError` message is one line per problem: ``file:line: key.path: message``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "ALLOWED_TAGS",
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "LocatedValueError",
    "ScenarioError",
    "YamlDoc",
    "apply_override",
    "load_yaml",
    "load_yaml_text",
    "parse_param",
    "validate",
    "validation_problems",
]

T = TypeVar("T", bound=BaseModel)

Loc = tuple[str | int, ...]
Problem = tuple[int | None, str, str]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STD_PREFIX = "tag:yaml.org,2002:"

MAX_FILE_BYTES = 1024 * 1024
"""Largest scenario file accepted (1 MiB); a scenario is a page of settings, not a data set."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted (a scenario needs about 6 levels; plugin params a few more)."""

MAX_ALIAS_VALUES = 10_000
"""Most values that aliases (``*name`` and ``<<: *name``) may add to a document; beyond it the file is refused,
so an alias bomb ("billion laughs") fails at once instead of exhausting memory."""

ALLOWED_TAGS: frozenset[str] = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
)
"""The YAML tags a scenario may use (resolved implicitly or written as ``!!str`` etc.); any other is refused."""

# YAML 1.2 floats: PyYAML (YAML 1.1) reads ``1e10`` and ``1e308`` as strings, which pydantic would then parse.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def _tag(tag: str) -> str:
    """``!!python/object:x`` rather than ``tag:yaml.org,2002:python/object:x``, as it was written."""
    return "!!" + tag.removeprefix(_STD_PREFIX) if tag.startswith(_STD_PREFIX) else tag


def _one_line(text: str) -> str:
    """Problems are reported one per line: keep messages (and odd keys) from breaking that."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _format_problem(path: str | None, line: int | None, key: str, message: str) -> str:
    where = path or ""
    if line is not None:
        where = f"{where}:{line}" if where else f"line {line}"
    parts = [_one_line(p) for p in (where, key, message) if p]
    return ": ".join(parts)


class LocatedValueError(ValueError):
    """A ``ValueError`` raised in a model validator that names the key it is about, relative to the model.

    ``validate`` appends ``loc`` to the model's own location, so a check on the whole scenario (``settle`` must be
    below ``duration``) points at the line of ``settle`` instead of the top of the file.
    """

    def __init__(self, message: str, loc: Sequence[str | int]) -> None:
        super().__init__(message)
        self.loc: Loc = tuple(loc)


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
    """SafeLoader used only for composing nodes and constructing scalars; refuses deep nesting while composing
    (PyYAML's composer recurses once per level, so a deeply nested file would otherwise end in RecursionError)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _TooDeep(int(mark.line) + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_12, list("-+0123456789."))


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


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
        self._seen: set[int] = set()
        self._expanded = 0  # values built a second (third...) time: what aliases added to the document

    def _fail(self, node: Node, loc: Loc, message: str) -> ScenarioError:
        return ScenarioError.at(self.path, _line(node), _dotted(loc), message)

    def build(self, node: Node, loc: Loc) -> Any:
        if id(node) in self._active:
            raise self._fail(node, loc, "recursive YAML alias")
        if id(node) in self._seen:
            self._expanded += 1
            if self._expanded > MAX_ALIAS_VALUES:
                raise self._fail(node, loc, f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values "
                                 "(an alias bomb?); write the values out or use fewer aliases")
        else:
            self._seen.add(id(node))
        self._active.add(id(node))
        try:
            if node.tag not in ALLOWED_TAGS:
                raise self._fail(node, loc, f"YAML tag {_tag(node.tag)} is not allowed (only plain YAML values: "
                                 "mappings, lists, strings, numbers, booleans, null)")
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return self._sequence(node, loc)
            return self._scalar(node, loc)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: Node, loc: Loc) -> Any:
        if not isinstance(node, ScalarNode) or node.tag in (_MAP_TAG, _SEQ_TAG):
            kind = "mapping" if isinstance(node, MappingNode) else "list" if isinstance(node, SequenceNode) else "value"
            raise self._fail(node, loc, f"YAML tag {_tag(node.tag)} does not fit a {kind}")
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, TypeError) as err:
            raise self._fail(node, loc, f"invalid {node.tag.rsplit(':', 1)[-1]} value: {err}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self._fail(node, loc, f"{node.value!r} is not a finite number (NaN and infinity are refused)")
        return value

    def _key(self, key_node: Node, loc: Loc) -> Any:
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            raise self._fail(key_node, loc, "mapping key must be a scalar")
        if key_node.tag not in ALLOWED_TAGS:
            raise self._fail(key_node, loc, f"YAML tag {_tag(key_node.tag)} is not allowed")
        return self._scalar(key_node, loc)

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
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for sub in merged:
                    if sub.tag not in ALLOWED_TAGS:
                        raise self._fail(sub, loc, f"YAML tag {_tag(sub.tag)} is not allowed")
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
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError.at(path, 1, "", f"file too large ({len(text)} characters; at most {MAX_FILE_BYTES})")
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        raise ScenarioError.at(path, line, "", f"YAML error: character {err.character!r}: {err.reason}") from None
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
    except _TooDeep as err:
        raise ScenarioError.at(path, err.line, "", f"nesting deeper than {MAX_DEPTH} levels") from None
    except RecursionError:  # a guard behind the depth limit (it should never be reached)
        raise ScenarioError.at(path, 1, "", f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> YamlDoc:
    """Read and parse a YAML file; any I/O or syntax problem becomes a ScenarioError."""
    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError.at(name, 1, "", f"file too large (more than {MAX_FILE_BYTES} bytes)")
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):
            text = text[1:]
    except FileNotFoundError:
        raise ScenarioError.at(name, None, "", "file not found") from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise ScenarioError.at(name, line, "", f"not valid UTF-8 ({err.reason})") from None
    except OSError as err:
        raise ScenarioError.at(name, None, "", err.strerror or str(err)) from None
    return load_yaml_text(text, name)


def _dotted(parts: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in parts)


def _clean_loc(loc: Sequence[str | int], doc: YamlDoc, keep_last: bool, prefix: Loc = ()) -> Loc:
    """Drop pydantic-internal loc parts (union tags, ``function-after[...]``) that are not keys in the data.

    A part is kept when it is a key (or list index) of the data at that point, found by walking ``doc.data``
    below ``prefix``, or a key with a recorded line; the last part of a missing key is kept when ``keep_last``.
    """
    clean: Loc = prefix
    current: Any = _walk(doc.data, prefix)
    for index, part in enumerate(loc):
        if isinstance(part, str) and "[" in part:
            continue
        found, child = _child(current, part)
        if found:
            clean = (*clean, part)
            current = child
        elif (*clean, part) in doc.lines or (keep_last and index == len(loc) - 1):
            clean = (*clean, part)
            current = None
    return clean


def _child(container: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(container, dict):
        if part in container:
            return True, container[part]
        return False, None
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return True, container[part]
    return False, None


def _walk(data: Any, loc: Loc) -> Any:
    for part in loc:
        found, data = _child(data, part)
        if not found:
            return None
    return data


def validation_problems(err: ValidationError, doc: YamlDoc, prefix: Sequence[str | int] = ()) -> list[Problem]:
    """One ``(line, key, message)`` per pydantic error; ``prefix`` is where the validated data sits in ``doc``
    (a plugin's params are validated on their own, below ``teams.red.plugins.0.params``)."""
    problems: list[Problem] = []
    for error in err.errors():
        kind = error["type"]
        raw_loc: tuple[str | int, ...] = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedValueError):
            raw_loc = (*raw_loc, *cause.loc)
        loc = _clean_loc(raw_loc, doc, keep_last=kind == "missing", prefix=tuple(prefix))
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "missing required key"
        else:
            message = error["msg"]
        problem = (doc.line_for(loc), _dotted(loc), message)
        if problem not in problems:
            problems.append(problem)
    return problems


def validate(model: type[T], doc: YamlDoc) -> T:
    """Validate ``doc.data`` against ``model``, reporting every problem as ``file:line: key.path: message``."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        raise ScenarioError(path=doc.path, problems=validation_problems(err, doc)) from None


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
        value = load_yaml_text(raw, "--param").data  # the same strict rules as a scenario file
    except ScenarioError as err:
        detail = err.problems[0][2].removeprefix("YAML syntax error: ").removeprefix("YAML error: ")
        raise ScenarioError(f"--param {key}: cannot parse value {raw!r}: {_one_line(detail)}") from None
    return key, value
