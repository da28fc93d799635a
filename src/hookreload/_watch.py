"""The watcher: reloads proxied modules whose source changed, in a thread, at safe points or on a loop.

Pipeline: a backend (OS events or polling, ``_watch_backend``) reports paths
that may have changed; a :class:`~hookreload._changes.Debouncer` waits for
multi-step saves to finish; a content hash decides which modules really
changed; they reload as one batch, in dependency order (``_batch``), then,
with ``install(dependents=True)``, the modules that took names from them.
Where the reload runs is the ``reload_in`` setting: the watcher thread, the
program's own calls to ``reload_changed()``, or an asyncio event loop.
"""

from __future__ import annotations

import math
import os
import threading
import time

from . import _hook, _log
from ._batch import reload_batch
from ._changes import Debouncer
from ._digest import Signature, digest, read_file
from ._events import ReloadEvent
from ._reload import Blocked
from ._sources import Sources
from ._versions import ModuleRecord
from ._watch_backend import BackendUnavailable, EventsBackend, PollingBackend, Signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable
    from typing import Literal

    from ._watch_backend import Backend

    ReloadIn = Literal["thread", "safe-points"] | asyncio.AbstractEventLoop

POLL_ENV = "HOOKRELOAD_POLL"
DEFAULT_POLL_INTERVAL = 0.5
# Quiet time before a batch is read: editors finish a save well within it, and
# it is most of the edit-to-reload latency (benchmarks/run.py --only watch).
DEFAULT_DEBOUNCE = 0.005
# How long a file may stay missing or emptied before that is taken as meant.
DEFAULT_HOLD = 0.5
THREAD_NAME = "hookreload-watcher"
_RELOAD_IN = ("thread", "safe-points")


class Settings:
    """How a watcher runs.

    Args:
        poll: seconds between polls, or ``None`` to use OS file events.
        reload_in: ``"thread"`` (the watcher thread reloads), ``"safe-points"``
            (only ``reload_changed()`` reloads) or an asyncio event loop (the
            reloads run on it).
        debounce: quiet time in seconds before a batch of changes is read.
        hold: longest time a missing or emptied file is waited on.
    """

    __slots__ = ("debounce", "hold", "poll", "reload_in")

    def __init__(
        self,
        poll: float | None = None,
        reload_in: ReloadIn = "thread",
        debounce: float = DEFAULT_DEBOUNCE,
        hold: float = DEFAULT_HOLD,
    ) -> None:
        check_reload_in(reload_in)
        self.poll = poll
        self.reload_in = reload_in
        self.debounce = debounce
        self.hold = hold

    def __repr__(self) -> str:
        how = "events" if self.poll is None else f"polling every {self.poll:g} s"
        return f"<Settings {how}, reload_in={self.reload_in!r}>"

    def backend(self) -> Backend:
        if self.poll is None:
            return EventsBackend(step=self.debounce)
        return PollingBackend(self.poll)


def check_reload_in(value: object) -> None:
    """Raise unless ``value`` is ``"thread"``, ``"safe-points"`` or an event loop."""
    if isinstance(value, str):
        if value not in _RELOAD_IN:
            raise ValueError(
                f"reload_in must be 'thread', 'safe-points' or an asyncio event loop, not {value!r}"
            )
    elif not callable(getattr(value, "call_soon_threadsafe", None)):
        raise TypeError(
            f"reload_in must be 'thread', 'safe-points' or an asyncio event loop, "
            f"not {type(value).__name__}"
        )


def poll_interval(poll: bool | float | None) -> float | None:
    """The polling interval ``install(poll=...)`` asks for; ``None`` for OS events.

    ``None`` defers to the ``HOOKRELOAD_POLL`` environment variable: unset,
    ``0``, ``false``, ``no`` or ``off`` for events; ``1``, ``true``, ``yes`` or
    ``on`` to poll every 0.5 s; any other number for that interval in seconds.
    """
    if poll is None:
        return _poll_from_env()
    if poll is True:
        return DEFAULT_POLL_INTERVAL
    if poll is False:
        return None
    if isinstance(poll, (int, float)) and math.isfinite(poll) and poll > 0:
        return float(poll)
    raise ValueError(f"poll must be True, False, None or a number of seconds above 0, not {poll!r}")


