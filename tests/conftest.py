"""Shared fixtures: every test gets the interpreter's import state back."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import itertools
import os
import signal
import sys
import textwrap
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import hookreload
from hookreload import _events

_counter = itertools.count()


@pytest.fixture(autouse=True)
def import_state() -> Iterator[None]:
    """Snapshot and restore what imports and hooks change (pytest's SysModulesSnapshot)."""
    modules = dict(sys.modules)
    meta_path = list(sys.meta_path)
    path = list(sys.path)
    path_hooks = list(sys.path_hooks)
    importer_cache = dict(sys.path_importer_cache)
    callbacks = list(_events._callbacks)
    try:
        yield
    finally:
        hookreload.uninstall()
        sys.modules.clear()
        sys.modules.update(modules)
        sys.meta_path[:] = meta_path
        sys.path[:] = path
        sys.path_hooks[:] = path_hooks
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(importer_cache)
        _events._callbacks[:] = callbacks


class Project:
    """A uniquely named package under ``tmp_path``, put on ``sys.path``.

    ``write("mod.py", src)`` writes ``<pkg>/mod.py``; ``name("mod")`` is its
    dotted name; ``load("mod")`` imports it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = f"hr_test_{next(_counter)}_{os.getpid()}"
        self.dir = root / self.package
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        sys.path.insert(0, str(root))
        importlib.invalidate_caches()

    def path(self, rel: str) -> Path:
        return self.dir / rel

    def write(self, rel: str, source: str) -> Path:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        init = path.parent / "__init__.py"
        if not init.exists():
            init.write_text("")
        path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return path

    def name(self, rel: str = "") -> str:
        dotted = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        return f"{self.package}.{dotted}" if dotted else self.package

    def load(self, rel: str = "") -> types.ModuleType:
        return importlib.import_module(self.name(rel))


class LoaderFinder(importlib.abc.MetaPathFinder):
    """Another import hook: the modules of ``package``, found as usual, loaded by ``loader``.

    ``loader`` is a ``SourceFileLoader`` subclass, made as ``loader(fullname, path)``.
    """

    def __init__(self, package: str, loader: type[importlib.machinery.SourceFileLoader]) -> None:
        self.package = package
        self.loader = loader

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.package + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:  # pragma: no cover - every module asked exists
            return None
        spec.loader = self.loader(fullname, spec.origin)
        return spec


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def hook(project: Project) -> Iterator[hookreload.Hook]:
    with hookreload.install(include=[project.package]) as installed:
        yield installed


@pytest.fixture
def events() -> Iterator[list[hookreload.ReloadEvent]]:
    """Every reload event sent while the test runs, in order."""
    seen: list[hookreload.ReloadEvent] = []
    stop = hookreload.on_reload(seen.append)
    try:
        yield seen
    finally:
        stop()


def exit_code_of_a_fork(child: Callable[[], int]) -> int:
    """Fork; the child runs ``child`` and exits with what it returns (1 if it raises).

    Returns the child's exit code (-1 if a signal ended it, as the 10 s alarm
    does a child that hangs). The child's coverage is not saved.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit code
        code = 1
        try:
            signal.alarm(10)  # a hang ends the child, not the test run
            code = child()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
