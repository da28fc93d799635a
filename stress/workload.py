"""Callers against reloads: threads and asyncio tasks use a proxied module while it reloads.

One driver thread saves a new version and reloads it, without pause, and now and
then saves a broken one (that reload must fail and change nothing); another
thread rolls back, also without pause. Meanwhile reader threads, and asyncio
tasks on an event loop of their own, call into the module: through the module
(``mod.observe()``), and through references taken once before the first reload
(``observe = mod.observe``, an instance made then). Every answer is checked:
all the numbers a version answers with are its own number, the one written in
its code included, so an answer mixing two versions, or missing ``MARK`` (bound
last), means a caller saw a half-executed or half-switched version.

Used by tests/test_stress.py (a short run, in ``make test``) and by
stress/run.py (a long one, ``make stress``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hookreload

SIZE = 200  # items built one by one: executing a version takes a while
JOIN_TIMEOUT = 30.0  # seconds; a healthy run ends its threads at once


def source(n: int) -> str:
    """Version ``n`` of the module: everything it answers is ``n``."""
    # The literal is in the code and the rest in the globals: in patch mode
    # both are switched, and a mix of them would show in the answer.
    answer = f"({n}, N, TRIPLE // 3, DATA[0], DATA[-1], N + len(DATA) - {SIZE}, MARK)"
    return f"""
import asyncio

N = {n}
TRIPLE = {3 * n}
DATA = tuple({n} for _ in range({SIZE}))


def observe():
    return {answer}


async def aobserve():
    await asyncio.sleep(0)
    return observe()


class Thing:
    def observe(self):
        return {answer}


