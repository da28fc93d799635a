"""Where the watcher hears of changes: OS file events through watchfiles, or stat polling.

A backend turns the file system into a stream of :class:`Batch` objects, each
the paths that may have changed and when. Whether they really changed (their
content hash) and when to reload them is decided downstream; a backend only
has to never *miss* a change. Tests replace it with a fake that yields
batches on demand.
"""

from __future__ import annotations

import os
import threading
import time

from . import _log
from ._doorbell import Doorbell, preload_doorbell
from ._sources import MARGIN_NS, Sources

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Sequence
    from typing import Any, Protocol

    class Backend(Protocol):
        name: str

        def batches(
            self, sources: Sources, signal: Signal, due: Callable[[], float | None]
        ) -> Iterator[Batch]: ...


class Batch:
    """Paths that may have changed, and when (``time.monotonic()``) they were last seen changing.

    An empty batch is a tick: it lets the watcher look at held paths again.
    """

    __slots__ = ("at", "paths")

    def __init__(self, paths: Sequence[str], at: float) -> None:
        self.paths = paths
        self.at = at

    def __repr__(self) -> str:
        return f"<Batch {list(self.paths)!r} at {self.at:.3f}>"


class BackendUnavailable(Exception):
    """File events cannot be used here; the watcher falls back to polling."""


