"""The ``hookreload`` logger, reached lazily: importing logging costs ~10 ms."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

_logger: logging.Logger | None = None


def logger() -> logging.Logger:
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("hookreload")
        # A library configures no output: without a handler of its own,
        # Python's last-resort handler would print every record to stderr.
        if not _logger.handlers:
            _logger.addHandler(logging.NullHandler())
    return _logger


def debug(message: str, *args: object) -> None:
    """Log at debug level, for free while nothing imported ``logging``.

    Nothing can be listening before ``logging`` is imported, and importing it
    on the import path of every proxied module would cost ~10 ms at start.
    """
    if "logging" in sys.modules:
        logger().debug(message, *args)