def _poll_from_env() -> float | None:
    raw = os.environ.get(POLL_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return None
    if raw in ("1", "true", "yes", "on"):
        return DEFAULT_POLL_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value == 0:
        return None
    if math.isfinite(value) and value > 0:
        return value
    # A typo in the environment must not stop the program: say so and use events.
    _log.logger().warning(
        "ignoring %s=%r: use 1 to poll every %g s, a number of seconds, or 0 for file events",
        POLL_ENV,
        raw,
        DEFAULT_POLL_INTERVAL,
    )
    return None


class Watcher:
    """Watches the source files of the proxied modules and reloads those that changed.

    Made and started by ``install(watch=True)``; ``stop()`` ends its thread.

    Args:
        settings: how it runs.
        backend: where it hears of changes (tests pass a fake); by default
            the one ``settings`` asks for.
        sources: the watched files (tests pass their own).
    """

    def __init__(
        self,
        settings: Settings,
        backend: Backend | None = None,
        sources: Sources | None = None,
    ) -> None:
        self.settings = settings
        self.backend = settings.backend() if backend is None else backend
        self.sources = Sources() if sources is None else sources
        self.debouncer = Debouncer(settings.debounce, settings.hold)
        self._signal = Signal()
        self._thread: threading.Thread | None = None
        # Paths ready to reload, for reload_changed() (safe points, loop).
        self._pending: dict[str, None] = {}
        # Paths whose reload was deferred by open holds: tried again at the
        # backend's next report (an event, a poll or a tick), never forced.
        self._deferred: dict[str, None] = {}
        # Paths of modules whose batch failed because of another module's
        # error: tried again with the next change (the fix of that module).
        self._blocked: dict[str, None] = {}
        self._lock = threading.Lock()
        self._scheduled = False
        self._loop_closed_logged = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<hookreload Watcher {state} {self.backend!r} reload_in={self.settings.reload_in!r}>"
        )

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def pending(self) -> list[str]:
        """The changed files waiting for ``reload_changed()`` (safe points, loop)."""
        with self._lock:
            return list(self._pending)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a watcher starts once; make a new one")
        # What the thread would otherwise import while the program imports too:
        # importlib.invalidate_caches() in one thread fails ("dictionary changed
        # size during iteration") while another adds to sys.path_importer_cache.
        _log.logger()
        digest(b"")
        # The first reload's import, for the same reason; and a fork made by
        # another thread must never find it half-imported by the watcher.
        import importlib.util  # noqa: F401

        prepare = getattr(self.backend, "prepare", None)
        if prepare is not None:
            try:
                prepare()
            except BackendUnavailable as exc:
                self._fall_back(exc)
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and wait for the thread to end; safe to call twice."""
        global _current
        self._signal.stop()
        with _current_lock:
            if _current is self:
                _current = None
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            # Called from a reload the watcher runs (a module or a callback
            # uninstalling): the thread ends when that reload returns.
            return
        thread.join(timeout)
        if thread.is_alive():  # pragma: no cover - a module's code hangs while reloading
            _log.logger().warning(
                "the watcher thread did not stop within %g s: a reload is still "
                "running; it stops when that returns",
                timeout,
            )

    def notice(self, record: ModuleRecord) -> None:
        """A module was just imported: watch its directory now rather than at the next tick."""
        if self.sources.note(record):
            self._signal.request_restart()

    def _run(self) -> None:
        backoff = 1.0
        while not self._signal.stopped:
            try:
                self._serve()
                backoff = 1.0
                # A backend only ends when asked to stop; if one ends early, do not spin.
                self._signal.wait(0.05)
            except BackendUnavailable as exc:
                self._fall_back(exc)
            except BaseException:
                # Never let the watcher die silently, nor spin on a lasting fault.
                _log.logger().exception("the watcher failed; starting it again in %g s", backoff)
                self._signal.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        _log.debug("hookreload watcher stopped")

    def _fall_back(self, reason: BackendUnavailable) -> None:
        interval = self.settings.poll or DEFAULT_POLL_INTERVAL
        _log.logger().warning(
            "file events are not available (%s); polling every %g s instead",
            reason,
            interval,
        )
        self.backend = PollingBackend(interval)

    def _serve(self) -> None:
        sources = self.sources
        for batch in self.backend.batches(sources, self._signal, self.debouncer.quiet_until):
            if self._signal.stopped:
                return
            paths = [sources.resolve(path) for path in batch.paths]
            self.debouncer.add([path for path in paths if path is not None], batch.at)
            ready = self.debouncer.take(time.monotonic(), sources.unsettled)
            ready += self._retry(ready)
            if ready:
                self._deliver(ready)

    def _retry(self, ready: list[str]) -> list[str]:
        """The paths to try again with ``ready``: those deferred, and, if ``ready`` has
        any, those blocked; taken out."""
        if not self._deferred and not (ready and self._blocked):  # the common case: no lock
            return []
        with self._lock:
            again, self._deferred = self._deferred, {}
            if ready:
                again.update(self._blocked)
                self._blocked = {}
        return [path for path in again if path not in ready]

    def _defer(self, later: Later) -> None:
        with self._lock:
            self._deferred.update(dict.fromkeys(later.deferred))
            self._blocked.update(dict.fromkeys(later.blocked))

    def _deliver(self, paths: list[str]) -> None:
        reload_in = self.settings.reload_in
        if reload_in == "thread":
            later = Later()
            reload_paths(self.sources, paths, contain=True, later=later)
            self._defer(later)
            return
        # Collect only what really changed, so that `pending` means something
        # and an event loop is not woken for a touch; reload_changed() checks
        # again, as the file may change once more before it runs.
        paths = [path for path in paths if _differs(self.sources, path)]
        if not paths:
            return
        with self._lock:
            self._pending.update(dict.fromkeys(paths))
        if reload_in != "safe-points":
            self._schedule(reload_in)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._reload_on_loop)
        except RuntimeError as exc:
            # The loop is closed: keep the changes for reload_changed().
            self._scheduled = False
            if not self._loop_closed_logged:
                self._loop_closed_logged = True
                _log.logger().warning(
                    "cannot reload on the event loop (%s); changes wait for "
                    "hookreload.reload_changed()",
                    exc,
                )

    def _reload_on_loop(self) -> None:
        self._scheduled = False
        if not self._signal.stopped:
            self.reload_pending()

    def reload_pending(self) -> list[ReloadEvent]:
        """Reload, in this thread, what the watcher collected; see ``reload_changed()``."""
        if not self._pending:  # the common case costs no lock
            return []
        with self._lock:
            paths = list(self._pending)
            self._pending.clear()
        later = Later()
        events = reload_paths(self.sources, paths, later=later)
        self._defer(later)
        return events


_current: Watcher | None = None
_current_lock = threading.Lock()


def start(settings: Settings) -> Watcher:
    """Make the watcher for ``settings``, start its thread and make it the current one."""
    global _current
    watcher = Watcher(settings)
    with _current_lock:
        previous, _current = _current, watcher
    if previous is not None:
        previous.stop()
    watcher.start()
    return watcher


def current() -> Watcher | None:
    return _current


def restart_after_fork(parent: Watcher) -> Watcher:
    """In a forked child: a watcher like the parent's, whose thread did not survive the fork."""
    forget_after_fork()
    return start(parent.settings)


