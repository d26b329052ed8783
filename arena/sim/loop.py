"""A virtual-time asyncio event loop: runs unmodified py-ipv8 code, but time only moves when nothing is ready.

The loop subclasses :class:`asyncio.BaseEventLoop` so that tasks, futures, ``call_soon`` and friends behave exactly
as asyncio defines them; only the scheduling core is replaced. Timers live in our own heap ordered by
``(when, insertion sequence)`` so that equal timestamps fire in FIFO order, which makes runs reproducible.
Nothing here reads the wall clock.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from asyncio import events, format_helpers
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")

#: The node (by name) whose code is running right now; set by the simulator around every delivery and timer.
current_node: contextvars.ContextVar[str | None] = contextvars.ContextVar("arena_current_node", default=None)


class SimulationError(RuntimeError):
    """A failure inside the simulated world (a task raised, a deadlock); names the node where it happened."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(f"{message} (node {node})" if node else message)
        self.node = node


class _Plain:
    """Stands in a heap entry's handle slot for a :meth:`VirtualLoop.call_plain` callback: never cancelled."""

    __slots__ = ()
    _cancelled = False


_PLAIN = _Plain()

#: A heap entry: ``(when, seq, handle)`` for :meth:`VirtualLoop.call_at`, ``(when, seq, _PLAIN, callback, args,
#: context)`` for :meth:`VirtualLoop.call_plain`. ``(when, seq)`` is unique, so entries never compare further.
_Entry = tuple[Any, ...]


