"""``make demo``: the service edited under load (examples/service/demo.py), end to end.

The demo runs as ``make demo`` runs it, in a subprocess that is killed if it
overruns. It checks itself and exits with 1 if a request failed or the
request counter did not go on; these tests read its story too, and make sure
it leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from examples.service.demo import BROKEN, EDITED, FIRST, FIXED, check
from examples.service.drive import Answer, Client

ROOT = Path(__file__).resolve().parent.parent
STARLETTE = bool(find_spec("starlette") and find_spec("uvicorn"))


def run_demo(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "examples.service.demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # subprocess.run kills the child when it expires
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"the demo failed:\n{result.stdout}\n{result.stderr}"
    # Its copy of the service is gone, and the service with it (a live one would hold the log).
    assert list(tmp_path.iterdir()) == []
    return result.stdout


def test_the_demo_edits_the_service_under_load_and_loses_nothing(tmp_path: Path) -> None:
    # As `make demo` runs it: on Starlette when it is installed, else on http.server.
    out = run_demo(tmp_path)
    lines = out.splitlines()

    def index(pattern: str, start: int = 0) -> int:
        found = [i for i, line in enumerate(lines) if i >= start and re.search(pattern, line)]
        assert found, f"{pattern!r} not in the demo's output:\n{out}"
        return found[0]

    command = "hookreload -m examples.service.app" if STARLETTE else "stdlib_app"
    assert index(re.escape(command)) < index(rf"client <- {FIRST} \(request 1\)")
    # Each good save: the last old answer, then the first new one, numbered next.
    for old, new in [(FIRST, EDITED), (EDITED, FIXED)]:
        at = index(rf"client <- {new} \(request \d+\)   <- the new code, \d+ ms after the save")
        before = re.search(rf"client <- {old} \(request (\d+)\)$", lines[at - 1])
        after = re.search(r"\(request (\d+)\)", lines[at])
        assert before and after, out
        assert int(after[1]) == int(before[1]) + 1
    # The broken save: reported with the file and line, and the previous version answered on.
    broken = index("SyntaxError")
    assert re.search(
        r"cannot reload 'examples.service.handlers' \(.*handlers.py, line \d+\)", lines[broken]
    )
    assert lines[broken].endswith("keeping version 2")
    assert re.search(rf"client <- {EDITED} ", lines[broken + 1])
    assert f"{BROKEN} (request" not in out
    summary = out[out.index("\nSummary") :]
    assert re.search(r"requests sent: \d+, failed: 0\n", summary)
    assert re.search(r"counter: requests numbered 1 to \d+ without a gap", summary)
    assert re.search(r"edit to live .*: \d+ ms \(the rewrite\), \d+ ms \(the fix\)", summary)
    assert "PROBLEM" not in out


def answer(message: str, number: int, ok: bool = True) -> Answer:
    return Answer(0.0, 0.0, ok, f"{message} (request {number})", message, number)


def test_the_demo_says_when_a_request_failed_or_the_counter_was_lost() -> None:
    client = Client(port=1)  # never started: its answers are set here
    client.answers = [answer(FIRST, 1), answer(FIRST, 2), answer(EDITED, 3), answer(FIXED, 4)]
    assert check(client, {"requests": 4}) == []

    client.answers[2] = answer(EDITED, 1)  # the new version started counting again
    assert any("state was lost" in p for p in check(client, {"requests": 4}))

    client.answers[2] = Answer(0.0, 0.0, False, "ConnectionResetError()")
    assert check(client, {"requests": 3})[0] == "request failed: ConnectionResetError()"

    client.answers[2] = answer(BROKEN, 3)
    assert any("wrong versions" in p for p in check(client, {"requests": 4}))


@pytest.mark.skipif(not STARLETTE, reason="needs Starlette and uvicorn")
def test_the_demo_with_two_workers_reaches_both(tmp_path: Path) -> None:
    out = run_demo(tmp_path, "--workers", "2")
    pids = set(re.findall(r"worker (\d+) <- ", out))
    assert len(pids) == 2, out
    for pid in pids:
        # Each worker reloaded, refused the broken save, and reloaded the fix, on its own.
        assert f"hookreload[{pid}]: reloaded examples.service.handlers v2" in out
        assert re.search(rf"hookreload\[{pid}\]: cannot reload .*keeping version 2", out)
        assert f"hookreload[{pid}]: reloaded examples.service.handlers v3" in out
        assert f"worker {pid} <- {FIXED} (its request" in out
    assert re.search(r"requests sent: \d+, failed: 0\n", out)
    assert "PROBLEM" not in out
