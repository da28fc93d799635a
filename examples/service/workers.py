"""The Starlette service in several worker processes, each reloading its own handlers.

Run from the repository's root (or wherever ``examples/`` is importable)::

    uvicorn examples.service.workers:app --workers 2 --port 8000

uvicorn's supervisor starts each worker as a fresh interpreter (the
``spawn`` start method), and each worker imports this module to find
``app``. So the lines below run once in every worker: each installs its own
hook and starts its own watcher before it imports the handlers, and a saved
edit to ``handlers.py`` is reloaded by every worker on its own, within
milliseconds of each other. The supervisor itself never imports this module
and needs no hook. ``GET /whoami`` says which worker answered (its pid),
with which ``MESSAGE``.

Each worker has its own memory, hence its own counter and cache, kept
across that worker's reloads; state shared by the workers belongs in a
database or a cache server.
"""

from __future__ import annotations

from examples.service.startup import install_hookreload

# Before the handlers are imported, in every worker; pid in each report: which worker reloaded.
install_hookreload(log_format="%(name)s[%(process)d]: %(message)s")

from examples.service.app import app  # noqa: E402  (after the hook, on purpose)

__all__ = ["app"]
