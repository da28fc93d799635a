"""The finder: decides which modules are ours; other finders do the lookup."""

from __future__ import annotations

import sys
import threading
from importlib.machinery import SourceFileLoader
from types import ModuleType

from ._loader import HookLoader, SourceHookLoader
from ._policy import Policy
from ._versions import Imported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec


class _Busy(threading.local):
    """The names this thread is looking up through us right now."""

    def __init__(self) -> None:
        self.busy: set[str] = set()


class HookFinder:
    """A meta path finder that wraps the loader of every module it proxies.

    It never looks modules up itself: it asks the finders behind it, so other
    import hooks (pytest's assertion rewriting, for one) keep loading and
    transforming their modules.
    """

    def __init__(self, policy: Policy, keep: int, *, watched: bool = False) -> None:
        self.policy = policy
        self.keep = keep
        self.watched = watched
        self._local = _Busy()

    def __repr__(self) -> str:
        return f"<hookreload finder {self.policy!r}>"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        # Cheapest test first: most rejected imports stop at the name.
        if self.policy.reason_by_name(fullname) is not None:
            return None
        busy = self._local.busy
        if fullname in busy:
            # A finder behind us called importlib.util.find_spec() for the same
            # name, which reached us again through sys.meta_path.
            return None
        busy.add(fullname)
        spec: ModuleSpec | None = None
        try:
            # The finders behind us, as the import system would ask them
            # (inline: this runs for every import the policy lets through; and
            # like importlib, without copying the list).
            for finder in sys.meta_path:
                if finder is not self:
                    find_spec = getattr(finder, "find_spec", None)
                    if find_spec is not None:
                        spec = find_spec(fullname, path, target)
                        if spec is not None:
                            break
        finally:
            busy.discard(fullname)
        if (
            spec is None
            or isinstance(spec.loader, Imported)
            or self.policy.reason_by_spec(spec) is not None
        ):
            # What the finders behind us would have answered anyway.
            return spec
        loader = spec.loader
        if type(loader) is SourceFileLoader:
            # Not a subclass, so nothing of its own to keep: an equal loader of
            # ours, which nothing has seen yet, takes its place (see _loader).
            spec.loader = SourceHookLoader(loader.name, loader.path, self.keep, self.watched)
        else:
            spec.loader = HookLoader(loader, self.keep, self.watched)  # type: ignore[assignment]
        return spec

    def invalidate_caches(self) -> None:
        """Nothing is cached here; present for ``importlib.invalidate_caches()``."""
