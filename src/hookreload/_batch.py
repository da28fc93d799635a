"""Reload a batch of modules atomically, then, if asked, the modules that took names from them.

The batch itself is one transaction (``_reload.reload_events``): built in
dependency order, swapped all at once or not at all.

A module that did ``from models import Model`` keeps the ``Model`` of the
version it executed against: reloading ``models`` alone leaves that copy
old. Reloading the importer after it re-executes its ``from`` import, so its
copy is fresh; and since it is a new version too, its own importers follow,
and so on (``install(dependents=True)``, on in the CLI).
"""

from __future__ import annotations

from . import _graph, _log
from ._events import ReloadEvent, expect_cause
from ._reload import reload_event, reload_events
from ._versions import ModuleRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence


def reload_batch(
    records: Sequence[ModuleRecord], *, dependents: bool, contain: bool = False
) -> list[ReloadEvent]:
    """Reload ``records`` as one batch; with ``dependents``, then their importers.

    The batch is all or nothing: its modules build in dependency order, each
    seeing the new versions of those before it, and swap together, or, if
    one fails, none does. Dependents then reload one by one, as they would
    after ``reload()`` of a single module: a dependent that fails is
    reported and leaves the batch live.

    Never raises for a module's reload error: the transaction already logged
    it and sent it to the ``on_reload`` callbacks; it is in the result too.

    Args:
        records: the modules to reload; their order breaks ties (see ``_graph.order``).
        dependents: also reload the modules that took names from those that
            reloaded, transitively, each once, after them.
        contain: also catch ``BaseException`` (a module raising
            ``KeyboardInterrupt`` while executing): in the watcher thread
            nothing may escape.
    """
    try:
        events = reload_events(records)
    except BaseException as exc:
        if not contain:
            raise
        _log.logger().error(
            "reloading %s raised %s; keeping the live versions",
            ", ".join(repr(r.name) for r in records),
            type(exc).__name__,
        )
        return []
    fresh = [
        record for record, event in zip(_named(records, events), events, strict=True) if event.ok
    ]
    if dependents and fresh:
        events += reload_dependents(fresh, skip={r.name for r in records}, contain=contain)
    return events


def _named(records: Sequence[ModuleRecord], events: list[ReloadEvent]) -> list[ModuleRecord]:
    """The record of each event (the events are in build order, not in that of ``records``)."""
    by_name = {record.name: record for record in records}
    return [by_name[event.name] for event in events]


def reload_dependents(
    reloaded: Sequence[ModuleRecord], *, skip: Collection[str] = (), contain: bool = False
) -> list[ReloadEvent]:
    """Reload the modules that took names from ``reloaded``, transitively, in dependency order.

    A module is reloaded once, and only if a module it took names from has a
    new version by then: when that one failed, its importers still hold the
    names of the version that stays live. Each event's ``cause`` names the
    first module, in reload order, that the importer took names from.

    Args:
        reloaded: modules just reloaded successfully.
        skip: names of modules not to reload (the rest of the batch).
        contain: as for :func:`reload_batch`.
    """
    fresh = {record.name: record for record in reloaded}
    events: list[ReloadEvent] = []
    for record in _graph.dependents(reloaded):
        if record.name in skip:
            continue
        taken = _graph.dependencies(record)
        # The first source in reload order: fresh keeps insertion order.
        cause = next((name for name in fresh if taken.get(name)), None)
        if cause is None:
            continue  # what it took from is unchanged: the reloads it depends on failed
        _log.debug("reloading %s: it took names from %s", record.name, cause)
        event = _reload(record, cause, contain)
        if event is not None:
            events.append(event)
            if event.ok:
                fresh[record.name] = record
    return events


def _reload(record: ModuleRecord, cause: str | None, contain: bool) -> ReloadEvent | None:
    expect_cause(record.name, cause)
    try:
        return reload_event(record)
    except ReferenceError:
        return None  # the module itself is gone meanwhile
    except BaseException as exc:
        if not contain:
            raise
        _log.logger().error(
            "reloading %r raised %s; keeping version %d",
            record.name,
            type(exc).__name__,
            record.live.number,
        )
        return None
    finally:
        expect_cause(record.name, None)
