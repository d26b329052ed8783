"""The public plugin API: everything an attack or defense may import from ``arena``.

A plugin is a class with ``@hookimpl`` methods; the arena makes one instance per node it is attached to, with the
validated parameters and a :class:`NodeContext`. The context is the plugin's only handle on the world: the time,
a seeded random stream, the trace, and (for red plugins) the adversary capability.
"""

from __future__ import annotations

import json
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


EVENT_BYTES = 4096  # one plugin trace event's data, as JSON, at most
RESERVED = frozenset({"t", "ev", "node", "plugin", "event", "kind", "detail"})


class NodeContext:
    """What a plugin sees of the node it runs in: identity, time, randomness, trace, and capabilities.

    A plugin's own context is sealed once the arena has built it: its identity (``index``, ``role``, ``team``,
    ``account``, ``plugin``) cannot be changed, so trace events written through it always carry the true node and
    plugin. Event data must be plain JSON of at most :data:`EVENT_BYTES` bytes, and the number of events counts
    against the plugin's bounds.
    """

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
        self._charge: Callable[[int], bool] | None = None
        self._sealed = False

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(f"NodeContext.{name} is read-only for plugins")
        object.__setattr__(self, name, value)

    def seal(self, charge: Callable[[int], bool] | None = None) -> None:
        """Freeze this context (the arena calls it before handing the context to a plugin)."""
        object.__setattr__(self, "_charge", charge)
        object.__setattr__(self, "_sealed", True)

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}"

    def now(self) -> float:
        """Virtual time in the simulator, seconds since start in a live battle."""
        return self._clock()

    def log(self, event: str, **data: Any) -> None:
        """Record a plugin event in the trace (shown on the report's timeline)."""
        self._record("plugin", {"event": _text(event, "event")}, data)

    def evidence(self, kind: str, detail: str, **data: Any) -> None:
        """Declare that the attack fired (the referee says ``unknown`` for a battle where no attack fired)."""
        self._record("evidence", {"kind": _text(kind, "kind"), "detail": _text(detail, "detail")}, data)

    def _record(self, ev: str, head: dict[str, Any], data: dict[str, Any]) -> None:
        clash = RESERVED.intersection(data)
        if clash:
            raise ValueError(f"event data may not use the reserved keys {sorted(clash)}")
        text = json.dumps(data, sort_keys=True, default=_plain)
        if len(text) > EVENT_BYTES:
            raise ValueError(f"event data is {len(text)} bytes as JSON; at most {EVENT_BYTES}")
        if self._charge is not None and not self._charge(len(text)):
            return  # over the plugin's event budget: the caller has stopped the plugin
        self._emit(ev, node=self.index, plugin=self.plugin, **head, **json.loads(text))


def _text(value: Any, what: str) -> str:
    if type(value) is not str or len(value) > 500:
        raise ValueError(f"{what} must be a str of at most 500 characters")
    return value


def _plain(obj: Any) -> Any:
    """JSON for the few non-JSON values a plugin may log: bytes as hex; anything else is refused."""
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"event data must be plain JSON (str, numbers, lists, dicts) or bytes, not {type(obj).__name__}")
