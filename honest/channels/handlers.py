"""The channel messages a node handles, bound to its :class:`~honest.channels.manager.ChannelManager`.

The node registers these with py-ipv8 after its own handlers; each is wrapped in ``checked`` (decode, authenticate,
incoming-message hook) and calls the manager method of the same name on ``node.channels``. The order of
``_HANDLERS`` is the registration order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..messages import Address
from ..schema import (
    ChannelAccept,
    ChannelPropose,
    ChannelUpdate,
    ChannelUpdateAck,
    CloseRequest,
    Frozen,
    HtlcFail,
    HtlcFulfill,
    HtlcOffer,
)
from ..wire import checked


def _to_manager(method: str) -> Callable[[Any, bytes, Address, Any], None]:
    def handler(node: Any, key: bytes, src: Address, msg: Any) -> None:
        getattr(node.channels, method)(key, src, msg)

    handler.__name__ = method
    return handler


_HANDLERS: tuple[tuple[type[Frozen], str], ...] = (
    (ChannelPropose, "on_propose"), (ChannelAccept, "on_accept"), (ChannelUpdate, "on_update"),
    (ChannelUpdateAck, "on_update_ack"), (HtlcOffer, "on_offer"), (HtlcFulfill, "on_fulfill"),
    (HtlcFail, "on_fail"), (CloseRequest, "on_close_request"),
)


def message_handlers(node: Any) -> list[tuple[type[Frozen], Callable[[Address, bytes], None]]]:
    """The channel messages with ``checked`` handlers bound to ``node`` (which has ``.channels``)."""
    return [(cls, functools.partial(checked(cls)(_to_manager(name)), node)) for cls, name in _HANDLERS]
