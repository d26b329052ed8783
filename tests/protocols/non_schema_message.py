"""Broken on purpose: simplechain whose validators also send a home-made message (id 99, not in the schema).

``arena conform`` must fail exactly "wire schema only", and nothing else (receivers drop the packet at the
boundary, so it changes no state).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ipv8.messaging.lazy_payload import VariablePayload, vp_compile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _simplechain import load_copy

sc = load_copy("simplechain_non_schema_message")


@vp_compile
class Hello(VariablePayload):
    msg_id = 99
    format_list = ["I"]
    names = ["n"]


class NonSchemaMessage(sc.SimpleChain):  # type: ignore[name-defined,misc]
    name = "non_schema_message"

    def create_node(self, node: Any) -> Any:
        community = super().create_node(node)
        if node.role == "validator":
            def hello() -> None:
                for peer in community.validators():
                    community.ez_send(peer, Hello(1))

            community.register_task("hello", hello, interval=2.0, delay=1.0)
        return community
