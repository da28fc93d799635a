"""The module proxy: a real module object whose namespace is the live version's.

The object in ``sys.modules`` stays the same for the life of the program; a
version switch repoints its namespace (the C-level ``md_dict`` of the module
object) at the namespace of another version's module. Readers therefore pay
exactly what a plain module costs, and every specialisation the interpreter
has for modules keeps working. A forwarding proxy or a plain object sharing
the dict cannot do that: on 3.11 an instance-dict lookup is never specialised
for ``m.f()`` and costs 1.4x a module (docs/benchmarks.md has the figures).

While a new version executes, its own thread must already see the new
namespace through ``sys.modules[__name__]`` (``dataclasses`` and
``typing.get_type_hints`` look themselves up there) while every other thread
still sees the live one. For that window only, the proxy's class is switched
to a subclass whose attribute access answers by thread.
"""

from __future__ import annotations

import functools
import sys
import threading
import types
import weakref

from ._errors import HookreloadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# md_dict is the first field after PyObject_HEAD in PyModuleObject (3.0 to
# 3.14), and so is func_globals in PyFunctionObject (3.10 to 3.14);
# object.__basicsize__ is sizeof(PyObject) on this build, including debug
# builds whose header is larger. Each field is checked before its first write.
_DICT_OFFSET = object.__basicsize__
_GLOBALS_OFFSET = object.__basicsize__


def _module_probe() -> tuple[object, object]:
    probe = types.ModuleType("hookreload_probe")
    return probe, probe.__dict__


def _function_probe() -> tuple[object, object]:
    namespace: dict[str, Any] = {}
    exec("def probe(): pass", namespace)
    return namespace["probe"], namespace


class _Field:
    """A ``PyObject *`` field of a C struct that hookreload repoints."""

    __slots__ = ("offset", "probe", "what")

    def __init__(
        self,
        what: str,
        offset: Callable[[], int],
        probe: Callable[[], tuple[object, object]],
    ) -> None:
        self.what = what
        # Read at each use (tests move it to check that a wrong layout is refused).
        self.offset = offset
        # Makes an object and the value the field must hold, to check the layout.
        self.probe = probe


_MODULE_DICT = _Field("module object", lambda: _DICT_OFFSET, _module_probe)
_FUNCTION_GLOBALS = _Field("function object", lambda: _GLOBALS_OFFSET, _function_probe)


class _CApi:
    """ctypes, loaded at the first pointer switch: imports and install() stay cheap.

    Checks, before the first write to each field, that the object layout is
    the one we write to.
    """

    def __init__(self) -> None:
        import ctypes

        self.slot = ctypes.c_void_p
        self.incref = ctypes.pythonapi.Py_IncRef
        self.incref.argtypes = [ctypes.py_object]
        self.incref.restype = None
        self.decref = ctypes.pythonapi.Py_DecRef
        self.decref.argtypes = [ctypes.py_object]
        self.decref.restype = None
        self._checked: set[str] = set()

    def _check(self, field: _Field) -> None:
        owner, value = field.probe()
        if self.slot.from_address(id(owner) + field.offset()).value != id(value):
            raise HookreloadError(
                f"unexpected {field.what} layout on this Python build; "
                "please report it with the output of `python -VV`"
            )
        self._checked.add(field.what)

    def repoint(self, field: _Field, owner: object, old: object, new: object) -> None:
        """Make ``field`` of ``owner`` hold ``new`` instead of ``old``, counting references exactly.

        The caller holds ``old``, so letting go of the field's reference never frees it here.
        """
        if field.what not in self._checked:
            self._check(field)
        slot = self.slot.from_address(id(owner) + field.offset())
        if slot.value != id(old):
            # Someone else changed it since the caller read it: never decref a stranger.
            raise HookreloadError(f"the {field.what} {owner!r} changed under hookreload")
        # The new value is taken before the old one is let go.
        self.incref(new)
        slot.value = id(new)
        self.decref(old)


_capi: _CApi | None = None


