"""Which modules hookreload proxies, and why a given one is not proxied."""

from __future__ import annotations

import os
import sys
import types
from importlib.machinery import SourceFileLoader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from importlib.machinery import ModuleSpec

# Modules that must never be proxied, with the reason. Grown by running real
# test suites under the hook (see docs/limitations.md).
DENY_LIST: dict[str, str] = {
    "hookreload": "hookreload itself: its state would be split between versions",
    "wrapt": "hookreload's own dependency: live references are wrapt objects",
    # Imported after install() by the watcher itself: its loop would run on
    # one version while reloads made others.
    "watchfiles": "hookreload's file watcher: its loop runs in hookreload's own thread",
    "__main__": "the program's entry point is run, not imported",
    "__mp_main__": "multiprocessing's alias of __main__",
    "_pytest": "pytest's internals hold module objects across the session",
    "pytest": "pytest's internals hold module objects across the session",
    "pluggy": "pytest's plugin manager holds module objects across the session",
    "coverage": "coverage measures hookreload; reloading it loses its data",
    "_virtualenv": "virtualenv's start-up shim patches the import system",
    "_distutils_hack": "setuptools' start-up shim patches the import system",
}


_STDLIB_NAMES: frozenset[str] = frozenset(sys.stdlib_module_names)


def _stdlib_prefixes() -> tuple[str, ...]:
    # The directory of a pure-Python stdlib module, in both spellings so that
    # an origin can be compared without resolving links on every import.
    # Not sysconfig: its first get_paths() imports _sysconfigdata_*, which
    # would come back through this finder half-initialised (seen on 3.13).
    here = os.path.dirname(os.__file__)
    dirs = {os.path.normcase(here), os.path.normcase(os.path.realpath(here))}
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


_STDLIB_DIRS = _stdlib_prefixes()


def _compile(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """One matcher for all patterns; "pkg" also matches "pkg.*": naming a package names all of it.

    It runs for every import, so plain names are matched as strings and only
    wildcard patterns go through a regular expression.
    """
    names = tuple(p for p in patterns if not any(c in p for c in "*?["))
    prefixes = tuple(p + "." for p in names)
    wild = tuple(p for p in patterns if p not in names)
    if not wild:
        return lambda name: name in names or name.startswith(prefixes)
    import fnmatch  # here: it pulls in re, and only install() needs it
    import re

    alternatives = [fnmatch.translate(p) for p in wild] + [
        fnmatch.translate(p + ".*") for p in wild
    ]
    match = re.compile("|".join(f"(?:{a})" for a in alternatives)).match
    return lambda name: name in names or name.startswith(prefixes) or match(name) is not None


def _normalise(patterns: Iterable[str] | str | None, what: str) -> tuple[str, ...] | None:
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = (patterns,)
    result = tuple(patterns)
    for pattern in result:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(
                f"{what} takes module-name patterns such as 'app' or 'app.*'; got {pattern!r}"
            )
    return result


def is_stdlib_file(path: str) -> bool:
    if os.name != "posix":  # normcase is the identity on POSIX; this runs per import
        path = os.path.normcase(path)
    return path.startswith(_STDLIB_DIRS) and "site-packages" not in path


class Policy:
    """Decides which modules are proxied: by name first (cheap), then by spec.

    Args:
        include: patterns of module names to proxy; ``None`` for every module
            loaded from Python source outside the standard library.
        exclude: patterns of module names never to proxy.
    """

    def __init__(
        self, include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None
    ) -> None:
        self.include = _normalise(include, "include")
        self.exclude = _normalise(exclude, "exclude") or ()
        self._included = _compile(self.include or ())
        self._excluded = _compile(self.exclude)

    def __repr__(self) -> str:
        return f"Policy(include={self.include!r}, exclude={self.exclude!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Policy)
            and self.include == other.include
            and self.exclude == other.exclude
        )

    __hash__ = None  # type: ignore[assignment]

    def reason_by_name(self, name: str) -> str | None:
        """Why ``name`` is not proxied, judging by the name alone; ``None`` if it may be."""
        # Runs for every import in the program: no helper calls it can avoid.
        top = name.partition(".")[0]
        denied = DENY_LIST.get(top)  # every entry is a top-level name
        if denied is not None:
            return f"it is on hookreload's deny-list ({denied})"
        if self.exclude and self._excluded(name):
            return "an exclude pattern names it"
        if self.include is not None:
            if not self._included(name):
                return "no include pattern names it"
        elif top in _STDLIB_NAMES:
            return "it is part of the standard library (name it in include= to proxy it)"
        return None

    def reason_by_spec(self, spec: ModuleSpec) -> str | None:
        """Why the module found as ``spec`` is not proxied; ``None`` if it is."""
        reason = no_source_reason(spec)
        if reason is None and self.include is None and is_stdlib_file(spec.origin or ""):
            reason = "it is part of the standard library (name it in include= to proxy it)"
        return reason


def no_source_reason(spec: ModuleSpec) -> str | None:
    """Why a module found as ``spec`` has no source to build versions from, if so."""
    origin = spec.origin
    if type(spec.loader) is SourceFileLoader and origin is not None and origin.endswith(".py"):
        return None  # the common case, first: this runs for every import
    if (
        spec.loader is None
        or origin == "namespace"
        or "NamespaceLoader" in type(spec.loader).__name__
    ):
        return "it is a namespace package, which has no source to reload"
    if origin is None:
        # six.moves, toolz's tlz: modules a package's own importer makes (make compat).
        return (
            f"its loader ({type(spec.loader).__name__}) makes it without a source file, "
            "so there is nothing to reload"
        )
    if origin in ("built-in", "frozen"):
        return f"it is a {origin} module, which has no source to reload"
    if not origin.endswith(".py"):
        return (
            f"it is loaded from {os.path.basename(origin)!r}, not from Python source "
            "(an extension or bytecode-only module cannot be reloaded)"
        )
    if not hasattr(spec.loader, "exec_module"):
        return "its loader predates exec_module() and cannot build a fresh version"
    if type(spec.loader).__name__ == "zipimporter":
        return "it is imported from a zip archive, which has no file to reload from"
    return None


def explain(module: types.ModuleType, policy: Policy | None) -> str:
    """Why ``module`` is not proxied, for an error message."""
    spec = getattr(module, "__spec__", None)
    if spec is None:
        return "it was not imported (it has no __spec__)"
    reason = no_source_reason(spec)
    if reason is not None:
        return reason
    if policy is None:
        return (
            "hookreload is not installed: call hookreload.install() before the "
            "module is first imported"
        )
    reason = policy.reason_by_name(spec.name) or policy.reason_by_spec(spec)
    if reason is not None:
        return reason
    return (
        "it was imported before hookreload.install() or while the hook was off: "
        "call install() earlier, before the module's first import"
    )


# The policy of the installed hook, or None: set by install() and uninstall(),
# read when explaining why a target is not proxied.
active: Policy | None = None