def forget_after_fork() -> None:
    """In a forked child: no current watcher (the parent's thread did not survive the fork)."""
    global _current, _current_lock
    # Another thread of the parent may have held it; the parent's watcher's
    # files and threads are left alone, as the parent still uses them.
    _current_lock = threading.Lock()
    _current = None


def notice(record: ModuleRecord) -> None:
    """Tell the current watcher that ``record``'s module was just imported (for the loader)."""
    watcher = _current
    if watcher is not None:
        watcher.notice(record)


def _differs(sources: Sources, path: str) -> bool:
    """Whether a module of ``path`` would reload: its content differs, or it cannot be read."""
    try:
        source_hash = digest(read_file(path)[0])
    except OSError:
        return True
    return any(r.history and r.live.source_hash != source_hash for r in sources.records(path))


def changed_records(
    sources: Sources, paths: Iterable[str], saves: dict[str, tuple[str, Signature]] | None = None
) -> list[ModuleRecord]:
    """The modules loaded from ``paths`` whose file's content differs from their live version.

    A file that cannot be read counts once (its reload attempt reports why,
    in the log and to ``on_reload`` callbacks), then not again until it can
    be read; so does a save whose reload failed, until the file is saved
    again (a late second event for one save must not report its error
    twice). A file emptied under a module with code does not count: it is
    logged once, as the module stays live. ``saves`` gets the digest and stat signature read for each path
    that counts.
    """
    changed: list[ModuleRecord] = []
    for path in paths:
        records = sources.records(path)
        if not records:
            continue
        try:
            data, signature = read_file(path)
        except OSError:
            if sources.mark_gone(path):
                changed.extend(r for r in records if r.history)
            continue
        if sources.mark_present(path):
            _log.logger().info("%s is back", path)
        save = (digest(data), signature)
        if save == sources.failed_with(path):
            continue
        found = [r for r in records if r.history and r.live.source_hash != save[0]]
        if found and not data:
            _keep_emptied(sources, path, save, found)
            continue
        if found and saves is not None:
            saves[path] = save
        changed += found
    return changed


