"""Patch mode, references: the new version's objects point at the objects it keeps.

Once old objects are patched, the new namespace binds them instead of the
new version's own. What the new version built around its own objects (a
list of handlers, a dict registry, the default of an argument, a closure
cell, an instance made while it executed, a class it added on top of a
patched base) is pointed at the kept objects as well, so that identities
agree (``REGISTRY["f"] is mod.f``, ``isinstance(mod.DEFAULT, mod.Config)``,
``super()`` in an added method). The walk stays inside the new version: it
stops at modules, at classes and functions of other modules and at code,
as reclaiming a version does. Tuples, sets and keys of dicts are not
rewritten (they cannot be, or their hashes would change).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import types

from ._patch_classes import own_descriptor
from ._patch_match import is_class, is_function

# The collector's own test, as reclaiming a version runs it.
from ._reclaim import _empty, _inside_counts, _reached, _used_from_outside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Objects too common to be owned by one version, or not containers of ours.
_STOP = (
    types.ModuleType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
    types.MappingProxyType,
    type(sys),
)


class Relinker:
    """Rewrites the references of the new version, for module ``module``.

    A dict, list or cell is rewritten when it was reached from the module's
    own objects (its namespace, classes, functions, instances, or such a
    container); one reached through another module's object (a property, a
    library's registry) is only looked through, one level deep, for
    instances to reclass and functions of ours.

    Args:
        translate: new object -> the object kept in its place (itself if none).
        classes: id of a new class -> the old class kept in its place.
    """

    def __init__(
        self,
        module: str,
        translate: Callable[[Any], Any],
        classes: dict[int, type],
    ) -> None:
        self.module = module
        self.translate = translate
        self.classes = classes
        # id -> the fewest foreign objects it was reached through.
        self._seen: dict[int, int] = {}
        self._stack: list[tuple[Any, int]] = []

    def run(self, roots: list[Any]) -> None:
        for root in roots:
            self._push(root, 0)
        while self._stack:
            obj, foreign = self._stack.pop()
            self._visit(obj, foreign)

    def _push(self, obj: Any, foreign: int) -> None:
        """Visit ``obj`` later; ``foreign``: how many other modules' objects led to it."""
        if isinstance(obj, _STOP):
            return
        if is_class(obj):
            if obj.__module__ != self.module:
                return  # another module's class: not ours to walk
            foreign = 0
        elif is_function(obj):
            foreign = 0  # its cells and defaults; never its globals
        elif not gc.is_tracked(obj):
            return  # atoms (numbers, strings) hold nothing
        elif foreign > _FOREIGN_DEPTH:
            # Deep inside other modules' objects (a logger's manager and
            # every logger of the program): nothing of ours to find there.
            return
        if self._seen.get(id(obj), _FOREIGN_DEPTH + 1) <= foreign:
            return
        self._seen[id(obj)] = foreign
        self._stack.append((obj, foreign))

    def _visit(self, obj: Any, foreign: int) -> None:
        kind = type(obj)
        if kind is dict:
            self._items(obj, obj.items(), foreign)
        elif kind is list:
            self._items(obj, enumerate(obj), foreign)
        elif kind is types.CellType:
            try:
                value = obj.cell_contents
            except ValueError:
                return
            kept = self.translate(value)
            if not foreign and kept is not value:
                obj.cell_contents = kept
            self._push(kept, foreign)
        elif kind is types.FunctionType:
            self._function(obj)
        elif is_class(obj):
            self._class(obj)
        else:
            self._instance(obj, foreign)

    def _items(self, container: Any, items: Any, foreign: int) -> None:
        translate, push, tracked = self.translate, self._push, gc.is_tracked
        for key, value in list(items):
            if not tracked(value):
                continue  # an atom: nothing to translate, nothing inside
            kept = translate(value)
            if not foreign and kept is not value:
                container[key] = kept
            push(kept, foreign)

    def _function(self, func: types.FunctionType) -> None:
        # Not through gc.get_referents: a function of another module (a
        # decorator's wrapper) holds that module's globals, not ours to walk.
        if func.__defaults__ is not None:
            defaults = tuple(map(self.translate, func.__defaults__))
            if any(a is not b for a, b in zip(defaults, func.__defaults__, strict=True)):
                func.__defaults__ = defaults
            for value in defaults:
                self._push(value, 0)
        for part in (func.__kwdefaults__, func.__dict__, *(func.__closure__ or ())):
            if part is not None:
                self._push(part, 0)

    def _class(self, cls: type) -> None:
        if id(cls) not in self.classes:  # not a new class whose old one is kept
            bases = tuple(map(self.translate, cls.__bases__))
            if bases != cls.__bases__:
                # A class the new version added (or replaced) on top of a
                # class it keeps; if the layouts differ it stays as it is.
                with contextlib.suppress(TypeError):
                    cls.__bases__ = bases
        for name, value in list(vars(cls).items()):
            if own_descriptor(cls, value):
                continue
            kept = self.translate(value)
            if kept is not value:
                type.__setattr__(cls, name, kept)
            self._push(kept, 0)

    def _instance(self, obj: Any, foreign: int) -> None:
        cls = self.classes.get(id(type(obj)))
        if cls is not None:
            # Made by the new version while it executed, from a class whose
            # old version is kept: it becomes an instance of that one.
            with contextlib.suppress(TypeError):
                obj.__class__ = cls
        if type(obj) in _CONTAINERS:
            inner = foreign  # looked through, never rewritten (they cannot be)
        elif type(obj).__module__ == self.module:
            inner = 0
            if type(obj).__dictoffset__:
                # 3.12+ keeps instance attributes inline, out of get_referents' sight.
                self._push(object.__getattribute__(obj, "__dict__"), 0)
        else:
            # Another module's object (a property, a registry): what it holds
            # is looked through for objects of ours, not rewritten.
            inner = foreign + 1
        for ref in gc.get_referents(obj):
            self._push(ref, inner)


