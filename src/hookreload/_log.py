"""The ``hookreload`` logger, reached lazily: importing logging costs ~10 ms."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


def logger() -> logging.Logger:
    import logging

    return logging.getLogger("hookreload")
