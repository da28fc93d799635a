"""Child processes: spawn, forkserver, fork and subprocess children reload their own modules.

Every case runs a fresh parent interpreter (the ``hookreload`` command, or a
program that opts in with ``HOOKRELOAD_CHILDREN=1``). The parent starts one
child, which imports ``work`` and answers ``work.value()`` on request; the
parent edits ``work.py`` and asks until the child answers with the new code.
The parent runs in a session of its own, and the whole session is killed at
the end, whatever happened; children also end when their parent's pipe closes.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import hookreload
from hookreload import _children, _hook, _watch
from tests.conftest import Project
from tests.test_watch import wait_until, watcher_threads

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX start methods and signals")

TIMEOUT = 60

PARENT = '''
import multiprocessing
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work.py")


def serve(conn):
    """The child: answer work.value() until told to stop or the parent goes."""
    import hookreload
    import work

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message == "quit":
            return
        if message == "dump":  # where the child's threads are: what a failure needs
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)
        conn.send((work.value(), hookreload.is_proxy(work), os.getpid()))


class Lines:
    """The subprocess child's side of serve(): a line per message."""

    def __init__(self, proc):
        self.proc = proc

    def send(self, message):
        self.proc.stdin.write(message + "\\n")
        self.proc.stdin.flush()

    def recv(self):
        return tuple(eval(self.proc.stdout.readline()))

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Forked:
    """An os.fork() child that ends by returning, as a program would: not os._exit."""

    def __init__(self):
        import multiprocessing.connection as connection

        ours, theirs = connection.Pipe()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            serve(theirs)
            sys.exit(0)
        theirs.close()
        self.conn = ours

    def send(self, message):
        self.conn.send(message)

    def recv(self):
        return self.conn.recv()

    def close(self):
        self.conn.close()
        _, status = os.waitpid(self.pid, 0)
        print("fork child exit", os.waitstatus_to_exitcode(status), flush=True)


def start(method):
    if method == "subprocess":
        code = "import sys, os; sys.path.insert(0, os.getcwd()); import child; child.main()"
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )
        return Lines(proc)
    if method == "os.fork":
        return Forked()
    context = multiprocessing.get_context(method)
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(theirs,), daemon=True)
    process.start()
    theirs.close()

    class Child:
        send = ours.send
        recv = ours.recv

        def close(self):
            ours.close()
            process.join(10)
            process.kill()

    return Child()


def main():
    if "--install" in sys.argv:
        import hookreload

        hookreload.install(include=["work"], watch=True)
    import hookreload
    import work

    method = sys.argv[1]
    child = start(method)
    try:
        child.send("ask")
        value, proxied, pid = child.recv()
        print("child", value, proxied, pid != os.getpid(), flush=True)
        with open(WORK, "w") as f:
            f.write("def value():\\n    return 22\\n")
        deadline = time.monotonic() + 30
        while value != 22 and time.monotonic() < deadline:
            time.sleep(0.02)
            child.send("ask")
            value, proxied, pid = child.recv()
        if value != 22:
            child.send("dump")
            child.recv()
        print("child", value, proxied, flush=True)
        # The parent reloads too (with a watcher: the command, or install(watch=True)).
        deadline = time.monotonic() + 30
        while work.value() != 22 and time.monotonic() < deadline:
            time.sleep(0.02)
        print("parent", work.value(), hookreload.is_proxy(work), flush=True)
        child.send("quit")
    finally:
        child.close()


if __name__ == "__main__":
    main()
