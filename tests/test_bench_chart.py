"""The benchmarks' own helpers: the chart of a run and the module the reloaders edit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The benchmarks' modules, imported as run.py imports them (the fixture restores sys)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _chart
    import _common
    import _gen

    class Modules:
        chart, common, gen = _chart, _common, _gen

    return Modules


def _results(bench: Any) -> list[Any]:
    m = bench.common.Measurement
    return [
        bench.common.CaseResult(
            "case",
            "a case",
            "",
            [
                m("a ratio", 1.01, "x", 1.05),
                m("a missed ratio", 1.2, "x", 1.15),
                m("a latency", 9.0, "ms", 20.0),
                m("no failure", 0, "requests", 0),
                m("a ratio for the record", 0.5, "x"),
                m("a time for the record", 14.0, "ms"),
            ],
        )
    ]


def test_panels_group_the_figures_by_how_they_are_judged(bench: Any) -> None:
    found = {
        title.split(":")[0]: [m.label for m in items]
        for title, items in bench.chart.panels(_results(bench))
    }
    assert found == {
        "Ratios measured side by side, against their targets (tick": ["a ratio", "a missed ratio"],
        "Other targets": ["a latency"],
        "For the record": ["a ratio for the record"],
    }
    assert bench.chart.panels([]) == []


def test_write_chart_draws_a_png(bench: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "img" / "chart.png"
    assert bench.chart.write_chart(_results(bench), path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not bench.chart.write_chart([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_write_chart_without_matplotlib_writes_nothing(
    bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert not bench.chart.write_chart(_results(bench), tmp_path / "chart.png")
    assert not (tmp_path / "chart.png").exists()


def _run(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "probed.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("edit", ["one function", "whole module"])
def test_probed_module_tells_which_revision_runs(bench: Any, edit: str) -> None:
    gen = bench.gen
    first, second = _run(gen.probed_module(1000, 1, edit)), _run(gen.probed_module(1000, 2, edit))
    assert (second["probe"](), second["Probe"]().probe()) == (2, 2)
    assert first["probe"]() == 1
    changed = first["compute_0"]([0]) != second["compute_0"]([0])
    assert changed == (edit == gen.WHOLE_MODULE)
    assert second["REVISION"] == (2 if edit == gen.WHOLE_MODULE else 0)
    assert 950 <= gen.probed_module(1000, 1, edit).count("\n") <= 1050


def test_probed_module_broken_raises_once_everything_is_defined(bench: Any) -> None:
    namespace: dict[str, Any] = {}
    source = bench.gen.probed_module(1000, 3, bench.gen.ONE_FUNCTION, fail=True)
    with pytest.raises(RuntimeError, match="a broken edit"):
        exec(compile(source, "probed.py", "exec"), namespace)
    assert namespace["probe"]() == 3
    with pytest.raises(ValueError, match="unknown edit"):
        bench.gen.probed_module(1000, 3, "some edit")
