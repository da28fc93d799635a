"""Source code the benchmarks import and reload, written into temporary directories.

Every generator is deterministic: the same arguments give the same files, so
the two sides of a comparison (with and without hookreload) import identical
code. Runs under every supported Python (3.10+): the workers import it too.
"""

from __future__ import annotations

import os
import sys
import textwrap
import types
from pathlib import Path

# The module every hot-path subject is made from.
HOT_MODULE = """\
x = 1


def f(a):
    return a
"""


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def package(root: Path, name: str, modules: dict[str, str], init: str = "") -> None:
    """A package ``name`` under ``root`` with ``modules`` (name -> source)."""
    write(root / name / "__init__.py", init)
    for module, source in modules.items():
        write(root / name / f"{module}.py", source)


def set_mtime(path: Path, seconds: int) -> None:
    """Give ``path`` a modification time of its own.

    A ``.pyc`` records its source's mtime in whole seconds: two edits within
    one second that keep the size would let ``importlib.reload`` run stale
    bytecode.
    """
    os.utime(path, ns=(seconds * 1_000_000_000, seconds * 1_000_000_000))


# -- a tree of modules importing each other, for the import benchmark ---------


def _tree_module(pkg: int, mod: int, prefix: str) -> str:
    imports = ["import os", "from functools import lru_cache"]
    if mod > 1:
        imports.append(f"from . import m{mod - 1:03d}")
    if pkg > 0:
        imports.append(f"from {prefix}{pkg - 1:02d} import m{mod:03d} as _upstream")
    return "\n".join(imports) + textwrap.dedent(
        f'''

        """Module {mod} of package {pkg}: a few dozen lines, like a small real module."""

        NAME = "{prefix}{pkg:02d}.m{mod:03d}"
        LIMITS = {{"low": {mod}, "high": {mod * 10 + pkg}, "step": {pkg + 1}}}
        SEP = os.sep


        @lru_cache(maxsize=None)
        def scale(value: int, factor: int = {mod % 7 + 2}) -> int:
            """Scale ``value``; cached."""
            if value < LIMITS["low"]:
                return LIMITS["low"]
            return min(value * factor, LIMITS["high"])


        def describe(items: list[int]) -> str:
            total = sum(scale(i) for i in items)
            return f"{{NAME}}: {{len(items)}} items, total {{total}}"


        class Record:
            """A plain class with a few methods."""

            kind = "record-{pkg}-{mod}"

            def __init__(self, key: str, value: int = 0) -> None:
                self.key = key
                self.value = value

            def bump(self, by: int = 1) -> int:
                self.value += by
                return self.value

            def __repr__(self) -> str:
                return f"Record({{self.key!r}}, {{self.value}})"
        '''
    )


def tree(root: Path, packages: int, per_package: int, prefix: str) -> list[str]:
    """``packages`` packages of ``per_package`` modules each (their ``__init__`` included).

    Each module imports the one before it in its package and its namesake in
    the package before; each ``__init__`` imports all of its package.

    Returns:
        The package names, in the order to import them.
    """
    names = []
    for pkg in range(packages):
        name = f"{prefix}{pkg:02d}"
        modules = {f"m{mod:03d}": _tree_module(pkg, mod, prefix) for mod in range(1, per_package)}
        init = "".join(f"from . import {module}\n" for module in modules)
        package(root, name, modules, init)
        names.append(name)
    return names


# -- a 1,000-line module, for the reload benchmark -----------------------------


def _big_block(i: int, salt: int = 0) -> str:
    # ``salt`` changes the body of every function: an edit of the whole module.
    rest = f"index + {salt}" if salt else "index"
    return textwrap.dedent(
        f'''
        THRESHOLD_{i} = {i * 3 + 1}
        NAMES_{i} = ("alpha", "beta", "gamma", "delta-{i}")


        def compute_{i}(values, scale={i % 5 + 1}):
            """Block {i}: some arithmetic and branching."""
            total = 0
            for index, value in enumerate(values):
                if value > THRESHOLD_{i}:
                    total += value * scale
                elif value < -THRESHOLD_{i}:
                    total -= value // (index + 1)
                else:
                    total += {rest}
            return {{"block": {i}, "total": total, "names": NAMES_{i}}}


        class Handler{i}:
            """Block {i}: a small class."""

            limit = THRESHOLD_{i}

            def __init__(self, name="h{i}"):
                self.name = name
                self.seen = []

            def handle(self, item):
                if len(self.seen) >= self.limit:
                    self.seen.pop(0)
                self.seen.append(item)
                return compute_{i}(self.seen)
        '''
    )


