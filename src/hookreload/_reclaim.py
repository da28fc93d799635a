"""Free a released version's namespace at once when nothing outside it uses it.

A version's namespace is a reference cycle (its functions hold it as their
globals), so dropping the version leaves it to the cyclic garbage collector,
which reaches old objects rarely: a module holding 1 MB of data then costs
dozens of MB after a few hundred reloads. A full ``gc.collect()`` would free
it but walks the whole heap, which in a large process costs more than the
reload. Instead this runs the collector's own test on the version's objects
only: it counts, for each object reachable from the namespace (stopping at
other modules, foreign classes and foreign functions), the references that
come from inside; an object with more references than that is used from
outside, and so is everything it reaches. If the namespace is not reached
that way, nothing alive can use it and it is cleared, which breaks the cycle
and lets reference counting free its contents (and its classes, which the
collector still frees, are emptied of what they hold). When in doubt it keeps
everything: a reference that is not seen counts as a use from outside.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import types

# Objects too common to be owned by one version, whose references we never follow.
_STOP_TYPES = (types.ModuleType, type(sys), types.BuiltinFunctionType)


def _owned(obj: object, namespace: dict[str, object], name: str) -> bool:
    if isinstance(obj, _STOP_TYPES):
        return False
    if isinstance(obj, type):
        return obj.__module__ == name
    if isinstance(obj, types.FunctionType):
        return obj.__globals__ is namespace
    return gc.is_tracked(obj)


def _collect(start: types.ModuleType) -> dict[int, object]:
    """Every object of the version's own, by id, reachable from its module object."""
    namespace = start.__dict__
    name = start.__name__
    builtins = namespace.get("__builtins__")
    objects: dict[int, object] = {id(start): start}
    stack: list[object] = [start]
    while stack:
        for ref in gc.get_referents(stack.pop()):
            if id(ref) not in objects and ref is not builtins and _owned(ref, namespace, name):
                objects[id(ref)] = ref
                stack.append(ref)
    return objects


def _inside_counts(objects: dict[int, object]) -> dict[int, int]:
    """How many references each object gets from the others."""
    inside = dict.fromkeys(objects, 0)
    for obj in objects.values():
        for ref in gc.get_referents(obj):
            if id(ref) in inside:
                inside[id(ref)] += 1
    return inside


def _used_from_outside(objects: dict[int, object], inside: dict[int, int]) -> list[int]:
    # getrefcount(objects[key]) counts the `objects` dict's reference and its
    # own argument: 2 that are ours. Called with no other variable holding
    # any of these objects, so any further one comes from outside. A subscript,
    # not a local variable: 3.14 lends a local to a call without counting it.
    return [key for key in list(objects) if sys.getrefcount(objects[key]) - 2 > inside[key]]


def _reached(objects: dict[int, object], roots: list[int]) -> set[int]:
    reached = set(roots)
    while roots:
        for ref in gc.get_referents(objects[roots.pop()]):
            if id(ref) in objects and id(ref) not in reached:
                reached.add(id(ref))
                roots.append(id(ref))
    return reached


def reclaim(handover: list[types.ModuleType]) -> bool:
    """Clear the namespace of the module in ``handover`` if only its own objects use it.

    The caller hands over its only reference inside a list, so that no
    variable holds the module while references are counted.
    Returns whether the namespace was cleared.
    """
    namespace_id = id(handover[0].__dict__)
    objects = _collect(handover.pop())
    roots = _used_from_outside(objects, _inside_counts(objects))
    reached = _reached(objects, roots)
    if namespace_id in reached:
        return False
    # Classes are always in cycles (through __mro__) and stay for the
    # collector; empty them too, so the data they hold goes now.
    classes = [obj for key, obj in objects.items() if key not in reached and isinstance(obj, type)]
    namespace = objects[namespace_id]
    objects.clear()
    assert isinstance(namespace, dict)
    namespace.clear()
    for cls in classes:
        _empty(cls)
    return True


def _empty(cls: type) -> None:
    for attr in list(vars(cls)):
        if attr not in _KEEP:
            with contextlib.suppress(AttributeError, TypeError):  # read-only ones stay
                delattr(cls, attr)


# What a class needs to stay a well-formed object until the collector frees it.
_KEEP = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"})