'''

CHILD = """
import os
import sys


def main():
    import hookreload
    import work

    for line in sys.stdin:
        if line.strip() == "quit":
            return
        if line.strip() == "dump":
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)
        print((work.value(), hookreload.is_proxy(work), os.getpid()), flush=True)
"""


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELOAD_")}
    env.update(extra)
    return env


def _probe(tmp_path: Path, code: str) -> Path:
    """probe.py: a program that runs ``code`` in a child Python (``-c``) and waits for it."""
    path = tmp_path / "probe.py"
    path.write_text(
        f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    )
    return path


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a parent to its end; its whole session is killed however it ends."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    return proc.returncode, out, err


def _program(tmp_path: Path) -> Path:
    (tmp_path / "work.py").write_text("def value():\n    return 1\n")
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(PARENT))
    return parent


METHODS = ["spawn", "forkserver", "fork", "os.fork", "subprocess"]


@pytest.mark.parametrize("method", METHODS)
def test_children_of_the_command_reload_themselves(tmp_path: Path, method: str) -> None:
    parent = _program(tmp_path)
    args = [sys.executable, "-m", "hookreload", "--include", "work", str(parent), method]
    code, out, err = _run(args, tmp_path, _environ())
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "child 1 True True", err
    assert lines[1] == "child 22 True", err
    assert lines[2] == "parent 22 True", err
    if method == "os.fork":
        assert lines[3] == "fork child exit 0", err
    # The children report their reloads on stderr, as the command does.
    assert "hookreload: reloaded work v2" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("method", ["spawn", "subprocess", "fork"])
def test_a_program_that_opts_in_passes_the_hook_down(tmp_path: Path, method: str) -> None:
    parent = _program(tmp_path)
    args = [sys.executable, str(parent), method, "--install"]
    code, out, err = _run(args, tmp_path, _environ(HOOKRELOAD_CHILDREN="1"))
    assert code == 0, err
    assert out.splitlines()[:3] == ["child 1 True True", "child 22 True", "parent 22 True"], err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", [["--no-children"], ["HOOKRELOAD_CHILDREN=0"]])
def test_the_command_can_leave_children_alone(tmp_path: Path, how: list[str]) -> None:
    options = [word for word in how if word.startswith("--")]
    env = _environ(**dict(word.split("=") for word in how if "=" in word))
    code = "import sys, hookreload; print(hookreload._hook.active())"
    _probe(tmp_path, code)
    script = [str(tmp_path / "probe.py")]
    status, out, err = _run([sys.executable, "-m", "hookreload", *options, *script], tmp_path, env)
    assert status == 0, err
    assert out == "None\n"


def test_a_child_without_the_opt_in_gets_nothing(tmp_path: Path) -> None:
    code = "import sys, hookreload; print(hookreload._hook.active(), [p for p in sys.path if '_boot' in p])"
    (tmp_path / "probe.py").write_text(
        "import subprocess, sys, hookreload\n"
        "hookreload.install(include=['nothing'], watch=True)\n"
        f"subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    )
    status, out, err = _run([sys.executable, str(tmp_path / "probe.py")], tmp_path, _environ())
    assert status == 0, err
    assert out == "None []\n"


def test_the_shadowed_sitecustomize_still_runs_and_its_path_entry_goes(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.THEIRS_RAN = True\n")
    code = (
        "import sys, builtins, hookreload; "
        "print(getattr(builtins, 'THEIRS_RAN', False), hookreload._hook.active() is not None, "
        "any('_boot' in p for p in sys.path), sys.modules['sitecustomize'].__file__)"
    )
    _probe(tmp_path, code)
    env = _environ(PYTHONPATH=str(theirs))
    status, out, err = _run(
        [sys.executable, "-m", "hookreload", str(tmp_path / "probe.py")], tmp_path, env
    )
    assert status == 0, err
    assert out == f"True True False {theirs / 'sitecustomize.py'}\n"


def test_a_child_program_installing_its_own_options_replaces_the_inherited_hook(
    tmp_path: Path,
) -> None:
    code = (
        "import hookreload; "
        "before = hookreload._hook.active(); "
        "after = hookreload.install(include=['mine'], patch=True); "
        "print(before.include, after.include, after.patch, before.installed)"
    )
    _probe(tmp_path, code)
    status, out, err = _run(
        [sys.executable, "-m", "hookreload", "--include", "work", str(tmp_path / "probe.py")],
        tmp_path,
        _environ(),
    )
    assert status == 0, err
    assert out == "('work',) ('mine',) True False\n"


def test_a_child_starts_its_watcher_with_its_first_proxied_module(tmp_path: Path) -> None:
    (tmp_path / "work.py").write_text("def value():\n    return 1\n")
    code = (
        "import sys, threading, hookreload; "
        "names = lambda: sorted(t.name for t in threading.enumerate()); "
        "print(hookreload._hook.active() is not None, names(), 'watchfiles' in sys.modules); "
        "import work; "
        "print(hookreload.is_proxy(work), names())"
    )
    _probe(tmp_path, code)
    status, out, err = _run(
        [sys.executable, "-m", "hookreload", "--include", "work", str(tmp_path / "probe.py")],
        tmp_path,
        _environ(),
    )
    assert status == 0, err
    # Hooked, but nothing proxied yet: no thread, and watchfiles not imported.
    assert out.splitlines() == [
        "True ['MainThread'] False",
        f"True ['MainThread', '{_watch.THREAD_NAME}']",
    ], err


def test_a_bad_configuration_is_reported_and_the_child_runs(tmp_path: Path) -> None:
    env = _environ(**{_children.CONFIG_ENV: "{not json", "PYTHONPATH": _children.BOOT_DIR})
    code = "import hookreload; print('ran', hookreload._hook.active())"
    status, out, err = _run([sys.executable, "-c", code], tmp_path, env)
    assert status == 0, err
    assert out == "ran None\n"
    assert "could not install hookreload in child process" in err


# -- in this process: the environment a parent sets, and puts back -------------


def test_opting_in_sets_the_environment_and_uninstall_puts_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.delenv(_children.CONFIG_ENV, raising=False)
    monkeypatch.setenv(_children.ENV, "yes")
    hook = hookreload.install(include=["app"], exclude=["app.tests"], patch=True, dependents=True)
    assert os.environ["PYTHONPATH"] == os.pathsep.join([_children.BOOT_DIR, "/somewhere"])
    config = json.loads(os.environ[_children.CONFIG_ENV])
    assert config["include"] == ["app"]
    assert config["exclude"] == ["app.tests"]
    assert config["patch"] is True
    assert config["dependents"] is True
    assert config["report"] is None
    hook.uninstall()
    assert os.environ["PYTHONPATH"] == "/somewhere"
    assert _children.CONFIG_ENV not in os.environ


def test_without_the_opt_in_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_children.ENV, raising=False)
    before = dict(os.environ)
    with hookreload.install(include=["app"]):
        assert dict(os.environ) == before
    assert dict(os.environ) == before


def test_an_unknown_opt_in_value_is_reported_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_children.ENV, "perhaps")
    assert _children.requested() is False
    assert _children.requested(default=True) is True
    assert "ignoring HOOKRELOAD_CHILDREN='perhaps'" in caplog.text
    monkeypatch.setenv(_children.ENV, "off")
    assert _children.requested(default=True) is False


def test_uninstalling_another_hook_keeps_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_children.ENV, "1")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    hook = hookreload.install(include=["app"])
    _children.on_uninstall(_hook.Hook(hook.policy, watch=False, patch=False, keep=2))
    assert os.environ["PYTHONPATH"] == _children.BOOT_DIR
    hook.uninstall()
    assert "PYTHONPATH" not in os.environ


def test_enabling_twice_puts_back_the_first_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/first")
    monkeypatch.delenv(_children.ENV, raising=False)
    hook = hookreload.install(include=["app"])
    _children.enable(hook)
    _children.enable(hook, report=20)
    assert os.environ["PYTHONPATH"] == os.pathsep.join([_children.BOOT_DIR, "/first"])
    assert json.loads(os.environ[_children.CONFIG_ENV])["report"] == 20
    hook.uninstall()
    assert os.environ["PYTHONPATH"] == "/first"


def test_boot_without_a_configuration_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_children.CONFIG_ENV, raising=False)
    _children.boot()
    assert _hook.active() is None


def test_after_a_fork_the_child_gets_a_watcher_of_its_own(project: Project) -> None:
    # The handler, called here as os.fork() calls it in a child.
    _children._after_fork_in_child()  # nothing installed: nothing to do
    hook = hookreload.install(include=[project.package], watch=True)
    parent = hook.watcher
    assert parent is not None
    try:
        _children._after_fork_in_child()
        assert hook.watcher is not parent
        assert hook.watcher is _watch.current()
        assert hook.watcher.running
    finally:
        parent.stop()


def test_a_watcher_that_cannot_start_after_a_fork_is_reported(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = hookreload.install(include=[project.package], watch=True)
    watcher = hook.watcher

    def fail(parent: object) -> None:
        raise OSError("no more inotify instances")

    monkeypatch.setattr(_watch, "restart_after_fork", fail)
    _children._after_fork_in_child()
    assert hook.watcher is watcher
    assert "could not start a watcher in forked process" in caplog.text


def test_a_python_without_hookreload_runs_as_if_nothing_was_set(tmp_path: Path) -> None:
    other = Path(sys.base_prefix, "bin", "python3")
    if sys.prefix == sys.base_prefix or not other.exists():
        pytest.skip(
            "needs a Python without hookreload (the one this virtual environment is made from)"
        )
    env = _environ(**{_children.CONFIG_ENV: "{}", "PYTHONPATH": _children.BOOT_DIR})
    code = (
        "import sys; print('ran', any('_boot' in p for p in sys.path), 'hookreload' in sys.modules)"
    )
    status, out, err = _run([str(other), "-c", code], tmp_path, env)
    assert status == 0, err
    assert out == "ran False False\n"
    assert err == ""


def test_a_variable_the_program_changed_since_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_children.ENV, "1")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    hook = hookreload.install(include=["app"])
    os.environ["PYTHONPATH"] = "/the/program/s/own"
    hook.uninstall()
    assert os.environ["PYTHONPATH"] == "/the/program/s/own"
    assert _children.CONFIG_ENV not in os.environ


def test_the_command_s_check_and_time_outs_reach_the_children(tmp_path: Path) -> None:
    code = (
        "import hookreload; hook = hookreload._hook.active(); "
        "print(hook.validate, hook.reload_timeout, hook.patch, hook.dependents, hook.exclude)"
    )
    _probe(tmp_path, code)
    args = ["--check", "true", "--reload-timeout", "5", "--patch", "--no-dependents"]
    status, out, err = _run(
        [sys.executable, "-m", "hookreload", *args, "--exclude", "x", str(tmp_path / "probe.py")],
        tmp_path,
        _environ(),
    )
    assert status == 0, err
    assert out == "--check 'true' 5.0 True False ('x',)\n"


# -- in this process: the child's watcher, deferred to its first proxied import --


@pytest.fixture
def deferred(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[hookreload.Hook]:
    """The hook a child process installs at start-up (``boot()``), for ``project``."""
    monkeypatch.setattr(_children, "booting", True)
    hook = hookreload.install(include=[project.package], watch=True)
    monkeypatch.setattr(_children, "booting", False)
    assert hook.watcher is None
    assert _watch.current() is None
    try:
        yield hook
    finally:
        hook.uninstall()


def test_the_first_proxied_import_starts_the_watcher_and_uninstall_stops_it(
    project: Project, deferred: hookreload.Hook
) -> None:
    project.write("mod.py", "def f():\n    return 1\n")
    mod = project.load("mod")
    watcher = deferred.watcher
    assert watcher is not None
    assert watcher is _watch.current()
    assert watcher.running
    project.write("mod.py", "def f():\n    return 2\n")
    wait_until(lambda: mod.f() == 2, what="mod v2")
    deferred.uninstall()
    assert not watcher.running
    assert watcher_threads() == []


def test_a_module_imported_before_the_watcher_starts_is_watched(
    project: Project, deferred: hookreload.Hook
) -> None:
    project.write("early.py", "def f():\n    return 1\n")
    project.write("late.py", "")
    # Another thread holds the lock (installing, say): the import does not
    # wait for it (it would hold early's import lock meanwhile), and the
    # watcher waits for the next import.
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with _hook._lock:
            held.set()
            done.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(TIMEOUT)
        early = project.load("early")
        assert deferred.watcher is None
    finally:
        done.set()
        holder.join(TIMEOUT)
    project.write("early.py", "def f():\n    return 2\n")  # edited while nothing watched
    project.load("late")
    assert deferred.watcher is not None
    wait_until(lambda: early.f() == 2, what="early v2")


def test_imports_finishing_together_start_one_watcher(
    project: Project, deferred: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"m{i}" for i in range(4)]
    barrier = threading.Barrier(len(names))
    monkeypatch.setattr(builtins, "_hookreload_test_barrier", barrier, raising=False)
    for name in names:
        # The modules' last line: all finish executing at once.
        project.write(f"{name}.py", "import builtins\nbuiltins._hookreload_test_barrier.wait(10)\n")
    threads = [
        threading.Thread(target=importlib.import_module, args=(project.name(n),)) for n in names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert all(hookreload.is_proxy(sys.modules[project.name(n)]) for n in names)
    assert deferred.watcher is _watch.current()
    assert watcher_threads() == [deferred.watcher.thread]


def test_the_program_asking_for_the_same_hook_gets_its_watcher_at_once(
    project: Project, deferred: hookreload.Hook
) -> None:
    assert hookreload.install(include=[project.package], watch=True) is deferred
    assert deferred.watcher is not None
    assert deferred.watcher.running


def test_a_fork_of_a_child_that_imported_nothing_defers_its_watcher_too(
    project: Project, deferred: hookreload.Hook
) -> None:
    _children._after_fork_in_child()  # as os.fork() calls it in the child
    assert deferred.watcher is None
    assert _watch.current() is None
    project.write("mod.py", "")
    project.load("mod")
    assert deferred.watcher is not None
    assert deferred.watcher.running


def test_a_fork_while_another_thread_starts_the_watcher_defers_the_child_s(
    project: Project, deferred: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a fork copies mid-start: the start taken, the lock held, no watcher yet.
    monkeypatch.setattr(deferred, "_deferred", None)
    monkeypatch.setattr(_watch, "_current", _watch.Watcher(_watch.Settings()))
    monkeypatch.setattr(_hook, "_lock", threading.Lock())
    _hook._lock.acquire()
    _children._after_fork_in_child()
    assert not _hook._lock.locked()
    assert _watch.current() is None
    project.write("mod.py", "")
    project.load("mod")
    assert deferred.watcher is _watch.current()
    assert deferred.watcher is not None
    assert deferred.watcher.running


def test_a_watcher_that_cannot_start_leaves_the_import_alone(
    project: Project,
    deferred: hookreload.Hook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(settings: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_watch, "start", fail)
    project.write("mod.py", "X = 1\n")
    assert project.load("mod").X == 1
    assert deferred.watcher is None
    assert "could not start the watcher" in caplog.text
