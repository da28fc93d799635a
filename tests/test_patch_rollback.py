"""Patch mode as part of the version: rollback, failures part-way, memory, switching it.

jurigged's ``test_merge_back_and_forth`` and its recoder's ``revert``;
autoreload's smoke test (a failed reload, then a good one, then a deleted
file); and the issue's own: a rollback restores the previous code in the
same objects, a patch that fails part-way leaves the old code everywhere.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator

import pytest

import hookreload
from hookreload import _patch, _proxy
from tests.conftest import Project
from tests.patching import edit, hook, load

__all__ = ["hook"]

SOURCE = """
def inflate(x):
    return x * {n}
class Circle:
    KIND = "{kind}"
    def volume(self):
        return {n}
    {extra}
class Settings:
    def __init__(self):
        self.level = {n}
SETTINGS = Settings()
"""


def _source(n: int, kind: str = "flat", extra: str = "") -> str:
    return SOURCE.format(n=n, kind=kind, extra=extra)


def test_rollback_restores_the_previous_code_in_the_same_objects(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, _source(2))
    inflate, circle_cls, settings = mod.inflate, mod.Circle, mod.SETTINGS
    circle = circle_cls()
    edit(project, mod, _source(3, "round", "def extra(self):\n        return 'extra'"))
    assert (inflate(5), circle.volume(), circle.KIND, circle.extra(), settings.level) == (
        15,
        3,
        "round",
        "extra",
        3,
    )
    events: list[hookreload.ReloadEvent] = []
    hookreload.on_reload(events.append)
    assert hookreload.rollback(mod).number == 1
    assert mod.inflate is inflate and mod.Circle is circle_cls and mod.SETTINGS is settings
    assert (inflate(5), circle.volume(), circle.KIND, settings.level) == (10, 2, "flat", 2)
    assert not hasattr(circle, "extra")
    # The old functions read the namespace of the version live again.
    assert inflate.__globals__ is mod.__dict__
    assert "inflate" in events[0].patched
    assert (events[0].added, events[0].removed, events[0].replaced) == ((), (), {})


def test_back_and_forth(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's test_merge_back_and_forth, by edits and by rollbacks.
    mod = load(project, _source(2))
    inflate, circle = mod.inflate, mod.Circle()
    volume = circle.volume
    for _ in range(3):
        edit(project, mod, _source(3))
        assert (inflate(5), volume()) == (15, 3)
        edit(project, mod, _source(2))
        assert (inflate(5), volume()) == (10, 2)
    for _ in range(3):
        edit(project, mod, _source(4))
        assert (inflate(5), volume()) == (20, 4)
        hookreload.rollback(mod)
        assert (inflate(5), volume()) == (10, 2)


def test_rollback_restores_changed_bases(project: Project, hook: hookreload.Hook) -> None:
    mixin = "class Base:\n    pass\nclass Mixin:\n    def mixed(self):\n        return 'mixed'\n"
    mod = load(project, mixin + "class Child(Base):\n    pass\n")
    child = mod.Child()
    edit(project, mod, mixin + "class Child(Base, Mixin):\n    pass\n")
    assert child.mixed() == "mixed"
    hookreload.rollback(mod)
    assert mod.Child.__bases__ == (mod.Base,)
    assert not hasattr(child, "mixed")


def test_bases_that_cannot_change_in_place_replace_the_class(
    project: Project, hook: hookreload.Hook
) -> None:
    # CPython refuses to change the bases of a class whose only base is object.
    mixin = "class Mixin:\n    def mixed(self):\n        return 'mixed'\n"
    mod = load(project, mixin + "class Child:\n    pass\n")
    child_cls = mod.Child
    event = edit(project, mod, mixin + "class Child(Mixin):\n    pass\n")
    assert mod.Child is not child_cls
    assert "bases changed" in event.replaced["Child"]
    assert mod.Child().mixed() == "mixed"


def test_rollback_with_keep_3_undoes_one_version_at_a_time(project: Project) -> None:
    with hookreload.install(include=[project.package], patch=True, keep=3):
        mod = load(project, _source(1))
        inflate = mod.inflate
        edit(project, mod, _source(2))
        edit(project, mod, _source(3))
        assert inflate(1) == 3
        hookreload.rollback(mod)
        assert inflate(1) == 2
        hookreload.rollback(mod)
        assert inflate(1) == 1


def test_a_failed_reload_changes_nothing(project: Project, hook: hookreload.Hook) -> None:
    # autoreload's smoke test: a syntax error, then a good save, then the file gone.
    mod = load(project, _source(2))
    inflate, circle = mod.inflate, mod.Circle()
    project.write("mod.py", "a syntax error\n")
    with pytest.raises(hookreload.ReloadError, match="SyntaxError"):
        hookreload.reload(mod)
    project.write("mod.py", _source(5) + "\nraise RuntimeError('late')\n")
    with pytest.raises(hookreload.ReloadError, match="RuntimeError while executing"):
        hookreload.reload(mod)
    assert (inflate(1), circle.volume()) == (2, 2)
    edit(project, mod, _source(3))
    assert (inflate(1), circle.volume()) == (3, 3)
    project.path("mod.py").unlink()
    with pytest.raises(hookreload.ReloadError, match="gone"):
        hookreload.reload(mod)
    assert (inflate(1), circle.volume()) == (3, 3)


class _Boom(Exception):
    pass


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, cls: type, number: int) -> list[object]:
    """Make the ``number``-th ``cls.apply`` raise (after changing its object, as a half-done step)."""
    calls: list[object] = []
    original = cls.apply  # type: ignore[attr-defined]

    def apply(step: object) -> None:
        calls.append(step)
        original(step)
        if len(calls) == number:
            raise _Boom("injected")

    monkeypatch.setattr(cls, "apply", apply)
    return calls


@pytest.mark.parametrize(
    ("step", "number"),
    [
        (_patch._FunctionStep, 1),
        (_patch._FunctionStep, 3),
        (_patch._ClassStep, 2),
        (_patch._InstanceStep, 1),
    ],
)
def test_a_patch_failing_part_way_leaves_the_old_code_everywhere(
    project: Project,
    hook: hookreload.Hook,
    monkeypatch: pytest.MonkeyPatch,
    step: type,
    number: int,
) -> None:
    mod = load(project, _source(2))
    namespace = mod.__dict__
    inflate, circle_cls, settings = mod.inflate, mod.Circle, mod.SETTINGS
    circle = circle_cls()
    state = (
        inflate.__code__,
        inflate.__globals__,
        dict(vars(circle_cls)),
        dict(vars(settings)),
    )
    calls = _fail_on_call(monkeypatch, step, number)
    project.write("mod.py", _source(3, "round", "def extra(self):\n        return 1"))
    with pytest.raises(hookreload.ReloadError, match="_Boom while patching: injected") as info:
        hookreload.reload(mod)
    assert len(calls) == number
    assert project.name("mod") in str(info.value) and "keeping version 1" in str(info.value)
    assert (
        inflate.__code__,
        inflate.__globals__,
        dict(vars(circle_cls)),
        dict(vars(settings)),
    ) == state
    assert (inflate(5), circle.volume(), circle.KIND, settings.level) == (10, 2, "flat", 2)
    assert mod.__dict__ is namespace
    assert [v.number for v in hookreload.versions(mod)] == [1]
    monkeypatch.undo()
    edit(project, mod, _source(3))
    assert (inflate(5), circle.volume()) == (15, 3)


# A wrapper whose __wrapped__ cannot be set, around a function whose closure
# changes shape: patching it fails, after the other functions were patched.
READ_ONLY_LIB = """
import weakref

