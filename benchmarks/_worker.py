"""The measuring side of the benchmarks, run in a fresh interpreter per call.

Usage: ``python benchmarks/_worker.py NAME 'JSON-ARGUMENTS'``; prints one JSON
object (the raw samples) on its last line of output. ``run.py`` computes the
statistics. Runs under every supported Python (3.10+), with ``hookreload``
importable (the parent puts the repository's ``src`` on ``PYTHONPATH``).

Times are CPU time of this process (``time.process_time``): other processes
on a shared machine delay us without being charged to us. A busy host still
slows the CPU itself, and that is what the interleaving of the two sides of
every comparison is for.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import sys
import time
import timeit
import types
import weakref
from pathlib import Path

import _gen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Args = dict[str, Any]
    Result = dict[str, Any]


CLOCK = time.process_time


def _on_path(root: str) -> None:
    sys.path.insert(0, root)


# -- hot path ----------------------------------------------------------------------


class _SharedNamespace:
    """A design hookreload does not use: a plain object whose ``__dict__`` is a module's."""

    # isinstance(obj, types.ModuleType) holds, as a module proxy must.
    __class__ = property(lambda self: types.ModuleType)


def _shared_namespace(module: types.ModuleType) -> object:
    obj = _SharedNamespace()
    obj.__dict__ = module.__dict__
    assert isinstance(obj, types.ModuleType)
    return obj


def _forwarding_module(module: types.ModuleType) -> object:
    class Forwarding(types.ModuleType):
        def __getattribute__(self, name: str, _target: types.ModuleType = module) -> Any:
            return getattr(_target, name)

    return Forwarding(module.__name__)


def _subjects(proxies: list[Any], plains: list[Any], alt: types.ModuleType) -> Result:
    """What the hot path is measured on: the two compared, then the designs not taken."""
    subjects: dict[str, list[object]] = {
        "plain module": plains,
        "hookreload proxy": proxies,
        "object sharing the module's `__dict__`": [_shared_namespace(alt)],
        "`ModuleType` subclass, Python `__getattribute__`": [_forwarding_module(alt)],
    }
    try:
        import wrapt
    except ImportError:
        return subjects

    class Forwarding(wrapt.ObjectProxy):  # type: ignore[type-arg]
        def __getattribute__(self, name: str) -> Any:
            return getattr(object.__getattribute__(self, "__wrapped__"), name)

    subjects["`wrapt.ObjectProxy(module)`"] = [wrapt.ObjectProxy(alt)]
    subjects["`wrapt.ObjectProxy` subclass, Python `__getattribute__`"] = [Forwarding(alt)]
    return subjects


HOT_STATEMENTS = {"attr": "m.x\n", "call": "m.f(1)\n"}


def _calibrated(
    stmt: str, subject: object, unroll: int, seconds: float
) -> tuple[timeit.Timer, int]:
    timer = timeit.Timer(
        stmt * unroll, setup="m = _subject", timer=CLOCK, globals={"_subject": subject}
    )
    per_loop = 0.0
    for _ in range(2):  # the first round also lets the interpreter specialise
        per_loop = timer.timeit(number=20) / 20
    return timer, max(1, int(seconds / per_loop))


def hotpath(args: Args) -> Result:
    """Nanoseconds per ``m.x`` and per ``m.f(1)`` for every subject, repeats interleaved.

    The two compared sides are measured on several copies each (``mod0``, ``mod1``…),
    each with its own timer, so that no one object's place in memory decides.
    """
    _on_path(args["root"])
    import hookreload

    hookreload.install(include=[args["proxied"]])
    copies = range(args["copies"])
    proxies = [importlib.import_module(f"{args['proxied']}.mod{i}") for i in copies]
    plains = [importlib.import_module(f"{args['plain']}.mod{i}") for i in copies]
    alt = importlib.import_module(args["plain"] + ".alt")
    for proxy in proxies:
        # Measure the proxy in its steady state: sharing the namespace of a
        # version built by a reload, not the one it was created with.
        hookreload.reload(proxy)
        assert hookreload.is_proxy(proxy)
    assert not any(map(hookreload.is_proxy, plains))
    subjects = _subjects(proxies, plains, alt)
    unroll = args["unroll"]
    timers = {
        (name, op): [_calibrated(stmt, obj, unroll, args["seconds"]) for obj in objects]
        for name, objects in subjects.items()
        for op, stmt in HOT_STATEMENTS.items()
    }
    samples: dict[str, dict[str, list[float]]] = {
        name: {op: [] for op in HOT_STATEMENTS} for name in subjects
    }
    names = list(subjects)
    for repeat in range(args["repeats"]):
        # Rotate the order so that no subject always runs first or after the same one.
        shift = repeat % len(names)
        for op in HOT_STATEMENTS:
            for name in names[shift:] + names[:shift]:
                for timer, number in timers[name, op]:
                    samples[name][op].append(timer.timeit(number) / (number * unroll) * 1e9)
    return {"python": platform.python_version(), "samples": samples}


