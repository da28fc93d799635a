"""Holds: swaps wait for open holds, new holds wait for a waiting swap, nothing deadlocks.

Threads are joined with a time-out in a ``finally``; waits are bounded polls
or Events, never bare sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import multiprocessing.util  # in sys.modules for good: the fork handler looks there
import os
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator

import pytest

import hookreload
from hookreload import _hold
from hookreload._hold import HoldTimeout, swapping
from tests.conftest import exit_code_of_a_fork

TIMEOUT = 10.0  # seconds, per wait; a healthy test takes far less


def until(predicate: Callable[[], object], what: str) -> None:
    """Poll ``predicate`` until it is true; fail after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


@pytest.fixture(autouse=True)
def gate_left_open() -> Iterator[None]:
    """Every test leaves no hold counted and the gate open."""
    yield
    assert _hold._held == {}
    assert _hold._open_holds() == 0
    assert _hold._gate == _hold._OPEN
    assert _hold._writer is None
    assert not _hold._writers.locked()
    assert _hold._async_waiters == []


@pytest.fixture(params=["records vouch for themselves", "holds ask the running loop"])
def async_hold(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Async holds find their task's record both ways, whatever this Python uses.

    3.10 and 3.11 let a record vouch for itself by its own loop and thread;
    3.12 and later ask for the running loop.
    """
    vouched = request.param == "records vouch for themselves"
    monkeypatch.setattr(
        _hold.Hold, "__aenter__", _hold._aenter_vouched if vouched else _hold._aenter_asking
    )
    monkeypatch.setattr(
        _hold.Hold, "__aexit__", _hold._aexit_vouched if vouched else _hold._aexit_asking
    )
    return str(request.param)


@pytest.fixture(params=["asyncio's dict", "asyncio.current_task()"])
def task_lookup(
    async_hold: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Async holds find the running task both ways: as on CPython 3.10-3.13, and as on 3.14.

    3.14's C tasks keep the running task in the thread state, and its C
    module has no ``_current_tasks`` for ``asyncio.tasks`` to import: taken
    away here, as it is there.
    """
    if request.param != "asyncio's dict":
        monkeypatch.delattr(sys.modules["_asyncio"], "_current_tasks", raising=False)
    elif not hasattr(sys.modules["_asyncio"], "_current_tasks"):
        pytest.skip("this Python keeps no such dict (3.14 and later)")
    _hold._bind_asyncio()
    yield request.param
    monkeypatch.undo()
    _hold._bind_asyncio()


async def poll(predicate: Callable[[], object], what: str) -> None:
    """``until`` for a coroutine: the event loop runs on while it waits."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.001)


class Worker:
    """A thread running ``target``; ``join`` re-raises what it raised."""

    def __init__(self, target: Callable[[], object]) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self.thread.start()

    def _run(self, target: Callable[[], object]) -> None:
        try:
            self.result = target()
        except BaseException as exc:
            self.error = exc

    def join(self) -> object:
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@contextlib.contextmanager
def held_in_a_thread() -> Iterator[None]:
    """A thread inside a hold for the length of the block (open when it starts)."""
    opened, release = threading.Event(), threading.Event()

    def holder() -> None:
        with hookreload.hold():
            opened.set()
            assert release.wait(TIMEOUT)

    worker = Worker(holder)
    try:
        assert opened.wait(TIMEOUT)
        yield
    finally:
        release.set()
        worker.join()


@contextlib.asynccontextmanager
async def held_in_a_task() -> AsyncIterator[None]:
    """A task inside an async hold for the length of the block (open when it starts)."""
    opened, release = asyncio.Event(), asyncio.Event()

    async def request() -> None:
        async with hookreload.hold():
            opened.set()
            await release.wait()

    task = asyncio.create_task(request())
    try:
        await asyncio.wait_for(opened.wait(), TIMEOUT)
        yield
    finally:
        release.set()
        await asyncio.wait_for(task, TIMEOUT)


def test_holds_nest_and_count_per_thread() -> None:
    me = threading.get_ident()
    with hookreload.hold() as outer:
        assert _hold._held == {me: 1}
        with hookreload.hold():
            assert _hold._held == {me: 2}
        assert _hold._held == {me: 1}
    assert _hold._held == {}
    assert outer is hookreload.hold()
    assert repr(outer) == "<hookreload.hold()>"


def test_a_hold_that_raises_still_closes() -> None:
    with pytest.raises(KeyError), hookreload.hold():
        raise KeyError("x")
    assert _hold._held == {}


def test_a_swap_waits_for_open_holds_and_new_holds_wait_for_the_swap() -> None:
    events: list[str] = []
    opened, release = threading.Event(), threading.Event()

    def holder() -> None:
        with hookreload.hold():
            events.append("hold A open")
            opened.set()
            assert release.wait(TIMEOUT)
            events.append("hold A closes")

    def swapper() -> None:
        with swapping(["a", "b"]):
            events.append("swap")

    def late() -> None:
        with hookreload.hold():
            events.append("hold C open")

    a = Worker(holder)
    try:
        assert opened.wait(TIMEOUT)
        w = Worker(swapper)
        until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
        c = Worker(late)
        # C waits behind the swap (writer preference); it parks with its
        # count taken back, so the swap still waits for A alone.
        until(
            lambda: sum(_hold._held.values()) == 1 and len(_hold._reopened._waiters) == 1, "C waits"
        )  # type: ignore[attr-defined]
        assert events == ["hold A open"]
    finally:
        release.set()
        a.join()
    w.join()
    c.join()
    assert events == ["hold A open", "hold A closes", "swap", "hold C open"]


def test_a_nested_hold_passes_a_waiting_swap() -> None:
    inner_opened = threading.Event()

    def holder() -> None:
        with hookreload.hold():
            until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
            with hookreload.hold():  # would deadlock if it waited for the swap
                inner_opened.set()

    a = Worker(holder)
    with swapping(["a"]):
        assert inner_opened.is_set()
    a.join()


def test_holds_open_longer_than_the_time_out_defer_the_swap() -> None:
    hookreload.install(include=["hr_no_such_package"], hold_timeout=0.05)
    with (
        held_in_a_thread(),
        pytest.raises(HoldTimeout) as caught,
        swapping(["app.models", "app.views"]),
    ):
        raise AssertionError("the swap ran while a hold was open")
    error = caught.value
    assert isinstance(error, hookreload.ReloadError)
    assert error.modules == ("app.models", "app.views")
    assert error.module == "app.models"
    assert error.waited_s >= 0.05
    message = str(error)
    assert "'app.models', 'app.views'" in message
    assert " s;" in message and "deferred and will be retried" in message
    # The gate reopened: holds and swaps work again.
    with hookreload.hold():
        pass
    with swapping(["app.models"]):
        pass


def test_holds_waiting_behind_a_swap_that_gives_up_go_on() -> None:
    hookreload.install(include=["hr_no_such_package"], hold_timeout=0.2)
    late_opened = threading.Event()

    def late() -> None:
        until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
        with hookreload.hold():
            late_opened.set()

    with held_in_a_thread():
        c = Worker(late)
        with pytest.raises(HoldTimeout):
            swapping(["m"]).__enter__()
        c.join()
        assert late_opened.is_set()


def test_a_swap_waits_for_another_swap_within_its_time_out() -> None:
    hookreload.install(include=["hr_no_such_package"], hold_timeout=0.05)
    entered, release = threading.Event(), threading.Event()

    def first() -> None:
        with swapping(["a"]):
            entered.set()
            assert release.wait(TIMEOUT)

    w = Worker(first)
    try:
        assert entered.wait(TIMEOUT)
        with pytest.raises(HoldTimeout, match="'b'"):
            swapping(["b"]).__enter__()
    finally:
        release.set()
        w.join()


def test_no_time_out_waits_as_long_as_it_takes() -> None:
    hookreload.install(include=["hr_no_such_package"], hold_timeout=None)
    assert _hold._timeout() is None
    with held_in_a_thread():
        w = Worker(lambda: swapping(["a"]).__enter__().__exit__(None, None, None))
        until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
    w.join()


def test_a_swap_from_inside_a_hold_is_refused_not_deadlocked() -> None:
    with hookreload.hold(), pytest.raises(hookreload.ReloadError) as caught:
        swapping(["app.models"]).__enter__()
    assert not isinstance(caught.value, HoldTimeout)
    assert caught.value.module == "app.models"
    assert "inside hookreload.hold()" in str(caught.value)
    assert "'app.models'" in str(caught.value)


def test_swaps_nest_and_holds_on_the_swapping_thread_pass() -> None:
    with swapping(["a"]):
        assert _hold._gate == _hold._SWAPPING
        with swapping(["b"]):
            pass
        assert _hold._gate == _hold._SWAPPING
        with hookreload.hold():  # the swap's own code (an __unload__ hook, say)
            pass
        assert _hold._held == {}
    assert _hold._gate == _hold._OPEN


def test_the_default_time_out_applies_without_a_hook() -> None:
    hookreload.uninstall()
    assert _hold._timeout() == _hold.DEFAULT_TIMEOUT


@pytest.mark.parametrize("bad", [-1, "5", True, float("nan")])
def test_a_bad_hold_timeout_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="hold_timeout must be seconds"):
        hookreload.install(include=["hr_no_such_package"], hold_timeout=bad)  # type: ignore[arg-type]
    assert hookreload._hook.active() is None


def test_hold_timeout_is_an_option_of_the_hook() -> None:
    hook = hookreload.install(include=["hr_no_such_package"], hold_timeout=2.5)
    assert hook.hold_timeout == 2.5
    assert "hold_timeout=2.5" in repr(hook)
    assert hookreload.install(include=["hr_no_such_package"], hold_timeout=2.5) is hook
    with pytest.raises(ValueError, match="other options"):
        hookreload.install(include=["hr_no_such_package"], hold_timeout=3)


# -- asyncio ------------------------------------------------------------------------


def test_async_holds_read_the_running_task_where_asyncio_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In one C call from the dict asyncio's C tasks update (3.10-3.13); else by asking asyncio."""
    updated = getattr(sys.modules["_asyncio"], "_current_tasks", None)
    if updated is not None:  # CPython 3.10-3.13
        assert _hold._task_lookup() == updated.get
        # Never a dict of asyncio.tasks' own: the C tasks do not update it
        # (3.14's; 3.12's and 3.13's when _asyncio was imported first).
        with monkeypatch.context() as patched:
            patched.setattr(asyncio.tasks, "_current_tasks", {})
            assert _hold._task_lookup() == updated.get
        monkeypatch.delattr(sys.modules["_asyncio"], "_current_tasks")  # as on 3.14
    lookup = _hold._task_lookup()
    assert lookup != getattr(updated, "get", None)

    async def main() -> None:
        assert lookup(asyncio.get_running_loop()) is asyncio.current_task() is not None

    asyncio.run(main())
    assert lookup(None) is None


def test_async_holds_ask_for_the_running_loop_only_where_that_is_cheap() -> None:
    """3.10 and 3.11 make a getpid() system call to find it (benchmarks/cases.py, ``hold``)."""
    vouched = sys.version_info < (3, 12)
    assert (_hold.Hold.__aenter__ is _hold._aenter_vouched) is vouched
    assert (_hold.Hold.__aexit__ is _hold._aexit_vouched) is vouched


@pytest.mark.usefixtures("task_lookup")
def test_async_holds_nest_and_close() -> None:
    async def main() -> None:
        me = threading.get_ident()
        async with hookreload.hold() as h:
            assert h is None  # as asyncio.Lock: the hold has nothing to give
            assert _hold._held == {} and _hold._async_held[me].open == 1
            async with hookreload.hold():
                with hookreload.hold():
                    assert _hold._held == {me: 1} and _hold._async_held[me].open == 2
                    assert _hold._open_holds() == 3
                    with pytest.raises(hookreload.ReloadError, match="inside hookreload.hold"):
                        swapping(["m"]).__enter__()
        assert _hold._open_holds() == 0

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
@pytest.mark.parametrize("parent_held", [False, True])
def test_an_async_hold_awaits_a_pending_swap_without_blocking_the_loop(parent_held: bool) -> None:
    """Task A holds; a thread's swap waits for it; task C's new hold awaits, the loop runs on.

    Also when the task that starts A and C held before: they find its record in the
    context they copied, and each makes its own (sharing it, C would count as nested
    in A's hold and pass the swap: no writer preference, reloads starved).
    """
    events: list[str] = []

    async def main() -> None:
        if parent_held:
            async with hookreload.hold():
                pass
        release = asyncio.Event()
        a_open = asyncio.Event()

        async def a() -> None:
            async with hookreload.hold():
                a_open.set()
                await release.wait()
                events.append("A closes")

        async def c() -> None:
            async with hookreload.hold() as h:  # it waited: it binds what the fast path does
                events.append(f"C open, as {h}")

        task_a = asyncio.create_task(a())
        await a_open.wait()
        swap = Worker(lambda: _swap_and_log(events))
        await poll(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
        task_c = asyncio.create_task(c())
        # C parked on a future, the loop still runs.
        await poll(lambda: _hold._async_waiters, "C waits for the swap")
        await asyncio.sleep(0.01)
        assert events == []
        release.set()
        await asyncio.wait_for(asyncio.gather(task_a, task_c), TIMEOUT)
        swap.join()

    asyncio.run(main())
    assert events == ["A closes", "swap", "C open, as None"]


def _swap_and_log(events: list[str]) -> None:
    with swapping(["m"]):
        events.append("swap")


@pytest.mark.usefixtures("task_lookup")
def test_a_nested_async_hold_passes_a_waiting_swap() -> None:
    async def main() -> None:
        async with hookreload.hold():
            with pytest.raises(hookreload.ReloadError, match="inside hookreload.hold"):
                swapping(["m"]).__enter__()
            swap = Worker(lambda: swapping(["m"]).__enter__().__exit__(None, None, None))
            while _hold._gate != _hold._DRAINING:
                await asyncio.sleep(0.001)
            async with hookreload.hold():  # the task's own hold: no waiting
                pass
            with hookreload.hold():  # sync code of the task, too
                pass
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, swap.join)

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_a_task_started_inside_a_hold_passes_a_waiting_swap_while_that_hold_is_open() -> None:
    """The parent awaits the child inside its hold: a child waiting for the swap would deadlock."""

    async def main() -> None:
        async def child() -> str:
            async with hookreload.hold():
                return "child ran"

        async with hookreload.hold():
            swap = Worker(lambda: swapping(["m"]).__enter__().__exit__(None, None, None))
            await poll(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
            assert await asyncio.wait_for(asyncio.create_task(child()), TIMEOUT) == "child ran"
            # A worker thread the task hands work to is inside the hold too.
            with pytest.raises(hookreload.ReloadError, match="inside hookreload.hold"):
                await asyncio.to_thread(_hold.check_may_swap, ["m"])
        await asyncio.to_thread(swap.join)

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_an_async_generator_closed_by_another_task_closes_its_hold() -> None:
    async def stream() -> AsyncIterator[int]:
        async with hookreload.hold():
            yield 1
            yield 2

    async def main() -> None:
        agen = stream()

        async def consume_one() -> None:
            assert await agen.__anext__() == 1

        await asyncio.create_task(consume_one())
        assert _hold._open_holds() == 1
        await agen.aclose()  # here, in the main task: not the one that opened the hold
        assert _hold._open_holds() == 0

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_a_cancelled_async_hold_waiting_for_a_swap_is_not_counted() -> None:
    async def main() -> None:
        entered, release = threading.Event(), threading.Event()

        def swapper() -> None:
            with swapping(["m"]):
                entered.set()
                assert release.wait(TIMEOUT)

        swap = Worker(swapper)
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, TIMEOUT)

        async def late() -> None:
            async with hookreload.hold():
                raise AssertionError("opened during a swap")

        task = asyncio.create_task(late())
        while not _hold._async_waiters:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _hold._open_holds() == 0
        release.set()
        await asyncio.get_running_loop().run_in_executor(None, swap.join)
        await asyncio.sleep(0.01)  # the swap's wake-up of the cancelled waiter runs

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_a_swap_on_a_loop_thread_with_async_holds_open_is_deferred_at_once() -> None:
    async def main() -> None:
        async with held_in_a_task():
            # Not inside a hold itself, but waiting here would stop the loop
            # that must run the hold to its end.
            with pytest.raises(HoldTimeout, match="event loop.*deferred") as caught:
                swapping(["m"]).__enter__()
        assert caught.value.waited_s == 0.0

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_a_sync_hold_on_a_loop_thread_passes_a_waiting_swap() -> None:
    """Blocking there would stop the loop, and with it the task holding the swap up."""

    async def main() -> None:
        async with held_in_a_task():
            swap = Worker(lambda: swapping(["m"]).__enter__().__exit__(None, None, None))
            await poll(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
            with hookreload.hold():  # another task's sync code: passes
                pass
        await asyncio.to_thread(swap.join)

    asyncio.run(main())


@pytest.mark.usefixtures("task_lookup")
def test_an_async_hold_works_outside_an_asyncio_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A coroutine driven by hand (or by another library): no asyncio loop at all."""

    async def work() -> bool:
        async with hookreload.hold() as h:
            return h is None and _hold._open_holds() == 1

    coro = work()
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    assert done.value.value is True
    assert _hold._open_holds() == 0


@pytest.mark.usefixtures("task_lookup")
def test_another_thread_never_counts_its_holds_in_the_record_of_a_running_task() -> None:
    """A task's record, in a context copied to a thread while the task runs on.

    The task's loop does run the task at that moment, but on another thread:
    the record must not count the thread's holds (only its own thread writes
    its counts).
    """
    seen: dict[str, object] = {}

    async def work() -> None:
        async with hookreload.hold():
            seen["record"] = _hold._task.get()
            seen["open here"] = _hold._async_held[threading.get_ident()].open

    def drive(coro: Coroutine[None, None, None]) -> None:
        with pytest.raises(StopIteration):
            coro.send(None)

    async def request() -> None:
        async with hookreload.hold():
            mine = _hold._task.get()
            context = contextvars.copy_context()
            # Still this task's step: the loop names it as running meanwhile.
            worker = Worker(lambda: context.run(drive, work()))
            worker.join()
            assert seen["record"] is not mine and seen["open here"] == 1
            assert mine.depth == 1  # type: ignore[union-attr]
            assert _hold._async_held[threading.get_ident()].open == 1
        assert _hold._open_holds() == 0

    asyncio.run(request())


@pytest.mark.usefixtures("task_lookup")
def test_code_without_a_task_never_takes_the_record_of_a_task_that_ended() -> None:
    """A context copied from a task outlives it: its record is not anyone else's."""

    async def request() -> tuple[contextvars.Context, object]:
        async with hookreload.hold():
            pass
        return contextvars.copy_context(), _hold._task.get()

    context, ended = asyncio.run(request())
    gc.collect()  # the task is gone: its weak reference answers None
    assert ended.owner() is None  # type: ignore[attr-defined]

    async def work() -> object:
        async with hookreload.hold():
            return _hold._task.get()

    coro = work()
    with pytest.raises(StopIteration) as done:
        context.run(coro.send, None)
    assert done.value.value is not ended
    assert ended.depth == 0  # type: ignore[attr-defined]
    assert _hold._open_holds() == 0


@pytest.mark.usefixtures("task_lookup")
def test_a_task_type_without_weak_references_still_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_weak_references(obj: object) -> object:
        raise TypeError(f"cannot create weak reference to {type(obj).__name__!r} object")

    monkeypatch.setattr(_hold, "_weak", no_weak_references)

    async def main() -> None:
        async with hookreload.hold():
            assert _hold._task.get().owner() is asyncio.current_task()  # type: ignore[union-attr]
            assert _hold._open_holds() == 1
            async with hookreload.hold():  # the same record, found again
                assert _hold._task.get().depth == 2  # type: ignore[union-attr]

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_forgets_the_holds_of_threads_it_does_not_have() -> None:

    def in_the_child() -> int:  # pragma: no cover - runs in the child
        if _hold._held != {threading.get_ident(): 1}:  # this thread's hold only
            return 3
        hookreload.hold().__exit__(None, None, None)
        with swapping(["m"]):  # nothing left to wait for
            return 2

    with held_in_a_thread(), hookreload.hold():
        assert exit_code_of_a_fork(in_the_child) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
@pytest.mark.usefixtures("task_lookup")
def test_the_tasks_of_a_forked_child_never_take_the_record_of_the_task_that_forked() -> None:
    """The child's copy of asyncio's running tasks still names the forking task.

    Its record, in every context the child copies from it, would otherwise
    pass for the record of whatever task runs there: every task in the child
    would share it, and count as nested in each other's holds.
    """

    async def hold_there() -> bool:
        async with hookreload.hold():
            record = _hold._task.get()
            return record is not None and record.owner() is asyncio.current_task()

    def in_the_child() -> int:  # pragma: no cover - runs in the child
        return 2 if asyncio.run(hold_there()) else 3

    async def main() -> int:
        async with hookreload.hold():
            pass  # this task's record, in the context the child goes on in
        return exit_code_of_a_fork(in_the_child)

    assert asyncio.run(main()) == 2


def _no_hold_open_here() -> None:  # pragma: no cover - runs in a child process
    _hold._timeout = lambda: 1.0  # type: ignore[assignment]  # its own process: no restoring
    with swapping(["m"]):  # would wait for the parent's holds, and time out
        sys.exit(0 if _hold._open_holds() == 0 else 3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
@pytest.mark.usefixtures("task_lookup")
def test_a_multiprocessing_child_forked_inside_holds_is_not_inside_them() -> None:
    """It never comes back into the parent's holds: its reloads must not wait for them."""
    context = multiprocessing.get_context("fork")

    async def main() -> int | None:
        async with hookreload.hold():
            with hookreload.hold(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads
                child = context.Process(target=_no_hold_open_here)
                child.start()
                child.join(TIMEOUT)
        return child.exitcode

    assert asyncio.run(main()) == 0


def test_the_fork_handler_keeps_only_the_forking_threads_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a forked child runs (measured here: a child's coverage is not saved)."""
    monkeypatch.setattr(_hold, "_task", _hold._task)  # the handler makes a new one
    registry = multiprocessing.util._afterfork_registry  # type: ignore[attr-defined]
    monkeypatch.setattr(multiprocessing.util, "_afterfork_registry", type(registry)())
    me = threading.get_ident()
    lock = _hold._lock
    with hookreload.hold():
        _hold._held[-999] = 1  # a lease of a request the child does not serve
        _hold._forked()
        assert _hold._held == {me: 1}
        assert _hold._lock is not lock
    _hold._forked()  # forked outside any hold
    assert _hold._held == {}
    gone = _hold._async_held[-999] = _hold._Holds()  # a loop thread the child does not have
    gone.open = 2
    _hold._forked()
    assert -999 not in _hold._async_held and gone.open == 0
    mark = _hold.inside()  # a lease's work, marked before the fork
    _hold._forked()
    assert _hold._task.get() is None  # the child starts with no records
    _hold.outside(mark)  # the parent's mark is not the child's to reset
    with swapping(["m"]):
        pass
    # What a multiprocessing child runs next (the forking thread's holds are not its own).
    hooks = multiprocessing.util._afterfork_registry  # type: ignore[attr-defined]
    assert [func for _, _, func in hooks] == [_hold._forget_holds] * 4
    _hold._held[me] = 1
    left = _hold._async_held[-998] = _hold._Holds()
    left.open = 1
    _hold._forget_holds(None)
    del _hold._async_held[-998]
    assert _hold._held == {} and left.open == 0


def test_check_may_swap_refuses_early_what_a_swap_would() -> None:
    _hold.check_may_swap(["m"])  # nothing open: fine
    with hookreload.hold(), pytest.raises(hookreload.ReloadError, match="'m'"):
        _hold.check_may_swap(["m"])
    with swapping(["m"]), hookreload.hold():
        _hold.check_may_swap(["m"])  # inside its own swap: nested, fine
