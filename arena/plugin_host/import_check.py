"""What a plugin's source may contain, checked before any of it runs.

Plugins are written by the red and blue teams, who are adversaries (of each other and of the referee). A plugin
that imports ``sys`` or ``arena.sim``, walks ``__class__``/``__globals__`` or a frame's ``f_back``, or reads another
object's ``_private`` attributes could reach the referee, other nodes' objects or the host process. So a
``--plugin`` file is parsed (never imported) and checked at load time, before a line of it runs; the first broken
rule is a load error naming ``file:line``. The rules are listed in ``docs/plugins.md`` ("What a plugin may
import") and in the constants below.

This is a rule of the game, not a sandbox: Python cannot be sandboxed from the inside, and a determined author may
still find a gap. The runtime containment in the hook caller (a plugin that raises or misbehaves is disabled and
reported) is the second line.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Literal

from arena.plugin_host.registry import PluginError

ALLOWED_MODULES: frozenset[str] = frozenset({
    "arena", "honest.schema", "pydantic", "__future__",
    "typing", "collections", "collections.abc", "dataclasses", "enum", "functools", "itertools", "math", "hashlib",
    "hmac", "ipaddress", "struct", "json", "re", "bisect", "heapq", "statistics", "fractions", "decimal", "string",
    "operator", "abc", "copy",
})
"""Every module a plugin may import, by its full dotted name (``import json.decoder`` is not allowed)."""

PYDANTIC_NAMES: frozenset[str] = frozenset({
    "Field", "ConfigDict", "field_validator", "model_validator", "ValidationInfo", "AfterValidator",
    "BeforeValidator", "PositiveInt", "PositiveFloat", "NonNegativeInt", "NonNegativeFloat", "NegativeInt",
    "NegativeFloat", "StrictBool", "StrictInt", "StrictFloat", "StrictStr", "StrictBytes", "conint", "confloat",
    "constr", "conlist",
})
"""What a plugin may take from pydantic: field definitions and validators for its ``Params``."""

DENIED_MEMBERS: dict[str, dict[str, str]] = {
    "typing": dict.fromkeys(("get_type_hints", "ForwardRef", "evaluate_forward_ref"), "it evaluates strings as code"),
    "operator": dict.fromkeys(("attrgetter", "methodcaller"), "it is getattr with a computed name"),
    "string": {"Formatter": "its get_field() is getattr with a computed name"},
    "dataclasses": {"asdict": "it reads private fields", "astuple": "it reads private fields"},
}
"""Members of allowed modules that would undo the other rules."""

LIMITED_CALLS: dict[str, str] = {"copy.deepcopy": "copy.deepcopy takes one argument here (its memo holds originals)"}
"""Members that may only be called directly with a single positional argument."""

FORBIDDEN_NAMES: dict[str, str] = {
    **{name: "it runs or compiles code" for name in ("eval", "exec", "compile", "__import__", "breakpoint", "help")},
    **{name: "it exposes a namespace" for name in ("globals", "locals", "vars", "__builtins__")},
    **{name: "plugins do no file or terminal I/O" for name in ("open", "input")},
    **{name: "it ends the process, not just the hook" for name in (
        "exit", "quit", "SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseException", "BaseExceptionGroup")},
}
"""Built-in names a plugin may not mention at all (shadowing them does not help: the name is the rule)."""

ATTR_FUNCS: frozenset[str] = frozenset({"getattr", "setattr", "delattr", "hasattr"})

FRAME_ATTRS: frozenset[str] = frozenset({
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "gi_frame", "gi_code", "cr_frame",
    "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next", "co_code", "co_consts", "func_globals", "func_code",
})
"""Frame, traceback and code introspection."""

FORBIDDEN_ATTRS: dict[str, str] = {
    **{name: "frame, traceback and code introspection" for name in FRAME_ATTRS},
    "model_rebuild": "it evaluates annotations again, in a namespace the caller chooses",
    "mro": "it hands out every base class, BaseException among them (a way to catch the arena's timeout)",
    "vformat": "it is a format string built at run time",
}

FORMAT_ATTRS: frozenset[str] = frozenset({"format", "format_map"})
"""``s.format(x)`` reads ``x``'s attributes named in ``s``: ``s`` must be a string literal, whose fields are checked."""

