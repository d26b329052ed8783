"""The small interface an honest node is given by whoever runs it (the simulator or a live process).

The node never learns which backend it runs on: it asks ``env`` for the time, for randomness, to record events,
and to call plugin hooks. ``hooks`` is duck-typed (``has``/``call``/``first``) so that ``honest`` does not depend
on ``arena``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Hooks(Protocol):
    def has(self, name: str) -> bool: ...

    def call(self, name: str, **kwargs: Any) -> list[Any]: ...

    def first(self, name: str, **kwargs: Any) -> Any: ...


class NoHooks:
    """For a node run without any plugin."""

    def has(self, name: str) -> bool:
        return False

    def call(self, name: str, **kwargs: Any) -> list[Any]:
        return []

    def first(self, name: str, **kwargs: Any) -> Any:
        return None


@dataclass
class NodeEnv:
    index: int
    role: str  # validator | light | merchant
    team: str = "blue"
    clock: Callable[[], float] = lambda: 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    record: Callable[..., None] = lambda ev, **f: None
    hooks: Hooks = field(default_factory=NoHooks)
    plugin_context: Any = None  # what hooks receive as ``node``
    hooks_active: Callable[[], bool] = lambda: True  # False during the settle period for red nodes

    def now(self) -> float:
        return self.clock()

    def has_hook(self, name: str) -> bool:
        return self.hooks.has(name) and self.hooks_active()

    def call(self, name: str, **kwargs: Any) -> list[Any]:
        return self.hooks.call(name, node=self.plugin_context, **kwargs)

    def first(self, name: str, **kwargs: Any) -> Any:
        return self.hooks.first(name, node=self.plugin_context, **kwargs)
