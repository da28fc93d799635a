"""The import graph: what a module's code imports, who took names from whom, and the order.

Reading the imports is tested on compiled source alone (no hook), and
checked against ``dis`` on the standard library, whose bytecode differs
from one Python version to the next. The order is tested as pure logic.
Then the graph of real proxied modules: version 1 read through the loader,
later versions from their own code, cached per version.
"""

from __future__ import annotations

import dis
import glob
import os
import random
import sys
import textwrap
import types

import pytest

import hookreload
from hookreload import _graph
from hookreload._changes import dependency_order
from hookreload._graph import Import, scan
from hookreload._versions import ModuleRecord, record_of
from tests.conftest import Project


def imports_in(source: str, package: str = "app") -> list[Import]:
    return scan(compile(textwrap.dedent(source), "<test>", "exec"), package)


def record(module: types.ModuleType) -> ModuleRecord:
    found = record_of(module)
    assert found is not None
    return found


# -- reading a module's code --------------------------------------------------------------


def test_absolute_imports() -> None:
    assert imports_in(
        """
        import json
        import os.path
        import xml.etree.ElementTree as ET
        from collections import OrderedDict, defaultdict
        """
    ) == [
        Import("json"),
        Import("os.path"),
        Import("xml.etree.ElementTree"),
        Import("collections", ("OrderedDict", "defaultdict")),
    ]


def test_aliases_take_the_name_the_module_gives() -> None:
    assert imports_in("from app.models import Model as M, helper as h\n") == [
        Import("app.models", ("Model", "helper"))
    ]


def test_relative_imports_resolve_against_the_package() -> None:
    source = """
        from . import views
        from .models import Model
        from .. import shared
        from ..lib.util import tool
        """
    assert imports_in(source, package="app.web") == [
        Import("app.web", ("views",)),
        Import("app.web.models", ("Model",)),
        Import("app", ("shared",)),
        Import("app.lib.util", ("tool",)),
    ]
    # Beyond the top-level package: it fails when it runs, and is left out.
    assert imports_in(source, package="app") == [
        Import("app", ("views",)),
        Import("app.models", ("Model",)),
    ]
    assert imports_in("from . import x\n", package="") == []


def test_star_import_takes_every_public_name() -> None:
    assert imports_in("from app.models import *\n") == [Import("app.models", ("*",))]


def test_imports_in_functions_are_not_at_load_and_class_bodies_are() -> None:
    found = imports_in(
        """
        def handler():
            from app.models import Model
            return Model

        class View:
            from app.models import Model

            def method(self):
                import app.lazy

        def factory():
            class Local:
                from app.models import Local
            return Local

        async def job():
            from app.tasks import run
        """
    )
    assert sorted(found, key=repr) == sorted(
        [
            Import("app.models", ("Model",), at_load=False),
            Import("app.models", ("Model",), at_load=True),
            Import("app.lazy", at_load=False),
            Import("app.models", ("Local",), at_load=False),
            Import("app.tasks", ("run",), at_load=False),
        ],
        key=repr,
    )


def test_conditional_imports_are_seen_and_dynamic_ones_are_not() -> None:
    found = imports_in(
        """
        import importlib
        try:
            from app.fast import parse
        except ImportError:
            from app.slow import parse
        if False:
            import app.never
        mod = importlib.import_module("app.dynamic")
        other = __import__("app.dunder")
        """
    )
    assert [i.module for i in found] == ["importlib", "app.fast", "app.slow"]
    # `if False:` is compiled away; `if TYPE_CHECKING:` is not (see docs/how-it-works.md).


def test_instruction_arguments_above_255_are_read() -> None:
    # 300 names before the import: its IMPORT_NAME needs EXTENDED_ARG.
    filler = "".join(f"v{i} = {i}.5\n" for i in range(300))
    found = imports_in(filler + "from app.far import name_300\n")
    assert found == [Import("app.far", ("name_300",))]


def _dis_imports(code: types.CodeType) -> list[tuple[str, object, object]]:
    """What ``dis`` says: each IMPORT_NAME with the two constants loaded before it."""
    found = []
    todo = [code]
    for code in todo:
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        loaded: list[object] = [None, None]
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_CONST", "LOAD_SMALL_INT"):
                loaded = [loaded[1], instruction.argval]
            elif instruction.opname == "IMPORT_NAME":
                found.append((instruction.argval, loaded[0], loaded[1]))
    return found


