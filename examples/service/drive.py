"""Drive a copy of the service from outside: start it, keep asking it, edit it, stop it.

The demo (``demo.py``) and the tests use these parts. Everything is
bounded: a :class:`Service` runs in a process group of its own that
:meth:`Service.stop` always ends (a uvicorn supervisor's workers with it),
every wait has a deadline, every request a timeout, and a :class:`Client`
stops by itself after ``max_requests``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
EXAMPLE = Path(__file__).resolve().parent
# ``GET /`` answers "<MESSAGE> (request <number>)".
BODY = re.compile(r"^(?P<message>.*) \(request (?P<number>\d+)\)$")
MESSAGE_LINE = re.compile(r"^MESSAGE = .*$", re.MULTILINE)
SERVING = re.compile(r"serving on http://[^\s:]+:(\d+)")


def copy_example(root: Path) -> Path:
    """A copy of this package under ``root`` (importable from it, as ``examples.service``).

    Returns the copy's ``handlers.py``: the file to edit, so that the
    repository's own files are never touched.
    """
    target = root / "examples" / "service"
    target.mkdir(parents=True)
    for source in EXAMPLE.glob("*.py"):
        shutil.copy(source, target / source.name)
    return target / "handlers.py"


def with_message(text: str, message: str) -> str:
    """``text`` (a ``handlers.py``) with ``MESSAGE = <message>``."""
    new, count = MESSAGE_LINE.subn(f"MESSAGE = {message!r}", text)
    if count != 1:
        raise ValueError("handlers.py must have exactly one 'MESSAGE = ...' line to edit")
    return new


def set_message(handlers: Path, message: str) -> None:
    """Save ``handlers`` with a new ``MESSAGE``, in place, as an editor does."""
    handlers.write_text(with_message(handlers.read_text(encoding="utf-8"), message), "utf-8")


def free_port() -> int:
    """A port nothing listens on now, for servers that cannot be told to take any (port 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], object], what: str, timeout: float, output: Callable[[], str]
) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` with ``output()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}; the service said:\n{output()}")
        time.sleep(0.005)


def get(port: int, path: str, timeout: float) -> tuple[int, str]:
    """``GET path`` on a connection of its own: the status and the body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def get_json(port: int, path: str, timeout: float) -> dict[str, object]:
    """``GET path``, which must answer 200 with a JSON object."""
    status, body = get(port, path, timeout)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body}")
    result: dict[str, object] = json.loads(body)
    return result


class Service:
    """``command`` run in ``cwd`` in a process group of its own; its output goes to ``log``.

    A context manager: leaving it stops the whole group, whatever happened.
    """

    def __init__(
        self,
        command: Sequence[str],
        cwd: Path,
        log: Path,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
        *,
        base: Mapping[str, str] | None = None,
    ) -> None:
        """``env`` is added to ``base``, the environment to start from (this process's)."""
        self.log = log
        self.timeout = timeout
        # File events, as a user's machine has them, whatever the caller's environment says.
        inherited = {
            k: v
            for k, v in (os.environ if base is None else base).items()
            if k != "HOOKRELOAD_POLL"
        }
        with open(log, "wb") as out:
            self._proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                env={**inherited, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_for(self, pattern: re.Pattern[str], what: str, *, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the output from offset ``start``, once it is there."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the service exited with {self._proc.returncode}:\n{self.output()}"
                )
            match = pattern.search(self.output(), start)
            if match:
                found.append(match)
            return match is not None

        wait_until(seen, what, self.timeout, self.output)
        return found[0]

    def port(self) -> int:
        """The port it serves on, from its "serving on http://host:port" line."""
        return int(self.wait_for(SERVING, "the service to say where it serves")[1])

    def wait_answering(self, port: int, path: str = "/stats", timeout: float | None = None) -> None:
        """Return once ``GET path`` answers 200 (for servers that print no address).

        Waits ``timeout`` seconds at most, the service's own timeout by default.
        """

        def answers() -> bool:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the service exited with {self._proc.returncode}:\n{self.output()}"
                )
            try:
                return get(port, path, 1.0)[0] == 200
            except (OSError, http.client.HTTPException):
                return False

        limit = self.timeout if timeout is None else timeout
        wait_until(answers, f"GET {path} to answer", limit, self.output)

    def stop(self) -> None:
        """End the whole process group: politely, then not. Safe to call twice."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        # The leader may be gone while a worker of its group lives on.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(5)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class Answer:
    """One ``GET /``: when it was sent and done (``time.perf_counter()``), and what came back.

    ``perf_counter`` is monotonic, as the demo's "ms after the save" needs, and of the
    finest resolution, as the benchmark's edit-to-live in hundredths of a millisecond
    needs; on Linux and macOS it is the same clock as ``time.monotonic()``.
    """

    start: float
    end: float
    ok: bool
    detail: str  # the body, or what failed
    message: str | None = None
    number: int | None = None


class Client(threading.Thread):
    """Sends ``GET /`` to ``port`` on one kept-alive connection until stopped.

    A failure (a connection error, a timeout, a status other than 200, a
    body that is not the handler's) is recorded like an answer and the next
    request opens a new connection. The loop ends by itself after
    ``max_requests``, whatever happens. Without ``keep_alive`` every request
    opens a connection of its own. A subclass may judge answers otherwise
    (:meth:`judge`) and name failures otherwise (:meth:`describe`).
    """

    def __init__(
        self,
        port: int,
        pause: float = 0.002,
        timeout: float = 10.0,
        max_requests: int = 50_000,
        *,
        keep_alive: bool = True,
    ) -> None:
        super().__init__(name="client", daemon=True)
        self.port = port
        self.pause = pause
        self.timeout = timeout
        self.max_requests = max_requests
        self.keep_alive = keep_alive
        self.answers: list[Answer] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        for _ in range(self.max_requests):
            if self._stopping.is_set():
                break
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode("utf-8", "replace").strip()
                answer = self.judge(start, time.perf_counter(), response.status, body)
                if not self.keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                answer = Answer(start, time.perf_counter(), False, self.describe(exc))
                if conn is not None:
                    conn.close()
                conn = None
            self.answers.append(answer)
            self._stopping.wait(self.pause)
        if conn is not None:
            conn.close()

    def judge(self, start: float, end: float, status: int, body: str) -> Answer:
        """The answer ``status`` and ``body`` make: ok with 200 and the handler's body only."""
        match = BODY.match(body)
        answer = Answer(start, end, status == 200 and match is not None, body or f"HTTP {status}")
        if match is not None:
            answer.message, answer.number = match["message"], int(match["number"])
        return answer

    def describe(self, exc: OSError | http.client.HTTPException) -> str:
        """What a request that raised ``exc`` failed with, as its answer's ``detail``."""
        return repr(exc)

    def stop(self) -> None:
        self._stopping.set()
        self.join(self.timeout + 5)

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if not a.ok]

    def first(self, message: str) -> Answer | None:
        """The first answer with ``message``, if one came yet."""
        return next((a for a in list(self.answers) if a.message == message), None)

    def numbers(self) -> list[int]:
        return [a.number for a in self.answers if a.number is not None]


class Probe:
    """Asks ``GET /whoami`` of a service with several workers, and keeps the answers by worker.

    Each request goes on a new connection, which the kernel hands to any of
    the workers, so that every worker gets some. A failure is kept in
    ``failures``, never raised.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.answers: dict[int, list[dict[str, object]]] = {}
        self.failures: list[str] = []

    def ask(self) -> None:
        try:
            status, body = get(self.port, "/whoami", self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            self.failures.append(repr(exc))
            return
        if status != 200:
            self.failures.append(f"HTTP {status}: {body}")
            return
        answer = json.loads(body)
        self.answers.setdefault(answer["pid"], []).append(answer)

    def ask_until(
        self, done: Callable[[], object], what: str, timeout: float, output: Callable[[], str]
    ) -> None:
        """Ask again and again until ``done()``; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"waited {timeout:g} s for {what}; answers by worker {self.answers}, "
                    f"failures {self.failures}; the service said:\n{output()}"
                )
            self.ask()

    def all_say(self, message: str, workers: int) -> bool:
        """``workers`` workers answered, the last answer of each with ``message``."""
        return len(self.answers) == workers and all(
            a[-1]["message"] == message for a in self.answers.values()
        )

    def sent(self) -> int:
        return sum(map(len, self.answers.values())) + len(self.failures)
