"""The IPython extension, in a real InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import hookreload
from tests.conftest import Project

IPython = pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402


@pytest.fixture(scope="module")
def ipython_shell() -> Iterator[Any]:
    # Module-scoped, so made before the per-test snapshot of sys.modules:
    # IPython's lazily imported classes must stay the same objects.
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def shell(ipython_shell: Any) -> Iterator[Any]:
    try:
        yield ipython_shell
    finally:
        ipython_shell.run_line_magic("unload_ext", "hookreload")
        ipython_shell.reset()


def run(shell: Any, cell: str) -> Any:
    result = shell.run_cell(cell)
    result.raise_error()
    return result.result


def test_cells_see_the_saved_code(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("mod.py", "def answer():\n    return 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    assert run(shell, "mod.answer()") == 1
    project.write("mod.py", "def answer():\n    return 2\n")
    assert run(shell, "mod.answer()") == 2
    assert f"hookreload: reloaded {project.name('mod')} v2" in capsys.readouterr().err


def test_a_broken_save_is_reported_and_the_cell_runs_on(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("mod.py", "X = 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    project.write("mod.py", "X = (\n")
    assert run(shell, "mod.X") == 1
    assert "SyntaxError" in capsys.readouterr().err
    project.write("mod.py", "X = 3\n")
    assert run(shell, "mod.X") == 3


def test_magic_status_reload_rollback_and_switch(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%load_ext hookreload")
    run(shell, "%hookreload")
    assert "no module is proxied yet" in capsys.readouterr().err
    project.write("mod.py", "X = 1\n")
    name = project.name("mod")
    run(shell, f"import {name} as mod")
    run(shell, "%hookreload off")
    project.write("mod.py", "X = 2\n")
    assert run(shell, "mod.X") == 1  # not reloaded before the cell
    run(shell, f"%hookreload reload {name}")
    assert run(shell, "mod.X") == 2
    run(shell, "%hookreload")
    table = capsys.readouterr().err
    assert name in table
    assert "v2" in table
    assert "1,2" in table
    run(shell, f"%hookreload rollback {name}")
    assert run(shell, "mod.X") == 1
    run(shell, f"%hookreload rollback {name}")
    run(shell, "%hookreload reload no.such.module")
    run(shell, "%hookreload frobnicate")
    err = capsys.readouterr().err
    assert "oldest one kept" in err
    assert "no module of that name is imported" in err
    assert "unknown arguments" in err
    run(shell, "%hookreload on")
    project.write("mod.py", "X = 4\n")
    assert run(shell, "mod.X") == 4


def test_loading_twice_registers_once(shell: Any) -> None:
    run(shell, "%load_ext hookreload")
    from hookreload import _ipython

    _ipython.load_ipython_extension(shell)
    assert len(_ipython._extensions) == 1
    assert hookreload._hook.active() is not None
