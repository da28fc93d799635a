"""Patch mode, classes and instances: what can be updated in place, captured and put back.

A patched class keeps its identity (instances, subclasses, ``isinstance``,
pickle) and takes the new class's attributes. What lives in the instance
layout (``__slots__``, a metaclass, a base type with its own C payload)
cannot change under existing instances: such a class is replaced instead.
"""

from __future__ import annotations

import contextlib
import functools
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MISSING: Any = object()

# Never copied from the new class nor removed from the old one: the
# descriptors of the old instance layout, and an ABC's registry of virtual
# subclasses (which other modules filled in; see after_patch()).
KEEP = frozenset({"__dict__", "__weakref__", "_abc_impl"})

# Descriptor types whose parts are matched one by one; the old descriptor is
# kept when every part maps to the old one's, so that ``Cls.static_method``
# stays the same object.
DESCRIPTORS: dict[type, tuple[str, ...]] = {
    classmethod: ("__func__",),
    staticmethod: ("__func__",),
    property: ("fget", "fset", "fdel"),
    functools.cached_property: ("func",),
}

_LAYOUT = ("__basicsize__", "__itemsize__", "__dictoffset__", "__weakrefoffset__")


def _slots(cls: type) -> tuple[str, ...] | None:
    slots = vars(cls).get("__slots__", MISSING)
    if slots is MISSING:
        return None
    return (slots,) if isinstance(slots, str) else tuple(slots)


def incompatibility(old: type, new: type, translate: Callable[[Any], Any]) -> str | None:
    """Why ``old`` cannot become ``new`` in place, or ``None`` when it can (bases aside)."""
    if translate(type(new)) is not type(old):
        return (
            f"its metaclass changed ({type(old).__qualname__} -> {type(new).__qualname__}), "
            "which existing instances cannot follow"
        )
    if _slots(old) != _slots(new):
        return "its __slots__ changed, which existing instances cannot follow"
    for attr in _LAYOUT:
        if getattr(old, attr) != getattr(new, attr):
            return "its instance layout changed, which existing instances cannot follow"
    return None


def own_descriptor(cls: type, value: object) -> bool:
    """Whether ``value`` is a slot or ``__dict__`` descriptor made for ``cls`` itself."""
    return (
        isinstance(value, (types.MemberDescriptorType, types.GetSetDescriptorType))
        and getattr(value, "__objclass__", None) is cls
    )


def class_state(cls: type) -> dict[str, Any]:
    """The attributes of ``cls`` that patching may change."""
    return {
        name: value
        for name, value in vars(cls).items()
        if name not in KEEP and not own_descriptor(cls, value)
    }


def new_class_state(old: type, new: type, translate: Callable[[Any], Any]) -> dict[str, Any]:
    """The attributes ``old`` takes from ``new``, translated to the objects the new version keeps."""
    current = vars(old)
    state: dict[str, Any] = {}
    for name, value in class_state(new).items():
        state[name] = _kept_descriptor(current.get(name, MISSING), value, translate)
    return state


def _kept_descriptor(old: Any, new: Any, translate: Callable[[Any], Any]) -> Any:
    parts = DESCRIPTORS.get(type(new))
    if parts is None or type(old) is not type(new):
        return translate(new)
    if all(translate(getattr(new, part)) is getattr(old, part) for part in parts) and (
        getattr(old, "__doc__", None) == getattr(new, "__doc__", None)
    ):
        return old
    # Not the same shape (a setter added, say): the new descriptor, whose
    # functions run the new code just as well.
    return new


def put_class_state(cls: type, state: dict[str, Any]) -> None:
    """Make the attributes of ``cls`` be ``state``; idempotent."""
    current = vars(cls)
    for name in [n for n, v in current.items() if n not in state]:
        if name not in KEEP and not own_descriptor(cls, current[name]):
            # type's own methods, past a metaclass's (Enum's refuses to touch members).
            type.__delattr__(cls, name)
    for name, value in state.items():
        if current.get(name, MISSING) is not value:
            type.__setattr__(cls, name, value)


def after_patch(old: type, new: type, translate: Callable[[Any], Any]) -> None:
    """Caches of ``old`` that the new code may have made stale (not undone by a rollback)."""
    clear = getattr(type(old), "_abc_caches_clear", None)
    if clear is None or not hasattr(new, "_abc_impl"):
        return
    import abc  # already imported: `old` is an ABC

    # Virtual subclasses the new module registered itself join the old registry.
    registry = abc._get_dump(new)[0]  # type: ignore[attr-defined]
    for ref in list(registry):
        subclass = ref()
        if subclass is not None:
            old.register(translate(subclass))  # type: ignore[attr-defined]
    clear(old)


def _payload_base(cls: type) -> type:
    """The first base of ``cls`` that is not a Python class: where instance data in C lives."""
    for base in cls.__mro__:
        if not base.__flags__ & _HEAPTYPE:
            return base
    return object  # pragma: no cover - every MRO ends with object


_HEAPTYPE = 1 << 9


def transferable(old: object, new: object) -> bool:
    """Whether ``old`` can take the state of ``new`` (an instance of the new version of its class)."""
    base = _payload_base(type(old))
    if base is object:
        return True
    # An int or str enum member, say: its value lives in the object itself,
    # so only an equal value can be kept.
    if base not in _VALUES:
        return False
    compare: Any = base.__eq__  # the base's own ==, not a subclass's
    try:
        equal = compare(old, new)
    except Exception:  # a payload we cannot compare is not transferred
        return False
    return equal is True


_VALUES: tuple[type, ...] = (int, str, bytes, float, complex, tuple, frozenset)


def _slot_descriptors(cls: type) -> list[Any]:
    return [
        value
        for klass in cls.__mro__
        for value in vars(klass).values()
        if isinstance(value, types.MemberDescriptorType) and value.__objclass__ is klass
    ]


class InstanceState:
    """The ``__dict__`` and slot values of an instance."""

    __slots__ = ("dict", "slots")

    def __init__(self, obj: object, translate: Callable[[Any], Any] | None = None) -> None:
        same = translate or (lambda value: value)
        namespace = getattr(obj, "__dict__", None)
        if namespace is None or translate is None:
            self.dict = namespace
        else:
            self.dict = {k: same(v) for k, v in namespace.items()}
        self.slots = []
        for descriptor in _slot_descriptors(type(obj)):
            try:
                self.slots.append(same(descriptor.__get__(obj)))
            except AttributeError:
                self.slots.append(MISSING)

    def put(self, obj: object) -> None:
        """Give ``obj`` this state; ``obj``'s class has the same layout as the one captured."""
        if self.dict is not None:
            obj.__dict__ = self.dict
        for descriptor, value in zip(_slot_descriptors(type(obj)), self.slots, strict=True):
            if value is MISSING:
                with contextlib.suppress(AttributeError):  # already unset
                    descriptor.__delete__(obj)
            else:
                descriptor.__set__(obj, value)
