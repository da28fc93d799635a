"""The part of the experiment you edit while it runs: the step and its parameters.

Fit ``y = w * x + b`` by stochastic gradient descent. Change LEARNING_RATE or
the body of ``step`` and save: the loop in train.py takes the new version at
its next safe point, with its weights and step count intact.
"""

LEARNING_RATE = 0.002
# Clip each gradient to this size: large steps on a bad learning rate diverge.
CLIP = 10.0


def clip(value: float) -> float:
    return max(-CLIP, min(CLIP, value))


def step(state: dict[str, float], batch: list[tuple[float, float]]) -> float:
    """One update of ``state["w"]`` and ``state["b"]`` on ``batch``; returns the batch loss."""
    w, b = state["w"], state["b"]
    grad_w = grad_b = loss = 0.0
    for x, y in batch:
        error = w * x + b - y
        loss += error * error
        grad_w += 2 * error * x
        grad_b += 2 * error
    n = len(batch)
    state["w"] = w - LEARNING_RATE * clip(grad_w / n)
    state["b"] = b - LEARNING_RATE * clip(grad_b / n)
    return loss / n
