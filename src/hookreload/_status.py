"""``hookreload.status()``: what every proxied module runs, and how its last reload went.

The reload path knows nothing of this module: :func:`note` is called by
``_events.emit`` with every reload and rollback event and remembers, per
module name, when the last attempt ended and its error. It must cost next to
nothing, as it runs on every reload: a clock read and a dict store, and for a
failed attempt a copy of its error.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from ._versions import ModuleRecord, all_records

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._events import ReloadEvent

# Module name -> (when its last reload or rollback attempt ended, its error).
# Single dict operations are atomic under the GIL: no lock, so that a signal
# handler or a forked child can never wait on one.
_last: dict[str, tuple[float, BaseException | None]] = {}


def note(event: ReloadEvent) -> None:
    """Remember the outcome of one reload or rollback attempt (called by ``_events.emit``)."""
    error = event.error
    _last[event.name] = (time.time(), None if error is None else detached(error))


# Attribute values a detached error keeps: what a message is made of.
_PLAIN = (str, int, float, bool, type(None))


def detached(error: BaseException, depth: int = 0) -> BaseException:
    """A copy of ``error`` and its causes, without their tracebacks.

    The status of a module lasts as long as the program: holding the error
    itself would hold its traceback's frames, and through them whatever the
    failed attempt and its callers had in hand (the failed version, a
    request, the caller's modules).
    """
    kind = type(error)
    try:
        if kind.__module__ == "builtins":
            # Their fields (SyntaxError's msg and lineno, OSError's errno) come
            # from their arguments; their __init__ has no other effect.
            copy = kind(*error.args)
        else:
            # Never run the program's code (an __init__ may do anything): the
            # arguments and the plain attributes are the message.
            copy = kind.__new__(kind, *error.args)
        copy.__dict__.update(
            (name, value) for name, value in vars(error).items() if isinstance(value, _PLAIN)
        )
    except Exception:
        # An exception class too odd to copy: its name and message will do.
        copy = RuntimeError(f"{kind.__name__}: {_message(error)}")
    cause = error.__cause__
    if cause is not None and depth < 8:
        copy.__cause__ = detached(cause, depth + 1)
    return copy


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a __str__ that raises: emit() must not
        return "(its message cannot be shown)"


class ModuleStatus:
    """One proxied module, as :func:`hookreload.status` saw it.

    Attributes:
        name: the module's dotted name.
        file: the source file its versions are built from.
        version: the live version's number.
        versions: the numbers of the versions kept, oldest first (the last is live).
        kept: how many versions are kept, the live one included.
        loaded_at: when the live version was built (``time.time()``).
        last_reload: when the last reload or rollback attempt ended, successful
            or not; ``None`` when there was none since the module was imported.
        last_error: the ``ReloadError`` of that attempt, with its cause, as a
            copy without traceback (a status must not keep the failed
            attempt's frames alive); ``None`` when it succeeded or there was none.

    Example:
        >>> row = hookreload.status()[0]                 # doctest: +SKIP
        >>> row.name, row.version, row.versions, row.ok  # doctest: +SKIP
        ('myapp.handlers', 3, (2, 3), True)
    """

    __slots__ = ("file", "last_error", "last_reload", "loaded_at", "name", "version", "versions")

    name: str
    file: str
    version: int
    versions: tuple[int, ...]
    loaded_at: float
    last_reload: float | None
    last_error: BaseException | None

    def __init__(
        self,
        name: str,
        file: str,
        versions: tuple[int, ...],
        loaded_at: float,
        last_reload: float | None,
        last_error: BaseException | None,
    ) -> None:
        # A snapshot: frozen, so that it cannot be mistaken for a way to change the module.
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "file", file)
        set_(self, "versions", versions)
        set_(self, "version", versions[-1])
        set_(self, "loaded_at", loaded_at)
        set_(self, "last_reload", last_reload)
        set_(self, "last_error", last_error)

    @property
    def kept(self) -> int:
        return len(self.versions)

    @property
    def ok(self) -> bool:
        """Whether the last reload attempt succeeded (or there was none)."""
        return self.last_error is None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ModuleStatus is a snapshot; {name!r} cannot be set")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ModuleStatus is a snapshot; {name!r} cannot be deleted")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModuleStatus):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.name, self.versions, self.loaded_at, self.last_reload))

    def __repr__(self) -> str:
        last = "" if self.last_reload is None else f", last reload {_clock(self.last_reload)}"
        outcome = "" if self.last_error is None else f", failed: {_describe(self.last_error)}"
        return f"<ModuleStatus {self.name!r} v{self.version} (kept {self.kept}){last}{outcome}>"


class StatusList(list[ModuleStatus]):
    """What :func:`hookreload.status` returns: a list whose ``str()`` is a table."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_table(self)


def status() -> StatusList:
    """See :func:`hookreload.status`."""
    rows = StatusList()
    for record in sorted(all_records(), key=lambda r: r.name):
        row = _status_of(record)
        if row is not None:
            rows.append(row)
    return rows


def _status_of(record: ModuleRecord) -> ModuleStatus | None:
    # No record lock: a reload may hold it for as long as the module executes,
    # and status() must answer at once (from a signal, say). Copying the list
    # is atomic under the GIL.
    history = list(record.history)
    if not history:
        return None
    try:
        proxy = record.proxy
    except ReferenceError:  # gone since the registry was read
        return None
    # Only what the program imports now: not leftovers removed from sys.modules.
    if sys.modules.get(record.name) is not proxy:
        return None
    live = history[-1]
    last_reload, last_error = _last.get(record.name, (None, None))
    # Left by an earlier module of the same name: the live version is newer than
    # anything that happened to that one.
    if last_reload is not None and last_reload < live.loaded_at:
        last_reload, last_error = None, None
    return ModuleStatus(
        record.name,
        record.source_path,
        tuple(v.number for v in history),
        live.loaded_at,
        last_reload,
        last_error,
    )


_HEADER = ("module", "live", "kept", "loaded", "last reload", "error")
# Longest error shown in a table cell: the full message is in status()[i].last_error.
_ERROR_WIDTH = 72


def format_table(rows: list[ModuleStatus]) -> str:
    """``rows`` as a text table, one line per module; one line saying so when empty."""
    if not rows:
        return "no module is proxied"
    cells = [_HEADER]
    for row in rows:
        cells.append(
            (
                row.name,
                f"v{row.version}",
                ",".join(map(str, row.versions)),
                _clock(row.loaded_at),
                "-" if row.last_reload is None else _clock(row.last_reload),
                "" if row.last_error is None else _shorten(_describe(row.last_error)),
            )
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADER))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _describe(error: BaseException) -> str:
    """One line: what went wrong. The table names the module; its file is in ``file``."""
    cause = error.__cause__ or error
    text = _message(cause).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(cause).__name__}: {line}" if line else type(cause).__name__


