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


# -- applying an edit: hookreload against other reloaders -----------------------------

HOOKRELOAD, PATCH = "hookreload", "hookreload, patch mode"
IMPORTLIB, AUTORELOAD, JURIGGED = "importlib.reload", "IPython autoreload", "jurigged"
IDLE_CHECK = "IPython autoreload, no edit"
DEDUPED: list[int] = []  # one item per edit IPython's deduplicating reloader applied


def _editors(args: Args) -> dict[str, tuple[types.ModuleType, Callable[[], str | None]]]:
    """Each tool's module, imported, and how the tool applies an edit of its file.

    Each applier returns the error that the tool reported, or ``None``. Each
    is set up as its documentation says and applied as its watcher or hook
    would: ``hookreload.reload`` (the patch mode toggled on the hook),
    ``importlib.reload``, ``ModuleReloader.check()`` with ``%autoreload 2``'s
    settings (as IPython runs it before every cell), and jurigged's
    ``CodeFile.refresh()`` (what its watcher calls on a file event).
    """
    packages: dict[str, str] = args["packages"]
    hook = None
    ours = [packages[tool] for tool in (HOOKRELOAD, PATCH) if tool in packages]
    if ours:
        import hookreload

        hook = hookreload.install(include=ours)
    modules = {tool: importlib.import_module(f"{name}.big") for tool, name in packages.items()}
    appliers: dict[str, Callable[[], str | None]] = {}

    def caught(apply: Callable[[], object]) -> Callable[[], str | None]:
        def run() -> str | None:
            try:
                apply()
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

        return run

    if hook is not None:

        def with_patch(module: types.ModuleType, patch: bool) -> Callable[[], object]:
            def apply() -> object:
                hook.patch = patch
                return hookreload.reload(module)

            return apply

        for tool, patch in ((HOOKRELOAD, False), (PATCH, True)):
            if tool in modules:
                appliers[tool] = caught(with_patch(modules[tool], patch))
    if IMPORTLIB in modules:
        appliers[IMPORTLIB] = caught(lambda: importlib.reload(modules[IMPORTLIB]))
    if JURIGGED in modules:
        from jurigged import registry

        errors: list[str] = []
        registry.set_logger(
            lambda event: (
                errors.append(f"{type(event).__name__}: {event}")
                if isinstance(event, BaseException)
                else None
            )
        )
        module = modules[JURIGGED]
        registry.prepare(module.__name__, module.__file__)
        codefile = registry.get(module.__file__)

        def refresh() -> str | None:
            errors.clear()
            try:
                codefile.refresh()
            except Exception as exc:  # its watcher logs these too
                errors.append(f"{type(exc).__name__}: {exc}")
            return "; ".join(errors) or None

        appliers[JURIGGED] = refresh
    if AUTORELOAD in modules:
        from IPython.extensions.autoreload import ModuleReloader

        # Made last: it records the mtime of every module loaded.
        reloader = ModuleReloader()
        reloader.enabled, reloader.check_all, reloader.autoload_obj = True, True, False
        reloader.hide_errors = True  # reported below instead of printed
        for tool, module in modules.items():
            if tool != AUTORELOAD:
                reloader.mark_module_skipped(module.__name__)
        module = modules[AUTORELOAD]
        # Which of its two ways applied each edit: count the deduplicating one's successes.
        # (IPython 9 has it; IPython 8 always runs `superreload`.)
        deduper = getattr(reloader, "deduper_reloader", None)
        if deduper is not None:
            maybe_reload = deduper.maybe_reload_module

            def counted(target: types.ModuleType) -> bool:
                done: bool = maybe_reload(target)
                if done and target is module:
                    DEDUPED.append(1)
                return done

            deduper.maybe_reload_module = counted

        def check() -> str | None:
            reloader.check()
            if module.__file__ in reloader.failed:
                return f"autoreload of {module.__name__} failed"
            return None

        appliers[AUTORELOAD] = check
        appliers[IDLE_CHECK] = check
        modules[IDLE_CHECK] = module
    return {tool: (modules[tool], appliers[tool]) for tool in appliers}


def _look(module: types.ModuleType) -> str:
    """What a reader of ``module`` finds: after a whole-module edit, both return the revision."""
    try:
        early, late = module.compute_0([0])["total"], module.probe()
    except (AttributeError, NameError):
        return "names missing"
    return "one version" if early == late else "a mix of versions"


def _observe(
    editors: dict[str, tuple[types.ModuleType, Callable[[], str | None]]],
    spent: list[float],
) -> dict[str, list[str]]:
    """Record what another thread sees of each module while an edit of it executes.

    ``probed_module`` calls the observer halfway through its code; it starts a
    thread that reads the module as the program holds it (what ``import``
    gave) and waits for it: a function defined before that point and one
    defined after. Another thread, because hookreload shows the version being
    built to the thread building it (so that the module can look itself up).
    The CPU time the observer takes is added to ``spent``, for the caller to
    take off its timings.

    Returns:
        Per tool, what each observation found; filled in as edits run.
    """
    import builtins
    import threading

    seen: dict[str, list[str]] = {tool: [] for tool in editors if tool != IDLE_CHECK}
    by_name = {editors[tool][0].__name__: tool for tool in seen}

    def observe(name: str, tag: str) -> None:
        tool = by_name.get(name)
        if tool not in seen:
            return
        start = CLOCK()
        module = editors[tool][0]
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(_look(module)))
        reader.start()
        reader.join()
        seen[tool] += found
        spent[0] += CLOCK() - start

    setattr(builtins, _gen.OBSERVER, observe)
    return seen


