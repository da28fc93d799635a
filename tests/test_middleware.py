"""ASGIHoldMiddleware and WSGIHoldMiddleware hold each request to its response's end.

The ASGI tests call a real Starlette application the way a server does
(``scope``, ``receive``, ``send``), skipped without Starlette; the WSGI ones
serve a real application with ``wsgiref`` on loopback. Every thread is
joined with a time-out, every server shut down, and waits are bounded polls.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import logging
import threading
import wsgiref.simple_server
from collections.abc import Callable, Iterable, Iterator
from importlib.util import find_spec
from typing import Any

import pytest

import hookreload
from hookreload import _hold
from hookreload._hold import swapping
from tests.test_hold import TIMEOUT, Worker, until

STARLETTE = find_spec("starlette") is not None
needs_starlette = pytest.mark.skipif(
    not STARLETTE, reason="Starlette is not installed (pip install -e '.[service]')"
)


@pytest.fixture(autouse=True)
def gate_left_open() -> Iterator[None]:
    yield
    assert _hold._open_holds() == 0
    assert _hold._gate == _hold._OPEN


def swap_in_thread(events: list[str]) -> Worker:
    def run() -> None:
        with swapping(["app.handlers"]):
            events.append("swap")

    worker = Worker(run)
    until(lambda: _hold._gate == _hold._DRAINING or events, "the swap waits")
    return worker


# -- ASGI ---------------------------------------------------------------------------


def scope(path: str, kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("test", 1234),
    }


async def call(app: Any, path: str, sent: list[dict[str, Any]] | None = None) -> bytes:
    """Run one GET request through ``app``; the response body."""
    messages = sent if sent is not None else []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope(path), receive, send)
    assert messages[0]["status"] == 200
    return b"".join(m.get("body", b"") for m in messages[1:])


def starlette_app(**endpoints: Callable[..., Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    routes = [Route(f"/{name}", endpoint) for name, endpoint in endpoints.items()]
    return Starlette(routes=routes, middleware=[Middleware(hookreload.ASGIHoldMiddleware)])


@needs_starlette
def test_asgi_holds_until_the_streamed_response_ends() -> None:
    from starlette.responses import PlainTextResponse, StreamingResponse

    events: list[str] = []

    async def main() -> None:
        more = asyncio.Event()

        async def chunks() -> Any:
            yield b"first "
            await more.wait()
            yield b"last"
            events.append("stream ends")

        async def stream(request: Any) -> StreamingResponse:
            return StreamingResponse(chunks())

        async def plain(request: Any) -> PlainTextResponse:
            events.append("plain")
            return PlainTextResponse("plain")

        app = starlette_app(stream=stream, plain=plain)
        sent: list[dict[str, Any]] = []
        streaming = asyncio.create_task(call(app, "/stream", sent))
        while not any(m.get("body") == b"first " for m in sent):
            await asyncio.sleep(0.001)
        swap = await asyncio.to_thread(swap_in_thread, events)
        late = asyncio.create_task(call(app, "/plain"))
        while not _hold._async_waiters:  # the late request waits, the loop runs on
            await asyncio.sleep(0.001)
        assert events == []
        more.set()
        assert await asyncio.wait_for(streaming, TIMEOUT) == b"first last"
        assert await asyncio.wait_for(late, TIMEOUT) == b"plain"
        await asyncio.to_thread(swap.join)

    asyncio.run(main())
    assert events == ["stream ends", "swap", "plain"]


@needs_starlette
def test_asgi_sync_endpoints_count_as_inside_the_request_hold() -> None:
    """Starlette runs them in a worker thread; they see the request's hold."""
    from starlette.responses import PlainTextResponse

    def nested(request: Any) -> PlainTextResponse:
        until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
        with hookreload.hold():  # passes: the swap waits for this very request
            return PlainTextResponse("nested")

    def reload_here(request: Any) -> PlainTextResponse:
        with pytest.raises(hookreload.ReloadError, match="inside hookreload.hold"):
            swapping(["app.handlers"]).__enter__()
        return PlainTextResponse("refused")

    async def main() -> None:
        app = starlette_app(nested=nested, reload_here=reload_here)
        assert await call(app, "/reload_here") == b"refused"
        request = asyncio.create_task(call(app, "/nested"))
        while not _hold._open_holds():
            await asyncio.sleep(0.001)
        events: list[str] = []
        swap = await asyncio.to_thread(swap_in_thread, events)
        assert await asyncio.wait_for(request, TIMEOUT) == b"nested"
        await asyncio.to_thread(swap.join)
        assert events == ["swap"]

    asyncio.run(main())


