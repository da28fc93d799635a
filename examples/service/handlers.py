"""The service's request handlers and its in-memory state: edit this file while it runs.

Nothing here knows about HTTP frameworks: ``app.py`` (Starlette) and
``stdlib_app.py`` (``http.server``) call these functions on every request,
through the module, so a saved edit answers the next request. The state (a
request counter and a cache) lives in this module too, and ``__reload__``
hands it from each version to the next.
"""

from __future__ import annotations

import os
import threading
import time
import types

# Edit this line while the service runs: the next response says so.
MESSAGE = "hello"

# The state. A reload builds this module anew, so these start empty in the
# new version; __reload__ below puts the old version's objects back.
lock = threading.Lock()
counts = {"requests": 0}
cache: dict[int, int] = {}
started = time.time()


def __reload__(old: types.ModuleType) -> None:
    """Called by hookreload on the new version, with the old one, before it goes live."""
    global lock, counts, cache, started
    lock, counts, cache, started = old.lock, old.counts, old.cache, old.started


def _count() -> int:
    with lock:
        counts["requests"] += 1
        return counts["requests"]


def hello() -> str:
    """``GET /``: the message and the number of this request."""
    return f"{MESSAGE} (request {_count()})\n"


def fibonacci(n: int) -> dict[str, int]:
    """``GET /fib/N``: the Nth Fibonacci number, cached across requests and reloads."""
    _count()
    if not 0 <= n <= 1000:
        raise ValueError(f"n must be between 0 and 1000, not {n}")
    with lock:
        value = cache.get(n)
    if value is None:
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        value = a
        with lock:
            cache[n] = value
    return {"n": n, "value": value}


def whoami() -> dict[str, object]:
    """``GET /whoami``: which process answered, with which message (for several workers)."""
    return {"pid": os.getpid(), "message": MESSAGE, "request": _count()}


def stats() -> dict[str, float]:
    """``GET /stats``: what the state holds."""
    with lock:
        return {
            "requests": counts["requests"],
            "cached": len(cache),
            "uptime_s": round(time.time() - started, 3),
        }