# -- importing a tree of modules ---------------------------------------------------


def import_tree(args: Args) -> Result:
    """Seconds to import the tree's packages, with or without the hook installed."""
    _on_path(args["root"])
    import hookreload  # on both sides: only installing it differs

    packages: list[str] = args["packages"]
    if args["hook"]:
        hookreload.install(include=packages)
    wall, start = time.perf_counter(), CLOCK()
    for name in packages:
        importlib.import_module(name)
    seconds, wall = CLOCK() - start, time.perf_counter() - wall
    prefixes = tuple(packages)
    loaded = [m for name, m in sys.modules.items() if name.startswith(prefixes)]
    return {
        "seconds": seconds,
        "wall": wall,
        "modules": len(loaded),
        "proxied": sum(map(hookreload.is_proxy, loaded)),
    }


# -- reload against importlib.reload -----------------------------------------------


def reload_compare(args: Args) -> Result:
    """Seconds per reload after an edit: hookreload.reload and importlib.reload, alternating."""
    _on_path(args["root"])
    import hookreload

    hookreload.install(include=[args["proxied"]])
    sides: dict[str, tuple[types.ModuleType, Callable[[types.ModuleType], object]]] = {
        "hookreload.reload": (importlib.import_module(args["proxied"] + ".big"), hookreload.reload),
        "importlib.reload": (importlib.import_module(args["plain"] + ".big"), importlib.reload),
    }
    samples: dict[str, list[float]] = {label: [] for label in sides}
    # Past mtimes, one second apart: every edit is newer than the .pyc before it.
    base = int(time.time()) - 86_400
    warmup = args["warmup"]
    for revision in range(1, warmup + args["iterations"] + 1):
        order = list(sides.items())
        if revision % 2:
            order.reverse()
        for label, (module, reload) in order:
            path = Path(module.__file__ or "")
            _gen.write(path, _gen.big_module(args["lines"], revision))
            _gen.set_mtime(path, base + revision)
            start = CLOCK()
            reload(module)
            elapsed = CLOCK() - start
            if revision != module.REVISION:
                raise RuntimeError(f"{label} did not run the edited source")
            if revision > warmup:
                samples[label].append(elapsed)
    return {"samples": samples}


# -- memory across reloads ----------------------------------------------------------


