"""on_reload(): callbacks after every reload and rollback attempt."""

from __future__ import annotations

import logging

import pytest

import hookreload
from tests.conftest import Project


def test_events_for_success_failure_and_rollback(project: Project, hook: hookreload.Hook) -> None:
    events: list[hookreload.ReloadEvent] = []
    unsubscribe = hookreload.on_reload(events.append)
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    project.write("mod.py", "X = (\n")
    with pytest.raises(hookreload.ReloadError) as info:
        hookreload.reload(mod)
    hookreload.rollback(mod)
    unsubscribe()
    unsubscribe()  # idempotent
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)  # not seen: unsubscribed
    ok, failed, rolled = events
    assert (ok.name, ok.action) == (mod.__name__, "reload")
    assert ok.ok and ok.version is not None and ok.version.number == 2 and ok.error is None
    assert ok.duration_s >= 0
    assert not failed.ok and failed.version is None and failed.error is info.value
    assert rolled.action == "rollback" and rolled.version is not None
    assert rolled.version.number == 1


def test_callbacks_run_outside_the_lock_and_may_reload(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("a.py", "X = 1\n")
    project.write("b.py", "X = 1\n")
    a, b = project.load("a"), project.load("b")
    seen: list[str] = []

    def chain(event: hookreload.ReloadEvent) -> None:
        seen.append(event.name)
        if event.name == a.__name__:
            hookreload.reload(b)
        if event.name == b.__name__ and len(seen) < 3:
            hookreload.reload(a)

    hookreload.on_reload(chain)
    hookreload.reload(a)
    assert seen == [a.__name__, b.__name__, a.__name__, b.__name__]


def test_failing_callback_is_logged_not_raised(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: hookreload.ReloadEvent) -> None:
        raise RuntimeError("callback bug")

    calls: list[str] = []
    hookreload.on_reload(broken)
    hookreload.on_reload(lambda event: calls.append(event.name))
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    with caplog.at_level(logging.ERROR, logger="hookreload"):
        hookreload.reload(mod)
    assert calls == [mod.__name__]
    assert any("callback" in r.getMessage() and r.exc_info for r in caplog.records)


def test_on_reload_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="takes a callable"):
        hookreload.on_reload(3)  # type: ignore[arg-type]


def test_success_is_logged(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    with caplog.at_level(logging.INFO, logger="hookreload"):
        hookreload.reload(mod)
    assert any(f"reloaded {mod.__name__} v2 in" in r.getMessage() for r in caplog.records)