DUNDER_ATTRS_OK: frozenset[str] = frozenset({"__init__", "__name__"})
DUNDER_NAMES_OK: frozenset[str] = frozenset({"__name__", "__doc__", "__all__", "__slots__"})

METHOD_DECORATORS: frozenset[str] = frozenset({
    "arena.hookimpl", "builtins.property", "builtins.classmethod", "builtins.staticmethod", "abc.abstractmethod",
    "functools.cached_property", "functools.cache", "functools.lru_cache", "typing.override", "typing.final",
    "pydantic.field_validator", "pydantic.model_validator",
})
"""Decorators a method may have: none of them calls the method with something else as ``self``."""

CLASS_DECORATORS: frozenset[str] = frozenset({
    "dataclasses.dataclass", "functools.total_ordering", "enum.unique", "typing.final", "typing.runtime_checkable",
})
"""Decorators a class may have (any other would be handed the class object, and with it its raw methods)."""

FORBIDDEN_DEFS: dict[str, str] = {
    **dict.fromkeys(("__init_subclass__", "__set_name__", "__get__", "__set__", "__delete__", "__class_getitem__",
                     "__prepare__", "__mro_entries__"), "it is handed a class object"),
    "__del__": "it runs whenever the object is collected, outside any hook",
    **dict.fromkeys(("__exit__", "__aexit__"), "a context manager's exit can swallow any exception, the arena's "
                                               "timeout among them"),
}
"""Special methods a plugin may not define (other dunder definitions, ``__eq__``, ``__post_init__``..., are fine)."""

SELF_NAMES: frozenset[str] = frozenset({"self", "cls"})
HINTS: dict[str, str] = {"random": "use node.rng", "time": "use node.now()", "asyncio": "hooks are synchronous"}

_DUNDER = re.compile(r"^__\w+__$")
_DUNDER_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])__[A-Za-z0-9_]*[A-Za-z0-9]__")
_PRIVATE_FIELD = re.compile(r"\{[^{}]*\._")  # "{0._host}".format(x)
_ANNOTATION_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant, ast.BinOp,
                     ast.BitOr, ast.UnaryOp, ast.USub, ast.Load, ast.expr_context)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (1-based line and column) and what."""

    filename: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.message}"


@dataclass(frozen=True)
class _Binding:
    kind: Literal["module", "member", "class", "other"]
    target: str  # dotted module or member for imports, else the name
    line: int


def check_plugin_source(source: str, filename: str) -> list[Violation]:
    """Every rule ``source`` breaks, in source order (empty: the plugin may be imported)."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [Violation(filename, exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}")]
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return [Violation(filename, 1, 1, f"cannot be parsed: {type(exc).__name__}: {exc}")]
    out: list[Violation] = []
    try:
        _Checker(filename, tree, out).run()
    except RecursionError:
        out.append(Violation(filename, 1, 1, "nested too deeply to check"))
    unique = {(v.line, v.col, v.message): v for v in out}
    return sorted(unique.values(), key=lambda v: (v.line, v.col, v.message))


def read_checked_source(path: str | Path) -> str:
    """The text of a plugin file once it passes the check (compile *this* text: not the file again, nor a .pyc)."""
    p = Path(path)
    try:
        source = importlib.util.decode_source(p.read_bytes())
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise PluginError(f"{path}: cannot read plugin: {exc}") from None
    found = check_plugin_source(source, str(path))
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PluginError(f"{found[0]}{more}")
    return source


def check_plugin_file(path: str | Path) -> None:
    """Raise :class:`PluginError` (one line, ``file:line: message``) if the plugin file breaks a rule."""
    read_checked_source(path)


# -- what allowed modules offer ----------------------------------------------------------------------------------


