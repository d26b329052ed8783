"""Resource bounds of one plugin instance: packets, bytes and CPU time in hooks, per virtual second.

A red team that is losing would rather stall or flood the world than lose. Every plugin instance gets a meter:
packets and bytes it sends (through the adversary capability, or by copying packets in a transport hook) are
counted per virtual second, and the CPU time its hooks take is drawn from a token bucket refilled at a fixed rate
per virtual second. A hook call that runs longer than :data:`BOUNDS.call_cpu` seconds is interrupted (a watchdog
thread signals the main thread, where both backends run plugins). Going over any bound is a ``budget`` fault: the
plugin is stopped and named, in the simulator and live alike.

Packets and bytes are counted in virtual time, so they are deterministic. Time spent in hooks cannot be (it is
measured on the machine's clock, the only place the simulator reads it): the bounds are set far above what an
attack needs, so a plugin within them never
notices, and one near them is already broken. ``docs/plugins.md`` lists the numbers.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType


@dataclass(frozen=True)
class Bounds:
    """The per-plugin limits (one set for every plugin; documented in docs/plugins.md)."""

    packets_per_second: int = 2_000  # packets sent per virtual second (copies included)
    bytes_per_second: int = 4 * 1024 * 1024  # bytes sent per virtual second
    cpu_per_second: float = 1.0  # seconds spent in hooks per virtual second, on average ...
    cpu_burst: float = 5.0  # ... with this much saved up (the bucket's size; a battle starts with it full)
    call_cpu: float = 5.0  # seconds one hook call may take before it is interrupted
    events_per_second: int = 200  # trace events (log, evidence) per virtual second
    event_bytes_per_second: int = 64 * 1024  # their data, as JSON, per virtual second
    max_copies: int = 8  # ``packet.copies`` / ``message.copies`` at most
    max_delay: float = 60.0  # ``packet.delay`` / ``message.delay`` at most (seconds)


BOUNDS = Bounds()


class PluginTimeout(BaseException):
    """Raised inside a plugin's hook that ran past ``call_cpu`` (a BaseException: ``except Exception`` in plugin
    code does not swallow it, and the import check refuses bare ``except:`` and ``except BaseException``)."""


class Meter:
    """One plugin instance's use of its bounds."""

    __slots__ = ("_event_window", "_window", "bounds", "bytes", "cpu_tokens", "event_bytes", "events", "last_refill",
                 "packets")

    def __init__(self, bounds: Bounds = BOUNDS) -> None:
        self.bounds = bounds
        self.cpu_tokens = bounds.cpu_burst
        self.last_refill = 0.0
        self._window = -1
        self.packets = 0
        self.bytes = 0
        self._event_window = -1
        self.events = 0
        self.event_bytes = 0

    def charge_event(self, now: float, size: int) -> str | None:
        """Count one trace event of ``size`` bytes at virtual time ``now``; the bound broken, or None."""
        window = int(now)
        if window != self._event_window:
            self._event_window, self.events, self.event_bytes = window, 0, 0
        self.events += 1
        self.event_bytes += size
        b = self.bounds
        if self.events > b.events_per_second:
            return f"wrote more than {b.events_per_second} trace events in virtual second {window}"
        if self.event_bytes > b.event_bytes_per_second:
            return f"wrote more than {b.event_bytes_per_second} bytes of trace events in virtual second {window}"
        return None

    def charge_send(self, now: float, packets: int, size: int) -> str | None:
        """Count ``packets`` sends of ``size`` bytes each at virtual time ``now``; the bound broken, or None."""
        window = int(now)
        if window != self._window:
            self._window, self.packets, self.bytes = window, 0, 0
        self.packets += packets
        self.bytes += packets * size
        b = self.bounds
        if self.packets > b.packets_per_second:
            return f"sent more than {b.packets_per_second} packets in virtual second {window}"
        if self.bytes > b.bytes_per_second:
            return f"sent more than {b.bytes_per_second} bytes in virtual second {window}"
        return None

    def charge_cpu(self, now: float, seconds: float) -> str | None:
        """Draw ``seconds`` of hook CPU time at virtual time ``now``; the bound broken, or None."""
        b = self.bounds
        if now > self.last_refill:
            self.cpu_tokens = min(b.cpu_burst, self.cpu_tokens + (now - self.last_refill) * b.cpu_per_second)
            self.last_refill = now
        self.cpu_tokens -= seconds
        if self.cpu_tokens < 0:
            return f"spent more than {b.cpu_per_second:g} s per virtual second in hooks (CPU budget, burst " \
                   f"{b.cpu_burst:g} s)"
        return None


