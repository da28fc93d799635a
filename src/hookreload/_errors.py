"""The exceptions hookreload raises."""

from __future__ import annotations


class HookreloadError(Exception):
    """Base class of every error hookreload raises on purpose."""


class ReloadError(HookreloadError):
    """A reload or rollback did not happen; the live version is unchanged.

    Attributes:
        module: the dotted name of the module.
        filename: its source file, or ``None`` when unknown.
        lineno: the line of that file where it failed, when known.
    """

    def __init__(
        self, message: str, *, module: str, filename: str | None = None, lineno: int | None = None
    ) -> None:
        super().__init__(message)
        self.module = module
        self.filename = filename
        self.lineno = lineno


class NotProxiedError(HookreloadError, TypeError):
    """The target is not a module that hookreload manages.

    A ``TypeError`` as well, so code written against the contract
    (``except TypeError``) keeps working.
    """