class Signal:
    """Stop and wake-up requests for the watcher thread.

    It is also the ``stop_event`` handed to watchfiles, which calls
    ``is_set()`` at every step: it answers True to stop, and to restart the
    watch over directories that were not watched yet, but not sooner than
    ``restart_after`` (``time.monotonic()``): a program importing from a new
    directory every few milliseconds at start-up must not restart the watch
    each time.
    """

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self.restart = False
        self.restart_after = 0.0
        # The doorbell the watcher thread sleeps on, if any: a request wakes it too.
        self.doorbell: Doorbell | None = None

    def is_set(self) -> bool:
        if self._stopped.is_set():
            return True
        return self.restart and time.monotonic() >= self.restart_after

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()
        self._ring()

    def request_restart(self) -> None:
        self.restart = True
        self._ring()

    def _ring(self) -> None:
        self._wake.set()
        doorbell = self.doorbell
        if doorbell is not None:
            doorbell.wake()

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds; a stop or restart request ends it early."""
        if self._wake.wait(timeout):
            self._wake.clear()


class EventsBackend:
    """OS file events (inotify, FSEvents, ReadDirectoryChangesW) through ``watchfiles.watch()``.

    It watches the directories holding the watched files, each on its own
    (not recursively), and restarts the watch when modules from new
    directories are imported. Files that changed while a directory was not
    covered yet (between an import and the restart) are found by their
    change time and reported with the first batch of the new watch.

    watchfiles is asked for changes by a loop that wakes every step to look.
    Where there can be a :class:`~hookreload._doorbell.Doorbell` (Linux), the
    thread sleeps on it instead, waits for the changes to be quiet for a step,
    and only then asks watchfiles (with a 1 ms step): an idle program pays no
    wake-ups, and the quiet time is measured on the kernel's events.

    Args:
        step: quiet time in seconds: a batch is returned once no new change
            arrived for a step (so editors' multi-step saves come as one
            batch); the main part of the edit-to-reload latency and, without
            a doorbell, of the idle cost (a wake-up per step).
        group: longest time in seconds one batch may keep growing while
            changes keep arriving.
        wake: how often the watcher thread runs while paths are held back
            (waiting for the rest of a save); also how long watchfiles waits
            for a change before answering that nothing changed.
        tick: how often the watcher runs when nothing happens (a watched
            directory that was deleted is looked for again then).
        pace: shortest time between two restarts of the watch.
        doorbell: sleep on a doorbell where there can be one (the class
            attribute is the default).
    """

    name = "events"
    doorbell = True

    def __init__(
        self,
        step: float = 0.005,
        group: float = 0.1,
        wake: float = 0.05,
        tick: float = 1.0,
        pace: float = 0.1,
        doorbell: bool | None = None,
    ) -> None:
        self.step = step
        self.group = group
        self.wake = wake
        self.tick = tick
        self.pace = pace
        if doorbell is not None:
            self.doorbell = doorbell

    def __repr__(self) -> str:
        return f"<EventsBackend step={self.step * 1000:g} ms>"

    def prepare(self) -> None:
        """Import watchfiles now, in the thread that starts the watcher.

        Raises:
            BackendUnavailable: it cannot be imported, or it would poll (the
                watcher then polls with :class:`PollingBackend`).
        """
        _watchfiles_watch()
        if _watchfiles_polls():
            # Seen: a file saved twice within one second changed once for it.
            raise BackendUnavailable(
                "watchfiles would poll here (WATCHFILES_FORCE_POLLING is set, or this is "
                "WSL) and would miss a second save within the same second, which "
                "hookreload's own polling does not"
            )
        # And what the thread's first watch imports (ctypes and select for a
        # doorbell): a fork made by another thread while the watcher thread
        # imports leaves the child a half-imported module for good.
        if self.doorbell:
            preload_doorbell()

    def batches(
        self, sources: Sources, signal: Signal, due: Callable[[], float | None]
    ) -> Iterator[Batch]:
        """Batches of changed paths until ``signal`` stops.

        Args:
            due: when the watcher wants to look at held paths again (a thread
                sleeping on a doorbell would otherwise sleep until a change).
        """
        # From when changes may have gone unseen: everything, before the first watch.
        since_ns = 0
        while not signal.stopped:
            signal.restart = False
            refreshed_before = sources.refreshed_ns
            sources.refresh()
            present, missing = sources.directories()
            if not present:
                # Nothing to watch yet (no module imported): cheap to look again soon.
                yield Batch((), time.monotonic())
                signal.wait(self.wake)
                continue
            signal.restart_after = time.monotonic() + self.pace
            _log.debug("watching %d files in %d directories", len(sources), len(present))
            # Before watchfiles' own watch: a change between the two rings for
            # nothing (the first batch finds it by its change time) rather
            # than going unheard.
            doorbell = signal.doorbell = self._doorbell(present)
            try:
                refreshed_before = yield from self._watch(
                    present, missing, sources, signal, due, doorbell, since_ns, refreshed_before
                )
            except FileNotFoundError:
                # A directory vanished between listing and watching it.
                signal.wait(self.wake)
            except (OSError, RuntimeError) as exc:
                # No events here (inotify watches exhausted, an unsupported
                # file system, an internal error of the watcher).
                raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
            finally:
                signal.doorbell = None
                if doorbell is not None:
                    doorbell.close()
            # Changes after the refresh before last may not have been seen:
            # events dropped while restarting, files of modules imported since.
            since_ns = refreshed_before - MARGIN_NS

    def _watch(
        self,
        present: list[str],
        missing: list[str],
        sources: Sources,
        signal: Signal,
        due: Callable[[], float | None],
        doorbell: Doorbell | None,
        since_ns: int,
        refreshed_before: int,
    ) -> Generator[Batch, None, int]:
        """One watch of ``present``, until a restart or a stop; the refresh time before last."""
        watched = set(present)
        changes_iter = _watchfiles_watch()(
            *present,
            watch_filter=None,
            debounce=_ms(self.group),
            # With a doorbell the changes are quiet already when watchfiles
            # is asked: it only has to collect them.
            step=_ms(self.step if doorbell is None else _COLLECT_STEP),
            stop_event=signal,
            rust_timeout=_ms(self.wake),
            yield_on_timeout=True,
            recursive=False,
            raise_interrupt=False,
        )
        first = True
        next_tick = time.monotonic() + self.tick
        asked_ns = time.time_ns()  # when watchfiles was last asked for changes
        try:
            while True:
                rang = False
                if not first and doorbell is not None:
                    if not self._rang(doorbell, signal, due, next_tick):
                        if signal.is_set():
                            break
                        # No change: a tick, for held paths and missing directories.
                        now = time.monotonic()
                        moved = False
                        if now >= next_tick:
                            next_tick = now + self.tick
                            moved = any(os.path.isdir(d) for d in missing)
                        yield Batch((), now)
                        if moved:
                            break
                        continue
                    rang = True
                asking_ns = time.time_ns()
                changes = next(changes_iter, None)
                if changes is None:  # watchfiles saw the signal set
                    break
                now = time.monotonic()
                paths = [path for _, path in changes]
                if rang and not paths:
                    # The doorbell heard a change that watchfiles has not passed
                    # on (its thread runs late on a busy machine): find it by its
                    # change time now, rather than when the next change rings.
                    # Whatever watchfiles hands over later finds nothing new.
                    paths = sources.touched_since(asked_ns - MARGIN_NS)
                asked_ns = asking_ns
                moved = any(change == _DELETED and path in watched for change, path in changes)
                if first or changes:
                    # Modules imported since then: a changed file may be one of
                    # theirs. Not on a timer: with thousands of modules loaded a
                    # refresh costs milliseconds, most of an idle second's CPU.
                    refreshed_before = sources.refreshed_ns
                    if sources.refresh():
                        signal.restart = True
                if now >= next_tick:
                    next_tick = now + self.tick
                    # A directory that was missing is back: watch it too.
                    moved = moved or any(os.path.isdir(d) for d in missing)
                if first:
                    # The watch is up: what changed while it was not is a
                    # suspect, modules imported while it was starting included
                    # (hence after the refresh).
                    first = False
                    paths.extend(sources.touched_since(since_ns))
                yield Batch(paths, now - self.step)
                # A watched directory deleted takes its watch with it: restart.
                if moved or signal.is_set():
                    break
        finally:
            changes_iter.close()
        return refreshed_before

    def _doorbell(self, directories: Sequence[str]) -> Doorbell | None:
        """A doorbell on ``directories``, or ``None`` to wake every step instead."""
        if not self.doorbell:
            return None
        try:
            return Doorbell(directories)
        except OSError as exc:
            _log.debug("no doorbell (%s): waking every %g ms", exc, self.step * 1000)
            return None

    def _rang(
        self,
        doorbell: Doorbell,
        signal: Signal,
        due: Callable[[], float | None],
        next_tick: float,
    ) -> bool:
        """Sleep until a change rang and then stayed quiet for a step (True), or until a tick."""
        if not doorbell.wait(self._sleep(signal, due, next_tick)):
            return False
        end = time.monotonic() + self.group
        while doorbell.wait(min(self.step, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end:
                break
        return True

    def _sleep(self, signal: Signal, due: Callable[[], float | None], next_tick: float) -> float:
        """How long the thread may sleep on the doorbell when no change comes."""
        if signal.is_set():
            return 0.0
        now = time.monotonic()
        until = next_tick
        held = due()
        if held is not None:
            # Past already: held paths are looked at again every `wake`.
            until = min(until, held if held > now else now + self.wake)
        if signal.restart:
            until = min(until, signal.restart_after)
        return max(0.0, until - now)


# watchfiles' step once a doorbell says the changes are quiet: it still looks
# twice (one step apart) before returning them.
_COLLECT_STEP = 0.001


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


_DELETED = 3  # watchfiles.Change.deleted, without importing watchfiles here


def _watchfiles_watch() -> Any:
    try:
        # Imported on first use: it takes ~80 ms (anyio), and `import
        # hookreload` must stay cheap; watching is worth it.
        from watchfiles import watch
    except ImportError as exc:
        raise BackendUnavailable(f"watchfiles cannot be imported ({exc})") from exc
    return watch


def _watchfiles_polls() -> bool:
    """Whether ``watchfiles.watch()`` will poll rather than use events (its environment, WSL)."""
    try:
        from watchfiles.main import _default_force_polling

        return bool(_default_force_polling(None))
    except Exception:  # a private helper of watchfiles: if it changed, assume polling
        return True


class PollingBackend:
    """Stat every watched file every ``interval`` seconds.

    For file systems where events do not arrive (network mounts, some
    containers and virtual machines). Costs a ``stat`` per file per interval,
    and a hash of the files whose stat changed.
    """

    name = "polling"

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        # Polls done so far: lets tests wait for "a few more polls" without sleeping.
        self.polls = 0

    def __repr__(self) -> str:
        return f"<PollingBackend every {self.interval:g} s>"

    def batches(
        self, sources: Sources, signal: Signal, due: Callable[[], float | None]
    ) -> Iterator[Batch]:
        """Batches of changed paths until ``signal`` stops.

        While a batch waits to be quiet (``due``), poll again at that time
        rather than a whole interval later: a file still being written shows
        a new stat then, and keeps the batch waiting.
        """
        while not signal.stopped:
            signal.restart = False
            sources.refresh()
            now = time.monotonic()
            changed = sources.restat()
            self.polls += 1
            yield Batch(changed, now)
            wake = due()
            delay = self.interval
            now = time.monotonic()
            if wake is not None and wake > now:
                # Not when it is already past: held paths wait for the next poll.
                delay = min(delay, wake - now)
            signal.wait(delay)