class VirtualLoop(asyncio.BaseEventLoop):
    """Discrete-event loop: when no callback is ready, the clock jumps to the next timer.

    A new loop makes itself the thread's current event loop (``asyncio.get_event_loop()``), wherever it is made:
    ``asyncio.Runner(loop_factory=VirtualLoop)`` does not set its loop current, and futures made in a synchronous
    ``setUp`` must land on it. :meth:`close` unsets it if it is still current.
    """

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        events.set_event_loop(self)
        self._now = float(start)
        self._timers: list[_Entry] = []
        self._seq = itertools.count()
        self._cancelled_timers = 0
        self.failures: list[SimulationError] = []
        self.notices: list[str] = []
        self.events_run = 0
        self.set_exception_handler(self._record_exception)

    # -- clock -------------------------------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    # -- scheduling --------------------------------------------------------------------------------------------
    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> events.TimerHandle:
        self._check_closed()  # type: ignore[attr-defined]
        timer = events.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def call_plain(self, when: float, callback: Callable[..., object], args: tuple[Any, ...],
                   context: contextvars.Context) -> None:
        """``call_at(when, callback, *args, context=context)`` for a callback that is never cancelled: no handle is
        made or returned (the simulator's packet deliveries, one per packet). It takes its place in the same
        ``(when, insertion sequence)`` order as every other timer, and an exception it raises is reported exactly as
        from a handle's callback."""
        if self._closed:  # type: ignore[attr-defined]
            raise RuntimeError("Event loop is closed")
        heapq.heappush(self._timers, (when, next(self._seq), _PLAIN, callback, args, context))

    def _plain_failed(self, entry: _Entry, exc: BaseException) -> None:
        """What :meth:`asyncio.Handle._run` does when its callback raises, for a :meth:`call_plain` entry."""
        when, _seq, _plain, callback, args, context = entry
        handle = events.TimerHandle(when, callback, args, self, context)
        cb = format_helpers._format_callback_source(callback, args)  # type: ignore[attr-defined]
        self.call_exception_handler({"message": f"Exception in callback {cb}", "exception": exc, "handle": handle})

    def create_task(  # type: ignore[override]
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None, context: contextvars.Context | None = None
    ) -> asyncio.Task[T]:
        """As asyncio's, and the task remembers its node: the C ``Task`` of Python 3.11 hides its context, and a
        task's failure reported by the garbage collector must still name the node it ran for."""
        task = super().create_task(coro, name=name, context=context)
        node = context.get(current_node) if context is not None else current_node.get()
        if node is not None:
            task._arena_node = node  # type: ignore[attr-defined]
        return task

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        """Cancelled timers stay in the heap and are skipped when popped (cheaper than removing them), but once
        they are most of a large heap it is compacted, so that long runs with many timeouts keep memory bounded."""
        if not handle._scheduled:  # type: ignore[attr-defined]
            return  # already moved to the ready queue (or never scheduled): not in the heap
        self._cancelled_timers += 1
        if self._cancelled_timers > 512 and 2 * self._cancelled_timers > len(self._timers):
            # (when, seq) keys are unique, so the rebuilt heap pops in exactly the same order as before.
            self._timers[:] = [t for t in self._timers if not t[2]._cancelled]
            heapq.heapify(self._timers)
            self._cancelled_timers = 0

    def _run_once(self) -> None:
        """Run batches until the loop is asked to stop: each batch runs every ready callback once; if none is ready,
        first jump the clock to the earliest timer.

        ``run_forever`` calls this in a loop and stops once ``_stopping`` is set after a call, and does nothing
        between calls; looping here until then runs exactly the same batches without returning each time.
        While stopping, the clock does not move: like asyncio, a loop asked to stop runs only what is already due.
        """
        timers = self._timers
        ready = self._ready  # type: ignore[attr-defined]
        heappop = heapq.heappop
        plain = _PLAIN
        while True:
            if not ready:
                while timers and timers[0][2]._cancelled:
                    heappop(timers)
                    self._cancelled_timers = max(0, self._cancelled_timers - 1)
                if self._stopping:  # type: ignore[attr-defined]
                    pass
                elif not timers:
                    raise SimulationError("deadlock: nothing is ready and no timer is pending")
                elif timers[0][0] > self._now:
                    self._now = timers[0][0]
            now = self._now
            if not ready and timers and timers[0][0] <= now and timers[0][2] is plain:
                entry = heappop(timers)
                if not timers or timers[0][0] > now:
                    # The most common batch (a packet arriving at its own instant): this one plain call alone.
                    self.events_run += 1
                    try:
                        entry[5].run(entry[3], *entry[4])
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._plain_failed(entry, exc)
                    if self._stopping:  # type: ignore[attr-defined]
                        return
                    continue
                ready.append(entry)
            while timers and timers[0][0] <= now:
                entry = heappop(timers)
                handle = entry[2]
                if handle is plain:
                    ready.append(entry)
                    continue
                if handle._cancelled:
                    self._cancelled_timers = max(0, self._cancelled_timers - 1)
                    continue
                handle._scheduled = False
                ready.append(handle)
            ntodo = len(ready)
            self.events_run += ntodo
            for _ in range(ntodo):
                handle = ready.popleft()
                if handle.__class__ is tuple:  # a call_plain entry
                    try:
                        handle[5].run(handle[3], *handle[4])
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._plain_failed(handle, exc)
                    continue
                if handle._cancelled:
                    continue
                handle._run()
            if self._stopping:  # type: ignore[attr-defined]
                return

    def pending_timers(self) -> int:
        """Number of live timers (for tests and progress display)."""
        return sum(1 for t in self._timers if not t[2]._cancelled)

    def next_timer_at(self) -> float | None:
        """Virtual time of the next live timer, or None."""
        live = [t[0] for t in self._timers if not t[2]._cancelled]
        return min(live) if live else None

    # -- things BaseEventLoop leaves abstract ------------------------------------------------------------------
    def _process_events(self, event_list: Any) -> None:
        """No selector: packets arrive as scheduled callbacks."""

    def _write_to_self(self) -> None:
        """Single-threaded: nothing to wake."""

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Run blocking work inline, at the current virtual instant, so results do not depend on thread timing."""
        self._check_closed()  # type: ignore[attr-defined]
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    # -- running -----------------------------------------------------------------------------------------------
    def run_until(self, end: float) -> None:
        """Advance virtual time to ``end`` (absolute), running everything due before it."""
        stopper = self.call_at(end, self.stop)
        try:
            self.run_forever()
        finally:
            stopper.cancel()
        self._now = max(self._now, end)
        self.raise_failures()

    def run_for(self, duration: float) -> None:
        """Advance virtual time by ``duration`` seconds."""
        self.run_until(self._now + duration)

    def raise_failures(self) -> None:
        if self.failures:
            first = self.failures[0]
            raise first

    def _record_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception escaped a callback or task: remember it with the node it ran for; the run fails.

        Reports without an exception (asyncio's "Task was destroyed but it is pending!") come from the garbage
        collector, at a moment that is not part of the simulation; they are kept in :attr:`notices` and do not stop
        the run, so that whether a run fails never depends on when the collector happened to run.
        """
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            return
        node = None
        for key in ("task", "future", "handle"):
            obj = context.get(key)
            node = getattr(obj, "_arena_node", None)
            ctx = getattr(obj, "_context", None)
            if node is None and isinstance(ctx, contextvars.Context):
                node = ctx.get(current_node)
            if node is not None:
                break
        if node is None:
            node = current_node.get()  # reported synchronously from inside a node's code
        message = context.get("message", "unhandled exception")
        if exc is None:
            self.notices.append(f"{message} (node {node})" if node else message)
            return
        message = f"{message}: {type(exc).__name__}: {exc}"
        err = SimulationError(message, node)
        err.__cause__ = exc
        self.failures.append(err)
        self.stop()

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """There is no executor thread to join."""

    def close(self) -> None:
        """Close, and stop being the current event loop if this loop still is."""
        super().close()
        policy = events.get_event_loop_policy()
        # Read the thread's current loop without policy.get_event_loop(), which may make a new one.
        current = getattr(getattr(policy, "_local", None), "_loop", None)
        if current is self:
            policy.set_event_loop(None)


def run_in_node(node: str, fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` with ``current_node`` set, so tasks it creates inherit the node's name for error reports."""
    ctx = contextvars.copy_context()
    ctx.run(current_node.set, node)
    return ctx.run(fn, *args)
