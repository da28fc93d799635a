"""keep(): module-level state that a new version takes over from the live one."""

from __future__ import annotations

import sys

from ._versions import record_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    T = TypeVar("T")

_MISSING = object()


def keep_for(name: str, factory: Callable[[], T], caller: Mapping[str, Any]) -> T:
    """:func:`hookreload.keep` called from the module whose globals are ``caller``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"keep() takes the name of a module-level variable, not {name!r}")
    if not callable(factory):
        raise TypeError(f"keep() takes a factory to call, such as dict, not {factory!r}")
    # The caller's module, by its globals: while a new version executes, its
    # namespace is the new one, but its __name__ is the module's.
    module = caller.get("__name__")
    record = record_of(sys.modules.get(module)) if isinstance(module, str) else None
    if record is not None and record.history:
        # The live version: while a reload executes, still the old one.
        value = record.live_module().__dict__.get(name, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
    return factory()
