"""The hookreload command: in-process through main(argv), and a few real runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hookreload
from hookreload import _cli, _report

HELP = Path(__file__).parent / "data" / "cli_help.txt"


def _script(tmp_path: Path, body: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_runs_a_script_as_python_would(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "helper_mod.py").write_text("VALUE = 7\n")
    script = _script(
        tmp_path,
        """
        import sys, hookreload, helper_mod
        print(__name__, sys.argv[1:], hookreload.is_proxy(helper_mod), helper_mod.VALUE)
        print(sys.path[0])
        """,
    )
    assert _cli.main(["--include", "helper_mod", str(script), "a", "--flag"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["__main__ ['a', '--flag'] True 7", str(tmp_path)]
    assert hookreload._hook.active() is None  # uninstalled, watcher stopped


def test_runs_a_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "clipkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text("import sys\nprint(__name__, sys.argv[1:])\nraise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["-m", "clipkg.main", "-x", "y"]) == 3
    assert capsys.readouterr().out == "__main__ ['-x', 'y']\n"


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("5", 5), ("'bye'", 1)])
def test_exit_status(tmp_path: Path, code: str, status: int) -> None:
    script = _script(tmp_path, f"raise SystemExit({code})\n")
    assert _cli.main([str(script)]) == status


def test_uncaught_exception_propagates(tmp_path: Path) -> None:
    script = _script(tmp_path, "raise LookupError('from the program')\n")
    with pytest.raises(LookupError, match="from the program"):
        _cli.main([str(script)])
    assert hookreload._hook.active() is None


@pytest.mark.parametrize(("options", "dependents"), [([], True), (["--no-dependents"], False)])
def test_dependents_are_on_unless_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], dependents: bool
) -> None:
    script = _script(tmp_path, "import hookreload\nprint(hookreload._hook.active().dependents)\n")
    assert _cli.main([*options, str(script)]) == 0
    assert capsys.readouterr().out == f"{dependents}\n"


@pytest.mark.parametrize(("options", "patch"), [([], False), (["--patch"], True)])
def test_patch_is_off_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], patch: bool
) -> None:
    script = _script(tmp_path, "import hookreload\nprint(hookreload._hook.active().patch)\n")
    assert _cli.main([*options, str(script)]) == 0
    assert capsys.readouterr().out == f"{patch}\n"


def test_a_reference_follows_edits_in_a_real_process_with_patch(tmp_path: Path) -> None:
    (tmp_path / "patched_mod.py").write_text("def answer():\n    return 'one'\n")
    script = _script(
        tmp_path,
        """
        import sys, time
        from patched_mod import answer  # a reference taken once, at start
        last = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = answer()
            if now != last:
                print("answer", now, flush=True)
                last = now
            if now == "two":
                sys.exit(0)
            time.sleep(0.005)
        sys.exit(1)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookreload", "--patch", "--include", "patched_mod", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        _wait_for_line(proc, "answer one")
        (tmp_path / "patched_mod.py").write_text("def answer():\n    return 'two'\n")
        _wait_for_line(proc, "answer two")
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "(patched 1)" in err
    finally:
        proc.kill()
        proc.communicate()


def test_option_splitting() -> None:
    assert _cli._split(["--poll", "0.2", "app.py", "--poll"]) == (
        ["--poll", "0.2"],
        ["app.py", "--poll"],
    )
    assert _cli._split(["--poll", "app.py"]) == (["--poll"], ["app.py"])
    assert _cli._split(["-q", "-m", "pkg", "-q"]) == (["-q", "-m", "pkg"], ["-q"])
    assert _cli._split(["--include", "a", "--", "-weird.py"]) == (["--include", "a"], ["-weird.py"])
    assert _cli._split(["-v"]) == (["-v"], [])


