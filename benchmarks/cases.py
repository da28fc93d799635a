"""The benchmark cases: each writes its code, runs the workers, and judges the figures.

Every timing target is a ratio of two things measured side by side in the same
run, interleaved, from medians of several repeats: never an absolute time.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _gen
import _service
from _common import (
    BenchError,
    CaseResult,
    Measurement,
    Session,
    Settings,
    Table,
    mb,
    median,
    ms,
    other_pythons,
    percentile,
    ratio_of_medians,
    run_python,
    run_worker,
    spread,
    timed_python,
    us,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

PYTHON = sys.executable
TIMEOUT = 180.0


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable[[Settings], CaseResult]


def _scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="hookreload-bench-")


def _spread(samples: dict[str, list[float]], caption: str) -> Table:
    """A table of each side's median, min and max, in ms."""
    return Table(
        ["", "median", "min", "max"],
        [[name, ms(median(s)), ms(min(s)), ms(max(s))] for name, s in samples.items()],
        caption,
    )


def _alternating(rounds: int, sides: list[Any]) -> Iterator[Any]:
    """Every side once per round, the order reversed every other round."""
    for i in range(rounds):
        yield from sides if i % 2 == 0 else sides[::-1]


# -- 1. the hot path -------------------------------------------------------------

HOT_PROXIED = "hrbench_hot_proxied"
HOT_PLAIN = "hrbench_hot_plain"
HOT_LIMIT = 1.05
HOT_COPIES = 4
PLAIN, PROXY = "plain module", "hookreload proxy"


OPS = {"attr": "attribute read `m.x`", "call": "call `m.f(1)`"}


def _hot_table_rows(version: str, runs: list[dict[str, dict[str, list[float]]]]) -> list[list[str]]:
    """One row per subject: medians over the processes of each process's medians and ratios."""
    rows = []
    for subject in runs[0]:
        cells = [version, subject]
        for op in OPS:
            ns = [median(run[subject][op]) for run in runs]
            ratios = [median(run[subject][op]) / median(run[PLAIN][op]) for run in runs]
            cells += [f"{median(ns):.1f}", f"{median(ratios):.3f}x"]
        rows.append(cells)
    return rows


def hot_path(settings: Settings) -> CaseResult:
    pythons = [PYTHON]
    if settings.other_pythons:
        pythons += [path for _, path in other_pythons()]
    processes, repeats = settings.pick(5, 2), settings.pick(20, 8)
    result = CaseResult(
        "hotpath",
        "Hot path: `m.x` and `m.f(1)` through a proxy",
        "Two identical packages are written to a temporary directory and imported in a fresh "
        f"interpreter, `{HOT_PROXIED}` under `hookreload.install(include=[...])` and "
        f"`{HOT_PLAIN}` without the hook. The proxy is reloaded once first, so that it shares "
        "the namespace of a version built by a reload: its steady state. `timeit` runs each "
        "statement unrolled 100 times per loop with the subject in a local variable, timed in "
        f"CPU time, about 4 ms per timing; each of the {repeats} repeats times every subject "
        "once per statement, in an order rotated every repeat. The two compared sides are "
        f"{HOT_COPIES} copies each of the module (own objects, own timer), so that no single "
        "object's place in memory decides. Per process, a subject's figure is the median of "
        "its timings and its ratio is that median over the plain module's; "
        f"this runs in {processes} separate processes (the layout of one process can favour "
        "either side by a few percent) and the figures below are the medians over the "
        "processes. The target rows are the hookreload proxy's ratios. The other rows are, "
        "for the record, the proxy designs that were weighed and not used: a plain object "
        "whose instance `__dict__` is the module's dict (with a `__class__` property), a "
        "`types.ModuleType` subclass with a Python `__getattribute__`, `wrapt.ObjectProxy` "
        "and a subclass of it with a Python `__getattribute__` (no wrapt rows where wrapt is "
        "not installed). Every supported CPython found on the machine gets the same run.",
    )
    table = Table(
        ["Python", "subject", "`m.x` ns", "vs plain", "`m.f(1)` ns", "vs plain"],
        [],
        "ns per operation (CPU time). Ratios are to the plain module in the same process.",
    )
    spreads = []
    with _scratch() as tmp:
        root = Path(tmp)
        modules = {f"mod{i}": _gen.HOT_MODULE for i in range(HOT_COPIES)}
        _gen.package(root, HOT_PROXIED, modules)
        _gen.package(root, HOT_PLAIN, {**modules, "alt": _gen.HOT_MODULE})
        args = {
            "root": tmp,
            "proxied": HOT_PROXIED,
            "plain": HOT_PLAIN,
            "copies": HOT_COPIES,
            "unroll": 100,
            "seconds": 0.004,
            "repeats": repeats,
        }
        for python in pythons:
            try:
                outs = [run_worker(python, "hotpath", args, TIMEOUT) for _ in range(processes)]
            except BenchError as exc:
                if python == PYTHON:
                    raise
                # Another interpreter is a bonus: report it, measure the rest.
                result.notes.append(f"`{python}` was not measured: {exc}")
                continue
            version = outs[0]["python"]
            runs = [out["samples"] for out in outs]
            table.rows += _hot_table_rows(version, runs)
            for op, what in OPS.items():
                ratios = [ratio_of_medians(run[PROXY][op], run[PLAIN][op]) for run in runs]
                label = f"{what}, proxy / plain module (Python {version})"
                result.measurements.append(Measurement(label, median(ratios), "x", HOT_LIMIT))
                spreads.append(f"{version} {op}: {spread(ratios)}")
    table.caption += " Proxy / plain per process, min-max: " + "; ".join(spreads) + "."
    result.tables.append(table)
    return result


# -- 2. importing a tree of modules ---------------------------------------------

TREE_PREFIX = "hrbench_tree_"
TREE_PACKAGES, TREE_PER_PACKAGE = 10, 50
TREE_LIMIT = 1.15


def import_tree(settings: Settings) -> CaseResult:
    count = TREE_PACKAGES * TREE_PER_PACKAGE
    rounds = settings.pick(40, 3)
    result = CaseResult(
        "import",
        f"Importing a tree of {count} modules",
        f"{TREE_PACKAGES} packages of {TREE_PER_PACKAGE} modules each (their `__init__` "
        "included; about 40 lines each: imports, constants, an `lru_cache` function, a class), "
        "every module importing the one before it and its namesake in the previous package, "
        "every `__init__` importing its whole package. Each measurement is a fresh interpreter "
        "that imports `hookreload` (both sides), installs the hook with the tree's packages "
        "included (one side only), then imports every package, timed in CPU time "
        "(`process_time`; wall-clock time shown too). One warm-up run of each side first, so "
        "that the `.pyc` files exist and the files are in the page cache; then "
        f"{rounds} rounds, alternating which side goes first. The target is the ratio of the "
        "medians. Under the hook a module found with a plain `SourceFileLoader` gets a "
        "subclass of it instead, whose stat of the source (made anyway, to check the `.pyc`) "
        "is kept as the module's signature at import; the loader is its registry entry, "
        "with one weak reference to the module. Its record and version 1 are built the first "
        "time something asks for them, and its source is hashed then too (at import only when "
        "a watcher runs).",
    )
    with _scratch() as tmp:
        packages = _gen.tree(Path(tmp), TREE_PACKAGES, TREE_PER_PACKAGE, TREE_PREFIX)
        sides = {
            "with the hook": {"root": tmp, "packages": packages, "hook": True},
            "without": {"root": tmp, "packages": packages, "hook": False},
        }
        for args in sides.values():  # writes the .pyc files
            run_worker(PYTHON, "import_tree", args, TIMEOUT)
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for side in _alternating(rounds, list(sides)):
            runs[side].append(run_worker(PYTHON, "import_tree", sides[side], TIMEOUT))
    for side, outs in runs.items():
        expected = count if side == "with the hook" else 0
        if outs[-1]["modules"] != count or outs[-1]["proxied"] != expected:
            raise BenchError(f"{side}: {outs[-1]} (expected {count} modules, {expected} proxied)")

    def figures(side: str, key: str) -> list[float]:
        return [out[key] for out in runs[side]]

    hook, plain = figures("with the hook", "seconds"), figures("without", "seconds")
    result.measurements.append(
        Measurement(
            f"import {count} modules (CPU time), with the hook / without",
            ratio_of_medians(hook, plain),
            "x",
            TREE_LIMIT,
        )
    )
    per_round = [h / p for h, p in zip(hook, plain, strict=True)]
    wall_ratio = ratio_of_medians(figures("with the hook", "wall"), figures("without", "wall"))
    result.tables.append(
        Table(
            ["", "CPU time (median)", "min-max", "wall-clock (median)", "modules proxied"],
            [
                [
                    side,
                    ms(median(figures(side, "seconds"))),
                    f"{spread([t * 1e3 for t in figures(side, 'seconds')], 1)} ms",
                    ms(median(figures(side, "wall"))),
                    str(runs[side][-1]["proxied"]),
                ]
                for side in sides
            ],
            f"Ratio per round (with / without, same round): {spread(per_round)}; "
            f"ratio of the wall-clock medians: {wall_ratio:.3f}x.",
        )
    )
    return result