def _api() -> _CApi:
    global _capi
    if _capi is None:
        _capi = _CApi()
    return _capi


def check_supported() -> None:
    """Raise ``HookreloadError`` unless namespace sharing is safe here."""
    if sys.implementation.name != "cpython":
        raise HookreloadError(f"hookreload needs CPython; this is {sys.implementation.name!r}")
    # A pointer store is atomic only under the GIL.
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    if not gil_enabled():
        raise HookreloadError(
            "hookreload needs the GIL; run with PYTHON_GIL=1 on a free-threaded build"
        )


# The C-level md_dict of any module, read past a window class's __getattribute__.
_module_dict: Any = vars(types.ModuleType)["__dict__"].__get__


def share_namespace(module: types.ModuleType, namespace: dict[str, Any]) -> None:
    """Make ``module.__dict__`` be ``namespace`` (one pointer store, atomic under the GIL)."""
    # Both checks guard the raw pointer store below: only a module object
    # (the descriptor refuses anything else) and only a real dict.
    old = _module_dict(module)
    if type(namespace) is not dict:
        raise TypeError(f"a module namespace must be a dict, not {type(namespace).__name__}")
    if old is namespace:
        return
    _api().repoint(_MODULE_DICT, module, old, namespace)


# (id(code), id(namespace)) -> (weak reference to the code, the namespace): a
# namespace kept alive while code that ran with it as its globals is alive.
_pins: dict[tuple[int, int], tuple[weakref.ref[types.CodeType], dict[str, Any]]] = {}


def _pin(code: types.CodeType, namespace: dict[str, Any]) -> None:
    # From 3.11 on, a frame borrows its globals from its function: a frame
    # that started before the function's globals moved still reads the old
    # namespace, which must outlive it. Every such frame (running or in a
    # suspended generator) holds its code object, so the namespace is kept
    # exactly as long as that code is alive. (3.10's frames hold their
    # globals themselves; the pin is harmless there.)
    key = (id(code), id(namespace))
    if key in _pins:
        return

    def unpin(_: object) -> None:
        # Runs as the code object dies, before its id can be reused.
        _pins.pop(key, None)

    _pins[key] = (weakref.ref(code, unpin), namespace)


def unpin_own(func: types.FunctionType) -> None:
    """Drop the pin of the code and globals that ``func`` has again (a rollback put them back).

    While ``func`` holds that namespace, it keeps it alive for the frames
    that run its code. The pin would keep it for ever: the namespace holds
    ``func``, and so the code that the pin waits to die (namespace -> func
    -> code). Should ``func`` move away again, set_function_globals() pins
    the pair again first.
    """
    _pins.pop((id(func.__code__), id(func.__globals__)), None)


def set_function_globals(func: types.FunctionType, namespace: dict[str, Any]) -> None:
    """Make ``func.__globals__`` be ``namespace`` (read-only from Python; one pointer store).

    Frames of ``func`` that already run keep the namespace they started with,
    which stays alive as long as their code does. Call this before changing
    ``func.__code__``, so that the namespace is tied to the code those frames run.
    """
    if type(func) is not types.FunctionType:
        raise TypeError(f"can only repoint the globals of a function, not {type(func).__name__}")
    if type(namespace) is not dict:
        raise TypeError(f"a function's globals must be a dict, not {type(namespace).__name__}")
    old = func.__globals__
    if old is namespace:
        return
    _pin(func.__code__, old)
    _api().repoint(_FUNCTION_GLOBALS, func, old, namespace)


class _Window:
    __slots__ = ("live", "pending", "thread")

    def __init__(self, live: types.ModuleType, pending: types.ModuleType | None) -> None:
        self.live = live
        self.pending = pending
        self.thread = threading.get_ident()


# id(proxy) -> its open window; only proxies in the middle of a switch are here.
_windows: dict[int, _Window] = {}


