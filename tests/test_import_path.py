"""The registry on the import path: an entry per import, its record made on first need.

Importing a module under the hook registers its loader (``_versions.Imported``)
and builds nothing else; these tests pin what that must still guarantee.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib
import importlib.abc
import importlib.machinery
import os
import pickle
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import hookreload
from hookreload import _versions
from hookreload._digest import digest, read_file, read_file_opened, signature_of
from tests.conftest import LoaderFinder, Project, exit_code_of_a_fork


def test_a_record_dies_with_its_proxy_though_the_namespace_lives(
    project: Project, hook: hookreload.Hook
) -> None:
    # The namespace holds the loader (__loader__, __spec__.loader), and the
    # loader held the record: the record, and its versions, must not outlive
    # the proxy because a function of the module is still around.
    project.write("held.py", "def f():\n    return 1\n")
    mod = project.load("held")
    record = _versions.record_of(mod)
    assert record is not None
    record_ref = weakref.ref(record)
    f = mod.f
    del record, sys.modules[mod.__name__], sys.modules[project.package].held, mod
    gc.collect()
    assert record_ref() is None
    assert f.__globals__["__loader__"]._record is None
    assert f() == 1


def test_all_records_skips_nothing_and_builds_each_record_once(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("a.py", "X = 1\n")
    project.write("b.py", "from . import a\n")
    b = project.load("b")
    a = sys.modules[project.name("a")]
    mine = [r for r in _versions.all_records() if r.name.startswith(project.package + ".")]
    assert [r.name for r in mine] == [b.__name__, a.__name__]  # in the order imports began
    assert mine[0] is _versions.record_of(b)
    assert [v.number for v in mine[1].history] == [1]


def test_a_record_made_as_the_import_ends_gets_version_one_once(
    project: Project, hook: hookreload.Hook
) -> None:
    # The race finish_import() is written for, made to happen: the import ends
    # after the record was made, seeing no loaded_at, but before it was
    # published, so the import does not see the record either.
    project.write("raced.py", "X = 1\n")
    mod = project.load("raced")
    entry = mod.__loader__
    duration, loaded_at = entry.duration_s, entry.loaded_at
    entry.loaded_at = None  # as if still executing

    class _Publishing(type(entry)):  # type: ignore[misc]
        __slots__ = ()

        @property
        def _record(self) -> object:
            return _versions.Imported._record.__get__(self)  # type: ignore[attr-defined]

        @_record.setter
        def _record(self, record: object) -> None:
            if record is not None and self.loaded_at is None:
                _versions.finish_import(self, duration)  # ends now: sees no record yet
            _versions.Imported._record.__set__(self, record)  # type: ignore[attr-defined]

    entry.__class__ = _Publishing
    try:
        record = _versions.record_of(mod)
    finally:
        entry.__class__ = _Publishing.__bases__[0]
    assert record is not None
    assert [v.number for v in record.history] == [1]
    assert record.history[0].duration_s == duration
    assert record.history[0].loaded_at >= loaded_at
    # Both sides seeing each other must not make two versions 1.
    _versions.finish_import(entry, duration)
    assert [v.number for v in record.history] == [1]


def test_a_proxy_dying_after_the_registry_module_was_cleared_leaves_quietly(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At interpreter exit a proxy can die after the globals of _versions were
    # set to None; its loader, held by the namespace, is the callback then.
    project.write("late.py", "def f():\n    return 1\n")
    mod = project.load("late")
    key, f = id(mod), mod.f
    records = _versions._records
    monkeypatch.setattr(_versions, "_records", None)
    # An error in the callback would fail the test: pyproject.toml makes
    # pytest's unraisable-exception warning an error.
    del sys.modules[mod.__name__], sys.modules[project.package].late, mod
    gc.collect()
    assert key not in records
    assert f() == 1


def test_records_are_not_made_for_imports_unregistered_meanwhile(
    project: Project, hook: hookreload.Hook
) -> None:
    # all_records() lists the registry, then makes records under the lock: an
    # import that failed in between must not come back with one.
    project.write("failed.py", "X = 1\n")
    mod = project.load("failed")
    entry = mod.__loader__
    _versions.unregister(mod)
    assert _versions._build([(entry, mod)]) == []
    assert entry._record is None
    assert _versions.record_of(mod) is None


def test_a_module_made_again_from_a_proxys_spec_is_a_proxy_of_its_own(
    project: Project, hook: hookreload.Hook
) -> None:
    # One loader, two modules: the registry entry was the loader, so the second
    # gets an entry of its own and the first stays a proxy.
    import importlib.util

    project.write("twice.py", "X = 1\n")
    first = project.load("twice")
    first_record = _versions.record_of(first)
    second = importlib.util.module_from_spec(first.__spec__)
    sys.modules[second.__name__] = second  # as importlib does before executing
    second.__spec__.loader.exec_module(second)
    assert _versions.record_of(first) is first_record
    second_record = _versions.record_of(second)
    assert second_record is not None and second_record is not first_record
    assert [v.number for v in second_record.history] == [1]
    assert first_record is not None and first_record.proxy is first


# -- SourceHookLoader: a plain source module's loader, one class down ----------------------


def test_a_source_module_gets_a_source_file_loader_of_ours(
    project: Project, hook: hookreload.Hook
) -> None:
    import importlib.machinery
    import inspect

    from hookreload._loader import SourceHookLoader

    project.write("src.py", "def f():\n    return 1\n")
    mod = project.load("src")
    loader = mod.__loader__
    assert type(loader) is SourceHookLoader
    assert isinstance(loader, importlib.machinery.SourceFileLoader)  # more than before
    assert mod.__spec__.loader is loader
    assert (loader.name, loader.path) == (mod.__name__, mod.__file__)
    assert "hookreload loader" in repr(loader)
    assert inspect.getsource(mod.f) == "def f():\n    return 1\n"
    # Version 1's signature is the stat get_code() made: the source as imported.
    record = _versions.record_of(mod)
    assert record is not None and record.loader is loader
    assert record.live.source_hash == digest(project.path("src.py").read_bytes())


def test_without_a_bytecode_cache_the_loader_makes_the_stat_itself(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No cache tag: get_code() checks no .pyc, so asks path_stats() nothing.
    monkeypatch.setattr(sys.implementation, "cache_tag", None)
    project.write("nocache.py", "X = 1\n")
    mod = project.load("nocache")
    record = _versions.record_of(mod)
    assert record is not None
    assert record.live.source_hash == digest(b"X = 1\n")
    project.write("nocache.py", "X = 2\n")
    assert hookreload.reload(mod).number == 2 and mod.X == 2


def test_the_source_loader_runs_what_is_not_a_module_plainly(
    project: Project, hook: hookreload.Hook
) -> None:

    project.write("plainly.py", "X = 1\n")
    mod = project.load("plainly")
    namespace = types.SimpleNamespace(__name__=mod.__name__, __spec__=None)
    mod.__loader__.exec_module(namespace)
    assert namespace.X == 1
    assert _versions.record_of(namespace) is None


def test_get_code_returning_none_fails_the_import_as_importlib_does(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hookreload._loader import SourceHookLoader

    project.write("nothing.py", "X = 1\n")
    monkeypatch.setattr(SourceHookLoader, "get_code", lambda self, name: None)
    with pytest.raises(ImportError, match="get_code\\(\\) returns None"):
        project.load("nothing")


def test_a_source_that_cannot_be_stated_is_loaded_plainly(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hookreload import _importlib_bootstrap

    def refuse(path: str) -> object:
        raise PermissionError(path)

    # No .pyc to check, so no stat from get_code(): the loader's own fails.
    monkeypatch.setattr(sys.implementation, "cache_tag", None)
    monkeypatch.setattr(_importlib_bootstrap, "stat_of", refuse)
    project.write("unstated.py", "X = 1\n")
    mod = project.load("unstated")
    assert mod.X == 1
    assert not hookreload.is_proxy(mod)


# -- HookLoader: any other loader, wrapped --------------------------------------------------


class _OwnSourceLoader(importlib.machinery.SourceFileLoader):
    """A loader of another import hook's: a subclass, so wrapped rather than replaced."""