_CONTAINERS = (tuple, set, frozenset)
# How many other modules' objects deep the walk looks for objects of ours:
# enough for a new property's getter or a dataclass field's type.
_FOREIGN_DEPTH = 1


def empty_unused(handover: list[type], namespace: dict[str, Any], kept: set[int]) -> int:
    """Empty the new classes in ``handover``, whose old classes were kept, if nothing uses them.

    They are garbage in cycles (through ``__mro__``), which only the cyclic
    collector frees; until it does, their methods keep the new version's
    namespace alive, and releasing that version later could not free it at
    once. This runs the collector's own test on them (see ``_reclaim``): a
    class that an instance, a subclass or anything else alive still uses is
    left whole. ``kept``: ids of the old objects the new namespace binds.
    The caller hands its only reference to the classes over in ``handover``.
    Returns how many were emptied.
    """
    discarded = {id(cls) for cls in handover}
    objects = _theirs(handover, namespace, kept, discarded)
    roots = _used_from_outside(objects, _inside_counts(objects))
    reached = _reached(objects, roots)
    unused = [obj for key, obj in objects.items() if key in discarded and key not in reached]
    objects.clear()
    for cls in unused:
        assert isinstance(cls, type)
        _empty(cls)
    return len(unused)


def _theirs(
    handover: list[type], namespace: dict[str, Any], kept: set[int], discarded: set[int]
) -> dict[int, object]:
    """The discarded classes and what only they can hold: their dicts, methods, members."""
    objects: dict[int, object] = {id(cls): cls for cls in handover}
    handover.clear()
    stack: list[object] = list(objects.values())
    while stack:
        for ref in gc.get_referents(stack.pop()):
            key = id(ref)
            if key in objects or key in kept or ref is namespace or isinstance(ref, _STOP):
                continue
            if is_class(ref):
                if key not in discarded:
                    continue  # a class that is live, or another module's
            elif is_function(ref):
                if ref.__globals__ is not namespace:
                    continue
            elif not gc.is_tracked(ref):
                continue
            objects[key] = ref
            stack.append(ref)
    # Returned with no other variable of this frame holding any of them.
    return objects