def _target(proxy: types.ModuleType) -> types.ModuleType:
    """The module that this thread sees through ``proxy`` right now."""
    window = _windows.get(id(proxy))
    if window is None:
        # A reader that entered the view just before the window closed: the
        # proxy has its own class and the new namespace again.
        return proxy
    if window.pending is not None and threading.get_ident() == window.thread:
        return window.pending
    return window.live


def _no_attribute(module: types.ModuleType, name: str) -> Any:
    raise AttributeError(
        f"module {module.__name__!r} has no attribute {name!r}", name=name, obj=module
    )


class _Fallback:
    """``__getattr__`` of the view classes, as a descriptor.

    The interpreter calls what ``__get__`` returns with no Python frame of
    ours in between, so a module's PEP 562 ``__getattr__`` that warns with
    ``stacklevel=2`` still blames its caller during a reload.
    """

    def __get__(self, proxy: types.ModuleType | None, owner: type | None = None) -> Any:
        if proxy is None:
            return self
        target = _target(proxy)
        hook = getattr(type(target), "__getattr__", None)
        if hook is not None and not isinstance(hook, _Fallback):
            return hook.__get__(target)  # a module class with its own __getattr__
        hook = _module_dict(target).get("__getattr__")
        if hook is not None:
            return hook
        return functools.partial(_no_attribute, target)


class _ThreadView(types.ModuleType):
    """Base of the window classes: every access goes to the module of this thread."""

    def __getattribute__(self, name: str) -> Any:
        # No PEP 562 fallback here: _Fallback does it, frame-free.
        return object.__getattribute__(_target(self), name)

    __getattr__ = _Fallback()  # type: ignore[misc]

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_target(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(_target(self), name)


_plain_view = type("module", (_ThreadView,), {"__module__": "builtins"})


def _view_class(base: type) -> type:
    # Derived from the proxy's own class, so that the layout is the same and
    # __class__ assignment is allowed both ways. Only the plain one is cached:
    # a cached view of a module's own class would keep that version alive.
    if base is types.ModuleType:
        return _plain_view
    return type(base.__name__, (_ThreadView, base), {"__module__": base.__module__})


def _set_class(proxy: types.ModuleType, cls: type) -> None:
    # object.__setattr__ skips _ThreadView.__setattr__, which would forward it.
    object.__setattr__(proxy, "__class__", cls)


class Switch:
    """One version switch of one proxy, from opening the window to the swap.

    ``pending`` is the module being executed (``None`` for a rollback); the
    thread that opens the switch sees it through the proxy, the others keep
    seeing ``live`` until :meth:`commit`. The caller holds the module's lock.
    """

    def __init__(
        self,
        proxy: types.ModuleType,
        live: types.ModuleType,
        pending: types.ModuleType | None,
    ) -> None:
        self.proxy = proxy
        self.saved_class = type(proxy)
        self._window = _Window(live, pending)
        if id(proxy) in _windows:
            raise HookreloadError(f"module {proxy.__name__!r} is already switching versions")
        _windows[id(proxy)] = self._window
        _set_class(proxy, _view_class(self.saved_class))

    def commit(self, module: types.ModuleType) -> None:
        """Make ``module`` the one every thread sees, then close the window."""
        # Order matters: the window answers with the new module before the
        # namespace moves, so no reader ever goes back to the old one.
        self._window.live = module
        self._window.pending = None
        share_namespace(self.proxy, module.__dict__)
        self._close(type(module))

    def abort(self) -> None:
        """Close the window leaving the live version as it was."""
        self._close(self.saved_class)

    def _close(self, cls: type) -> None:
        _set_class(self.proxy, cls)
        _windows.pop(id(self.proxy), None)


def version_of(proxy: types.ModuleType) -> types.ModuleType:
    """A new module object sharing the proxy's namespace and class: its live version's."""
    module = types.ModuleType(proxy.__name__)
    share_namespace(module, _module_dict(proxy))
    if type(proxy) is not types.ModuleType:
        # It set sys.modules[__name__].__class__; its version must match.
        module.__class__ = type(proxy)
    return module