def test_asgi_holds_only_the_scopes_asked_for() -> None:
    seen: dict[str, bool] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen[scope["type"]] = bool(_hold._open_holds())

    async def nothing() -> dict[str, Any]:
        raise AssertionError("not called")

    async def ignore(message: Any) -> None:
        pass

    async def main() -> None:
        default = hookreload.ASGIHoldMiddleware(app)
        for kind in ("http", "websocket", "lifespan"):
            await default(scope("/", kind), nothing, ignore)
        assert seen == {"http": True, "websocket": False, "lifespan": False}
        both = hookreload.ASGIHoldMiddleware(app, scopes=["http", "websocket"])
        await both(scope("/", "websocket"), nothing, ignore)
        assert seen["websocket"] is True

    asyncio.run(main())
    assert repr(hookreload.ASGIHoldMiddleware(app)).startswith("<hookreload.ASGIHoldMiddleware of")


# -- WSGI ---------------------------------------------------------------------------


class Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Served:
    """A WSGI application served by wsgiref on loopback in a thread, while in ``with``."""

    def __init__(self, app: Any) -> None:
        self.server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, hookreload.WSGIHoldMiddleware(app), handler_class=Quiet
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(TIMEOUT)
        self.server.server_close()
        assert not self.thread.is_alive()

    def get(self, path: str) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 200
            return response.read()
        finally:
            connection.close()


def test_wsgi_holds_until_the_server_closes_the_response() -> None:
    events: list[str] = []
    more = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/plain":
            events.append("plain")
            return [b"plain"]
        return chunks()

    def chunks() -> Iterator[bytes]:
        try:
            yield b"first "
            assert more.wait(TIMEOUT)
            yield b"last"
        finally:
            events.append("closed")

    with Served(app) as served:
        streaming = Worker(lambda: served.get("/stream"))
        until(lambda: _hold._open_holds(), "the request holds")
        swap = swap_in_thread(events)
        late = Worker(lambda: served.get("/plain"))  # wsgiref serves it after the first
        more.set()
        assert streaming.join() == b"first last"
        assert late.join() == b"plain"
        swap.join()
    assert events == ["closed", "swap", "plain"]


def test_wsgi_a_response_closed_in_another_thread_closes_its_hold() -> None:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        yield b"x"

    response = hookreload.WSGIHoldMiddleware(app)({}, lambda *a: None)
    assert list(response) == [b"x"]
    assert _hold._open_holds() == 1
    closer = Worker(response.close)  # type: ignore[attr-defined]
    closer.join()
    assert _hold._open_holds() == 0
    response.close()  # type: ignore[attr-defined]  # again: nothing left to close


def test_wsgi_an_application_that_raises_closes_its_hold() -> None:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        raise LookupError("no route")

    with pytest.raises(LookupError):
        hookreload.WSGIHoldMiddleware(app)({}, lambda *a: None)
    assert _hold._open_holds() == 0


def test_wsgi_inside_the_application_holds_nest_and_reloads_are_refused() -> None:
    events: list[str] = []

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        with pytest.raises(hookreload.ReloadError, match="inside hookreload.hold"):
            swapping(["app.handlers"]).__enter__()
        return body()

    def body() -> Iterator[bytes]:
        until(lambda: _hold._gate == _hold._DRAINING, "the swap waits")
        with hookreload.hold():  # passes: the swap waits for this very response
            yield b"nested"

    response = hookreload.WSGIHoldMiddleware(app)({}, lambda *a: None)
    swap = swap_in_thread(events)
    assert list(response) == [b"nested"]
    assert events == []
    response.close()  # type: ignore[attr-defined]
    swap.join()
    assert events == ["swap"]


def test_wsgi_a_response_dropped_without_close_closes_its_hold_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        return [b"x"]

    middleware = hookreload.WSGIHoldMiddleware(app)
    assert repr(middleware).startswith("<hookreload.WSGIHoldMiddleware of")
    with caplog.at_level(logging.WARNING, logger="hookreload"):
        response = middleware({}, lambda *a: None)
        assert _hold._open_holds()
        del response
        gc.collect()
    assert _hold._open_holds() == 0
    assert "without close()" in caplog.text