def test_reading_agrees_with_dis_on_the_standard_library() -> None:
    # The bytecode differs between Python versions: compare on real modules.
    # Every 8th module: ~25 modules and hundreds of imports, in under a second.
    files = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[::8]
    checked = 0
    for path in files:
        with open(path, "rb") as f:
            try:
                code = compile(f.read(), path, "exec", dont_inherit=True)
            except SyntaxError:  # pragma: no cover - a test file of the stdlib
                continue
        expected = []
        for name, level, fromlist in _dis_imports(code):
            assert level in (0, 1), path  # top-level modules: at most `from . import x`
            absolute = name if not level else "zz_pkg" + (f".{name}" if name else "")
            expected.append((absolute, tuple(fromlist or ())))
        found = [(i.module, i.names) for i in scan(code, "zz_pkg")]
        expected.sort()
        found.sort()
        assert found == expected, path
        checked += len(found)
    assert checked > 100


# -- the order ----------------------------------------------------------------------------


def test_order_puts_each_after_what_it_depends_on_and_keeps_the_rest() -> None:
    assert dependency_order(["a", "b", "c", "d"], {}) == ["a", "b", "c", "d"]
    assert dependency_order(["views", "lib", "models"], {"views": ["models"]}) == [
        "lib",
        "models",
        "views",
    ]
    # Dependencies outside the names, and on itself, are ignored.
    assert dependency_order(["a", "b"], {"a": ["a", "zzz"], "b": ["a"]}) == ["a", "b"]
    assert dependency_order([], {}) == []


def test_order_of_a_cycle_keeps_the_given_order_after_its_dependencies() -> None:
    # a <-> b, both need c; d needs the cycle.
    depends = {"a": ["b"], "b": ["a", "c"], "d": ["b"]}
    assert dependency_order(["d", "a", "b", "c"], depends) == ["c", "a", "b", "d"]
    assert dependency_order(["d", "b", "a", "c"], depends) == ["c", "b", "a", "d"]
    # Two cycles, one depending on the other; and a three-cycle.
    depends = {"x": ["y"], "y": ["x", "p"], "p": ["q"], "q": ["p"]}
    assert dependency_order(["x", "y", "p", "q"], depends) == ["p", "q", "x", "y"]
    depends = {"1": ["2"], "2": ["3"], "3": ["1"], "0": ["3"]}
    assert dependency_order(["0", "3", "2", "1"], depends) == ["3", "2", "1", "0"]


