"""A long-running experiment that takes edits at safe points.

Run it from the repository's root and edit ``examples/experiment/model.py``
while it runs::

    python -m examples.experiment.train

The watcher only collects changes (``reload_in="safe-points"``); the loop
applies them between two steps with ``hookreload.reload_changed()``, so a
step never mixes two versions, and the weights, which live here in
``state``, carry on. A broken save is reported and the loop keeps the
version it has.

``--demo`` needs no editor: it trains a copy of model.py in a temporary
directory and edits that copy itself, first with a better learning rate,
then with a syntax error, then with a fix.
"""

from __future__ import annotations

import argparse
import importlib
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hookreload

HERE = Path(__file__).resolve().parent
TRUE_W, TRUE_B = 3.0, 2.0


def batches(seed: int, size: int = 16) -> Iterator[list[tuple[float, float]]]:
    rng = random.Random(seed)
    while True:
        points = [rng.uniform(-1, 1) for _ in range(size)]
        yield [(x, TRUE_W * x + TRUE_B + rng.gauss(0, 0.05)) for x in points]


# The demo's edits: (at step, what to do to the source, what to say).
Edit = tuple[int, Callable[[str], str], str]
DEMO_EDITS: list[Edit] = [
    (
        300,
        lambda src: src.replace("LEARNING_RATE = 0.002", "LEARNING_RATE = 0.05"),
        "raise the learning rate to 0.05",
    ),
    (600, lambda src: src.replace("def clip(value", "def clip(value,"), "save a syntax error"),
    (
        900,
        lambda src: src.replace("def clip(value,", "def clip(value").replace("10.0", "5.0"),
        "fix it, and clip gradients at 5",
    ),
]


@contextmanager
def demo_copy() -> Iterator[tuple[str, Path]]:
    """A copy of model.py as package ``hr_experiment_demo`` in a temporary directory."""
    root = Path(tempfile.mkdtemp(prefix="hookreload-experiment-"))
    package = root / "hr_experiment_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(HERE / "model.py", package / "model.py")
    sys.path.insert(0, str(root))
    try:
        yield "hr_experiment_demo", package / "model.py"
    finally:
        sys.path.remove(str(root))
        shutil.rmtree(root, ignore_errors=True)


def train(module_name: str, steps: int | None, report_every: int, edits: list[Edit]) -> int:
    """The loop. Returns the exit status: 0 when the fit is good at the end."""
    hook = hookreload.install(
        include=[module_name.rpartition(".")[0]], watch=True, reload_in="safe-points"
    )
    model = importlib.import_module(module_name)
    state = {"w": 0.0, "b": 0.0}
    pending = list(edits)
    loss = float("nan")
    data = batches(seed=0)
    step = 0
    while steps is None or step < steps:
        # The safe point: between two steps, never inside one.
        for event in hookreload.reload_changed():
            if event.ok:
                print(f"step {step}: {event.name} v{event.version.number} is live")  # type: ignore[union-attr]
            else:
                print(f"step {step}: edit refused, {event.error}")
        if pending and step == pending[0][0]:
            _, change, what = pending.pop(0)
            path = Path(model.__file__)
            print(f"step {step}: editing model.py: {what}")
            path.write_text(change(path.read_text()))
            _wait_for_the_watcher(hook)
        loss = model.step(state, next(data))
        step += 1
        if step % report_every == 0:
            print(
                f"step {step}: loss {loss:.4f}  w={state['w']:.3f} b={state['b']:.3f}"
                f"  (learning rate {model.LEARNING_RATE})"
            )
    good = abs(state["w"] - TRUE_W) < 0.1 and abs(state["b"] - TRUE_B) < 0.1
    print(f"done after {step} steps: w={state['w']:.3f} b={state['b']:.3f}, loss {loss:.4f}")
    return 0 if good else 1


def _wait_for_the_watcher(hook: hookreload.Hook, limit_s: float = 5.0) -> None:
    # The demo wants the next safe point to find its edit, as it would find a
    # human's; the watcher needs a few milliseconds to collect it.
    deadline = time.monotonic() + limit_s
    while hook.watcher is not None and not hook.watcher.pending:
        if time.monotonic() > deadline:
            print("no change collected yet: a later safe point will take it")
            return
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--report-every", type=int, default=100, metavar="N")
    parser.add_argument("--demo", action="store_true", help="edit a copy of model.py by itself")
    args = parser.parse_args(argv)
    try:
        if args.demo:
            with demo_copy() as (package, _):
                return train(f"{package}.model", args.steps or 1200, args.report_every, DEMO_EDITS)
        return train(f"{__package__}.model", args.steps, args.report_every, [])
    except KeyboardInterrupt:
        return 130
    finally:
        hookreload.uninstall()


if __name__ == "__main__":
    sys.exit(main())
