"""Build a new version from source and switch to it: all or nothing."""

from __future__ import annotations

import os
import time
import types

from . import _log, _patch
from ._digest import digest
from ._errors import ReloadError
from ._events import ReloadEvent, emit
from ._live import follow
from ._proxy import Switch
from ._versions import ModuleRecord, Version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _fail(record: ModuleRecord, what: str, lineno: int | None = None) -> ReloadError:
    where = record.source_path if lineno is None else f"{record.source_path}, line {lineno}"
    kept = f"keeping version {record.live.number}" if record.history else "nothing was loaded"
    return ReloadError(
        f"cannot reload {record.name!r} ({where}): {what}; {kept}",
        module=record.name,
        filename=record.source_path,
        lineno=lineno,
    )


def read_source(record: ModuleRecord) -> bytes:
    """The bytes of the module's source file, as resolved at import time."""
    path = record.source_path
    try:
        real = os.path.realpath(path)
        if real != record.real_path:
            # The file was swapped for a link to somewhere else: never run that.
            raise _fail(
                record,
                f"the source file now resolves to {real!r}, not to "
                f"{record.real_path!r} as at import; refusing to run it",
            )
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise _fail(record, "the source file is gone; restore it to reload") from None
    except IsADirectoryError:
        raise _fail(record, "the source path is now a directory; restore the file") from None
    except OSError as exc:
        raise _fail(record, f"the source file cannot be read ({exc.strerror or exc})") from exc


