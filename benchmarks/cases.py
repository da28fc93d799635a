"""The benchmark cases: each writes its code, runs the workers, and judges the figures.

Every timing target is a ratio of two things measured side by side in the same
run, interleaved, from medians of several repeats: never an absolute time.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import _gen
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
    rounds = settings.pick(16, 3)
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
        "medians. Under the hook every module costs one `lstat` of its source (to know later "
        "whether the file changed since the import) and one registry entry; its record and "
        "its version 1 are built the first time something asks for them, and its source is "
        "hashed then too (at import only when a watcher runs).",
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
    result.tables.append(
        Table(
            ["", "median", "min", "max"],
            [[label, ms(median(s)), ms(min(s)), ms(max(s))] for label, s in samples.items()],
            f"{len(hook)} reloads each, after an edit.",
        )
    )
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


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("hotpath", "hot path through a proxy", hot_path),
        Case("import", "importing 500 modules under the hook", import_tree),
        Case("reload", "hookreload.reload against importlib.reload", reload_vs_importlib),
        Case("memory", "memory across 1,000 reloads", memory),
        Case("scaling", "reload cost with 5,000 modules loaded", scaling),
        Case("startup", "import hookreload time", startup),
    )
}