class ReadOnly:
    def __init__(self, fn):
        self._fn = fn
    @property
    def __wrapped__(self):
        return self._fn
    def __call__(self, *args):
        return self._fn(*args)

class Marker:
    made = []
    def __init__(self):
        Marker.made.append(weakref.ref(self))
"""
READ_ONLY_SOURCE = """
from .lib import Marker, ReadOnly
MARK = Marker()
def first():
    return {n}
def make():
    {cell}
    def inner():
        return {value}
    return inner
wrapped = ReadOnly(make())
"""


def test_a_wrapper_that_cannot_be_rewired_fails_the_reload_cleanly(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("lib.py", READ_ONLY_LIB)
    mod = load(project, READ_ONLY_SOURCE.format(n=1, cell="pass", value="1"))
    first = mod.first
    project.write("mod.py", READ_ONLY_SOURCE.format(n=2, cell="y = 2", value="y"))
    with pytest.raises(hookreload.ReloadError, match="while patching"):
        hookreload.reload(mod)
    assert first() == 1
    assert mod.wrapped() == 1


def test_a_patch_that_fails_part_way_leaves_no_version_behind(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Undone, the patch pins the failed version's namespace for frames that
    # started its code meanwhile; the pin must end with them, not wait for
    # a code that namespace itself holds.
    # pytest keeps the log records of a test, and with them the tracebacks of
    # the errors logged, whose frames hold the failed versions.
    monkeypatch.setattr(logging.getLogger("hookreload"), "disabled", True)
    project.write("lib.py", READ_ONLY_LIB)
    mod = load(project, READ_ONLY_SOURCE.format(n=1, cell="pass", value="1"))
    for n in range(2, 5):
        project.write("mod.py", READ_ONLY_SOURCE.format(n=n, cell="y = 2", value="y"))
        with pytest.raises(hookreload.ReloadError, match="while patching"):
            hookreload.reload(mod)
    # Twice: the first collection frees the last failure's traceback, whose
    # frames still reach that failed version; the second frees the version.
    gc.collect()
    gc.collect()
    made = sys.modules[project.name("lib")].Marker.made
    assert [mark() is not None for mark in made] == [True, False, False, False]
    assert mod.first() == 1


def test_a_keyboard_interrupt_while_patching_undoes_and_propagates(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = load(project, _source(2))
    inflate = mod.inflate

    def interrupt(step: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_patch._ClassStep, "apply", interrupt)
    project.write("mod.py", _source(3))
    with pytest.raises(KeyboardInterrupt):
        hookreload.reload(mod)
    assert inflate(1) == 2
    assert type(mod) is types.ModuleType


def test_a_rollback_failing_part_way_keeps_the_live_version(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = load(project, _source(2))
    inflate, circle = mod.inflate, mod.Circle()
    edit(project, mod, _source(3))
    original = _patch._ClassStep.revert

    def revert(step: _patch._Step) -> None:
        original(step)
        raise _Boom("injected")

    monkeypatch.setattr(_patch._ClassStep, "revert", revert)
    with pytest.raises(hookreload.ReloadError, match="while restoring the previous code") as info:
        hookreload.rollback(mod)
    assert "keeping version 2" in str(info.value)
    assert (inflate(1), circle.volume()) == (3, 3)
    assert [v.number for v in hookreload.versions(mod)] == [1, 2]
    monkeypatch.undo()
    hookreload.rollback(mod)
    assert (inflate(1), circle.volume()) == (2, 2)


def test_switching_patch_mode_at_run_time(project: Project, hook: hookreload.Hook) -> None:
    assert hook.patch is True
    mod = load(project, "def f():\n    return 1\n")
    f = mod.f
    hook.patch = False
    edit(project, mod, "def f():\n    return 2\n")
    assert (f(), mod.f()) == (1, 2)
    hook.patch = True
    g = mod.f
    edit(project, mod, "def f():\n    return 3\n")
    assert (f(), g(), mod.f()) == (1, 3, 3)
    with pytest.raises(ValueError, match="patch must be True or False"):
        hook.patch = "yes"  # type: ignore[assignment]
    assert "patch=True" in repr(hook)
    assert hookreload.install(include=[project.package], patch=True) is hook
    with pytest.raises(ValueError, match="other options"):
        hookreload.install(include=[project.package])


def test_after_uninstall_reloads_do_not_patch(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "def f():\n    return 1\n")
    f = mod.f
    hook.uninstall()
    edit(project, mod, "def f():\n    return 2\n")
    assert (f(), mod.f()) == (1, 2)


def test_patch_is_refused_as_a_non_bool() -> None:
    with pytest.raises(ValueError, match="patch must be True or False"):
        hookreload.install(patch=1)  # type: ignore[arg-type]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting may free anything (as in test_reclaim.py)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


MEMORY = """
from .lib import Marker
DATA = bytearray(100_000)
MARK = Marker()
def size():
    return len(DATA)