def _shorten(text: str) -> str:
    return text if len(text) <= _ERROR_WIDTH else text[: _ERROR_WIDTH - 1] + "…"


def print_on_signal() -> Callable[[], None]:
    """Print the status table on standard error at each ``SIGUSR1``; returns what undoes it.

    Only where the platform has ``SIGUSR1``, from the main thread, and when
    nobody handles the signal yet (its action is the default, which ends the
    process): a handler of the program's own, or an ignored signal, stays.
    """
    import signal

    signum = getattr(signal, "SIGUSR1", None)
    if signum is None or threading.current_thread() is not threading.main_thread():
        return _nothing
    previous = signal.getsignal(signum)
    if previous is not signal.SIG_DFL:
        return _nothing

    def handler(signum: int, frame: object) -> None:
        # Not here: the handler runs between two bytecodes of the main thread,
        # which may hold the registry's lock or be writing to stderr itself.
        threading.Thread(target=_print_status, name="hookreload-status", daemon=True).start()

    signal.signal(signum, handler)

    def restore() -> None:
        # Unless the program put a handler of its own since: that one stays.
        if signal.getsignal(signum) is handler:
            signal.signal(signum, previous)

    return restore


def _print_status() -> None:
    text = f"hookreload: status at {_clock(time.time())} (pid {os.getpid()})\n{status()}\n"
    # The command's user interface: what the signal asked for goes to stderr, not to a log.
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # closed or replaced by the program
        pass


def _nothing() -> None:
    pass
