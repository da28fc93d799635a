"""Reload events and the callbacks that receive them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._versions import Version

logger = logging.getLogger("hookreload")


@dataclass(frozen=True)
class ReloadEvent:
    """What happened in one reload or rollback attempt.

    Attributes:
        name: the module's dotted name.
        version: the version made live, or ``None`` when the attempt failed.
        error: the ``ReloadError`` that stopped it, or ``None`` on success.
        duration_s: how long the attempt took, in seconds.
        action: ``"reload"`` or ``"rollback"``.
    """

    name: str
    version: Version | None
    error: BaseException | None
    duration_s: float
    action: str = "reload"

    @property
    def ok(self) -> bool:
        return self.error is None


Callback = Callable[[ReloadEvent], object]

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
            logger.exception("on_reload callback %r failed for %s", callback, event.name)
