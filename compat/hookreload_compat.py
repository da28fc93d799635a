"""pytest plugin for compat/run.py: install hookreload first thing, record what happened.

Loaded with ``-p hookreload_compat`` (compat/ on ``PYTHONPATH``), so it runs
before the suite's conftest files and before any test module imports the
package. Read from the environment:

- ``HOOKRELOAD_COMPAT_INCLUDE``: comma-separated module names to proxy; empty
  means a run without hookreload (the baseline).
- ``HOOKRELOAD_COMPAT_REPORT``: where to write the JSON report: each test's
  outcome, each loaded module of the package (proxied, or why not), and the
  outcome of reloading every proxied module once after the suite.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import pytest

INCLUDE = [name for name in os.environ.get("HOOKRELOAD_COMPAT_INCLUDE", "").split(",") if name]
# Loaded before the hook: these can never be proxies (the report says so).
PRELOADED = sorted(
    name for name in sys.modules if any(name == p or name.startswith(p + ".") for p in INCLUDE)
)

if INCLUDE:
    import hookreload

    hookreload.install(include=INCLUDE)

_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        # A failure in teardown after a passed call still counts as an error.
        if report.when != "call" and report.outcome == "failed":
            outcome = "error"
        _outcomes.setdefault(report.nodeid, outcome)


def _modules() -> tuple[dict[str, str], list[str]]:
    """The package's modules loaded from its source files (proxy, or why not), and the others.

    The others are not the package's own source: aliases of other modules
    (``six.moves.queue`` is ``queue``) and modules its own importers make
    (toolz's ``tlz``), which have no file to reload from.
    """
    import hookreload

    found = {}
    others = []
    for name, module in list(sys.modules.items()):
        if not any(name == p or name.startswith(p + ".") for p in INCLUDE):
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or ""
        if getattr(spec, "name", None) != name or not origin.endswith(".py"):
            others.append(name)
            continue
        if hookreload.is_proxy(module):
            found[name] = "proxy"
        else:
            try:
                hookreload.current(module)
            except TypeError as exc:
                found[name] = str(exc)
    return found, sorted(others)


def _reload_all(modules: dict[str, str]) -> dict[str, str]:
    """Reload every proxied module once: each must execute again as a new version."""
    import hookreload

    results = {}
    for name in [n for n, state in modules.items() if state == "proxy"]:
        # The suite's warning filters (often "error") are not the reload's business.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                hookreload.reload(name)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"{type(exc).__name__}: {exc}"
    return results


def pytest_sessionfinish(session: pytest.Session) -> None:
    report = {"include": INCLUDE, "preloaded": PRELOADED, "outcomes": _outcomes}
    if INCLUDE:
        modules, others = _modules()
        report["modules"] = modules
        report["others"] = others
        start = time.perf_counter()
        report["reloads"] = _reload_all(modules)
        report["reload_seconds"] = time.perf_counter() - start
    path = os.environ.get("HOOKRELOAD_COMPAT_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
