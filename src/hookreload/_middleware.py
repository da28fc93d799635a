"""ASGI and WSGI middleware that keep each request in a hold (``hookreload.hold()``)."""

from __future__ import annotations

from . import _log
from ._hold import Lease, hold, inside, outside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, MutableMapping
    from typing import Any

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIHoldMiddleware:
    """ASGI middleware: every HTTP request runs in a hold, to its response's last byte.

    No proxied module switches versions between the request's first byte and
    its response's last one: a reload waits for the requests in flight, and
    requests arriving meanwhile wait for the reload (awaiting, so the event
    loop runs on). Only the scope types in ``scopes`` are held: by default
    ``"http"``; a WebSocket or a ``lifespan`` lasts as long as the connection
    or the application, and holding it would hold reloads off as long. To
    keep one WebSocket message on one version, hold in its handler.

    Args:
        app: the ASGI application to wrap.
        scopes: the scope types (``scope["type"]``) to hold.

    Example:
        >>> app = hookreload.ASGIHoldMiddleware(app)  # doctest: +SKIP
        >>> hold = Middleware(hookreload.ASGIHoldMiddleware)  # Starlette  # doctest: +SKIP
        >>> app = Starlette(routes=routes, middleware=[hold])  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, *, scopes: Collection[str] = ("http",)) -> None:
        self.app = app
        self.scopes = frozenset(scopes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in self.scopes:
            await self.app(scope, receive, send)
            return
        async with hold():
            await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"<hookreload.ASGIHoldMiddleware of {self.app!r}>"


class WSGIHoldMiddleware:
    """WSGI middleware: each request runs in a hold until the server closes its response.

    The hold opens when the server calls the application and closes when it
    calls ``close()`` on the response iterable (PEP 3333 servers always do),
    so the whole response, streamed or not, comes from one version of every
    proxied module. The server may close it in another thread than the one
    that called the application.

    Args:
        app: the WSGI application to wrap.

    Example:
        >>> app = hookreload.WSGIHoldMiddleware(app)  # doctest: +SKIP
        >>> wsgiref.simple_server.make_server("", 8000, app).serve_forever()  # doctest: +SKIP
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        lease = Lease()
        lease.open()
        token = inside()
        try:
            result = self.app(environ, start_response)
        except BaseException:
            lease.close()
            raise
        finally:
            outside(token)
        return _HeldResponse(result, lease)

    def __repr__(self) -> str:
        return f"<hookreload.WSGIHoldMiddleware of {self.app!r}>"


class _HeldResponse:
    """A WSGI response iterable whose hold closes with it."""

    __slots__ = ("_iterator", "_lease", "_result")

    def __init__(self, result: Iterable[bytes], lease: Lease) -> None:
        self._result = result
        self._iterator: Iterator[bytes] | None = None
        self._lease = lease

    def __iter__(self) -> _HeldResponse:
        return self

    def __next__(self) -> bytes:
        # The application's code runs here too (a generator's body): inside
        # the hold, so that a hold it opens itself passes a waiting swap.
        token = inside()
        try:
            if self._iterator is None:
                self._iterator = iter(self._result)
            return next(self._iterator)
        finally:
            outside(token)

    def close(self) -> None:
        close: Callable[[], object] | None = getattr(self._result, "close", None)
        try:
            if close is not None:
                token = inside()
                try:
                    close()
                finally:
                    outside(token)
        finally:
            self._lease.close()

    def __del__(self) -> None:
        if self._lease.opened:
            _log.logger().warning(
                "a WSGI response was dropped without close(), against PEP 3333; "
                "its hold closed only now"
            )
            self._lease.close()
