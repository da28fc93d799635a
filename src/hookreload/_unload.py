"""``__unload__()``: what a replaced version runs to let go of what it holds.

A version that defines ``__unload__`` has it called once it was replaced by
a reload or a rollback: the place to close its sockets and stop its
threads. It runs after the swap, outside every hookreload lock; what it
raises is logged and never undoes the swap.
"""

from __future__ import annotations

import types

from . import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def hook_of(module: types.ModuleType) -> Callable[[], object] | None:
    """The ``__unload__`` of ``module`` as it is now; take it before the swap.

    A function is copied: in patch mode the swap gives the old version's
    functions the new version's code, and the old ``__unload__`` must run
    its own.
    """
    hook = module.__dict__.get("__unload__")
    if hook is None:
        return None
    if type(hook) is types.FunctionType:
        copy = types.FunctionType(
            hook.__code__, hook.__globals__, hook.__name__, hook.__defaults__, hook.__closure__
        )
        copy.__kwdefaults__ = hook.__kwdefaults__
        copy.__qualname__ = hook.__qualname__
        return copy
    if not callable(hook):
        _log.logger().warning(
            "%s: __unload__ is a %s, not a function; not calling it",
            module.__name__,
            type(hook).__name__,
        )
        return None
    return hook  # type: ignore[no-any-return]


def run(name: str, number: int, hook: Callable[[], object]) -> None:
    """Call the ``__unload__`` of version ``number`` of ``name``; log what it raises."""
    try:
        hook()
    except Exception:
        _log.logger().exception(
            "%s: __unload__ of the replaced version %d failed; the swap stands", name, number
        )