def _compile(record: ModuleRecord, data: bytes) -> types.CodeType:
    # A loader that transforms source (SourceLoader subclasses) does it in
    # source_to_code; use it so that reloads are transformed like the import.
    to_code: Callable[..., types.CodeType] | None = getattr(record.loader, "source_to_code", None)
    try:
        if to_code is not None:
            return to_code(data, record.source_path)
        return compile(data, record.source_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _fail(record, f"{type(exc).__name__}: {exc.msg}", exc.lineno) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(record, f"the source does not decode: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise _fail(
            record, f"{type(exc).__name__} while compiling (the source is nested too deeply)"
        ) from exc


def _line_in(record: ModuleRecord, exc: BaseException) -> int | None:
    """The deepest line of the module's own file in the traceback of ``exc``."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == record.source_path:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _carry_submodules(record: ModuleRecord, old: types.ModuleType, new: types.ModuleType) -> None:
    # A package's submodules were set as its attributes when they were
    # imported; a fresh namespace would lose them, and nothing re-imports them.
    if record.spec.submodule_search_locations is None:
        return
    prefix = record.name + "."
    for key, value in old.__dict__.items():
        if isinstance(value, types.ModuleType) and getattr(value, "__name__", "") == prefix + key:
            new.__dict__.setdefault(key, value)


def _execute(record: ModuleRecord, module: types.ModuleType, code: types.CodeType | None) -> None:
    if code is None:
        # A foreign loader that cannot give us code (pytest's assertion
        # rewriter, for one) executes the module itself.
        record.loader.exec_module(module)
    else:
        exec(code, module.__dict__)


def _build(record: ModuleRecord, start: float) -> Outcome:
    from importlib.util import module_from_spec  # imported on first use: keeps import cheap

    patching = _patching()
    old = record.live_module()
    data = read_source(record)
    source_hash = digest(data)
    live = record.live
    code: types.CodeType | None
    if source_hash == live.source_hash and live.code is not None and not patching:
        # Not in patch mode: patched functions take the new version's code
        # objects, and a namespace is pinned while code that ran with it is
        # alive (see _proxy._pin); code shared between versions would pin
        # them all.
        code = live.code
    else:
        code = _compile(record, data) if _compiles(record) else None
    module = module_from_spec(record.spec)
    _carry_submodules(record, old, module)
    switch = Switch(record.proxy, old, module)
    stage = "while executing"
    try:
        _execute(record, module, code)
        hook = module.__dict__.get("__reload__")
        if hook is not None:
            stage = "in __reload__"
            if not callable(hook):
                raise TypeError(
                    f"__reload__ must be a function taking the old module, "
                    f"not {type(hook).__name__}"
                )
            hook(old)
        # Again: another thread may have imported a submodule while this ran.
        _carry_submodules(record, old, module)
        stage = "while patching"
        patch = _switch(switch, old, module) if patching else None
        if patch is None:
            switch.commit(module)
    except (Exception, SystemExit) as exc:
        # SystemExit too: a module calling sys.exit() must not end the program.
        switch.abort()
        raise _fail(record, f"{type(exc).__name__} {stage}: {exc}", _line_in(record, exc)) from exc
    except BaseException:
        switch.abort()
        raise
    version = Version(
        record.name, record.next_number(), module, source_hash, code, time.perf_counter() - start
    )
    _patch.remember(record, version, patch)
    report = None if patch is None else patch.report
    # The push may release the old version: it is freed at once only if
    # nothing holds it, this frame included (and a patch not kept for a
    # rollback holds code that pins the namespace, see _proxy._pin).
    del old, patch
    record.push(version)
    return Outcome(version, report)


def _switch(switch: Switch, old: types.ModuleType, module: types.ModuleType) -> _patch.Patch:
    """Patch the old version's objects and switch, as one step for other threads."""
    with _patch.atomically():
        patch = _patch.apply(module.__name__, old.__dict__, module.__dict__)
        try:
            switch.commit(module)
        except BaseException:  # pragma: no cover - a commit only stores pointers
            patch.undo()
            raise
    _patch.release(patch, module.__dict__)
    return patch


def _patching() -> bool:
    from ._hook import patching  # here: _hook imports this module through the loader

    return patching()


def _compiles(record: ModuleRecord) -> bool:
    return hasattr(record.loader, "source_to_code") or not hasattr(record.loader, "exec_module")


class Outcome:
    """What a successful reload or rollback made live, and what its patch did."""

    __slots__ = ("report", "version")

    def __init__(self, version: Version, report: _patch.Report | None) -> None:
        self.version = version
        self.report = report


def _attempt(record: ModuleRecord, action: str, work: Callable[[float], Outcome]) -> ReloadEvent:
    """Run one reload or rollback under the module's lock; report it either way.

    Returns the event sent to the callbacks; a failure is in its ``error``.
    """
    start = time.perf_counter()
    try:
        with record.lock:
            if record.reloading:
                raise ReloadError(
                    f"cannot {action} {record.name!r} from inside its own reload "
                    "(for example from __reload__); do it after reload() returns",
                    module=record.name,
                    filename=record.source_path,
                )
            if not record.history:
                raise ReloadError(
                    f"cannot {action} {record.name!r}: it is still being imported",
                    module=record.name,
                    filename=record.source_path,
                )
            record.reloading = True
            try:
                outcome = work(start)
            finally:
                record.reloading = False
            follow(record)
    except ReloadError as error:
        _log.logger().error("%s", error)
        event = ReloadEvent(record.name, None, error, time.perf_counter() - start, action)
    else:
        version, report = outcome.version, outcome.report
        event = ReloadEvent(record.name, version, None, time.perf_counter() - start, action)
        summary = ""
        if report is not None:
            event.patched = report.patched
            event.added = report.added
            event.removed = report.removed
            event.replaced = dict(report.replaced)
            summary = f" ({report.summary()})" if report.summary() else ""
        _log.logger().info(
            "%s %s v%d in %.1f ms%s",
            "reloaded" if action == "reload" else "rolled back",
            record.name,
            version.number,
            event.duration_s * 1000,
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
    emit(event)
    return event


def _version(event: ReloadEvent) -> Version:
    if event.error is not None:
        raise event.error
    assert event.version is not None
    return event.version


def reload_event(record: ModuleRecord) -> ReloadEvent:
    """Reload the module of ``record``; a failure is reported in the event, not raised."""
    return _attempt(record, "reload", lambda start: _build(record, start))


def reload_record(record: ModuleRecord) -> Version:
    """Reload the module of ``record``; see :func:`hookreload.reload`."""
    return _version(reload_event(record))


def rollback_record(record: ModuleRecord) -> Version:
    """Make the previous version live again; see :func:`hookreload.rollback`."""

    def work(start: float) -> Outcome:
        if len(record.history) < 2:
            raise ReloadError(
                f"cannot roll back {record.name!r}: version {record.live.number} is the "
                f"oldest one kept (keep={record.keep})",
                module=record.name,
                filename=record.source_path,
            )
        previous = record.history[-2]
        assert previous.module is not None
        live = record.live_module()
        _carry_submodules(record, live, previous.module)
        # The patch that built the live version, if any: undone, the objects
        # the previous version binds run its code again.
        patch = _patch.recall(record, record.live)
        switch = Switch(record.proxy, live, None)
        try:
            with _patch.atomically():
                if patch is not None:
                    patch.revert()
                switch.commit(previous.module)
        except Exception as exc:
            switch.abort()
            raise _fail(
                record, f"{type(exc).__name__} while restoring the previous code: {exc}"
            ) from exc
        except BaseException:
            switch.abort()
            raise
        # Before the release, which frees the dropped version only if nothing
        # holds it: not this frame, and not the patch (its steps hold code
        # that pins the namespace).
        restored = None if patch is None else _patch.Report(patch.report.patched)
        del live, switch, patch
        _patch.forget(record, record.live)
        record.pop()
        return Outcome(previous, restored)

    return _version(_attempt(record, "rollback", work))