# -- 3. reload against importlib.reload --------------------------------------------

RELOAD_PROXIED = "hrbench_reload_proxied"
RELOAD_PLAIN = "hrbench_reload_plain"
RELOAD_LINES = 1000
RELOAD_LIMIT = 1.3


def reload_vs_importlib(settings: Settings) -> CaseResult:
    iterations = settings.pick(40, 10)
    result = CaseResult(
        "reload",
        f"`hookreload.reload` against `importlib.reload`, {RELOAD_LINES}-line module",
        f"Two modules of identical content, about {RELOAD_LINES} lines of functions, classes "
        "and constants, one imported under the hook and one not, in one fresh interpreter. "
        "Before every reload the module's file is rewritten with a new `REVISION` constant and "
        "given an mtime of its own (one second after the previous one), so both sides must "
        "compile: `importlib.reload` would otherwise run the cached `.pyc` (it also writes a "
        "new `.pyc` each time, which is part of its cost). The worker checks after every reload "
        "that the new `REVISION` is visible. The two modules are edited and reloaded "
        f"alternately, the order switching every iteration; 3 warm-up iterations, then "
        f"{iterations} timed ones, each reload timed alone in CPU time (`process_time`). The "
        "target is the ratio of the medians.",
    )
    with _scratch() as tmp:
        source = _gen.big_module(RELOAD_LINES, 0)
        for name in (RELOAD_PROXIED, RELOAD_PLAIN):
            _gen.package(Path(tmp), name, {"big": source})
        args = {
            "root": tmp,
            "proxied": RELOAD_PROXIED,
            "plain": RELOAD_PLAIN,
            "lines": RELOAD_LINES,
            "warmup": 3,
            "iterations": iterations,
        }
        samples: dict[str, list[float]] = run_worker(PYTHON, "reload_compare", args, TIMEOUT)[
            "samples"
        ]
    hook, plain = samples["hookreload.reload"], samples["importlib.reload"]
    result.measurements.append(
        Measurement(
            f"reload of a {RELOAD_LINES}-line module after an edit, "
            "hookreload.reload / importlib.reload",
            ratio_of_medians(hook, plain),
            "x",
            RELOAD_LIMIT,
        )
    )
    result.tables.append(_spread(samples, f"{len(hook)} reloads each, after an edit."))
    return result


# -- 4. memory across reloads ------------------------------------------------------

MEMORY_PACKAGE = "hrbench_memory"
MEMORY_LIMIT_MB = 5.0


# (label, reload with, gc.collect() after each reload, is it the target)
MEMORY_RUNS = (
    ("`hookreload.reload`", "hookreload", False, True),
    ("`importlib.reload` (reference)", "importlib", False, False),
    ("`hookreload.reload` + `gc.collect()` after each (reference)", "hookreload", True, False),
)


def memory(settings: Settings) -> CaseResult:
    reloads = settings.pick(1000, 200)
    result = CaseResult(
        "memory",
        f"Memory across {reloads:,} reloads of a module with a 1 MB namespace",
        "A module holding about 1 MB of data (600 kB of `bytes` built at import, a list of "
        "15,000 ints), a few functions and classes (so every version's namespace is in "
        "reference cycles that only the cyclic garbage collector frees) and a `Marker` "
        "instance. In a fresh interpreter it is imported under the hook and reloaded 20 "
        f"times (warm-up), the resident set size is read from `/proc/self/statm`, the module "
        f"is reloaded {reloads:,} more times with no edit and no `gc.collect()` in the loop, "
        "and the RSS is read again: the target is the growth. A weak reference to each "
        "version's `Marker` counts the versions still alive. The RSS is read once more after "
        "a final `gc.collect()`, for the record. Two references, each in its own fresh "
        "interpreter: `importlib.reload` of a plain import of the same module, and the "
        "hookreload loop with a `gc.collect()` after every reload (the memory a prompt release "
        "would give, and what that collection costs).",
    )
    rows = []
    namespace = 0
    with _scratch() as tmp:
        _gen.package(Path(tmp), MEMORY_PACKAGE, {"fat": _gen.FAT_MODULE})
        for label, mode, collect, target in MEMORY_RUNS:
            args = {
                "root": tmp,
                "package": MEMORY_PACKAGE,
                "mode": mode,
                "collect": collect,
                "warmup": 20,
                "reloads": reloads,
            }
            out = run_worker(PYTHON, "memory", args, TIMEOUT)
            namespace = out["namespace_bytes"]
            growth = (out["rss_after"] - out["rss_before"]) / 2**20
            collected = (out["rss_collected"] - out["rss_before"]) / 2**20
            if target:
                what = f"RSS growth over {reloads:,} hookreload.reload calls"
                result.measurements.append(Measurement(what, growth, "MB", MEMORY_LIMIT_MB))
                result.measurements.append(
                    Measurement(f"{what}, after a final gc.collect()", collected, "MB")
                )
            rows.append(
                [
                    label,
                    mb(out["rss_before"]),
                    f"{growth:+.2f} MB",
                    f"{collected:+.2f} MB",
                    f"{out['alive']} / {out['alive_collected']}",
                    " / ".join(map(str, out["collections"])),
                    ms(out["collect_seconds"]) if collect else "",
                ]
            )
    result.tables.append(
        Table(
            [
                "",
                "RSS after warm-up",
                f"growth over {reloads:,} reloads",
                "growth after a final gc.collect()",
                "versions alive (before / after it)",
                "automatic gc runs in the loop (gen 0 / 1 / 2)",
                "gc.collect() CPU time",
            ],
            rows,
            f"Namespace data: {namespace / 1e6:.2f} MB. Each row is a separate fresh interpreter.",
        )
    )
    return result


# -- 5. reload cost with many proxied modules loaded -------------------------------

SCALE_PREFIX = "hrbench_tiny_"
SCALE_TARGET = "hrbench_target.small"
SCALE_COUNTS = (50, 5000)
SCALE_LIMIT = 1.2


