"""examples/core_demo.py (`make demo-core`): one process edits, breaks, fixes and rolls back a module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "core_demo.py"


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    # subprocess.run kills the child when the timeout expires: the test always ends.
    return subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("dont_write_bytecode", ["", "1"])
def test_core_demo_runs_and_tells_its_story(dont_write_bytecode: str) -> None:
    result = run_demo(PYTHONDONTWRITEBYTECODE=dont_write_bytecode)
    out = result.stdout
    assert result.returncode == 0, f"demo failed:\n{out}\n{result.stderr}"
    lines = out.splitlines()

    def index(text: str) -> int:
        found = [i for i, line in enumerate(lines) if text in line]
        assert found, f"{text!r} not in the demo's output:\n{out}"
        return found[0]

    # Version 1, then the new behaviour through the same reference, counter intact.
    assert index("worker -> Hello, Ada! (call 1)") < index("worker -> Hello, Grace! (call 2)")
    assert index("now version 2") < index("worker -> Good morning, Ada! (call 3)")
    assert "live('greeter.greetings:hello') -> Good morning, Linus! (call 4)" in out
    # Both broken versions reported with module, file, line, and what stays live.
    syntax = lines[index("SyntaxError")]
    assert "cannot reload 'greeter.greetings'" in syntax
    assert "greetings.py, line 4" in syntax and syntax.endswith("keeping version 2")
    runtime = lines[index("KeyError while executing")]
    assert "greetings.py, line 2" in runtime and runtime.endswith("keeping version 2")
    # ...and the program kept running on version 2 after each.
    assert "worker -> Good morning, Grace! (call 6)" in out
    assert "worker -> Good morning, Ada! (call 7)" in out
    # The versions kept, the rollback, and the counter surviving it.
    assert index("version 1: source") < index("version 2: source") < index("rolled back")
    assert "rolled back to version 1" in out
    assert index("rolled back") < index("worker -> Hello, Grace! (call 8)")
    assert "versions kept: [1], live: 1" in out
    assert out.rstrip().endswith("temporary package removed.")


def test_core_demo_cleans_up(tmp_path: Path) -> None:
    result = run_demo(TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert str(tmp_path) in result.stdout  # it did make its package there
    assert list(tmp_path.iterdir()) == []