def _reaches(depends: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for d in depends[todo.pop()]:
            if d == goal:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def test_order_holds_on_random_graphs() -> None:
    rng = random.Random(3)
    for _ in range(300):
        names = [f"m{i}" for i in range(rng.randint(1, 12))]
        depends = {n: rng.sample(names, rng.randint(0, min(3, len(names)))) for n in names}
        ordered = dependency_order(names, depends)
        assert sorted(ordered) == sorted(names)
        where = f"{names} {depends} -> {ordered}"
        cycle = {
            n: {m for m in names if m == n or (_reaches(depends, n, m) and _reaches(depends, m, n))}
            for n in names
        }
        for name in names:
            for d in depends[name]:
                if d not in cycle[name]:
                    assert ordered.index(d) < ordered.index(name), where
            # The modules of a cycle go together, in the given order.
            members = [m for m in ordered if m in cycle[name]]
            first = ordered.index(members[0])
            assert ordered[first : first + len(members)] == members, where
            assert members == [m for m in names if m in members], where


def test_order_of_a_long_chain_needs_no_recursion() -> None:
    names = [f"m{i}" for i in range(5000)]
    chain = {names[i]: [names[i + 1]] for i in range(len(names) - 1)}
    assert dependency_order(names, chain) == names[::-1]
    chain[names[-1]] = [names[0]]  # one cycle of 5,000
    assert dependency_order(names, chain) == names


def test_order_refuses_repeated_names() -> None:
    with pytest.raises(ValueError, match="distinct"):
        dependency_order(["a", "a"], {})


# -- the graph of proxied modules ---------------------------------------------------------


def _shop(project: Project) -> None:
    project.write("models.py", "class Model:\n    version = 1\n\nHELPER = 'h'\n")
    project.write(
        "views.py",
        """
        from . import models
        from .models import Model as M, HELPER
        import json

        def lazy():
            from .models import Model
            return Model
        """,
    )
    project.write("star.py", "from .models import *\n")
    project.write("plain.py", "from . import models\nimport os.path\n")
    project.write("api.py", "from .views import M\n")


def test_dependencies_of_proxied_modules(project: Project, hook: hookreload.Hook) -> None:
    _shop(project)
    views = project.load("views")
    models = project.name("models")
    assert _graph.dependencies(record(views)) == {
        models: frozenset({"Model", "HELPER"}),
        "json": frozenset(),
    }
    # `from . import models` imports the submodule and takes nothing from the package.
    assert _graph.dependencies(record(project.load("plain"))) == {
        models: frozenset(),
        "os.path": frozenset(),
    }
    assert _graph.dependencies(record(project.load("star"))) == {models: frozenset({"*"})}
    # Everything, function-level imports included:
    assert Import(models, ("Model",), at_load=False) in _graph.imports(record(views))


def test_dependents_are_those_that_took_names(project: Project, hook: hookreload.Hook) -> None:
    _shop(project)
    loaded = {name: record(project.load(name)) for name in ("views", "star", "plain", "api")}
    models = record(project.load("models"))
    took = {
        name: _graph.dependencies(r).get(models.name)
        for name, r in loaded.items()
        if _graph.dependencies(r).get(models.name)
    }
    assert took == {"views": frozenset({"Model", "HELPER"}), "star": frozenset({"*"})}
    # api took names from views, not from models: it follows transitively.
    dependents = [r.name for r in _graph.dependents([models])]
    assert dependents == [project.name(n) for n in ("views", "star", "api")]


def test_a_module_no_longer_imported_is_not_an_importer(
    project: Project, hook: hookreload.Hook
) -> None:
    _shop(project)
    project.load("star")
    models = record(project.load("models"))
    assert [r.name for r in _graph.dependents([models])] == [project.name("star")]
    del sys.modules[project.name("star")]
    assert _graph.dependents([models]) == []


def test_order_of_proxied_modules(project: Project, hook: hookreload.Hook) -> None:
    # The package imports from its submodule, which takes a name from the package.
    project.write("__init__.py", "CONFIG = 1\nfrom .sub import thing\n")
    project.write("sub.py", "from . import CONFIG\nthing = CONFIG\n")
    project.write("lone.py", "X = 1\n")
    pkg = record(project.load())
    sub = record(project.load("sub"))
    lone = record(project.load("lone"))

    def order(*records: ModuleRecord) -> list[str]:
        return [r.name.rpartition(".")[2] for r in _graph.order(records)]

    assert order(lone, sub) == ["lone", "sub"]
    # A cycle goes together, its modules in the given order.
    assert order(pkg, lone, sub) == [project.package, "sub", "lone"]
    assert order(sub, lone, pkg) == ["sub", project.package, "lone"]
    # Where there is no cycle, the dependency wins over the given order.
    project.write("sub.py", "thing = 2\n")
    hookreload.reload(sub.proxy)
    assert order(pkg, lone, sub) == ["lone", "sub", project.package]


def test_version_1_is_read_through_the_loader_and_later_ones_from_their_code(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("a.py", "A = 1\n")
    project.write("b.py", "B = 1\n")
    project.write("mod.py", "from .a import A\n")
    rec = record(project.load("mod"))
    assert [i.module for i in _graph.imports(rec)] == [project.name("a")]
    project.write("mod.py", "from .b import B\n")
    hookreload.reload(rec.proxy)
    assert [i.module for i in _graph.imports(rec)] == [project.name("b")]
    # After a rollback, version 1's imports again (cached: the file says b).
    hookreload.rollback(rec.proxy)
    assert [i.module for i in _graph.imports(rec)] == [project.name("a")]


def test_imports_are_cached_per_version(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shop(project)
    names = ("models", "views", "star", "plain", "api")
    records = {name: record(project.load(name)) for name in names}
    scanned: list[str] = []
    real_scan = _graph.scan

    def counting_scan(code: types.CodeType, package: str) -> list[Import]:
        scanned.append(code.co_filename)
        return real_scan(code, package)

    monkeypatch.setattr(_graph, "scan", counting_scan)
    _graph.dependents([records["models"]])
    assert len(scanned) >= len(names)
    scanned.clear()
    _graph.dependents([records["models"]])
    assert scanned == []
    project.write("views.py", "from .models import Model\n")
    hookreload.reload(records["views"].proxy)
    _graph.dependents([records["models"]])
    assert scanned == [records["views"].source_path]


def test_a_file_broken_since_the_import_has_no_known_imports(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("a.py", "A = 1\n")
    path = project.write("mod.py", "from .a import A\n")
    rec = record(project.load("mod"))
    path.write_text("from .a import (\n")
    os.utime(path, (1, 1))  # a .pyc written at the import must not answer for it
    assert _graph.imports(rec) == ()
    path.write_text("from .a import A\n")
    assert [i.module for i in _graph.imports(rec)] == [project.name("a")]


def test_a_loader_without_get_code_is_read_from_the_source(
    project: Project, hook: hookreload.Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("a.py", "A = 1\n")
    project.write("mod.py", "from .a import A\n")
    rec = record(project.load("mod"))

    class NoCode:
        def exec_module(self, module: types.ModuleType) -> None:  # pragma: no cover
            raise AssertionError("not called")

    monkeypatch.setattr(rec, "loader", NoCode())
    assert _graph.imports(rec) == (Import(project.name("a"), ("A",)),)
