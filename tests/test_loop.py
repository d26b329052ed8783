"""The virtual-time event loop: time jumps, ordering, executor, failures named by node."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator

import pytest

from arena.sim.loop import SimulationError, VirtualLoop, current_node, run_in_node
from arena.sim.network import new_context


@pytest.fixture
def loop() -> Iterator[VirtualLoop]:
    lp = VirtualLoop()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.close()
        asyncio.set_event_loop(None)


def test_one_hour_sleep_jumps_the_clock(loop: VirtualLoop) -> None:
    async def nap() -> float:
        await asyncio.sleep(3600)
        return loop.time()

    assert loop.run_until_complete(nap()) == 3600.0
    assert loop.time() == 3600.0


def test_clock_starts_where_asked() -> None:
    lp = VirtualLoop(start=100.0)
    try:
        assert lp.time() == 100.0
        lp.run_for(5)
        assert lp.time() == 105.0
    finally:
        lp.close()


def test_equal_timestamps_run_in_fifo_order(loop: VirtualLoop) -> None:
    order: list[int] = []
    for i in range(20):
        loop.call_at(5.0, order.append, i)
    loop.call_at(4.0, order.append, -1)
    loop.run_until(10)
    assert order == [-1, *range(20)]


def test_call_later_and_call_at_interleave_by_time(loop: VirtualLoop) -> None:
    seen: list[tuple[str, float]] = []
    loop.call_later(2.0, lambda: seen.append(("later", loop.time())))
    loop.call_at(1.0, lambda: seen.append(("at", loop.time())))
    loop.run_until(3)
    assert seen == [("at", 1.0), ("later", 2.0)]


def test_call_soon_runs_before_timers(loop: VirtualLoop) -> None:
    order: list[str] = []
    loop.call_at(0.0, order.append, "timer-now")
    loop.call_later(0.5, order.append, "timer-later")
    loop.call_soon(order.append, "soon")
    loop.run_until(1)
    assert order == ["soon", "timer-now", "timer-later"]


def test_cancelled_timers_do_not_run(loop: VirtualLoop) -> None:
    ran: list[int] = []
    keep = loop.call_at(1.0, ran.append, 1)
    drop = loop.call_at(2.0, ran.append, 2)
    drop.cancel()
    loop.run_until(3)
    assert ran == [1]
    assert not keep.cancelled()
    assert loop.pending_timers() == 0


def test_many_cancelled_timers_are_compacted(loop: VirtualLoop) -> None:
    ran: list[int] = []
    handles = [loop.call_at(10.0 + i, ran.append, i) for i in range(2000)]
    for h in handles[::2] + handles[1::4]:
        h.cancel()
    assert loop.pending_timers() == 500
    assert len(loop._timers) < 2000  # compacted, not just skipped later
    loop.run_until(3000)
    assert ran == list(range(3, 2000, 4))


def test_next_timer_at(loop: VirtualLoop) -> None:
    assert loop.next_timer_at() is None
    h = loop.call_at(7.0, lambda: None)
    loop.call_at(9.0, lambda: None)
    assert loop.next_timer_at() == 7.0
    h.cancel()
    assert loop.next_timer_at() == 9.0


def test_run_in_executor_runs_inline_and_returns(loop: VirtualLoop) -> None:
    calls: list[float] = []

    def work(a: int, b: int) -> int:
        calls.append(loop.time())
        return a * b

    async def main() -> int:
        await asyncio.sleep(2)
        return await loop.run_in_executor(None, work, 6, 7)

    assert loop.run_until_complete(main()) == 42
    assert calls == [2.0]  # ran at the virtual instant it was asked for


def test_run_in_executor_propagates_exceptions(loop: VirtualLoop) -> None:
    def boom() -> None:
        raise ValueError("from the executor")

    async def main() -> str:
        try:
            await loop.run_in_executor(None, boom)
        except ValueError as exc:
            return str(exc)
        return "no exception"

    assert loop.run_until_complete(main()) == "from the executor"
    assert loop.failures == []


def test_create_task_with_name(loop: VirtualLoop) -> None:
    async def child() -> str:
        await asyncio.sleep(1)
        return "done"

    async def main() -> tuple[str, str]:
        task = loop.create_task(child(), name="my-task")
        name = task.get_name()
        return name, await task

    assert loop.run_until_complete(main()) == ("my-task", "done")
    assert loop.time() == 1.0


def test_run_until_complete_returns_the_result_and_time_is_exact(loop: VirtualLoop) -> None:
    async def main() -> list[float]:
        stamps = []
        for _ in range(3):
            await asyncio.sleep(0.25)
            stamps.append(loop.time())
        return stamps

    assert loop.run_until_complete(main()) == [0.25, 0.5, 0.75]


def test_run_until_stops_at_end_and_leaves_later_timers(loop: VirtualLoop) -> None:
    ran: list[float] = []
    loop.call_at(5.0, lambda: ran.append(loop.time()))
    loop.call_at(15.0, lambda: ran.append(loop.time()))
    loop.run_until(10)
    assert ran == [5.0]
    assert loop.time() == 10.0
    assert loop.pending_timers() == 1
    loop.run_for(10)
    assert ran == [5.0, 15.0]
    assert loop.time() == 20.0


def test_wait_for_timeout_uses_virtual_time(loop: VirtualLoop) -> None:
    async def main() -> str:
        try:
            await asyncio.wait_for(asyncio.sleep(100), timeout=3)
        except TimeoutError:
            return f"timeout at {loop.time()}"
        return "finished"

    assert loop.run_until_complete(main()) == "timeout at 3.0"


def test_deadlock_is_reported(loop: VirtualLoop) -> None:
    fut: asyncio.Future[None] = loop.create_future()
    with pytest.raises(SimulationError, match="deadlock"):
        loop.run_until_complete(fut)


def test_exception_in_node_callback_names_the_node(loop: VirtualLoop) -> None:
    ran_after: list[float] = []

    def broken() -> None:
        raise KeyError("missing block")

    ctx = new_context("validator3")
    loop.call_at(2.0, broken, context=ctx)
    loop.call_at(50.0, ran_after.append, 50.0)
    with pytest.raises(SimulationError) as info:
        loop.run_until(100)
    assert "validator3" in str(info.value)
    assert "KeyError" in str(info.value)
    assert info.value.node == "validator3"
    assert isinstance(info.value.__cause__, KeyError)
    assert ran_after == []  # the run stopped at the failure


def test_task_created_in_a_node_names_the_node(loop: VirtualLoop) -> None:
    async def failing() -> None:
        await asyncio.sleep(1)
        raise RuntimeError("bad vote")

    def start() -> None:
        task = loop.create_task(failing())
        task.add_done_callback(lambda t: t.result())  # a done-callback that re-raises, like ipv8's TaskManager

    run_in_node("light7", start)
    with pytest.raises(SimulationError, match="light7"):
        loop.run_until(5)


def test_current_node_is_visible_inside_node_context(loop: VirtualLoop) -> None:
    seen: list[str | None] = []
    loop.call_at(1.0, lambda: seen.append(current_node.get()), context=new_context("merchant2"))
    loop.call_at(1.0, lambda: seen.append(current_node.get()))
    loop.run_until(2)
    assert seen == ["merchant2", None]


def test_async_generators_are_shut_down(loop: VirtualLoop) -> None:
    closed: list[bool] = []

    async def gen() -> AsyncIterator[int]:
        try:
            for i in range(10):
                await asyncio.sleep(1)
                yield i
        finally:
            closed.append(True)

    agen = gen()

    async def main() -> int:
        return await agen.__anext__()

    assert loop.run_until_complete(main()) == 0
    assert closed == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [True]


def test_shutdown_default_executor_is_a_no_op(loop: VirtualLoop) -> None:
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    assert loop.is_closed()


def test_stop_before_run_forever_does_not_advance_the_clock(loop: VirtualLoop) -> None:
    ran: list[str] = []
    loop.call_at(5.0, ran.append, "timer")
    loop.call_soon(ran.append, "soon")
    loop.stop()
    loop.run_forever()
    assert ran == ["soon"]
    assert loop.time() == 0.0


def test_pending_task_collected_by_gc_is_a_notice_not_a_failure(loop: VirtualLoop) -> None:
    import gc

    async def wait_forever() -> None:
        await loop.create_future()  # nobody will ever resolve it

    task = run_in_node("light4", loop.create_task, wait_forever())
    loop.run_until(1)
    assert not task.done()
    del task
    gc.collect()  # the task and its future form a cycle: only the collector frees them
    loop.run_until(2)  # does not raise
    assert loop.failures == []
    assert len(loop.notices) == 1
    assert "destroyed but it is pending" in loop.notices[0]
    assert "light4" in loop.notices[0]


def test_unretrieved_task_exception_names_the_node(loop: VirtualLoop) -> None:
    import gc

    async def failing() -> None:
        await asyncio.sleep(1)
        raise ValueError("nobody awaits me")

    run_in_node("validator9", lambda: loop.create_task(failing()))  # the task is not kept: nobody retrieves it
    with pytest.raises(SimulationError, match="validator9") as info:
        loop.run_until(2)  # reported when the finished task is freed
        gc.collect()
        loop.run_until(3)
    assert "Task exception was never retrieved" in str(info.value)
    assert "nobody awaits me" in str(info.value)
    assert loop.failures[0].node == "validator9"


def test_exception_reported_from_inside_node_code_names_the_node(loop: VirtualLoop) -> None:
    def report() -> None:
        loop.call_exception_handler({"message": "message handler raised", "exception": ValueError("bad block")})

    loop.call_at(1.0, report, context=new_context("validator5"))
    with pytest.raises(SimulationError, match=r"message handler raised: ValueError: bad block \(node validator5\)"):
        loop.run_until(2)


def test_call_plain_keeps_one_order_with_call_at(loop: VirtualLoop) -> None:
    """Deliveries (call_plain) and handles (call_at) share one (time, insertion) order: FIFO at equal times."""
    order: list[str] = []
    ctx = contextvars.copy_context()
    loop.call_at(2.0, order.append, "at-2a")
    loop.call_plain(2.0, order.append, ("plain-2",), ctx)
    loop.call_at(2.0, order.append, "at-2b")
    loop.call_plain(1.0, order.append, ("plain-1",), ctx)
    loop.call_soon(order.append, "soon")
    assert loop.pending_timers() == 4
    assert loop.next_timer_at() == 1.0
    loop.run_until(3)
    assert order == ["soon", "plain-1", "at-2a", "plain-2", "at-2b"]
    assert loop.pending_timers() == 0


def test_call_plain_runs_in_its_context_and_survives_compaction(loop: VirtualLoop) -> None:
    seen: list[tuple[str | None, float]] = []

    def note() -> None:
        seen.append((current_node.get(), loop.time()))

    loop.call_plain(5.0, note, (), new_context("light2"))
    for h in [loop.call_at(10.0 + i, note) for i in range(1200)]:
        h.cancel()  # compacts the heap: the plain entry must stay
    assert loop.pending_timers() == 1
    loop.run_until(20)
    assert seen == [("light2", 5.0)]


def test_call_plain_exception_is_reported_like_a_handle_and_names_the_node(loop: VirtualLoop) -> None:
    ran_after: list[float] = []

    def broken(height: int) -> None:
        raise KeyError(f"missing block {height}")

    loop.call_plain(2.0, broken, (7,), new_context("validator3"))
    loop.call_plain(50.0, ran_after.append, (50.0,), new_context("validator3"))
    with pytest.raises(SimulationError) as info:
        loop.run_until(100)
    assert "Exception in callback" in str(info.value) and "broken(7)" in str(info.value)
    assert "KeyError" in str(info.value)
    assert info.value.node == "validator3"
    assert isinstance(info.value.__cause__, KeyError)
    assert ran_after == []  # the run stopped at the failure


def test_call_plain_on_a_closed_loop_raises() -> None:
    lp = VirtualLoop()
    lp.close()
    with pytest.raises(RuntimeError, match="closed"):
        lp.call_plain(1.0, print, (), contextvars.copy_context())


def test_stop_from_a_callback_ends_the_run_after_that_batch(loop: VirtualLoop) -> None:
    """_run_once runs batch after batch; stop() from a callback still ends run_forever after the current batch."""
    ran: list[str] = []

    def stop_now() -> None:
        ran.append("stop")
        loop.stop()

    loop.call_at(1.0, stop_now)
    loop.call_at(1.0, ran.append, "same batch")
    loop.call_at(2.0, ran.append, "later")
    loop.run_forever()
    assert ran == ["stop", "same batch"]
    assert loop.time() == 1.0
    loop.stop()
    loop.run_forever()  # stopping again: only what is due now runs (nothing), the clock stays
    assert ran == ["stop", "same batch"] and loop.time() == 1.0
