"""The report's historical entry point, kept so ``from arena.report.html import write_report`` (the runner, the CLI)
goes on working; the report itself lives in :mod:`arena.report.data` (what it reads), :mod:`~arena.report.charts`,
:mod:`~arena.report.sections` and :mod:`~arena.report.page` (assembly and ``write_report``)."""

from __future__ import annotations

from arena.report.data import REPORT_NAME, account_names, load, natural_key
from arena.report.page import build_report, write_report

__all__ = ["REPORT_NAME", "account_names", "build_report", "load", "natural_key", "write_report"]
