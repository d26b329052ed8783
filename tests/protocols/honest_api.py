"""The honest node through the public protocol API, as a ``--protocol`` file (what ``arena conform honest`` runs)."""

from __future__ import annotations

from arena.conform.honest_api import HonestViaApi


class HonestApiFile(HonestViaApi):
    name = "honest_api"
