"""The watcher: change detection, debounce, batches, backends, safe points, asyncio, uninstall.

Outcomes are awaited with bounded polls (``wait_until``), never with sleeps;
"nothing happened" is shown by a later change to a sentinel module that did
happen, since batches are handled in order. Debounce and batch logic is
tested without threads or clocks through the pure ``Debouncer`` and a fake
backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hookreload
from hookreload import _watch, _watch_backend
from hookreload._changes import Debouncer
from hookreload._sources import Sources
from hookreload._versions import all_records
from hookreload._watch import Settings, Watcher
from hookreload._watch_backend import BackendUnavailable, Batch, PollingBackend, Signal
from tests.conftest import Project

TIMEOUT = 10.0  # generous: a noisy 2-core machine must never fail these


def wait_until(predicate: Callable[[], object], timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or predicate}; "
                f"watcher: {_watch.current()!r}\n{_watcher_stacks()}"
            )
        time.sleep(0.002)


def _watcher_stacks() -> str:
    """Where the watcher threads are: what a timeout needs to be diagnosed."""
    frames = sys._current_frames()
    return "\n".join(
        f"--- {t.name}\n" + "".join(traceback.format_stack(frames[t.ident]))
        for t in watcher_threads()
        if t.ident in frames
    )


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == _watch.THREAD_NAME]


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    """Every test ends with no watcher running and its thread joined."""
    try:
        yield
    finally:
        hookreload.uninstall()
        watcher = _watch.current()
        if watcher is not None:
            watcher.stop()
        _watch._scan = None
        assert watcher_threads() == []


class Events(list[hookreload.ReloadEvent]):
    """The reload events seen, and the thread each one happened in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def __call__(self, event: hookreload.ReloadEvent) -> None:
        self.threads.append(threading.current_thread().name)
        self.append(event)


@pytest.fixture
def events() -> Events:
    seen = Events()
    hookreload.on_reload(seen)
    return seen


@pytest.fixture
def start_watcher() -> Iterator[Callable[..., Watcher]]:
    """Start a watcher with its own settings (the hook installed without watch=True)."""
    started: list[Watcher] = []

    def start(**settings: object) -> Watcher:
        watcher = _watch.start(Settings(**settings))  # type: ignore[arg-type]
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()
        assert watcher.thread is None or not watcher.thread.is_alive()


def reloaded(events: Events, name: str) -> list[int]:
    """The versions ``name`` was reloaded to, in order."""
    return [e.version.number for e in events if e.name == name and e.version is not None]


def wait_reloaded(events: Events, name: str, number: int) -> None:
    """Wait for the event of ``name``'s version ``number``.

    Not for the new value: the proxy switches before the callbacks run, so a
    test that saw the value may still be ahead of the event.
    """
    wait_until(lambda: number in reloaded(events, name), what=f"{name} v{number}")


def failures(events: Events, name: str) -> list[BaseException]:
    return [e.error for e in events if e.name == name and e.error is not None]


def sentinel_round(project: Project, events: Events, n: int) -> None:
    """Edit the sentinel module and wait until it reloaded: earlier changes were handled.

    Call it with n = 1, 2, ...; the first call imports the sentinel.
    """
    name = project.name("sentinel")
    if n == 1:
        project.write("sentinel.py", "N = 0\n")
        project.load("sentinel")
    project.write("sentinel.py", f"N = {n}\n")
    wait_until(lambda: n + 1 in reloaded(events, name), what=f"sentinel v{n + 1}")


# -- the pure parts: debounce and order ---------------------------------------------------


def test_debouncer_releases_a_batch_once_quiet() -> None:
    d = Debouncer(quiet=0.01, hold=0.5)
    d.add(["a.py"], at=1.0)
    d.add(["b.py", "a.py"], at=1.004)
    assert d.quiet_until() == pytest.approx(1.014)
    assert d.take(1.010, unsettled=lambda p: False) == []
    assert d.take(1.014, unsettled=lambda p: False) == ["a.py", "b.py"]
    assert len(d) == 0
    assert d.quiet_until() is None
    assert d.take(5.0, unsettled=lambda p: False) == []


def test_debouncer_holds_a_deleted_file_until_it_is_created_again() -> None:
    # delete then create: the path is missing for a moment.
    d = Debouncer(quiet=0.01, hold=0.5)
    state = {"a.py": "missing"}
    d.add(["a.py", "b.py"], at=0.0)
    assert d.take(0.02, unsettled=lambda p: state.get(p) == "missing") == ["b.py"]
    assert d.pending == ["a.py"]
    state["a.py"] = "written"
    d.add(["a.py"], at=0.1)
    assert d.take(0.105, unsettled=lambda p: False) == []  # not quiet yet
    assert d.take(0.11, unsettled=lambda p: state.get(p) == "missing") == ["a.py"]


