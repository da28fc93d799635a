"""Run hookreload's benchmarks, print the results and optionally write them as Markdown.

Usage::

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--write docs/benchmarks.md]

Every timing target is a ratio of two things measured side by side in the same
run (interleaved, medians of repeats), so the figures hold on a noisy machine
where absolute times do not; the watcher's targets, set in milliseconds and in
percent of a core, are the exception. ``make bench`` runs the full suite and writes
``docs/benchmarks.md`` and its chart, ``docs/img/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from _chart import write_chart
from _common import (
    ROOT,
    BenchError,
    CaseResult,
    Settings,
    Table,
    describe_checkout,
    describe_machine,
)
from cases import CASES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Measure hookreload against its targets, as ratios measured side by side.",
    )
    parser.add_argument("--write", metavar="PATH", help="also write the report as Markdown")
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a smoke run")
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        default=[],
        help=f"run only this case (repeatable, or comma-separated): {', '.join(CASES)}",
    )
    parser.add_argument(
        "--no-other-pythons",
        dest="other_pythons",
        action="store_false",
        help="run the hot path under this interpreter only, not every supported one found",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument(
        "--cpu",
        default="last",
        help="pin the run and every interpreter it starts to this CPU number, so that both "
        "sides of each comparison run on the same CPU (default: the last CPU; 'none': no pin)",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.cpu not in ("last", "none") and not args.cpu.isdigit():
        parser.error(f"--cpu takes a CPU number, 'last' or 'none'; got {args.cpu!r}")
    args.only = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASES)}")
    return args


def _command(argv: Sequence[str]) -> str:
    """The command line that produced the report, with paths relative to the repository."""

    def rel(path: str) -> str:
        try:
            return Path(path).absolute().relative_to(ROOT).as_posix()
        except ValueError:
            return path

    return shlex.join([rel(sys.executable), rel(sys.argv[0]), *argv])


def _pin(cpu: str) -> str:
    """Pin this process (and so its children) to one CPU; how the run is pinned, in words.

    On a shared virtual machine the CPUs do not run at the same speed, and which
    one a process lands on decides more than what is measured: a comparison
    needs both sides on the same one.
    """
    if cpu == "none" or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    available = sorted(os.sched_getaffinity(0))
    chosen = available[-1] if cpu == "last" else int(cpu)
    if chosen not in available:
        raise SystemExit(f"benchmarks/run.py: CPU {chosen} is not available here: {available}")
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen} (of {len(available)} available)"


def _run_case(name: str, settings: Settings) -> CaseResult:
    case = CASES[name]
    print(f"running {name}: {case.title} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        result = case.run(settings)
    except BenchError as exc:
        result = CaseResult(name, case.title, "", error=str(exc))
    result.seconds = time.perf_counter() - start
    print(f"  done in {result.seconds:.1f} s", file=sys.stderr, flush=True)
    return result


# -- output ------------------------------------------------------------------------


def _summary_rows(results: list[CaseResult]) -> list[list[str]]:
    rows = []
    for result in results:
        if result.error is not None:
            rows.append([result.title, "error", "", "FAIL"])
        for m in result.measurements:
            rows.append([m.label, m.formatted(), m.target, m.verdict])
    return rows


def _text_table(table: Table) -> str:
    cells = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if table.caption:
        lines.append(table.caption)
    return "\n".join(lines)


def _markdown_table(table: Table) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [row(table.headers), row(["---"] * len(table.headers)), *map(row, table.rows)]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines)


def _summary(results: list[CaseResult]) -> Table:
    return Table(["measurement", "value", "target", "result"], _summary_rows(results))


def text_report(results: list[CaseResult]) -> str:
    parts = [_text_table(_summary(results))]
    for result in results:
        parts.append(f"\n== {result.name}: {result.title} ({result.seconds:.1f} s)")
        if result.error is not None:
            parts.append(f"ERROR: {result.error}")
        parts += [_text_table(table) for table in result.tables]
        parts += result.notes
    return "\n".join(parts)


def markdown_report(
    results: list[CaseResult],
    command: str,
    started: datetime.datetime,
    seconds: float,
    pinned: str,
    chart: str | None = None,
) -> str:
    machine = describe_machine()
    header = Table(
        ["", ""],
        [
            ["command", f"`{command}`"],
            ["date", started.strftime("%Y-%m-%d %H:%M UTC")],
            ["Python", f"{platform.python_version()} ({platform.python_implementation()})"],
            ["hookreload", describe_checkout()],
            ["machine", machine["platform"]],
            ["CPUs", f"{machine['cpus']}; this run {pinned}"],
            ["load average at the end (1, 5, 15 min)", machine["load"]],
            ["duration of the run", f"{seconds:.0f} s"],
        ],
    )
    failed = [m for r in results for m in r.measurements if m.verdict == "FAIL"]
    errors = [r for r in results if r.error is not None]
    verdict = (
        "Every target is met."
        if not failed and not errors
        else f"{len(failed) + len(errors)} target(s) missed or not measured: see FAIL below."
    )
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/run.py (`make bench`); edits by hand are overwritten. -->",
        "",
        "Every timing target is a **ratio** of two things measured side by side in the same "
        "run: the two sides alternate (interleaved repeats, interpreters answering in turn, or "
        "fresh interpreters started in alternating order) and the figure compares their "
        "medians. No target is an absolute time, except the watcher's, which its issue sets "
        "in milliseconds (edit-to-live latency, wall-clock: what a user waits) and in percent "
        "of a core (idle CPU, measured in CPU time against a process with no watcher over the "
        "same seconds); they are medians of many samples too. Times are the CPU time of the "
        "measuring process unless a column says wall-clock, and the run and every interpreter it starts "
        "are pinned to one CPU (`--cpu`): on a shared virtual machine the two CPUs do not run "
        "at the same speed, and which one a process lands on would otherwise decide more than "
        "what is measured. Expect a few percent of run-to-run variation in the ratios. "
        "`make bench` regenerates this page; `benchmarks/run.py --quick` is a smoke run, "
        "`--only NAME` runs one case and `--help` lists the options.",
        "",
        _markdown_table(header),
        "",
        "## Summary",
        "",
        verdict,
        "",
        _markdown_table(_summary(results)),
    ]
    if chart is not None:
        parts += [
            "",
            f"![Every figure of this run against its target]({chart})",
            "",
            "The same figures drawn (log scales): each ratio target as a bar with its target "
            "as a tick, the other targets as the figure over its limit (1 is the target), and "
            "the ratios kept for the record. Green: target met; red: missed; grey: no target. "
            "A target of zero failed requests has no bar: see the table.",
        ]
    for number, result in enumerate(results, 1):
        parts += ["", f"## {number}. {result.title}", ""]
        parts += [f"`--only {result.name}`, {result.seconds:.1f} s.", ""]
        if result.error is not None:
            parts += ["**Error: not measured.**", "", "```text", result.error, "```", ""]
        if result.method:
            parts += [f"**Method.** {result.method}", ""]
        for table in result.tables:
            parts += [_markdown_table(table), ""]
        for note in result.notes:
            parts += [note, ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parse(raw)
    if args.list:
        for case in CASES.values():
            print(f"{case.name:10} {case.title}")
        return 0
    settings = Settings(quick=args.quick, other_pythons=args.other_pythons)
    pinned = _pin(args.cpu)
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    results = [_run_case(name, settings) for name in CASES if not args.only or name in args.only]
    seconds = time.perf_counter() - start
    print(text_report(results))
    print(f"\n{seconds:.0f} s in all.")
    if args.write:
        path = Path(args.write)
        # The chart beside the page, in img/, where the page links to it.
        chart = path.parent / "img" / f"{path.stem}.png"
        drawn = write_chart(results, chart)
        if drawn:
            print(f"wrote {chart}")
        else:
            print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
        link = f"img/{chart.name}" if drawn else None
        report = markdown_report(results, _command(raw), started, seconds, pinned, link)
        path.write_text(report, "utf-8")
        print(f"wrote {path}")
    failed = any(result.failed for result in results)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
