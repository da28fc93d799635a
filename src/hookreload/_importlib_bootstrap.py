"""The loader's frame that is on the stack while a module first executes.

``warnings.warn(..., stacklevel=n)`` called by a module at import time walks
out to the line that imported it, skipping the import system's own frames:
those whose file name contains both ``importlib`` and ``_bootstrap``. This
file's name does, so the one frame hookreload adds there is skipped too, and a
warning at import blames the importing line as it does without hookreload
(dateutil.zoneinfo's deprecation warning, found by ``make compat``).

It is also the path every proxied import takes, so it is one function with
no calls it can avoid (benchmarks/cases.py, case ``import``).
"""

from __future__ import annotations

import os
import stat
import sys
import time
import types

from . import _log
from ._digest import signature_of
from ._versions import finish_import, record_of, register_import, unregister

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._loader import HookLoader


def exec_module(loader: HookLoader, module: types.ModuleType) -> None:
    """``HookLoader.exec_module``: run the module with the wrapped loader, as a proxy."""
    record = record_of(module)
    if record is not None:
        loader._reload_for_importlib(record, module)
        return
    wrapped = loader.wrapped
    spec = module.__spec__
    if not isinstance(module, types.ModuleType) or spec is None or spec.origin is None:
        # Only a real module object has a namespace pointer to switch.
        wrapped.exec_module(module)
        return
    start = time.perf_counter()
    path = spec.origin
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            real_path = os.path.realpath(path)
            st = os.stat(path)
        else:
            real_path = _real_file(path)
    except OSError:
        # Nothing to reload from later: load it as a plain module.
        wrapped.exec_module(module)
        return
    # Registered before executing: the module is a proxy from its first line
    # on, for circular imports and for code that checks is_proxy().
    register_import(module, spec, wrapped, path, real_path, loader.keep, signature_of(st))
    try:
        wrapped.exec_module(module)
    except BaseException:
        unregister(module)
        raise
    if sys.modules.get(spec.name) is not module:
        # The module replaced its own sys.modules entry: respect that.
        unregister(module)
        _log.debug("not proxying %s: it replaced itself in sys.modules", spec.name)
        return
    finish_import(module, time.perf_counter() - start)
    if loader.watched:
        _watch_now(module)
    _log.debug("proxied %s from %s", spec.name, path)


def _watch_now(module: types.ModuleType) -> None:
    record = record_of(module)
    assert record is not None
    record.live.source_hash  # noqa: B018 - computed now, while the file is as imported
    from . import _watch  # already imported by install(watch=True)

    if _watch.current() is None:
        # A child process's watcher starts with its first proxied module.
        from ._hook import start_deferred_watcher

        start_deferred_watcher()
    _watch.notice(record)  # a new folder is watched at once, not at the next refresh


# A folder, with its trailing separator -> the same, with links resolved.
_real_dirs: dict[str, str] = {}


def _real_file(path: str) -> str:
    """``os.path.realpath`` of a file that is not a link, resolving its folder once."""
    cut = path.rfind(os.sep) + 1
    if not cut:
        return os.path.realpath(path)
    folder = path[:cut]
    real = _real_dirs.get(folder)
    if real is None:
        real = os.path.realpath(folder)
        real = _real_dirs[folder] = real if real.endswith(os.sep) else real + os.sep
    # The common case, a folder without links, makes no new string.
    return path if real == folder else real + path[cut:]
