"""The loader's frame that is on the stack while a module first executes.

``warnings.warn(..., stacklevel=n)`` called by a module at import time walks
out to the line that imported it, skipping the import system's own frames:
those whose file name contains both ``importlib`` and ``_bootstrap``. This
file's name does, so the one frame hookreload adds there is skipped too, and a
warning at import blames the importing line as it does without hookreload
(dateutil.zoneinfo's deprecation warning, found by ``make compat``).

It is also the path every proxied import takes, so it makes no call it can
avoid (benchmarks/cases.py, case ``import``).
"""

from __future__ import annotations

import os
import stat
import sys
import time
import types
from importlib._bootstrap import _call_with_frames_removed  # type: ignore[attr-defined]
from importlib.machinery import SourceFileLoader

from . import _log
from ._digest import signature_of
from ._versions import _records, finish_import, record_of, register_import, unregister

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._digest import Signature
    from ._loader import HookLoader, SourceHookLoader
    from ._versions import Imported


def exec_source_module(loader: SourceHookLoader, module: types.ModuleType) -> None:
    """``SourceHookLoader.exec_module``: ``SourceFileLoader``'s, as a proxy.

    Its two steps, get the code then run it, with the proxy registered between
    them, when the stat that ``get_code()`` made is known (see ``path_stats``).
    """
    # importlib.reload(proxy) passes a proxy (tested without calling a function:
    # an id in the registry always names a live proxy, this one).
    record = record_of(module) if id(module) in _records else None
    if record is not None:
        loader._reload_for_importlib(record)
        return
    spec = module.__spec__
    if not isinstance(module, types.ModuleType) or spec is None or spec.origin is None:
        # Only a real module object has a namespace pointer to switch.
        SourceFileLoader.exec_module(loader, module)
        return
    start = time.perf_counter()
    loader._seen = None
    code = loader.get_code(module.__name__)
    if code is None:  # as importlib's own exec_module()
        raise ImportError(f"cannot load module {module.__name__!r} when get_code() returns None")
    seen = loader._seen
    if seen is None:
        # No bytecode cache to check (sys.implementation.cache_tag is None),
        # so get_code() made no stat: one here.
        seen = _seen(spec.origin)
        if seen is None:
            _call_with_frames_removed(exec, code, module.__dict__)
            return
    # Registered before executing: the module is a proxy from its first line
    # on, for circular imports and for code that checks is_proxy().
    entry = register_import(loader, module, spec, spec.origin, *seen)
    try:
        _call_with_frames_removed(exec, code, module.__dict__)
    except BaseException:
        unregister(module)
        raise
    _finish(loader, entry, module, spec.name, start)


def exec_module(loader: HookLoader, module: types.ModuleType) -> None:
    """``HookLoader.exec_module``: run the module with the wrapped loader, as a proxy."""
    record = record_of(module) if id(module) in _records else None  # see above
    if record is not None:
        loader._reload_for_importlib(record)
        return
    wrapped = loader.wrapped
    spec = module.__spec__
    if not isinstance(module, types.ModuleType) or spec is None or spec.origin is None:
        wrapped.exec_module(module)  # see above
        return
    start = time.perf_counter()
    seen = _seen(spec.origin)
    if seen is None:
        # Nothing to reload from later: load it as a plain module.
        wrapped.exec_module(module)
        return
    entry = register_import(loader, module, spec, spec.origin, *seen)  # see above
    try:
        wrapped.exec_module(module)
    except BaseException:
        unregister(module)
        raise
    _finish(loader, entry, module, spec.name, start)


def _finish(
    loader: Imported, entry: Imported, module: types.ModuleType, name: str, start: float
) -> None:
    """Record a first execution that went well as version 1."""
    if sys.modules.get(name) is not module:
        # The module replaced its own sys.modules entry: respect that.
        unregister(module)
        _log.debug("not proxying %s: it replaced itself in sys.modules", name)
        return
    finish_import(entry, time.perf_counter() - start)
    if loader.watched:
        _watch_now(module)
    # No debug line here: with logging imported, as in most programs, one
    # would cost more than a tenth of what the hook adds to an import
    # (benchmarks/cases.py, case import).


def stat_of(path: str) -> tuple[os.stat_result, str]:
    """The stat of the source file ``path`` (of its target if a link), and its real path.

    Raises:
        OSError: from the system calls.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return os.stat(path), os.path.realpath(path)
    return st, _real_file(path)


def _seen(path: str) -> tuple[str, Signature] | None:
    """The real path and stat signature of ``path``; ``None`` if it cannot be read."""
    try:
        st, real_path = stat_of(path)
    except OSError:
        return None
    return real_path, signature_of(st)


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
