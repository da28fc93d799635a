"""The service benchmark's parts: servers in their own process groups, clients that keep asking.

A :class:`Server` is a command started in a process group of its own and
always ended with it (the restart-based reloader has a child process that
must not outlive the run). A :class:`Client` is a thread that sends ``GET /``
over and over and records every answer or failure with its times, so that
the moment an edit went live and the requests that failed around it can be
read back afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, BenchError, child_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

EXAMPLE = ROOT / "examples" / "service"
MESSAGE_LINE = re.compile(r"^MESSAGE = .*$", re.MULTILINE)
BODY = re.compile(r"^(?P<message>.*) \(request (?P<number>\d+)\)$")
HOST = "127.0.0.1"


def copy_example(root: Path) -> Path:
    """A copy of ``examples/service`` under ``root`` (importable from it); its ``handlers.py``."""
    target = root / "examples" / "service"
    target.mkdir(parents=True)
    for source in EXAMPLE.glob("*.py"):
        shutil.copy(source, target / source.name)
    return target / "handlers.py"


def set_message(handlers: Path, message: str) -> None:
    """Rewrite ``handlers.py`` in place, as an editor saves it, with a new ``MESSAGE``."""
    text = handlers.read_text(encoding="utf-8")
    text, count = MESSAGE_LINE.subn(f"MESSAGE = {message!r}", text)
    if count != 1:
        raise BenchError(f"{handlers} has no single 'MESSAGE = ...' line to edit")
    handlers.write_text(text, encoding="utf-8")


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``command`` run in ``cwd``, in a process group of its own; its output goes to ``log``."""

    def __init__(self, command: Sequence[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        with open(log, "wb") as out:
            self._proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                env={**child_env(), **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, port: int, timeout: float) -> None:
        """Return once ``GET /`` on ``port`` answers 200; ``BenchError`` when it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BenchError(
                    f"the server exited with {self._proc.returncode}:\n{self.output()}"
                )
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=1)
                try:
                    conn.request("GET", "/stats")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise BenchError(f"the server did not answer within {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """End the whole process group: politely, then not; safe to call twice."""
        if self._proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The leader may be gone while a child of its group lives on.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()


@dataclass
class Answer:
    """One request: when it was sent and done (``perf_counter``), and what came back."""

    start: float
    end: float
    ok: bool
    detail: str  # the body, or what failed
    message: str | None = None
    number: int | None = None


class Client(threading.Thread):
    """Sends ``GET /`` to ``port`` until stopped, ``pause`` seconds apart.

    With ``keep_alive`` one connection is used for request after request, as
    browsers, proxies and most HTTP clients do, and opened again after a
    failure; otherwise each request opens a connection of its own. A failure
    is a connection error, a timeout or a 5xx status.
    """

    def __init__(self, port: int, keep_alive: bool, pause: float, timeout: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.keep_alive = keep_alive
        self.pause = pause
        self.timeout = timeout
        self.answers: list[Answer] = []
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(self.timeout + 5)

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stopping.is_set():
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode("utf-8", "replace").strip()
                answer = Answer(start, time.perf_counter(), response.status < 500, body)
                if response.status >= 500:
                    answer.detail = f"HTTP {response.status}"
                if not self.keep_alive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                answer = Answer(start, time.perf_counter(), False, type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            match = BODY.match(answer.detail) if answer.ok else None
            if match is not None:
                answer.message = match["message"]
                answer.number = int(match["number"])
            self.answers.append(answer)
            self._stopping.wait(self.pause)
        if conn is not None:
            conn.close()
