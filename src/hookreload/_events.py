"""Reload events and the callbacks that receive them."""

from __future__ import annotations

import threading

from . import _log
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
    """

    __slots__ = ("action", "duration_s", "error", "name", "version")

    def __init__(
        self,
        name: str,
        version: Version | None,
        error: BaseException | None,
        duration_s: float,
        action: str = "reload",
    ) -> None:
        self.name = name
        self.version = version
        self.error = error
        self.duration_s = duration_s
        self.action = action

    @property
    def ok(self) -> bool:
        """Whether the attempt succeeded."""
        return self.error is None

    def __repr__(self) -> str:
        outcome = f"v{self.version.number}" if self.version is not None else f"failed: {self.error}"
        return f"<ReloadEvent {self.action} {self.name!r} {outcome} in {self.duration_s * 1000:.1f} ms>"


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
    with _lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        try:
            callback(event)
        except Exception:
            _log.logger().exception("on_reload callback %r failed for %s", callback, event.name)
