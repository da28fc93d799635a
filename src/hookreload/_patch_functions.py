"""Patch mode, functions: the state of a function, captured and put back.

A patched function keeps its identity (whoever holds it keeps calling it)
and takes everything else from the new version's function: code, globals,
defaults, annotations, docstring, ``__dict__`` and the contents of its
closure cells. Its cells themselves stay (``__closure__`` is read-only), so
a function can only be patched when the new code has the same free variables.
"""

from __future__ import annotations

import sys
import types

from ._proxy import set_function_globals, unpin_own

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Stands for an empty cell (a closure variable not assigned yet).
_EMPTY: Any = object()
# 3.12 added __type_params__, 3.14 __annotate__; older functions lack them.
_HAS_TYPE_PARAMS = sys.version_info >= (3, 12)
_HAS_ANNOTATE = hasattr(types.FunctionType, "__annotate__")


def closure_mismatch(old: types.FunctionType, new: types.FunctionType) -> str | None:
    """Why ``old`` cannot take ``new``'s code, or ``None`` when it can."""
    before, after = old.__code__.co_freevars, new.__code__.co_freevars
    if before == after:
        return None
    return (
        f"its closure changed (free variables {_names(before)} -> {_names(after)}); "
        "a function's closure cannot change in place"
    )


def _names(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(names) + ")" if names else "none"


def _contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def _annotations(func: types.FunctionType) -> Any:
    if _HAS_ANNOTATE:  # pragma: no cover - 3.14: annotations may be lazy
        annotate = func.__annotate__  # type: ignore[attr-defined]
        if annotate is not None:
            return ("annotate", annotate)
    return ("annotations", func.__annotations__)


class FunctionState:
    """Everything of a function that patching changes."""

    __slots__ = (
        "annotations",
        "cells",
        "code",
        "defaults",
        "dict",
        "doc",
        "globals",
        "kwdefaults",
        "type_params",
    )

    def __init__(
        self,
        func: types.FunctionType,
        translate: Callable[[Any], Any] | None = None,
        *,
        code_of: types.FunctionType | None = None,
    ) -> None:
        """The state of ``func``, its values passed through ``translate``.

        ``code_of``: the function whose code and globals to take (the old one
        itself for a decorator's wrapper from another module, whose code is
        not the module's to change).
        """
        source = code_of or func
        self.code = source.__code__
        if translate is not None and code_of is None:
            # The old function runs a copy of the new code, not the new
            # function's own: if the patch is undone, the pin that keeps the
            # new namespace for frames started meanwhile (set_function_globals)
            # waits for a code that only they and this state hold. Waiting
            # for the new function's code would wait for ever, since the new
            # namespace holds that function.
            self.code = self.code.replace()
        self.globals = source.__globals__
        self.doc = func.__doc__
        self.type_params = func.__type_params__ if _HAS_TYPE_PARAMS else ()  # type: ignore[attr-defined]
        self.annotations = _annotations(func)
        kwdefaults = func.__kwdefaults__
        if translate is None:
            # A snapshot to put back later: the very objects, not copies.
            self.defaults = func.__defaults__
            self.kwdefaults = kwdefaults
            self.dict = func.__dict__
            self.cells = tuple(_contents(cell) for cell in func.__closure__ or ())
            return
        # The new version's state, with its objects replaced by the old ones
        # that the new namespace binds instead.
        self.defaults = (
            None if func.__defaults__ is None else tuple(map(translate, func.__defaults__))
        )
        self.kwdefaults = (
            None if kwdefaults is None else {k: translate(v) for k, v in kwdefaults.items()}
        )
        kind, annotations = self.annotations
        if kind == "annotations":
            self.annotations = (kind, {k: translate(v) for k, v in annotations.items()})
        self.dict = {k: translate(v) for k, v in func.__dict__.items()}
        self.cells = tuple(translate(_contents(cell)) for cell in func.__closure__ or ())

    def put(self, func: types.FunctionType) -> None:
        """Give ``func`` this state; idempotent, so a half-done put can be put back."""
        # Globals before code: frames that started with the old code keep the
        # namespace they read (see set_function_globals), and setting
        # __code__ through Python resets the function's version, which 3.11+
        # specialised calls check.
        set_function_globals(func, self.globals)
        if func.__code__ is not self.code:
            func.__code__ = self.code
        unpin_own(func)
        func.__defaults__ = self.defaults
        func.__kwdefaults__ = self.kwdefaults
        kind, annotations = self.annotations
        if kind == "annotations":
            func.__annotations__ = annotations
        else:  # pragma: no cover - 3.14
            func.__annotate__ = annotations  # type: ignore[attr-defined]
        func.__doc__ = self.doc
        func.__dict__ = self.dict
        for cell, value in zip(func.__closure__ or (), self.cells, strict=True):
            if value is _EMPTY:
                if _contents(cell) is not _EMPTY:
                    del cell.cell_contents
            else:
                cell.cell_contents = value
        if _HAS_TYPE_PARAMS:
            func.__type_params__ = self.type_params  # type: ignore[attr-defined]
