"""A py-ipv8 ``UDPEndpoint`` for live battles: exact bind, a guard against hostile input, and paced sends.

In front of the node (before py-ipv8 decodes or verifies anything): a packet-size bound and a token bucket per
source *IP*: each IP of the battle plan gets its own bucket (sized for the plan's nodes on it), every other IP shares
one global budget. A flooder costs a dictionary lookup per packet whatever ports or unknown IPs it sends from, and
cannot starve the known peers. Behind it: sends go through a small queue drained at a bounded rate, so a broadcast
burst does not overflow the receivers' socket buffers. Topology edges and scheduled partitions of the scenario are
enforced here too (the simulator does it in its network), and, in a rehearsal with ``--emulate-links``, the
scenario's link latency, jitter and loss (:mod:`arena.live.links`). Every drop is counted by reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address

from arena.plugin_api.packet import Packet

Address = tuple[str, int]
PacketHook = Callable[[Packet], None]
Blocked = Callable[[Address, Address], str | None]
LinkDelay = Callable[[Address, float], float | None]

#: Ask the kernel for large socket buffers (it caps them at net.core.rmem_max / wmem_max).
SOCKET_BUFFER = 4 * 1024 * 1024
#: Datagrams read in one go after asyncio hands over one (bounded, so other sockets and timers get their turn).
READ_BATCH = 64
log = logging.getLogger(__name__)


class BindError(OSError):
    """The planned address could not be bound (py-ipv8's own endpoint would silently try the next port)."""


@dataclass(frozen=True)
class GuardSettings:
    """Limits of a live endpoint (per node)."""

    max_packet: int = 65507  # bytes; larger packets are dropped on both sides (as the simulator's link MTU)
    peer_rate: float = 500.0  # packets per second per plan node at a known IP (an IP with k nodes: k x this)
    peer_burst: float = 400.0  # bucket size per plan node at that IP (k x this)
    unknown_rate: float = 500.0  # packets per second from all IPs outside the plan together (one global bucket)
    unknown_burst: float = 400.0  # bucket size of that global budget
    send_rate: float = 8000.0  # packets per second leaving this endpoint
    send_burst: float = 256.0  # packets that may leave back to back
    send_queue: int = 20_000  # packets waiting to leave; beyond, new sends are dropped


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take`` spends one if available."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until one token is available (after a ``refill``)."""
        return max(0.0, (1.0 - self.tokens) / self.rate) if self.rate > 0 else 1.0


@dataclass
class EndpointStats:
    """What one live endpoint measured: packets handed to the socket, received, accepted, dropped by reason."""

    sent: int = 0
    bytes_sent: int = 0
    received: int = 0  # read from the socket
    delivered: int = 0  # passed the guard and handed to py-ipv8
    dropped: Counter[str] | None = None
    max_queue: int = 0
    sent_known: int = 0  # to / from addresses of the battle plan (what network loss is measured on)
    received_known: int = 0
    rcvbuf: int = 0  # the receive buffer the kernel granted (bytes)

    def __post_init__(self) -> None:
        if self.dropped is None:
            self.dropped = Counter()

    def as_dict(self) -> dict[str, Any]:
        assert self.dropped is not None
        return {"sent": self.sent, "bytes_sent": self.bytes_sent, "received": self.received,
                "delivered": self.delivered, "dropped": sum(self.dropped.values()),
                "dropped_by_reason": dict(sorted(self.dropped.items())), "max_queue": self.max_queue,
                "sent_known": self.sent_known, "received_known": self.received_known, "rcvbuf": self.rcvbuf}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LiveEndpoint(UDPEndpoint):
    """A UDP endpoint bound to exactly ``(ip, port)``, with an ingress guard and an egress pacer."""

    def __init__(self, ip: str = "127.0.0.1", port: int = 0, settings: GuardSettings | None = None,
                 allow_non_loopback: bool = False) -> None:
        if not is_loopback(ip) and not allow_non_loopback:
            raise BindError(f"live endpoints bind to loopback only, not {ip}")
        super().__init__(port=port, ip=ip, sockopts=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER),
                                                     (socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)])
        self._running: bool = False
        self._port: int = port
        self.settings = settings or GuardSettings()
        self.stats = EndpointStats()
        self.outgoing: PacketHook | None = None  # transport hooks (red plugins), as the simulator's endpoint
        self.incoming: PacketHook | None = None
        self.blocked: Blocked | None = None  # topology / partition: a drop reason for (src, dst), or None
        self.link_delay: LinkDelay | None = None  # --emulate-links: (dst, now) -> None (lost) or seconds to wait
        self.on_packet_event: Callable[[str, Address, Address, int], None] | None = None  # trace level "packets"
        self.on_error: Callable[[BaseException], None] | None = None  # a listener raised on a packet
        self.known: frozenset[Address] = frozenset()  # the battle's node addresses (for loss accounting)
        self.clock: Callable[[], float] = time.monotonic  # the ingress guard's clock (a test may drive it)
        self._buckets: dict[str, TokenBucket] = {}  # one per known source IP (see set_known)
        self._unknown = TokenBucket(self.settings.unknown_rate, self.settings.unknown_burst, self.clock())
        self._queue: deque[tuple[Address, bytes]] = deque()
        self._send_bucket = TokenBucket(self.settings.send_rate, self.settings.send_burst, time.monotonic())
        self._drain_handle: asyncio.TimerHandle | None = None
        self._address: Address = (ip, port)
        self._sock: socket.socket | None = None
        self._reading = False

    def set_known(self, addresses: Iterable[Address]) -> None:
        """The battle plan's node addresses: loss is measured on them, and each of their IPs gets its own ingress
        bucket of ``k x peer_rate`` (burst ``k x peer_burst``) for the ``k`` plan nodes on it, since one address
        cannot tell apart the nodes that share it (all of ``arena live`` on 127.0.0.1). Every other IP falls into
        the one global bucket for unknown sources."""
        self.known = frozenset((str(a[0]), int(a[1])) for a in addresses)
        per_ip = Counter(a[0] for a in self.known)
        st, now = self.settings, self.clock()
        self._buckets = {ip: TokenBucket(st.peer_rate * k, st.peer_burst * k, now) for ip, k in per_ip.items()}
        self._unknown = TokenBucket(st.unknown_rate, st.unknown_burst, now)

    # -- socket ----------------------------------------------------------------------------------------------------
    async def open(self) -> bool:
        """Bind exactly the planned address (no silent move to another port, unlike ``UDPEndpoint.open``)."""
        if self._running:
            return True
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for level, optname, value in self._sockopts:
                s.setsockopt(level, optname, value)
            s.bind((self._ip, self._port))
        except OSError as exc:
            s.close()
            raise BindError(f"cannot bind {self._ip}:{self._port}: {exc}") from exc
        s.setblocking(False)
        self._sock = s
        self._port = s.getsockname()[1]
        self._address = (self._ip, self._port)
        self.stats.rcvbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if self.stats.rcvbuf < SOCKET_BUFFER:
            log.info("%s:%d: the kernel granted a %d-byte receive buffer (raise net.core.rmem_max for bursts)",
                     self._ip, self._port, self.stats.rcvbuf)
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=s)
        self._running = True
        return True

    @property
    def address(self) -> Address:
        return self._address

    def get_address(self) -> Address:
        return self._address

    def close(self) -> None:
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        self._queue.clear()
        super().close()

    def error_received(self, exc: Exception) -> None:
        """ICMP port unreachable and friends (a peer that is not up): counted, not logged."""
        assert self.stats.dropped is not None
        self.stats.dropped["icmp_error"] += 1

    # -- ingress ---------------------------------------------------------------------------------------------------
    def datagram_received(self, datagram: bytes, addr: Any) -> None:
        """One datagram from asyncio; then read on while the socket has more (up to ``READ_BATCH``): under a
        flood, a read per event-loop iteration is what would let the kernel buffer overflow."""
        if self._reading:
            self._receive(datagram, addr)
            return
        self._reading = True
        try:
            self._receive(datagram, addr)
            sock = self._sock
            for _ in range(READ_BATCH):
                if sock is None or not self._running:
                    break
                try:
                    datagram, addr = sock.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                self._receive(datagram, addr)
        finally:
            self._reading = False

    def _receive(self, datagram: bytes, addr: Any) -> None:
        if not self._running:
            return
        stats = self.stats
        stats.received += 1
        src: Address = (addr[0], addr[1])
        if src in self.known:
            stats.received_known += 1
        reason = self._admit(src, datagram)
        if reason is not None:
            self._drop(reason, src, self._address, len(datagram))
            return
        if self.incoming is not None:
            pkt = Packet(src, self._address, datagram)
            self.incoming(pkt)
            if pkt.drop:
                self._drop("plugin", src, self._address, len(datagram))
                return
            datagram = pkt.data
        stats.delivered += 1
        self.bytes_down += len(datagram)
        if self.on_packet_event is not None:
            self.on_packet_event("deliver", src, self._address, len(datagram))
        self.notify_listeners((UDPv4Address(*src), datagram))

    def _admit(self, src: Address, datagram: bytes) -> str | None:
        """The guard: size, the token bucket of the source IP (or the global one of unknown IPs), topology and
        partition. A drop reason, or None to accept. Runs before py-ipv8 decodes or verifies the packet, so a
        flood costs a lookup, not a signature check; the source port plays no part (a fresh port per packet
        gains nothing)."""
        if len(datagram) > self.settings.max_packet:
            return "oversize"
        bucket = self._buckets.get(src[0], self._unknown)
        if not bucket.take(self.clock()):
            return "rate_limited"
        if self.blocked is not None:
            return self.blocked(src, self._address)
        return None

    def notify_listeners(self, packet: tuple[Any, bytes]) -> None:
        """As :meth:`Endpoint.notify_listeners`, with a handler's exception contained (asyncio would close the
        socket if ``datagram_received`` raised)."""
        prefix = packet[1][:self.prefixlen]
        for listener in self._prefix_map.get(prefix, self._listeners):
            if self._running and (prefix in self._prefix_map or listener in self._listeners):
                try:
                    listener.on_packet(packet)
                except Exception as exc:  # a handler bug must not close the socket (asyncio would)
                    assert self.stats.dropped is not None
                    self.stats.dropped["handler_error"] += 1
                    if self.on_error is not None:
                        self.on_error(exc)

    # -- egress ----------------------------------------------------------------------------------------------------
    def send(self, socket_address: Any, packet: bytes) -> None:
        if not self._running:
            return
        dst: Address = (str(socket_address[0]), int(socket_address[1]))
        if self.outgoing is not None:
            pkt = Packet(self._address, dst, packet)
            self.outgoing(pkt)
            if pkt.drop or pkt.copies < 1:
                self._drop("plugin", self._address, dst, len(packet))
                return
            if pkt.delay > 0:
                data, copies = pkt.data, pkt.copies
                asyncio.get_running_loop().call_later(pkt.delay, self._enqueue_copies, pkt.dst, data, copies)
                return
            self._enqueue_copies(pkt.dst, pkt.data, pkt.copies)
            return
        self._enqueue(dst, packet)

    def _enqueue_copies(self, dst: Address, data: bytes, copies: int) -> None:
        for _ in range(copies):
            self._enqueue((dst[0], dst[1]), data)

    def _enqueue(self, dst: Address, data: bytes) -> None:
        if not self._running:
            return
        if len(data) > self.settings.max_packet:
            self._drop("oversize", self._address, dst, len(data))
            return
        if self.blocked is not None:
            reason = self.blocked(self._address, dst)
            if reason is not None:
                self._drop(reason, self._address, dst, len(data))
                return
        if self.link_delay is not None:
            delay = self.link_delay(dst, time.monotonic())
            if delay is None:
                self._drop("link_loss", self._address, dst, len(data))
                return
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._pace, dst, data)
                return
        self._pace(dst, data)

    def _pace(self, dst: Address, data: bytes) -> None:
        """Send now if the pacer allows and nothing waits, else queue (bounded)."""
        if not self._running:
            return
        queue = self._queue
        if not queue and self._send_bucket.take(time.monotonic()):
            self._sendto(dst, data)
            return
        if len(queue) >= self.settings.send_queue:
            self._drop("send_queue_full", self._address, dst, len(data))
            return
        queue.append((dst, data))
        if len(queue) > self.stats.max_queue:
            self.stats.max_queue = len(queue)
        if self._drain_handle is None:
            self._schedule_drain()

    def _schedule_drain(self) -> None:
        self._send_bucket.refill(time.monotonic())
        delay = self._send_bucket.wait()
        self._drain_handle = asyncio.get_running_loop().call_later(max(delay, 0.0005), self._drain)

    def _drain(self) -> None:
        self._drain_handle = None
        if not self._running:
            return
        queue = self._queue
        bucket = self._send_bucket
        now = time.monotonic()
        while queue and bucket.take(now):
            dst, data = queue.popleft()
            self._sendto(dst, data)
        if queue:
            self._schedule_drain()

    def _sendto(self, dst: Address, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self._drop("closed", self._address, dst, len(data))
            return
        try:
            transport.sendto(data, dst)
        except (OSError, TypeError, ValueError):
            self._drop("send_error", self._address, dst, len(data))
            return
        self.stats.sent += 1
        self.stats.bytes_sent += len(data)
        if dst in self.known:
            self.stats.sent_known += 1
        self.bytes_up += len(data)
        if self.on_packet_event is not None:
            self.on_packet_event("send", self._address, dst, len(data))

    def pending(self) -> int:
        """Packets waiting in the send queue."""
        return len(self._queue)

    def _drop(self, reason: str, src: Address, dst: Address, size: int) -> None:
        assert self.stats.dropped is not None
        self.stats.dropped[reason] += 1
        if self.on_packet_event is not None and reason not in ("rate_limited", "oversize"):
            self.on_packet_event(f"drop:{reason}", src, dst, size)


def own_udp_sockets() -> list[str] | None:
    """Local addresses (``ip:port``) of every IPv4/IPv6 UDP socket this process has open (Linux; else None)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, v6 in (("/proc/net/udp", False), ("/proc/net/udp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[9] in inodes:
                out.append(_proc_address(cols[1], v6))
    return sorted(out)


def _proc_address(text: str, v6: bool) -> str:
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    if v6:
        words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
        return f"[{ipaddress.IPv6Address(words)}]:{int(hex_port, 16)}"
    return f"{ipaddress.IPv4Address(raw[::-1])}:{int(hex_port, 16)}"


def loopback_only() -> None:
    """Make py-ipv8 never probe the machine's interfaces (its LAN address providers open sockets towards
    TEST-NET-1): a live node's LAN and WAN address are set explicitly instead."""
    from ipv8 import overlay
    from ipv8.messaging.interfaces.lan_addresses import interfaces

    def no_providers() -> list[Any]:
        return []

    interfaces.get_providers = no_providers  # type: ignore[assignment]
    overlay.get_providers = no_providers  # type: ignore[attr-defined]


__all__ = ["SOCKET_BUFFER", "BindError", "EndpointStats", "GuardSettings", "LiveEndpoint", "TokenBucket",
           "is_loopback", "loopback_only", "own_udp_sockets"]
