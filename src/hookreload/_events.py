"""Reload events and the callbacks that receive them."""

from __future__ import annotations

import threading

from . import _log, _status
from ._versions import Version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Callback = Callable[["ReloadEvent"], object]


class ReloadEvent:
    """What happened in one reload or rollback attempt.

    Attributes:
        name: the module's dotted name.
        version: the version made live, or ``None`` when the attempt failed.
        error: the ``ReloadError`` that stopped it, or ``None`` on success.
        duration_s: how long the attempt took, in seconds.
        action: ``"reload"`` or ``"rollback"``.
        cause: for a module reloaded because it took names from a module just
            reloaded (``install(dependents=True)``), that module's name;
            otherwise ``None``.
        patched: with patch mode (``install(patch=True)``), the qualified names
            (``f``, ``Cls``, ``Cls.method``) of the functions, classes and
            instances of the old version updated in place; after a rollback,
            those given their previous code back. Empty otherwise.
        added: with patch mode, the functions and classes that the new version
            defines and the old one did not.
        removed: with patch mode, those the old version defined and the new one does not.
        replaced: with patch mode, name -> why it could not be patched in place
            (its closure or ``__slots__`` changed, say): the new object is bound
            instead and references taken before the reload keep the old one.
        batch: the names of the modules swapped (or, on failure, that would
            have been swapped) together with this one, itself included, in
            the order they were built: ``("pkg.a",)`` for a reload of one.
        deferred: whether the swap waited for open holds (``hookreload.hold()``)
            longer than their time-out: nothing changed, and the watcher tries
            again on its next pass.
    """

    __slots__ = (
        "action",
        "added",
        "batch",
        "cause",
        "deferred",
        "duration_s",
        "error",
        "name",
        "patched",
        "removed",
        "replaced",
        "version",
    )

    def __init__(
        self,
        name: str,
        version: Version | None,
        error: BaseException | None,
        duration_s: float,
        action: str = "reload",
        cause: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.error = error
        self.duration_s = duration_s
        self.action = action
        # Filled in by a reload or rollback made in patch mode.
        self.patched: tuple[str, ...] = ()
        self.added: tuple[str, ...] = ()
        self.removed: tuple[str, ...] = ()
        self.replaced: dict[str, str] = {}
        self.batch: tuple[str, ...] = (name,)
        self.deferred = False
        # A batch reloading dependents says why before the reload builds the event.
        self.cause = cause if cause is not None else _causes.__dict__.pop(name, None)

    @property
    def ok(self) -> bool:
        """Whether the attempt succeeded."""
        return self.error is None

    def __repr__(self) -> str:
        outcome = f"v{self.version.number}" if self.version is not None else f"failed: {self.error}"
        after = f" after {self.cause!r}" if self.cause is not None else ""
        return f"<ReloadEvent {self.action} {self.name!r}{after} {outcome} in {self.duration_s * 1000:.1f} ms>"


# Module name -> the cause its next event in this thread reports (see expect_cause).
_causes = threading.local()


def expect_cause(name: str, cause: str | None) -> None:
    """Make the next event built for ``name`` in this thread report ``cause`` (``None``: forget)."""
    if cause is None:
        _causes.__dict__.pop(name, None)
    else:
        _causes.__dict__[name] = cause


_callbacks: list[Callback] = []
_lock = threading.Lock()


def subscribe(callback: Callback) -> Callable[[], None]:
    if not callable(callback):
        raise TypeError(f"on_reload() takes a callable, got {type(callback).__name__}")
    with _lock:
        _callbacks.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _callbacks:
                _callbacks.remove(callback)

    return unsubscribe


def emit(event: ReloadEvent) -> None:
    """Call every callback with ``event``; never raises.

    Callbacks run outside every hookreload lock, so they may reload too.
    """
    # Before the callbacks: one of them may ask status() about this very event.
    _status.note(event)
    with _lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        try:
            callback(event)
        except Exception:
            _log.logger().exception("on_reload callback %r failed for %s", callback, event.name)
