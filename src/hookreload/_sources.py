"""The source files of the proxied modules: which ones to watch and what they look like on disk."""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref

from ._digest import Signature, digest, signature_of
from ._versions import ModuleRecord, all_records

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# File times come from the kernel's coarse clock, a few milliseconds behind
# time.time(): a file written just before we looked may carry an earlier
# time. A generous margin only costs a few extra hashes.
MARGIN_NS = 1_000_000_000

_UNKNOWN: Signature = (-1, -1, -1, -1)


def signature(path: str) -> Signature | None:
    """The stat signature of ``path``; ``None`` when it is missing or unreadable."""
    try:
        return signature_of(os.stat(path))
    except OSError:
        return None


class _Entry:
    """One watched file and the modules loaded from it (usually one)."""

    __slots__ = ("directories", "failed", "gone", "path", "refs", "signature", "since")

    def __init__(self, path: str, real_path: str, since: int) -> None:
        self.path = path
        # A symlinked file changes in its target's directory: watch both.
        self.directories = {os.path.dirname(path), os.path.dirname(real_path)}
        self.refs: list[weakref.ref[ModuleRecord]] = []
        # Changes after this time (ns) may have happened before we first
        # looked at the file: the first stat checks them.
        self.since = since
        self.signature: Signature | None = _UNKNOWN
        self.gone = False
        # The digest and stat signature of the save whose reload failed:
        # reported once, not tried again until the file is saved again.
        self.failed: tuple[str, Signature] | None = None


