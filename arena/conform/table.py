"""The kit's pass/fail table (rich), one row per check with its evidence in one line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from arena.conform.checks import CheckResult

if TYPE_CHECKING:
    from rich.table import Table


def table(protocol: str, results: Sequence[CheckResult]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    passed = sum(r.passed for r in results)
    t = Table(title=f"arena conform {escape(protocol)}: {passed} of {len(results)} checks pass")
    t.add_column("check", no_wrap=True)
    t.add_column("battle")
    t.add_column("result", no_wrap=True)
    t.add_column("evidence")
    for r in results:
        mark = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
        t.add_row(escape(r.name), escape(r.battle), mark, escape(r.detail))
    return t


__all__ = ["table"]
