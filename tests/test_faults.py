"""Every kind of bad save: the previous version stays live, the fault is reported once, the next good save recovers.

Each fault of ``FAULTS`` is applied to a module's file, then the same three
things are checked twice: through ``hookreload.reload()`` (it raises
``ReloadError``) and through a real watcher (polling and file events; it must
report without raising). The fault is reported once, as one error line on the
``hookreload`` logger and one failed ``on_reload`` event, however long the file
stays broken; the next good save goes live. tests/test_errors.py checks each
error message in detail; this file checks the life cycle around them.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hookreload
from hookreload import _watch
from hookreload._watch import Settings, Watcher
from hookreload._watch_backend import PollingBackend
from tests.conftest import Project
from tests.test_watch import (
    Events,
    failures,
    no_watcher_left,  # noqa: F401 - an autouse fixture: every watcher stopped and joined
    reloaded,
    sentinel_round,
    wait_reloaded,
    wait_until,
)

GOOD = "X = 1\n\n\ndef get():\n    return X\n"


def _write(text: str | bytes) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        if isinstance(text, str):
            path.write_text(text)
        else:
            path.write_bytes(text)

    return apply


def _delete(path: Path) -> None:
    path.unlink()


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _unreadable(path: Path) -> None:
    path.chmod(0)


def _link_loop(path: Path) -> None:
    # What root cannot read either: opening it fails with ELOOP.
    path.unlink()
    path.symlink_to(path.name)


def _half_written(path: Path) -> None:
    # A save cut short in the middle of a statement (a full disk, a crash).
    whole = GOOD.replace("X = 1", "X = 2") + "\n\ndef more():\n    return [X, X]\n"
    path.write_text(whole[: whole.index("[X,") + 3])


FAULTS: dict[str, Callable[[Path], None]] = {
    "syntax error": _write("X = (\n"),
    "exception while executing": _write("X = 2\nraise RuntimeError('at import')\n"),
    "missing module imported": _write("import hr_no_such_module_anywhere\nX = 2\n"),
    "__reload__ raising": _write(
        "X = 2\n\n\ndef __reload__(old):\n    raise ValueError('cannot carry state')\n"
    ),
    "infinite recursion": _write("def f():\n    return f()\n\n\nX = f()\n"),
    "very deep expression": _write("X = " + "(" * 100_000 + ")" * 100_000 + "\n"),
    "sys.exit at import": _write("import sys\nX = 2\nsys.exit(3)\n"),
    "deleted": _delete,
    "replaced by a directory": _directory,
    "made unreadable": _unreadable,
    "a link to itself": _link_loop,
    "half-written": _half_written,
    "bytes that are not source": _write(b"X = 2\n\xff\xfe\x81 = 3\n"),
    "encoding declaration not followed": _write(b"# -*- coding: ascii -*-\nX = '\xc3\xa9'\n"),
}


def _skip_unless_possible(fault: str) -> None:
    if fault == "made unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file; 'a link to itself' is the unreadable file root has")


def _restore(path: Path, text: str) -> None:
    """The next good save, whatever the fault left at ``path``."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        path.rmdir()
    path.write_text(text)


def _error_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hookreload" and r.levelno >= logging.ERROR and repr(name) in r.getMessage()
    ]


