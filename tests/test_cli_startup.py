"""``arena --help`` stays cheap: it imports none of the battle machinery (simulator, live backend, referee, report,
plotting, graph library), because every command imports what it needs only when it runs. Each check runs the CLI in
a fresh interpreter and looks at ``sys.modules`` afterwards: a behaviour test, not a timing test
(``benchmarks/cli_startup.py`` measures the CPU)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from arena.cli.main import LAZY_COMMANDS, main

#: Never imported by ``arena --help`` / ``arena --version`` (a module, or a package and everything under it).
HEAVY = ("matplotlib", "numpy", "networkx", "yaml", "rich", "arena.sim", "arena.live", "arena.report",
         "arena.referee", "arena.experiments", "arena.scenario", "arena.plugin_host", "arena.protocols",
         "arena.cli.live", "arena.cli.judge", "arena.cli.schema", "arena.cli.scaffold")
#: What the public plugin API costs (``arena.plugin_api`` imports py-ipv8, pydantic and ``honest.schema``):
#: ``arena/__init__.py`` re-exports it lazily, so ``--help`` loads none of it.
PLUGIN_API_DEPS = ("ipv8", "pydantic", "honest", "pluggy", "arena.plugin_api", "arena.runtime")


def modules_after(*args: str) -> set[str]:
    """The modules loaded by ``arena ARGS`` in a fresh interpreter."""
    code = ("import json, sys\nfrom arena.cli.main import main\ntry:\n    main(sys.argv[1:], prog_name='arena')\n"
            "except SystemExit:\n    pass\nsys.stderr.write('\\n' + json.dumps(sorted(sys.modules)) + '\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_help_imports_no_battle_machinery(args: list[str]) -> None:
    modules = modules_after(*args)
    assert "arena.cli.main" in modules and "click" in modules
    assert loaded(modules, HEAVY) == []


def test_help_imports_not_even_the_plugin_api() -> None:
    assert loaded(modules_after("--help"), PLUGIN_API_DEPS) == []


def test_a_command_help_imports_only_what_that_command_needs() -> None:
    judge = modules_after("judge", "--help")
    assert "arena.cli.judge" in judge
    assert loaded(judge, ("matplotlib", "networkx", "arena.sim", "arena.live", "arena.report", "arena.experiments",
                          "arena.cli.live")) == []
    run = modules_after("run", "--help")  # shows --expect's choices: the referee's verdicts, nothing else
    assert loaded(run, ("matplotlib", "networkx", "arena.sim", "arena.live", "arena.report")) == []


def test_help_lists_every_command_with_its_own_first_line() -> None:
    listed = CliRunner().invoke(main, ["--help"]).output
    ctx = click.Context(main)
    for name in [*LAZY_COMMANDS, "run", "report", "plugins"]:
        assert f"\n  {name} " in listed, name
    for name, (_, line) in LAZY_COMMANDS.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None, name
        own = (cmd.help or "").partition("\n\n")[0]
        assert own.split() == line.split(), f"LAZY_COMMANDS[{name!r}] is not the first line of its help: {own!r}"
    assert CliRunner().invoke(main, ["--help"]).output == listed  # the same list once the commands are imported
