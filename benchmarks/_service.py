"""The service benchmark's parts: ``examples/service/drive.py``'s, fitted to the suite.

drive.py's :class:`~examples.service.drive.Service` starts a server in a process
group of its own and always ends the whole group (the restart-based reloader
has a child process that must not outlive the run), and its
:class:`~examples.service.drive.Client` is a thread that sends ``GET /`` over
and over and records every answer or failure with its times (``perf_counter``,
as :func:`cases._edit_service` reads them), so that the moment an edit went
live and the requests that failed around it can be read back afterwards. Here
they differ only where the benchmark does: its children get the suite's
environment, a failure is what the case's method says it is, and what cannot
be measured raises ``BenchError``, which ``run.py`` reports as the case's error.
"""

from __future__ import annotations

import sys

from _common import ROOT, BenchError, child_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    import http.client
    from collections.abc import Sequence
    from pathlib import Path

# ``examples`` is a folder of the checkout, not an installed package; last on the
# path, so that it shadows nothing.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from examples.service import drive  # noqa: E402
from examples.service.drive import HOST, Answer, copy_example, free_port  # noqa: E402

__all__ = ["HOST", "Client", "Server", "copy_example", "free_port", "set_message"]


def set_message(handlers: Path, message: str) -> None:
    """Rewrite ``handlers.py`` in place, as an editor saves it, with a new ``MESSAGE``."""
    try:
        drive.set_message(handlers, message)
    except ValueError as exc:
        raise BenchError(f"{handlers}: {exc}") from exc


class Server(drive.Service):
    """``command`` run in ``cwd``, in a process group of its own; its output goes to ``log``.

    Its environment is the suite's (:func:`_common.child_env`: hookreload from
    this checkout, nothing that skews timing) with ``env`` added.
    """

    def __init__(self, command: Sequence[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
        super().__init__(command, cwd, log, env, base=child_env())

    def wait_ready(self, port: int, timeout: float) -> None:
        """Return once ``GET /stats`` on ``port`` answers 200; ``BenchError`` when it never does."""
        try:
            self.wait_answering(port, timeout=timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise BenchError(str(exc)) from exc


class Client(drive.Client):
    """Sends ``GET /`` to ``port`` until stopped, ``pause`` seconds apart.

    With ``keep_alive`` one connection is used for request after request, as
    browsers, proxies and most HTTP clients do, and opened again after a
    failure; otherwise each request opens a connection of its own. A failure
    is a connection error, a timeout or a 5xx status, named by its type.
    """

    def __init__(self, port: int, keep_alive: bool, pause: float, timeout: float) -> None:
        # No bound of its own: the case stops every client, whatever happens.
        super().__init__(port, pause, timeout, max_requests=sys.maxsize, keep_alive=keep_alive)

    def judge(self, start: float, end: float, status: int, body: str) -> Answer:
        """Every status below 500 is an answer, whatever its body says."""
        if status >= 500:
            return Answer(start, end, False, f"HTTP {status}")
        answer = super().judge(start, end, status, body)
        answer.ok, answer.detail = True, body
        return answer

    def describe(self, exc: OSError | http.client.HTTPException) -> str:
        return type(exc).__name__
