"""The loader: wraps the loader another finder found and makes the module a proxy."""

from __future__ import annotations

import os
import stat
import sys
import time
import types

from . import _log
from ._digest import signature_of
from ._importlib_bootstrap import exec_module as _exec_module
from ._reload import reload_record
from ._versions import ModuleRecord, finish_import, record_of, register_import, unregister

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from typing import Any


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


class HookLoader:
    """Loads a module with the loader it wraps and records it as version 1.

    Every other loader method (``get_source``, ``get_resource_reader``, …) is
    the wrapped loader's, so ``inspect``, ``linecache`` and
    ``importlib.resources`` work as without hookreload.
    """

    __slots__ = ("keep", "watched", "wrapped")

    def __init__(self, wrapped: Any, keep: int, watched: bool = False) -> None:
        if not hasattr(wrapped, "exec_module"):
            raise TypeError(f"hookreload can only wrap loaders with exec_module(), not {wrapped!r}")
        self.wrapped = wrapped
        self.keep = keep
        # Hashing a source costs a read; done lazily unless a watcher needs
        # to tell a touch from an edit from the first event on.
        self.watched = watched

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"<hookreload loader for {self.wrapped!r}>"

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        create: Any = getattr(self.wrapped, "create_module", None)
        return None if create is None else create(spec)

    # Defined in a file of its own, which the warnings module takes for import
    # machinery: see _importlib_bootstrap.
    exec_module = _exec_module

    def _register(self, module: types.ModuleType) -> float | None:
        """Record ``module`` as a proxy before it executes; the start time, or None if not."""
        start = time.perf_counter()
        spec = module.__spec__
        assert spec is not None
        assert spec.origin is not None
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
            return None
        # Registered before executing: the module is a proxy from its first
        # line on, for circular imports and for code that checks is_proxy().
        register_import(module, spec, self.wrapped, path, real_path, self.keep, signature_of(st))
        return start

    def _finish(self, module: types.ModuleType, start: float) -> None:
        """``module`` executed: it is version 1, unless it replaced itself in ``sys.modules``."""
        spec = module.__spec__
        assert spec is not None
        if sys.modules.get(spec.name) is not module:
            # The module replaced its own sys.modules entry: respect that.
            unregister(module)
            _log.debug("not proxying %s: it replaced itself in sys.modules", spec.name)
            return
        finish_import(module, time.perf_counter() - start)
        if self.watched:
            record = record_of(module)
            assert record is not None
            record.live.source_hash  # noqa: B018 - computed now, while the file is as imported
            from . import _watch  # already imported: install(watch=True) started it

            _watch.notice(record)  # a new folder is watched at once, not at the next refresh
        _log.debug("proxied %s from %s", spec.name, spec.origin)

    def _reload_for_importlib(self, record: ModuleRecord, module: types.ModuleType) -> None:
        # importlib.reload(proxy) lands here after it overwrote __spec__ and
        # __loader__ in the live namespace with a fresh lookup's; put the
        # import-time ones back whatever happens, then reload our way.
        old = record.live_module()
        try:
            reload_record(record)
        finally:
            old.__dict__.update(__spec__=record.spec, __loader__=record.spec.loader)
