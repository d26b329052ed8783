"""Who may import what: core never imports the plugins, honest/ never imports arena/, and a plugin (built-in or
``--plugin`` file) imports only the public API and harmless modules, checked before any of its code runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import arena
from arena.cli.main import main
from arena.plugin_host.import_check import Violation, check_plugin_file, check_plugin_source
from arena.plugin_host.registry import PluginError, load_file

ROOT = Path(__file__).resolve().parent.parent


def py_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names), and modules named in strings to importlib/__import__."""
    text = path.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"(attacks|defenses|arena)(\.\w+)+(:\w+)?", node.value):  # "attacks.sybil:Sybil"
                found.append((node.lineno, node.value.split(":")[0]))
    for m in re.finditer(r"(?:import_module|__import__|find_spec)\(\s*[\"']([\w.]+)", text):
        found.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return found


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


# -- the layering of the code base -----------------------------------------------------------------------------


def test_core_never_imports_the_plugins() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in py_files("arena", "honest")
                 for line, mod in imported_modules(p) if _under(mod, "attacks", "defenses")]
    assert not offenders, f"core imports attacks/ or defenses/: {offenders}"


def test_honest_never_imports_arena() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in py_files("honest")
                 for line, mod in imported_modules(p) if _under(mod, "arena")]
    assert not offenders, f"honest/ imports arena/: {offenders}"


