"""Run real packages' own test suites with and without hookreload, and compare (make compat).

    python compat/run.py [--only NAME ...]

For each package of ``PACKAGES``: download its source distribution (which
holds its tests) from the package registry into compat/.cache/, run its test
suite twice with pytest, from that source, and compare:

- without hookreload (the baseline);
- with ``hookreload.install(include=[the package])`` done first thing, by the
  plugin compat/hookreload_compat.py, so that every module of the package the
  suite loads is a proxy (checked: the report lists any that is not, and why).
  After the suite, every proxied module is reloaded once.

The outcome of every test must be the same in both runs, every module of the
package must be a proxy, and every reload must succeed. Exits 1 otherwise.
The figures are in docs/robustness.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
TIMEOUT = 900  # seconds per suite run


@dataclass(frozen=True)
class Package:
    dist: str  # the name on the registry
    version: str
    include: tuple[str, ...]  # its import names
    tests: tuple[str, ...]  # test paths, relative to the unpacked source
    source_root: str = "."  # where its import names are, relative to the unpacked source
    deps: tuple[str, ...] = ()  # what its tests need besides pytest and hypothesis
    pytest_args: tuple[str, ...] = ()
    # Modules that cannot execute twice in one process, with or without
    # hookreload (importlib.reload fails the same way), and why.
    not_reloadable: dict[str, str] = field(default_factory=dict)


PACKAGES = [
    Package("more-itertools", "11.2.1", ("more_itertools",), ("tests",)),
    Package(
        "toolz",
        "1.2.0",
        ("toolz", "tlz"),
        ("toolz",),
        not_reloadable={
            "toolz.curried": "its last lines `del exceptions`, a name that only the first "
            "import of the submodule binds",
        },
    ),
    Package("six", "1.17.0", ("six",), ("test_six.py",)),
    Package("idna", "3.20", ("idna",), ("tests",)),
    Package(
        "python-dateutil",
        "4.0.0",
        ("dateutil",),
        ("tests",),
        source_root="src",
        # What its tests import; attrs came with other tools into our own venv.
        deps=("freezegun==1.5.5", "attrs==26.1.0"),
        # Its conftest marks tests with pytest-cov's marker, which is not installed.
        pytest_args=("-W", "ignore::pytest.PytestUnknownMarkWarning"),
    ),
]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True, timeout=TIMEOUT)


def fetch(package: Package) -> Path:
    """The unpacked source distribution of ``package`` (downloaded once, then cached)."""
    downloads = CACHE / "sdists"
    unpacked = CACHE / "src"
    stem = f"{package.dist.replace('-', '_')}-{package.version}"
    target = unpacked / stem
    if target.is_dir():
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    found = list(downloads.glob(f"{stem}.tar.gz")) + list(
        downloads.glob(f"{package.dist}-{package.version}.tar.gz")
    )
    if not found:
        _pip(
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--dest",
            str(downloads),
            f"{package.dist}=={package.version}",
        )
        found = list(downloads.glob(f"*{package.version}.tar.gz"))
        found = [p for p in found if p.name.lower().startswith(stem.lower()[:4])]
    [archive] = found
    unpacked.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.12, and security releases of 3.10 and 3.11
            tar.extractall(unpacked, filter="data")
        else:  # an older 3.10 or 3.11
            tar.extractall(unpacked)
    [made] = [p for p in unpacked.iterdir() if p.name.lower() == stem.lower()]
    return made


def deps_dir(package: Package) -> Path | None:
    if not package.deps:
        return None
    # Named after the pins too: a changed list installs anew.
    target = CACHE / "deps" / "_".join([package.dist, *package.deps])
    if not target.is_dir():
        _pip("install", "--no-deps", "--target", str(target), *package.deps)
    return target


def run_suite(package: Package, source: Path, proxied: bool) -> dict[str, object]:
    report = CACHE / "reports" / f"{package.dist}-{'hookreload' if proxied else 'plain'}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    paths = [str(HERE), str((source / package.source_root).resolve())]
    deps = deps_dir(package)
    if deps is not None:
        paths.append(str(deps))
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        HOOKRELOAD_COMPAT_INCLUDE=",".join(package.include) if proxied else "",
        HOOKRELOAD_COMPAT_REPORT=str(report),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("COVERAGE_PROCESS_START", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "hookreload_compat",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-o",
        "console_output_style=classic",
        *package.pytest_args,
        *package.tests,
    ]
    done = subprocess.run(
        command, cwd=source, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    if not report.exists():
        raise RuntimeError(
            f"{package.dist}: pytest wrote no report (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    result: dict[str, object] = json.loads(report.read_text())
    result["exit"] = done.returncode
    result["tail"] = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    return result


def _counts(outcomes: dict[str, str]) -> str:
    counts = collections.Counter(outcomes.values())
    order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    return ", ".join(f"{counts[k]} {k}" for k in order if counts[k])


def compare(package: Package, plain: dict[str, object], hooked: dict[str, object]) -> list[str]:
    """What differs, in words; empty when the runs agree."""
    problems = []
    before, after = plain["outcomes"], hooked["outcomes"]
    assert isinstance(before, dict) and isinstance(after, dict)
    for nodeid in sorted(set(before) | set(after)):
        if before.get(nodeid) != after.get(nodeid):
            problems.append(f"{nodeid}: {before.get(nodeid)} without, {after.get(nodeid)} with")
    if not before:
        problems.append("no test ran")
    modules = hooked.get("modules", {})
    assert isinstance(modules, dict)
    problems += [f"{name} is not a proxy: {why}" for name, why in modules.items() if why != "proxy"]
    preloaded = hooked.get("preloaded", [])
    assert isinstance(preloaded, list)
    problems += [f"{name} was imported before the plugin ran" for name in preloaded]
    reloads = hooked.get("reloads", {})
    assert isinstance(reloads, dict)
    problems += [
        f"reloading {name} failed: {why}"
        for name, why in reloads.items()
        if why != "ok" and name not in package.not_reloadable
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="registry names of the packages to run")
    args = parser.parse_args(argv)
    packages = [p for p in PACKAGES if not args.only or p.dist in args.only]
    import pytest

    print(f"Python {sys.version.split()[0]}, pytest {pytest.__version__}\n")
    print(
        "| package | tests without hookreload | with hookreload | same outcomes "
        "| modules proxied | reloaded after | time without / with (reloads) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    failed = []
    for package in packages:
        source = fetch(package)
        start = time.monotonic()
        plain = run_suite(package, source, proxied=False)
        middle = time.monotonic()
        hooked = run_suite(package, source, proxied=True)
        end = time.monotonic()
        problems = compare(package, plain, hooked)
        modules = hooked.get("modules", {})
        reloads = hooked.get("reloads", {})
        assert isinstance(modules, dict) and isinstance(reloads, dict)
        proxies = sum(1 for why in modules.values() if why == "proxy")
        reloaded = sum(1 for why in reloads.values() if why == "ok")
        others = hooked.get("others", [])
        assert isinstance(others, list)
        print(
            f"| {package.dist} {package.version} | {_counts(plain['outcomes'])} "  # type: ignore[arg-type]
            f"| {_counts(hooked['outcomes'])} | {'yes' if not problems else 'NO'} "  # type: ignore[arg-type]
            f"| {proxies} of {len(modules)} (+{len(others)} not from source) "
            f"| {reloaded} of {len(reloads)} "
            f"| {middle - start:.1f} s / {end - middle:.1f} s "
            f"({hooked.get('reload_seconds', 0.0):.1f} s) |",
            flush=True,
        )
        if problems:
            failed.append((package, problems))
    for package, problems in failed:
        print(f"\n{package.dist}:")
        for problem in problems[:30]:
            print(f"  {problem}")
    print("\nall suites agree" if not failed else "\nSUITES DIFFER", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
