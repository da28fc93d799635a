"""The command's report: hookreload's log records on stderr, one line each.

Its own module, so that a child process the command started (which reports
the same way) does not import the command-line parser to get it.
"""

from __future__ import annotations

import logging
import os
import sys


class _Formatter(logging.Formatter):
    """One line per record: ``hookreload: reloaded app.handlers v3 in 4.1 ms``."""

    def __init__(self, colour: bool) -> None:
        super().__init__("hookreload: %(message)s")
        self.colour = colour
        self._colours = {logging.ERROR: "31", logging.WARNING: "33", logging.INFO: "32"}

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        code = self._colours.get(record.levelno)
        if self.colour and code:
            return f"\033[{code}m{line}\033[0m"
        return line


def to_stderr(level: int) -> logging.Handler:
    """Report the ``hookreload`` logger's records from ``level`` up on stderr; returns the handler."""
    stream = sys.stderr
    colour = stream.isatty() and "NO_COLOR" not in os.environ
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(colour))
    logger = logging.getLogger("hookreload")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