def test_debouncer_holds_a_truncated_file_until_it_is_written() -> None:
    d = Debouncer(quiet=0.005, hold=0.5)
    empty = {"a.py": True}
    d.add(["a.py"], at=0.0)
    assert d.take(0.01, unsettled=lambda p: empty[p]) == []
    empty["a.py"] = False
    d.add(["a.py"], at=0.2)
    assert d.take(0.21, unsettled=lambda p: empty[p]) == ["a.py"]


def test_debouncer_lets_a_held_file_go_after_hold() -> None:
    # A file really deleted (or really emptied): its state is final after `hold`.
    d = Debouncer(quiet=0.01, hold=0.5)
    d.add(["a.py"], at=0.0)
    assert d.take(0.3, unsettled=lambda p: True) == []
    assert d.take(0.5, unsettled=lambda p: True) == ["a.py"]


def test_debouncer_refuses_negative_times() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Debouncer(quiet=-1, hold=0)
    assert "quiet=10 ms" in repr(Debouncer(0.01, 0.5))


class FakeBackend:
    """Yields the batches it was given, then stops: the watcher runs in the test's thread."""

    name = "fake"

    def __init__(self, *batches: list[str]) -> None:
        self.batches_to_give = batches

    def batches(
        self, sources: Sources, signal: Signal, due: Callable[[], float | None]
    ) -> Iterator[Batch]:
        for paths in self.batches_to_give:
            sources.refresh()
            # Long enough ago that the debounce is over.
            yield Batch(paths, time.monotonic() - 1.0)


def serve(*batches: list[str]) -> Watcher:
    watcher = Watcher(Settings(), backend=FakeBackend(*batches))
    watcher._serve()
    return watcher


