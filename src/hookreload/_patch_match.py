"""Patch mode, matching: which objects of the old version the new one defines again.

Starting from the names both namespaces bind, a function or a class of the
old version is paired with the new version's one of the same qualified name;
then, inside each pair, what they hold: the members of a class, the cells of
a closure and the ``__wrapped__`` of a decorated function, so a decorator's
wrapper and the function it wraps are both paired. Instances of a paired
class bound by name (a registry object, an enum member) are paired too, so
that their state can follow. Nothing is changed here.
"""

from __future__ import annotations

import types

from ._patch_classes import DESCRIPTORS, KEEP, incompatibility, own_descriptor, transferable
from ._patch_functions import closure_mismatch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

MISSING: Any = object()

# Kinds of pairs.
FUNCTION = "function"  # defined by the module: code, globals and state are patched
WRAPPER_FUNCTION = "wrapper function"  # a closure made by another module's decorator: state only
CLASS = "class"
WRAPPER = "wrapper"  # an object wrapping a function (wrapt, lru_cache): what it wraps is paired
INSTANCE = "instance"  # an instance of a paired class, bound by name: its state follows


class Pair:
    """An object of the old version and the one that replaces it in the new version."""

    __slots__ = ("kind", "name", "new", "old", "parent")

    def __init__(self, kind: str, old: Any, new: Any, parent: Pair | None, name: str) -> None:
        self.kind = kind
        self.old = old
        self.new = new
        # The pair it was found in (a class for its methods): dropped with it.
        self.parent = parent
        # For the report: a qualified name, or where an instance is bound.
        self.name = name

    def within(self, other: Pair) -> bool:
        pair: Pair | None = self
        while pair is not None:
            if pair is other:
                return True
            pair = pair.parent
        return False

    def __repr__(self) -> str:
        return f"<Pair {self.kind} {self.name}>"


def is_function(obj: object) -> bool:
    """Whether ``obj`` is a Python function; not a proxy of one (wrapt's answer ``isinstance``)."""
    return type(obj) is types.FunctionType


def is_class(obj: object) -> bool:
    """Whether ``obj`` is a class; not a proxy of one."""
    return issubclass(type(obj), type)


def _static_wrapped(obj: object, cache: dict[type, bool] | None = None) -> bool:
    """Whether ``obj`` has a ``__wrapped__``, found without running a ``__getattr__``."""
    cls = type(obj)
    wraps = None if cache is None else cache.get(cls)
    if wraps is None:
        wraps = any("__wrapped__" in vars(klass) for klass in cls.__mro__)
        if cache is not None:
            cache[cls] = wraps
    if wraps:
        return True
    namespace = getattr(obj, "__dict__", None)
    return isinstance(namespace, dict) and "__wrapped__" in namespace


