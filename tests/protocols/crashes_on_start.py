"""Broken on purpose: a protocol whose validators cannot even be created (create_node raises).

Every battle crashes at its start; ``arena conform`` must report that as failed checks (exit 1), not crash itself.
"""

from __future__ import annotations

from typing import Any

from arena import NodeSetup, Protocol


class CrashesOnStart(Protocol):
    name = "crashes_on_start"

    def create_node(self, node: NodeSetup) -> Any:
        raise RuntimeError(f"{node.name}: not implemented yet")

    def node_state(self, community: Any, node: NodeSetup) -> dict[str, Any]:
        return {}