class Stopwatch:
    """Times the outermost hook call and interrupts one that runs past ``call_cpu`` seconds.

    Timing reads ``time.perf_counter`` (no system call: a hook call costs two cheap reads). A watchdog thread,
    started with the first call, looks every 50 ms whether a call has run past the limit and, if so, signals the
    main thread. The ``SIGPROF`` handler raises :class:`PluginTimeout` inside the plugin's code and, from then on
    until the call ends, traces the plugin's own file: every line of it raises again, so neither ``except`` nor a
    context manager's ``__exit__`` can keep the call alive (the import check refuses those too). Outside the main
    thread (e.g. a distributed tournament's worker) signals cannot reach the code, so only the per-second bucket
    bounds it.
    """

    def __init__(self, bounds: Bounds = BOUNDS) -> None:
        self.limit = bounds.call_cpu
        self.depth = 0
        self.files: frozenset[str] = frozenset()
        self._started = 0.0
        self._running = False
        self._watchdog: threading.Thread | None = None
        self._main = threading.main_thread()

    def start(self, limit: float | None = None, file: str | None = None) -> None:
        self.depth += 1
        if self.depth > 1:
            return
        if limit is not None:
            self.limit = limit
        self.files = frozenset({file, os.path.realpath(file)}) if file else frozenset()
        self._started = time.perf_counter()
        self._running = True
        if self._watchdog is None and threading.current_thread() is self._main and hasattr(signal, "pthread_kill"):
            if signal.getsignal(signal.SIGPROF) is not _on_sigprof:
                signal.signal(signal.SIGPROF, _on_sigprof)
            self._watchdog = threading.Thread(target=self._watch, name="arena-plugin-watchdog", daemon=True)
            self._watchdog.start()

    def stop(self) -> float | None:
        """End a call; the seconds of the outermost call when this ends it, else None."""
        self.depth -= 1
        if self.depth > 0:
            return None
        self._running = False
        if sys.gettrace() is _trace_plugin_lines:
            sys.settrace(None)
        return time.perf_counter() - self._started

    def _watch(self) -> None:
        ident = self._main.ident
        while self._main.is_alive() and ident is not None:
            time.sleep(0.05)
            if self._running and time.perf_counter() - self._started > self.limit:
                signal.pthread_kill(ident, signal.SIGPROF)

    def overdue(self) -> bool:
        return self._running and time.perf_counter() - self._started > self.limit


def _trace_plugin_lines(frame: FrameType, event: str, arg: object) -> object:
    """Once a call is overdue: any line of the plugin's own file raises (a trace function that raises is removed,
    so the next signal puts it back)."""
    if event in ("call", "line") and frame.f_code.co_filename in STOPWATCH.files and STOPWATCH.overdue():
        raise PluginTimeout("hook call ran past its time limit")
    return _trace_plugin_lines


def _on_sigprof(signum: int, frame: FrameType | None) -> None:
    if not STOPWATCH.overdue():
        return
    f = frame
    while f is not None:  # the plugin's frames now running: trace their lines too
        if f.f_code.co_filename in STOPWATCH.files:
            f.f_trace = _trace_plugin_lines
            f.f_trace_lines = True
        f = f.f_back
    sys.settrace(_trace_plugin_lines)  # type: ignore[arg-type]
    raise PluginTimeout("hook call ran past its time limit")


STOPWATCH = Stopwatch()
"""One per process: nested hook calls (a send that runs transport hooks) are charged to the outermost."""