def edit_compare(args: Args) -> Result:
    """Seconds to apply an edit of the same module with each tool, the tools taking turns.

    Each tool has its own copy of the module (``args["packages"]``: tool ->
    package), all written alike. Before every timed edit the file is
    rewritten (``_gen.probed_module``) with a new revision and an mtime of its
    own; after it, the module must run the new code (``module.probe()``), and
    a function and an instance taken at import tell whether references taken
    before follow (and ``isinstance`` holds). In whole-module edits, an observer
    called halfway through the new code records what the program sees of the
    module meanwhile (``_observe``). After the timed edits, each tool is given a broken edit (it
    raises once everything is defined) and then a good one: what the module
    runs after each is recorded. With ``IPython autoreload`` in the run, a
    ``check()`` with no edit is timed too, once per round.
    """
    _on_path(args["root"])
    root = Path(args["root"])
    lines, edit = args["lines"], args["edit"]
    base = int(time.time()) - 86_400
    for name in args["packages"].values():
        _gen.set_mtime(root / name / "big.py", base)
    editors = _editors(args)
    events: list[Any] = []
    if HOOKRELOAD in editors or PATCH in editors:
        import hookreload

        hookreload.on_reload(events.append)
    # References taken at import, as `from mod import probe` and a stored instance would be.
    held = {tool: (module.probe, module.Probe()) for tool, (module, _) in editors.items()}
    spent = [0.0]  # CPU time of the observer, not the tool's
    seen = _observe(editors, spent) if edit == _gen.WHOLE_MODULE else {}
    samples: dict[str, list[float]] = {tool: [] for tool in editors}
    follows: dict[str, list[int]] = {tool: [0, 0, 0] for tool in editors if tool != IDLE_CHECK}
    patched: list[int] = []
    tools = list(editors)
    warmup, iterations = args["warmup"], args["iterations"]

    def write(module: types.ModuleType, revision: int, fail: bool = False) -> None:
        path = Path(module.__file__ or "")
        _gen.write(path, _gen.probed_module(lines, revision, edit, fail=fail))
        _gen.set_mtime(path, base + revision)

    for revision in range(1, warmup + iterations + 1):
        shift = revision % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            module, apply = editors[tool]
            if tool != IDLE_CHECK:
                write(module, revision)
            events.clear()
            spent[0] = 0.0
            start = CLOCK()
            error = apply()
            elapsed = CLOCK() - start - spent[0]
            if error is not None:
                raise RuntimeError(f"{tool}: {error}")
            if tool == IDLE_CHECK:
                if revision > warmup:
                    samples[tool].append(elapsed)
                continue
            if module.probe() != revision:
                raise RuntimeError(f"{tool} did not run the edited source")
            if tool == PATCH:
                if not events or not events[-1].patched:
                    raise RuntimeError(f"{tool}: the reload patched nothing: {events}")
                patched.append(len(events[-1].patched))
            if revision > warmup:
                samples[tool].append(elapsed)
                function, instance = held[tool]
                follows[tool][0] += function() == revision
                follows[tool][1] += instance.probe() == revision
                follows[tool][2] += isinstance(instance, module.Probe)
            elif tool in seen:
                seen[tool].clear()  # what the warm-up saw
    # A broken edit, then a good one.
    seen = {tool: list(views) for tool, views in seen.items()}  # the timed edits only
    last = warmup + iterations
    broken: dict[str, dict[str, Any]] = {}
    for tool, (module, apply) in editors.items():
        if tool == IDLE_CHECK:
            continue
        function, _ = held[tool]
        before = function()
        write(module, last + 1, fail=True)
        error = apply()
        after_broken = {"module": module.probe(), "reference": function()}
        write(module, last + 2)
        fixed_error = apply()
        broken[tool] = {
            "error": error,
            "kept": after_broken == {"module": last, "reference": before},
            "after": after_broken,
            "fixed": fixed_error is None and module.probe() == last + 2,
        }
    return {
        "samples": samples,
        "follows": follows,
        "patched": patched,
        "broken": broken,
        "seen": seen,
        "modules_loaded": len(sys.modules),
        "deduped": len(DEDUPED),
        "python": platform.python_version(),
    }


WORKERS: dict[str, Callable[[Args], Result]] = {
    "hotpath": hotpath,
    "import_tree": import_tree,
    "reload_compare": reload_compare,
    "memory": memory,
    "scaling": scaling,
    "watch_latency": watch_latency,
    "watch_idle": watch_idle,
    "edit_compare": edit_compare,
}


def main(argv: list[str]) -> int:
    name, raw = argv[1:3]
    result = WORKERS[name](json.loads(raw))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
