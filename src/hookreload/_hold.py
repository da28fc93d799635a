"""Holds: units of work during which no proxied module switches versions.

A hold is a reader and a swap a writer of one global readers-writer gate,
with writer preference: once a swap waits, new holds wait for it too, so a
busy service (always some hold open) cannot starve reloads.

The reload code calls :func:`swapping` around each switch of versions (all
the modules of a batch under one call)::

    with swapping(names):
        ...  # commit every switch of the batch

Entering and leaving a hold takes no lock while no swap waits. Each thread
counts its open sync holds in ``_held`` and the async holds of the tasks it
runs in a :class:`_Holds` of its own; only that thread writes its counts,
and under the GIL each store is atomic. A hold counts itself, then reads
``_gate``; the swap closes ``_gate`` first, then sums the counts: either the
hold sees the gate closed (and backs out to wait) or the swap sees the hold
(and waits for it).

A hold opened where a hold is open already passes a waiting swap (it would
wait for the swap, and the swap for the hold it is inside): in a thread with
holds open (async ones of its event loop's tasks included, which could not
close while the thread waited), or in a task inside an async hold, or in a
context copied from one (the worker threads a request's task starts) or
marked by :func:`inside` (a lease's work). That is what a task's
:class:`_Task`, the value of the context variable ``_task``, tells.

A :class:`Lease` is a hold not tied to a thread (a WSGI response may be
closed by another thread than the one that called the application).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import time
import types
import weakref
from contextvars import ContextVar
from typing import cast

from ._errors import ReloadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Collection, Generator, Iterator
    from contextvars import Token
    from types import TracebackType

DEFAULT_TIMEOUT = 10.0

# The gate's states; holds read it without the lock, so a truth test says "closed".
_OPEN = 0
_DRAINING = 1  # a swap waits for the open holds to close; new holds wait
_SWAPPING = 2  # no hold is open; the swap runs; holds wait

_get_ident = threading.get_ident
_lock = threading.Lock()
_drained = threading.Condition(_lock)  # the last open hold closed
_reopened = threading.Condition(_lock)  # the swap finished or gave up
_gate = _OPEN
_writer: int | None = None  # the thread running the swap
_writers = threading.Lock()  # one swap at a time
# Open sync holds and leases, by thread (leases by a negative key of their
# own); only the thread itself writes its entry.
_held: dict[int, int] = {}
# Futures of async holds waiting for the gate to open, with their loops.
_async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


class _Holds:
    """The open async holds of the tasks one thread runs; only that thread writes ``open``."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = 0


# By thread; an entry stays as long as the thread may run tasks that point to it.
_async_held: dict[int, _Holds] = {}


class _Task:
    """What an async hold needs to know about the task it runs in.

    The value of the context variable ``_task``, made by the task's first
    hold: the next ones find it there in one lookup, where a per-thread table
    would take two and a context variable holding the depth two sets per
    hold (most of what a hold cost). Contexts copied from the task (the tasks
    it starts, the worker threads it hands work to) see it too: ``outer``
    chains a task's record to the one it found in its context when made, so
    their holds know whether the code that started them is inside a hold
    now. ``loop`` and ``thread`` let a hold tell its own task's record from
    a copied one without asking which loop runs (see ``_aenter_vouched``).
    """

    __slots__ = ("depth", "holds", "loop", "outer", "owner", "thread")

    # Set by _record(): a Python __init__ would cost a frame per request.
    owner: Callable[[], object]  # -> the asyncio task, None without one, _MARK for inside()
    holds: _Holds | None  # where the owner's holds count (None: inside()'s mark)
    outer: _Task | None
    depth: int  # the owner's open async holds
    loop: asyncio.AbstractEventLoop | None  # the owner's (None without a task)
    thread: int  # the thread that made the record (0: inside()'s mark)


def _no_task() -> None:
    return None


def _marked() -> object:
    return _MARK