class Sources:
    """The source files of the proxied modules, by absolute path.

    Refreshed from the registry of proxied modules, so modules imported after
    the watcher started are watched too. Records are held weakly: a module
    that is gone is not kept alive by being watched.

    Args:
        records: where the proxied modules come from (tests pass their own).
    """

    def __init__(self, records: Callable[[], Iterator[ModuleRecord]] = all_records) -> None:
        self._records = records
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        # id(record) -> (the record, weakly; its path; its reload order key)
        self._seen: dict[int, tuple[weakref.ref[ModuleRecord], str, float]] = {}
        # Resolved path -> path: where events name the target of a symlink,
        # or the real path (macOS reports /private/var for /var).
        self._real: dict[str, str] = {}
        self._directories: set[str] = set()
        self._count = 0
        self._last: weakref.ref[ModuleRecord] | None = None
        self.refreshed_ns = 0

    def __repr__(self) -> str:
        return f"<Sources {len(self._entries)} files in {len(self._directories)} directories>"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def resolve(self, path: str) -> str | None:
        """The watched file that ``path`` (from a file event) names, if any."""
        if path in self._entries:
            return path
        return self._real.get(path)

    def refresh(self) -> bool:
        """Take in the modules imported since the last call; True when new directories appeared."""
        records = list(self._records())
        now_ns = time.time_ns()
        with self._lock:
            since = self.refreshed_ns - MARGIN_NS if self.refreshed_ns else 0
            self.refreshed_ns = now_ns
            last = records[-1] if records else None
            # The registry keeps import order and appends new modules, so an
            # unchanged count and last record mean nothing was added or
            # dropped: the common case costs no walk over thousands of modules.
            if len(records) == self._count and (
                last is None or (self._last is not None and self._last() is last)
            ):
                return False
            self._count = len(records)
            self._last = None if last is None else weakref.ref(last)
            return self._take_in(records, since)

    def _take_in(self, records: list[ModuleRecord], since: int) -> bool:
        grown = False
        alive: set[int] = set()
        for record in records:
            key = id(record)
            alive.add(key)
            seen = self._seen.get(key)
            if seen is not None and seen[0]() is record:
                continue
            path = os.path.abspath(record.source_path)
            self._seen[key] = (weakref.ref(record), path, _order_key(record))
            entry = self._entries.get(path)
            if entry is None:
                entry = self._entries[path] = _Entry(path, record.real_path, since)
                self._real.setdefault(record.real_path, path)
                if not entry.directories <= self._directories:
                    self._directories |= entry.directories
                    grown = True
            entry.refs.append(weakref.ref(record))
        for key in [key for key in self._seen if key not in alive]:
            del self._seen[key]
        for path, entry in list(self._entries.items()):
            entry.refs = [ref for ref in entry.refs if ref() is not None]
            if not entry.refs:
                del self._entries[path]
        self._real = {real: path for real, path in self._real.items() if path in self._entries}
        return grown

    def note(self, record: ModuleRecord) -> bool:
        """Whether ``record`` is in a directory not watched yet (cheap: called at imports)."""
        return (
            not {
                os.path.dirname(os.path.abspath(record.source_path)),
                os.path.dirname(record.real_path),
            }
            <= self._directories
        )

    def directories(self) -> tuple[list[str], list[str]]:
        """The directories holding watched files: those that exist, and those that do not."""
        with self._lock:
            self._directories = set()
            for entry in self._entries.values():
                self._directories |= entry.directories
            wanted = sorted(self._directories)
        present = [d for d in wanted if os.path.isdir(d)]
        return present, [d for d in wanted if d not in present]

    def records(self, path: str) -> list[ModuleRecord]:
        """The modules loaded from ``path`` that are still the program's.

        A proxy that is no longer in ``sys.modules`` under its name (removed,
        or replaced by a fresh import) is left alone: ``import`` no longer
        gives it, and a test harness that restored ``sys.modules`` does not
        want the modules of earlier tests reloaded.
        """
        with self._lock:
            entry = self._entries.get(path)
            refs = [] if entry is None else list(entry.refs)
        found = []
        for ref in refs:
            record = ref()
            if record is None:
                continue
            try:
                proxy = record.proxy
            except ReferenceError:  # the module itself is gone
                continue
            if sys.modules.get(record.name) is proxy:
                found.append(record)
        return found

    def order_keys(self, records: list[ModuleRecord]) -> dict[str, float]:
        """Each record's name and the time it first finished loading: the batch order's tie-break."""
        with self._lock:
            keys = {}
            for record in records:
                seen = self._seen.get(id(record))
                known = seen is not None and seen[0]() is record
                keys[record.name] = seen[2] if seen is not None and known else _order_key(record)
        return keys

    def restat(self) -> list[str]:
        """The files whose stat changed since the last call (polling, and scans without a watcher).

        A file seen for the first time counts as changed when its change time
        is recent enough that it may have been edited after its module loaded.
        """
        with self._lock:
            entries = list(self._entries.values())
        changed = []
        for entry in entries:
            sig = signature(entry.path)
            previous, entry.signature = entry.signature, sig
            if previous is _UNKNOWN:
                if sig is None or sig[3] >= entry.since:
                    changed.append(entry.path)
            elif sig != previous:
                changed.append(entry.path)
        return changed

    def touched_since(self, since_ns: int) -> list[str]:
        """The files created, changed or deleted after ``since_ns`` (``time.time_ns()``)."""
        with self._lock:
            paths = list(self._entries)
        touched = []
        for path in paths:
            sig = signature(path)
            if sig is None or sig[3] >= since_ns:
                touched.append(path)
        return touched

    def unsettled(self, path: str) -> bool:
        """Whether ``path`` looks half-saved: missing, or empty where its module was not."""
        sig = signature(path)
        if sig is None:
            return True
        if sig[1] != 0:
            return False
        empty = _empty_hash()
        return any(r.history and r.live.source_hash != empty for r in self.records(path))

    def mark_gone(self, path: str) -> bool:
        """Note that ``path`` is missing; True the first time (to log it once)."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry.gone:
                return False
            entry.gone = True
            return True

    def failed_with(self, path: str) -> tuple[str, Signature] | None:
        """The digest and signature of the save of ``path`` whose reload failed last, if it did."""
        entry = self._entries.get(path)
        return None if entry is None else entry.failed

    def note_outcome(self, path: str, save: tuple[str, Signature], ok: bool) -> None:
        """Remember that reloading the ``save`` of ``path`` failed (or forget it)."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None:
                entry.failed = None if ok else save

    def mark_present(self, path: str) -> bool:
        """Note that ``path`` exists; True when it had been reported gone."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or not entry.gone:
                return False
            entry.gone = False
            return True


def _order_key(record: ModuleRecord) -> float:
    # When version 1 finished loading: a module's imports finished before it.
    first = record.history[0] if record.history else None
    if first is not None and first.number == 1:
        return first.loaded_at
    return time.time()


_empty: str | None = None


def _empty_hash() -> str:
    global _empty
    if _empty is None:
        _empty = digest(b"")
    return _empty
