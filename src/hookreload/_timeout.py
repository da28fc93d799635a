"""The reload time-out: build in a worker thread, stop waiting for it after a deadline.

``install(reload_timeout=seconds)``. CPython cannot stop a thread that runs
Python code (there is no safe way to interrupt a blocking call), so a module
that blocks at import keeps its worker thread until the call returns. What
the time-out guarantees is that the *reloader* goes on: the waiting thread
closes the batch's windows, reports a ``ReloadError`` and nothing is
swapped; the worker, when it finally returns, finds its staging closed and
everything it built is dropped (``_build.Staging``).
"""

from __future__ import annotations

import threading

from ._build import Abandoned, Built, Staging, fail
from ._errors import ReloadError

THREAD_NAME = "hookreload-build"


def build(staging: Staging, timeout: float | None) -> list[Built]:
    """``staging.build()``, in this thread, or in a worker waited on for ``timeout`` seconds.

    The caller closes ``staging`` once this returns or raises (its windows
    show the new versions to the building thread only).

    Raises:
        ReloadError: a module failed, or was still executing after ``timeout``
            seconds. ``staging`` is closed then, and the worker abandoned.
    """
    if timeout is None:
        return staging.build()
    outcome: list[BaseException | list[Built]] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append(staging.build())
        except Abandoned:
            pass  # the waiting thread gave up and reported it
        except BaseException as exc:  # handed over to the waiting thread
            outcome.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, name=THREAD_NAME, daemon=True)
    worker.start()
    # Interrupted while waiting (Ctrl-C), this raises: the caller closes the
    # staging whatever happens, so nothing built is ever swapped.
    finished = done.wait(timeout)
    if not finished:
        staging.close()
        raise _timed_out(staging, timeout)
    [result] = outcome
    if isinstance(result, BaseException):
        try:
            raise result
        finally:
            del result, outcome  # no cycle through the traceback
    return result


def _timed_out(staging: Staging, timeout: float) -> ReloadError:
    record = staging.current
    if record is None:  # pragma: no cover - the worker finished right at the deadline
        record = staging.records[-1]
    return fail(
        record,
        f"still executing after {timeout:g} s (reload_timeout={timeout:g}); the thread "
        f"executing it cannot be stopped and is left to finish, and what it builds is "
        f"never used",
    )