def _behind(hook: hookreload.Hook, finder: importlib.abc.MetaPathFinder) -> None:
    """Put ``finder`` right behind hookreload's, where another hook installed later goes."""
    sys.meta_path.insert(sys.meta_path.index(hook.finder) + 1, finder)


def test_another_hooks_loader_is_wrapped_and_everything_else_is_its_own(
    project: Project, hook: hookreload.Hook
) -> None:
    from hookreload._loader import HookLoader

    project.write("own.py", "X = 1\n")
    _behind(hook, LoaderFinder(project.package, _OwnSourceLoader))
    mod = project.load("own")
    loader = mod.__loader__
    assert type(loader) is HookLoader and type(loader.wrapped) is _OwnSourceLoader
    assert repr(loader) == f"<hookreload loader for {loader.wrapped!r}>"
    assert loader.get_source(mod.__name__) == "X = 1\n"  # the wrapped loader's
    project.write("own.py", "X = 2\n")
    assert importlib.reload(mod) is mod and mod.X == 2
    assert [v.number for v in hookreload.versions(mod)] == [1, 2]


def test_a_module_failing_under_a_wrapped_loader_leaves_no_entry(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("fails.py", "X = 1\nraise RuntimeError('at import')\n")
    _behind(hook, LoaderFinder(project.package, _OwnSourceLoader))
    project.load()  # the package, registered
    before = len(_versions._records)
    with pytest.raises(RuntimeError, match="at import"):
        project.load("fails")
    assert len(_versions._records) == before


@contextlib.contextmanager
def held_by_another_thread(*locks: contextlib.AbstractContextManager[object]) -> Iterator[None]:
    """Another thread holds ``locks`` for the length of the block: a reload under way there."""
    held, release = threading.Event(), threading.Event()

    def reloading() -> None:
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            held.set()
            release.wait(10)

    thread = threading.Thread(target=reloading, daemon=True)
    thread.start()
    try:
        assert held.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


def test_a_forked_child_frees_the_locks_of_threads_it_does_not_have(
    project: Project, hook: hookreload.Hook
) -> None:
    """What a forked child runs (measured here: a child's coverage is not saved)."""
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    record = _versions.record_of(mod)
    mine = _versions.record_of(sys.modules[project.package])
    assert record is not None and mine is not None
    with held_by_another_thread(_versions._records_lock, record.lock):
        with mine.lock:
            mine_lock = mine.lock
            _versions._forked()
        assert not _versions._records_lock.locked()
        assert mine.lock is mine_lock  # this thread's: it releases it itself
        assert record.lock.acquire(timeout=0)  # a new one: the other thread is "gone"
        record.lock.release()
        project.write("mod.py", "X = 2\n")
        hookreload.reload(mod)
        assert mod.X == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_reloads_a_module_another_thread_was_reloading(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    record = _versions.record_of(mod)
    assert record is not None

    def in_the_child() -> int:  # pragma: no cover - runs in the child
        hookreload.reload(mod)
        return 2 if mod.X == 2 else 3

    with held_by_another_thread(record.lock):
        project.write("mod.py", "X = 2\n")
        assert exit_code_of_a_fork(in_the_child) == 2


@pytest.mark.parametrize("size", [0, 10, 65_536, 200_000])
def test_read_file_reads_all_and_signs_what_it_read(tmp_path: Path, size: int) -> None:
    path = tmp_path / "m.py"
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path.write_bytes(data)
    assert read_file(str(path)) == (data, signature_of(os.stat(path)))


def test_read_file_fails_as_open_would(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_file(str(tmp_path / "gone.py"))
    with pytest.raises(IsADirectoryError):
        read_file(str(tmp_path))


def test_without_proc_a_reload_checks_the_real_path_the_long_way(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")

    def no_proc(path: str) -> str:
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(os, "readlink", no_proc)
    assert read_file_opened(str(project.path("mod.py"))) == (b"X = 1\n", None)
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    assert mod.X == 2


@pytest.mark.parametrize("hooked", [False, True], ids=["replaced", "wrapped"])
def test_a_module_namespace_holds_the_callables_it_would_without_the_hook(
    project: Project, hook: hookreload.Hook, hooked: bool
) -> None:
    """Code that collects a module's callables finds no more (toolz.curried's tests do).

    The loader, which every namespace holds as ``__loader__``, is not one.
    """
    project.write("plain.py", "def f():\n    pass\n")
    if hooked:
        _behind(hook, LoaderFinder(project.package, _OwnSourceLoader))
    mod = project.load("plain")
    assert _versions.record_of(mod) is not None
    assert not callable(mod.__loader__)
    assert [name for name, value in vars(mod).items() if callable(value)] == ["f"]


@pytest.mark.parametrize("hooked", [False, True], ids=["replaced", "wrapped"])
def test_a_copied_or_pickled_spec_holds_the_loader_ours_stands_for(
    project: Project, hook: hookreload.Hook, hooked: bool
) -> None:
    project.write("copied.py", "X = 1\n")
    if hooked:
        _behind(hook, LoaderFinder(project.package, _OwnSourceLoader))
    mod = project.load("copied")
    assert _versions.record_of(mod) is not None  # the record, with its lock, exists
    expected = _OwnSourceLoader if hooked else importlib.machinery.SourceFileLoader
    for spec in (copy.deepcopy(mod.__spec__), pickle.loads(pickle.dumps(mod.__spec__))):
        assert type(spec.loader) is expected
        assert (spec.loader.name, spec.loader.path) == (mod.__name__, mod.__file__)
        assert spec.loader.get_source(mod.__name__) == "X = 1\n"
    assert hookreload.is_proxy(mod)  # the copies changed nothing
