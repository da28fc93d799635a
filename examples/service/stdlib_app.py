"""The service on the standard library's ``http.server``: no dependency but hookreload.

Run from the repository's root (or wherever ``examples/`` is importable)::

    python -m examples.service.stdlib_app --port 8000

It installs hookreload in its own start-up code, before it imports its
handlers, so no wrapper command is needed (``hookreload -m
examples.service.stdlib_app`` works as well). Each request runs in its own
thread and calls ``handlers.<name>()`` through the module, so a saved edit
to ``handlers.py`` answers the next request, the counter and cache intact.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from examples.service.startup import install_hookreload

import hookreload


class RequestHandler(BaseHTTPRequestHandler):
    # Keep-alive connections, as the Starlette variant serves them; headers and
    # body are two writes, and with Nagle's algorithm on the second one waits
    # ~40 ms for the client to acknowledge the first.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        from examples.service import handlers  # the proxy: imported once, in main()

        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, "text/plain; charset=utf-8", handlers.hello())
        elif path == "/stats":
            self._send(200, "application/json", json.dumps(handlers.stats()))
        elif path == "/whoami":
            self._send(200, "application/json", json.dumps(handlers.whoami()))
        elif path.startswith("/fib/"):
            try:
                body = json.dumps(handlers.fibonacci(int(path[len("/fib/") :])))
            except ValueError as exc:
                self._send(400, "application/json", json.dumps({"error": str(exc)}))
            else:
                self._send(200, "application/json", body)
        else:
            self._send(404, "text/plain; charset=utf-8", "not found\n")

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown hookreload's reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The example service, on http.server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    args = parser.parse_args(argv)
    install_hookreload()
    # After install(): imported now, the handlers are a proxy that reloads on save.
    from examples.service import handlers

    if not hookreload.is_proxy(handlers):
        print("warning: handlers was imported before hookreload.install()", file=sys.stderr)
    server = ThreadingHTTPServer((args.host, args.port), RequestHandler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