def _record(
    owner: Callable[[], object],
    holds: _Holds | None,
    outer: _Task | None,
    loop: asyncio.AbstractEventLoop | None = None,
    thread: int = 0,
) -> _Task:
    task = _new_record(_Task)
    task.owner = owner
    task.holds = holds
    task.outer = outer
    task.depth = 0
    task.loop = loop
    task.thread = thread
    return task


_new_record = object.__new__
_weak = weakref.ref
_MARK = object()  # what inside()'s records are owned by: no task
_task: ContextVar[_Task | None] = ContextVar("hookreload_hold_task", default=None)


def _inside(task: _Task | None) -> bool:
    """Whether the code that owns ``task``, or any that started it, is inside a hold now."""
    while task is not None:
        if task.depth:
            return True
        task = task.outer
    return False


def _bind_asyncio() -> None:
    """Point ``_running_loop`` and ``_task_of`` at asyncio, imported now if it was not.

    Deferred to the first async hold: ``import hookreload`` does not import
    asyncio (children started by the CLI pay for every import).
    """
    global _running_loop, _task_of
    import asyncio.events

    _running_loop = asyncio.events._get_running_loop
    _task_of = _task_lookup()


def _task_lookup() -> Callable[[asyncio.AbstractEventLoop | None], object]:
    """How to read the running task of a loop (None for no loop).

    CPython 3.10-3.13 keep the running task of each loop in a dict of their C
    module's, which the tasks update as they step: reading it is one C call.
    3.14 keeps it in the thread state instead, and the ``_current_tasks`` left
    in ``asyncio.tasks`` is the pure-Python tasks' (empty with C tasks, so
    every task would look like code without one): ask asyncio there. The C
    module's dict is taken even when ``asyncio.tasks`` has one of its own
    (``_asyncio`` imported before ``asyncio`` leaves it so on 3.12 and 3.13).
    """
    import asyncio.tasks

    # None on 3.14 and later, and where asyncio runs without its C part.
    updated: object = getattr(sys.modules.get("_asyncio"), "_current_tasks", None)
    if isinstance(updated, dict):
        running: dict[object, object] = updated
        return running.get
    current_task = asyncio.tasks.current_task

    def task_of(loop: asyncio.AbstractEventLoop | None) -> object:
        return None if loop is None else current_task(loop)

    return task_of


def _first_running_loop() -> asyncio.AbstractEventLoop | None:
    _bind_asyncio()
    return _running_loop()


def _first_task_of(loop: asyncio.AbstractEventLoop | None) -> object:
    _bind_asyncio()
    return _task_of(loop)


_running_loop: Callable[[], asyncio.AbstractEventLoop | None] = _first_running_loop
_task_of: Callable[[asyncio.AbstractEventLoop | None], object] = _first_task_of


def _mine(task: _Task | None) -> _Task:
    """The record of the running task, made and set in its context if ``task`` is not it.

    Asks the running loop: where ``task`` cannot vouch for itself by its own
    loop and thread (see ``_aenter_vouched``), and for a task's first hold.
    """
    loop = _running_loop()
    owner = _task_of(loop)
    if task is None or not _owned(task, owner):
        task = _task_here(owner, task, loop)
    return task


def _owned(task: _Task, owner: object) -> bool:
    """Whether ``task`` is the record of ``owner``, the running task (None: code without one)."""
    # Without a task, a dead task's reference answers None too.
    return task.owner() is owner if owner is not None else task.owner is _no_task


def _task_here(owner: object, outer: _Task | None, loop: asyncio.AbstractEventLoop | None) -> _Task:
    """A new record for the running task, set in its context (its first async hold)."""
    me = _get_ident()
    holds = _async_held.get(me)
    if holds is None:
        holds = _async_held[me] = _Holds()
    # A weak reference: the task's context holds its record, and a record
    # holding the task would make every task a cycle for the collector.
    if owner is None:
        ref: Callable[[], object] = _no_task
    else:
        try:
            ref = _weak(owner)
        except TypeError:  # a task type without weak references: a cycle, then
            ref = lambda: owner  # noqa: E731
    task = _record(ref, holds, outer, loop, me)
    _task.set(task)
    return task


