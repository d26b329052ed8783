"""What a plugin did wrong, in words its author can act on: plugin, hook, kind, error, and file:line in its own file.

A fault is recorded once, disables the plugin for the rest of the battle, and goes into the trace (``plugin_fault``
events) and ``result.json``; the referee turns any fault into a ``faulted`` verdict unless red stole anyway.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["exception", "bad_return", "bad_mutation", "budget"]
ERROR_CHARS = 300  # an exception message is the plugin's text: bounded before it enters the trace
FRAMES = 8  # frames kept per fault (a recursion has a thousand)


@dataclass(frozen=True)
class Fault:
    """One plugin fault (what ``plugin_fault`` trace events and ``result.json["plugin_faults"]`` hold)."""

    t: float
    node: int
    node_name: str
    plugin: str
    team: str
    hook: str
    kind: FaultKind
    error: str
    where: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        at = f" at {self.where[-1]}" if self.where else ""
        return f"{self.team} plugin {self.plugin} on {self.node_name} faulted in {self.hook}{at} ({self.error})"


def describe(exc: BaseException) -> str:
    """``Type: message``, bounded (a plugin controls the message)."""
    try:
        text = str(exc)
    except BaseException:  # a hostile __str__
        text = "<unprintable>"
    name = type(exc).__name__
    out = f"{name}: {text}" if text else name
    return out if len(out) <= ERROR_CHARS else out[: ERROR_CHARS - 1] + "…"


def plugin_frames(exc: BaseException, plugin_file: str | None) -> list[str]:
    """The traceback frames of ``exc`` inside the plugin's own file, outermost first, as ``path:line``."""
    if not plugin_file:
        return []
    want = os.path.realpath(plugin_file)
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except BaseException:
        return []
    shown = shown_path(plugin_file)
    own = [f"{shown}:{fr.lineno}" for fr in frames if fr.filename and os.path.realpath(fr.filename) == want]
    return own if len(own) <= FRAMES else [own[0], *own[-(FRAMES - 1):]]  # the hook's own line, and the innermost


def stack_frames(plugin_file: str | None) -> list[str]:
    """The frames of the running stack inside the plugin's own file (a fault found while the plugin runs, such as
    a send over its budget), outermost first."""
    if not plugin_file:
        return []
    want = os.path.realpath(plugin_file)
    shown = shown_path(plugin_file)
    own = [f"{shown}:{fr.lineno}" for fr in traceback.extract_stack()
           if fr.filename and os.path.realpath(fr.filename) == want]
    return own if len(own) <= FRAMES else [own[0], *own[-(FRAMES - 1):]]


def shown_path(path: str) -> str:
    """Relative to the working directory when the file is below it (as a user typed it), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


__all__ = ["Fault", "FaultKind", "describe", "plugin_frames", "shown_path", "stack_frames"]
