"""Patch mode in reload events and the log: what was patched, added, removed, replaced."""

from __future__ import annotations

import logging

import pytest

import hookreload
from tests.conftest import Project
from tests.patching import edit, hook, load

__all__ = ["hook"]

BEFORE = """
def kept():
    return 1
def gone():
    return 1
def make():
    def inner():
        return 1
    return inner
inner = make()
class Shape:
    def area(self):
        return 1
    def old_method(self):
        return 1
class Point:
    __slots__ = ("x",)
"""

AFTER = """
def kept():
    return 2
def make():
    y = 2
    def inner():
        return y
    return inner
inner = make()
class Shape:
    def area(self):
        return 2
    def new_method(self):
        return 2
class Point:
    __slots__ = ("x", "y")
def fresh():
    return 2
class Fresh:
    pass
"""


def test_the_event_lists_patched_added_removed_and_replaced(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, BEFORE)
    event = edit(project, mod, AFTER)
    assert event.ok and event.action == "reload"
    assert event.patched == ("kept", "make", "Shape", "Shape.area")
    assert event.added == ("fresh", "Fresh", "Shape.new_method")
    assert event.removed == ("gone", "Shape.old_method")
    assert set(event.replaced) == {"make.<locals>.inner", "Point"}
    assert "free variables none -> (y)" in event.replaced["make.<locals>.inner"]
    assert "__slots__" in event.replaced["Point"]


def test_a_rollback_event_lists_what_got_its_previous_code_back(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, BEFORE)
    edit(project, mod, AFTER)
    events: list[hookreload.ReloadEvent] = []
    hookreload.on_reload(events.append)
    hookreload.rollback(mod)
    [event] = events
    assert event.action == "rollback"
    assert event.patched == ("kept", "make", "Shape", "Shape.area")
    assert (event.added, event.removed, event.replaced) == ((), (), {})


def test_a_failed_reload_reports_nothing_patched(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, BEFORE)
    events: list[hookreload.ReloadEvent] = []
    hookreload.on_reload(events.append)
    project.write("mod.py", AFTER + "\nraise RuntimeError\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    [event] = events
    assert not event.ok
    assert (event.patched, event.added, event.removed, event.replaced) == ((), (), (), {})


def test_the_log_says_what_the_patch_did_and_warns_of_replacements(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    mod = load(project, BEFORE)
    with caplog.at_level(logging.INFO, logger="hookreload"):
        edit(project, mod, AFTER)
    messages = [r.getMessage() for r in caplog.records]
    name = project.name("mod")
    assert any(
        m.startswith(f"reloaded {name} v2 in ")
        and m.endswith("(patched 4, added 3, removed 2, replaced 2)")
        for m in messages
    ), messages
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any(
        f"{name}: replaced Point instead of patching it: its __slots__" in w for w in warnings
    )


def test_nothing_to_patch_logs_the_plain_line(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    mod = load(project, "X = 1\n")
    with caplog.at_level(logging.INFO, logger="hookreload"):
        event = edit(project, mod, "X = 2\n")
    assert event.patched == ()
    assert any(r.getMessage().endswith(" ms") for r in caplog.records)
