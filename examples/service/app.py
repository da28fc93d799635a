"""The service on Starlette, served by uvicorn: ``hookreload -m examples.service.app``.

Run from the repository's root (or wherever ``examples/`` is importable)::

    hookreload -m examples.service.app --port 8000

The ``hookreload`` command installs the hook and its watcher before this
module runs, so ``handlers`` is imported as a proxy: save an edit to
``handlers.py`` and the next request runs it, the counter and the cache
intact. Every endpoint looks its handler up in ``handlers`` on each request
(``handlers.hello()``), never keeping the function itself, which would stay
the old version. ``app`` is also what ``uvicorn examples.service.app:app``
serves, with or without ``--reload``.
"""

from __future__ import annotations

import argparse
import socket
import sys

from examples.service import handlers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    return PlainTextResponse(handlers.hello())


async def fibonacci(request: Request) -> Response:
    try:
        return JSONResponse(handlers.fibonacci(int(request.path_params["n"])))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


async def whoami(request: Request) -> Response:
    return JSONResponse(handlers.whoami())


async def stats(request: Request) -> Response:
    return JSONResponse(handlers.stats())


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/fib/{n}", fibonacci),
        Route("/stats", stats),
        Route("/whoami", whoami),
    ]
)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, made here rather than by uvicorn so that with port 0 the port is known.

    Made with ``IPPROTO_TCP`` spelled out: asyncio turns Nagle's algorithm off
    (``TCP_NODELAY``) only on connections of such a socket, and with it on
    every response on a kept-alive connection waits ~40 ms for an ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening from now on: a request sent before uvicorn's loop runs waits, it is not refused.
    sock.listen(2048)
    return sock


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="The example service, on Starlette and uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    args = parser.parse_args(argv)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"serving on http://{host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
