"""The reload time-out: a module that blocks at import cannot hang the reloader."""

from __future__ import annotations

import signal
import threading
import types
from collections.abc import Iterator

import pytest

import hookreload
from hookreload import _timeout
from tests.conftest import Project

TIMEOUT = 10.0  # seconds, per wait; a healthy test takes far less


@pytest.fixture
def sync(project: Project) -> Iterator[types.ModuleType]:
    """A module of Events that a reloaded module waits on; always released at the end."""
    project.write(
        "sync.py", "import threading\nstarted = threading.Event()\ngo = threading.Event()\n"
    )
    module = project.load("sync")
    try:
        yield module
    finally:
        module.go.set()
        for thread in threading.enumerate():
            if thread.name == _timeout.THREAD_NAME:
                thread.join(TIMEOUT)


def _builders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == _timeout.THREAD_NAME]


def test_a_module_blocking_at_import_times_out_and_nothing_changes(
    project: Project, sync: types.ModuleType
) -> None:
    hookreload.install(include=[project.package], reload_timeout=0.2)
    project.write("mod.py", "N = 1\n")
    mod = project.load("mod")
    events: list[hookreload.ReloadEvent] = []
    stop = hookreload.on_reload(events.append)
    path = project.write(
        "mod.py",
        f"from {project.package} import sync\nN = 2\nsync.started.set()\n"
        "assert sync.go.wait(10)\nLATE = True\n",
    )
    try:
        with pytest.raises(hookreload.ReloadError) as info:
            hookreload.reload(mod)
    finally:
        stop()
    message = str(info.value)
    assert project.name("mod") in message and str(path) in message
    assert "still executing after 0.2 s (reload_timeout=0.2)" in message
    assert "keeping version 1" in message
    assert [e.ok for e in events] == [False]
    assert sync.started.is_set()
    assert type(mod) is types.ModuleType  # the window is closed
    assert mod.N == 1  # type: ignore[attr-defined]
    # The abandoned worker finishes late: what it built is never swapped in.
    [worker] = _builders()
    sync.go.set()
    worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert mod.N == 1 and not hasattr(mod, "LATE")
    assert [v.number for v in hookreload.versions(mod)] == [1]
    # The next reload works as ever.
    project.write("mod.py", "N = 3\n")
    assert hookreload.reload(mod).number == 2
    assert mod.N == 3  # type: ignore[attr-defined]


def test_a_worker_still_building_a_batch_opens_no_other_window(
    project: Project, sync: types.ModuleType
) -> None:
    hookreload.install(include=[project.package], reload_timeout=0.2)
    project.write("a.py", "N = 1\n")
    project.write("b.py", "from .a import N\n")
    a, b = project.load("a"), project.load("b")
    project.write("a.py", f"from {project.package} import sync\nN = 2\nassert sync.go.wait(10)\n")
    project.write("b.py", "from .a import N\nM = N\n")
    with pytest.raises(hookreload.ReloadError, match=f"{project.name('a')!r}.*still executing"):
        hookreload.reload(a, b)
    [worker] = _builders()
    sync.go.set()
    worker.join(TIMEOUT)
    assert type(b) is types.ModuleType and not hasattr(b, "M")
    assert (a.N, b.N) == (1, 1)  # type: ignore[attr-defined]


def test_with_a_time_out_modules_execute_in_a_worker_and_see_themselves(
    project: Project,
) -> None:
    hookreload.install(include=[project.package], reload_timeout=5)
    project.write("mod.py", "N = 1\n")
    mod = project.load("mod")
    project.write(
        "mod.py",
        "import dataclasses, sys, threading\nTHREAD = threading.current_thread().name\n"
        "@dataclasses.dataclass\nclass Point:\n    x: int = 0\n"
        "SELF = sys.modules[__name__].THREAD\n",
    )
    hookreload.reload(mod)
    assert mod.THREAD == mod.SELF == _timeout.THREAD_NAME  # type: ignore[attr-defined]
    assert mod.Point(3).x == 3  # type: ignore[attr-defined]
    # Errors and interrupts raised in the worker reach the caller.
    project.write("mod.py", "N = (\n")
    with pytest.raises(hookreload.ReloadError, match="SyntaxError"):
        hookreload.reload(mod)
    project.write("mod.py", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        hookreload.reload(mod)
    assert type(mod) is types.ModuleType and mod.Point(1).x == 1  # type: ignore[attr-defined]


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread()
    or not hasattr(signal, "pthread_kill"),
    reason="needs a POSIX SIGINT sent to the main thread",
)
def test_an_interrupted_wait_closes_the_windows(project: Project, sync: types.ModuleType) -> None:
    hookreload.install(include=[project.package], reload_timeout=5)
    project.write("mod.py", "N = 1\n")
    mod = project.load("mod")
    project.write(
        "mod.py",
        f"from {project.package} import sync\nsync.started.set()\nassert sync.go.wait(10)\n",
    )
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        if sync.started.wait(TIMEOUT):
            signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C while the reload waits

    thread = threading.Thread(target=interrupt, daemon=True)
    # Python leaves SIGINT ignored when started ignoring it (a background job).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            hookreload.reload(mod)
    finally:
        thread.join(TIMEOUT)
        signal.signal(signal.SIGINT, previous)
    assert type(mod) is types.ModuleType and mod.N == 1  # type: ignore[attr-defined]
