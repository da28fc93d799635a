"""Reloads and rollbacks as transactions: a batch is swapped all at once, or not at all.

A reload of one module or of a batch goes through the same steps, each of
which may stop it with nothing changed:

1. lock every module of the batch (in name order, so two batches never
   deadlock) and check that none is reloading already;
2. build the new versions in dependency order (``_build``), each seeing the
   new versions built before it, in this thread or, with a reload time-out,
   in a worker waited on (``_timeout``);
3. ask the validation gate (``_validate``);
4. wait for open holds to end (``_hold``), then swap every proxy, patching
   the old objects first in patch mode, without letting another thread run
   in between (``_patch.atomically``);
5. once the locks are released: run the replaced versions' ``__unload__``
   (``_unload``), log, and send one event per module to the callbacks.

A rollback swaps back every module of the batch that made the live version
and is still on it.
"""

from __future__ import annotations

import contextlib
import time

from . import _log, _patch, _timeout, _unload, _validate
from ._build import Built, Staging, carry_submodules, fail, line_in
from ._errors import ReloadError
from ._events import ReloadEvent, emit
from ._live import follow
from ._patch_refs import Relinker
from ._proxy import Switch
from ._versions import ModuleRecord, Version, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from typing import Any

    from ._validate import Validator


class Outcome:
    """What a successful reload or rollback made live for one module, and what its patch did."""

    __slots__ = ("report", "unload", "version")

    def __init__(
        self,
        version: Version,
        report: _patch.Report | None,
        unload: tuple[int, Callable[[], object]] | None = None,
    ) -> None:
        self.version = version
        self.report = report
        # The replaced version's number and __unload__, to call after the locks.
        self.unload = unload


def _swapping(names: tuple[str, ...]) -> AbstractContextManager[object]:
    """The hold gate: waits until no ``hookreload.hold()`` is open; ``HoldTimeout`` if too long.

    THE single place where every swap (reload, batch, rollback) waits for holds.
    """
    from . import _hold  # here: _hold is only needed once something swaps

    return _hold.swapping(names)


def _check_may_swap(names: tuple[str, ...]) -> None:
    from . import _hold

    _hold.check_may_swap(names)


def _deferred(error: BaseException) -> bool:
    from . import _hold

    return isinstance(error, _hold.HoldTimeout)


def _patching() -> bool:
    from ._hook import patching  # here: _hook imports this module through the loader

    return patching()


def _settings() -> tuple[Validator | None, float | None]:
    """The active hook's ``validate`` and ``reload_timeout``."""
    from . import _hook

    hook = _hook.active()
    if hook is None:
        return None, None
    return hook.validate, hook.reload_timeout


# -- the transaction ---------------------------------------------------------------


class _Locked:
    """Holds the locks of a batch's modules and marks them as reloading."""

    def __init__(self, records: Sequence[ModuleRecord], action: str) -> None:
        self.records = records
        self.action = action
        self.held: list[ModuleRecord] = []

    def __enter__(self) -> None:
        try:
            for record in sorted(self.records, key=lambda r: r.name):
                record.lock.acquire()
                self.held.append(record)
                self._check(record)
        except BaseException:
            self._release()
            raise
        for record in self.records:
            record.reloading = True

    def _check(self, record: ModuleRecord) -> None:
        if record.reloading:
            raise ReloadError(
                f"cannot {self.action} {record.name!r} from inside its own reload "
                "(for example from __reload__); do it after reload() returns",
                module=record.name,
                filename=record.source_path,
            )
        if not record.history:
            raise ReloadError(
                f"cannot {self.action} {record.name!r}: it is still being imported",
                module=record.name,
                filename=record.source_path,
            )

    def __exit__(self, *exc: object) -> None:
        for record in self.records:
            record.reloading = False
        self._release()

    def _release(self) -> None:
        while self.held:
            self.held.pop().lock.release()


def _transact(
    action: str,
    records: Sequence[ModuleRecord],
    work: Callable[[float], list[Outcome]],
) -> list[ReloadEvent]:
    """Run ``work`` with ``records`` locked; report it, one event per module, in order.

    A failure is in the events' ``error``, never raised (``BaseException``
    other than ``Exception`` goes on, with nothing changed).
    """
    start = time.perf_counter()
    names = tuple(record.name for record in records)
    try:
        # A reload from inside a hold would wait for itself at the swap: refused
        # now, before it builds for nothing and holds module locks that another
        # thread inside a hold may be waiting for.
        _check_may_swap(names)
        with _Locked(records, action):
            outcomes = work(start)
    except ReloadError as error:
        events = _failed(action, records, names, error, time.perf_counter() - start)
    else:
        duration = time.perf_counter() - start
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome.unload is not None:
                _unload.run(record.name, *outcome.unload)
        events = [
            _succeeded(action, record, outcome, names, duration)
            for record, outcome in zip(records, outcomes, strict=True)
        ]
    for event in events:
        emit(event)
    return events


