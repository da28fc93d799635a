"""Debounce and order changes: pure logic, fed with paths and times, no clock, no files.

The watcher's backends say *which* files may have changed and *when*; this
module decides *when a batch is complete* and *in which order* its modules
reload. Keeping it free of threads and of the file system lets tests drive
every editor save pattern deterministically (watchfiles tests its batching
the same way, through a fake backend).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


class Debouncer:
    """Groups changed paths into batches.

    A batch is released once no change arrived for ``quiet`` seconds: editors
    that save in several steps finish within it, and files saved together come
    out together. A path whose file is *unsettled* (missing, or emptied) is
    held back up to ``hold`` seconds after its first change, waiting for the
    rest of the save (delete then create, truncate then write), so a
    half-written file is not reloaded when the complete one follows.

    Args:
        quiet: seconds without a new change before a batch is released.
        hold: longest time an unsettled path is held back; after that its
            state is taken as final (the file was really deleted or emptied).

    Example:
        >>> d = Debouncer(quiet=0.01, hold=0.5)
        >>> d.add(["a.py", "b.py"], at=1.0)
        >>> d.take(1.005, unsettled=lambda path: False)
        []
        >>> d.take(1.02, unsettled=lambda path: path == "b.py")
        ['a.py']
        >>> d.take(1.6, unsettled=lambda path: path == "b.py")
        ['b.py']
    """

    def __init__(self, quiet: float, hold: float) -> None:
        if not (quiet >= 0 and hold >= 0):
            raise ValueError(f"debounce times must be 0 or more: quiet={quiet!r}, hold={hold!r}")
        self.quiet = quiet
        self.hold = hold
        # path -> time of its first change in this batch; dicts keep arrival order.
        self._first: dict[str, float] = {}
        self._latest = float("-inf")

    def __repr__(self) -> str:
        return (
            f"<Debouncer quiet={self.quiet * 1000:g} ms hold={self.hold * 1000:g} ms "
            f"pending={len(self._first)}>"
        )

    def __len__(self) -> int:
        return len(self._first)

    @property
    def pending(self) -> list[str]:
        """The paths not released yet, in the order their first change arrived."""
        return list(self._first)

    def add(self, paths: Iterable[str], at: float) -> None:
        """Record that ``paths`` changed at time ``at`` (seconds, any monotonic clock)."""
        for path in paths:
            self._first.setdefault(path, at)
            self._latest = max(self._latest, at)

    def take(self, now: float, unsettled: Callable[[str], bool]) -> list[str]:
        """The paths ready at ``now``, removed from the pending ones.

        Args:
            now: the current time, on the clock ``add`` was given.
            unsettled: tells whether a path's file is in a half-saved state
                right now; only asked once the batch is quiet.
        """
        if not self._first or now < self._latest + self.quiet:
            return []
        ready = [
            path
            for path, first in self._first.items()
            if now >= first + self.hold or not unsettled(path)
        ]
        for path in ready:
            del self._first[path]
        return ready

    def quiet_until(self) -> float | None:
        """When the pending batch becomes quiet; ``None`` with nothing pending.

        Held paths are looked at again whenever the backend next reports (an
        event, a poll, or its periodic tick), not on a timer of their own.
        """
        return self._latest + self.quiet if self._first else None


def reload_order(keys: Mapping[str, float]) -> list[str]:
    """Module names in the order a batch reloads them.

    A package comes before its submodules (its ``__init__`` may rebind what
    they read from it); otherwise modules keep the order of ``keys``, the time
    each first finished loading, so a module comes after the ones it imported
    at its own import. (Dependency order from the import graph comes later.)

    Example:
        >>> reload_order({"app.views": 2.0, "app": 3.0, "app.models": 1.0, "lib": 0.5})
        ['lib', 'app', 'app.models', 'app.views']
    """
    ordered: list[str] = []
    placed: set[str] = set()
    for name in sorted(keys, key=lambda name: (keys[name], name)):
        parts = name.split(".")
        # Ancestors in the batch first, outermost first, then the module.
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in keys and prefix not in placed:
                placed.add(prefix)
                ordered.append(prefix)
    return ordered
