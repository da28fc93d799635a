"""The doorbell (inotify) the watcher thread sleeps on, and the events backend with and without it.

Outcomes are awaited with bounded polls, never with sleeps. The backend tests
give the watcher an hour-long tick, so that a stop or a restart that failed
to wake the sleeping thread shows as a test that fails, not as a slow one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hookreload
from hookreload import _doorbell, _watch
from hookreload._doorbell import Doorbell
from hookreload._watch_backend import EventsBackend
from tests.conftest import Project

TIMEOUT = 10.0  # generous: a noisy 2-core machine must never fail these
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


def wait_until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT} s waiting for {what}")
        time.sleep(0.002)


@pytest.fixture
def bell(tmp_path: Path) -> Iterator[Doorbell]:
    (tmp_path / "m.py").write_text("X = 1\n")
    doorbell = Doorbell([str(tmp_path)])
    try:
        yield doorbell
    finally:
        doorbell.close()


# -- the doorbell itself ------------------------------------------------------------


@linux
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: (d / "m.py").write_text("X = 2\n"), id="write"),
        pytest.param(lambda d: (d / "new.py").write_text(""), id="create"),
        pytest.param(lambda d: (d / "m.py").unlink(), id="delete"),
        pytest.param(lambda d: (d / "m.py").rename(d / "n.py"), id="rename"),
        pytest.param(lambda d: os.utime(d / "m.py", (1, 1)), id="touch"),
    ],
)
def test_a_change_rings_once(
    tmp_path: Path, bell: Doorbell, change: Callable[[Path], object]
) -> None:
    assert not bell.wait(0)
    change(tmp_path)
    assert bell.wait(TIMEOUT)
    assert not bell.wait(0)  # heard once: every event it had is consumed


@linux
def test_reading_does_not_ring(tmp_path: Path, bell: Doorbell) -> None:
    # An import opens and reads the files of watched directories.
    assert (tmp_path / "m.py").read_text() == "X = 1\n"
    os.listdir(tmp_path)
    (tmp_path / "m.py").write_text("X = 2\n")
    assert bell.wait(TIMEOUT)
    # Only the write rang: the read before it and the one after do not.
    (tmp_path / "m.py").read_bytes()
    assert not bell.wait(0)


@linux
def test_wake_ends_a_wait_from_another_thread(tmp_path: Path, bell: Doorbell) -> None:
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(bell.wait(None)), daemon=True)
    waiter.start()
    bell.wake()
    waiter.join(TIMEOUT)
    if waiter.is_alive():  # let the thread go before failing
        (tmp_path / "m.py").write_text("X = 3\n")
        waiter.join(TIMEOUT)
        pytest.fail("wake() did not end the wait")
    assert results == [False]  # woken, not rung


@linux
def test_close_is_idempotent_and_wake_after_close_is_harmless(bell: Doorbell) -> None:
    bell.close()
    bell.close()
    bell.wake()
    assert "closed" in repr(bell)


@linux
def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Doorbell([str(tmp_path), str(tmp_path / "missing")])


def test_no_inotify_no_doorbell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_doorbell, "_libc", lambda: None)
    with pytest.raises(OSError, match="not available"):
        Doorbell([str(tmp_path)])


# -- the events backend with and without it -------------------------------------------


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    try:
        yield
    finally:
        hookreload.uninstall()
        assert [t for t in threading.enumerate() if t.name == _watch.THREAD_NAME] == []


@pytest.fixture
def doorbells(monkeypatch: pytest.MonkeyPatch) -> list[Doorbell | None]:
    """What the events backend chose at each (re)start, with a tick of an hour."""
    chosen: list[Doorbell | None] = []
    original = EventsBackend._doorbell

    def record(self: EventsBackend, directories: list[str]) -> Doorbell | None:
        chosen.append(original(self, directories))
        return chosen[-1]

    monkeypatch.setattr(EventsBackend, "_doorbell", record)
    monkeypatch.setattr(
        _watch.Settings, "backend", lambda self: EventsBackend(step=self.debounce, tick=3600.0)
    )
    return chosen


def edit_and_wait(project: Project, module: str, value: int) -> None:
    mod = project.load(module)
    path = project.write(f"{module}.py", f"X = {value}\n")
    # A modification time of its own, whole seconds apart: watchfiles'
    # polling compares whole seconds, and misses a second write within one.
    later = time.time() + value
    os.utime(path, (later, later))
    wait_until(lambda: getattr(mod, "X", None) == value, f"{project.name(module)}.X == {value}")


@pytest.mark.parametrize("how", ["doorbell", "no doorbell"])
def test_the_events_backend_reloads_with_or_without_a_doorbell(
    project: Project,
    doorbells: list[Doorbell | None],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    if how == "no doorbell":
        monkeypatch.setattr(EventsBackend, "doorbell", False)
    project.write("mod.py", "X = 1\n")
    hook = hookreload.install(include=[project.package], watch=True, poll=False)
    assert hook.watcher is not None and hook.watcher.backend.name == "events"
    for value in (2, 3):
        edit_and_wait(project, "mod", value)
    expect_doorbell = how == "doorbell" and sys.platform.startswith("linux")
    assert doorbells and all((d is not None) == expect_doorbell for d in doorbells)


@linux
def test_a_new_directory_wakes_the_sleeping_watcher_to_watch_it(
    project: Project, tmp_path: Path, doorbells: list[Doorbell | None]
) -> None:
    # Another package, under a folder of its own: writing it rings nothing.
    (tmp_path / "elsewhere").mkdir()
    other = Project(tmp_path / "elsewhere")
    other.write("mod.py", "X = 1\n")
    project.write("mod.py", "X = 1\n")
    hookreload.install(include=[project.package, other.package], watch=True, poll=False)
    edit_and_wait(project, "mod", 2)  # watching, and asleep on the doorbell
    other.load("mod")  # the import asks for a restart: it must wake the thread
    wait_until(lambda: len(doorbells) >= 2, "the watch to restart")
    edit_and_wait(other, "mod", 2)
    assert all(d is not None for d in doorbells)


@linux
def test_uninstall_wakes_the_sleeping_watcher(
    project: Project, doorbells: list[Doorbell | None]
) -> None:
    project.write("mod.py", "X = 1\n")
    hook = hookreload.install(include=[project.package], watch=True, poll=False)
    assert hook.watcher is not None
    edit_and_wait(project, "mod", 2)
    thread = hook.watcher.thread
    assert thread is not None and doorbells[-1] is not None
    hook.watcher.stop(timeout=TIMEOUT)
    assert not thread.is_alive()
    assert "closed" in repr(doorbells[-1])