@pytest.mark.parametrize("path", py_files("attacks", "defenses"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_builtin_plugins_obey_the_plugin_rules(path: Path) -> None:
    found = check_plugin_source(path.read_text(encoding="utf-8"), str(path))
    assert not found, "\n".join(map(str, found))


def test_public_api_holds_no_internals() -> None:
    leaks = {name: getattr(getattr(arena, name), "__module__", "") for name in arena.__all__}
    bad = {n: m for n, m in leaks.items() if _under(m or "", "arena.sim", "arena.live", "arena.plugin_host")}
    assert not bad, f"arena.__all__ exports internals: {bad}"


# -- hostile plugin sources --------------------------------------------------------------------------------------

HEADER = "from __future__ import annotations\n\nfrom arena import NodeContext, Plugin, hookimpl\n"  # lines 1-3


def hostile(body: str) -> str:
    """``body`` starts on line 4."""
    return HEADER + body


def in_tick(*lines: str) -> str:
    """``lines`` are the body of a plugin's ``arena_tick``, from line 10 on."""
    code = "\n".join(f"        {line}" for line in lines)
    return hostile(f'\nclass P(Plugin):\n    name = "p"\n\n    @hookimpl\n    def arena_tick(self, node: NodeContext, '
                   f'now: float) -> None:\n{code}\n')


HOSTILE = [
    # (id, source, line of the first violation, words in its message)
    ("import-sys", hostile("import sys\n"), 4, "import of sys"),
    ("arena-internals", hostile("from arena.sim.world import World\n"), 4, "arena.sim.world"),
    ("plugin-api-submodule", hostile("from arena.plugin_api.base import Plugin as X\n"), 4, "arena.plugin_api.base"),
    ("arena-submodule-attr", hostile("import arena\nW = arena.sim\n"), 5, "arena.sim"),
    ("importlib", hostile("import importlib\n"), 4, "importlib"),
    ("dunder-import", in_tick('__import__("os")'), 10, "__import__"),
    ("getattr-globals", in_tick('getattr(self.arena_tick, "__globals__")'), 10, "__globals__"),
    ("class-of-node", in_tick("k = node.__class__"), 10, "__class__"),
    ("dict", in_tick("d = node.__dict__"), 10, "__dict__"),
    ("func-globals", in_tick("g = self.arena_tick.__globals__"), 10, "__globals__"),
    ("subclasses", in_tick("subs = ().__class__.__bases__[0].__subclasses__()"), 10, "dunder"),
    ("eval", in_tick('eval("1")'), 10, "eval"),
    ("exec", in_tick('exec("import os")'), 10, "exec"),
    ("gc", hostile("import gc\n"), 4, "import of gc"),
    ("relative", hostile("from . import helpers\n"), 4, "relative import"),
    ("random", hostile("import random\n"), 4, "node.rng"),
    ("builtins", hostile("import builtins\n"), 4, "import of builtins"),
    ("sys-modules", hostile("\n\nimport sys\nmods = sys.modules\n"), 6, "import of sys"),
    ("traceback-frame", in_tick("try:", "    1 / 0", "except ZeroDivisionError as exc:",
                                "    f = exc.__traceback__.tb_frame.f_back"), 13, "__traceback__"),
    ("tb-frame", in_tick("t = node.tb_frame"), 10, "tb_frame"),
    ("f-back", in_tick("f = node.f_back.f_globals"), 10, "f_back"),
    ("gi-frame", in_tick("g = (x for x in ())", "f = g.gi_frame"), 11, "gi_frame"),
    ("globals", in_tick("g = globals()"), 10, "globals"),
    ("getattr-variable", in_tick('name = "adversary"', "a = getattr(node, name)"), 11, "computed attribute name"),
    ("getattr-alias", in_tick("g = getattr"), 10, "called directly"),
    ("ctypes", hostile("import ctypes\n"), 4, "ctypes"),
    ("signal", hostile("import signal\n"), 4, "signal"),
    ("open", in_tick('open("x", "w").write("owned")'), 10, "open"),
    ("private-of-another", in_tick("host = node.adversary._host"), 10, "private attribute ._host"),
    ("private-via-getattr", in_tick('emit = getattr(node, "_emit")'), 10, "private attribute ._emit"),
    ("typing-sys", hostile("import typing\nm = typing.sys\n"), 5, "typing.sys is a module"),
    ("from-typing-sys", hostile("from typing import sys\n"), 4, "typing.sys is a module"),
    ("eval-in-disguise", hostile("from typing import get_type_hints\n"), 4, "evaluates strings"),
    ("pydantic-import-string", hostile("from pydantic import ImportString\n"), 4, "pydantic.ImportString"),
    ("attrgetter", hostile("from operator import attrgetter\n"), 4, "operator.attrgetter"),
    ("module-as-value", hostile("import json\nm = json\n"), 5, "module json"),
    ("monkeypatch", hostile("from honest.schema import Vote\nVote.verify = lambda v: True\n"), 5, "shared"),
    ("schema-reexport", hostile("from honest.schema import default_eccrypto\n"), 4, "not defined by honest.schema"),
    ("honest-node", hostile("import honest.schema\nn = honest.node\n"), 5, "honest.node"),
    ("system-exit", in_tick("raise SystemExit(7)"), 10, "SystemExit"),
    ("dunder-string", in_tick('k = "__globals__"'), 10, "dunder"),
    ("format-private", in_tick('s = "{0._host}".format(node.adversary)'), 10, "private"),
    ("rebind-self", in_tick("self = node.adversary"), 10, "self may not be rebound"),
    ("self-outside-method", hostile("\n\ndef f(self):\n    return self._host\n"), 6, "first parameter of a method"),
    ("unbound-method", in_tick("P.arena_tick(node.adversary, node, now)"), 10, "through the class"),
    ("bad-decorator", hostile("\n\ndef deco(fn):\n    return fn\n\n\nclass Q(Plugin):\n    @deco\n"
                              "    def m(self) -> None:\n        pass\n"), 11, "decorator"),
    ("type-class", in_tick("k = type(node)(0, 'r', 'red', None, None, None)"), 10, "type()"),
    ("forward-ref-code", hostile("from arena import Params\n\n\nclass X(Params):\n"
                                 "    v: \"__import__('os').getcwd()\" = 1\n"), 8, "__import__"),
    ("annotation-computed", hostile("from arena import Params\n\nT = 'i' + 'nt'\n\n\nclass X(Params):\n    v: T = 1\n"),
     6, "may hold only types"),
    ("annotation-variable", hostile("from arena import Params\n\n\nclass X(Params):\n    T = int\n    v: T = 1\n"),
     9, "variable"),
    ("deepcopy-memo", hostile("import copy\n\nmemo: dict = {}\ncopy.deepcopy(arena, memo)\n"), 7, "deepcopy"),
    ("star", hostile("from math import *\n"), 4, "import *"),
    ("match-class-dunder", in_tick("match node:", "    case object(__class__=k):", "        pass"), 11, "__class__"),
    ("syntax-error", hostile("def (:\n"), 4, "syntax error"),
]


@pytest.mark.parametrize(("source", "line", "words"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_plugin_sources_are_refused(source: str, line: int, words: str) -> None:
    found = check_plugin_source(source, "evil.py")
    assert found, f"accepted:\n{source}"
    first = found[0]
    assert isinstance(first, Violation) and first.filename == "evil.py"
    assert first.line == line, "\n".join(map(str, found))
    assert any(words in v.message for v in found if v.line == line), "\n".join(map(str, found))


def test_the_hostile_set_is_large_enough() -> None:
    assert len(HOSTILE) >= 15


ALLOWED = hostile('''
import math
from collections import Counter, abc
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from arena import Params
from honest.schema import TX_TRANSFER, Gossip


Speed = Literal["fast", "slow"]


class OkParams(Params):
    mode: Speed = "fast"
    n: int = Field(default=3, ge=1)


@dataclass
class Seen:
    ids: list[bytes] = field(default_factory=list)


class Ok(Plugin):
    """Uses what a plugin may use: __init__ in a docstring is fine."""

    name = "ok"
    team = "blue"
    Params = OkParams

    def __init__(self, node: NodeContext, params: OkParams) -> None:
        super().__init__(node, params)
        self._seen = Seen()
        self.counts: Counter[str] = Counter()

    @property
    def seen(self) -> int:
        return len(self._seen.ids)

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        if not getattr(self, "done", False) and hasattr(node, "adversary"):
            self.done = True
            self.counts[type(node).__name__] += 1
            node.log("tick", root=math.sqrt(now), kind=TX_TRANSFER, callable=isinstance(node, abc.Callable))

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        if isinstance(message.payload, Gossip):
            message.delay += node.rng.random()
''')


def test_a_plugin_using_the_allowed_surface_passes() -> None:
    assert check_plugin_source(ALLOWED, "ok.py") == []


# -- end to end: a hostile file never runs -----------------------------------------------------------------------

EXITING = '''\
"""Would kill the arena the moment it is imported, and leave a marker behind."""

from __future__ import annotations

import sys
from pathlib import Path

from arena import Plugin

Path({marker!r}).write_text("I ran")
sys.exit(7)


class Exiting(Plugin):
    name = "exiting"
    team = "red"
'''


def write_exiting(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "exiting.py"
    path.write_text(EXITING.format(marker=str(marker)), encoding="utf-8")
    return path, marker


def test_load_file_refuses_a_hostile_file_before_running_it(tmp_path: Path) -> None:
    path, marker = write_exiting(tmp_path)
    with pytest.raises(PluginError) as err:
        load_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:5: import of sys is not allowed"), message
    assert "more)" in message and "\n" not in message
    assert not marker.exists(), "the plugin's module code ran"
    with pytest.raises(PluginError, match=r":5: "):
        check_plugin_file(path)


def test_cli_refuses_a_hostile_file_with_one_line(tmp_path: Path) -> None:
    path, marker = write_exiting(tmp_path)
    result = CliRunner().invoke(main, ["plugins", "--plugin", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"{path.name}:5:" in lines[0] and "sys" in lines[0]
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_a_stale_bytecode_cache_is_not_what_runs(tmp_path: Path) -> None:
    """The checked text is compiled, not a .pyc shipped next to it (an unchecked-hash pyc skips the source)."""
    import py_compile

    marker = tmp_path / "marker.txt"
    path = tmp_path / "cached.py"
    hostile_code = f"from pathlib import Path\n\nPath({str(marker)!r}).write_text('I ran')\nfrom arena import"
    path.write_text(GOOD.replace("good_one", "from_pyc").replace("from arena import", hostile_code), encoding="utf-8")
    pyc = py_compile.compile(str(path), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    path.write_text(GOOD, encoding="utf-8")  # the source is clean now; the cache still holds the hostile code
    assert pyc and Path(pyc).exists()
    (cls,) = load_file(path)
    assert cls.name == "good_one"
    assert not marker.exists()


GOOD = '''\
"""A well-behaved plugin in the template's shape."""

from __future__ import annotations

from typing import Any

from arena import NodeContext, Params, Plugin, hookimpl


class GoodParams(Params):
    delay: float = 0.5


class GoodOne(Plugin):
    """Delay every message."""

    name = "good_one"
    team = "red"
    Params = GoodParams

    def __init__(self, node: NodeContext, params: GoodParams) -> None:
        super().__init__(node, params)
        self.params: GoodParams = params

    @hookimpl
    def arena_outgoing_message(self, node: NodeContext, message: Any) -> None:
        message.delay += self.params.delay
'''


def test_a_good_plugin_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "good_one.py"
    path.write_text(GOOD, encoding="utf-8")
    (cls,) = load_file(path)
    assert cls.name == "good_one" and cls.team == "red"
    result = CliRunner().invoke(main, ["plugins", "--plugin", str(path)])
    assert result.exit_code == 0, result.output
    assert "good_one" in result.output


# -- catching the arena's timeout, and format strings built at run time ------------------------------------------

TIMEOUT_CATCHES = [
    # PluginTimeout is a BaseException raised inside a hook that runs too long: none of these may reach or swallow it
    "def everything() -> tuple:\n    return tuple(Exception.mro())\n",
    "def everything() -> list:\n    return type.mro(Exception)\n",
    "def everything(e: type) -> object:\n    return getattr(e, 'mro')\n",
    "class Swallow:\n    def __enter__(self):\n        return self\n\n    def __exit__(self, *exc):\n"
    "        return True\n",
    "class Swallow:\n    async def __aexit__(self, *exc):\n        return True\n",
    "def f() -> None:\n    try:\n        pass\n    except:\n        pass\n",
    "def f() -> None:\n    try:\n        pass\n    except tuple(e for e in ()):\n        pass\n",
    "def f(errs: list) -> None:\n    try:\n        pass\n    except errs[0]:\n        pass\n",
    "def f(rest: list) -> None:\n    try:\n        pass\n    except (ValueError, *rest):\n        pass\n",
    "def f(errs: tuple) -> None:\n    try:\n        pass\n    except errs:\n        pass\n",
    "class C:\n    errs = (ValueError,)\n\ndef f() -> None:\n    try:\n        pass\n    except C.errs:\n"
    "        pass\n",
    "def f() -> int:\n    try:\n        return 0\n    finally:\n        return 1\n",
    "def f() -> None:\n    try:\n        try:\n            pass\n        finally:\n            raise ValueError\n"
    "    except ValueError:\n        pass\n",
]


@pytest.mark.parametrize("body", TIMEOUT_CATCHES)
def test_the_import_check_refuses_ways_to_catch_a_timeout(body: str) -> None:
    assert check_plugin_source(body, "escape.py"), body


COMPUTED_FORMATS = [
    "('{0.' + '_host}').format(x)",
    "(chr(123) + '0.' + chr(95) + 'host' + chr(125)).format(x)",
    "bytes([123, 48, 46, 95, 104, 111, 115, 116, 125]).decode().format(x)",
    "''.join(['{0.', '_host}']).format(x)",
    "str.format('{0.' + '_host}', x)",
    "str.format_map('{a.' + '_host}', {'a': x})",
    "('{a.' + '_host}').format_map({'a': x})",
    "getattr('{0.' + '_host}', 'format')(x)",
    "x.vformat('{0}', [x], {})",
]


@pytest.mark.parametrize("expr", COMPUTED_FORMATS)
def test_the_import_check_refuses_computed_format_strings(expr: str) -> None:
    assert check_plugin_source(f"def f(x: object) -> str:\n    return {expr}\n", "fmt.py"), expr


def test_the_import_check_refuses_a_format_string_held_in_a_variable() -> None:
    assert check_plugin_source("FIELD = '{0.' + '_host}'\n\n\ndef f(x: object) -> str:\n    return FIELD.format(x)\n",
                               "fmt.py")


STILL_ALLOWED = '''\
import json


class MyError(Exception):
    pass


def f(x: str) -> str:
    try:
        return json.loads(x)
    except (json.JSONDecodeError, MyError, ValueError) as exc:
        return "{0}: {1!r:>10}".format(type(exc).__name__, x) + "{a}".format_map({"a": x}) + f"{x:>{len(x)}}"
    except Exception:
        return ""
'''


def test_literal_format_strings_and_named_exception_classes_stay_allowed() -> None:
    assert check_plugin_source(STILL_ALLOWED, "ok.py") == []