MARK = {n}
"""


def broken(n: int) -> str:
    """A save that must not go live: it fails half-way, after binding most names."""
    if n % 2:
        return source(n).replace("MARK =", "raise RuntimeError('broken save')\nMARK =")
    return source(n) + "\ndef oops(:\n"


@dataclass
class Counts:
    """What one run did and saw."""

    calls: int = 0
    errors: int = 0
    torn: int = 0  # answers from a half-executed or half-switched version
    reloads: int = 0
    failed_reloads: int = 0  # broken saves, refused as they must be
    rollbacks: int = 0
    refused_rollbacks: int = 0  # no previous version at that moment
    unexpected: int = 0  # reload or rollback outcomes that should not happen
    # Versions answered through references taken before the first reload.
    seen_by_references: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Counts) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.torn += other.torn
        self.seen_by_references |= other.seen_by_references
        self.seen |= other.seen
        self.samples.extend(other.samples[: 10 - len(self.samples)])

    def note(self, what: str) -> None:
        if len(self.samples) < 10:
            self.samples.append(what)

    def summary(self) -> str:
        return (
            f"{self.calls} calls, {self.errors} errors, {self.torn} half-executed; "
            f"{self.reloads} reloads, {self.failed_reloads} broken saves refused, "
            f"{self.rollbacks} rollbacks ({self.refused_rollbacks} refused), "
            f"{len(self.seen)} versions seen ({len(self.seen_by_references)} through "
            f"references taken before), {self.seconds:.1f} s"
        )


def _check(answer: object, counts: Counts, by_reference: bool, what: str) -> None:
    counts.calls += 1
    if not isinstance(answer, tuple) or len(set(answer)) != 1:
        counts.torn += 1
        counts.note(f"torn: {what} answered {answer!r}")
        return
    counts.seen.add(answer[0])
    if by_reference:
        counts.seen_by_references.add(answer[0])


def _read_namespace(mod: types.ModuleType) -> tuple[object, ...]:
    namespace = mod.__dict__
    return (namespace.get("N"), namespace.get("MARK"), namespace.get("TRIPLE", 0) // 3)


# A call to make, whether it goes through a reference taken before, and its name.
Reader = tuple[Callable[[], object], bool, str]
AsyncReader = tuple[Callable[[], Awaitable[object]], bool, str]


def _readers(mod: types.ModuleType) -> list[Reader]:
    """What a caller does, whether it goes through a reference taken before, and its name."""
    observe = mod.observe
    thing = mod.Thing()
    return [
        (lambda: mod.observe(), False, "mod.observe()"),
        (lambda: mod.Thing().observe(), False, "mod.Thing().observe()"),
        (lambda: _read_namespace(mod), False, "mod.__dict__"),
        (observe, True, "observe() taken before"),
        (thing.observe, True, "thing.observe() on an instance made before"),
    ]


def _read_all(readers: list[Reader], counts: Counts) -> None:
    """Call every reader once, counting and checking what each answers."""
    for read, by_reference, what in readers:
        try:
            answer = read()
        except BaseException as exc:
            _failed(counts, exc)
            continue
        _check(answer, counts, by_reference, what)


def _failed(counts: Counts, exc: BaseException) -> None:
    counts.calls += 1
    counts.errors += 1
    counts.note(f"error: {exc!r}")


def _read_in_thread(readers: list[Reader], stop: threading.Event, out: list[Counts]) -> None:
    counts = Counts()
    out.append(counts)
    while not stop.is_set():
        _read_all(readers, counts)


def _async_readers(mod: types.ModuleType) -> list[AsyncReader]:
    aobserve = mod.aobserve
    return [
        (lambda: mod.aobserve(), False, "await mod.aobserve()"),
        (aobserve, True, "await aobserve() taken before"),
    ]


async def _read_in_task(
    readers: list[Reader], areaders: list[AsyncReader], stop: threading.Event, counts: Counts
) -> None:
    while not stop.is_set():
        _read_all(readers, counts)
        for aread, by_reference, what in areaders:
            try:
                answer = await aread()
            except Exception as exc:
                _failed(counts, exc)
                continue
            _check(answer, counts, by_reference, what)


def _run_loop(
    readers: list[tuple[list[Reader], list[AsyncReader]]],
    stop: threading.Event,
    out: list[Counts],
) -> None:
    async def main() -> None:
        counts = [Counts() for _ in readers]
        out.extend(counts)
        await asyncio.gather(
            *(_read_in_task(r, a, stop, c) for (r, a), c in zip(readers, counts, strict=True))
        )

    asyncio.run(main())


@contextlib.contextmanager
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 µs: with the default 5 ms, interleavings are rarer."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def hammer(
    mod: types.ModuleType,
    path: Path,
    *,
    reloads: int | None = None,
    seconds: float | None = None,
    readers: int = 3,
    tasks: int = 4,
    broken_every: int = 7,
) -> Counts:
    """Reload and roll back ``mod`` without pause while threads and tasks call into it.

    ``mod`` is a proxy imported from ``path`` (holding ``source(1)``); the run
    ends after ``reloads`` reload attempts or ``seconds``, whichever comes first.
    """
    if reloads is None and seconds is None:
        raise ValueError("give reloads=, seconds= or both")
    total = Counts()
    stop = threading.Event()
    driving = threading.Event()
    reloaded = threading.Event()
    out: list[Counts] = []
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else float("inf")

    def drive() -> None:
        n = 1
        try:
            while (reloads is None or n <= reloads) and time.monotonic() < deadline:
                n += 1
                if n % broken_every == 0:
                    path.write_text(broken(n))
                    try:
                        hookreload.reload(mod)
                    except hookreload.ReloadError:
                        total.failed_reloads += 1
                    else:
                        total.unexpected += 1
                        total.note(f"broken version {n} went live")
                    continue
                path.write_text(source(n))
                version = hookreload.reload(mod)
                total.reloads += 1
                if version.number < 2:
                    total.unexpected += 1
                # The rolling-back thread races the next reload for the lock.
                reloaded.set()
        except BaseException as exc:
            total.unexpected += 1
            total.note(f"driver: {exc!r}")
        finally:
            driving.clear()

    def roll_back() -> None:
        while driving.is_set():
            if not reloaded.wait(0.1):
                continue
            reloaded.clear()
            try:
                hookreload.rollback(mod)
                total.rollbacks += 1
            except hookreload.ReloadError:
                total.refused_rollbacks += 1
            except BaseException as exc:
                total.unexpected += 1
                total.note(f"rollback: {exc!r}")

    # References "taken before the first reload" are taken here, before the
    # driver starts: a reader thread taking them itself could race the first reload.
    workers = [
        threading.Thread(target=_read_in_thread, args=(_readers(mod), stop, out), daemon=True)
        for _ in range(readers)
    ]
    if tasks:
        workers.append(
            threading.Thread(
                target=_run_loop,
                args=([(_readers(mod), _async_readers(mod)) for _ in range(tasks)], stop, out),
                daemon=True,
            )
        )
    driving.set()
    movers = [
        threading.Thread(target=drive, daemon=True),
        threading.Thread(target=roll_back, daemon=True),
    ]
    try:
        with fast_switching():
            for thread in workers + movers:
                thread.start()
            for thread in movers:
                thread.join(None if seconds is None else seconds + JOIN_TIMEOUT)
    finally:
        driving.clear()
        stop.set()
        for thread in movers + workers:
            if thread.ident is not None:
                thread.join(JOIN_TIMEOUT)
    alive = [t.name for t in movers + workers if t.is_alive()]
    if alive:
        total.unexpected += 1
        total.note(f"threads still running: {alive}")
    for counts in out:
        total.add(counts)
    total.seconds = time.monotonic() - start
    return total