def scaling(settings: Settings) -> CaseResult:
    pairs, batches, batch = settings.pick(2, 1), settings.pick(40, 10), 25
    few, many = SCALE_COUNTS
    result = CaseResult(
        "scaling",
        f"Reload cost with {many:,} proxied modules loaded against {few}",
        f"{many:,} tiny modules (a constant and a function each) in packages of 100 are "
        "generated once, and one warm-up interpreter imports them all to write the `.pyc` "
        f"files. Then two interpreters are started side by side: each installs the hook, "
        f"imports the first {few} or all {many:,} of them (every one a proxy, counted) and one "
        "small module, and reloads that module 20 times (warm-up). The parent then asks them "
        f"in turn, {batches} times each, the order switching every time, to time {batch} "
        "reloads of the small module one by one in CPU time, so that both are measured over "
        "the same stretch of time. No edit: the compiled code is reused, so the figure is "
        "hookreload's own work plus executing the module, the part that could grow with the "
        f"number of modules. {pairs} such pair(s) of interpreters; the target is the ratio "
        "of the medians of all the timings. The mean is shown too: it includes the occasional "
        "full garbage collection, whose cost grows with everything that is loaded; the last "
        "column is what one `gc.collect()` costs in each interpreter at the end, for the "
        "record.",
    )
    samples: dict[int, list[float]] = {few: [], many: []}
    collect: dict[int, list[float]] = {few: [], many: []}
    per_pair = []
    with _scratch() as tmp:
        root = Path(tmp)
        names = _gen.tiny_tree(root, many, 100, SCALE_PREFIX)
        names_file = root / "names.txt"
        names_file.write_text("\n".join(names), encoding="utf-8")
        package, module = SCALE_TARGET.split(".")
        _gen.package(root, package, {module: _gen.tiny_module(1)})
        common = {
            "root": tmp,
            "names_file": str(names_file),
            "pattern": SCALE_PREFIX + "*",
            "target": SCALE_TARGET,
            "warmup": 20,
        }
        with _session(many, common) as warmup:  # writes the .pyc files
            warmup.close({"reloads": 0})
        for _ in range(pairs):
            with _session(few, common) as first, _session(many, common) as second:
                sessions = {few: first, many: second}
                pair: dict[int, list[float]] = {few: [], many: []}
                for count in _alternating(batches, [few, many]):
                    pair[count] += sessions[count].ask({"reloads": batch})["samples"]
                for count, session in sessions.items():
                    collect[count].append(session.close({"reloads": 0})["gc_collect"])
                    samples[count] += pair[count]
            per_pair.append(ratio_of_medians(pair[many], pair[few]))
    result.measurements.append(
        Measurement(
            f"one reload with {many:,} proxied modules loaded / with {few}",
            ratio_of_medians(samples[many], samples[few]),
            "x",
            SCALE_LIMIT,
        )
    )
    result.tables.append(
        Table(
            ["proxied modules loaded", "reload (median)", "mean", "timings", "full gc.collect()"],
            [
                [
                    f"{count:,}",
                    us(median(s)),
                    us(sum(s) / len(s)),
                    str(len(s)),
                    ms(median(collect[count])),
                ]
                for count, s in samples.items()
            ],
            f"Ratio of the medians per pair of interpreters: {spread(per_pair)}. Ratio of the "
            f"means: {sum(samples[many]) / sum(samples[few]):.3f}x.",
        )
    )
    return result


def _session(count: int, common: dict[str, Any]) -> Session:
    """A scaling session with ``count`` modules loaded, checked to proxy exactly them."""
    session = Session(PYTHON, "scaling", {**common, "count": count}, TIMEOUT)
    if session.greeting["proxied"] != count:
        session.stop()
        raise BenchError(f"{session.greeting['proxied']} of {count} modules were proxied")
    return session


# -- 6. import hookreload ------------------------------------------------------------

STARTUP = {
    "python -c pass": "pass",
    "import hookreload": "import hookreload",
    "import hookreload; hookreload.install()": "import hookreload; hookreload.install()",
}
IMPORTTIME_LINE = re.compile(r"import time:\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\S+)")
NEW_MODULES = (
    "import sys; before = set(sys.modules); import hookreload; imported = set(sys.modules); "
    "hookreload.install(); print(*sorted(imported - before)); "
    "print(*sorted(set(sys.modules) - imported))"
)


def _importtime(code: str) -> float:
    """Cumulative seconds ``-X importtime`` gives the ``hookreload`` import."""
    proc = run_python(PYTHON, ["-X", "importtime", "-c", code], TIMEOUT)
    for line in proc.stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match and match.group(3) == "hookreload":
            return int(match.group(2)) / 1e6
    raise BenchError("no hookreload line in the -X importtime output")


def _names(modules: list[str]) -> str:
    return ", ".join(f"`{m}`" for m in modules) or "none"


def startup(settings: Settings) -> CaseResult:
    rounds = settings.pick(20, 5)
    result = CaseResult(
        "startup",
        "`import hookreload` in a fresh interpreter",
        "No target: the design asks for a few milliseconds, as it runs at the start of every "
        "program that uses hookreload. Each statement below runs as `python -c ...`, "
        f"{rounds} rounds, the order rotated every round; the CPU time of each child "
        "(user + system, from `getrusage`) and its wall-clock time from spawn to exit are "
        "recorded, and the figures are differences of medians to `python -c pass`. Also the "
        "cumulative time `python -X importtime` gives the `hookreload` import (median of 5), "
        "and the modules that `import hookreload; hookreload.install()` loads beyond what "
        "start-up has (`install()` checks the module layout with `ctypes` and logs through "
        "`logging`).",
    )
    labels = list(STARTUP)
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    wall: dict[str, list[float]] = {label: [] for label in labels}
    for i in range(rounds):
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
            seconds, cpu_seconds = timed_python(PYTHON, ["-c", STARTUP[label]], TIMEOUT)
            wall[label].append(seconds)
            cpu[label].append(cpu_seconds)
    for label in labels[1:]:
        extra = (median(cpu[label]) - median(cpu[labels[0]])) * 1e3
        result.measurements.append(
            Measurement(f"`{label}`, CPU time over `python -c pass`", extra, "ms")
        )
    importtime = median([_importtime("import hookreload") for _ in range(5)])
    result.measurements.append(
        Measurement("`import hookreload`, cumulative `-X importtime`", importtime * 1e3, "ms")
    )
    by_import, by_install = (
        line.split()
        for line in run_python(PYTHON, ["-c", NEW_MODULES], TIMEOUT).stdout.splitlines()
    )
    own = [m for m in by_import if m.partition(".")[0] == "hookreload"]
    others = [m for m in by_import if m not in own]
    result.tables.append(
        Table(
            ["", "CPU time (median)", "over `pass`", "wall-clock (median)", "over `pass`"],
            [
                [
                    f"`{label}`",
                    ms(median(cpu[label])),
                    ms(median(cpu[label]) - median(cpu[labels[0]])),
                    ms(median(wall[label])),
                    ms(median(wall[label]) - median(wall[labels[0]])),
                ]
                for label in labels
            ],
        )
    )
    result.notes.append(
        f"`import hookreload` loads {len(own)} hookreload modules and {len(others)} others: "
        f"{_names(others)}. `hookreload.install()` then loads {len(by_install)} more: "
        f"{_names(by_install)}."
    )
    return result


# -- 7. the watcher: edit-to-live latency and idle CPU --------------------------------

LATENCY_PACKAGE = "hrbench_latency"
LATENCY_MEDIAN_LIMIT_MS = 20.0
LATENCY_P95_LIMIT_MS = 60.0
IDLE_PREFIX = "hrbench_idle_"
IDLE_FILES = 5000
IDLE_LIMIT = 1.0  # percent of one core
BASELINE = "no watcher"
# The processes measured side by side: the baseline first (it writes the .pyc files).
IDLE_MODES = (BASELINE, "events", "events, no doorbell", "polling")


def watcher(settings: Settings) -> CaseResult:
    edits, poll_edits = settings.pick(60, 15), settings.pick(12, 3)
    rounds, seconds = settings.pick(10, 3), settings.pick(2.0, 1.0)
    files = settings.pick(IDLE_FILES, 1000)  # --quick: a smoke run, not the target's size
    result = CaseResult(
        "watch",
        "The watcher: edit-to-live latency and idle CPU",
        "**Latency.** In a fresh interpreter, a small module (a constant, a function, a class: "
        "about 15 lines) is imported under `hookreload.install(watch=True)` and rewritten "
        f"{edits} times (OS file events) so that its `answer()` returns a new number; the "
        "clock (wall-clock: it is what a user waits) runs from just before the write until a "
        "call to `answer()` returns the new number, polled every 0.1 ms with a sleep in "
        "between, as in a program waiting on I/O. A random pause between edits puts them at "
        "every phase of the watcher's timers; the first edit is not counted (it may come "
        f"before the watch is up). The same with the polling backend at its default "
        f"interval, {poll_edits} edits, for the record. "
        f"**Idle CPU.** {files:,} tiny modules in packages of 100 are generated; "
        f"{len(IDLE_MODES)} fresh interpreters each import all of them under the hook (all "
        "proxied): one with no watcher (the baseline), one watching with OS file events, one "
        "with OS file events but without the inotify doorbell (the watcher then wakes every "
        "5 ms step, as it does where there is no inotify: macOS, Windows, or watchfiles "
        "polling), and one polling at the default interval. Once every file is watched and "
        f"a further second has passed, all of them are asked at once, {rounds} times, to "
        f"sleep {seconds:g} s and report the CPU time of the whole process (every thread, "
        "`process_time`) over that sleep: each figure is CPU time over wall-clock time, so "
        "the other work on this shared 2-CPU machine delays the processes without being "
        "charged to them. Per round, a watcher's cost is its figure minus the baseline's over "
        "the same seconds; the target is the median over the rounds. Wake-ups are the "
        "context switches of all the process's threads (`/proc/self/task/*/status`), per "
        "second.",
    )
    _watch_latency(result, edits, poll_edits)
    _watch_idle(result, files, rounds, seconds)
    return result


