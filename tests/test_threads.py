"""Reloads while other threads use the module: readers only ever see whole versions.

Every thread is joined with a timeout in a ``finally``; waits are on Events,
bounded, never bare sleeps. The GIL switch interval is lowered while threads
run: with the default 5 ms, four busy readers starve the reloading thread
(each file read hands the GIL away) and interleavings are rarer.
"""

from __future__ import annotations

import collections
import sys
import threading
import types
import warnings
from collections.abc import Callable

import hookreload
from stress.workload import fast_switching
from tests.conftest import Project

TIMEOUT = 10.0  # seconds, per wait; a healthy test takes a few seconds at most
# The reloading thread's whole run: hundreds of reloads against four readers
# switching every 10 us take 3-6 s here, more under coverage on a loaded
# machine. Only a hang may fail the test, never slowness.
DRIVER_TIMEOUT = 120.0
SIZE = 300  # items in DATA: building it makes executing a version take a while


def _version(tag: str) -> str:
    # MARK is bound last: observe() of a half-executed namespace would raise
    # NameError, and one missing MARK means a reader saw an incomplete version.
    return f"""
VERSION = {tag!r}
DATA = tuple({tag!r} for _ in range({SIZE}))

def observe():
    return (VERSION, MARK, len(DATA), DATA[0], DATA[-1])

MARK = {tag!r}
"""


def _run(
    targets: list[Callable[[], None]], main: Callable[[], None], stop: threading.Event
) -> None:
    """Start ``targets`` in threads, run ``main`` in a thread too, always join everything."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    driver = threading.Thread(target=main, daemon=True)
    try:
        with fast_switching():
            for thread in threads:
                thread.start()
            driver.start()
            driver.join(DRIVER_TIMEOUT)
    finally:
        stop.set()
        for thread in [driver, *threads]:
            if thread.ident is not None:
                thread.join(TIMEOUT)
    assert not [t for t in [driver, *threads] if t.is_alive()], "a thread did not finish"


def test_readers_only_ever_see_complete_versions(project: Project, hook: hookreload.Hook) -> None:
    path = project.write("mod.py", _version("a"))
    mod = project.load("mod")
    sources = {"a": _version("a"), "b": _version("b")}
    reloads = 300
    stop = threading.Event()
    errors: list[BaseException] = []
    incomplete: list[object] = []
    counts: list[collections.Counter[str]] = []
    reloaded: list[int] = []

    def read() -> None:
        seen: collections.Counter[str] = collections.Counter()
        counts.append(seen)
        while not stop.is_set():
            try:
                # One call runs in one version's globals: it must be whole.
                observed = mod.observe()
                # Single attribute reads through the proxy: each from a whole version.
                data = mod.DATA
                namespace = mod.__dict__
                mark = mod.MARK
            except BaseException as exc:
                if len(errors) < 20:
                    errors.append(exc)
                continue
            version = observed[0]
            if observed != (version, version, SIZE, version, version):
                incomplete.append(observed)
            if len(data) != SIZE or data.count(data[0]) != SIZE or mark not in sources:
                incomplete.append((data[:1], len(data), mark))
            if namespace.get("MARK") != namespace.get("VERSION"):
                incomplete.append(sorted(namespace))
            seen[version] += 1

    def reload_many() -> None:
        try:
            for i in range(reloads):
                if stop.is_set():
                    return
                path.write_text(sources["ba"[i % 2]])
                reloaded.append(hookreload.reload(mod).number)
        except BaseException as exc:
            reload_errors.append(exc)

    reload_errors: list[BaseException] = []
    _run([read] * 4, reload_many, stop)
    assert reload_errors == []
    assert errors == []
    assert incomplete == []
    assert len(reloaded) == reloads
    assert reloaded == list(range(2, reloads + 2))
    assert len(counts) == 4
    total = sum(counts, collections.Counter())
    assert total["a"] > 0 and total["b"] > 0, total
    assert all(sum(c.values()) > 0 for c in counts), counts
    assert type(mod) is types.ModuleType
    assert mod.__dict__ is hookreload.current(mod).__dict__
    assert mod.observe() == ("a", "a", SIZE, "a", "a")


def _paused_reload(
    project: Project, first: str, second: str
) -> tuple[types.ModuleType, types.ModuleType]:
    """Import ``first``; write ``second``, whose execution waits on ``sync.release``."""
    project.write(
        "sync.py",
        "import threading\nentered = threading.Event()\nrelease = threading.Event()\n",
    )
    sync = project.load("sync")
    project.write("mod.py", first)
    mod = project.load("mod")
    project.write("mod.py", second)
    return mod, sync


_PAUSE = """
from . import sync
sync.entered.set()
if not sync.release.wait(10):
    raise RuntimeError("the test never released the reload")
