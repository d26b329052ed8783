"""The public plugin API: everything an attack or defense may import from ``arena``.

A plugin is a class with ``@hookimpl`` methods; the arena makes one instance per node it is attached to, with the
validated parameters and a :class:`NodeContext`. The context is the plugin's only handle on the world: the time,
a seeded random stream, the trace, and (for red plugins) the adversary capability.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pluggy
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from arena.plugin_api.adversary import Adversary

PROJECT = "arena"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

Team = Literal["red", "blue"]
WITHHOLD: Literal["withhold"] = "withhold"
"""Returned from a proposal or vote hook: do not send it at all."""


class Params(BaseModel):
    """Base class of a plugin's parameters: unknown keys and wrong types are scenario errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ParamsModel = Params


class Plugin:
    """Base class of attack and defense plugins.

    Subclasses set ``name`` (how scenarios refer to it), ``team`` ("red" or "blue") and optionally ``Params``.
    """

    name: ClassVar[str] = ""
    team: ClassVar[Team] = "blue"
    Params: ClassVar[type[ParamsModel]] = ParamsModel

    def __init__(self, node: NodeContext, params: ParamsModel) -> None:
        self.node = node
        self.params = params


@dataclass
class Evidence:
    """An attack plugin's statement that its attack actually fired, with what it did."""

    t: float
    node: int
    plugin: str
    kind: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class NodeContext:
    """What a plugin sees of the node it runs in: identity, time, randomness, trace, and capabilities."""

    def __init__(
        self,
        index: int,
        role: str,
        team: str,
        clock: Callable[[], float],
        emit: Callable[..., None],
        rng: random.Random,
        account: str = "",
        adversary: Adversary | None = None,
    ) -> None:
        self.index = index
        self.role = role
        self.team = team
        self._clock = clock
        self._emit = emit
        self.rng = rng
        self.account = account
        self.adversary = adversary
        self.plugin = ""

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}"

    def now(self) -> float:
        """Virtual time in the simulator, seconds since start in a live battle."""
        return self._clock()

    def log(self, event: str, **data: Any) -> None:
        """Record a plugin event in the trace (shown on the report's timeline)."""
        self._emit("plugin", node=self.index, plugin=self.plugin, event=event, **data)

    def evidence(self, kind: str, detail: str, **data: Any) -> None:
        """Declare that the attack fired (the referee says ``unknown`` for a battle where no attack fired)."""
        self._emit("evidence", node=self.index, plugin=self.plugin, kind=kind, detail=detail, **data)