def _failed(
    action: str,
    records: Sequence[ModuleRecord],
    names: tuple[str, ...],
    error: ReloadError,
    duration: float,
) -> list[ReloadEvent]:
    deferred = _deferred(error)
    if deferred:
        _log.logger().warning("%s", error)  # the message says it is deferred
    else:
        _log.logger().error("%s", error)
    events = []
    for record in records:
        own = (
            error
            if error.module == record.name or len(records) == 1
            else _blocked(action, record, error)
        )
        event = ReloadEvent(record.name, None, own, duration, action)
        event.batch = names
        event.deferred = deferred
        events.append(event)
    return events


class Blocked(ReloadError):
    """The error of a module whose batch stopped at another module (``__cause__``: that one's)."""


def _blocked(action: str, record: ModuleRecord, error: ReloadError) -> ReloadError:
    """The error of a module of a batch that stopped because of another module."""
    verb = "roll back" if action == "rollback" else action
    blocked = Blocked(
        f"cannot {verb} {record.name!r} ({record.source_path}): its batch stopped at "
        f"{error.module!r}; keeping version {record.live.number}",
        module=record.name,
        filename=record.source_path,
    )
    blocked.__cause__ = error
    return blocked


def _succeeded(
    action: str,
    record: ModuleRecord,
    outcome: Outcome,
    names: tuple[str, ...],
    duration: float,
) -> ReloadEvent:
    version, report = outcome.version, outcome.report
    event = ReloadEvent(record.name, version, None, duration, action)
    event.batch = names
    summary = ""
    if report is not None:
        event.patched = report.patched
        event.added = report.added
        event.removed = report.removed
        event.replaced = dict(report.replaced)
        summary = f" ({report.summary()})" if report.summary() else ""
    together = f" with {len(names) - 1} more" if len(names) > 1 else ""
    _log.logger().info(
        "%s %s v%d in %.1f ms%s%s",
        "reloaded" if action == "reload" else "rolled back",
        record.name,
        version.number,
        duration * 1000,
        together,
        summary,
    )
    for name, reason in event.replaced.items():
        _log.logger().warning(
            "%s: replaced %s instead of patching it: %s; references taken before the "
            "reload keep the old one",
            record.name,
            name,
            reason,
        )
    return event


# -- reload ------------------------------------------------------------------------


def _reload_work(records: Sequence[ModuleRecord], start: float) -> list[Outcome]:
    validate, timeout = _settings()
    patching = _patching()
    for record in records:
        # Made now, under the locks this thread holds: a worker building the
        # batch (reload_timeout) would wait for them (see live_module).
        record.live_module()
    staging = Staging(records, patching)
    try:
        built = _timeout.build(staging, timeout)
    finally:
        # Also on success: the windows show the new versions to the building
        # thread only; the swap opens its own, once every check passed.
        staging.close()
    _validate.run(validate, built)
    names = tuple(record.name for record in records)
    with _swapping(names):
        outcomes = _swap(built, patching, names)
        # Still inside the gate: a hold never sees a live reference behind its module.
        for record in records:
            follow(record)
    return outcomes


