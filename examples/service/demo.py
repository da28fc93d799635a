"""The service edited under load, end to end: what ``make demo`` shows.

Run it from the repository's root (``make demo`` does)::

    python -m examples.service.demo

It copies ``examples/service`` into a temporary directory and starts the
copy with ``hookreload -m examples.service.app`` on 127.0.0.1 (any free
port); a client thread then sends ``GET /`` over and over. While it does,
the demo saves a new ``handlers.py`` (a new message), then a broken one (a
syntax error), then a fix, and shows what the client got each time: the new
code within milliseconds, the request counter going on, and the previous
version answering while the broken one is reported. At the end it stops
everything, removes the copy, and prints a summary. It exits with 1 if a
single request failed or the counter did not go on. Without Starlette and
uvicorn (``pip install -e '.[service]'``) it serves the ``http.server``
variant instead; ``--stdlib`` asks for that one.

``--workers 2`` shows the same edits reaching a service of 2 worker
processes (``uvicorn examples.service.workers:app --workers 2``), each
with its own hook, watcher and counter; ``GET /whoami`` names the worker
that answered.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from types import FrameType

from examples.service.drive import (
    HOST,
    Answer,
    Client,
    Probe,
    Service,
    copy_example,
    free_port,
    get_json,
    with_message,
)

# Whatever happens, the demo ends within this many seconds (normally it takes a few).
DEADLINE_S = 50
WAIT_S = 15.0  # for one thing to happen: a start, an edit going live, a report
SHOWN_AFTER_ERROR_S = 0.5  # how long to watch the service answer on after the broken save

# The messages of the versions of handlers.py, in order. BROKEN is in the
# save with the syntax error: it must never be served.
FIRST, EDITED, BROKEN, FIXED = "hello", "bonjour", "oops", "hola"
SYNTAX_ERROR = "\n\ndef stats(:  # a typo\n    pass\n"


def step(title: str) -> None:
    print(f"\n{title}", flush=True)


def show(text: str) -> None:
    print(f"  {text}", flush=True)


class Stage:
    """A copy of the service, started: what it printed so far, and its ``handlers.py`` to edit."""

    def __init__(self, root: Path, command: list[str]) -> None:
        self.handlers = copy_example(root)
        self.original = self.handlers.read_text(encoding="utf-8")
        self.started = time.monotonic()
        self.service = Service(command, root, root / "service.log", timeout=WAIT_S)
        self.log_seen = 0  # how much of the service's output was shown already

    def show_service_output(self) -> None:
        output = self.service.output()
        for line in output[self.log_seen :].splitlines():
            show(f"service | {line}")
        self.log_seen = len(output)

    def save(self, message: str, broken: bool = False) -> float:
        """Save handlers.py with ``message`` (and a syntax error): the moment it was saved.

        On the clock of ``Answer`` (``perf_counter``), which it is compared with.
        """
        text = with_message(self.original, message) + (SYNTAX_ERROR if broken else "")
        self.handlers.write_text(text, encoding="utf-8")
        return time.perf_counter()

    def wait_for_reports(self, text: str, count: int = 1) -> None:
        """Until the service printed ``text`` ``count`` times since the last output shown."""
        deadline = time.monotonic() + WAIT_S
        while self.service.output()[self.log_seen :].count(text) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service never reported {text!r}:\n{self.service.output()}")
            time.sleep(0.005)


class Single:
    """One process; a client thread sends ``GET /`` on one kept-alive connection all along."""

    def __init__(self, root: Path, stdlib: bool) -> None:
        if stdlib:
            # It installs hookreload in its own start-up code.
            self.shown = "python -m examples.service.stdlib_app --port 0"
            command = [sys.executable, *self.shown.split()[1:]]
        else:
            self.shown = "hookreload -m examples.service.app --port 0"
            command = [sys.executable, "-m", *self.shown.split()]
        self.stage = Stage(root, command)
        self.client: Client | None = None
        self.live_after: dict[str, float] = {}

    def start(self) -> Client:
        port = self.stage.service.port()
        show(f"$ {self.shown}")
        self.stage.show_service_output()
        show(f"(up and listening {time.monotonic() - self.stage.started:.1f} s after the start)")
        self.client = Client(port)
        self.client.start()
        self.wait_for_message(FIRST)
        return self.client

    def wait_for_message(self, message: str) -> Answer:
        assert self.client is not None
        deadline = time.monotonic() + WAIT_S
        while (answer := self.client.first(message)) is None:
            if time.monotonic() > deadline or not self.client.is_alive():
                raise TimeoutError(
                    f"no answer said {message!r} within {WAIT_S:g} s:\n{self.stage.service.output()}"
                )
            time.sleep(0.002)
        return answer

    def edit(self, message: str) -> None:
        """Save handlers.py with ``message`` and show the moment it came back."""
        assert self.client is not None
        saved = self.stage.save(message)
        new = self.wait_for_message(message)
        before = [a for a in self.client.answers if a.number is not None and a.end < new.end]
        if before:
            show(f"client <- {before[-1].detail}")
        took = new.end - saved
        show(f"client <- {new.detail}   <- the new code, {1000 * took:.0f} ms after the save")
        self.live_after[message] = took
        self.stage.wait_for_reports("reloaded")
        self.stage.show_service_output()
        if before and new.number == (before[-1].number or 0) + 1:
            show("the same counter went on: handlers.py's __reload__(old) handed it over")
        else:
            show("the counter did NOT go on")

    def run(self) -> int:
        stage = self.stage
        with stage.service:
            step("1. Start the service under hookreload; a client sends GET / over and over")
            client = self.start()
            try:
                time.sleep(0.3)
                for answer in client.answers[:3]:
                    show(f"client <- {answer.detail}")
                show(f"... {len(client.answers)} answers so far")

                step(f"2. Rewrite handlers.py while it serves: MESSAGE = {EDITED!r}")
                self.edit(EDITED)

                step(f"3. Save a broken handlers.py: MESSAGE = {BROKEN!r} and a syntax error")
                stage.save(BROKEN, broken=True)
                stage.wait_for_reports("SyntaxError")
                stage.show_service_output()
                served = len(client.answers)
                time.sleep(SHOWN_AFTER_ERROR_S)
                after = client.answers[served:]
                kept = sum(a.message == EDITED for a in after)
                failed = sum(not a.ok for a in after)
                if after:
                    show(f"client <- {after[-1].detail}")
                every = "every one" if after and kept == len(after) else f"{kept}"
                show(
                    f"{len(after)} answers in the {SHOWN_AFTER_ERROR_S:g} s after the error, "
                    f"{every} from the previous version, {failed or 'none'} failed"
                )

                step(f"4. Fix it: MESSAGE = {FIXED!r}, no syntax error")
                self.edit(FIXED)
            finally:
                client.stop()
            stats = get_json(client.port, "/stats", WAIT_S)

            step("5. Stop the client and the service")
            show(f"GET /stats -> {json.dumps(stats)}")
        problems = check(client, stats)
        print("\nSummary")
        show(f"requests sent: {len(client.answers)}, failed: {len(client.failures())}")
        show(
            f"counter: requests numbered 1 to {len(client.numbers())} without a gap, across "
            f"{len(self.live_after)} reloads and a failed one"
            if not problems
            else "counter: see the problems below"
        )
        times = edit_times(self.live_after)
        show(f"edit to live (save to the first answer from the new code): {times}")
        show("the broken save: reported, and the previous version went on answering")
        return report(problems)


def check(client: Client, stats: dict[str, object]) -> list[str]:
    """What went wrong, if anything: failed requests, a lost or skipped count, a wrong version."""
    problems = [f"request failed: {a.detail}" for a in client.failures()]
    numbers = client.numbers()
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("the request counter did not go on one by one from 1: the state was lost")
    messages = [a.message for a in client.answers if a.message is not None]
    order = [FIRST, EDITED, FIXED]
    if BROKEN in messages or messages != sorted(messages, key=order.index):
        problems.append(f"answers came from the wrong versions: {sorted(set(messages))}")
    if stats.get("requests") != len(numbers):
        problems.append(f"GET /stats counted {stats.get('requests')} requests, not {len(numbers)}")
    return problems


class Several:
    """``workers`` processes under uvicorn's supervisor; ``GET /whoami`` on new connections."""

    def __init__(self, root: Path, workers: int) -> None:
        self.workers = workers
        self.port = free_port()
        self.shown = f"uvicorn examples.service.workers:app --workers {workers} --port {self.port}"
        command = [sys.executable, "-m", *self.shown.split(), "--host", HOST]
        self.stage = Stage(root, [*command, "--log-level", "warning"])
        self.probe = Probe(self.port, WAIT_S)
        self.live_after: dict[str, float] = {}  # the last worker's time, for each good save

    def ask_until(self, done: Callable[[], object], what: str) -> None:
        self.probe.ask_until(done, what, WAIT_S, self.stage.service.output)

    def show_last_answers(self) -> None:
        for pid, answers in sorted(self.probe.answers.items()):
            answer = answers[-1]
            show(f"worker {pid} <- {answer['message']} (its request {answer['request']})")

    def edit(self, message: str) -> None:
        """Save handlers.py with ``message``; ask until every worker answers with it."""
        live: dict[int, float] = {}
        saved = self.stage.save(message)

        def everywhere() -> bool:
            for pid, answers in self.probe.answers.items():
                if pid not in live and answers[-1]["message"] == message:
                    live[pid] = time.monotonic() - saved
            return len(live) == self.workers

        self.ask_until(everywhere, f"every worker to answer {message!r}")
        self.stage.wait_for_reports("reloaded", self.workers)
        self.stage.show_service_output()
        for pid, took in sorted(live.items()):
            show(f"worker {pid} answered with the new code {1000 * took:.0f} ms after the save")
        self.show_last_answers()
        self.live_after[message] = max(live.values())

    def run(self) -> int:
        stage, probe = self.stage, self.probe
        with stage.service:
            step(
                f"1. Start {self.workers} worker processes; each installs its own hook and watcher"
            )
            show(f"$ {self.shown}")
            stage.service.wait_answering(self.port, "/whoami")
            self.ask_until(lambda: len(probe.answers) == self.workers, "every worker to answer")
            show(
                f"(every worker answering {time.monotonic() - stage.started:.1f} s after the start)"
            )
            self.show_last_answers()

            step(f"2. Rewrite handlers.py while they serve: MESSAGE = {EDITED!r}")
            self.edit(EDITED)

            step(f"3. Save a broken handlers.py: MESSAGE = {BROKEN!r} and a syntax error")
            stage.save(BROKEN, broken=True)
            stage.wait_for_reports("SyntaxError", self.workers)
            stage.show_service_output()
            asked = {pid: len(answers) for pid, answers in probe.answers.items()}
            self.ask_until(
                lambda: all(len(probe.answers[pid]) > asked[pid] + 3 for pid in asked),
                "every worker to answer after the error",
            )
            self.show_last_answers()

            step(f"4. Fix it: MESSAGE = {FIXED!r}, no syntax error")
            self.edit(FIXED)
            step("5. Stop the service and its workers")
        problems = check_workers(probe, self.workers)
        print("\nSummary")
        show(f"requests sent: {probe.sent()}, failed: {len(probe.failures)}")
        show(
            f"{self.workers} workers, each with its own counter, numbered without a gap across "
            f"{len(self.live_after)} reloads and a failed one"
            if not problems
            else "counters: see the problems below"
        )
        times = edit_times(self.live_after)
        show(f"edit to live in every worker (save to the last worker's first new answer): {times}")
        return report(problems)


