"""A service in 2 worker processes: every worker takes every edit, on its own hook and watcher.

uvicorn serves the example (a copy under ``tmp_path``) with ``--workers 2``.
Its supervisor spawns each worker as a fresh interpreter. In the "start-up"
variant each worker imports ``examples.service.workers``, whose first lines
install hookreload with a watcher: nothing is inherited from a parent, so
this works without any support for child processes in hookreload. In the
"command" variant uvicorn runs under the ``hookreload`` command, which
installs the hook in the child processes (skipped where it does not).
``GET /whoami`` names the worker that answered; every request goes on a new
connection, so the kernel hands them to both workers. Every wait is a
bounded poll and the whole process group is killed at the end.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import pytest
from examples.service.drive import (
    HOST,
    Probe,
    Service,
    copy_example,
    free_port,
    set_message,
    with_message,
)

pytestmark = pytest.mark.skipif(
    not (find_spec("starlette") and find_spec("uvicorn")),
    reason="Starlette and uvicorn are not installed (pip install -e '.[service]')",
)

TIMEOUT = 30.0  # generous: a noisy 2-core machine must never fail this
WORKERS = 2


def live_processes_in_group(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (not zombies, which only wait to be reaped)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to list a process group")
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while listed
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


VARIANTS = {
    # Each worker installs hookreload in its own start-up code (examples/service/workers.py).
    "start-up": ["-m", "uvicorn", "examples.service.workers:app"],
    # The hookreload command installs it in the child processes of the program it runs.
    "command": ["-m", "hookreload", "-m", "uvicorn", "examples.service.app:app"],
}
CHILDREN = find_spec("hookreload._children") is not None


def reports(log: str, what: str) -> list[str]:
    """The pids in the reports of ``what`` (empty strings when the reports carry no pid)."""
    return re.findall(rf"^hookreload(?:\[(\d+)\])?: {what}", log, re.MULTILINE)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_edit_reaches_every_worker_and_a_broken_one_none(tmp_path: Path, variant: str) -> None:
    if variant == "command" and not CHILDREN:
        pytest.skip("the hookreload command does not install itself in child processes here")
    handlers = copy_example(tmp_path)
    port = free_port()
    command = [sys.executable, *VARIANTS[variant]]
    command += ["--workers", str(WORKERS), "--host", HOST, "--port", str(port)]
    command += ["--log-level", "warning"]
    with Service(command, tmp_path, tmp_path / "service.log", timeout=TIMEOUT) as service:
        service.wait_answering(port, "/whoami")
        workers = Probe(port, TIMEOUT)

        def ask_until(done: Callable[[], object], what: str) -> None:
            workers.ask_until(done, what, TIMEOUT, service.output)

        ask_until(lambda: workers.all_say("hello", WORKERS), "both workers to answer")
        pids = set(workers.answers)
        assert service.pid not in pids  # the workers are processes of their own

        set_message(handlers, "edited")
        ask_until(lambda: workers.all_say("edited", WORKERS), "the edit in both workers")

        working = handlers.read_text()
        handlers.write_text(working + "\ndef broken(:\n")
        refused = "cannot reload .*SyntaxError"
        ask_until(
            lambda: len(reports(service.output(), refused)) == WORKERS,
            "both workers to report the broken save",
        )
        asked = {pid: len(a) for pid, a in workers.answers.items()}
        ask_until(
            lambda: all(len(workers.answers[pid]) > asked[pid] + 3 for pid in pids),
            "answers from both workers after the broken save",
        )
        assert workers.all_say("edited", WORKERS)  # each worker kept its working version

        handlers.write_text(with_message(working, "fixed"))  # without the syntax error
        ask_until(lambda: workers.all_say("fixed", WORKERS), "the fix in both workers")
        pgid = service.pid
    # Not one worker outlives the service (a killed process takes a moment to end).
    deadline = time.monotonic() + TIMEOUT
    while live := live_processes_in_group(pgid):
        assert time.monotonic() < deadline, f"processes {live} of the service still run"
        time.sleep(0.01)

    assert workers.failures == []
    assert set(workers.answers) == pids  # no worker was replaced along the way
    for pid, answers in workers.answers.items():
        messages = [a["message"] for a in answers]
        # Each worker went from one version to the next, never back.
        assert messages == sorted(messages, key=["hello", "edited", "fixed"].index), pid
        # Its own counter, kept across its reloads: one more at each of its requests.
        numbers = [a["request"] for a in answers]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), pid
    # Each worker reported its own reloads (with its pid, from its own start-up code).
    log = service.output()
    for what in ["reloaded examples.service.handlers v2", refused, "reloaded .* v3"]:
        reporters = reports(log, what)
        assert len(reporters) == WORKERS, log
        if variant == "start-up":
            assert {int(pid) for pid in reporters} == pids, log