def test_help_text_is_the_saved_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as info:
        _cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    if os.environ.get("HOOKRELOAD_UPDATE_HELP"):
        HELP.write_text(text)
    assert text == HELP.read_text(), "the --help text changed: rerun with HOOKRELOAD_UPDATE_HELP=1"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"hookreload {hookreload.__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a script to run"),
        (["missing_script.py"], "no such script"),
        (["--poll", "x", "a.py"], "no such script"),
        (["-q", "-v", "a.py"], "not allowed with"),
        (["--bogus", "a.py"], "unrecognized arguments"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_reports_go_to_stderr_in_colour_only_on_a_terminal() -> None:
    import logging

    record = logging.LogRecord("hookreload", logging.INFO, "", 0, "reloaded x v2", None, None)
    assert _report._Formatter(colour=False).format(record) == "hookreload: reloaded x v2"
    assert (
        _report._Formatter(colour=True).format(record) == "\033[32mhookreload: reloaded x v2\033[0m"
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} never printed")


@pytest.mark.parametrize("entry", [["-m", "hookreload"], ["-m", "hookreload", "--poll", "0.05"]])
def test_edit_broken_save_and_recovery_in_a_real_process(tmp_path: Path, entry: list[str]) -> None:
    (tmp_path / "served.py").write_text("def answer():\n    return 'one'\n")
    script = _script(
        tmp_path,
        """
        import sys, time, hookreload, served

        def say(line):  # one write: the watcher thread's lines cannot cut into it
            sys.stdout.write(line + "\\n")
            sys.stdout.flush()

        hookreload.on_reload(lambda event: say("event ok" if event.ok else "event failed"))
        last = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = served.answer()
            if now != last:
                say(f"answer {now}")
                last = now
            if now == "three":
                sys.exit(0)
            time.sleep(0.005)
        sys.exit(1)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, *entry, "--include", "served", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        _wait_for_line(proc, "answer one")
        (tmp_path / "served.py").write_text("def answer():\n    return 'two'\n")
        _wait_for_line(proc, "answer two")
        (tmp_path / "served.py").write_text("def answer(:\n    return 'broken'\n")
        _wait_for_line(proc, "event failed")
        (tmp_path / "served.py").write_text("def answer():\n    return 'three'\n")
        _wait_for_line(proc, "answer three")
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert "hookreload: reloaded served v2 in" in err
        assert "SyntaxError" in err
        assert "keeping version 2" in err
        assert "\033[" not in err  # not a terminal: no colour
    finally:
        proc.kill()
        proc.communicate()


def _lines_until(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> list[str]:
    """The lines printed until the one holding ``needle``, that one included."""
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip("\n"))
            if needle in line:
                return lines
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} never printed; got {lines}")


@pytest.mark.parametrize("options", [[], ["--no-dependents"]])
def test_dependents_in_a_real_process(tmp_path: Path, options: list[str]) -> None:
    (tmp_path / "shop_models.py").write_text("PRICE = 1\n")
    (tmp_path / "shop_views.py").write_text(
        "from shop_models import PRICE\n\ndef price():\n    return PRICE\n"
    )
    (tmp_path / "shop_sentinel.py").write_text("N = 1\n")
    script = _script(
        tmp_path,
        """
        import threading, hookreload, shop_views, shop_sentinel

        done = threading.Event()

        def report(event):
            print("event", event.name, event.cause, flush=True)
            if event.name == "shop_sentinel":
                done.set()

        hookreload.on_reload(report)
        print("ready", flush=True)
        # The sentinel's reload comes in a later batch: the models' batch is done.
        done.wait(30)
        print("price", shop_views.price(), flush=True)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookreload", *options, "--include", "shop_*", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        _wait_for_line(proc, "ready")
        (tmp_path / "shop_models.py").write_text("PRICE = 2\n")
        _wait_for_line(proc, "event shop_models None")
        (tmp_path / "shop_sentinel.py").write_text("N = 2\n")
        out = _lines_until(proc, "price")
        # communicate() reads the pipe itself: only after the lines read here.
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        if options:
            assert out == ["event shop_sentinel None", "price 1"]
        else:
            assert out == ["event shop_views shop_models", "event shop_sentinel None", "price 2"]
            assert "reloaded shop_views v2" in err
    finally:
        proc.kill()
        proc.communicate()