def _loop_busy() -> bool:
    """Whether tasks this thread runs are inside async holds (so it must not block)."""
    holds = _async_held.get(_get_ident())
    return holds is not None and holds.open > 0


class HoldTimeout(ReloadError):
    """Holds stayed open longer than ``install(hold_timeout=...)``: the reload is deferred.

    Nothing changed: a reload never forces its way past a hold.

    Attributes:
        modules: the dotted names of the modules the deferred reload would switch.
        waited_s: how long it waited for the holds to close, in seconds.
    """

    def __init__(self, message: str, *, modules: tuple[str, ...], waited_s: float) -> None:
        super().__init__(message, module=modules[0] if modules else "")
        self.modules = modules
        self.waited_s = waited_s


def _names(modules: tuple[str, ...]) -> str:
    return ", ".join(repr(name) for name in modules) or "(no module)"


def _timeout() -> float | None:
    from . import _hook  # here: _hook imports the loader, which imports the reload code

    return _hook.hold_timeout()


def _open_holds() -> int:
    """Every open hold: exact once the gate is closed (and the caller holds ``_lock``)."""
    # Each sum reads a snapshot taken in one C call (a thread may add its
    # first entry meanwhile: a hold counted after the gate closed backs out).
    return sum(_held.values()) + sum([holds.open for holds in list(_async_held.values())])


def _release(me: int, count: int) -> None:
    """Set this thread's count of open holds to ``count``."""
    if count:
        _held[me] = count
    else:
        del _held[me]


# ``async with hold()``: plain functions that return an awaitable, not
# coroutines. With no swap waiting there is nothing to await, and awaiting the
# finished _DONE costs a fraction of making and running a coroutine (a quarter
# to a third of an empty ``async with`` on 3.10 and 3.11), see
# benchmarks/cases.py, case ``hold``. So ``async with hold() as h`` binds
# None, as asyncio.Lock does.
#
# Two pairs, for the hot path: they differ only in how they find the running
# task's record, and inline the rest. Asking for the running loop makes a
# getpid() system call on 3.10 and 3.11 (gone in 3.12, python/cpython#100363).
# There, the record's own loop and thread vouch for it when that loop runs
# its owner now and this is the thread that made it: that loop then runs
# here, its running task is the code running here, and only this thread
# writes the counts. Elsewhere that check costs more than it saves.
_RUNNING_LOOP_COSTS = sys.version_info < (3, 12)


def _aenter_asking(self: object) -> Awaitable[None]:
    task = _task.get()
    loop = _running_loop()
    owner = _task_of(loop)
    # Ours, or copied from the context of the code that started us?
    # (Without a task, a dead task's reference answers None too.)
    if task is None or (
        task.owner() is not owner if owner is not None else task.owner is not _no_task
    ):
        task = _task_here(owner, task, loop)
    depth = task.depth
    task.depth = depth + 1
    task.holds.open += 1  # type: ignore[union-attr]  # a task's own record has them
    if _gate:
        return _aenter_closed(task, depth)
    return _DONE


