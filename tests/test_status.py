"""hookreload.status(): the proxied modules, their versions and their last reload; SIGUSR1."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import hookreload
from hookreload import _status, _versions
from tests.conftest import Project


def test_nothing_proxied(hook: hookreload.Hook) -> None:
    assert hookreload.status() == []
    assert str(hookreload.status()) == "no module is proxied"


def test_a_module_imported_and_never_reloaded(project: Project, hook: hookreload.Hook) -> None:
    path = project.write("mod.py", "X = 1\n")
    before = time.time()
    project.load("mod")
    [row] = [r for r in hookreload.status() if r.name == project.name("mod")]
    assert row.file == str(path)
    assert (row.version, row.versions, row.kept) == (1, (1,), 1)
    assert before <= row.loaded_at <= time.time()
    assert row.last_reload is None
    assert row.last_error is None
    assert row.ok


def test_reload_failure_and_rollback_are_recorded(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    name = project.name("mod")

    def row() -> _status.ModuleStatus:
        return next(r for r in hookreload.status() if r.name == name)

    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    reloaded = row()
    assert (reloaded.version, reloaded.versions, reloaded.kept) == (2, (1, 2), 2)
    assert reloaded.last_reload is not None
    assert reloaded.last_reload >= reloaded.loaded_at
    assert reloaded.last_error is None

    project.write("mod.py", "X = (\n")
    with pytest.raises(hookreload.ReloadError) as caught:
        hookreload.reload(mod)
    failed = row()
    assert failed.version == 2  # the live version did not change
    # A copy, holding no frame of the failed attempt.
    assert type(failed.last_error) is hookreload.ReloadError
    assert str(failed.last_error) == str(caught.value)
    assert failed.last_error.module == name
    assert failed.last_error.__traceback__ is None
    assert isinstance(failed.last_error.__cause__, SyntaxError)
    assert failed.last_error.__cause__.msg == "'(' was never closed"
    assert not failed.ok
    assert failed.last_reload is not None
    assert failed.last_reload >= reloaded.last_reload
    table = str(hookreload.status())
    assert "SyntaxError: '(' was never closed" in table
    assert "failed: SyntaxError: '(' was never closed" in repr(failed)

    hookreload.rollback(mod)
    rolled = row()
    assert (rolled.version, rolled.versions) == (1, (1,))
    assert rolled.last_error is None


def test_a_module_still_importing_is_not_listed(project: Project, hook: hookreload.Hook) -> None:
    project.write(
        "mod.py", "import hookreload\n\nSEEN = [row.name for row in hookreload.status()]\n"
    )
    mod = project.load("mod")
    assert project.name("mod") not in mod.SEEN
    assert project.name("mod") in [row.name for row in hookreload.status()]


def test_rows_are_sorted_and_only_what_the_program_imports(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("b.py", "")
    project.write("a.py", "")
    project.load("b")
    project.load("a")
    names = [r.name for r in hookreload.status()]
    assert names == sorted(names)
    assert project.name("a") in names
    del sys.modules[project.name("a")]
    assert project.name("a") not in [r.name for r in hookreload.status()]


def test_a_module_gone_while_status_reads_is_left_out(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    record = _versions.record_of(mod)
    assert record is not None
    # The registry was read, then the module went (status() takes no lock).
    monkeypatch.setattr(_status, "all_records", lambda: iter([record]))
    del sys.modules[project.name("mod")]
    delattr(sys.modules[project.package], "mod")
    del mod
    gc.collect()
    with pytest.raises(ReferenceError):
        record.proxy  # noqa: B018
    assert hookreload.status() == []


def test_an_earlier_module_of_the_same_name_leaves_nothing_behind(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = (\n")
    name = project.name("mod")
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "X = (\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    del sys.modules[name]
    project.write("mod.py", "X = 2\n")
    project.load("mod")  # a new module: a new version 1
    [row] = [r for r in hookreload.status() if r.name == name]
    assert (row.version, row.last_reload, row.last_error) == (1, None, None)


def test_a_failed_reload_keeps_nothing_of_its_frames_alive(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    # A captured log record would hold the error (and its frames) itself.
    caplog.set_level(logging.CRITICAL, logger="hookreload")
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    project.write("mod.py", "raise ValueError('bad')\n")

    class Witness:
        pass

    def attempt() -> weakref.ref[Witness]:
        witness = Witness()  # a local of a frame in the error's traceback
        with contextlib.suppress(hookreload.ReloadError):
            hookreload.reload(mod)
        return weakref.ref(witness)

    ref = attempt()
    gc.collect()
    assert ref() is None
    [row] = [r for r in hookreload.status() if r.name == project.name("mod")]
    assert isinstance(row.last_error.__cause__, ValueError)


class _Odd(Exception):
    made = 0

    def __init__(self, message: str, *, code: int) -> None:
        _Odd.made += 1
        super().__init__(message)
        self.code = code
        self.payload = object()  # not plain: not kept


class _Mute(Exception):
    def __new__(cls, *args: object) -> _Mute:
        raise TypeError("no copies")

    def __str__(self) -> str:
        raise RuntimeError("no words either")


class _Unbuildable(Exception):
    def __new__(cls, *args: object) -> _Unbuildable:
        raise TypeError("no")


def test_detached_errors_keep_their_type_message_and_plain_attributes() -> None:
    odd = _Odd("odd", code=7)
    odd.__cause__ = KeyError("k")
    copy = _status.detached(odd)
    assert _Odd.made == 1  # the program's code is not run to copy its error
    assert type(copy) is _Odd
    assert str(copy) == "odd"
    assert copy.code == 7  # type: ignore[attr-defined]
    assert not hasattr(copy, "payload")
    assert type(copy.__cause__) is KeyError
    strange = Exception.__new__(_Unbuildable, "strange")
    assert str(_status.detached(strange)) == "_Unbuildable: strange"
    mute = Exception.__new__(_Mute)
    assert str(_status.detached(mute)) == "_Mute: (its message cannot be shown)"


def test_a_callback_sees_the_status_of_its_own_event(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    seen: list[_status.ModuleStatus] = []
    hookreload.on_reload(
        lambda event: seen.extend(r for r in hookreload.status() if r.name == event.name)
    )
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    assert seen[0].version == 2
    assert seen[0].last_reload is not None


def test_a_status_is_a_frozen_snapshot(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    project.load("mod")
    [row] = [r for r in hookreload.status() if r.name == project.name("mod")]
    with pytest.raises(AttributeError, match="snapshot"):
        row.version = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="snapshot"):
        del row.name  # type: ignore[misc]
    [again] = [r for r in hookreload.status() if r.name == project.name("mod")]
    assert row == again
    assert hash(row) == hash(again)
    assert row != object()
    assert repr(row) == f"<ModuleStatus {project.name('mod')!r} v1 (kept 1)>"
    assert isinstance(row, hookreload.ModuleStatus)


def test_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_status, "_clock", lambda at: f"t{at:g}")
    long = RuntimeError("cannot reload 'app'")
    long.__cause__ = NameError("name 'x' is not defined: " + "x" * 200 + "\nmore")
    rows = [
        _status.ModuleStatus("app", "app.py", (2, 3), 3.0, 4.0, long),
        _status.ModuleStatus("app.views", "app/views.py", (1,), 1.0, None, None),
        _status.ModuleStatus("blank", "blank.py", (1,), 1.0, 2.0, RuntimeError()),
    ]
    lines = _status.format_table(rows).splitlines()
    assert lines[0].split() == ["module", "live", "kept", "loaded", "last", "reload", "error"]
    assert lines[1].startswith("app        v3    2,3   t3      t4           NameError: name 'x'")
    assert lines[1].endswith("…")
    assert len(lines[1].split("t4", 1)[1].strip()) == _status._ERROR_WIDTH
    assert lines[2] == "app.views  v1    1     t1      -"
    assert lines[3].endswith("RuntimeError")


# -- SIGUSR1 -------------------------------------------------------------------

needs_sigusr1 = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 here")


@needs_sigusr1
def test_the_signal_prints_the_table_and_is_put_back(
    project: Project, hook: hookreload.Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("mod.py", "X = 1\n")
    project.load("mod")
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        restore = _status.print_on_signal()
        os.kill(os.getpid(), signal.SIGUSR1)
        err = ""
        deadline = time.monotonic() + 10
        while project.name("mod") not in err and time.monotonic() < deadline:
            time.sleep(0.01)
            err += capsys.readouterr().err
        assert "hookreload: status at" in err
        assert f"(pid {os.getpid()})" in err
        assert project.name("mod") in err
        restore()
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGUSR1, previous)


@needs_sigusr1
def test_the_signal_is_left_to_a_handler_already_there() -> None:
    def mine(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGUSR1, mine)
    try:
        _status.print_on_signal()()
        assert signal.getsignal(signal.SIGUSR1) is mine
        # Nor taken back from a handler the program set after it.
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        restore = _status.print_on_signal()
        signal.signal(signal.SIGUSR1, mine)
        restore()
        assert signal.getsignal(signal.SIGUSR1) is mine
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_signal_is_not_taken_outside_the_main_thread() -> None:
    before = signal.getsignal(signal.SIGINT)
    restores = []
    thread = threading.Thread(target=lambda: restores.append(_status.print_on_signal()))
    thread.start()
    thread.join(10)
    restores[0]()
    assert signal.getsignal(signal.SIGINT) is before
    assert restores[0] is _status._nothing


def test_printing_to_a_closed_stderr_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def write(self, text: str) -> int:
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(sys, "stderr", Closed())
    _status._print_status()


@contextlib.contextmanager
def _printed(proc: subprocess.Popen[str]) -> Iterator[tuple[queue.Queue[str], queue.Queue[str]]]:
    """The lines ``proc`` prints to stdout and to stderr, as they come.

    On leaving, the process is ended, the threads reading its pipes joined
    and the pipes closed.
    """
    assert proc.stdout is not None and proc.stderr is not None
    streams = (proc.stdout, proc.stderr)
    queues: tuple[queue.Queue[str], queue.Queue[str]] = (queue.Queue(), queue.Queue())
    readers = [
        threading.Thread(target=_pump, args=(stream, lines), daemon=True)
        for stream, lines in zip(streams, queues, strict=True)
    ]
    for reader in readers:
        reader.start()
    try:
        yield queues
    finally:
        proc.kill()
        proc.wait()
        for reader, stream in zip(readers, streams, strict=True):
            reader.join(20)
            assert not reader.is_alive(), "a pipe of the ended process stayed open"
            stream.close()


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _until(lines: queue.Queue[str], needle: str, timeout: float = 20) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed; got {seen}")


# The main thread runs Python code while it waits: Python runs signal handlers
# there, and a signal the kernel gave another thread would never interrupt a read.
PROGRAM = """
import os, signal, time, status_mod
{setup}
print("ready", status_mod.X, flush=True)
deadline = time.monotonic() + 30
while not os.path.exists("done") and time.monotonic() < deadline:
    time.sleep(0.01)
"""


@needs_sigusr1
@pytest.mark.parametrize("own_handler", [False, True])
def test_the_command_prints_the_status_on_sigusr1(tmp_path: Path, own_handler: bool) -> None:
    (tmp_path / "status_mod.py").write_text("X = 1\n")
    setup = (
        "signal.signal(signal.SIGUSR1, lambda *_: print('mine', flush=True))" if own_handler else ""
    )
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(PROGRAM.format(setup=setup)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookreload", "--include", "status_mod", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    with _printed(proc) as (out, err):
        _until(out, "ready 1")
        proc.send_signal(signal.SIGUSR1)
        if own_handler:
            _until(out, "mine")
        else:
            table = _until(err, "status_mod")
            assert table[-2].split()[:3] == ["module", "live", "kept"]
            assert table[-1].split()[:3] == ["status_mod", "v1", "1"]
        (tmp_path / "done").write_text("")
        assert proc.wait(timeout=20) == 0
