"""Names a notebook took with ``from module import name``, rebound when the module reloads.

Patch mode keeps functions and classes the same objects, so names bound to
them follow by themselves; a name bound to a value (``from config import
LIMIT``) still holds the old value. In IPython with patch mode on, the
extension rebinds such names after a reload, as ``%autoreload 3`` does, and
``from module import *`` brings the names a new version adds. A name the
user bound to something else since is left alone.
"""

from __future__ import annotations

import ast
import sys

from ._versions import record_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

_MISSING: Any = object()


def imports_in(source: str) -> list[tuple[str, str, str]]:
    """``(module, attribute, local name)`` of the cell's top-level ``from`` imports.

    ``attribute`` is ``"*"`` for a star import. Imports inside functions and
    classes bind no name of the notebook and are left out, as are relative ones.

    Example:
        >>> imports_in("from a import b as c, d\\nif x:\\n    from e import *")
        [('a', 'b', 'c'), ('a', 'd', 'd'), ('e', '*', '*')]
    """
    if "import" not in source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [
        (node.module, alias.name, alias.asname or alias.name)
        for node in _top_level(tree.body)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        for alias in node.names
    ]


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    yield from _top_level([n for n in inner if isinstance(n, ast.stmt)])
                    for handler in inner:
                        if isinstance(handler, ast.ExceptHandler):
                            yield from _top_level(handler.body)


def _public(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return [name for name in names if isinstance(name, str)]


class CellImports:
    """The notebook's names that came from proxied modules, and where from."""

    def __init__(self) -> None:
        # local name -> (module, attribute, the value it was bound to)
        self.bound: dict[str, tuple[str, str, Any]] = {}
        # modules the notebook star-imported
        self.starred: set[str] = set()
        # module -> its live version number when last looked at
        self.seen: dict[str, int] = {}

    def note(self, source: str, namespace: dict[str, Any]) -> None:
        """Record the ``from`` imports of a cell that ran, as they bound names in ``namespace``."""
        for module_name, attribute, local in imports_in(source):
            module = sys.modules.get(module_name)
            record = record_of(module)
            if record is None or not record.history:
                continue  # not a proxied module: nothing ever reloads it
            self.seen.setdefault(module_name, record.live.number)
            if attribute == "*":
                self.starred.add(module_name)
                for name in _public(module):
                    self._bind_if_same(namespace, name, module_name, name, module)
            else:
                self._bind_if_same(namespace, local, module_name, attribute, module)

    def _bind_if_same(
        self, namespace: dict[str, Any], local: str, module_name: str, attribute: str, module: Any
    ) -> None:
        value = namespace.get(local, _MISSING)
        if value is not _MISSING and value is getattr(module, attribute, _MISSING):
            # The latest import of a name wins, as in the cell itself.
            self.bound[local] = (module_name, attribute, value)

    def refresh(self, namespace: dict[str, Any]) -> list[str]:
        """Rebind the names of the modules reloaded since the last call; the names rebound."""
        changed = set()
        for module_name, number in list(self.seen.items()):
            record = record_of(sys.modules.get(module_name))
            if record is not None and record.history and record.live.number != number:
                self.seen[module_name] = record.live.number
                changed.add(module_name)
        rebound = []
        for local, (module_name, attribute, value) in list(self.bound.items()):
            if module_name not in changed or namespace.get(local, _MISSING) is not value:
                continue  # not reloaded, or the user bound the name to something else
            new = getattr(sys.modules[module_name], attribute, _MISSING)
            if new is not _MISSING and new is not value:
                namespace[local] = new
                self.bound[local] = (module_name, attribute, new)
                rebound.append(local)
        for module_name in changed & self.starred:
            module = sys.modules[module_name]
            for name in _public(module):
                if name not in namespace:
                    value = getattr(module, name, _MISSING)
                    if value is not _MISSING:
                        namespace[name] = value
                        self.bound[name] = (module_name, name, value)
                        rebound.append(name)
        return rebound