@pytest.fixture
def mod(project: Project) -> Iterator[types.ModuleType]:
    with hookreload.install(include=[project.package]):
        project.write("mod.py", GOOD)
        yield project.load("mod")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_reload_keeps_the_live_version_reports_once_and_recovers(
    project: Project, mod: types.ModuleType, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    _skip_unless_possible(fault)
    caplog.set_level(logging.INFO, logger="hookreload")
    events = Events()
    hookreload.on_reload(events)
    path = project.path("mod.py")
    FAULTS[fault](path)
    with pytest.raises(hookreload.ReloadError) as info:
        hookreload.reload(mod)
    message = str(info.value)
    assert repr(mod.__name__) in message
    assert str(path) in message
    assert "keeping version 1" in message
    assert mod.X == 1
    assert mod.get() == 1
    assert [v.number for v in hookreload.versions(mod)] == [1]
    assert [e.error for e in events] == [info.value]
    assert len(_error_lines(caplog, mod.__name__)) == 1
    _restore(path, GOOD.replace("X = 1", "X = 3"))
    assert hookreload.reload(mod).number == 2
    assert mod.get() == 3
    assert hookreload.rollback(mod).number == 1
    assert mod.get() == 1


@pytest.fixture
def watched(project: Project) -> Iterator[Callable[..., Watcher]]:
    """Start a real watcher; the hook is installed without ``watch`` so its settings are ours."""
    started: list[Watcher] = []

    def start(poll: float | None, hold: float = 0.1) -> Watcher:
        # A short hold: a deleted or emptied file is taken as meant after 0.1 s.
        watcher = _watch.start(Settings(poll=poll, hold=hold))
        started.append(watcher)
        return watcher

    with hookreload.install(include=[project.package]):
        yield start
        for watcher in started:
            watcher.stop()


@pytest.mark.parametrize("poll", [0.02, None], ids=["polling", "events"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_watcher_keeps_the_live_version_reports_once_and_recovers(
    project: Project,
    watched: Callable[..., Watcher],
    caplog: pytest.LogCaptureFixture,
    fault: str,
    poll: float | None,
) -> None:
    _skip_unless_possible(fault)
    caplog.set_level(logging.INFO, logger="hookreload")
    events = Events()
    hookreload.on_reload(events)
    path = project.write("mod.py", GOOD)
    mod = project.load("mod")
    name = mod.__name__
    watcher = watched(poll)
    sentinel_round(project, events, 1)
    FAULTS[fault](path)
    wait_until(lambda: failures(events, name), what=f"the {fault} reported")
    # However long the fault stays: more rounds, and with polling, more polls.
    for n in (2, 3):
        sentinel_round(project, events, n)
    if isinstance(watcher.backend, PollingBackend):
        polls = watcher.backend.polls
        wait_until(lambda: watcher.backend.polls >= polls + 10, what="ten more polls")  # type: ignore[attr-defined]
    [error] = failures(events, name)
    assert isinstance(error, hookreload.ReloadError)
    assert "keeping version 1" in str(error)
    assert len(_error_lines(caplog, name)) == 1, _error_lines(caplog, name)
    assert mod.get() == 1
    assert [v.number for v in hookreload.versions(mod)] == [1]
    assert reloaded(events, name) == []
    _restore(path, GOOD.replace("X = 1", "X = 3"))
    wait_reloaded(events, name, 2)
    assert mod.get() == 3
    assert reloaded(events, name) == [2]
    assert len(failures(events, name)) == 1


@pytest.mark.parametrize("poll", [0.02, None], ids=["polling", "events"])
def test_a_file_truncated_then_written_never_goes_live_empty(
    project: Project,
    watched: Callable[..., Watcher],
    poll: float | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Emptied, then written within the hold: one reload, to the complete file.

    A file that stays empty is not reloaded by the watcher (said once in the
    log); the next save with code is, and reload() by hand loads it empty.
    """
    events = Events()
    hookreload.on_reload(events)
    path = project.write("mod.py", GOOD)
    mod = project.load("mod")
    name = mod.__name__
    watcher = watched(poll, hold=5.0)  # far longer than the save, even on a busy machine
    sentinel_round(project, events, 1)
    with open(path, "w") as f:
        f.flush()
        sentinel_round(project, events, 2)  # the watcher saw the empty file meanwhile
        f.write(GOOD.replace("X = 1", "X = 2"))
    wait_reloaded(events, name, 2)
    assert mod.get() == 2
    sentinel_round(project, events, 3)
    assert reloaded(events, name) == [2]
    assert failures(events, name) == []
    watcher.debouncer.hold = 0.1
    path.write_text("")
    wait_until(lambda: f"{path} is empty" in caplog.text, what="the empty save reported")
    sentinel_round(project, events, 4)  # a later change elsewhere: still not reloaded
    assert mod.get() == 2 and reloaded(events, name) == [2]
    assert caplog.text.count(f"{path} is empty") == 1
    assert f"hookreload.reload({name!r})" in caplog.text
    hookreload.reload(mod)  # meant: by hand
    assert not hasattr(mod, "get")
    hookreload.rollback(mod)
    assert mod.get() == 2
    _restore(path, GOOD.replace("X = 1", "X = 5"))
    wait_reloaded(events, name, 4)  # 3 was the empty one, loaded by hand
    assert mod.get() == 5


# -- found by running real test suites under the hook (make compat) ------------------------


@pytest.mark.parametrize("how", ["import", "from-import"])
def test_a_warning_at_import_blames_the_importing_line(
    project: Project, hook: hookreload.Hook, how: str
) -> None:
    # dateutil.zoneinfo warns this way; its tests check the warning's file.
    project.write(
        "old.py",
        "import warnings\nwarnings.warn('old is deprecated', DeprecationWarning, stacklevel=2)\n",
    )

    def load() -> None:
        if how == "import":
            project.load("old")
        else:
            exec(f"from {project.package} import old", {})

    with pytest.warns(DeprecationWarning, match="old is deprecated") as record:
        load()
    [warning] = record
    assert hookreload.is_proxy(project.load("old"))
    if how == "import":
        # importlib.import_module's own frame is the importer here.
        assert warning.filename.endswith("importlib/__init__.py"), warning.filename
    else:
        assert warning.filename == "<string>", warning.filename


def test_a_module_made_by_a_package_importer_is_explained(hook: hookreload.Hook) -> None:
    # six.moves and toolz's tlz: a finder of the package's own makes them, with no file.
    import importlib.abc
    import importlib.util
    import sys

    class Maker(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name: str, path: object, target: object = None) -> object:
            return importlib.util.spec_from_loader(name, self) if name == "hr_made" else None

        def exec_module(self, module: types.ModuleType) -> None:
            module.X = 1  # type: ignore[attr-defined]

    sys.meta_path.append(Maker())
    made = importlib.import_module("hr_made")
    assert made.X == 1
    assert not hookreload.is_proxy(made)
    with pytest.raises(hookreload.NotProxiedError, match=r"its loader \(Maker\) makes it without"):
        hookreload.reload(made)
