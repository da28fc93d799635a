"""The validation gate: install(validate=...) and --check CMD veto a reload before the swap."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Mapping
from pathlib import Path

import pytest

import hookreload
from hookreload import _cli
from hookreload._validate import CheckCommand, Vetoed
from tests.conftest import Project


def _two(project: Project) -> tuple[types.ModuleType, types.ModuleType]:
    project.write("a.py", "X = 1\n")
    project.write("b.py", "from .a import X\nY = X\n")
    a, b = project.load("a"), project.load("b")
    project.write("a.py", "X = 2\n")
    project.write("b.py", "from .a import X\nY = X * 10\n")
    return a, b


def test_the_validator_gets_the_built_versions_before_any_is_live(project: Project) -> None:
    seen: list[dict[str, object]] = []

    def validate(modules: Mapping[str, types.ModuleType]) -> None:
        a, b = modules[project.name("a")], modules[project.name("b")]
        live = sys.modules[project.name("a")]
        seen.append({"names": list(modules), "built": (a.X, b.Y), "live": live.X})

    hookreload.install(include=[project.package], validate=validate)
    a, b = _two(project)
    hookreload.reload(a, b)
    assert seen == [{"names": [project.name("a"), project.name("b")], "built": (2, 20), "live": 1}]
    assert b.Y == 20  # type: ignore[attr-defined]


@pytest.mark.parametrize("verdict", ["false", "raise"])
def test_a_veto_changes_nothing_and_is_reported(
    project: Project,
    verdict: str,
    events: list[hookreload.ReloadEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_b(modules: Mapping[str, types.ModuleType]) -> bool:
        if verdict == "raise":
            raise ValueError("Y is too big")
        return False

    hookreload.install(include=[project.package], validate=no_b)
    a, b = _two(project)
    live = hookreload.current(a), hookreload.current(b)
    with pytest.raises(Vetoed) as info:
        hookreload.reload(a, b)
    error = info.value
    assert isinstance(error, hookreload.ReloadError)
    assert error.validator is no_b
    reason = "ValueError: Y is too big" if verdict == "raise" else "it returned False"
    assert "vetoed by validate=" in str(error) and "no_b" in str(error) and reason in str(error)
    assert (hookreload.current(a), hookreload.current(b)) == live
    assert (a.X, b.Y) == (1, 1)  # type: ignore[attr-defined]
    assert [(e.name, e.ok) for e in events] == [
        (project.name("a"), False),
        (project.name("b"), False),
    ]
    assert events[0].error is error
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged == [str(error)]


def test_a_validator_returning_anything_but_false_lets_it_go(project: Project) -> None:
    hookreload.install(include=[project.package], validate=lambda modules: 0)
    a, _ = _two(project)
    assert hookreload.reload(a).number == 2


def test_bad_validate_and_reload_timeout_options_are_refused(project: Project) -> None:
    with pytest.raises(ValueError, match="validate must be a callable"):
        hookreload.install(include=[project.package], validate="ruff")  # type: ignore[arg-type]
    for bad in (0, -1, "1", True):
        with pytest.raises(ValueError, match="reload_timeout must be seconds"):
            hookreload.install(include=[project.package], reload_timeout=bad)  # type: ignore[arg-type]


def _checker(tmp_path: Path, body: str) -> str:
    """A command line running a Python script: exits as ``body`` says, with the files as argv."""
    script = tmp_path / "check.py"
    script.write_text("import sys\n" + body)
    return f"{sys.executable} {script}"


def test_check_command_gets_the_new_sources_and_passes(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "args.txt"
    command = _checker(tmp_path, f"open({str(out)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n")
    hookreload.install(include=[project.package], validate=CheckCommand(command))
    a, b = _two(project)
    hookreload.reload(a, b)
    assert out.read_text().splitlines() == sorted(
        [str(project.path("a.py")), str(project.path("b.py"))]
    )
    assert b.Y == 20  # type: ignore[attr-defined]


def test_check_command_failing_vetoes(project: Project, tmp_path: Path) -> None:
    command = _checker(tmp_path, "print('a.py:1: E999 bad'); sys.exit(3)\n")
    check = CheckCommand(command)
    hookreload.install(include=[project.package], validate=check)
    a, _ = _two(project)
    with pytest.raises(Vetoed, match=r"vetoed by --check .*exit status 3 \(a.py:1: E999 bad\)"):
        hookreload.reload(a)
    assert a.X == 1  # type: ignore[attr-defined]
    assert repr(check) == f"--check {command!r}"


def test_check_command_that_hangs_or_cannot_run_vetoes(project: Project, tmp_path: Path) -> None:
    slow = CheckCommand(_checker(tmp_path, "import time; time.sleep(30)\n"), timeout=0.2)
    missing = CheckCommand(str(tmp_path / "no-such-checker"))
    checks = iter([slow, missing])
    hookreload.install(include=[project.package], validate=lambda modules: next(checks)(modules))
    a, _ = _two(project)
    for reason in ("ran longer than 0.2 s", "cannot run"):
        with pytest.raises(Vetoed, match=reason):
            hookreload.reload(a)
    assert a.X == 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="needs a command"):
        CheckCommand("  ")
    assert CheckCommand("x") == CheckCommand("x") and hash(CheckCommand("x"))
    assert CheckCommand("x") != CheckCommand("y") and CheckCommand("x") != "x"


def test_cli_check_and_reload_timeout_reach_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, object] = {}
    real_install = _cli.install

    def install(*args: object, **kwargs: object) -> hookreload.Hook:
        options.update(kwargs)
        return real_install(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_cli, "install", install)
    script = tmp_path / "prog.py"
    script.write_text("pass\n")
    argv = ["--no-children", "--check", "ruff check", "--reload-timeout", "0", str(script)]
    assert _cli.main(argv) == 0
    assert options["validate"] == CheckCommand("ruff check")
    assert options["reload_timeout"] is None
    assert _cli.main(["--no-children", str(script)]) == 0
    assert options["validate"] is None
    assert options["reload_timeout"] == _cli.RELOAD_TIMEOUT
    with pytest.raises(SystemExit):
        _cli.main(["--reload-timeout", "-1", str(script)])