def big_module(lines: int, revision: int, salt: int = 0) -> str:
    """About ``lines`` lines of functions, classes and constants; ends with ``REVISION``.

    A ``salt`` other than 0 goes into the body of every function.
    """
    blocks = []
    count = 0
    i = 0
    while count < lines - 2:
        block = _big_block(i, salt)
        blocks.append(block)
        count += block.count("\n")
        i += 1
    return '"""A generated module of about {lines} lines."""\n{body}\nREVISION = {rev}\n'.format(
        lines=lines, body="".join(blocks), rev=revision
    )


# The edits of the comparison benchmarks: what changes in ``probed_module``.
ONE_FUNCTION, WHOLE_MODULE = "one function", "whole module"
PROBE_LINES = 12
OBSERVER = "hrbench_observe"  # in builtins: called halfway through executing the module


def probed_module(lines: int, revision: int, edit: str, *, fail: bool = False) -> str:
    """``big_module`` and a function and a method whose bodies return ``revision``.

    ``probe()`` and ``Probe().probe()`` return the revision of the code that
    runs them: called through references taken before a reload, they tell
    whether those references follow the new code. With ``edit=ONE_FUNCTION``
    only their two bodies change from one revision to the next; with
    ``WHOLE_MODULE`` every function body, the ``REVISION`` constant and a
    module-level call change too: ``compute_0([0])["total"]`` is then the
    revision. That call, halfway through, is
    ``builtins.hrbench_observe(__name__, tag)`` when it exists (``max`` of the
    two strings otherwise: a no-op); ``tag`` is the revision in whole-module
    edits, always ``"0"`` otherwise. With ``fail`` the module
    raises after defining everything: a broken edit, half executed.
    """
    if edit == ONE_FUNCTION:
        body = big_module(lines - PROBE_LINES, 0)
    elif edit == WHOLE_MODULE:
        body = big_module(lines - PROBE_LINES, revision, salt=revision)
    else:
        raise ValueError(f"unknown edit {edit!r}")
    # Halfway through, a look at the module as the rest of the program sees it
    # while the new code executes: the bench's observer, when it set one. A
    # module-level statement: it changes in whole-module edits only.
    half = body.index("\nTHRESHOLD_15 = ")
    tag = revision if edit == WHOLE_MODULE else 0
    look = f'__import__("builtins").__dict__.get("{OBSERVER}", max)(__name__, "{tag}")'
    body = f"{body[:half]}\n{look}\n{body[half:]}"
    probe = (
        f"\n\ndef probe():\n    return {revision}\n\n\n"
        f"class Probe:\n    def probe(self):\n        return {revision}\n"
    )
    broken = '\nraise RuntimeError("a broken edit")\n' if fail else ""
    return body + probe + broken


# -- a module with a namespace of about 1 MB, for the memory benchmark -----------

FAT_MODULE = '''\
"""About 1 MB of data, with functions and classes: its namespace is full of cycles."""

DATA = b"\\x01" * 600_000
NUMBERS = list(range(15_000))


class Marker:
    """One instance per version: a weak reference to it tells whether the version is alive."""


MARKER = Marker()


def total():
    return len(DATA) + sum(NUMBERS)


class Store:
    items = NUMBERS

    def first(self):
        return self.items[0]

    def size(self):
        return total()


class Child(Store):
    def first(self):
        return super().first() + 1
'''


def namespace_bytes(module: types.ModuleType) -> int:
    """Roughly what the data in ``FAT_MODULE``'s namespace weighs, in bytes."""
    data: bytes = module.DATA
    numbers: list[int] = module.NUMBERS
    return sys.getsizeof(data) + sys.getsizeof(numbers) + sum(map(sys.getsizeof, numbers))


# -- thousands of tiny modules, for the scaling benchmark -------------------------


def tiny_module(value: int) -> str:
    """A constant and a function."""
    return f"VALUE = {value}\n\n\ndef get():\n    return VALUE\n"


def tiny_tree(root: Path, count: int, per_package: int, prefix: str) -> list[str]:
    """``count`` tiny modules in packages of ``per_package`` (their ``__init__`` included).

    Returns:
        All their dotted names in import order: each package before its modules.
    """
    names: list[str] = []
    pkg = 0
    while len(names) < count:
        name = f"{prefix}{pkg:03d}"
        size = min(per_package, count - len(names))
        modules = {f"t{mod:03d}": tiny_module(pkg * per_package + mod) for mod in range(1, size)}
        package(root, name, modules)
        names.append(name)
        names.extend(f"{name}.{module}" for module in modules)
        pkg += 1
    return names


# -- a small module edited under the watcher, for the latency benchmark ------------


def edited_module(n: int) -> str:
    """A small but real module (a few definitions, as a handler has); its ``answer()`` is ``n``."""
    return (
        '"""A module being edited."""\n\n'
        "import math\n\n"
        f"N = {n}\n\n\n"
        "def helper(x):\n"
        "    return math.floor(x) + N\n\n\n"
        "class Thing:\n"
        "    def value(self):\n"
        "        return N\n\n\n"
        "def answer():\n"
        "    return Thing().value()\n"
    )
