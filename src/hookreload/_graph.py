"""The import graph of the proxied modules, read from their code when it is first needed.

Nothing is recorded on the import path, which has a tight budget (issue 2).
Instead, a version's imports are read from its code object, the first time
something asks: every ``IMPORT_NAME`` instruction, with the level and the
``from`` list loaded just before it, in the module's body and in every
function and class nested in it. The result is cached per version, so a
reload only reads its own module again.

Seen: ``import a.b``, ``import a.b as c``, ``from a import b`` (an edge to
the submodule when ``a.b`` is a module, else a name taken from ``a``),
``from a import b as c``, ``from . import b`` and ``from ..a import b``
(resolved against the module's package), ``from a import *``, and all of
those inside ``try``/``except ImportError``, ``if`` blocks, classes and
functions. Not seen: ``importlib.import_module()``, ``__import__()``,
``exec`` of a string, and names copied by other means (``f = other.f``
after ``import other``).
"""

from __future__ import annotations

import sys
import threading
import types
import weakref

from . import _log
from ._changes import dependency_order
from ._digest import read_file
from ._versions import ModuleRecord, Version, all_records

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# A function's code has it, a module's or a class body's does not: those run
# with a namespace dict, at once; a function's imports run at each call.
_CO_OPTIMIZED = 0x1


class Import:
    """One import statement found in a module's code, resolved to an absolute name.

    Attributes:
        module: the module imported: ``"a.b"`` for ``import a.b``, for
            ``from a.b import c`` and, in package ``a``, for ``from .b import c``.
        names: what a ``from`` import takes from it, as ``module`` names them
            (``from a import b as c`` takes ``"b"``); ``("*",)`` for a star
            import; empty for a plain ``import``.
        at_load: whether the statement runs when the module executes (its body,
            or a class body in it) rather than when a function is called.
    """

    __slots__ = ("at_load", "module", "names")

    def __init__(self, module: str, names: tuple[str, ...] = (), at_load: bool = True) -> None:
        self.module = module
        self.names = names
        self.at_load = at_load

    def _key(self) -> tuple[str, tuple[str, ...], bool]:
        return (self.module, self.names, self.at_load)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Import):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        where = "" if self.at_load else " in a function"
        if not self.names:
            return f"<Import {self.module}{where}>"
        return f"<Import from {self.module} {', '.join(self.names)}{where}>"


def scan(code: types.CodeType, package: str) -> list[Import]:
    """The import statements of ``code`` and of the code nested in it, in that order.

    Args:
        code: a module's code object.
        package: the module's package (``__spec__.parent``), for relative imports.
    """
    import opcode  # here, not at the top: `import hookreload` stays cheap

    import_name = opcode.opmap["IMPORT_NAME"]
    load_const = opcode.opmap["LOAD_CONST"]
    extended_arg = opcode.opmap["EXTENDED_ARG"]
    # 3.14 loads small integers (the level) without a constant.
    load_small_int = opcode.opmap.get("LOAD_SMALL_INT", -1)
    found: list[Import] = []
    queue = [(code, True)]
    for code, at_load in queue:  # grows while it is walked: breadth first
        consts = code.co_consts
        for const in consts:
            if isinstance(const, types.CodeType):
                queue.append((const, at_load and not const.co_flags & _CO_OPTIMIZED))
        raw = code.co_code
        # Most functions import nothing: one C-level search skips them.
        if import_name not in raw[::2]:
            continue
        names = code.co_names
        # The two constants loaded last: level and from list, for IMPORT_NAME.
        before = after = None
        extended = 0
        # co_code is the unspecialised, uninstrumented code: 2 bytes an instruction.
        for i in range(0, len(raw), 2):
            op = raw[i]
            arg = extended | raw[i + 1]
            if op == extended_arg:
                extended = arg << 8
                continue
            extended = 0
            if op == load_const:
                before, after = after, consts[arg]
            elif op == load_small_int:
                before, after = after, arg
            elif op == import_name:
                statement = _resolve(names[arg], before, after, package, at_load)
                if statement is not None:
                    found.append(statement)
                before = after = None
            else:
                before = after = None
    return found


def _resolve(
    name: str, level: object, fromlist: object, package: str, at_load: bool
) -> Import | None:
    if not (isinstance(level, int) and level >= 0):
        # Not the compiler's pattern (level, from list, IMPORT_NAME): keep the
        # edge, taking nothing.
        level, fromlist = 0, None
    if level:
        bits = package.rsplit(".", level - 1)
        if not package or len(bits) < level:
            return None  # beyond the top-level package: it fails when it runs
        name = f"{bits[0]}.{name}" if name else bits[0]
    names: tuple[str, ...] = ()
    if isinstance(fromlist, tuple) and all(isinstance(n, str) for n in fromlist):
        names = fromlist
    return Import(name, names, at_load)