def _rss() -> int:
    """Resident set size now, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best there is without psutil
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _collections() -> list[int]:
    return [generation["collections"] for generation in gc.get_stats()]


def memory(args: Args) -> Result:
    """RSS after a warm-up and after many reloads of a module with a 1 MB namespace."""
    _on_path(args["root"])
    import hookreload

    reload: Callable[[types.ModuleType], object]
    if args["mode"] == "hookreload":
        hookreload.install(include=[args["package"]])
        reload = hookreload.reload
    else:
        reload = importlib.reload
    collect = args["collect"]
    module = importlib.import_module(args["package"] + ".fat")
    for _ in range(args["warmup"]):
        reload(module)
    # One weak reference per version, the list made before the first figure.
    markers: list[weakref.ref[object]] = [weakref.ref(module.MARKER)] * args["reloads"]
    collecting = 0.0
    before, collections_before = _rss(), _collections()
    for i in range(args["reloads"]):
        reload(module)
        markers[i] = weakref.ref(module.MARKER)
        if collect:
            start = CLOCK()
            gc.collect()
            collecting += CLOCK() - start
    after, collections_after = _rss(), _collections()
    alive = sum(ref() is not None for ref in markers)
    gc.collect()
    return {
        "namespace_bytes": _gen.namespace_bytes(module),
        "rss_before": before,
        "rss_after": after,
        "rss_collected": _rss(),
        "alive": alive,
        "alive_collected": sum(ref() is not None for ref in markers),
        "collections": [b - a for a, b in zip(collections_before, collections_after, strict=True)],
        "collect_seconds": collecting / args["reloads"],
    }


# -- reload cost with many modules loaded ------------------------------------------


def _send(message: Result) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def scaling(args: Args) -> Result:
    """Seconds per reload of one small module with ``count`` proxied modules loaded.

    A session: after loading, it says so on stdout, then times as many reloads
    as each line of stdin asks for (``{"reloads": N}``), answering with their
    times, until asked for none. The parent keeps two such sessions alive and
    alternates between them, so both are measured over the same stretch of time.
    """
    _on_path(args["root"])
    import hookreload

    names = Path(args["names_file"]).read_text(encoding="utf-8").split()[: args["count"]]
    hookreload.install(include=[args["pattern"], args["target"]])
    for name in names:
        importlib.import_module(name)
    target = importlib.import_module(args["target"])
    for _ in range(args["warmup"]):
        hookreload.reload(target)
    _send({"proxied": sum(hookreload.is_proxy(sys.modules[name]) for name in names)})
    for line in sys.stdin:
        samples = []
        for _ in range(json.loads(line)["reloads"]):
            start = CLOCK()
            hookreload.reload(target)
            samples.append(CLOCK() - start)
        if not samples:
            break
        _send({"samples": samples})
    # For the record: what one full collection costs with this much loaded.
    collections = []
    for _ in range(5):
        start = CLOCK()
        gc.collect()
        collections.append(CLOCK() - start)
    return {"gc_collect": sorted(collections)[2]}


# -- the watcher: edit-to-live latency ---------------------------------------------


def watch_latency(args: Args) -> Result:
    """Seconds from writing a small module until its new code answers, for ``edits`` edits.

    The clock runs from just before the write until a call to ``answer()``
    returns the new number, polled every 0.1 ms with a sleep in between (so
    the watcher thread gets the GIL as it would in a program waiting on I/O).
    A random pause between edits puts them at every phase of the watcher's
    step or poll interval. The first edit, which may come before the watch is
    up, is not counted.
    """
    import random

    _on_path(args["root"])
    import hookreload

    package = args["package"]
    path = Path(args["root"]) / package / "mod.py"
    rng = random.Random(args["seed"])
    # poll=False, not None: HOOKRELOAD_POLL in the environment must not choose.
    hook = hookreload.install(include=[package], watch=True, poll=bool(args["poll"]))
    assert hook.watcher is not None
    backend = hook.watcher.backend
    interval: float | None = getattr(backend, "interval", None)
    mod = importlib.import_module(f"{package}.mod")
    samples = []
    for n in range(1, args["edits"] + 2):
        start = time.perf_counter()
        _gen.write(path, _gen.edited_module(n))
        while mod.answer() != n:
            if time.perf_counter() - start > args["timeout"]:
                raise RuntimeError(f"edit {n} was not live after {args['timeout']} s")
            time.sleep(0.0001)
        elapsed = time.perf_counter() - start
        if n > 1:
            samples.append(elapsed)
        time.sleep(0.05 + rng.random() * (interval or 0.05))
    hook.uninstall()
    return {"samples": samples, "backend": backend.name, "interval": interval}


# -- the watcher: idle CPU -----------------------------------------------------------


def _wakeups() -> int:
    """Context switches of every thread of this process so far (Linux; 0 elsewhere)."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended meanwhile
    return total


def watch_idle(args: Args) -> Result:
    """CPU seconds this process uses while idle, with ``count`` modules and maybe a watcher.

    A session: once the modules are imported (and, with a watcher, all
    watched), it says so, then for every ``{"seconds": S}`` line on stdin
    sleeps ``S`` seconds and answers with the CPU time of the whole process
    (every thread) and the wall-clock time over that sleep, until asked for 0.
    """
    _on_path(args["root"])
    import hookreload
    from hookreload import _watch, _watch_backend

    mode = args["mode"]
    names = Path(args["names_file"]).read_text(encoding="utf-8").split()[: args["count"]]
    if mode == "events, no doorbell":
        _watch_backend.EventsBackend.doorbell = False
    watch = mode != "no watcher"
    poll = _watch.DEFAULT_POLL_INTERVAL if mode == "polling" else False
    hook = hookreload.install(include=[args["pattern"]], watch=watch, poll=poll if watch else None)
    for name in names:
        importlib.import_module(name)
    watcher = hook.watcher
    watched = 0
    if watcher is not None:
        deadline = time.monotonic() + 60
        while len(watcher.sources) < len(names) and time.monotonic() < deadline:
            time.sleep(0.05)
        watched = len(watcher.sources)
    time.sleep(args["settle"])
    _send(
        {
            "proxied": sum(hookreload.is_proxy(sys.modules[name]) for name in names),
            "watched": watched,
            "backend": "none" if watcher is None else watcher.backend.name,
            "interval": _watch.DEFAULT_POLL_INTERVAL,
        }
    )
    for line in sys.stdin:
        seconds = json.loads(line)["seconds"]
        if not seconds:
            break
        switches, cpu, wall = _wakeups(), CLOCK(), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = CLOCK() - cpu, time.perf_counter() - wall
        _send({"cpu": cpu, "wall": wall, "switches": _wakeups() - switches})
    hook.uninstall()
    return {}


WORKERS: dict[str, Callable[[Args], Result]] = {
    "hotpath": hotpath,
    "import_tree": import_tree,
    "reload_compare": reload_compare,
    "memory": memory,
    "scaling": scaling,
    "watch_latency": watch_latency,
    "watch_idle": watch_idle,
}


def main(argv: list[str]) -> int:
    name, raw = argv[1:3]
    result = WORKERS[name](json.loads(raw))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
