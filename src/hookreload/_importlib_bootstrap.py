"""The loader's frames that are on the stack while a module first executes.

``warnings.warn(..., stacklevel=n)`` called by a module at import time walks
out to the line that imported it, skipping the import system's own frames:
those whose file name contains both ``importlib`` and ``_bootstrap``. This
file's name does, so the one frame hookreload adds there is skipped too, and a
warning at import blames the importing line as it does without hookreload
(dateutil.zoneinfo's deprecation warning, found by ``make compat``).
"""

from __future__ import annotations

import types

from ._versions import record_of, unregister

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._loader import HookLoader


def exec_module(loader: HookLoader, module: types.ModuleType) -> None:
    """``HookLoader.exec_module``: run the module with the wrapped loader, as a proxy."""
    record = record_of(module)
    if record is not None:
        loader._reload_for_importlib(record, module)
        return
    # Only a real module object has a namespace pointer to switch.
    start = loader._register(module) if isinstance(module, types.ModuleType) else None
    try:
        loader.wrapped.exec_module(module)
    except BaseException:
        if start is not None:
            unregister(module)
        raise
    if start is not None:
        loader._finish(module, start)
