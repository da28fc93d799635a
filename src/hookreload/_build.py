"""Build new versions from source without making them live: the first half of a reload.

A :class:`Staging` builds the versions of one batch, in dependency order,
each with its proxy's window open (see ``_proxy.Switch``): the thread that
executes them sees, through every proxy of the batch built so far, the new
version, so ``from a import X`` in ``b`` takes the new ``X``; every other
thread still sees the live versions. Nothing here makes a version live:
``_reload`` swaps them all at once, or closes the windows and drops them.
"""

from __future__ import annotations

import os
import threading
import time
import types

from ._digest import digest, read_file_opened
from ._errors import ReloadError
from ._proxy import Switch
from ._versions import ModuleRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def fail(record: ModuleRecord, what: str, lineno: int | None = None) -> ReloadError:
    """The ``ReloadError`` for ``record``: names the module and file, says what is kept."""
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
        data, opened = read_file_opened(path)
        if opened != record.real_path:
            # The kernel's answer, when there is one, is the file read; a
            # different one (a bind mount?) is checked the long way too.
            real = os.path.realpath(path)
            if real != record.real_path:
                # The file was swapped for a link to somewhere else: never run that.
                raise fail(
                    record,
                    f"the source file now resolves to {real!r}, not to "
                    f"{record.real_path!r} as at import; refusing to run it",
                )
        return data
    except FileNotFoundError:
        raise fail(record, "the source file is gone; restore it to reload") from None
    except IsADirectoryError:
        raise fail(record, "the source path is now a directory; restore the file") from None
    except OSError as exc:
        raise fail(record, f"the source file cannot be read ({exc.strerror or exc})") from exc


def _compile(record: ModuleRecord, data: bytes) -> types.CodeType:
    # A loader that transforms source (SourceLoader subclasses) does it in
    # source_to_code; use it so that reloads are transformed like the import.
    to_code: Callable[..., types.CodeType] | None = getattr(record.loader, "source_to_code", None)
    try:
        if to_code is not None:
            return to_code(data, record.source_path)
        return compile(data, record.source_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise fail(record, f"{type(exc).__name__}: {exc.msg}", exc.lineno) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(record, f"the source does not decode: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise fail(
            record, f"{type(exc).__name__} while compiling (the source is nested too deeply)"
        ) from exc


def _compiles(record: ModuleRecord) -> bool:
    return hasattr(record.loader, "source_to_code") or not hasattr(record.loader, "exec_module")


def line_in(record: ModuleRecord, exc: BaseException) -> int | None:
    """The deepest line of the module's own file in the traceback of ``exc``."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == record.source_path:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def carry_submodules(record: ModuleRecord, old: types.ModuleType, new: types.ModuleType) -> None:
    """Give ``new`` the submodule attributes of ``old`` (a package's)."""
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


class Built:
    """One new version, executed and not live yet."""

    __slots__ = ("code", "duration_s", "module", "old", "record", "source_hash")

    def __init__(
        self,
        record: ModuleRecord,
        old: types.ModuleType,
        module: types.ModuleType,
        source_hash: str,
        code: types.CodeType | None,
        duration_s: float,
    ) -> None:
        self.record = record
        self.old = old
        self.module = module
        self.source_hash = source_hash
        self.code = code
        self.duration_s = duration_s

    def drop(self) -> None:
        """Let go of both versions: the swap is done, and a release must see them unused."""
        self.old = self.module = None  # type: ignore[assignment]


class Abandoned(Exception):
    """The caller stopped waiting for this build (a reload time-out): stop building."""


class Staging:
    """The builds of one batch and the windows they opened.

    Building may run in another thread than the one that waits for it (a
    reload time-out, see ``_timeout``): only the waiting thread closes the
    windows, with :meth:`close`, and once it did, the building thread opens
    no other one and whatever it builds is never used.

    Args:
        records: the batch, in the order to build it.
        patching: whether the versions will be patched in (then the code of
            an unchanged source is not reused).
    """

    def __init__(self, records: Sequence[ModuleRecord], patching: bool) -> None:
        self.records = records
        self.patching = patching
        self.built: list[Built] = []
        # The module being built right now, for a time-out's message.
        self.current: ModuleRecord | None = None
        self._switches: list[Switch] = []
        self._lock = threading.Lock()
        self._closed = False

    def build(self) -> list[Built]:
        """Build every version, in order; ``ReloadError`` naming the first that fails."""
        for record in self.records:
            self.current = record
            self.built.append(self._build(record))
        self.current = None
        return self.built

    def close(self) -> None:
        """Close every window this staging opened, leaving the live versions as they are.

        Idempotent; after it, a build still running in another thread stops
        at its next module.
        """
        with self._lock:
            self._closed = True
            switches, self._switches = self._switches, []
        for switch in reversed(switches):
            switch.abort()

    def _open(self, record: ModuleRecord, old: types.ModuleType, module: types.ModuleType) -> None:
        with self._lock:
            if self._closed:
                raise Abandoned(record.name)
            self._switches.append(Switch(record.proxy, old, module))

    def _build(self, record: ModuleRecord) -> Built:
        from importlib.util import module_from_spec  # imported on first use: keeps import cheap

        start = time.perf_counter()
        old = record.live_module()
        data = read_source(record)
        source_hash = digest(data)
        live = record.live
        code: types.CodeType | None
        if source_hash == live.source_hash and live.code is not None and not self.patching:
            # Not in patch mode: patched functions take the new version's code
            # objects, and a namespace is pinned while code that ran with it is
            # alive (see _proxy._pin); code shared between versions would pin
            # them all.
            code = live.code
        else:
            code = _compile(record, data) if _compiles(record) else None
        module = module_from_spec(record.spec)
        carry_submodules(record, old, module)
        self._open(record, old, module)
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
            carry_submodules(record, old, module)
        except (Exception, SystemExit) as exc:
            # SystemExit too: a module calling sys.exit() must not end the program.
            raise fail(
                record, f"{type(exc).__name__} {stage}: {exc}", line_in(record, exc)
            ) from exc
        return Built(record, old, module, source_hash, code, time.perf_counter() - start)