class Matcher:
    """Pairs the objects of ``old_ns`` with those of ``new_ns`` (module ``module``)."""

    def __init__(self, module: str, old_ns: dict[str, Any], new_ns: dict[str, Any]) -> None:
        self.module = module
        self.old_ns = old_ns
        self.new_ns = new_ns
        self.pairs: list[Pair] = []
        self._by_new: dict[int, Pair] = {}
        self._by_old: dict[int, Pair] = {}
        # Instances met on the way, paired once the classes are settled.
        self._instances: list[tuple[Any, Any, Pair | None, str]] = []
        # Qualified name -> why the new object replaces the old one.
        self.replaced: dict[str, str] = {}
        # Whether a type defines __wrapped__, asked for every value: for this patch only.
        self._wraps: dict[type, bool] = {}

    # -- the mapping new object -> old object ---------------------------------

    def translate(self, value: Any) -> Any:
        """The object the new version keeps instead of ``value`` (``value`` itself if none)."""
        pair = self._by_new.get(id(value))
        return value if pair is None else pair.old

    def old_of(self, value: Any) -> Any:
        pair = self._by_new.get(id(value))
        return MISSING if pair is None else pair.old

    def of_kind(self, *kinds: str) -> Iterator[Pair]:
        return (pair for pair in list(self.pairs) if pair.kind in kinds)

    # -- matching ---------------------------------------------------------------

    def match(self) -> None:
        """Pair everything the two namespaces define under the same names."""
        for key, new in list(self.new_ns.items()):
            old = self.old_ns.get(key, MISSING)
            if old is not MISSING:
                self._match(old, new, None, key)

    def _add(self, kind: str, old: Any, new: Any, parent: Pair | None, name: str) -> Pair:
        pair = Pair(kind, old, new, parent, name)
        self.pairs.append(pair)
        self._by_new[id(new)] = pair
        self._by_old[id(old)] = pair
        return pair

    def _match(self, old: Any, new: Any, parent: Pair | None, where: str) -> None:
        if old is new or id(new) in self._by_new or id(old) in self._by_old:
            return  # the same object, or paired already (aliases, shared cells)
        if is_function(old) and is_function(new):
            self._functions(old, new, parent)
        elif is_class(old) and is_class(new):
            self._classes(old, new, parent)
        elif type(old) is type(new) and type(new) in DESCRIPTORS:
            for part in DESCRIPTORS[type(new)]:
                old_part, new_part = getattr(old, part), getattr(new, part)
                if old_part is not None and new_part is not None:
                    self._match(old_part, new_part, parent, where)
        elif (
            type(old) is type(new)
            and _static_wrapped(new, self._wraps)
            and _static_wrapped(old, self._wraps)
        ):
            pair = self._add(WRAPPER, old, new, parent, where)
            self._match(old.__wrapped__, new.__wrapped__, pair, where)
            # wrapt's FunctionWrapper: the decorator's own wrapper function.
            old_wrapper = getattr(old, "_self_wrapper", None)
            new_wrapper = getattr(new, "_self_wrapper", None)
            if old_wrapper is not None and new_wrapper is not None:
                self._match(old_wrapper, new_wrapper, pair, where)
        elif not isinstance(new, (types.ModuleType, types.BuiltinFunctionType)):
            self._instances.append((old, new, parent, where))

    def _functions(
        self, old: types.FunctionType, new: types.FunctionType, parent: Pair | None
    ) -> None:
        if old.__qualname__ != new.__qualname__:
            return
        if old.__globals__ is self.old_ns and new.__globals__ is self.new_ns:
            reason = closure_mismatch(old, new)
            if reason is not None:
                self.replaced.setdefault(old.__qualname__, reason)
                return
            pair = self._add(FUNCTION, old, new, parent, old.__qualname__)
        elif old.__globals__ is new.__globals__ and old.__code__ is new.__code__:
            # The same decorator's wrapper around a function of ours: its
            # code is not ours to change, what it holds is.
            pair = self._add(WRAPPER_FUNCTION, old, new, parent, old.__qualname__)
        else:
            return
        for old_cell, new_cell in zip(old.__closure__ or (), new.__closure__ or (), strict=False):
            old_value, new_value = _contents(old_cell), _contents(new_cell)
            if old_value is not MISSING and new_value is not MISSING:
                self._match(old_value, new_value, pair, pair.name)
        old_wrapped = old.__dict__.get("__wrapped__", MISSING)
        new_wrapped = new.__dict__.get("__wrapped__", MISSING)
        if old_wrapped is not MISSING and new_wrapped is not MISSING:
            self._match(old_wrapped, new_wrapped, pair, pair.name)

    def _classes(self, old: type, new: type, parent: Pair | None) -> None:
        if (
            old.__qualname__ != new.__qualname__
            or old.__module__ != self.module
            or new.__module__ != self.module
        ):
            return
        pair = self._add(CLASS, old, new, parent, old.__qualname__)
        current = vars(old)
        for attr, value in vars(new).items():
            if attr in KEEP or own_descriptor(new, value):
                continue
            old_value = current.get(attr, MISSING)
            if old_value is not MISSING:
                self._match(old_value, value, pair, f"{pair.name}.{attr}")

    # -- settling ---------------------------------------------------------------

    def drop(self, pair: Pair, reason: str) -> None:
        """Give up patching ``pair`` and what was found in it: the new objects replace them."""
        self.replaced[pair.name] = reason
        for other in [p for p in self.pairs if p.within(pair)]:
            self.pairs.remove(other)
            del self._by_new[id(other.new)]
            del self._by_old[id(other.old)]
        self._instances = [
            entry for entry in self._instances if entry[2] is None or not entry[2].within(pair)
        ]

    def drop_incompatible_classes(self) -> bool:
        """Drop the class pairs that cannot be patched in place; whether any was dropped."""
        dropped = False
        changed = True
        while changed:
            # Dropping a class changes what its subclasses' metaclass and
            # bases translate to: look again until nothing changes.
            changed = False
            for pair in self.of_kind(CLASS):
                if pair in self.pairs:
                    reason = incompatibility(pair.old, pair.new, self.translate)
                    if reason is not None:
                        self.drop(pair, reason)
                        changed = dropped = True
        return dropped

    def pair_instances(self) -> None:
        """Pair the instances met while matching, now that the classes are settled."""
        for old, new, parent, where in self._instances:
            if id(new) in self._by_new or id(old) in self._by_old:
                continue
            cls = self._by_new.get(id(type(new)))
            if (
                cls is not None
                and cls.kind == CLASS
                and cls.old is type(old)
                and transferable(old, new)
            ):
                self._add(INSTANCE, old, new, parent, where)
        self._instances = []

    # -- the report -------------------------------------------------------------

    def definition(self, value: Any, namespace: dict[str, Any]) -> bool:
        """Whether ``value`` is a function or class that the module of ``namespace`` defines."""
        for _ in range(100):  # a bounded walk down __wrapped__ chains
            if is_function(value):
                if value.__globals__ is namespace:
                    return True
            elif is_class(value):
                return bool(value.__module__ == self.module)
            elif type(value) in DESCRIPTORS:
                parts = (getattr(value, part) for part in DESCRIPTORS[type(value)])
                return any(self.definition(part, namespace) for part in parts)
            if not _static_wrapped(value, self._wraps):
                return False
            value = value.__wrapped__
        return False  # pragma: no cover - a __wrapped__ cycle

    def changes(self) -> tuple[list[str], list[str]]:
        """The definitions added and removed: module-level names and class members."""
        added = _differences(self.new_ns, self.old_ns, self.new_ns, self)
        removed = _differences(self.old_ns, self.new_ns, self.old_ns, self)
        for pair in self.of_kind(CLASS):
            prefix = pair.name + "."
            added += [
                prefix + n for n in _differences(vars(pair.new), vars(pair.old), self.new_ns, self)
            ]
            removed += [
                prefix + n for n in _differences(vars(pair.old), vars(pair.new), self.old_ns, self)
            ]
        return added, removed

    def note_replacements(self) -> None:
        """Name the definitions bound under the same name in both versions and not paired."""
        for key, new in self.new_ns.items():
            old = self.old_ns.get(key, MISSING)
            if old is MISSING or old is new or self.translate(new) is old:
                continue
            if self.definition(old, self.old_ns) and self.definition(new, self.new_ns):
                name = getattr(old, "__qualname__", key)
                self.replaced.setdefault(name, _why_not_paired(old, new))