def _aexit_asking(
    self: object,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> Awaitable[None]:
    task = _task.get()
    owner = _task_of(_running_loop())
    if (
        task is not None
        and task.depth
        and (task.owner() is owner if owner is not None else task.owner is _no_task)
    ):
        task.depth -= 1
        task.holds.open -= 1  # type: ignore[union-attr]
    else:
        _aexit_elsewhere()
    if _gate:
        _closed()
    return _DONE


def _aenter_vouched(self: object) -> Awaitable[None]:
    task = _task.get()
    if (
        task is None
        or task.thread != _get_ident()
        or (owner := _task_of(task.loop)) is None
        or task.owner() is not owner
    ):
        task = _mine(task)
    depth = task.depth
    task.depth = depth + 1
    task.holds.open += 1  # type: ignore[union-attr]
    if _gate:
        return _aenter_closed(task, depth)
    return _DONE


def _aexit_vouched(
    self: object,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> Awaitable[None]:
    task = _task.get()
    if (
        task is not None
        and task.depth
        and (
            (
                task.thread == _get_ident()
                and (owner := _task_of(task.loop)) is not None
                and task.owner() is owner
            )
            or _owned(task, _task_of(_running_loop()))
        )
    ):
        task.depth -= 1
        task.holds.open -= 1  # type: ignore[union-attr]
    else:
        _aexit_elsewhere()
    if _gate:
        _closed()
    return _DONE


class Hold:
    """``with`` / ``async with``: no proxied module switches versions until it closes.

    Stateless: :func:`hookreload.hold` returns the one instance; see there.
    """

    __slots__ = ()

    def __enter__(self) -> Hold:
        me = _get_ident()
        before = _held.get(me, 0)
        _held[me] = before + 1
        if _gate:
            _wait_open(me, before, before + 1, bool(before) or _nested_here())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        me = _get_ident()
        count = _held[me] - 1  # _release(), inlined: this is the hot path
        if count:
            _held[me] = count
        else:
            del _held[me]
        if _gate:
            _closed()

    # How an async hold finds its task's record depends on the Python: see
    # the two pairs of functions above.
    __aenter__ = _aenter_vouched if _RUNNING_LOOP_COSTS else _aenter_asking
    __aexit__ = _aexit_vouched if _RUNNING_LOOP_COSTS else _aexit_asking

    def __repr__(self) -> str:
        return "<hookreload.hold()>"


_HOLD = Hold()


@types.coroutine
def _finished() -> Generator[None, None, None]:
    return
    yield  # pragma: no cover - a generator that returns at once


# Awaiting a generator that has returned gives None at once: no frame to run,
# nothing allocated, and it stays finished (so threads may share it). Run to
# its end here, where no other thread can be running it.
_DONE = _finished()
next(cast("Iterator[None]", _DONE), None)


def hold() -> Hold:
    """Keep every proxied module on one version while a unit of work runs: ``with hold():``.

    Every module the work touches stays on the version it had when the hold
    opened: a reload builds its new versions while holds are open, then
    waits to switch them until no hold is open (and new holds wait for the
    switch, so a busy program cannot starve reloads). Holds that stay open
    longer than ``install(hold_timeout=...)`` seconds defer the reload: it
    fails with :class:`HoldTimeout`, nothing changes, and it is tried again.

    Holds nest freely and cost about half a microsecond when no reload
    waits (``async with``: 0.5-0.8, a task's first about 2). They work in
    threads and in asyncio tasks (``async with`` awaits a pending switch
    instead of blocking the event loop). A reload from inside a hold fails
    at once with :class:`ReloadError` (it would wait for itself); reload
    outside it, or let the watcher do it.

    Example:
        >>> import hookreload
        >>> with hookreload.hold():
        ...     pass  # handle one request: every module stays on one version
    """
    return _HOLD


def _closed() -> None:
    """A hold closed while a swap waits: wake the swap if it was the last one."""
    with _lock:
        if not _open_holds():
            _drained.notify_all()


def _wait_open(key: int, before: int, after: int, nested: bool) -> None:
    """Wait until the hold counted in ``_held[key]`` (``before`` -> ``after``) may open.

    ``nested``: the caller is inside a hold already, so it passes a swap that
    waits for holds to close (the swap would otherwise wait for it, and it
    for the swap).
    """
    me = _get_ident()
    with _lock:
        while _gate and not (nested and _gate == _DRAINING) and _writer != me:
            _release(key, before)  # not open while it waits: the swap must not wait for it
            if not _open_holds():
                _drained.notify_all()
            _reopened.wait()
            _held[key] = after


def _nested_here() -> bool:
    """Whether this context is inside a hold that no thread's sync count shows."""
    return _inside(_task.get()) or _loop_busy()


async def _aenter_closed(task: _Task, depth: int) -> None:
    """Await until the hold ``task`` counted may open (``depth``: the task's holds open before)."""
    import asyncio

    holds = task.holds
    assert holds is not None
    while True:
        with _lock:
            if not _gate or (
                _gate == _DRAINING and (depth or _inside(task.outer) or _held.get(_get_ident()))
            ):
                return
            # Not open while it waits: the swap must not wait for it.
            task.depth = depth
            holds.open -= 1
            if not _open_holds():
                _drained.notify_all()
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            _async_waiters.append((loop, waiter))
        # The swap wakes every waiter when it ends or gives up. Cancelled,
        # the hold never opened and is not counted: ``async with`` calls no
        # __aexit__ when __aenter__ raises.
        await waiter
        # Counted again before the gate is read, as in Hold.__aenter__.
        depth = task.depth
        task.depth = depth + 1
        holds.open += 1


def _aexit_elsewhere() -> None:
    """An async hold closes in another context than the one it opened in.

    An async generator left inside ``async with hold()`` is closed by a task
    of its own: the record of the task that opened the hold is not at hand,
    so only the count of this thread (the loop's, where the hold was counted)
    goes down; that task's depth stays up, which only lets its later holds
    pass a waiting swap.
    """
    holds = _async_held.get(_get_ident())
    if holds is not None and holds.open:
        holds.open -= 1


_lease_keys = itertools.count(-1, -1)  # next() is atomic; thread idents are positive


class Lease:
    """A hold not tied to a thread: opened in one, closed in any (a WSGI response).

    Counted in ``_held`` under a key of its own, written once by :meth:`open`
    and once by :meth:`close`, which happen one after the other.
    """

    __slots__ = ("_key",)

    def __init__(self) -> None:
        self._key = 0

    def open(self) -> None:
        key = next(_lease_keys)
        _held[key] = 1
        self._key = key
        if _gate:
            _wait_open(key, 0, 1, bool(_held.get(_get_ident())) or _nested_here())

    @property
    def opened(self) -> bool:
        return bool(self._key)

    def close(self) -> None:
        """Close the lease; again does nothing."""
        key, self._key = self._key, 0
        if key:
            _held.pop(key, None)  # gone after a fork: _forked() dropped it
            if _gate:
                _closed()


def inside() -> Token[_Task | None]:
    """Mark the current context as inside a hold until :func:`outside` (a lease's work)."""
    mark = _record(_marked, None, _task.get())
    mark.depth = 1
    return _task.set(mark)


def outside(token: Token[_Task | None]) -> None:
    if token.var is _task:  # else marked before a fork, in the parent: see _forked()
        _task.reset(token)


class Swap:
    """The context manager :func:`swapping` returns."""

    __slots__ = ("_modules", "_nested")

    def __init__(self, modules: tuple[str, ...]) -> None:
        self._modules = modules
        self._nested = False

    def __enter__(self) -> Swap:
        global _gate, _writer
        me = _get_ident()
        if _writer == me:
            self._nested = True  # a swap inside a swap: the gate is closed already
            return self
        _check_may_wait(self._modules, me)
        timeout = _timeout()
        start = time.monotonic()
        if not (_writers.acquire() if timeout is None else _writers.acquire(timeout=timeout)):
            raise self._timed_out(start)  # another swap outlasted the time-out
        try:
            with _lock:
                _gate = _DRAINING
                _writer = me
                while _open_holds():
                    left = None if timeout is None else start + timeout - time.monotonic()
                    if left is not None and left <= 0:
                        _reopen()
                        raise self._timed_out(start)
                    _drained.wait(left)
                _gate = _SWAPPING
        except BaseException:
            _writers.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._nested:
            return
        with _lock:
            _reopen()
        _writers.release()

    def _timed_out(self, start: float) -> HoldTimeout:
        waited = time.monotonic() - start
        return HoldTimeout(
            f"cannot switch {_names(self._modules)} to new versions yet: holds "
            f"(hookreload.hold()) stayed open for {waited:.1f} s; the reload is "
            "deferred and will be retried",
            modules=self._modules,
            waited_s=waited,
        )


def check_may_swap(names: Collection[str]) -> None:
    """Raise at once what :func:`swapping` would raise before waiting, if anything.

    For the reload code to call before it locks and builds the modules: a
    reload refused because the caller is inside a hold then neither builds
    for nothing nor holds module locks that another hold-owning thread could
    be waiting for.
    """
    me = _get_ident()
    if _writer != me:
        _check_may_wait(tuple(names), me)


def _check_may_wait(modules: tuple[str, ...], me: int) -> None:
    if _held.get(me) or _inside(_task.get()):
        raise ReloadError(
            f"cannot switch {_names(modules)} to new versions here: this thread or task "
            "is inside hookreload.hold(), and a swap waits for every hold to close, so it "
            "would wait for itself; reload after the hold closes, or let the watcher reload",
            module=modules[0] if modules else "",
        )
    if _loop_busy():
        raise HoldTimeout(
            f"cannot switch {_names(modules)} to new versions yet: tasks of this thread's "
            "event loop are inside hookreload.hold(), and they cannot close while it "
            "waits; the reload is deferred and will be retried",
            modules=modules,
            waited_s=0.0,
        )


def _reopen() -> None:
    """Open the gate and wake the holds waiting at it; the caller holds ``_lock``."""
    global _gate, _writer
    _gate = _OPEN
    _writer = None
    _reopened.notify_all()
    waiters = _async_waiters[:]
    del _async_waiters[:]
    for loop, waiter in waiters:
        # A closed loop raises RuntimeError: nobody awaits its waiter any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _forked() -> None:
    """In a forked child: only the forking thread is left; forget the others' holds.

    Their threads do not exist here, so their holds would never close and
    every swap would wait for them. The locks may have been taken by a
    thread that is gone: they are made anew, unless the forking thread is
    swapping (then its swap ends normally).
    """
    global _lock, _drained, _reopened, _writers, _gate, _writer, _task
    # The parent's task records stay in the contexts the child copied, and
    # asyncio's table of running tasks names the tasks that were running at
    # the fork, which do not run here: a record would vouch for any task that
    # copied it (_aenter_vouched). The child starts with no records.
    _task = ContextVar("hookreload_hold_task", default=None)
    me = _get_ident()
    mine = _held.get(me, 0)
    _held.clear()
    if mine:
        _held[me] = mine
    for ident in [ident for ident in _async_held if ident != me]:
        _async_held.pop(ident).open = 0  # tasks of a loop the child does not run
    del _async_waiters[:]
    # A child of os.fork() may go on inside the forking thread's holds; one of
    # multiprocessing's (fork start method) runs its target and exits, never
    # back in them: they would keep every reload of the child waiting. Its
    # start (always with multiprocessing.util loaded) runs these hooks.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(_ANCHOR, _forget_holds)
    if _writer == me:  # pragma: no cover - fork() called by code that runs inside a swap
        return
    _lock = threading.Lock()
    _drained = threading.Condition(_lock)
    _reopened = threading.Condition(_lock)
    _writers = threading.Lock()
    _gate = _OPEN
    _writer = None


class _Anchor:
    """multiprocessing keeps a fork hook as long as an object it names lives: this one does."""


_ANCHOR = _Anchor()


def _forget_holds(_: object) -> None:
    """In a multiprocessing child: close the holds the forking thread had open."""
    _held.clear()
    for holds in _async_held.values():
        holds.open = 0


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forked)


def swapping(names: Collection[str]) -> Swap:
    """A context manager entered once no hold is open; new holds wait until it exits.

    Wrap every switch of versions in it (all the modules of a batch at once).

    Raises:
        HoldTimeout: holds stayed open longer than ``install(hold_timeout=...)``;
            nothing may switch (the caller defers the reload and retries it).
            Also at once when tasks of this thread's event loop are inside holds:
            they could not close while it waited.
        ReloadError: the calling thread or task is inside a hold: the swap
            would wait for itself.
    """
    return Swap(tuple(names))