def _swap(built: list[Built], patching: bool, names: tuple[str, ...]) -> list[Outcome]:
    """Make every version of ``built`` live at once (patching first, in patch mode)."""
    unloads = [_unload.hook_of(b.old) for b in built]
    patches: list[_patch.Patch | None] = []
    current = built[0].record
    try:
        # Patching many objects takes long enough for a thread switch; a
        # batch of pointer swaps does not (threads that must never see two
        # versions use hold(), which the swap waits for).
        with _patch.atomically() if patching else contextlib.nullcontext():
            switches = [Switch(b.record.proxy, b.old, None) for b in built]
            committed = 0
            try:
                if patching:
                    fronts = [dict(b.module.__dict__) for b in built]
                    for b in built:
                        current = b.record
                        patches.append(
                            _patch.apply(b.record.name, b.old.__dict__, b.module.__dict__)
                        )
                    if len(built) > 1:
                        _relink(built, fronts)
                    del fronts
                for b, switch in zip(built, switches, strict=True):
                    current = b.record
                    switch.commit(b.module)
                    committed += 1
            except BaseException:
                _undo(built, switches, committed, patches)
                raise
    except Exception as exc:
        stage = "while patching" if patching else "while switching"
        raise fail(current, f"{type(exc).__name__} {stage}: {exc}", line_in(current, exc)) from exc
    for i, b in enumerate(built if patching else ()):
        applied = patches[i]
        assert applied is not None
        _patch.release(applied, b.module.__dict__)
        del applied
    outcomes = []
    for i, b in enumerate(built):
        record = b.record
        version = Version(
            record.name, record.next_number(), b.module, b.source_hash, b.code, b.duration_s
        )
        version.batch = names
        patch = patches[i] if patching else None
        _patch.remember(record, version, patch)
        report = None if patch is None else patch.report
        hook = unloads[i]
        unload = None if hook is None else (record.live.number, hook)
        outcomes.append(Outcome(version, report, unload))
        # The push may release the old version: it is freed at once only if
        # nothing holds it, this frame included (and a patch not kept for a
        # rollback holds code that pins the namespace, see _proxy._pin).
        b.drop()
        if patching:
            patches[i] = None
        del patch
        record.push(version)
    return outcomes


def _undo(
    built: list[Built],
    switches: list[Switch],
    committed: int,
    patches: list[_patch.Patch | None],
) -> None:
    """Put back what a half-done swap changed: its commits, then its patches."""
    for i, (b, switch) in enumerate(zip(built, switches, strict=True)):
        if i < committed:  # pragma: no cover - a commit only stores pointers
            Switch(b.record.proxy, b.module, None).commit(b.old)
        else:
            switch.abort()
    for patch in reversed(patches):
        if patch is not None:
            patch.undo()


def _relink(built: list[Built], fronts: list[dict[str, Any]]) -> None:
    """Point each new version's references to another's new objects at the old ones it keeps.

    ``b`` built with ``from a import X`` took ``a``'s new ``X``; patching ``a``
    made ``a``'s new namespace bind the old ``X`` (patched) instead. ``b``
    must bind that one too, and so must its subclasses of ``X``.
    """
    kept: dict[int, Any] = {}
    classes: dict[int, type] = {}
    for b, front in zip(built, fronts, strict=True):
        namespace = b.module.__dict__
        for key, value in front.items():
            now = namespace.get(key, value)
            if now is not value:
                kept[id(value)] = now
                if isinstance(value, type) and isinstance(now, type):
                    classes[id(value)] = now

    def translate(value: Any) -> Any:
        return kept.get(id(value), value)

    for b in built:
        Relinker(b.record.name, translate, classes).run([b.module.__dict__])


def reload_events(records: Sequence[ModuleRecord]) -> list[ReloadEvent]:
    """Reload ``records`` as one batch: all swapped at once, or none; one event per module.

    They build in dependency order (``_graph.order``), which is also the
    order of the events. A failure is in the events, not raised.
    """
    from . import _graph  # here: _graph imports the registry, which the loader needs first

    ordered = _graph.order(_alive(records))
    if not ordered:  # pragma: no cover - every module of the batch is gone meanwhile
        return []
    return _transact("reload", ordered, lambda start: _reload_work(ordered, start))


def _alive(records: Sequence[ModuleRecord]) -> list[ModuleRecord]:
    """``records`` without the repeated ones and those whose module is gone meanwhile."""
    alive: dict[str, ModuleRecord] = {}
    for record in records:
        try:
            record.proxy  # noqa: B018 - raises ReferenceError when it is gone
        except ReferenceError:  # pragma: no cover - the registry drops it first
            continue
        alive.setdefault(record.name, record)
    return list(alive.values())


def reload_event(record: ModuleRecord) -> ReloadEvent:
    """Reload the module of ``record``; a failure is reported in the event, not raised.

    Raises:
        ReferenceError: the module itself is gone meanwhile.
    """
    events = reload_events([record])
    if not events:  # pragma: no cover - see reload_events
        raise ReferenceError(f"the proxy of {record.name!r} is gone")
    return events[0]


def _version(event: ReloadEvent) -> Version:
    if event.error is not None:
        raise event.error
    assert event.version is not None
    return event.version


def _raise_first(events: Sequence[ReloadEvent]) -> None:
    """Raise the error of the module that stopped a batch, if one did."""
    for event in events:
        if event.error is not None and not isinstance(event.error, Blocked):
            raise event.error


def reload_record(record: ModuleRecord) -> Version:
    """Reload the module of ``record``; see :func:`hookreload.reload`."""
    return _version(reload_event(record))


