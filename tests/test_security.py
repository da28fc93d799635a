"""What hookreload may touch: only the source files of the modules it manages.

A reload only ever executes the file its module was imported from, resolved at
import; the watcher only reacts to those files; nothing listens on the network;
nothing is written but Python's own bytecode caches. The first test runs a
program under an audit hook (PEP 578), which sees every file opened for
writing, every compile, every socket bound and every process started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import hookreload
from tests.conftest import Project

AUDITED = textwrap.dedent(
    """
    import json, os, sys, time

    ROOT = sys.argv[1]
    seen = []
    own = [False]  # the program's own edits, which stand for an editor

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def audit(event, args):
        if own[0]:
            return
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS
            if writes and isinstance(path, (str, bytes)):
                seen.append(["write", os.fsdecode(path)])
        elif event in ("os.rename", "os.replace", "os.remove", "os.mkdir", "os.rmdir",
                       "os.symlink", "os.link", "os.truncate", "os.chmod"):
            seen.append([event, os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else repr(args[0])])
        elif event in ("socket.bind", "socket.connect", "socket.sendto", "socket.getaddrinfo"):
            seen.append([event, repr(args)])
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork"):
            seen.append([event, repr(args)[:200]])
        elif event == "compile" and isinstance(args[1], str) and args[1].startswith(ROOT):
            seen.append(["compile", args[1]])

    sys.addaudithook(audit)

    import hookreload

    sys.path.insert(0, ROOT)
    hook = hookreload.install(include=["app"], watch=True)
    import app.mod

    events = []
    hookreload.on_reload(events.append)

    def edit(text):
        own[0] = True
        try:
            with open(os.path.join(ROOT, "app", "mod.py"), "w") as f:
                f.write(text)
        finally:
            own[0] = False

    def wait_for(count):
        deadline = time.monotonic() + 30
        while len(events) < count:
            assert time.monotonic() < deadline, f"no reload event: {events}"
            time.sleep(0.005)

    edit("VALUE = 2\\n")
    wait_for(1)
    edit("VALUE = (\\n")
    wait_for(2)
    hookreload.rollback(app.mod)
    hookreload.reload_changed()
    hookreload.uninstall()
    print(json.dumps({"seen": seen, "value": app.mod.VALUE,
                      "events": [[e.name, e.ok] for e in events]}))
    """
)


def _listening_socket_inodes() -> set[str]:
    """Inodes of every listening TCP socket and bound UDP socket on the machine."""
    inodes = set()
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == state:
                inodes.add(fields[9])
    return inodes


def test_a_watched_program_writes_binds_and_compiles_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / "app" / "neighbour.py").write_text("raise SystemExit('never run me')\n")
    script = tmp_path / "audited.py"
    script.write_text(AUDITED)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["value"] == 1  # rolled back to version 1, the broken save refused
    assert report["events"][:2] == [["app.mod", True], ["app.mod", False]]
    for kind, what in report["seen"]:
        if kind == "compile":
            # Only the imported modules' own files, never their neighbour.
            assert what in {str(tmp_path / "app" / name) for name in ("__init__.py", "mod.py")}
        elif kind in ("write", "os.mkdir", "os.replace", "os.rename"):
            # Python's own bytecode cache, written by the import system.
            assert f"{os.sep}__pycache__" in what, f"{kind} {what}"
        else:
            raise AssertionError(f"unexpected {kind}: {what}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_nothing_listens_on_the_network(project: Project) -> None:
    def our_sockets() -> set[str]:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        return inodes

    project.write("mod.py", "X = 1\n")
    with hookreload.install(include=[project.package], watch=True) as hook:
        mod = project.load("mod")
        project.write("mod.py", "X = 2\n")
        hookreload.reload(mod)
        assert hook.watcher is not None
        assert not our_sockets() & _listening_socket_inodes()


def test_a_folder_link_swapped_after_import_is_refused(tmp_path: Path) -> None:
    # The file is reached through a linked folder: its path is resolved at
    # import, and a reload refuses a path that now leads elsewhere.
    real = tmp_path / "real" / "hr_sec_linked"
    evil = tmp_path / "evil" / "hr_sec_linked"
    for folder, value in ((real, "'good'"), (evil, "'evil'")):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text(f"X = {value}\n")
    link = tmp_path / "site"
    link.mkdir()
    (link / "hr_sec_linked").symlink_to(real, target_is_directory=True)
    sys.path.insert(0, str(link))
    hookreload.install(include=["hr_sec_linked"])
    import hr_sec_linked

    module: types.ModuleType = hr_sec_linked
    (link / "hr_sec_linked").unlink()
    (link / "hr_sec_linked").symlink_to(evil, target_is_directory=True)
    with pytest.raises(hookreload.ReloadError, match="refusing to run it"):
        hookreload.reload(module)
    assert module.X == "good"


def test_the_watcher_ignores_files_no_module_was_loaded_from(project: Project) -> None:
    project.write("mod.py", "X = 1\n")
    project.write("other.py", "X = 1\n")
    with hookreload.install(include=[project.package]):
        mod = project.load("mod")
        assert hookreload.reload_changed() == []
        project.write("other.py", "raise SystemExit('never run me')\n")
        project.write("new.py", "raise SystemExit('never run me')\n")
        assert hookreload.reload_changed() == []
        assert project.name("other") not in sys.modules
        assert project.name("new") not in sys.modules
        assert mod.X == 1