class Sized:
    def size(self):
        return len(DATA) + {n}
"""


def test_released_versions_are_freed_in_patch_mode(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    project.write("lib.py", "class Marker:\n    pass\n")
    mod = load(project, MEMORY.format(n=0))
    size, sized = mod.size, mod.Sized()
    marks = [weakref.ref(mod.MARK)]
    for n in range(1, 6):
        edit(project, mod, MEMORY.format(n=n))
        marks.append(weakref.ref(mod.MARK))
    # Versions 1 to 4 are released; neither the patched functions nor the
    # new classes the patches did not keep hold their namespaces, so they
    # were freed at once, although those functions are still in use.
    assert [mark() is None for mark in marks] == [True] * 4 + [False] * 2
    assert (size(), sized.size()) == (100_000, 100_005)


def test_a_new_class_still_used_elsewhere_is_left_whole(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    project.write("lib.py", "REGISTRY = []\n")
    source = """
        from . import lib
        class Handler:
            def handle(self):
                return {n}
        lib.REGISTRY.append(Handler())  # out of the new version's sight
    """
    mod = load(project, source.format(n=1))
    registry = sys.modules[project.name("lib")].REGISTRY
    for n in (2, 3):
        edit(project, mod, source.format(n=n))
    # The first was made by version 1, whose class is kept and patched; the
    # second by version 2, out of its reach: its class stays whole, with
    # version 2's code, instead of being emptied under it.
    assert [handler.handle() for handler in registry] == [3, 2, 3]


def test_a_suspended_generator_pins_its_namespace_until_it_ends(
    project: Project, no_gc: None
) -> None:
    project.write("lib.py", "class Marker:\n    pass\n")
    with hookreload.install(include=[project.package], patch=True, keep=1):
        source = MEMORY + "def gen():\n    yield len(DATA)\n    yield len(DATA) + {n}\n"
        mod = load(project, source.format(n=0))
        first = weakref.ref(mod.MARK)
        running = mod.gen()
        assert next(running) == 100_000
        for n in (1, 2):
            edit(project, mod, source.format(n=n))
        assert first() is not None  # the generator's frame reads it
        assert next(running) == 100_000  # its own version's code and globals
        del running
        assert first() is None


def test_pins_go_with_the_code_that_needed_them(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "def f():\n    return 1\n")
    before = len(_proxy._pins)
    for n in range(2, 6):
        edit(project, mod, f"def f():\n    return {n}\n")
    gc.collect()
    # Only the versions kept (the live one and the previous) may still be pinned.
    assert len(_proxy._pins) - before <= 1


def test_atomically_nests_and_restores_the_switch_interval() -> None:
    interval = sys.getswitchinterval()
    with _patch.atomically():
        raised = sys.getswitchinterval()
        with _patch.atomically():
            assert sys.getswitchinterval() == raised
        assert sys.getswitchinterval() == raised
    assert raised >= max(interval, _patch._WINDOW_MIN)
    assert sys.getswitchinterval() == interval


def test_a_patch_longer_than_its_window_is_logged_and_widens_the_next(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_patch, "_window", 0.001)
    interval = sys.getswitchinterval()
    with caplog.at_level(logging.WARNING, logger="hookreload"), _patch.atomically():
        # Blocking lets other threads in: the one thing a patch must not do.
        time.sleep(0.01)
    assert "may have seen a partly patched module" in caplog.text
    assert _patch._window >= 0.03
    assert sys.getswitchinterval() == interval


def test_atomically_lets_waiting_threads_take_their_turn_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A thread already waiting for the interpreter would otherwise interrupt
    # the patch when its old, short interval runs out: see _patch._hand_over.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        interval = sys.getswitchinterval()
        with _patch.atomically():
            pass
        assert slept == [interval * 1.5]
    finally:
        stop.set()
        other.join(5)


def test_a_rolled_back_module_is_freed_once_dropped(project: Project) -> None:
    # A rollback puts each function back on its own code and namespace; a pin
    # of that pair would hold the namespace for ever (pins -> namespace ->
    # function -> code, which the pin waits to die), after the module is gone.
    project.write("lib.py", "class Marker:\n    pass\n")
    with hookreload.install(include=[project.package], patch=True):
        mod = load(project, MEMORY.format(n=0))
        edit(project, mod, MEMORY.format(n=1))
        hookreload.rollback(mod)
        first = weakref.ref(mod.MARK)
    del mod
    for name in [name for name in sys.modules if name.startswith(project.package)]:
        del sys.modules[name]
    gc.collect()
    assert first() is None