def reload_records(records: Sequence[ModuleRecord]) -> list[Version]:
    """Reload ``records`` as one batch; their new versions in the order of ``records``.

    Raises:
        ReloadError: the error of the module that stopped the batch; nothing changed.
    """
    from . import _graph

    # Modules of an import cycle build in the order they first loaded, as
    # the watcher builds them: each finished loading after those it imported.
    events = reload_events(sorted(records, key=_graph._loaded_first))
    _raise_first(events)
    by_name = {event.name: event for event in events}
    return [_version(by_name[record.name]) for record in records]


# -- rollback ----------------------------------------------------------------------


def _batch_of(record: ModuleRecord) -> list[ModuleRecord]:
    """The modules whose live version was made together with ``record``'s, itself first."""
    batch = record.live.batch if record.history else None
    if batch is None or len(batch) < 2:
        return [record]
    members = [record]
    for name in batch:
        if name == record.name:
            continue
        try:
            other = resolve(name, "roll back")
        except TypeError:
            continue  # no longer imported, or no longer a proxy
        if other.history and other.live.batch is batch:
            members.append(other)
    return members


def _rollback_work(records: Sequence[ModuleRecord], start: float) -> list[Outcome]:
    batch = records[0].live.batch
    for record in records[1:]:
        if record.live.batch is not batch:  # pragma: no cover - a reload ran in between
            raise ReloadError(
                f"cannot roll back {records[0].name!r}: {record.name!r} of its batch was "
                "reloaded meanwhile; try again",
                module=record.name,
                filename=record.source_path,
            )
    for record in records:
        if len(record.history) < 2:
            raise ReloadError(
                f"cannot roll back {record.name!r}: version {record.live.number} is the "
                f"oldest one kept (keep={record.keep})",
                module=record.name,
                filename=record.source_path,
            )
    names = tuple(record.name for record in records)
    with _swapping(names):
        outcomes = _swap_back(records)
        for record in records:
            follow(record)
    return outcomes


def _swap_back(records: Sequence[ModuleRecord]) -> list[Outcome]:
    lives = [record.live_module() for record in records]
    previous = [record.history[-2].module for record in records]
    assert all(module is not None for module in previous)
    for i, record in enumerate(records):
        carry_submodules(record, lives[i], previous[i])  # type: ignore[arg-type]
    unloads = [_unload.hook_of(live) for live in lives]
    # The patches that built the live versions, if any: undone, the objects
    # the previous versions bind run their code again.
    patches = [_patch.recall(record, record.live) for record in records]
    reverted: list[_patch.Patch] = []
    current = records[0]
    try:
        reverting = any(patch is not None for patch in patches)
        with _patch.atomically() if reverting else contextlib.nullcontext():
            switches = [Switch(r.proxy, live, None) for r, live in zip(records, lives, strict=True)]
            try:
                for record, patch in zip(records, patches, strict=True):
                    current = record
                    if patch is not None:
                        patch.revert()
                        reverted.append(patch)
                for switch, module in zip(switches, previous, strict=True):
                    switch.commit(module)  # type: ignore[arg-type]
            except BaseException:
                for patch in reversed(reverted):
                    _reapply(patch)
                for switch in switches:
                    switch.abort()
                raise
    except Exception as exc:
        raise fail(
            current, f"{type(exc).__name__} while restoring the previous code: {exc}"
        ) from exc
    outcomes = []
    for record, patch, hook in zip(records, patches, unloads, strict=True):
        restored = None if patch is None else _patch.Report(patch.report.patched)
        unload = None if hook is None else (record.live.number, hook)
        outcomes.append(Outcome(record.history[-2], restored, unload))
    # Before the release, which frees the dropped versions only if nothing
    # holds them: not this frame, and not the patches (their steps hold code
    # that pins the namespace).
    del lives, previous, patches, reverted, switches, switch
    patch = None
    for record in records:
        _patch.forget(record, record.live)
        record.pop()
    return outcomes


def _reapply(patch: _patch.Patch) -> None:  # pragma: no cover - a revert that failed half-way
    for step in patch.steps:
        step.apply()


def rollback_events(record: ModuleRecord) -> list[ReloadEvent]:
    """Roll back ``record`` and the modules swapped in the same batch that are still live."""
    members = _batch_of(record)
    return _transact("rollback", members, lambda start: _rollback_work(members, start))


def rollback_record(record: ModuleRecord) -> Version:
    """Make the previous version live again; see :func:`hookreload.rollback`."""
    events = rollback_events(record)
    _raise_first(events)
    return _version(events[0])
