"""Broken on purpose: simplechain whose light nodes never record their intents (``env.events.intent``).

The referee cannot tell an honest payment from a forged one without them; ``arena conform`` must fail exactly
"transfers conserve supply" (no honest transfer to find), and nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_forgets_intents")


class ForgetsIntents(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "forgets_intents"

    def create_node(self, node: Any) -> Any:
        community = super().create_node(node)
        community.env = _Silent(community.env)
        return community


class _Silent:
    """The node's env with ``events.intent`` doing nothing."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self.events = _NoIntents(env.events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


class _NoIntents:
    def __init__(self, events: Any) -> None:
        self._events = events

    def intent(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)
