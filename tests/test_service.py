"""examples/service/, end to end: a handler edited while a client keeps asking.

The service runs in a subprocess on loopback, from a copy of the example
under ``tmp_path`` (the edits never touch the repository), in a process
group of its own that is always killed. A client thread keeps sending
``GET /`` on one kept-alive connection in a bounded loop; every wait is a
bounded poll. Not one request may fail, and the request counter must go on
across the edits. The http.server variant needs nothing but hookreload and
always runs; the Starlette one is skipped without Starlette and uvicorn.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "service"
TIMEOUT = 30.0  # generous: a noisy 2-core machine must never fail these
MAX_REQUESTS = 50_000  # the client's loop ends by itself whatever happens
BODY = re.compile(r"^(?P<message>.*) \(request (?P<number>\d+)\)$")

STARLETTE = importlib.util.find_spec("starlette") and importlib.util.find_spec("uvicorn")
VARIANTS = {
    # Installs hookreload in its own start-up code.
    "http.server": [sys.executable, "-m", "examples.service.stdlib_app", "--port", "0"],
    # Run by the hookreload command.
    "starlette": [
        sys.executable,
        "-m",
        "hookreload",
        "-m",
        "examples.service.app",
        "--port",
        "0",
    ],
}


def wait_until(predicate: Callable[[], object], what: str, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            output = log.read_text(errors="replace") if log.exists() else ""
            raise AssertionError(f"timed out after {TIMEOUT} s waiting for {what}:\n{output}")
        time.sleep(0.005)


@dataclass
class Client:
    """Sends ``GET /`` on one kept-alive connection until stopped, or ``MAX_REQUESTS``."""

    port: int
    bodies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            for _ in range(MAX_REQUESTS):
                if self.stopping.is_set():
                    return
                try:
                    conn.request("GET", "/")
                    response = conn.getresponse()
                    body = response.read().decode()
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(repr(exc))
                    conn.close()  # the next request opens a new connection
                    continue
                if response.status != 200:
                    self.failures.append(f"HTTP {response.status}: {body}")
                self.bodies.append(body.strip())
                time.sleep(0.001)
        finally:
            conn.close()

    def messages(self) -> list[tuple[str, int]]:
        return [(m["message"], int(m["number"])) for b in self.bodies if (m := BODY.match(b))]

    def has(self, message: str) -> bool:
        return any(m == message for m, _ in self.messages())


@pytest.fixture(params=list(VARIANTS))
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """The service started from a copy of the example: its port, handlers file and log."""
    if request.param == "starlette" and not STARLETTE:
        pytest.skip("Starlette and uvicorn are not installed (pip install -e '.[service]')")
    copy = tmp_path / "examples" / "service"
    copy.mkdir(parents=True)
    for source in EXAMPLE.glob("*.py"):
        shutil.copy(source, copy / source.name)
    log = tmp_path / "service.log"
    env = {k: v for k, v in os.environ.items() if k != "HOOKRELOAD_POLL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            VARIANTS[request.param],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        found: list[int] = []

        def port() -> bool:
            assert proc.poll() is None, f"the service exited:\n{log.read_text()}"
            match = re.search(r"serving on http://[^:]+:(\d+)", log.read_text(errors="replace"))
            if match:
                found.append(int(match[1]))
            return bool(match)

        wait_until(port, "the service to say where it serves", log)
        yield found[0], copy / "handlers.py", log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)


def with_message(text: str, message: str) -> str:
    return re.sub(r"^MESSAGE = .*$", f"MESSAGE = {message!r}", text, flags=re.M)


def set_message(handlers: Path, message: str) -> None:
    handlers.write_text(with_message(handlers.read_text(), message))


def get_json(port: int, path: str) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200
        result: dict[str, int] = json.loads(response.read())
        return result
    finally:
        conn.close()


def test_edits_go_live_under_load_with_no_failed_request_and_the_state_kept(
    service: tuple[int, Path, Path],
) -> None:
    port, handlers, log = service
    assert get_json(port, "/fib/90") == {"n": 90, "value": 2880067194370816120}
    client = Client(port)
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: client.has("hello"), "a first answer", log)
        set_message(handlers, "edited")
        wait_until(lambda: client.has("edited"), "the edit to be served", log)
        # A broken save: the service answers on, with the version before it.
        handlers.write_text(handlers.read_text() + "\ndef broken(:\n")
        wait_until(lambda: "SyntaxError" in log.read_text(errors="replace"), "the error", log)
        served = len(client.bodies)
        wait_until(lambda: len(client.bodies) > served + 10, "answers after the error", log)
        # The fix, in one save.
        fixed = with_message(handlers.read_text().replace("\ndef broken(:\n", ""), "fixed")
        handlers.write_text(fixed)
        wait_until(lambda: client.has("fixed"), "the fix to be served", log)
    finally:
        client.stopping.set()
        thread.join(TIMEOUT)
    assert client.failures == []
    messages = client.messages()
    assert len(messages) == len(client.bodies)  # every answer was the handler's
    assert [m for m, _ in messages] == sorted(
        (m for m, _ in messages), key=["hello", "edited", "fixed"].index
    )
    # One count per request, never reset: request 1 was the /fib one.
    numbers = [n for _, n in messages]
    assert numbers == list(range(2, 2 + len(numbers)))
    assert get_json(port, "/stats") | {"uptime_s": 0} == {
        "requests": numbers[-1],
        "cached": 1,
        "uptime_s": 0,
    }