"""


def _reload_in_thread(
    mod: types.ModuleType, sync: types.ModuleType, check: Callable[[], None]
) -> list[object]:
    """Reload ``mod`` in a thread; run ``check`` here while that reload is paused."""
    results: list[object] = []

    def reload() -> None:
        try:
            results.append(hookreload.reload(mod))
        except BaseException as exc:  # reported by the assertions below
            results.append(exc)

    thread = threading.Thread(target=reload, daemon=True)
    thread.start()
    try:
        assert sync.entered.wait(TIMEOUT), "the new version never started executing"
        check()
    finally:
        sync.release.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    return results


def test_reloading_thread_sees_the_new_version_and_others_the_old(
    project: Project, hook: hookreload.Hook
) -> None:
    mod, sync = _paused_reload(
        project,
        "VERSION = 'old'\n",
        "import sys\n"
        "VERSION = 'new'\n"
        "SEEN = sys.modules[__name__].__dict__ is globals()\n"
        "SEEN_VERSION = sys.modules[__name__].VERSION\n" + _PAUSE,
    )
    old = hookreload.current(mod)
    seen_elsewhere: list[object] = []

    def check() -> None:
        # This thread, and any other, still sees the live version.
        assert mod.VERSION == "old"
        assert mod.__dict__ is old.__dict__
        assert "SEEN" not in mod.__dict__
        assert not hasattr(mod, "SEEN")
        assert sys.modules[mod.__name__] is mod
        assert hookreload.current(mod) is old
        other = threading.Thread(target=lambda: seen_elsewhere.append(mod.VERSION))
        other.start()
        other.join(TIMEOUT)
        assert seen_elsewhere == ["old"]

    [version] = _reload_in_thread(mod, sync, check)
    assert isinstance(version, hookreload.Version), version
    assert mod.SEEN is True
    assert mod.SEEN_VERSION == "new"
    assert mod.VERSION == "new"
    assert type(mod) is types.ModuleType


def test_module_getattr_warning_blames_the_caller_during_a_reload(
    project: Project, hook: hookreload.Hook
) -> None:
    getattr_source = (
        "import warnings\n"
        "def __getattr__(name):\n"
        "    if name == 'old':\n"
        "        warnings.warn('old is deprecated', DeprecationWarning, stacklevel=2)\n"
        "        return 1\n"
        "    raise AttributeError(name)\n"
    )
    mod, sync = _paused_reload(project, getattr_source, getattr_source + _PAUSE)
    caught: list[warnings.WarningMessage] = []

    def check() -> None:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert mod.old == 1
        caught.extend(record)

    _reload_in_thread(mod, sync, check)
    [warning] = caught
    assert warning.filename == __file__


def test_submodule_imported_while_its_package_reloads_stays_an_attribute(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write(
        "sync.py",
        "import threading\nentered = threading.Event()\nrelease = threading.Event()\n",
    )
    sync = project.load("sync")
    pkg = project.load()
    project.write("__init__.py", _PAUSE)
    project.write("late.py", "X = 1\n")
    imported: list[types.ModuleType] = []

    def check() -> None:
        imported.append(project.load("late"))

    [version] = _reload_in_thread(pkg, sync, check)
    assert isinstance(version, hookreload.Version), version
    assert pkg.sync is sync
    assert pkg.late is imported[0]


def test_rollbacks_interleaved_with_reloads(project: Project, hook: hookreload.Hook) -> None:
    path = project.write("mod.py", _version("a"))
    mod = project.load("mod")
    sources = {"a": _version("a"), "b": _version("b")}
    reloads = 300
    stop = threading.Event()
    unexpected: list[BaseException] = []
    reloaded: list[int] = []
    rolled_back: list[int] = []
    refused: list[hookreload.ReloadError] = []

    def roll_back() -> None:
        while not stop.is_set():
            try:
                rolled_back.append(hookreload.rollback(mod).number)
            except hookreload.ReloadError as exc:
                if "oldest one kept" in str(exc):
                    refused.append(exc)
                else:
                    unexpected.append(exc)
            except BaseException as exc:
                unexpected.append(exc)

    def reload_many() -> None:
        try:
            for i in range(reloads):
                if stop.is_set():
                    return
                path.write_text(sources["ba"[i % 2]])
                reloaded.append(hookreload.reload(mod).number)
        except BaseException as exc:
            unexpected.append(exc)

    _run([roll_back], reload_many, stop)
    assert unexpected == []
    assert len(reloaded) == reloads
    # Numbers never repeat, rolled back or not.
    assert reloaded == sorted(set(reloaded))
    assert rolled_back, "no rollback ever got the lock"
    assert refused, "rollback was never refused: the interleaving is too coarse to mean much"
    history = hookreload.versions(mod)
    assert 1 <= len(history) <= 2
    assert [v.number for v in history] == sorted({v.number for v in history})
    assert all(v.module is not None for v in history)
    assert type(mod) is types.ModuleType
    assert mod.__dict__ is hookreload.current(mod).__dict__
    version = mod.VERSION
    assert mod.observe() == (version, version, SIZE, version, version)