def _keep_emptied(
    sources: Sources, path: str, save: tuple[str, Signature], records: list[ModuleRecord]
) -> None:
    """Leave the modules of a file that stayed empty on their live versions, and say so once.

    An empty file is valid Python, but a module with code saved as nothing is
    an accident (an editor's truncation, a failed copy) far more often than
    meant; the program keeps its working code, and ``reload()`` by hand loads
    the empty module if that is what was meant.
    """
    names = ", ".join(record.name for record in records)
    _log.logger().warning(
        "%s is empty: %s kept on the live version; save it with its code to reload it, "
        "or call hookreload.reload(%r) if the module is meant to be empty",
        path,
        names,
        records[0].name,
    )
    sources.note_outcome(path, save, False)  # not again until the file is saved again


def reload_paths(
    sources: Sources,
    paths: Iterable[str],
    *,
    dependents: bool | None = None,
    contain: bool = False,
    later: Later | None = None,
) -> list[ReloadEvent]:
    """Reload the modules of ``paths`` whose content changed, as one batch, in dependency order.

    Never raises for a module's reload error: ``reload_event`` already logged
    it and sent it to the ``on_reload`` callbacks; it is in the result too.

    Args:
        dependents: then reload the modules that took names from them
            (``None``: as the active hook says).
        contain: also catch ``BaseException`` (a module raising
            ``KeyboardInterrupt`` while executing): in the watcher thread
            nothing may escape.
        later: gets the paths of the changed modules to try again: those
            whose swap open holds deferred, and those whose batch stopped
            at another module's error.
    """
    saves: dict[str, tuple[str, Signature]] = {}
    changed = changed_records(sources, paths, saves)
    if not changed:
        return []
    keys = sources.order_keys(changed)
    # Load order breaks the ties of the dependency order: a module finished
    # loading after the ones it imported, and cycles reload as they imported.
    changed.sort(key=lambda record: (keys[record.name], record.name))
    if dependents is None:
        dependents = _hook.dependents()
    events = reload_batch(changed, dependents=dependents, contain=contain)
    if later is not None:
        later.note(changed, events)
    _remember_failures(sources, changed, events, saves)
    return events


def _remember_failures(
    sources: Sources,
    changed: Iterable[ModuleRecord],
    events: Iterable[ReloadEvent],
    saves: dict[str, tuple[str, Signature]],
) -> None:
    """Note which contents failed on their own (not deferred, not stopped by another module)."""
    outcome = {
        event.name: event.ok
        for event in events
        if event.ok or not (event.deferred or isinstance(event.error, Blocked))
    }
    for record in changed:
        ok = outcome.get(record.name)
        save = saves.get(record.source_path)
        if ok is not None and save is not None:
            sources.note_outcome(record.source_path, save, ok)


class Later:
    """The paths of one batch to try again: ``deferred`` ones at the next pass,
    ``blocked`` ones with the next change."""

    __slots__ = ("blocked", "deferred")

    def __init__(self) -> None:
        self.deferred: set[str] = set()
        self.blocked: set[str] = set()

    def note(self, changed: Iterable[ModuleRecord], events: Iterable[ReloadEvent]) -> None:
        deferred = {event.name for event in events if event.deferred}
        blocked = {event.name for event in events if isinstance(event.error, Blocked)}
        for record in changed:
            if record.name in deferred:
                self.deferred.add(record.source_path)
            elif record.name in blocked:
                self.blocked.add(record.source_path)


class _Scan:
    """What ``reload_changed()`` remembers between calls when no watcher runs."""

    def __init__(self) -> None:
        self.sources = Sources()
        # quiet=0: the caller chose the moment; only half-saved files wait.
        self.debouncer = Debouncer(0.0, DEFAULT_HOLD)
        self.lock = threading.Lock()
        # Paths to try again (see Later): their stat does not change again.
        self.later = Later()

    def changed_paths(self) -> list[str]:
        with self.lock:
            self.sources.refresh()
            now = time.monotonic()
            self.debouncer.add(self.sources.restat(), now)
            ready = self.debouncer.take(now, self.sources.unsettled)
            again = self.later.deferred | (self.later.blocked if ready else set())
            self.later.deferred = set()
            if ready:
                self.later.blocked = set()
            return ready + sorted(again.difference(ready))

    def reload(self) -> list[ReloadEvent]:
        later = Later()
        events = reload_paths(self.sources, self.changed_paths(), later=later)
        with self.lock:
            self.later.deferred |= later.deferred
            self.later.blocked |= later.blocked
        return events


_scan: _Scan | None = None


def reload_changed() -> list[ReloadEvent]:
    """See :func:`hookreload.reload_changed`."""
    global _scan
    watcher = _current
    if watcher is not None:
        return watcher.reload_pending()
    if _scan is None:
        _scan = _Scan()
    return _scan.reload()
