"""Debounce and order changes: pure logic, fed with paths and times, no clock, no files.

The watcher's backends say *which* files may have changed and *when*; this
module decides *when a batch is complete* and *in which order* its modules
reload (given the import graph, which ``_graph`` reads). Keeping it free of
threads and of the file system lets tests drive every editor save pattern
deterministically (watchfiles tests its batching the same way, through a
fake backend).
"""

from __future__ import annotations

import heapq

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence


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


def dependency_order(names: Sequence[str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """``names`` reordered so that each comes after the ones it depends on; stable.

    The result is the topological order that keeps closest to ``names``: of
    the names whose dependencies are all placed, the earliest in ``names``
    goes next. The names of a cycle (modules that import each other) go
    together, in their order in ``names``, once everything any of them
    depends on is placed. Dependencies not in ``names`` are ignored.

    Args:
        names: the names, in the order to keep where dependencies allow.
        depends_on: for each name, the names it depends on.

    Example:
        >>> dependency_order(["app", "views", "models", "lib"], {"views": ["models", "app"]})
        ['app', 'models', 'views', 'lib']
        >>> dependency_order(["a", "b", "c"], {"a": ["b"], "b": ["a", "c"]})
        ['c', 'a', 'b']
    """
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise ValueError(f"names must be distinct: {list(names)!r}")
    edges = [
        sorted({index[d] for d in depends_on.get(name, ()) if d in index and d != name})
        for name in names
    ]
    component = _components(edges)
    count = max(component, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(count)]
    for node, c in enumerate(component):
        members[c].append(node)  # in the order of names
    waiting = [0] * count
    dependents: list[set[int]] = [set() for _ in range(count)]
    for node, targets in enumerate(edges):
        for target in targets:
            c, d = component[node], component[target]
            if c != d and c not in dependents[d]:
                dependents[d].add(c)
                waiting[c] += 1
    ready = [(members[c][0], c) for c in range(count) if not waiting[c]]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, c = heapq.heappop(ready)
        ordered.extend(names[node] for node in members[c])
        for d in dependents[c]:
            waiting[d] -= 1
            if not waiting[d]:
                heapq.heappush(ready, (members[d][0], d))
    return ordered


def _components(edges: list[list[int]]) -> list[int]:
    """The strongly connected component of each node (Tarjan's algorithm, without recursion)."""
    n = len(edges)
    number = [-1] * n
    low = [0] * n
    component = [-1] * n
    on_stack = [False] * n
    stack: list[int] = []
    counter = found = 0
    for root in range(n):
        if number[root] >= 0:
            continue
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, iter(edges[root]))]
        while work:
            node, targets = work[-1]
            for target in targets:
                if number[target] < 0:
                    number[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack[target] = True
                    work.append((target, iter(edges[target])))
                    break
                if on_stack[target]:
                    low[node] = min(low[node], number[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == number[node]:
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component[member] = found
                        if member == node:
                            break
                    found += 1
    return component