def _is_parent(path: str) -> bool:
    """``honest`` for ``honest.schema``: a package only to be passed through."""
    return path not in ALLOWED_MODULES and any(m.startswith(path + ".") for m in ALLOWED_MODULES)


@cache
def _arena_api() -> frozenset[str]:
    import arena

    return frozenset(arena.__all__)


@cache
def _schema_names() -> frozenset[str]:
    """What honest.schema defines itself (not what it imports), read from its source."""
    spec = importlib.util.find_spec("honest.schema")
    if spec is None or spec.origin is None:
        return frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(n for n in names if not n.startswith("_"))


@cache
def _member_problem(module: str, name: str) -> str | None:
    """Why ``module.name`` is off limits (None: allowed). ``module`` is an allowed module."""
    full = f"{module}.{name}"
    if module == "arena":
        return None if name in _arena_api() else f"arena.{name} is not part of the public plugin API (arena.__all__)"
    if name.startswith("_"):
        return f"{full} is private"
    if module == "pydantic" and name not in PYDANTIC_NAMES:
        return f"{full} is not allowed (from pydantic a plugin takes only field definitions: Field, ConfigDict, ...)"
    reason = DENIED_MEMBERS.get(module, {}).get(name)
    if reason:
        return f"{full} is not allowed: {reason}"
    if module == "honest.schema":
        return None if name in _schema_names() else f"{full} is not defined by honest.schema"
    mod = importlib.import_module(module)  # an allowed module: harmless to import in the host
    value = getattr(mod, name, _MISSING)
    if value is _MISSING:
        return f"{module} has no member {name!r}"
    if isinstance(value, ModuleType):
        return f"{full} is a module, which plugins may not import"
    return None


_MISSING = object()


def _import_problem(module: str) -> str:
    top = module.split(".")[0]
    if top == "arena":
        return f"import of {module} is not allowed: plugins use only the public API (from arena import ...)"
    if top == "honest":
        return f"import of {module} is not allowed: of honest/ plugins may import only honest.schema"
    hint = f" ({HINTS[top]})" if top in HINTS else ""
    return (f"import of {module} is not allowed{hint}: plugins may import arena, honest.schema, pydantic and "
            f"harmless standard-library modules (docs/plugins.md)")


# -- the checker -------------------------------------------------------------------------------------------------


def _chain(node: ast.expr) -> tuple[ast.expr, list[ast.Attribute]]:
    """``a.b.c`` -> (``a``, [``a.b``, ``a.b.c``])."""
    attrs: list[ast.Attribute] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node)
        node = node.value
    return node, attrs[::-1]


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def _is_super_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _evaluated_outside(child: ast.AST, parent: ast.AST) -> bool:
    """Decorators, defaults, bases and keywords of a def/class/lambda are evaluated in the enclosing scope."""
    if isinstance(parent, ast.Lambda):
        return child is not parent.body
    if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return child not in parent.body
    return False


def _reads_own_private(stmt: ast.stmt) -> bool:
    """A method that reads ``self._x``: called with another object as self, it would read that object's."""
    if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for node in ast.walk(stmt):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.value, ast.Name)
                and node.value.id in SELF_NAMES):
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTR_FUNCS
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")):
            return True
    return False