def _differences(these: Any, others: Any, namespace: dict[str, Any], matcher: Matcher) -> list[str]:
    """The names of definitions in ``these`` that ``others`` does not define."""
    other_namespace = _other(namespace, matcher)
    names = []
    for name, value in these.items():
        other = others.get(name, MISSING)
        if other is value or name in KEEP:
            continue  # the same object (a shared value, an interned string)
        if other is not MISSING and (
            matcher.old_of(value) is other or matcher.old_of(other) is value
        ):
            continue  # paired: defined by both
        if matcher.definition(value, namespace) and (
            other is MISSING or not matcher.definition(other, other_namespace)
        ):
            names.append(name)
    return names


def _other(namespace: dict[str, Any], matcher: Matcher) -> dict[str, Any]:
    return matcher.old_ns if namespace is matcher.new_ns else matcher.new_ns


def _contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return MISSING


def _kind(obj: Any) -> str:
    return "class" if is_class(obj) else "function" if is_function(obj) else type(obj).__name__


def _why_not_paired(old: Any, new: Any) -> str:
    if _kind(old) != _kind(new):
        return f"it is a {_kind(new)} now, not a {_kind(old)}"
    before = getattr(old, "__qualname__", None)
    after = getattr(new, "__qualname__", None)
    if before != after:
        return f"it is defined as {after!r} now, not {before!r}"
    return "the new definition cannot take the old one's place"
