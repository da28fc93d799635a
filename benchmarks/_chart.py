"""The chart of a run: every figure against its target, drawn as a PNG (matplotlib, Agg).

Three panels, from the measurements alone: the ratio targets (the ratio as a
bar, the target as a tick, on a log scale around 1), the other targets as a
share of their limit (latencies, idle CPU, memory growth), and the ratios
that are only for the record (patch mode's cost, the other reloaders). A
target of zero (no failed request) has no scale to draw and is left to the
tables.
"""

from __future__ import annotations

import textwrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from _common import CaseResult, Measurement

COLOURS = {"PASS": "#2e7d32", "FAIL": "#c62828", "—": "#78909c"}
TARGET = "#212121"


def panels(results: list[CaseResult]) -> list[tuple[str, list[Measurement]]]:
    """The panels to draw, titled, each with its measurements; empty panels left out."""
    measurements = [m for result in results for m in result.measurements]
    ratios = [m for m in measurements if m.unit == "x" and m.limit is not None]
    others = [m for m in measurements if m.unit != "x" and m.limit]
    record = [m for m in measurements if m.unit == "x" and m.limit is None]
    found = [
        ("Ratios measured side by side, against their targets (tick: the target)", ratios),
        ("Other targets: the figure as a share of its target", others),
        ("For the record: ratios with no target", record),
    ]
    return [(title, items) for title, items in found if items]


def _bar(m: Measurement) -> float:
    """What the bar shows: a ratio as it is, any other figure over its limit."""
    if m.unit == "x" or not m.limit:
        return m.value
    return m.value / m.limit


def _label(text: str) -> str:
    return "\n".join(textwrap.wrap(text.replace("`", ""), 62))


def write_chart(results: list[CaseResult], path: Path) -> bool:
    """Draw the run's chart into ``path``; False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    found = panels(results)
    if not found:
        return False
    heights = [len(items) * 0.42 + 0.9 for _, items in found]
    figure, axes = plt.subplots(
        len(found),
        1,
        figsize=(11, sum(heights) + 0.4),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (title, items) in zip(axes[:, 0], found, strict=True):
        _panel(ax, title, items)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def _panel(ax: Any, title: str, items: list[Measurement]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    rows = list(range(len(items)))[::-1]  # the first measurement on top
    values = [_bar(m) for m in items]
    ax.barh(rows, values, color=[COLOURS[m.verdict] for m in items], height=0.6)
    for row, m, value in zip(rows, items, values, strict=True):
        text = m.formatted() + ("" if m.limit is None else f"  (target {m.target})")
        ax.annotate(
            text,
            (max(value, m.limit or 0) if m.unit == "x" else value, row),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
        if m.unit == "x" and m.limit is not None:
            ax.plot([m.limit, m.limit], [row - 0.4, row + 0.4], color=TARGET, lw=2)
    ax.set_xscale("log")
    ticks = [m.limit or 0 for m in items if m.unit == "x"]
    low = min(min(values), 1.0) / 2
    high = max(max(values), *ticks, 1.0) * 8
    ax.set_xlim(max(low, 1e-4), high)
    reference = "1: the target" if items[0].unit != "x" else "1x: as fast as the baseline"
    ax.axvline(1.0, color=TARGET, lw=0.8, ls="--", label=reference)
    ax.set_yticks(rows, [_label(m.label) for m in items], fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    suffix = "x" if items[0].unit == "x" else ""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{suffix}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)
