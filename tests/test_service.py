"""examples/service/, end to end: a handler edited while a client keeps asking.

The service runs in a subprocess on loopback, from a copy of the example
under ``tmp_path`` (the edits never touch the repository), in a process
group of its own that is always killed (``examples.service.drive``). A
client thread keeps sending ``GET /`` on one kept-alive connection in a
bounded loop; every wait is a bounded poll. Not one request may fail, and
the request counter must go on across the edits. The http.server variant
needs nothing but hookreload and always runs; the Starlette one is skipped
without Starlette and uvicorn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest
from examples.service.drive import Client, Service, copy_example, get_json, wait_until, with_message

TIMEOUT = 30.0  # generous: a noisy 2-core machine must never fail these

STARLETTE = bool(find_spec("starlette") and find_spec("uvicorn"))
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


@pytest.fixture(params=list(VARIANTS))
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    """The service started from a copy of the example, and the copy's handlers file."""
    if request.param == "starlette" and not STARLETTE:
        pytest.skip("Starlette and uvicorn are not installed (pip install -e '.[service]')")
    handlers = copy_example(tmp_path)
    command = VARIANTS[request.param]
    with Service(command, tmp_path, tmp_path / "service.log", timeout=TIMEOUT) as running:
        yield running, handlers


def test_edits_go_live_under_load_with_no_failed_request_and_the_state_kept(
    service: tuple[Service, Path],
) -> None:
    running, handlers = service
    port = running.port()
    assert get_json(port, "/fib/90", TIMEOUT) == {"n": 90, "value": 2880067194370816120}
    client = Client(port, timeout=TIMEOUT)
    client.start()

    def wait(predicate: Callable[[], object], what: str) -> None:
        wait_until(predicate, what, TIMEOUT, running.output)

    try:
        wait(lambda: client.first("hello"), "a first answer")
        original = handlers.read_text()
        handlers.write_text(with_message(original, "edited"))
        wait(lambda: client.first("edited"), "the edit to be served")
        # A broken save: the service answers on, with the version before it.
        handlers.write_text(with_message(original, "broken") + "\ndef broken(:\n")
        wait(lambda: "SyntaxError" in running.output(), "the error")
        served = len(client.answers)
        wait(lambda: len(client.answers) > served + 10, "answers after the error")
        # The fix, in one save.
        handlers.write_text(with_message(original, "fixed"))
        wait(lambda: client.first("fixed"), "the fix to be served")
    finally:
        client.stop()
    assert client.failures() == []
    messages = [a.message for a in client.answers]
    assert messages == sorted(messages, key=["hello", "edited", "fixed"].index)
    # One count per request, never reset: request 1 was the /fib one.
    numbers = client.numbers()
    assert numbers == list(range(2, 2 + len(client.answers)))
    assert get_json(port, "/stats", TIMEOUT) | {"uptime_s": 0} == {
        "requests": numbers[-1],
        "cached": 1,
        "uptime_s": 0,
    }