def _watch_latency(result: CaseResult, edits: int, poll_edits: int) -> None:
    rows = []
    with _scratch() as tmp:
        _gen.package(Path(tmp), LATENCY_PACKAGE, {"mod": _gen.edited_module(0)})
        common = {"root": tmp, "package": LATENCY_PACKAGE, "seed": 0, "timeout": 10.0}
        for poll, count in ((False, edits), (True, poll_edits)):
            out = run_worker(
                PYTHON, "watch_latency", {**common, "poll": poll, "edits": count}, TIMEOUT
            )
            samples = [s * 1e3 for s in out["samples"]]
            label = "OS file events" if not poll else f"polling every {out['interval']:g} s"
            if out["backend"] != ("polling" if poll else "events"):
                raise BenchError(f"{label}: the watcher ran the {out['backend']} backend")
            rows.append(
                [
                    label,
                    str(len(samples)),
                    f"{median(samples):.1f} ms",
                    f"{percentile(samples, 0.95):.1f} ms",
                    f"{min(samples):.1f}-{max(samples):.1f} ms",
                ]
            )
            if not poll:
                result.measurements += [
                    Measurement(
                        "edit-to-live latency, OS file events, median",
                        median(samples),
                        "ms",
                        LATENCY_MEDIAN_LIMIT_MS,
                    ),
                    Measurement(
                        "edit-to-live latency, OS file events, 95th percentile",
                        percentile(samples, 0.95),
                        "ms",
                        LATENCY_P95_LIMIT_MS,
                    ),
                ]
    result.tables.append(
        Table(
            ["backend", "edits", "median", "95th percentile", "min-max"],
            rows,
            "Edit-to-live latency of a small module (wall-clock).",
        )
    )


def _watch_idle(result: CaseResult, files: int, rounds: int, seconds: float) -> None:
    sessions: dict[str, Session] = {}
    answers: dict[str, list[dict[str, Any]]] = {mode: [] for mode in IDLE_MODES}
    with _scratch() as tmp:
        root = Path(tmp)
        names = _gen.tiny_tree(root, files, 100, IDLE_PREFIX)
        names_file = root / "names.txt"
        names_file.write_text("\n".join(names), encoding="utf-8")
        common = {
            "root": tmp,
            "names_file": str(names_file),
            "count": files,
            "pattern": IDLE_PREFIX + "*",
            "settle": 1.0,
        }
        try:
            for mode in IDLE_MODES:
                # The baseline first, alone: it writes the .pyc files; then the
                # others start together.
                sessions[mode] = Session(
                    PYTHON, "watch_idle", {**common, "mode": mode}, TIMEOUT, greet=mode == BASELINE
                )
            for mode, session in sessions.items():
                greeting = session.greeting or session.wait_greeting()
                watched = 0 if mode == BASELINE else files
                if greeting["proxied"] != files or greeting["watched"] != watched:
                    raise BenchError(f"{mode}: {greeting} ({files} modules expected)")
            interval = sessions["polling"].greeting["interval"]
            for _ in range(rounds):
                # All at once: the same seconds of the machine's life for every one.
                for session in sessions.values():
                    session.send({"seconds": seconds})
                for mode, session in sessions.items():
                    answers[mode].append(session.receive())
            for session in sessions.values():
                session.close({"seconds": 0})
        finally:
            for session in sessions.values():
                session.stop()

    def share(answer: dict[str, Any]) -> float:
        return 100 * answer["cpu"] / answer["wall"]

    base = [share(a) for a in answers[BASELINE]]
    rows = []
    for mode, outs in answers.items():
        extra = [share(a) - b for a, b in zip(outs, base, strict=True)]
        label = f"polling every {interval:g} s (the default)" if mode == "polling" else mode
        rows.append(
            [
                label,
                "0" if mode == BASELINE else f"{files:,}",
                f"{median([share(a) for a in outs]):.3f}%",
                "" if mode == BASELINE else f"{median(extra):+.3f}%",
                "" if mode == BASELINE else f"{min(extra):+.3f} to {max(extra):+.3f}%",
                f"{median([a['switches'] / a['wall'] for a in outs]):.0f}",
            ]
        )
        if mode == "events":
            what = f"idle CPU of the watcher, {files:,} files, OS file events"
            result.measurements.append(Measurement(what, median(extra), "%", IDLE_LIMIT))
        elif mode == "polling":
            what = f"idle CPU of the watcher, {files:,} files, polling every {interval:g} s"
            result.measurements.append(Measurement(what, median(extra), "%"))
    result.tables.append(
        Table(
            [
                "process",
                "watched files",
                "CPU, % of a core",
                "over the baseline",
                "min-max over the rounds",
                "wake-ups per second",
            ],
            rows,
            f"{rounds} rounds of {seconds:g} s, medians; CPU time over wall-clock time.",
        )
    )


# -- 8. a service edited under load: hookreload against a restart-based reloader ----

SERVICE_LIMIT = 0.1  # hookreload's edit-to-live over the restart-based one's
HOOKRELOAD, RESTART = "hookreload", "uvicorn --reload"
SERVICE_PAUSE = 0.002  # between two requests of one client
SERVICE_TIMEOUT = 5.0  # a request that takes longer failed
SERVICE_SETTLE = 0.5  # after an edit went live, failures still count for this long


@dataclass
class _Edit:
    """What one edit of a service's handler did, as its clients saw it."""

    seconds: float  # from the write to the first response with the new message
    failed: dict[str, int]  # per kind of client
    kinds: list[str]  # what each failure was
    answered: int
    longest: float  # the longest wait for a response
    kept: bool  # the request counter went on from where it was


