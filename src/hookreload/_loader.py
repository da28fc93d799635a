"""The loaders: they make the modules the finder lets through proxies.

A module found with a plain ``SourceFileLoader`` (nearly all of them) gets a
:class:`SourceHookLoader` instead: the same loader, one class down, which
records the stat it makes of the source anyway. Any other loader (another
import hook's, pytest's assertion rewriting) is wrapped by a :class:`HookLoader`.
"""

from __future__ import annotations

import types
from importlib.machinery import SourceFileLoader

from ._digest import signature_of
from ._importlib_bootstrap import exec_module as _exec_module
from ._importlib_bootstrap import exec_source_module as _exec_source_module
from ._importlib_bootstrap import stat_of
from ._reload import reload_record
from ._versions import Imported, ModuleRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from typing import Any, SupportsIndex

    from ._digest import Signature


def _reload_for_importlib(record: ModuleRecord) -> None:
    # importlib.reload(proxy) lands here after it overwrote __spec__ and
    # __loader__ in the live namespace with a fresh lookup's; put the
    # import-time ones back whatever happens, then reload our way.
    old = record.live_module()
    try:
        reload_record(record)
    finally:
        old.__dict__.update(__spec__=record.spec, __loader__=record.spec.loader)


class HookLoader(Imported):
    """Loads a module with the loader it wraps and records it as version 1.

    Every other loader method (``get_source``, ``get_resource_reader``, …) is
    the wrapped loader's, so ``inspect``, ``linecache`` and
    ``importlib.resources`` work as without hookreload.

    It is also the module's entry in the registry of proxied modules (see
    ``_versions.Imported``): one object per import, which the spec holds anyway.
    """

    __slots__ = ()

    def __init__(self, wrapped: Any, keep: int, watched: bool = False) -> None:
        if not hasattr(wrapped, "exec_module"):
            raise TypeError(f"hookreload can only wrap loaders with exec_module(), not {wrapped!r}")
        self.wrapped = wrapped
        self.keep = keep
        self.watched = watched
        self._key = 0  # no proxy registered yet: see register_import()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        # A copy or pickle (of a spec, say) is the loader we stand for: the
        # registry entry, with its lock, is this import's, not the copy's.
        # (copy.copy rebuilds it: the wrapped loader's own reduction names
        # its class, which a pickler checks against ours.)
        import copy  # here: `import hookreload` stays cheap

        return (copy.copy, (self.wrapped,))

    def __repr__(self) -> str:
        return f"<hookreload loader for {self.wrapped!r}>"

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        create: Any = getattr(self.wrapped, "create_module", None)
        return None if create is None else create(spec)

    # Defined in a file of its own, which the warnings module takes for import
    # machinery: see _importlib_bootstrap.
    exec_module = _exec_module

    _reload_for_importlib = staticmethod(_reload_for_importlib)


# typeshed's two bases of SourceFileLoader disagree on source_to_code(); not ours to fix.
class SourceHookLoader(Imported, SourceFileLoader):  # type: ignore[misc]
    """A ``SourceFileLoader`` that makes its module a proxy and records it as version 1.

    Every method but ``exec_module`` and ``path_stats`` is the standard one,
    run on this very object: no wrapper, no lookup forwarded, nothing more
    made per import than the loader importlib makes anyway. (A wrapper's
    ``__getattr__`` slows every attribute of it; its calls, made once per
    import, miss the processor's caches: together, as much as the rest of
    what the hook adds to an import.)
    """

    # The stat that get_code() made of the source, while the module is loading.
    __slots__ = ("_seen",)

    def __init__(self, fullname: str, path: str, keep: int, watched: bool) -> None:
        # What FileLoader.__init__ sets (documented), without its call: one
        # of these is made per import.
        self.name = fullname
        self.path = path
        self.wrapped = self  # what builds code: see ModuleRecord.loader
        self.keep = keep
        self.watched = watched
        self._key = 0  # no proxy registered yet: see register_import()
        self._seen: tuple[str, Signature] | None = None

    def __repr__(self) -> str:
        return f"<hookreload loader for {self.path!r}>"

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        # As HookLoader's: a copy is the plain loader this one took the place of.
        return (SourceFileLoader, (self.name, self.path))

    def path_stats(self, path: str) -> dict[str, Any]:
        """The standard answer, from the stat that the import records too.

        ``get_code()`` asks before it reads the ``.pyc`` or the source: that
        stat is the module's signature at import (see ``Version.source_hash``),
        at no second system call.
        """
        st, real_path = stat_of(path)
        self._seen = (real_path, signature_of(st))
        return {"mtime": st.st_mtime, "size": st.st_size}

    exec_module = _exec_source_module

    _reload_for_importlib = staticmethod(_reload_for_importlib)
