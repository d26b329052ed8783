"""The live backend: the same honest nodes and plugins on real py-ipv8 UDP endpoints (127.0.0.1 by default),
spread over OS processes, in real time. See ``docs/battle_day.md``."""

from __future__ import annotations

from arena.live.coordinator import LiveOutcome, run_live
from arena.live.endpoint import GuardSettings, LiveEndpoint
from arena.live.plan import BattlePlan
from arena.live.process import LiveProcess, ProcessSpec

__all__ = ["BattlePlan", "GuardSettings", "LiveEndpoint", "LiveOutcome", "LiveProcess", "ProcessSpec", "run_live"]