# record -> {version number: its imports}; numbers are never reused within a record.
_cache: weakref.WeakKeyDictionary[ModuleRecord, dict[int, tuple[Import, ...]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def imports(record: ModuleRecord) -> tuple[Import, ...]:
    """The import statements of the live version of ``record``'s module (cached per version)."""
    if not record.history:
        return ()  # still being imported
    live = record.live
    with _cache_lock:
        known = _cache.get(record)
        if known is not None and live.number in known:
            return known[live.number]
    code = _code_of(record, live)
    if code is None:
        return ()  # not cached: the next question tries again
    found = tuple(scan(code, record.spec.parent or ""))
    with _cache_lock:
        kept = {v.number for v in record.history}
        known = {n: i for n, i in _cache.get(record, {}).items() if n in kept}
        known[live.number] = found
        _cache[record] = known
    return found


def _code_of(record: ModuleRecord, version: Version) -> types.CodeType | None:
    """The code of ``version``: kept from its reload, or the loader's (version 1)."""
    code: types.CodeType | None = getattr(version, "code", None)
    if code is not None:
        return code
    try:
        # Version 1 keeps no code (imports stay cheap): the loader reads its
        # .pyc when valid, else compiles the source, as the import did.
        get_code = getattr(record.loader, "get_code", None)
        if get_code is not None:
            code = get_code(record.name)
        if code is None:
            source = read_file(record.source_path)[0]
            code = compile(source, record.source_path, "exec", dont_inherit=True)
    except Exception as exc:
        # A file broken since: its imports are unknown until it reloads.
        _log.debug("cannot read the imports of %s: %s: %s", record.name, type(exc).__name__, exc)
        return None
    return code


def dependencies(record: ModuleRecord) -> dict[str, frozenset[str]]:
    """The modules that ``record``'s module imports when it executes, with the names it took.

    Keys are absolute module names; ``from a import b`` counts as importing
    ``a.b`` (taking nothing) when ``a.b`` is a module, else as taking ``b``
    from ``a``. A star import takes ``"*"``. A plain ``import a.b`` takes
    nothing: it binds ``a``, a proxy that follows reloads. Imports inside functions are
    left out: they import again at each call, so they hold no old copy.
    """
    found: dict[str, set[str]] = {}
    modules = sys.modules
    for statement in imports(record):
        if not statement.at_load:
            continue
        taken: set[str] = set()
        for name in statement.names:
            submodule = f"{statement.module}.{name}"
            if name != "*" and submodule in modules:
                found.setdefault(submodule, set())
            else:
                taken.add(name)
        # `from pkg import sub` takes nothing from pkg: no edge to it, or a
        # package and the submodules it imports would always form a cycle.
        if taken or not statement.names:
            found.setdefault(statement.module, set()).update(taken)
    return {module: frozenset(names) for module, names in found.items()}


def _proxied() -> list[ModuleRecord]:
    """The proxied modules that ``import`` still gives, in the order they were first imported."""
    found = []
    for record in all_records():
        try:
            proxy = record.proxy
        except ReferenceError:
            continue
        if record.history and sys.modules.get(record.name) is proxy:
            found.append(record)
    return found


def order(records: Sequence[ModuleRecord]) -> list[ModuleRecord]:
    """``records`` in dependency order: each after the ones it imports when it executes.

    Stable: modules that do not import each other, and the modules of an
    import cycle among themselves, keep their order in ``records``.
    """
    by_name = {record.name: record for record in records}
    if len(by_name) < 2:
        return list(by_name.values())
    depends_on = {name: list(dependencies(record)) for name, record in by_name.items()}
    return [by_name[name] for name in dependency_order(list(by_name), depends_on)]


def dependents(records: Iterable[ModuleRecord]) -> list[ModuleRecord]:
    """The modules that took names from ``records``, or from those, and so on; in dependency order.

    ``records`` themselves are left out. Modules that do not import each
    other, and those of an import cycle, keep the order in which they first
    finished loading: the order the import ran them in.
    """
    proxied = _proxied()
    importers: dict[str, list[ModuleRecord]] = {}
    for other in proxied:
        for module, names in dependencies(other).items():
            if names and module != other.name:
                importers.setdefault(module, []).append(other)
    start = {record.name for record in records}
    seen = set(start)
    todo = list(start)
    while todo:
        for importer in importers.get(todo.pop(), ()):
            if importer.name not in seen:
                seen.add(importer.name)
                todo.append(importer.name)
    found = [other for other in proxied if other.name in seen - start]
    return order(sorted(found, key=_loaded_first))


def _loaded_first(record: ModuleRecord) -> float:
    # When version 1 finished loading (a module finishes after those it
    # imports); a module whose version 1 is gone goes after, in registry order.
    first = record.history[0]
    return first.loaded_at if first.number == 1 else float("inf")