def _service_commands(port: int) -> dict[str, list[str]]:
    return {
        HOOKRELOAD: [PYTHON, "-m", "hookreload", "-m", "examples.service.app", "--port", str(port)],
        RESTART: [
            PYTHON,
            "-m",
            "uvicorn",
            "examples.service.app:app",
            "--reload",
            "--host",
            _service.HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
    }


def service(settings: Settings) -> CaseResult:
    rounds = settings.pick(6, 2)
    result = CaseResult(
        "service",
        "A service edited under load: hookreload against `uvicorn --reload`",
        "The Starlette service of `examples/service/` (its handlers in `handlers.py`, a request "
        "counter kept across reloads by `__reload__`) is copied twice to a temporary "
        "directory and started on loopback, side by side: under hookreload as its README says "
        "(`python -m hookreload -m examples.service.app`, OS file events) and under "
        "`uvicorn examples.service.app:app --reload` with its defaults (the restart-based "
        "reloader a Starlette service is usually developed under, and the gentler of the two "
        "the issue names: its supervisor keeps the listening socket open while it restarts "
        "the worker process, where hupper restarts the process that owns it). Against each, "
        "two client threads send `GET /` continuously, 2 ms apart: one keeps its connection "
        "open, as browsers, proxies and most HTTP clients do, and opens a new one after a "
        "failure; one opens a connection per request. A failure is a connection error, a timeout "
        f"({SERVICE_TIMEOUT:g} s) or a 5xx status. Each edit rewrites the `MESSAGE = ...` "
        "line of one side's `handlers.py` in place, as an editor saves; edit-to-live "
        "(wall-clock) runs from the write to the first response carrying the new message; "
        "failures count from the write until "
        f"{SERVICE_SETTLE:g} s after that response. The sides are edited in turn, the order "
        f"switching every round: one warm-up edit each, then {rounds} each, every client "
        "running throughout. The target is the ratio of the medians, and no failed request "
        "under hookreload. Like the rest of the suite, servers and clients share one CPU. "
        "uvicorn's reloader binds a socket on whose connections Nagle's algorithm stays on, "
        "so its kept connection gets an answer only every ~40 ms (the example's own `main()` "
        "binds one without); edit-to-live is read from either client, and the "
        "connection-per-request one answers within a few ms on both sides.",
    )
    try:
        run_python(PYTHON, ["-c", "import starlette, uvicorn"], TIMEOUT)
    except BenchError as exc:
        raise BenchError(
            "the service extra is not installed: pip install -e '.[service]' "
            f"(make bench does)\n{exc}"
        ) from exc
    edits: dict[str, list[_Edit]] = {HOOKRELOAD: [], RESTART: []}
    failed_total: dict[str, int] = {}
    with _scratch() as tmp:
        root = Path(tmp)
        servers: dict[str, _service.Server] = {}
        clients: dict[str, list[_service.Client]] = {}
        handlers: dict[str, Path] = {}
        try:
            for number, side in enumerate(edits):
                home = root / f"side{number}"
                handlers[side] = _service.copy_example(home)
                port = _service.free_port()
                env = {"HOOKRELOAD_POLL": "0"} if side == HOOKRELOAD else {}
                command = _service_commands(port)[side]
                servers[side] = _service.Server(command, home, root / f"side{number}.log", env)
                servers[side].wait_ready(port, 60)
                clients[side] = [
                    _service.Client(port, keep_alive, SERVICE_PAUSE, SERVICE_TIMEOUT)
                    for keep_alive in (True, False)
                ]
            for client in (c for side_clients in clients.values() for c in side_clients):
                client.start()
            for number, side in enumerate(_alternating(rounds + 1, list(edits))):
                edit = _edit_service(handlers[side], clients[side], f"edit {number}", servers[side])
                if number >= 2:  # one warm-up edit for each side
                    edits[side].append(edit)
        finally:
            for side_clients in clients.values():
                for client in side_clients:
                    client.stop()
            for server in servers.values():
                server.stop()
        for side, side_clients in clients.items():
            failed_total[side] = sum(not a.ok for c in side_clients for a in c.answers)
    seconds = {side: [e.seconds for e in side_edits] for side, side_edits in edits.items()}
    failed = {
        side: sum(sum(e.failed.values()) for e in side_edits) for side, side_edits in edits.items()
    }
    result.measurements += [
        Measurement(
            "edit-to-live of a Starlette service, hookreload / uvicorn --reload",
            ratio_of_medians(seconds[HOOKRELOAD], seconds[RESTART]),
            "x",
            SERVICE_LIMIT,
        ),
        Measurement(
            "failed requests during the edits, hookreload", failed[HOOKRELOAD], "requests", 0
        ),
        Measurement(
            "failed requests during the edits, uvicorn --reload", failed[RESTART], "requests"
        ),
    ]
    rows = []
    for side, side_edits in edits.items():
        kinds = sorted(set(k for e in side_edits for k in e.kinds))
        rows.append(
            [
                side,
                ms(median(seconds[side])),
                f"{ms(min(seconds[side]))}-{ms(max(seconds[side]))}",
                " / ".join(str(sum(e.failed[kind] for e in side_edits)) for kind in _CLIENT_KINDS),
                ", ".join(kinds) or "none",
                str(sum(e.answered for e in side_edits)),
                ms(median([e.longest for e in side_edits])),
                f"{sum(e.kept for e in side_edits)} of {len(side_edits)}",
            ]
        )
    result.tables.append(
        Table(
            [
                "served by",
                "edit-to-live (median)",
                "min-max",
                "failed requests (kept connection / new connection)",
                "failures",
                "requests answered during the edits",
                "longest wait for a response (median)",
                "request counter kept",
            ],
            rows,
            f"{rounds} edits each. Failed requests over the whole run, warm-up and the time "
            "between edits included: "
            + ", ".join(f"{side} {count}" for side, count in failed_total.items())
            + ".",
        )
    )
    return result


_CLIENT_KINDS = ("kept connection", "new connection")


def _edit_service(
    handlers: Path, clients: list[_service.Client], message: str, server: _service.Server
) -> _Edit:
    """Edit ``handlers`` to say ``message``; what ``clients`` saw until it was live and after."""
    first = [len(client.answers) for client in clients]
    before = [a.number for client in clients for a in client.answers if a.number is not None]
    start = time.perf_counter()
    _service.set_message(handlers, message)
    live: float | None = None
    while live is None:
        time.sleep(0.001)
        if time.perf_counter() - start > 30:
            raise BenchError(f"{message!r} was not served 30 s after the edit:\n{server.output()}")
        done = [
            a.end
            for client, i in zip(clients, first, strict=True)
            for a in client.answers[i:]
            if a.message == message
        ]
        live = min(done, default=None)
    time.sleep(SERVICE_SETTLE)
    end = live + SERVICE_SETTLE
    window = {
        kind: [a for a in client.answers[i:] if a.end <= end]
        for kind, client, i in zip(_CLIENT_KINDS, clients, first, strict=True)
    }
    answers = [a for side in window.values() for a in side]
    new = [a for a in answers if a.message == message and a.number is not None]
    first_new = min(new, key=lambda a: a.end)
    return _Edit(
        seconds=live - start,
        failed={kind: sum(not a.ok for a in side) for kind, side in window.items()},
        kinds=[a.detail for a in answers if not a.ok],
        answered=sum(a.ok for a in answers),
        longest=max(a.end - a.start for a in answers),
        kept=bool(before) and (first_new.number or 0) > max(before),
    )


# -- patch mode's cost ---------------------------------------------------------------

EDIT_LINES = 1000
HOOKRELOAD_PLAIN, HOOKRELOAD_PATCH = "hookreload", "hookreload, patch mode"
EDIT_IMPORTLIB, EDIT_AUTORELOAD, EDIT_JURIGGED = (
    "importlib.reload",
    "IPython autoreload",
    "jurigged",
)
AUTORELOAD_IDLE = "IPython autoreload, no edit"  # timed by the worker alongside


def _edit_run(
    tools: list[str], edit: str, warmup: int, iterations: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """One ``edit_compare`` worker: each tool edits its own copy of the same module, in turns.

    Returns:
        The worker's result, and the package of each tool.
    """
    packages = {tool: f"hrbench_edit_{i}" for i, tool in enumerate(tools)}
    with _scratch() as tmp:
        source = _gen.probed_module(EDIT_LINES, 0, edit)
        for name in packages.values():
            _gen.package(Path(tmp), name, {"big": source})
        args = {
            "root": tmp,
            "lines": EDIT_LINES,
            "edit": edit,
            "packages": packages,
            "warmup": warmup,
            "iterations": iterations,
        }
        return run_worker(PYTHON, "edit_compare", args, TIMEOUT), packages


def patch_cost(settings: Settings) -> CaseResult:
    iterations = settings.pick(40, 10)
    result = CaseResult(
        "patch",
        f"Patch mode's cost: a {EDIT_LINES:,}-line module reloaded with patch mode off and on",
        f"Two copies of one module of about {EDIT_LINES:,} lines (made as case 3's is: 31 "
        "blocks of a constant, a function and a class with two methods; and a function "
        "`probe()` and a class `Probe` whose bodies return the revision), both imported "
        "under one hook in one fresh interpreter. Before every reload the copy's file is "
        "rewritten with a new revision in the bodies of `probe()` and `Probe.probe()` and "
        "given an mtime of its own; one copy is then reloaded with `hook.patch = False`, "
        "the other with `hook.patch = True`, the order switching every iteration; "
        f"3 warm-up iterations, then {iterations} timed ones, each reload timed alone in CPU "
        "time. After each reload the worker checks that the module runs the new code, that "
        "the patch-mode reload's `ReloadEvent.patched` is not empty (and records its "
        "length), and whether a function and an instance taken at import run the new code. "
        "The patch step's cost is the difference of the medians; its ratio is that "
        "difference over the median reload without patch mode (the core reload: compiling, "
        "executing, swapping). No target: for the record.",
    )
    out, _ = _edit_run([HOOKRELOAD_PLAIN, HOOKRELOAD_PATCH], _gen.ONE_FUNCTION, 3, iterations)
    samples: dict[str, list[float]] = out["samples"]
    core, patched = samples[HOOKRELOAD_PLAIN], samples[HOOKRELOAD_PATCH]
    if out["follows"][HOOKRELOAD_PATCH] != [len(patched)] * 3:
        raise BenchError(f"patch mode: references did not follow every reload: {out['follows']}")
    step = median(patched) - median(core)
    per_iteration = [p - c for p, c in zip(patched, core, strict=True)]
    result.measurements += [
        Measurement(f"patch step of a {EDIT_LINES:,}-line module's reload", step * 1e3, "ms"),
        Measurement(
            f"patch step / core reload of a {EDIT_LINES:,}-line module", step / median(core), "x"
        ),
    ]
    counts = sorted(set(out["patched"]))
    result.tables.append(
        Table(
            ["", "median", "min", "max", "objects patched per reload", "references followed"],
            [
                [
                    label,
                    ms(median(s)),
                    ms(min(s)),
                    ms(max(s)),
                    "/".join(map(str, counts)) if label == HOOKRELOAD_PATCH else "",
                    "{} / {} / {} of {}".format(*out["follows"][label], len(s)),
                ]
                for label, s in samples.items()
            ],
            f"{len(core)} reloads each, after an edit. Patch step per iteration (patch mode "
            f"minus the reload without it, same iteration): median {ms(median(per_iteration))}, "
            f"{spread([d * 1e3 for d in per_iteration], 2)} ms. References followed: how many "
            "times a function taken at import and an instance made then ran the new code after "
            "the reload, and `isinstance(that instance, module.Probe)` held.",
        )
    )
    return result


# -- applying an edit: hookreload against other reloaders ---------------------------

EDIT_TOOLS = [
    HOOKRELOAD_PLAIN,
    HOOKRELOAD_PATCH,
    EDIT_IMPORTLIB,
    EDIT_AUTORELOAD,
    EDIT_JURIGGED,
]
EDIT_KINDS = (_gen.ONE_FUNCTION, _gen.WHOLE_MODULE)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _seen(views: list[str]) -> str:
    """What the observations of one tool found, counted: ``one version (15)``."""
    if not views:
        return "not run"
    return ", ".join(f"{view} ({views.count(view)})" for view in sorted(set(views)))


def compare(settings: Settings) -> CaseResult:
    iterations = settings.pick(15, 4)
    result = CaseResult(
        "compare",
        f"Applying an edit of a {EDIT_LINES:,}-line module: hookreload against importlib.reload, "
        "IPython autoreload and jurigged",
        f"The module of the `patch` case (about {EDIT_LINES:,} lines: 31 blocks of a constant, a function "
        "and a class with two methods, and `probe()` and `Probe.probe()` returning the "
        f"revision) is written once per tool, {len(EDIT_TOOLS)} identical copies, and all are "
        "imported in one fresh interpreter: two under one hookreload hook (reloaded with "
        "`hookreload.reload`, patch mode off for one and on for the other), one plainly "
        "(reloaded with `importlib.reload`), one checked by IPython's "
        "`IPython.extensions.autoreload.ModuleReloader` with `%autoreload 2`'s settings "
        "(`check()`, as IPython runs it before every cell: it looks at the mtime of every "
        "loaded module, the other tools' copies marked skipped, and reloads the changed "
        "ones), and one registered with jurigged (`registry.prepare`, then "
        "`CodeFile.refresh()`, what its watcher calls when the file changes). Two kinds of "
        "edit: **one function** rewrites the bodies of `probe()` and `Probe.probe()` only "
        "(the everyday edit, which jurigged and IPython's deduplicating reloader apply "
        "alone); **whole module** also changes every function body, a constant and a "
        "module-level call (which makes autoreload fall back to `superreload`: the whole "
        "module re-executed, then every old function and class updated and the instances "
        "of each class looked for with `gc.get_referrers`). Each "
        "round rewrites every tool's copy with a new revision and an mtime of its own and "
        "lets each tool apply it, timed alone in CPU time (less the observer's, below), the "
        "order rotated every round; "
        f"2 warm-up rounds, then {iterations} timed ones, one fresh interpreter per kind of "
        "edit. Each round also times an autoreload `check()` with nothing edited: the cost "
        "`%autoreload 2` adds to every cell. After every edit the module must run the new "
        "code; a function and an instance taken at import tell whether references taken "
        "before follow. After the timed rounds, each tool gets a broken edit (the new "
        "source raises after defining everything) and then a good one. No target: for the "
        "record. The times are the tool's own work on an edit it is handed: the time for a "
        "watcher to notice an edit is in the `watch` case (hookreload) and, for a "
        "restart-based reloader, the `service` case measures the whole edit-to-live of a service.",
    )
    try:
        run_python(PYTHON, ["-c", "import jurigged, IPython"], TIMEOUT)
    except BenchError as exc:
        raise BenchError(
            f"the bench extra is not installed: pip install -e '.[bench]' (make bench does)\n{exc}"
        ) from exc
    runs = {kind: _edit_run(EDIT_TOOLS, kind, 2, iterations)[0] for kind in EDIT_KINDS}
    rows = []
    for tool in [*EDIT_TOOLS, AUTORELOAD_IDLE]:
        cells = [tool]
        for kind, out in runs.items():
            samples = out["samples"][tool]
            base = out["samples"][HOOKRELOAD_PLAIN]
            cells += [
                ms(median(samples)),
                f"{spread([t * 1e3 for t in samples], 1)} ms",
                f"{ratio_of_medians(samples, base):.2f}x",
            ]
            if tool not in (HOOKRELOAD_PLAIN, AUTORELOAD_IDLE):
                result.measurements.append(
                    Measurement(
                        f"apply an edit ({kind}) of a {EDIT_LINES:,}-line module, "
                        f"{tool} / hookreload",
                        ratio_of_medians(samples, base),
                        "x",
                    )
                )
        rows.append(cells)
    headers = ["tool"]
    for kind in EDIT_KINDS:
        headers += [f"{kind}: median", "min-max", "/ hookreload"]
    result.tables.append(
        Table(
            headers,
            rows,
            f"CPU time per edit applied; {iterations} edits of each kind per tool. Python "
            f"{runs[EDIT_KINDS[0]]['python']}; {runs[EDIT_KINDS[0]]['modules_loaded']} modules "
            "loaded in the interpreter (what `%autoreload 2` looks at on every check). "
            "IPython's deduplicating reloader (which updates the changed functions alone) "
            "applied "
            + " and ".join(
                f"{out['deduped']} of the {iterations + 4} {kind} edits autoreload was given"
                for kind, out in runs.items()
            )
            + " (warm-up and broken ones included); `superreload` (`importlib.reload`, then "
            "the old objects updated) applied the rest. jurigged and `superreload` look for "
            "what refers to old objects with `gc.get_referrers`, which scans every object the "
            "program holds: their times grow with the program and vary from edit to edit.",
        )
    )
    features = []
    for tool in EDIT_TOOLS:
        follows = [runs[kind]["follows"][tool] for kind in EDIT_KINDS]
        edits = iterations * len(EDIT_KINDS)
        broken = [runs[kind]["broken"][tool] for kind in EDIT_KINDS]
        features.append(
            [
                tool,
                f"{sum(f[0] for f in follows)} of {edits}",
                f"{sum(f[1] for f in follows)} of {edits}",
                f"{sum(f[2] for f in follows)} of {edits}",
                _seen(runs[_gen.WHOLE_MODULE]["seen"][tool]),
                _yes_no(all(b["error"] for b in broken)),
                _yes_no(all(b["kept"] for b in broken)),
                _yes_no(all(b["fixed"] for b in broken)),
            ]
        )
    result.tables.append(
        Table(
            [
                "tool",
                "a function taken before runs the new code",
                "an instance made before runs the new method",
                "`isinstance(instance made before, module.Probe)`",
                "halfway through a whole-module edit, the program sees",
                "broken edit: error reported",
                "broken edit: old code kept",
                "next good edit applied",
            ],
            features,
            "What the same run checked. Halfway through: a call in the middle of the new "
            "source starts a thread and waits for it; that thread reads, from the module "
            "object the program imported, a function defined before that point and one "
            "defined after, as any other thread of the program could; 'one version' means "
            "both belong to the same revision (the old one: nothing is visible yet), 'a mix' "
            "that the first half of the new code is already visible, 'names missing' that the "
            "second half's names are gone, 'not run' that the tool did not execute that line "
            "(it applied the changed definitions alone). A broken edit raises once "
            "everything is defined: 'old code kept' means that, after it, the module and the "
            "references taken before run exactly what they ran before the broken edit.",
        )
    )
    return result


# -- holds ----------------------------------------------------------------------

HOLD_LIMIT_US = 1.0
HOLD_UNROLL = 100
# Written to a file and run in a fresh interpreter with '{"seconds": .., "repeats": ..}'.
HOLD_CODE = """
import asyncio, contextvars, json, sys, threading, time, timeit
import hookreload

args = json.loads(sys.argv[1])
hold = hookreload.hold
lock = threading.Lock()
var = contextvars.ContextVar("v", default=0)


class Empty:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        pass


empty = Empty()


SYNC = {
    "hold": "with hold(): pass",
    "nested hold (inside an open one)": "with hold(): pass",
    "empty class context manager": "with empty: pass",
    "threading.Lock": "with lock: pass",
    "ContextVar set + reset": "var.reset(var.set(1))",
}
ASYNC = {"async hold": hold(), "empty async context manager": empty}
FIRST = "{FIRST}"
TASK = "{TASK}"
N = {UNROLL}


def sync_loop(stmt):
    code = "def f(loops):\\n for _ in range(loops):\\n" + ("  " + stmt + "\\n") * N
    space = dict(globals())
    exec(code, space)
    return space["f"]


def async_body(cm):
    # Unrolled as the sync rows are: the loop's own cost stays out of the figure.
    code = "async def f(loops):\\n for _ in range(loops):\\n" + (
        "  async with cm:\\n   pass\\n" * N
    )
    space = {"cm": cm}
    exec(code, space)
    return space["f"]


async def one_hold():
    async with hold():
        pass


async def no_hold():
    pass


async def tasks_body(job, loops):
    for _ in range(loops * N):
        await loop.create_task(job())


loop = asyncio.new_event_loop()


def async_loop(cm):
    body = async_body(cm)

    def f(loops):
        loop.run_until_complete(body(loops))
    return f


def tasks_loop(job):
    def f(loops):
        loop.run_until_complete(tasks_body(job, loops))
    return f


def per_op(f):
    loops = 1
    while True:
        start = time.process_time()
        f(loops)
        took = time.process_time() - start
        if took >= args["seconds"]:
            return took / (loops * N)
        loops *= 2


funcs = {name: sync_loop(stmt) for name, stmt in SYNC.items()}
funcs.update({name: async_loop(cm) for name, cm in ASYNC.items()})
funcs.update({FIRST: tasks_loop(one_hold), TASK: tasks_loop(no_hold)})
samples = {name: [] for name in funcs}
names = list(funcs)
nested = "nested hold (inside an open one)"
for i in range(args["repeats"]):
    for name in names[i % len(names):] + names[: i % len(names)]:
        if name == nested:
            with hold():
                samples[name].append(per_op(funcs[name]))
        else:
            samples[name].append(per_op(funcs[name]))
print(json.dumps({"python": sys.version.split()[0], "samples": samples}))
"""
HOLD_FIRST = "a new task with one async hold"
HOLD_TASK = "a new task without a hold"
HOLD_CODE = (
    HOLD_CODE.replace("{UNROLL}", str(HOLD_UNROLL))
    .replace("{FIRST}", HOLD_FIRST)
    .replace("{TASK}", HOLD_TASK)
)


def holds(settings: Settings) -> CaseResult:
    pythons = [PYTHON]
    if settings.other_pythons:
        pythons += [path for _, path in other_pythons()]
    repeats = settings.pick(11, 5)
    result = CaseResult(
        "hold",
        "Holds: entering and leaving `hookreload.hold()` with no reload pending",
        "A fresh interpreter times each statement unrolled "
        f"{HOLD_UNROLL} times per loop in CPU time (`process_time`), the loop count doubled "
        f"until one timing takes 10 ms; {repeats} repeats, every subject once per repeat in "
        "an order rotated every repeat, and the figures are medians. `with hookreload.hold(): "
        "pass` includes the call of `hold()`; the nested row runs inside an open hold. The "
        "async rows run `async with`, unrolled alike, in one coroutine that never yields, run by an "
        "asyncio event loop: they time the context manager, not the loop. A task's first async "
        "hold makes the task's record (later ones find it): the two task rows time creating and "
        "awaiting a task whose coroutine holds once, and one that does not, and their "
        "difference is that first hold's cost (for the record: a difference of two timings "
        "ten times its size is too noisy for a target; ASGIHoldMiddleware pays it per "
        "request). The other rows are "
        "references: an empty class with `__enter__`/`__exit__` (the floor of any `with`), a "
        "`threading.Lock` and a `ContextVar` set and reset. The targets are the holds' absolute "
        "times over 1 µs, the issue's budget (an absolute figure: a busy machine inflates it; "
        "the ratio to the empty context manager, measured alongside, does not move as much). "
        "Every supported CPython found on the machine gets the same run.",
    )
    table = Table(
        ["Python", "", "median ns", "min ns", "max ns"],
        [],
        "ns per enter and leave (CPU time), no reload pending.",
    )
    with _scratch() as tmp:
        script = Path(tmp) / "hold_bench.py"
        script.write_text(HOLD_CODE)
        args = json.dumps({"seconds": 0.01, "repeats": repeats})
        for python in pythons:
            try:
                proc = run_python(python, [str(script), args], TIMEOUT)
            except BenchError as exc:
                if python == PYTHON:
                    raise
                result.notes.append(f"`{python}` was not measured: {exc}")
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            version, samples = out["python"], out["samples"]
            for subject, what in (("hold", "`with hold()`"), ("async hold", "`async with hold()`")):
                result.measurements.append(
                    Measurement(
                        f"enter and leave {what} (Python {version}), in units of the 1 µs budget",
                        median(samples[subject]) / (HOLD_LIMIT_US * 1e-6),
                        "x",
                        1.0,
                    )
                )
            # A difference of two task timings: too noisy for a target.
            first = median(samples[HOLD_FIRST]) - median(samples[HOLD_TASK])
            result.measurements.append(
                Measurement(
                    f"the first `async with hold()` of a new task (Python {version}), "
                    "in units of the 1 µs budget",
                    first / (HOLD_LIMIT_US * 1e-6),
                    "x",
                )
            )
            for subject, floor in (
                ("hold", "empty class context manager"),
                ("async hold", "empty async context manager"),
            ):
                result.measurements.append(
                    Measurement(
                        f"`{subject}` / {floor} (Python {version})",
                        ratio_of_medians(samples[subject], samples[floor]),
                        "x",
                    )
                )
            table.rows += [
                [
                    version,
                    name,
                    f"{median(s) * 1e9:.0f}",
                    f"{min(s) * 1e9:.0f}",
                    f"{max(s) * 1e9:.0f}",
                ]
                for name, s in samples.items()
            ]
    result.tables.append(table)
    return result


def _run_script(code: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter, given ``args`` and ``root`` (a scratch folder)
    as JSON in ``sys.argv[1]``; the last line it prints, parsed."""
    with _scratch() as tmp:
        script = Path(tmp) / "bench_script.py"
        script.write_text(code)
        proc = run_python(PYTHON, [str(script), json.dumps({**args, "root": tmp})], TIMEOUT)
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# -- atomic batches (issue 7) -----------------------------------------------------

BATCH_PACKAGE = "hrbench_batch"
BATCH_MODULES = 20
BATCH_FUNCTIONS = 30  # per module: compiling is most of a reload
BATCH_LIMIT = 3.0

BATCH_CODE = """
import json, os, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
import hookreload

package, count, functions = args["package"], args["modules"], args["functions"]


def source(i, revision):
    lines = [f"REVISION = {revision}"]
    lines.append(f"from .m{i - 1:02d} import VALUE as PREVIOUS" if i else "PREVIOUS = 0")
    lines.append("VALUE = PREVIOUS + 1")
    for k in range(functions):
        lines.append(f"def f{k}(x, y={k}):\\n    total = x + y + VALUE\\n    return total * {k}")
    lines.append("class Thing:\\n    def __init__(self):\\n        self.value = VALUE")
    return "\\n".join(lines) + "\\n"


def write(revision):
    for i in range(count):
        path = os.path.join(args["root"], package, f"m{i:02d}.py")
        with open(path, "w") as f:
            f.write(source(i, revision))


os.makedirs(os.path.join(args["root"], package), exist_ok=True)
open(os.path.join(args["root"], package, "__init__.py"), "w").close()
write(0)
hookreload.install(include=[package])
import importlib
modules = [importlib.import_module(f"{package}.m{i:02d}") for i in range(count)]


def one_by_one():
    for module in modules:
        hookreload.reload(module)


def batch():
    hookreload.reload(*modules)


sides = {"one by one": one_by_one, "one batch": batch}
samples = {name: [] for name in sides}
revision = 0
for i in range(args["warmup"] + args["rounds"]):
    order = list(sides) if i % 2 == 0 else list(sides)[::-1]
    for name in order:
        revision += 1
        write(revision)
        start = time.process_time()
        sides[name]()
        took = time.process_time() - start
        assert modules[-1].REVISION == revision and modules[-1].VALUE == count
        if i >= args["warmup"]:
            samples[name].append(took)
print(json.dumps({"python": sys.version.split()[0], "samples": samples}))
"""


def batch_reload(settings: Settings) -> CaseResult:
    rounds = settings.pick(30, 8)
    result = CaseResult(
        "batch",
        f"An atomic batch of {BATCH_MODULES} modules against reloading them one by one",
        f"A fresh interpreter imports {BATCH_MODULES} modules under the hook, a chain in "
        f"which each takes a name from the one before (`from .m04 import VALUE`), each with "
        f"{BATCH_FUNCTIONS} functions and a class. Every round rewrites all {BATCH_MODULES} "
        "files with a new `REVISION` (so both sides compile everything), then reloads them "
        "either one by one (`hookreload.reload(m)` for each, in dependency order: 20 "
        "transactions) or as one batch (`hookreload.reload(*modules)`: built in dependency "
        "order, each against the new versions before it, then swapped at once). The two "
        f"sides alternate, the order switching every round; 2 warm-up rounds, then {rounds} "
        "timed ones in CPU time (`process_time`), checking that the last module's new "
        f"`REVISION` is live. The target is the ratio of the medians, under {BATCH_LIMIT:g}x "
        "(issue 7).",
    )
    args = {
        "package": BATCH_PACKAGE,
        "modules": BATCH_MODULES,
        "functions": BATCH_FUNCTIONS,
        "warmup": 2,
        "rounds": rounds,
    }
    out = _run_script(BATCH_CODE, args)
    samples: dict[str, list[float]] = out["samples"]
    result.measurements.append(
        Measurement(
            f"reload {BATCH_MODULES} modules as one atomic batch / one by one "
            f"(Python {out['python']})",
            ratio_of_medians(samples["one batch"], samples["one by one"]),
            "x",
            BATCH_LIMIT,
        )
    )
    result.tables.append(
        _spread(
            samples,
            f"CPU time to reload all {BATCH_MODULES} modules, {len(samples['one batch'])} rounds.",
        )
    )
    return result


# -- a reload in a busy program ------------------------------------------------------

BUSY_PACKAGE = "hrbench_busy"
BUSY_THREADS = 3

BUSY_CODE = """
import json, os, sys, threading, time
# Unpinned, as a service is: on one CPU a busy thread could not take the GIL
# while the reload is in a system call.
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
import hookreload

package = args["package"]
path = os.path.join(args["root"], package, "m.py")


def write(revision):
    body = "".join(f"def f{k}(x):\\n    return x + {k} + REVISION\\n" for k in range(30))
    with open(path, "w") as f:
        f.write(f"REVISION = {revision}\\n" + body)


os.makedirs(os.path.dirname(path), exist_ok=True)
open(os.path.join(args["root"], package, "__init__.py"), "w").close()
write(0)
hookreload.install(include=[package])
import importlib
m = importlib.import_module(package + ".m")
stop = threading.Event()


def busy():
    while not stop.is_set():
        m.f0(1)


samples = {"alone": [], "busy": []}
revision = 0
for block in range(args["blocks"]):
    for side in (["alone", "busy"] if block % 2 == 0 else ["busy", "alone"]):
        stop.clear()
        threads = [threading.Thread(target=busy) for _ in range(args["threads"] if side == "busy" else 0)]
        for t in threads:
            t.start()
        for _ in range(args["per_block"]):
            revision += 1
            write(revision)
            start = time.perf_counter()
            hookreload.reload(m)
            samples[side].append(time.perf_counter() - start)
            assert m.REVISION == revision
        stop.set()
        for t in threads:
            t.join()
print(json.dumps({"python": sys.version.split()[0], "samples": samples}))
"""


def busy_reload(settings: Settings) -> CaseResult:
    blocks = settings.pick(10, 2)
    per_block = settings.pick(10, 4)
    result = CaseResult(
        "busy",
        f"A reload while {BUSY_THREADS} threads call the module",
        f"A fresh interpreter imports a module of 30 functions under the hook, then reloads it "
        f"after each rewrite, in blocks of {per_block}: alone, and while {BUSY_THREADS} threads "
        "call one of its functions in a loop, the blocks alternating, "
        f"{blocks} of each, on every CPU of the machine (this case undoes the run's pinning). "
        "Wall-clock time of `hookreload.reload()` only, the rewrite outside "
        "it: the time the reloading thread waits. Under the GIL every system call the reload "
        "makes lets a busy thread in, and getting the GIL back takes up to a switch interval "
        "(5 ms) per busy thread, so the figure counts a reload's system calls more than its "
        "work: reading the source takes five (see `_digest.read_file_opened`). Which thread "
        "the operating system wakes first decides each wait, so the busy figures vary "
        "several-fold from run to run. For the record: no target.",
    )
    args = {
        "package": BUSY_PACKAGE,
        "threads": BUSY_THREADS,
        "blocks": blocks,
        "per_block": per_block,
    }
    out = _run_script(BUSY_CODE, args)
    samples: dict[str, list[float]] = out["samples"]
    result.measurements.append(
        Measurement(
            f"one reload with {BUSY_THREADS} threads calling the module / alone "
            f"(Python {out['python']})",
            ratio_of_medians(samples["busy"], samples["alone"]),
            "x",
        )
    )
    result.tables.append(
        _spread(
            {"alone": samples["alone"], f"{BUSY_THREADS} threads busy": samples["busy"]},
            f"Wall-clock time of one reload, {len(samples['busy'])} of each.",
        )
    )
    return result


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("hotpath", "hot path through a proxy", hot_path),
        Case("import", "importing 500 modules under the hook", import_tree),
        Case("reload", "hookreload.reload against importlib.reload", reload_vs_importlib),
        Case("memory", "memory across 1,000 reloads", memory),
        Case("scaling", "reload cost with 5,000 modules loaded", scaling),
        Case("startup", "import hookreload time", startup),
        Case("watch", "the watcher's edit-to-live latency and idle CPU", watcher),
        Case("service", "a service edited under load, against uvicorn --reload", service),
        Case("hold", "entering and leaving hookreload.hold()", holds),
        Case("busy", "a reload while threads call the module", busy_reload),
        Case("batch", "an atomic batch of 20 modules against one by one", batch_reload),
        Case("patch", "patch mode's cost on a 1,000-line module", patch_cost),
        Case("compare", "applying an edit: against importlib, autoreload, jurigged", compare),
    )
}
