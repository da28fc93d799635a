"""reload(), rollback(), current(), versions(): the contract's semantics."""

from __future__ import annotations

import types

import pytest

import hookreload
from tests.conftest import Project


def test_import_gives_a_proxy_that_is_a_module(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\ndef f(a):\n    return a + X\n")
    mod = project.load("mod")
    assert hookreload.is_proxy(mod)
    assert isinstance(mod, types.ModuleType)
    assert mod.f(1) == 2
    [v1] = hookreload.versions(mod)
    assert v1.number == 1
    assert v1.module is hookreload.current(mod)
    assert hookreload.current(mod) is not mod
    assert hookreload.current(mod).__dict__ is mod.__dict__


def test_reload_switches_to_new_source(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\ndef f(a):\n    return a + X\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 10\ndef f(a):\n    return a * X\n")
    version = hookreload.reload(mod)
    assert version.number == 2
    assert mod.f(2) == 20
    assert mod.f.__globals__ is mod.__dict__
    assert [v.number for v in hookreload.versions(mod)] == [1, 2]


def test_reload_by_name(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    hookreload.reload(project.name("mod"))
    assert mod.X == 2


def test_same_size_edit_within_the_same_second_is_seen(
    project: Project, hook: hookreload.Hook
) -> None:
    import os

    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    stat = os.stat(path)
    path.write_text("X = 2\n")
    # Same size, same mtime: a .pyc check by mtime and size would miss it.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    hookreload.reload(mod)
    assert mod.X == 2


def test_failed_reload_changes_nothing(project: Project, hook: hookreload.Hook) -> None:
    path = project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    before = dict(mod.__dict__)
    live = hookreload.current(mod)
    project.write("mod.py", "X = 2\nraise RuntimeError('boom')\n")
    with pytest.raises(hookreload.ReloadError) as info:
        hookreload.reload(mod)
    assert isinstance(info.value.__cause__, RuntimeError)
    message = str(info.value)
    assert project.name("mod") in message
    assert str(path) in message
    assert "line 2" in message
    assert "keeping version 1" in message
    assert info.value.lineno == 2
    assert dict(mod.__dict__) == before
    assert hookreload.current(mod) is live
    assert [v.number for v in hookreload.versions(mod)] == [1]


def test_syntax_error_is_a_reload_error(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = (\n")
    with pytest.raises(hookreload.ReloadError, match="SyntaxError") as info:
        hookreload.reload(mod)
    assert isinstance(info.value.__cause__, SyntaxError)
    assert mod.X == 1


def test_version_numbers_never_repeat(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    hookreload.rollback(mod)
    assert mod.X == 1
    project.write("mod.py", "X = 3\n")
    assert hookreload.reload(mod).number == 3


def test_rollback_restores_previous_version_as_it_was(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "STATE = []\n")
    mod = project.load("mod")
    mod.STATE.append("kept")
    first = hookreload.current(mod)
    project.write("mod.py", "STATE = ['new']\n")
    hookreload.reload(mod)
    assert mod.STATE == ["new"]
    previous = hookreload.rollback(mod)
    assert previous.number == 1
    assert hookreload.current(mod) is first
    assert mod.STATE == ["kept"]
    with pytest.raises(hookreload.ReloadError, match="oldest one kept"):
        hookreload.rollback(mod)


def test_only_current_and_previous_are_kept(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 0\n")
    mod = project.load("mod")
    released = hookreload.versions(mod)[0]
    for n in range(1, 5):
        project.write("mod.py", f"X = {n}\n")
        hookreload.reload(mod)
    assert [v.number for v in hookreload.versions(mod)] == [4, 5]
    assert released.module is None
    assert "released" in repr(released)


def test_keep_option(project: Project) -> None:
    with hookreload.install(include=[project.package], keep=3):
        project.write("mod.py", "X = 0\n")
        mod = project.load("mod")
        for n in range(1, 5):
            project.write("mod.py", f"X = {n}\n")
            hookreload.reload(mod)
        assert [v.number for v in hookreload.versions(mod)] == [3, 4, 5]


def test_reload_hook_carries_state(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "COUNT = 0\n")
    mod = project.load("mod")
    mod.COUNT = 41
    project.write(
        "mod.py",
        """
        COUNT = 0
        def __reload__(old):
            global COUNT
            COUNT = old.COUNT + 1
        """,
    )
    hookreload.reload(mod)
    assert mod.COUNT == 42


def test_failing_reload_hook_changes_nothing(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\ndef __reload__(old):\n    raise ValueError('no')\n")
    with pytest.raises(hookreload.ReloadError, match="in __reload__") as info:
        hookreload.reload(mod)
    assert isinstance(info.value.__cause__, ValueError)
    assert mod.X == 1


def test_reload_hook_must_be_callable(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "__reload__ = 3\n")
    with pytest.raises(hookreload.ReloadError, match="must be a function"):
        hookreload.reload(mod)


def test_system_exit_at_import_does_not_end_the_program(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "import sys\nsys.exit(3)\n")
    with pytest.raises(hookreload.ReloadError, match="SystemExit"):
        hookreload.reload(mod)
    assert mod.X == 1


def test_keyboard_interrupt_propagates_and_changes_nothing(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = 2\nraise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        hookreload.reload(mod)
    assert mod.X == 1
    assert type(mod) is types.ModuleType


def test_reload_inside_own_reload_is_refused(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write(
        "mod.py",
        """
        import hookreload
        def __reload__(old):
            hookreload.reload(__name__)
        """,
    )
    with pytest.raises(hookreload.ReloadError, match="from inside its own reload"):
        hookreload.reload(mod)
    assert mod.X == 1