class _Checker(ast.NodeVisitor):
    def __init__(self, filename: str, tree: ast.Module, out: list[Violation]) -> None:
        self.filename = filename
        self.tree = tree
        self.out = out
        self.parents: dict[ast.AST, ast.AST] = {}
        self.bindings: dict[str, list[_Binding]] = {}
        self.methods: set[str] = set()  # methods of this module's classes that bind self when called
        self.private_classes: set[str] = set()  # classes whose methods read self._x (or inherit such methods)
        self.aliases: dict[str, ast.expr] = {}  # module-level NAME = value (a type alias, if a class field names it)
        self.checked_aliases: set[str] = set()
        self.docstrings: set[ast.AST] = set()
        self.chained: set[ast.AST] = set()  # roots and attributes already checked as a path into a module

    def report(self, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        self.out.append(Violation(self.filename, line, col, message))

    # -- first pass: parents, bindings, docstrings, methods -------------------------------------------------------
    def run(self) -> None:
        self._index_parents(self.tree)
        for node in ast.walk(self.tree):
            body = getattr(node, "body", None)
            if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                self.docstrings.add(body[0].value)
            for name, binding in self._binds(node):
                self.bindings.setdefault(name, []).append(binding)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                self.aliases[stmt.targets[0].id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                self.aliases[stmt.target.id] = stmt.value
        classes = [node for node in ast.walk(self.tree) if isinstance(node, ast.ClassDef)]
        for node in classes:
            self.methods.update(
                stmt.name for stmt in node.body if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
                and not self._decorated(stmt, {"builtins.staticmethod", "builtins.classmethod"}))
            if any(_reads_own_private(stmt) for stmt in node.body):
                self.private_classes.add(node.name)
        grew = True
        while grew:  # a subclass inherits the methods that read self._x
            before = len(self.private_classes)
            self.private_classes.update(c.name for c in classes if any(
                isinstance(b, ast.Name) and b.id in self.private_classes for b in c.bases))
            grew = len(self.private_classes) > before
        self._check_bindings()
        self.visit(self.tree)

    def _index_parents(self, tree: ast.AST) -> None:
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    @staticmethod
    def _binds(node: ast.AST) -> Iterator[tuple[str, _Binding]]:
        line = getattr(node, "lineno", 1)
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                yield (a.asname, _Binding("module", a.name, line)) if a.asname else (top, _Binding("module", top, line))
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                kind: Literal["module", "member"] = "module" if full in ALLOWED_MODULES else "member"
                yield a.asname or a.name, _Binding(kind, full, line)
        elif isinstance(node, ast.ClassDef):
            yield node.name, _Binding("class", node.name, line)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, _Binding("other", node.name, line)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            yield node.id, _Binding("other", node.id, line)
        elif isinstance(node, ast.arg):
            yield node.arg, _Binding("other", node.arg, line)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            yield node.name, _Binding("other", node.name, line)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest, _Binding("other", node.rest, line)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for name in node.names:
                yield name, _Binding("other", name, line)

    def _check_bindings(self) -> None:
        """A name bound to a module by an import is never bound to anything else (so ``json.x`` is json's x)."""
        for name, found in self.bindings.items():
            modules = [b for b in found if b.kind == "module"]
            if modules:
                others = [b for b in found if b.kind != "module" or b.target != modules[0].target]
                if others:
                    self.out.append(Violation(self.filename, others[0].line, 1, f"{name!r} names the imported module "
                                              f"{modules[0].target} and may not be bound to anything else"))

    # -- resolution helpers ---------------------------------------------------------------------------------------
    def module_of(self, name: str) -> str | None:
        """The module a name is bound to, when it is only ever bound to that module by imports."""
        found = self.bindings.get(name, [])
        targets = {b.target for b in found}
        if found and all(b.kind == "module" for b in found) and len(targets) == 1:
            return next(iter(targets))
        return None

    def kinds(self, name: str) -> set[str]:
        return {b.kind for b in self.bindings.get(name, [])}

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name an expression surely refers to: an import, a module member, or a builtin."""
        if isinstance(node, ast.Name):
            found = self.bindings.get(node.id, [])
            if not found:
                return f"builtins.{node.id}"
            targets = {b.target for b in found}
            if all(b.kind in ("module", "member") for b in found) and len(targets) == 1:
                return next(iter(targets))
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def is_imported(self, node: ast.expr) -> bool:
        root = _root(node)
        return isinstance(root, ast.Name) and bool(self.kinds(root.id) & {"module", "member"})

    def _decorated(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> bool:
        return any(self.resolve(d.func if isinstance(d, ast.Call) else d) in names for d in fn.decorator_list)

    def scope_of(self, node: ast.AST) -> ast.AST | None:
        """The scope in which ``node`` is evaluated (a function, lambda, class body or the module)."""
        child, cur = node, self.parents.get(node)
        while cur is not None:
            if isinstance(cur, ast.Module):
                return cur
            if isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) and not (
                    _evaluated_outside(child, cur)):
                return cur
            child, cur = cur, self.parents.get(cur)
        return None

    # -- imports --------------------------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name not in ALLOWED_MODULES:
                self.report(node, _import_problem(a.name))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.report(node, "relative import is not allowed: a plugin is one file that imports only arena, "
                              "honest.schema and the standard library")
            return
        module = node.module or ""
        for a in node.names:
            full = f"{module}.{a.name}"
            if a.name == "*":
                self.report(node, f"from {module} import * is not allowed: import the names you use")
            elif full in ALLOWED_MODULES:
                continue
            elif module not in ALLOWED_MODULES:
                self.report(node, _import_problem(full if _is_parent(module) else module))
            elif (problem := _member_problem(module, a.name)) is not None:
                self.report(node, problem)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        self._check_binding_name(node, node.asname or node.name.split(".")[0])

    # -- names ----------------------------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        parent = self.parents.get(node)
        if name in FORBIDDEN_NAMES:
            self.report(node, f"{name} is not allowed in a plugin: {FORBIDDEN_NAMES[name]}")
        elif _DUNDER.match(name) and name not in DUNDER_NAMES_OK:
            self.report(node, f"the name {name} is not allowed in a plugin")
        elif name in ATTR_FUNCS:
            if not (isinstance(parent, ast.Call) and parent.func is node):
                self.report(node, f"{name} may only be called directly, with a string literal attribute name")
        elif name == "type":
            self._check_type(node, parent)
        elif self.module_of(name) is not None:
            if node not in self.chained:
                self.report(node, f"the module {name} may only be used as {name}.<member>, not as a value")
        elif name in SELF_NAMES:
            if not isinstance(node.ctx, ast.Load):
                self.report(node, f"{name} may not be rebound: it is the object a method was called on")
            elif name == "cls" and not self._class_use_ok(node):
                self.report(node, "cls may only be called, compared, named in isinstance() or have its attributes "
                                  "read: a class object could call its methods on another object")
        elif name in self.private_classes and isinstance(node.ctx, ast.Load) and not self._class_use_ok(node):
            self.report(node, f"class {name} keeps private state (self._x): it may only be instantiated, subclassed, "
                              f"compared, named in isinstance() or in annotations, not handed out as a value")
        elif (isinstance(node.ctx, ast.Load) and name in self.methods and not self._property_accessor(node)
              and isinstance(self.scope_of(node), ast.ClassDef)):
            self.report(node, f"the method {name} may not be used as a value in its class body")
        self._check_limited(node)

    def _class_use_ok(self, node: ast.Name) -> bool:
        """Uses of a class object that cannot call one of its methods with a foreign ``self``."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Call):
            if parent.func is node:
                return True
            return (isinstance(parent.func, ast.Name) and parent.func.id in ("isinstance", "issubclass")
                    and len(parent.args) == 2 and parent.args[1] is node)
        if isinstance(parent, ast.Tuple):  # isinstance(x, (A, B))
            call = self.parents.get(parent)
            return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id in ("isinstance", "issubclass") and len(call.args) == 2 and call.args[1] is parent)
        if isinstance(parent, ast.Attribute):
            return parent.attr not in self.methods
        if isinstance(parent, ast.ClassDef):
            return node in parent.bases
        if isinstance(parent, ast.Compare):
            return True
        return self._in_annotation(node)

    def _in_annotation(self, node: ast.AST) -> bool:
        child, cur = node, self.parents.get(node)
        while cur is not None and isinstance(child, ast.expr):
            if (isinstance(cur, ast.AnnAssign | ast.arg) and child is cur.annotation) or (
                    isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef) and child is cur.returns):
                return True
            child, cur = cur, self.parents.get(cur)
        return False

    def _property_accessor(self, node: ast.Name) -> bool:
        """``@x.setter`` on a method: the property ``x`` is named in the class body."""
        parent = self.parents.get(node)
        fn = self.parents.get(parent) if parent is not None else None
        return (isinstance(parent, ast.Attribute) and parent.attr in ("setter", "getter", "deleter")
                and isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and parent in fn.decorator_list)

    def _check_type(self, node: ast.Name, parent: ast.AST | None) -> None:
        ok = (isinstance(parent, ast.Call) and parent.func is node and len(parent.args) == 1 and not parent.keywords
              and not isinstance(parent.args[0], ast.Starred))
        if ok and parent is not None:
            outer = self.parents.get(parent)
            if isinstance(outer, ast.Attribute) and outer.attr != "__name__":
                ok = False
            elif isinstance(outer, ast.Call) and outer.func is parent:
                ok = False
        if not ok:
            self.report(node, "type() may only be called with one argument, to compare or name the class "
                              "(type(x).__name__)")

    def _check_limited(self, node: ast.Name | ast.Attribute) -> None:
        target = self.resolve(node)
        if target not in LIMITED_CALLS:
            return
        parent = self.parents.get(node)
        if not (isinstance(parent, ast.Call) and parent.func is node and len(parent.args) == 1
                and not parent.keywords and not isinstance(parent.args[0], ast.Starred)):
            self.report(node, LIMITED_CALLS[target])

    def _check_binding_name(self, node: ast.AST, name: str | None) -> None:
        if name in SELF_NAMES:
            self.report(node, f"{name} may not be rebound: it is the object a method was called on")
        elif name and _DUNDER.match(name) and name not in DUNDER_NAMES_OK:
            self.report(node, f"the name {name} is not allowed in a plugin")

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg in SELF_NAMES:
            if not self._is_method_self(node):
                self.report(node, f"{node.arg} may only be the first parameter of a method")
        else:
            self._check_binding_name(node, node.arg)
        if node.annotation is not None:
            self._annotation(node.annotation, class_field=False)
        self.generic_visit(node)

    def _is_method_self(self, node: ast.arg) -> bool:
        args = self.parents.get(node)
        fn = self.parents.get(args) if args is not None else None
        if not isinstance(args, ast.arguments) or not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            return False
        positional = [*args.posonlyargs, *args.args]
        return (bool(positional) and positional[0] is node and isinstance(self.parents.get(fn), ast.ClassDef)
                and not self._decorated(fn, {"builtins.staticmethod"}))

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._check_binding_name(node, node.name)
        if node.type is None:
            self.report(node, "a bare except: is not allowed: it catches the arena's timeout (write except "
                              "Exception:)")
        else:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for t in types:
                if not self._names_a_class(t):
                    self.report(t, "an except clause may only name exception classes (a built-in, imported or "
                                   "defined class, or a tuple of them written out), not a computed value")
        self.generic_visit(node)

    def _names_a_class(self, node: ast.expr) -> bool:
        """``ValueError``, ``json.JSONDecodeError``, ``MyError``: a name no assignment can bind to a run-time tuple."""
        if isinstance(node, ast.Name) and self.kinds(node.id) == {"class"}:
            return True
        return isinstance(node, ast.Name | ast.Attribute) and self.resolve(node) is not None

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        if node.finalbody:
            self.report(node.finalbody[0], "a finally: block is not allowed: it runs while the arena's timeout "
                                           "unwinds the hook, and an error raised there replaces the timeout")
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self._check_binding_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self._check_binding_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._check_binding_name(node, node.rest)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:  # case C(attr=x) reads subject.attr
            self._check_attr_name(node, attr, None)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._check_binding_name(node, name)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            self._check_binding_name(node, name)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg and node.arg.startswith("_"):
            self.report(node, f"the keyword argument {node.arg}= is not allowed (private or dunder)")
        self.generic_visit(node)

    # -- definitions ----------------------------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in SELF_NAMES:
            self._check_binding_name(node, node.name)
        if node.name in FORBIDDEN_DEFS:
            self.report(node, f"defining {node.name} is not allowed: {FORBIDDEN_DEFS[node.name]}")
        if isinstance(self.parents.get(node), ast.ClassDef):
            for d in node.decorator_list:
                target = self.resolve(d.func if isinstance(d, ast.Call) else d)
                accessor = (isinstance(d, ast.Attribute) and d.attr in ("setter", "getter", "deleter")
                            and isinstance(d.value, ast.Name))
                if target not in METHOD_DECORATORS and not accessor:
                    self.report(d, "this decorator is not allowed on a method (allowed: hookimpl, property, "
                                   "classmethod, staticmethod, functools.cache, pydantic validators, ...)")
        if node.returns is not None:
            self._annotation(node.returns, class_field=False)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.name in SELF_NAMES:
            self._check_binding_name(node, node.name)
        for d in node.decorator_list:
            if self.resolve(d.func if isinstance(d, ast.Call) else d) not in CLASS_DECORATORS:
                self.report(d, "this class decorator is not allowed (allowed: dataclass, total_ordering, enum.unique,"
                               " typing.final): it would be handed the class and its methods")
        for kw in node.keywords:
            if kw.arg == "metaclass":
                self.report(kw, "metaclass= is not allowed: a metaclass is handed every method of the class")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation, class_field=isinstance(self.scope_of(node), ast.ClassDef))
        self.generic_visit(node)

    # -- attributes -----------------------------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node not in self.chained:
            root, attrs = _chain(node)
            if isinstance(root, ast.Name) and root not in self.chained and (module := self.module_of(root.id)):
                self._module_chain(root, attrs, module)
            if node not in self.chained:
                self._check_attr_name(node, node.attr, node.value)
        if not isinstance(node.ctx, ast.Load) and self.is_imported(node):
            self.report(node, "assigning to an imported module or object is not allowed: it is shared with the "
                              "honest nodes")
        self._check_limited(node)
        self.generic_visit(node)

    def _module_chain(self, root: ast.Name, attrs: list[ast.Attribute], module: str) -> None:
        """``json.loads`` or ``honest.schema.Tx``: a path through modules to one member, checked as an import.
        What follows the member (``.create``) is an ordinary attribute, checked when visited."""
        self.chained.add(root)
        path = module
        for attr in attrs:
            self.chained.add(attr)
            full = f"{path}.{attr.attr}"
            if full in ALLOWED_MODULES or _is_parent(full):
                path = full
                continue
            if _is_parent(path):
                self.report(attr, _import_problem(full))
            elif (problem := _member_problem(path, attr.attr)) is not None:
                self.report(attr, problem)
            return
        self.report(attrs[-1] if attrs else root, f"the module {path} may only be used as {path}.<member>, "
                                                  f"not as a value")

    def _check_attr_name(self, node: ast.AST, attr: str, value: ast.expr | None) -> None:
        """``value.attr`` (value None: an object we know nothing about)."""
        if attr in FORMAT_ATTRS and not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            self.report(node, f".{attr} is allowed only on a string literal (\"...\".{attr}(...)), not on a string "
                              f"built at run time or through str: its fields read attributes (use an f-string)")
        elif _DUNDER.match(attr):
            ok = attr == "__name__" or (attr == "__init__" and value is not None and (_is_super_call(value) or (
                isinstance(value, ast.Name) and self.kinds(value.id) == {"member"})))
            if not ok:
                self.report(node, f"access to the dunder attribute .{attr} is not allowed (only .__name__ and "
                                  f"super().__init__)")
        elif attr in FORBIDDEN_ATTRS:
            self.report(node, f"access to .{attr} is not allowed: {FORBIDDEN_ATTRS[attr]}")
        elif attr.startswith("_"):
            mine = value is not None and (
                (isinstance(value, ast.Name) and value.id in SELF_NAMES) or _is_super_call(value))
            if not mine:
                self.report(node, f"access to the private attribute .{attr} of another object is not allowed "
                                  f"(only self.{attr})")
        elif isinstance(value, ast.Name) and (self.kinds(value.id) == {"class"} or value.id == "cls") and (
                attr in self.methods):
            self.report(node, f"{value.id}.{attr}: call methods on an instance, not through the class")

    # -- calls ----------------------------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ATTR_FUNCS:
            self._check_attr_call(node, node.func.id)
        self.generic_visit(node)

    def _check_attr_call(self, node: ast.Call, fn: str) -> None:
        args = node.args
        if len(args) < 2 or any(isinstance(a, ast.Starred) for a in args) or node.keywords:
            self.report(node, f"{fn}() needs an object and a string literal attribute name")
            return
        obj, name = args[0], args[1]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            self.report(node, f"{fn}() with a computed attribute name is not allowed: write the name as a string "
                              f"literal (or use the attribute directly)")
            return
        if not name.value.isidentifier():
            self.report(node, f"{fn}() with {name.value!r}: not an attribute name")
            return
        self._check_attr_name(node, name.value, obj)
        if fn in ("setattr", "delattr") and self.is_imported(obj):
            self.report(node, f"{fn}() on an imported module or object is not allowed: it is shared with the "
                              f"honest nodes")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and self.is_imported(node):
            self.report(node, "assigning into an imported object is not allowed: it is shared with the honest nodes")
        self.generic_visit(node)

    # -- strings --------------------------------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node not in self.docstrings and node.value != "__main__":
            if _DUNDER_IN_TEXT.search(node.value):
                self.report(node, "a string naming a dunder (__x__) is not allowed outside docstrings")
            elif _PRIVATE_FIELD.search(node.value):
                self.report(node, "a format field reading a private attribute ({x._y}) is not allowed")

    # -- annotations ----------------------------------------------------------------------------------------------
    def _annotation(self, expr: ast.expr, class_field: bool) -> None:
        """A class field's annotation is evaluated by pydantic: only type-shaped expressions naming classes and
        imports. A string anywhere in an annotation is a forward reference, i.e. code: checked like code."""
        values: set[ast.AST] = set()  # inside Literal[...] and Annotated metadata: values, not types
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Subscript):
                target = self.resolve(sub.value)
                if target == "typing.Literal":
                    values.update(ast.walk(sub.slice))
                elif target == "typing.Annotated" and isinstance(sub.slice, ast.Tuple):
                    for meta in sub.slice.elts[1:]:
                        values.update(ast.walk(meta))
        for sub in ast.walk(expr):
            if sub in values:
                continue
            if class_field:
                self._annotation_node(sub)
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                self._forward_ref(sub)

    def _annotation_node(self, sub: ast.AST) -> None:
        as_type = "an expression used as a type (class field or type alias)"
        if not isinstance(sub, ast.expr):
            return  # operators and contexts: their expression is checked
        if not isinstance(sub, _ANNOTATION_NODES) or (isinstance(sub, ast.BinOp) and not isinstance(sub.op, ast.BitOr)):
            self.report(sub, f"{as_type} may hold only types, not {type(sub).__name__}: pydantic evaluates it")
        elif isinstance(sub, ast.Name) and "other" in self.kinds(sub.id):
            if len(self.bindings[sub.id]) == 1 and sub.id in self.aliases:  # a type alias: Mode = Literal[...]
                if sub.id not in self.checked_aliases:
                    self.checked_aliases.add(sub.id)
                    self._annotation(self.aliases[sub.id], class_field=True)
            else:
                self.report(sub, f"{as_type} may name only classes, imports and type aliases ({sub.id} is a variable)")
        elif isinstance(sub, ast.Attribute):
            root = _root(sub)
            if not (isinstance(root, ast.Name) and self.module_of(root.id) is not None):
                self.report(sub, f"{as_type} may use attributes only of imported modules")

    def _forward_ref(self, const: ast.Constant) -> None:
        assert isinstance(const.value, str)
        try:
            parsed = ast.parse(const.value.strip(), mode="eval")
        except SyntaxError:
            return  # cannot be evaluated either
        for sub in ast.walk(parsed.body):
            ast.copy_location(sub, const)
        self._index_parents(parsed)
        self.parents[parsed.body] = const  # inside the annotation the string is in
        self.visit(parsed.body)
        self._annotation(parsed.body, class_field=True)
