"""The long proofs (``make stress``): callers against reloads for minutes, and 10,000 reloads' footprint.

    python stress/run.py [--seconds 60] [--reloads 10000]

1. stress/workload.py's run, normal and patch mode, each for ``--seconds``:
   the counts of calls, errors and half-executed answers.
2. ``--reloads`` reloads of one module, normal and patch mode (a rollback
   every tenth), in this process: resident memory, threads and open files
   sampled every tenth of the way. After a warm-up tenth they must stay flat.

Exits 1 when a check fails. The figures are in docs/robustness.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hookreload
from stress.workload import hammer, source

# Growth allowed between the end of the warm-up and the end: allocator noise,
# not a leak (a leaked version of this module is ~50 KB: 10,000 would be ~500 MB).
RSS_SLACK_KB = 4096


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


class _Module:
    """A package with one module in a temporary directory, imported under the hook."""

    def __init__(self, name: str, patch: bool) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hr-stress-"))
        (self.root / name).mkdir()
        (self.root / name / "__init__.py").write_text("")
        self.path = self.root / name / "mod.py"
        self.path.write_text(source(1))
        sys.path.insert(0, str(self.root))
        importlib.invalidate_caches()
        self.hook = hookreload.install(include=[name], patch=patch)
        self.mod = importlib.import_module(f"{name}.mod")

    def close(self) -> None:
        self.hook.uninstall()
        sys.path.remove(str(self.root))
        for key in [k for k in sys.modules if k.split(".")[0] == self.mod.__name__.split(".")[0]]:
            del sys.modules[key]
        shutil.rmtree(self.root, ignore_errors=True)


def callers(seconds: float, patch: bool) -> bool:
    module = _Module(f"hr_stress_callers_{int(patch)}", patch)
    try:
        counts = hammer(module.mod, module.path, seconds=seconds)
    finally:
        module.close()
    mode = "patch" if patch else "normal"
    print(
        f"| {mode} | {counts.seconds:.0f} s | {counts.calls:,} | {counts.errors} | "
        f"{counts.torn:,} | {counts.reloads:,} | {counts.failed_reloads:,} | "
        f"{counts.rollbacks:,} |",
        flush=True,
    )
    for sample in counts.samples[:3]:
        print(f"    {sample}", flush=True)
    return counts.errors == 0 and counts.torn == 0 and counts.unexpected == 0


def footprint(reloads: int, patch: bool) -> bool:
    module = _Module(f"hr_stress_footprint_{int(patch)}", patch)
    mod, path = module.mod, module.path
    samples: list[tuple[int, int, int, int]] = []
    step = max(reloads // 10, 1)
    try:
        for i in range(1, reloads + 1):
            path.write_text(source(i + 1))
            hookreload.reload(mod)
            if i % 10 == 0:
                hookreload.rollback(mod)
            if i % step == 0:
                gc.collect()
                samples.append((i, _rss_kb(), _threads(), _open_files()))
        kept = len(hookreload.versions(mod))
    finally:
        module.close()
    mode = "patch" if patch else "normal"
    (_, rss0, threads0, files0), (_, rss1, threads1, files1) = samples[0], samples[-1]
    print(
        f"| {mode} | {reloads:,} | {rss0 / 1024:.1f} MB | {rss1 / 1024:.1f} MB | "
        f"{(rss1 - rss0) / 1024:+.1f} MB | {threads0} / {threads1} | {files0} / {files1} | "
        f"{kept} |",
        flush=True,
    )
    return rss1 - rss0 <= RSS_SLACK_KB and threads1 == threads0 and files1 == files0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per mode, for the callers")
    parser.add_argument("--reloads", type=int, default=10_000, help="per mode, for the footprint")
    args = parser.parse_args(argv)
    # Failed reloads are expected here; their log lines would only slow the run.
    logging.getLogger("hookreload").setLevel(logging.CRITICAL)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{threading.active_count()} thread(s) at start\n",
        flush=True,
    )
    print("Callers against reloads and rollbacks (3 threads and 4 asyncio tasks):\n")
    print(
        "| mode | time | calls | errors | half-executed | reloads | broken saves refused | rollbacks |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    ok = all([callers(args.seconds, patch) for patch in (False, True)])
    print(
        f"\n{args.reloads:,} reloads in one process (sampled after the first tenth and at the end):\n"
    )
    print(
        "| mode | reloads | RSS after 1/10 | RSS at the end | growth | threads | open files | versions kept |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    ok = all([footprint(args.reloads, patch) for patch in (False, True)]) and ok
    print("\nall checks held" if ok else "\nA CHECK FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
