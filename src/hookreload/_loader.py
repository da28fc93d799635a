"""The loader: wraps the loader another finder found and makes the module a proxy."""

from __future__ import annotations

import types

from ._importlib_bootstrap import exec_module as _exec_module
from ._reload import reload_record
from ._versions import ModuleRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from typing import Any


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

    def _reload_for_importlib(self, record: ModuleRecord, module: types.ModuleType) -> None:
        # importlib.reload(proxy) lands here after it overwrote __spec__ and
        # __loader__ in the live namespace with a fresh lookup's; put the
        # import-time ones back whatever happens, then reload our way.
        old = record.live_module()
        try:
            reload_record(record)
        finally:
            old.__dict__.update(__spec__=record.spec, __loader__=record.spec.loader)
