"""examples/experiment: a training loop takes edits at safe points and keeps its state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_experiment_takes_edits_between_steps_and_survives_a_broken_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.experiment.train", "--demo", "--report-every", "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # subprocess.run kills the child when it expires
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    out = result.stdout
    assert result.returncode == 0, f"the fit did not converge:\n{out}\n{result.stderr}"

    def step_of(pattern: str) -> int:
        match = re.search(rf"^step (\d+): .*{pattern}", out, re.MULTILINE)
        assert match, f"{pattern!r} not in the output:\n{out}"
        return int(match.group(1))

    # Each edit is taken at a safe point after it was written, in order.
    assert 300 < step_of("model v2 is live") < step_of("save a syntax error")
    assert step_of("edit refused.*SyntaxError.*keeping version 2") > 600
    assert step_of("model v3 is live") > 900
    # The new learning rate was in force after the first reload, on the same weights.
    assert "(learning rate 0.05)" in out.split("v2 is live", 1)[1]
    assert re.search(
        r"^done after 1200 steps: w=2\.9\d\d|^done after 1200 steps: w=3\.0", out, re.M
    )