def check_workers(probe: Probe, workers: int) -> list[str]:
    """What went wrong, if anything, worker by worker."""
    problems = [f"request failed: {failure}" for failure in probe.failures]
    if len(probe.answers) != workers:
        problems.append(f"{len(probe.answers)} workers answered, not {workers}")
    order = [FIRST, EDITED, FIXED]
    for pid, answers in probe.answers.items():
        numbers = [a["request"] for a in answers]
        if numbers != list(range(int(str(numbers[0])), int(str(numbers[0])) + len(numbers))):
            problems.append(f"the counter of worker {pid} did not go on one by one")
        messages = [str(a["message"]) for a in answers]
        if BROKEN in messages or messages != sorted(messages, key=order.index):
            problems.append(f"worker {pid} answered from the wrong versions: {set(messages)}")
    return problems


def edit_times(live_after: dict[str, float]) -> str:
    """``live_after``'s seconds, in the order of the edits: "12 ms (the rewrite), ..."."""
    return ", ".join(
        f"{1000 * s:.0f} ms ({what})"
        for what, s in zip(["the rewrite", "the fix"], live_after.values(), strict=False)
    )


def report(problems: list[str]) -> int:
    for problem in problems[:10]:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--stdlib", action="store_true", help="serve the http.server variant of the service"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="serve with uvicorn in this many worker processes"
    )
    args = parser.parse_args(argv)
    starlette = bool(find_spec("starlette") and find_spec("uvicorn"))
    if args.workers > 1 and (args.stdlib or not starlette):
        parser.error("--workers needs Starlette and uvicorn (pip install -e '.[service]')")
    stdlib = args.stdlib or not starlette

    def too_long(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the demo took more than {DEADLINE_S} s")

    def stopped(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # A last guard against hanging: the finally blocks stop the service and remove the copy,
    # after a timeout or a kill as after Ctrl-C.
    signal.signal(signal.SIGALRM, too_long)
    signal.signal(signal.SIGTERM, stopped)
    signal.alarm(DEADLINE_S)
    root = Path(tempfile.mkdtemp(prefix="hookreload-service-demo-"))
    print("hookreload demo: a service edited while it serves requests")
    show(f"a copy of examples/service in {root}: the demo edits the copy's handlers.py")
    if stdlib and not args.stdlib:
        show("(Starlette and uvicorn are not installed: serving the http.server variant)")
    try:
        if args.workers > 1:
            return Several(root, args.workers).run()
        return Single(root, stdlib).run()
    except KeyboardInterrupt:
        print("\ninterrupted")
        return 130
    except (TimeoutError, RuntimeError) as exc:
        # Something did not happen in time, or the service died: say what, and what it said.
        print(f"\nPROBLEM: {exc}")
        return 1
    finally:
        signal.alarm(0)
        shutil.rmtree(root, ignore_errors=True)
        show("service stopped, temporary copy removed")


if __name__ == "__main__":
    sys.exit(main())
