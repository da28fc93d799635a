"""Released versions: freed at once when unused, untouched while anything uses them."""

from __future__ import annotations

import gc
import threading
import types
import weakref
from collections.abc import Callable, Iterator

import pytest

import hookreload
from hookreload._reclaim import reclaim
from tests.conftest import Project

SOURCE = """
import functools, logging
LOG = logging.getLogger("reclaim-test")
DATA = bytearray(100_000)
class Marker:
    pass
MARK = Marker()
class Base:
    def size(self):
        return len(DATA)
class Child(Base):
    pass
def size():
    return len(DATA)
def sizes():
    yield len(DATA)
    yield len(DATA)
PARTIAL = functools.partial(size)
"""


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting may free anything: proves the cycle was broken."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _three_versions(
    project: Project, keep: Callable[[types.ModuleType], object]
) -> tuple[object, weakref.ref[object]]:
    """Import, let ``keep`` take what the program holds of version 1, then release it."""
    project.write("mod.py", SOURCE)
    mod = project.load("mod")
    held = keep(mod)
    marker = weakref.ref(mod.MARK)
    for n in range(2):
        project.write("mod.py", SOURCE + f"\nN = {n}\n")
        hookreload.reload(mod)
    assert [v.number for v in hookreload.versions(mod)] == [2, 3]
    return held, marker


def test_unused_version_is_freed_without_the_collector(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    _, marker = _three_versions(project, lambda mod: None)
    assert marker() is None


@pytest.mark.parametrize(
    ("what", "keep", "use"),
    [
        ("a function", lambda m: m.size, lambda held: held()),
        ("an instance", lambda m: m.Base(), lambda held: held.size()),
        ("a subclass", lambda m: m.Child, lambda held: held().size()),
        ("a bound method", lambda m: m.Base().size, lambda held: held()),
        ("a partial", lambda m: m.PARTIAL, lambda held: held()),
        ("its namespace", lambda m: vars(m), lambda held: held["size"]()),
        ("the old module", lambda m: hookreload.current(m), lambda held: held.size()),
        ("a closure", lambda m: lambda f=m.size: f(), lambda held: held()),
    ],
)
def test_a_version_still_used_is_kept_whole(
    project: Project,
    hook: hookreload.Hook,
    no_gc: None,
    what: str,
    keep: Callable[[types.ModuleType], object],
    use: Callable[[object], int],
) -> None:
    held, marker = _three_versions(project, keep)
    assert use(held) == 100_000, what
    assert marker() is not None, what


def test_a_suspended_generator_keeps_its_version(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    def start(mod: types.ModuleType) -> Iterator[int]:
        gen: Iterator[int] = mod.sizes()
        next(gen)
        return gen

    gen, _ = _three_versions(project, start)
    assert next(gen) == 100_000  # type: ignore[call-overload]


def test_a_thread_running_old_code_keeps_its_version(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    project.write(
        "mod.py",
        SOURCE + "def block(entered, release):\n    entered.set()\n    release.wait(10)\n"
        "    return len(DATA)\n",
    )
    mod = project.load("mod")
    entered, release, result = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(mod.block(entered, release)))
    thread.start()
    try:
        assert entered.wait(10)
        for n in range(2):
            project.write("mod.py", SOURCE + f"\nN = {n}\n")
            hookreload.reload(mod)
    finally:
        release.set()
        thread.join(10)
    assert result == [100_000]


def test_a_rollback_releases_the_dropped_version(
    project: Project, hook: hookreload.Hook, no_gc: None
) -> None:
    project.write("mod.py", SOURCE)
    mod = project.load("mod")
    project.write("mod.py", SOURCE + "\nN = 1\n")
    hookreload.reload(mod)
    marker = weakref.ref(mod.MARK)
    hookreload.rollback(mod)
    assert marker() is None
    assert mod.size() == 100_000


def test_reclaim_reports_what_it_did() -> None:
    def version(source: str) -> list[types.ModuleType]:
        module = types.ModuleType("reclaim_probe")
        exec(source, module.__dict__)
        return [module]

    assert reclaim(version("def f():\n    return 1\n")) is True
    kept = version("def f():\n    return 1\n")
    f = kept[0].f
    assert reclaim(kept) is False
    assert f() == 1
