"""What the cases share: results, settings, statistics and running child interpreters."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
WORKER = Path(__file__).resolve().parent / "_worker.py"

# The Python versions the project supports (pyproject.toml, noxfile.py).
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")

# Variables that would change what a child interpreter measures.
_UNSET = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
    "PYTHONMALLOC",
    "PYTHONMALLOCSTATS",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONINSPECT",
    "PYTHONWARNINGS",
    "COVERAGE_PROCESS_START",
    "COVERAGE_PROCESS_CONFIG",
)


class BenchError(RuntimeError):
    """A benchmark could not measure what it should (a child failed, a check did not hold)."""


@dataclass(frozen=True)
class Settings:
    """Options of one run of the suite."""

    quick: bool = False
    other_pythons: bool = True

    def pick(self, full: int, quick: int) -> int:
        """``full`` repeats normally, ``quick`` ones with ``--quick``."""
        return quick if self.quick else full


_FORMATS = {
    "x": "{:.3f}x",
    "MB": "{:.2f} MB",
    "ms": "{:.1f} ms",
    "%": "{:.2f}% of a core",
    "requests": "{:.0f} requests",
}


@dataclass
class Measurement:
    """One figure; with a ``limit`` it is a target, met when ``value <= limit``."""

    label: str
    value: float
    unit: str
    limit: float | None = None

    def formatted(self, value: float | None = None) -> str:
        return _FORMATS[self.unit].format(self.value if value is None else value)

    @property
    def target(self) -> str:
        return "(none: for the record)" if self.limit is None else f"≤ {self.formatted(self.limit)}"

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "—"
        return "PASS" if self.value <= self.limit else "FAIL"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class CaseResult:
    """What one case reports."""

    name: str
    title: str
    method: str
    measurements: list[Measurement] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(m.verdict == "FAIL" for m in self.measurements)


# -- statistics -----------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    if not values:
        raise BenchError("no samples")
    return statistics.median(values)


def ratio_of_medians(target: Sequence[float], baseline: Sequence[float]) -> float:
    return median(target) / median(baseline)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, interpolating linearly between closest ranks."""
    if not values:
        raise BenchError("no samples")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Sequence[float], digits: int = 3) -> str:
    """``min-max`` of ``values``, for a table."""
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:.2f} MB"


# -- child interpreters ------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of every child: hookreload from this checkout, nothing that skews timing."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def run_python(
    python: str, args: Sequence[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python args…``; ``BenchError`` with its output when it fails or hangs."""
    command = [python, *args]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{command[:3]} took more than {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise BenchError(
            f"{command[:3]} exited with {proc.returncode}:\n{proc.stderr.strip()[-3000:]}"
        )
    return proc


def timed_python(python: str, args: Sequence[str], timeout: float) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of ``python args…``, from spawn to exit."""
    before = _children_cpu()
    start = time.perf_counter()
    run_python(python, args, timeout)
    wall = time.perf_counter() - start
    return wall, _children_cpu() - before


def _children_cpu() -> float:
    """CPU seconds used by every child reaped so far (they run one at a time here)."""
    try:
        import resource
    except ImportError:  # not Unix: the caller sees wall-clock time
        return time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(python: str, name: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement of ``_worker.py`` in a fresh ``python``; its JSON result."""
    proc = run_python(python, [str(WORKER), name, json.dumps(args)], timeout)
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise BenchError(f"worker {name} printed no result: {proc.stdout[-500:]!r}") from exc
    return result


class Session:
    """A worker kept alive to answer requests, one JSON line each way.

    Two sessions answering in turn are measured over the same stretch of time,
    which on a shared machine matters more than anything else.
    """

    def __init__(
        self, python: str, name: str, args: dict[str, Any], timeout: float, *, greet: bool = True
    ) -> None:
        """Start the worker; with ``greet``, wait for its first line (``greeting``).

        Without, call :meth:`wait_greeting` later: several sessions then start at once.
        """
        self.name = name
        self._proc = subprocess.Popen(
            [python, str(WORKER), name, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=ROOT,
        )
        # The one deadline for the whole session: past it the child is killed
        # and the read that waits for it fails.
        self._watchdog = threading.Timer(timeout, self._proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._stopped = False
        self.greeting: dict[str, Any] = {}
        if greet:
            self.wait_greeting()

    def wait_greeting(self) -> dict[str, Any]:
        """The worker's first line, read once it is ready."""
        self.greeting = self._read()
        return self.greeting

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            err = self.stop()
            raise BenchError(f"worker {self.name} stopped (or timed out):\n{err.strip()[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()

    def send(self, request: dict[str, Any]) -> None:
        """Send a request without waiting: several sessions then work at the same time."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        """The answer to the request sent last."""
        return self._read()

    def close(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send the request that ends the session; the worker's final result."""
        try:
            return self.ask(request)
        finally:
            self.stop()

    def stop(self) -> str:
        """End the worker (closing its stdin ends its loop) and the watchdog; its stderr."""
        if self._stopped:
            return ""
        self._stopped = True
        try:
            _, err = self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        self._watchdog.cancel()
        return err or ""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _works(path: str) -> bool:
    try:
        code = "import sys; sys.exit(sys.implementation.name != 'cpython')"
        return subprocess.run([path, "-c", code], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def other_pythons() -> list[tuple[str, str]]:
    """``(version, path)`` of the supported CPythons present here, besides the running one."""
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for version in SUPPORTED:
        if version == mine:
            continue
        name = f"python{version}"
        candidates = [shutil.which(name) or ""]
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", name)))
        path = next((c for c in candidates if c and _works(c)), None)
        if path is not None:
            found.append((version, path))
    return found


def describe_machine() -> dict[str, str]:
    """Where the figures come from, for the report's header."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "")
    except OSError:
        pass
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "platform": platform.platform(),
        "cpus": f"{os.cpu_count()}" + (f" x {cpu}" if cpu else ""),
        "load": load,
    }


def describe_checkout() -> str:
    """hookreload's version and the commit measured, marked when ``src`` has local changes."""
    sys.path.insert(0, str(SRC))
    try:
        import hookreload

        version = hookreload.__version__
    finally:
        sys.path.remove(str(SRC))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return version
    if not head:
        return version
    return f"{version}, commit {head}" + (" with uncommitted changes in src/" if dirty else "")