def test_a_batch_without_imports_between_its_modules_reloads_in_import_order(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    project.write("sub/__init__.py", "P = 1\n")
    project.write("sub/low.py", "L = 1\n")
    project.write("high.py", "H = 1\n")
    project.load("sub.low")
    project.load("high")
    # Written in the reverse of the order they must reload in.
    paths = [
        str(project.write("high.py", "H = 2\n")),
        str(project.write("sub/low.py", "L = 2\n")),
        str(project.write("sub/__init__.py", "P = 2\n")),
    ]
    serve(paths)
    names = [e.name for e in events]
    assert names == [project.name("sub"), project.name("sub.low"), project.name("high")]
    assert all(e.ok for e in events)
    assert set(events.threads) == {threading.current_thread().name}


def test_a_batch_reloads_in_dependency_order_not_import_order(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    project.write("a.py", "A = 1\n")
    project.write("b.py", "B = 1\n")
    a = project.load("a")
    project.load("b")
    # a imported first, then made to take a name from b: b must reload first.
    project.write("a.py", "from .b import B\nA = B\n")
    hookreload.reload(a)
    events.clear()
    paths = [str(project.write("a.py", "from .b import B\nA = B\n# 2\n"))]
    paths.append(str(project.write("b.py", "B = 2\n")))
    serve(paths)
    assert [e.name for e in events] == [project.name("b"), project.name("a")]
    assert a.A == 2


def test_a_batch_reloads_an_import_cycle_in_the_order_it_first_loaded(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    # The package takes `thing` from its submodule, which takes CONFIG from the
    # package: the submodule finished loading first, and reloads first.
    project.write("__init__.py", "CONFIG = 1\nfrom .sub import thing\n")
    project.write("sub.py", "from . import CONFIG\nthing = ('thing', CONFIG)\n")
    pkg = project.load()
    project.load("sub")
    paths = [
        str(project.write("__init__.py", "CONFIG = 1\nfrom .sub import thing\nP = 2\n")),
        str(project.write("sub.py", "from . import CONFIG\nthing = ('new thing', CONFIG)\n")),
    ]
    serve(paths)
    assert [e.name for e in events] == [project.name("sub"), project.package]
    assert pkg.thing == ("new thing", 1)


def test_a_batch_skips_files_whose_content_did_not_change(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    # Without watch=True version 1 is hashed on first need, and a file
    # touched before that counts as changed: take the hash now.
    assert hookreload.versions(mod)[0].source_hash
    os.utime(path)  # a touch: new times, same bytes
    serve([str(path)], [str(path), str(project.path("unrelated.txt"))])
    assert events == []
    assert [v.number for v in hookreload.versions(mod)] == [1]


def test_a_failed_reload_is_reported_not_raised(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    path = str(project.write("mod.py", "X = 1\n"))
    mod = project.load("mod")
    project.write("mod.py", "X = (\n")
    serve([path])
    [error] = failures(events, project.name("mod"))
    assert isinstance(error, hookreload.ReloadError)
    assert "keeping version 1" in str(error)
    assert mod.X == 1
    project.write("mod.py", "X = 2\n")
    serve([path])
    assert mod.X == 2


# -- the events backend -------------------------------------------------------------------


def test_edit_reloads_through_file_events(project: Project, events: Events) -> None:
    hook = hookreload.install(include=[project.package], watch=True)
    assert hook.watcher is not None
    assert hook.watcher.backend.name == "events"
    [thread] = watcher_threads()
    assert thread.daemon
    project.write("mod.py", "def f():\n    return 1\n")
    mod = project.load("mod")
    project.write("mod.py", "def f():\n    return 2\n")
    wait_until(lambda: mod.f() == 2, what="v2")
    # The watch is up now: this one comes through an OS event.
    project.write("mod.py", "def f():\n    return 3\n")
    wait_reloaded(events, project.name("mod"), 3)
    assert mod.f() == 3
    assert reloaded(events, project.name("mod")) == [2, 3]
    assert set(events.threads) == {_watch.THREAD_NAME}


def test_a_change_watchfiles_does_not_pass_on_still_reloads(
    project: Project, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The doorbell rang, and watchfiles, asked, had nothing (it runs late under load).

    Here it never hands a change over at all: the watcher finds each by its
    change time, instead of waiting for a later change to ring.
    """
    real = _watch_backend._watchfiles_watch()

    def deaf(*args: object, **kwargs: object) -> Iterator[set[tuple[int, str]]]:
        for _ in real(*args, **kwargs):
            yield set()

    monkeypatch.setattr(_watch_backend, "_watchfiles_watch", lambda: deaf)
    hook = hookreload.install(include=[project.package], watch=True)
    assert hook.watcher is not None and hook.watcher.backend.name == "events"
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    # The first edit may come with the watch's first look; the second comes
    # after it, through the doorbell only.
    for n in (2, 3):
        project.write("mod.py", f"X = {n}\n")
        wait_reloaded(events, project.name("mod"), n)
    assert mod.X == 3


def test_install_with_watch_is_idempotent_and_checks_its_options(project: Project) -> None:
    hook = hookreload.install(include=[project.package], watch=True)
    assert hookreload.install(include=[project.package], watch=True) is hook
    with pytest.raises(ValueError, match="already installed with other options"):
        hookreload.install(include=[project.package], watch=True, poll=True)
    assert len(watcher_threads()) == 1


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"poll": True}, ValueError, "only apply with watch=True"),
        ({"reload_in": "safe-points"}, ValueError, "only apply with watch=True"),
        ({"watch": True, "reload_in": "later"}, ValueError, "reload_in must be"),
        ({"watch": True, "reload_in": 3}, TypeError, "reload_in must be"),
        ({"watch": True, "poll": 0}, ValueError, "poll must be"),
        ({"watch": True, "poll": -1.0}, ValueError, "poll must be"),
        ({"watch": True, "poll": float("nan")}, ValueError, "poll must be"),
        ({"watch": True, "poll": "1"}, ValueError, "poll must be"),
    ],
)
def test_bad_watch_options_are_refused(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        hookreload.install(include=["x"], **options)  # type: ignore[arg-type]
    assert watcher_threads() == []
    assert not any(type(f).__name__ == "HookFinder" for f in __import__("sys").meta_path)


def test_several_files_saved_together_reload_as_one_batch_in_order(
    project: Project,
    hook: hookreload.Hook,
    events: Events,
    start_watcher: Callable[..., Watcher],
) -> None:
    project.write("pkg/__init__.py", "P = 1\n")
    project.write("pkg/a.py", "A = 1\n")
    project.write("b.py", "B = 1\n")
    project.load("pkg.a")
    project.load("b")
    # A long quiet time, so the three saves surely land in one batch here.
    start_watcher(debounce=0.3)
    sentinel_round(project, events, 1)
    project.write("b.py", "B = 2\n")
    project.write("pkg/a.py", "A = 2\n")
    project.write("pkg/__init__.py", "P = 2\n")
    names = [project.name(n) for n in ("pkg", "pkg/a", "b")]
    wait_until(lambda: len([e for e in events if e.name in names]) == 3, what="three reloads")
    assert [e.name for e in events if e.name in names] == names


def test_module_imported_after_the_watcher_started_is_watched(
    project: Project, events: Events
) -> None:
    hookreload.install(include=[project.package], watch=True)
    sentinel_round(project, events, 1)  # the watcher is watching the package by now
    # In a directory that is not watched yet, and in one that is.
    project.write("later/deep.py", "D = 1\n")
    project.write("beside.py", "S = 1\n")
    deep = project.load("later.deep")
    beside = project.load("beside")
    project.write("later/deep.py", "D = 2\n")
    project.write("beside.py", "S = 2\n")
    wait_until(lambda: deep.D == 2 and beside.S == 2, what="both new modules reloaded")
    # And they keep being watched once the watch includes their directory.
    project.write("later/deep.py", "D = 3\n")
    wait_until(lambda: deep.D == 3, what="D = 3")


def test_notice_restarts_the_watch_for_a_new_directory(project: Project, events: Events) -> None:
    hook = hookreload.install(include=[project.package], watch=True)
    assert hook.watcher is not None
    sentinel_round(project, events, 1)
    project.write("fresh/mod.py", "F = 1\n")
    mod = project.load("fresh.mod")
    record = hookreload._versions.record_of(mod)
    assert record is not None
    _watch.notice(record)  # what the loader can call at each import
    project.write("fresh/mod.py", "F = 2\n")
    wait_until(lambda: mod.F == 2, what="F = 2")


def test_touch_without_changing_the_content_reloads_nothing(
    project: Project, events: Events
) -> None:
    hookreload.install(include=[project.package], watch=True)
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    sentinel_round(project, events, 1)
    os.utime(path)
    path.write_text("X = 1\n")  # rewritten with the same bytes
    sentinel_round(project, events, 2)
    assert reloaded(events, project.name("mod")) == []
    assert [v.number for v in hookreload.versions(mod)] == [1]


def test_broken_save_is_logged_once_and_the_next_good_save_recovers(
    project: Project,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hookreload")
    hookreload.install(include=[project.package], watch=True)
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    sentinel_round(project, events, 1)
    project.write("mod.py", "X = 1\nY = (\n")
    name = project.name("mod")
    wait_until(lambda: failures(events, name), what="the failure")
    sentinel_round(project, events, 2)
    [error] = failures(events, name)
    assert isinstance(error, hookreload.ReloadError)
    assert isinstance(error.__cause__, SyntaxError)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1
    for part in (repr(name), str(path), "line 2", "SyntaxError", "keeping version 1"):
        assert part in lines[0]
    assert mod.X == 1
    assert hookreload.versions(mod)[-1].number == 1
    project.write("mod.py", "X = 2\n")
    wait_reloaded(events, name, 2)
    assert mod.X == 2
    assert reloaded(events, name) == [2]


def test_module_raising_keyboard_interrupt_does_not_kill_the_watcher(
    project: Project,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hookreload.install(include=[project.package], watch=True)
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\nraise KeyboardInterrupt\n")
    wait_until(
        lambda: any("KeyboardInterrupt" in r.getMessage() for r in caplog.records),
        what="the logged interrupt",
    )
    assert mod.X == 1
    project.write("mod.py", "X = 3\n")
    wait_until(lambda: mod.X == 3, what="the recovery")
    assert len(watcher_threads()) == 1


def _save_in_steps(path: Path, source: str, how: str) -> None:
    """Save like an editor; the pause between the steps is the editor's, not a wait for us."""
    if how == "truncate-then-write":
        with open(path, "w") as f:
            f.flush()
            time.sleep(0.05)
            f.write(source)
    elif how == "temp-then-rename":
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(source)
        time.sleep(0.05)
        os.replace(tmp, path)
    elif how == "delete-then-create":
        path.unlink()
        time.sleep(0.05)
        path.write_text(source)
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncate-then-write", "temp-then-rename", "delete-then-create"])
@pytest.mark.parametrize("poll", [None, 0.02])
def test_editor_saves_in_several_steps_reload_once_complete(
    project: Project,
    hook: hookreload.Hook,
    events: Events,
    start_watcher: Callable[..., Watcher],
    how: str,
    poll: float | None,
) -> None:
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    # A hold far longer than the pause inside the save, even on a busy machine.
    start_watcher(poll=poll, hold=5.0)
    sentinel_round(project, events, 1)
    _save_in_steps(path, "X = 2\n", how)
    wait_until(lambda: mod.X == 2, what="X = 2")
    sentinel_round(project, events, 2)
    # Never an empty or missing intermediate: one good reload, no failure.
    name = project.name("mod")
    assert reloaded(events, name) == [2]
    assert failures(events, name) == []


def test_a_symlinked_source_is_watched_where_its_target_is(
    project: Project, events: Events, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real_mod.py"
    target.write_text("X = 1\n")
    project.path("linked.py").symlink_to(target)
    hookreload.install(include=[project.package], watch=True)
    mod = project.load("linked")
    sentinel_round(project, events, 1)
    target.write_text("X = 2\n")
    wait_until(lambda: mod.X == 2, what="X = 2")


def test_sources_follow_the_registry_and_report_what_changed(
    project: Project, hook: hookreload.Hook
) -> None:
    # Only this test's modules: those of earlier tests may still be alive.
    sources = Sources(lambda: (r for r in all_records() if r.name.split(".")[0] == project.package))
    assert not sources.refresh()
    a = project.write("a.py", "A = 1\n")
    project.load("a")
    assert sources.refresh()  # a new directory
    assert str(a) in sources
    assert sources.resolve(str(a)) == str(a)
    assert sources.resolve(str(project.path("other.py"))) is None
    assert not sources.refresh()
    init = str(project.path("__init__.py"))
    # Seen for the first time just after their import: checked once.
    assert sorted(sources.restat()) == sorted([init, str(a)])
    assert sources.restat() == []
    project.write("a.py", "A = 2\n")
    assert sources.restat() == [str(a)]
    assert sources.touched_since(time.time_ns() + 10**10) == []
    assert sorted(sources.touched_since(0)) == sorted([init, str(a)])
    b = project.write("b.py", "B = 1\n")
    b_mod = project.load("b")
    b_record = hookreload._versions.record_of(b_mod)
    assert b_record is not None
    assert not sources.note(b_record)  # a directory watched already
    assert not sources.refresh()
    assert sorted(sources.restat()) == [str(b)]
    assert not sources.unsettled(str(a))
    a.write_text("")
    assert sources.unsettled(str(a))  # emptied, where version 1 was not
    a.unlink()
    assert sources.unsettled(str(a))
    assert sources.mark_gone(str(a))
    assert not sources.mark_gone(str(a))
    assert sources.mark_present(str(a))
    assert not sources.mark_present(str(a))
    assert "3 files in 1 directories" in repr(sources)


# -- the polling backend ------------------------------------------------------------------


def test_edit_reloads_through_polling(project: Project, events: Events) -> None:
    hook = hookreload.install(include=[project.package], watch=True, poll=0.05)
    assert hook.watcher is not None
    assert isinstance(hook.watcher.backend, PollingBackend)
    assert hook.watcher.backend.interval == 0.05
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    wait_until(lambda: mod.X == 2, what="X = 2")
    project.write("mod.py", "X = 3\n")
    wait_reloaded(events, project.name("mod"), 3)
    assert mod.X == 3
    assert reloaded(events, project.name("mod")) == [2, 3]


def test_where_watchfiles_would_poll_the_watcher_polls_itself(
    project: Project,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """watchfiles' polling missed the second of two saves within one second; ours does not."""
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    hook = hookreload.install(include=[project.package], watch=True, poll=False)
    assert hook.watcher is not None
    assert isinstance(hook.watcher.backend, PollingBackend)
    assert "WATCHFILES_FORCE_POLLING" in caplog.text and "polling every 0.5 s" in caplog.text
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    wait_until(lambda: mod.X == 2, what="X = 2")
    project.write("mod.py", "X = 3\n")  # the same size, most likely the same second
    wait_reloaded(events, project.name("mod"), 3)
    assert reloaded(events, project.name("mod")) == [2, 3]


@pytest.mark.parametrize(
    ("value", "interval"),
    [("1", 0.5), ("yes", 0.5), ("0.05", 0.05), ("0", None), ("off", None), ("", None)],
)
def test_poll_environment_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, interval: float | None
) -> None:
    monkeypatch.setenv("HOOKRELOAD_POLL", value)
    assert _watch.poll_interval(None) == interval
    # An explicit argument wins over the environment.
    assert _watch.poll_interval(False) is None
    assert _watch.poll_interval(0.2) == 0.2


def test_bad_poll_environment_variable_is_logged_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HOOKRELOAD_POLL", "fast")
    assert _watch.poll_interval(None) is None
    assert "HOOKRELOAD_POLL='fast'" in caplog.text


def test_poll_environment_variable_selects_polling(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKRELOAD_POLL", "0.05")
    hook = hookreload.install(include=[project.package], watch=True)
    assert hook.watcher is not None
    assert isinstance(hook.watcher.backend, PollingBackend)
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    wait_until(lambda: mod.X == 2, what="X = 2")


def test_falls_back_to_polling_without_file_events(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> object:
        raise BackendUnavailable("no inotify here")

    monkeypatch.setattr(_watch_backend, "_watchfiles_watch", unavailable)
    monkeypatch.setattr(_watch, "DEFAULT_POLL_INTERVAL", 0.05)
    hook = hookreload.install(include=[project.package], watch=True)
    assert hook.watcher is not None
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    wait_until(lambda: mod.X == 2, what="X = 2")
    assert isinstance(hook.watcher.backend, PollingBackend)
    assert "no inotify here" in caplog.text
    assert "polling every 0.05 s instead" in caplog.text


def test_deleted_file_is_logged_once_and_reloads_when_restored(
    project: Project,
    hook: hookreload.Hook,
    events: Events,
    start_watcher: Callable[..., Watcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    watcher = start_watcher(poll=0.02, hold=0.1)
    backend = watcher.backend
    assert isinstance(backend, PollingBackend)
    sentinel_round(project, events, 1)
    path.unlink()
    name = project.name("mod")
    wait_until(lambda: failures(events, name), what="the deletion reported")
    polls = backend.polls
    wait_until(lambda: backend.polls >= polls + 10, what="ten more polls")
    [error] = failures(events, name)
    assert "the source file is gone" in str(error)
    assert "keeping version 1" in str(error)
    assert len([r for r in caplog.records if "is gone" in r.getMessage()]) == 1
    assert mod.X == 1
    path.write_text("X = 2\n")
    wait_reloaded(events, name, 2)
    assert mod.X == 2
    assert reloaded(events, name) == [2]


# -- where reloads run: safe points, an event loop ----------------------------------------


def test_safe_points_collect_and_reload_changed_reloads_in_the_caller(
    project: Project, events: Events
) -> None:
    hook = hookreload.install(include=[project.package], watch=True, reload_in="safe-points")
    watcher = hook.watcher
    assert watcher is not None
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    assert hookreload.reload_changed() == []
    project.write("mod.py", "X = 2\n")
    wait_until(lambda: watcher.pending == [str(path)], what="the change collected")
    assert mod.X == 1  # collected, not reloaded
    [result] = hookreload.reload_changed()
    assert result.ok
    assert result.name == project.name("mod")
    assert result.version is not None and result.version.number == 2
    assert mod.X == 2
    assert events.threads == [threading.current_thread().name]
    assert hookreload.reload_changed() == []


def test_safe_points_report_errors_without_raising(project: Project, events: Events) -> None:
    hook = hookreload.install(include=[project.package], watch=True, reload_in="safe-points")
    assert hook.watcher is not None
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\nraise ValueError('bad')\n")
    watcher = hook.watcher
    wait_until(lambda: watcher.pending, what="the change collected")
    [result] = hookreload.reload_changed()
    assert not result.ok
    assert isinstance(result.error, hookreload.ReloadError)
    assert isinstance(result.error.__cause__, ValueError)
    assert mod.X == 1
    assert failures(events, project.name("mod")) == [result.error]


def test_reloads_run_on_the_event_loop(project: Project, events: Events) -> None:
    project.write("mod.py", "X = 1\n")

    async def main() -> str:
        loop = asyncio.get_running_loop()
        hook = hookreload.install(include=[project.package], watch=True, reload_in=loop)
        try:
            mod = project.load("mod")
            project.write("mod.py", "X = 2\n")
            deadline = loop.time() + TIMEOUT
            while mod.X != 2:
                assert loop.time() < deadline, "timed out waiting for X = 2"
                await asyncio.sleep(0.002)
            return threading.current_thread().name
        finally:
            hook.uninstall()

    loop_thread = asyncio.run(main())
    assert events.threads == [loop_thread]


def test_a_closed_loop_leaves_changes_for_reload_changed(
    project: Project, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    hook = hookreload.install(include=[project.package], watch=True, reload_in=loop)
    assert hook.watcher is not None
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    watcher = hook.watcher
    # The change is collected first, then the loop is found closed.
    wait_until(lambda: "cannot reload on the event loop" in caplog.text, what="the warning")
    assert watcher.pending
    assert [e.name for e in hookreload.reload_changed()] == [project.name("mod")]
    assert mod.X == 2


# -- reload_changed() without a watcher ---------------------------------------------------


def test_reload_changed_without_a_watcher_scans_the_files(
    project: Project, hook: hookreload.Hook, events: Events
) -> None:
    project.write("mod.py", "X = 1\n")
    project.write("other.py", "Y = 1\n")
    mod = project.load("mod")
    project.load("other")
    assert hookreload.reload_changed() == []
    project.write("mod.py", "X = 2\n")
    [result] = hookreload.reload_changed()
    assert result.ok and result.name == project.name("mod")
    assert mod.X == 2
    assert hookreload.reload_changed() == []
    # A broken save is attempted once, not at every call.
    project.write("mod.py", "X = (\n")
    [result] = hookreload.reload_changed()
    assert not result.ok
    assert hookreload.reload_changed() == []
    assert len(failures(events, project.name("mod"))) == 1
    assert mod.X == 2


def test_reload_changed_sees_an_edit_right_after_the_import(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    assert [e.name for e in hookreload.reload_changed()] == [project.name("mod")]
    assert mod.X == 2


# -- dependents: the modules that took names from a reloaded one -------------------------


def _shop(project: Project) -> dict[str, types.ModuleType]:
    """models; views and api that took names from it, directly or through views; others that did not."""
    project.write("models.py", "class Model:\n    version = 1\n")
    project.write(
        "views.py", "from .models import Model\n\ndef version():\n    return Model.version\n"
    )
    project.write("api.py", "from .views import version\n")
    project.write(
        "lazy.py", "def version():\n    from .models import Model\n    return Model.version\n"
    )
    project.write("plain.py", "from . import models\n")
    return {name: project.load(name) for name in ("models", "views", "api", "lazy", "plain")}


def _causes(events: Events) -> list[tuple[str, str | None]]:
    """Each event's module and cause, short names, in order."""

    def short(name: str | None) -> str | None:
        return None if name is None else name.rpartition(".")[2]

    return [(short(e.name) or "", short(e.cause)) for e in events]


def test_dependents_reload_after_the_module_they_took_names_from(
    project: Project, events: Events
) -> None:
    hookreload.install(include=[project.package], dependents=True)
    shop = _shop(project)
    project.write("models.py", "class Model:\n    version = 2\n")
    results = hookreload.reload_changed()
    assert _causes(events) == [("models", None), ("views", "models"), ("api", "views")]
    assert results == list(events)
    assert all(e.ok for e in results)
    assert "after 'hr_test_" in repr(results[1])
    assert shop["views"].version() == shop["api"].version() == 2
    # Those that took no name reach the new version by themselves, and were not reloaded.
    assert shop["lazy"].version() == shop["plain"].models.Model.version == 2
    assert [v.number for v in hookreload.versions(shop["lazy"])] == [1]
    assert hookreload.reload_changed() == []


def test_without_dependents_the_copies_stay_old(project: Project, hook: hookreload.Hook) -> None:
    assert not hook.dependents
    shop = _shop(project)
    project.write("models.py", "class Model:\n    version = 2\n")
    assert [e.name for e in hookreload.reload_changed()] == [project.name("models")]
    assert shop["views"].version() == 1
    assert shop["lazy"].version() == 2


def test_dependents_through_the_watcher(project: Project, events: Events) -> None:
    hookreload.install(include=[project.package], watch=True, dependents=True)
    shop = _shop(project)
    sentinel_round(project, events, 1)
    events.clear()
    project.write("models.py", "class Model:\n    version = 2\n")
    wait_reloaded(events, project.name("api"), 2)
    assert _causes(events) == [("models", None), ("views", "models"), ("api", "views")]
    assert set(events.threads) == {_watch.THREAD_NAME}
    assert shop["api"].version() == 2


def test_a_failing_dependent_is_reported_and_the_module_stays_reloaded(
    project: Project, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hookreload")
    hookreload.install(include=[project.package], dependents=True)
    shop = _shop(project)
    project.write(
        "views.py",
        "from .models import Model\nassert Model.version < 3, 'too new'\n\n"
        "def version():\n    return Model.version\n",
    )
    hookreload.reload(shop["views"], dependents=False)
    events.clear()
    project.write("models.py", "class Model:\n    version = 3\n")
    results = hookreload.reload_changed()
    # api took names from views, which kept its version: api is left alone.
    assert _causes(events) == [("models", None), ("views", "models")]
    assert [e.ok for e in results] == [True, False]
    error = results[1].error
    assert isinstance(error, hookreload.ReloadError)
    assert "AssertionError" in str(error) and "keeping version 2" in str(error)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [str(error)]
    assert shop["models"].Model.version == 3  # not undone
    assert shop["views"].version() == 1
    assert [v.number for v in hookreload.versions(shop["api"])] == [1]


def test_dependents_already_in_the_batch_reload_once(project: Project, events: Events) -> None:
    hookreload.install(include=[project.package], dependents=True)
    shop = _shop(project)
    project.write("models.py", "class Model:\n    version = 2\n")
    project.write(
        "views.py", "from .models import Model\n\ndef version():\n    return -Model.version\n"
    )
    hookreload.reload_changed()
    assert _causes(events) == [("models", None), ("views", None), ("api", "views")]
    assert shop["api"].version() == -2


def test_reload_reloads_dependents_as_asked_or_as_the_hook_says(
    project: Project, events: Events
) -> None:
    hook = hookreload.install(include=[project.package])
    shop = _shop(project)
    hookreload.reload(shop["models"])
    assert _causes(events) == [("models", None)]
    events.clear()
    version = hookreload.reload(shop["models"], dependents=True)
    assert version.number == 3
    assert _causes(events) == [("models", None), ("views", "models"), ("api", "views")]
    hook.uninstall()
    hookreload.install(include=[project.package], dependents=True)
    events.clear()
    hookreload.reload(shop["models"], dependents=False)
    assert _causes(events) == [("models", None)]
    events.clear()
    hookreload.reload(project.name("models"))
    assert _causes(events) == [("models", None), ("views", "models"), ("api", "views")]
    # A failed reload raises as ever, and reloads no dependent.
    events.clear()
    project.write("models.py", "class Model(:\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(shop["models"])
    assert _causes(events) == [("models", None)]


def test_install_dependents_option(project: Project) -> None:
    hook = hookreload.install(include=[project.package], dependents=True)
    assert hook.dependents
    assert "dependents=True" in repr(hook)
    assert hookreload.install(include=[project.package], dependents=True) is hook
    with pytest.raises(ValueError, match="already installed with other options"):
        hookreload.install(include=[project.package])
    hook.uninstall()
    with pytest.raises(ValueError, match="dependents must be True or False"):
        hookreload.install(include=[project.package], dependents="yes")  # type: ignore[arg-type]
    assert not hookreload.install(include=[project.package]).dependents


# -- stopping -----------------------------------------------------------------------------


def test_uninstall_stops_and_joins_the_watcher_thread(project: Project) -> None:
    before = set(threading.enumerate())
    hook = hookreload.install(include=[project.package], watch=True)
    project.write("mod.py", "X = 1\n")
    project.load("mod")
    [thread] = watcher_threads()
    hookreload.uninstall()
    assert not thread.is_alive()
    assert set(threading.enumerate()) == before
    assert hook.watcher is None
    assert _watch.current() is None
    hook.uninstall()  # twice is fine


def test_uninstall_from_inside_a_reload_does_not_deadlock(project: Project, events: Events) -> None:
    hookreload.install(include=[project.package], watch=True)
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "import hookreload\nX = 2\nhookreload.uninstall()\n")
    wait_until(lambda: mod.X == 2, what="X = 2")
    wait_until(lambda: not watcher_threads(), what="the watcher thread to end")


def test_watcher_starts_once() -> None:
    watcher = Watcher(Settings(), backend=FakeBackend())
    watcher.start()
    try:
        with pytest.raises(RuntimeError, match="starts once"):
            watcher.start()
    finally:
        watcher.stop()
    assert not watcher.running
    assert "stopped" in repr(watcher)


def test_a_second_event_for_the_same_broken_save_reports_nothing(
    project: Project, hook: hookreload.Hook
) -> None:
    # An editor's save can come as two events that land in two batches (seen
    # with two uvicorn workers): the broken content is tried, and reported, once.
    sources = Sources(lambda: (r for r in all_records() if r.name.split(".")[0] == project.package))
    path = project.write("a.py", "A = 1\n")
    mod = project.load("a")
    sources.refresh()
    path.write_text("A = (\n")
    first = _watch.reload_paths(sources, [str(path)])
    assert [event.ok for event in first] == [False]
    assert _watch.reload_paths(sources, [str(path)]) == []
    # Saved again, the same bytes: a new save (its stat moved), tried again.
    path.write_text("A = (\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert [event.ok for event in _watch.reload_paths(sources, [str(path)])] == [False]
    path.write_text("A = 2\n")
    assert [event.ok for event in _watch.reload_paths(sources, [str(path)])] == [True]
    assert mod.A == 2
    # The same broken content after a good one is a new save: tried, and reported, again.
    path.write_text("A = (\n")
    assert [event.ok for event in _watch.reload_paths(sources, [str(path)])] == [False]
