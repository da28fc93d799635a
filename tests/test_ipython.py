"""The IPython extension, in a real InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import hookreload
from tests.conftest import Project

IPython = pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402


@pytest.fixture(scope="module")
def ipython_shell() -> Iterator[Any]:
    # Module-scoped, so made before the per-test snapshot of sys.modules:
    # IPython's lazily imported classes must stay the same objects.
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def shell(ipython_shell: Any) -> Iterator[Any]:
    try:
        yield ipython_shell
    finally:
        ipython_shell.run_line_magic("unload_ext", "hookreload")
        ipython_shell.reset()


def run(shell: Any, cell: str) -> Any:
    result = shell.run_cell(cell)
    result.raise_error()
    return result.result


def test_cells_see_the_saved_code(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("mod.py", "def answer():\n    return 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    assert run(shell, "mod.answer()") == 1
    project.write("mod.py", "def answer():\n    return 2\n")
    assert run(shell, "mod.answer()") == 2
    assert f"hookreload: reloaded {project.name('mod')} v2" in capsys.readouterr().err


def test_a_broken_save_is_reported_and_the_cell_runs_on(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("mod.py", "X = 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    project.write("mod.py", "X = (\n")
    assert run(shell, "mod.X") == 1
    assert "SyntaxError" in capsys.readouterr().err
    project.write("mod.py", "X = 3\n")
    assert run(shell, "mod.X") == 3


def test_magic_status_reload_rollback_and_switch(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%load_ext hookreload")
    run(shell, "%hookreload")
    assert "no module is proxied yet" in capsys.readouterr().err
    project.write("mod.py", "X = 1\n")
    name = project.name("mod")
    run(shell, f"import {name} as mod")
    run(shell, "%hookreload off")
    project.write("mod.py", "X = 2\n")
    assert run(shell, "mod.X") == 1  # not reloaded before the cell
    run(shell, f"%hookreload reload {name}")
    assert run(shell, "mod.X") == 2
    run(shell, "%hookreload")
    table = capsys.readouterr().err
    assert name in table
    assert "v2" in table
    assert "1,2" in table
    run(shell, f"%hookreload rollback {name}")
    assert run(shell, "mod.X") == 1
    run(shell, f"%hookreload rollback {name}")
    run(shell, "%hookreload reload no.such.module")
    run(shell, "%hookreload frobnicate")
    err = capsys.readouterr().err
    assert "oldest one kept" in err
    assert "no module of that name is imported" in err
    assert "unknown arguments" in err
    run(shell, "%hookreload on")
    project.write("mod.py", "X = 4\n")
    assert run(shell, "mod.X") == 4


def test_loading_twice_registers_once(shell: Any) -> None:
    run(shell, "%load_ext hookreload")
    from hookreload import _ipython

    _ipython.load_ipython_extension(shell)
    assert len(_ipython._extensions) == 1
    assert hookreload._hook.active() is not None


# -- patch mode: IPython autoreload's own scenarios, through a real shell ------


def test_patch_mode_is_on_and_switches(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%load_ext hookreload")
    assert hookreload._hook.active().patch is True  # type: ignore[union-attr]
    run(shell, "%hookreload patch")
    run(shell, "%hookreload patch off")
    assert hookreload._hook.active().patch is False  # type: ignore[union-attr]
    run(shell, "%hookreload patch maybe")
    project.write("mod.py", "X = 1\n")
    run(shell, f"import {project.name('mod')}")
    run(shell, "%hookreload")
    run(shell, "%hookreload patch on")
    err = capsys.readouterr().err
    assert "patch mode is on" in err and "patch mode is off" in err
    assert "unknown arguments 'patch maybe'" in err
    assert "patch mode: off" in err
    assert hookreload._hook.active().patch is True  # type: ignore[union-attr]


def test_a_hook_installed_by_the_program_keeps_its_patch_setting(shell: Any) -> None:
    hookreload.install()
    run(shell, "%load_ext hookreload")
    assert hookreload._hook.active().patch is False  # type: ignore[union-attr]


def test_patch_magic_without_a_hook(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%load_ext hookreload")
    hookreload.uninstall()
    run(shell, "%hookreload patch on")
    assert "not installed" in capsys.readouterr().err


SMOKE_BEFORE = """
x = 9
z = 123  # this item will be deleted
def foo(y):
    return y + 3
class Baz(object):
    def __init__(self, x):
        self.x = x
    def bar(self, y):
        return self.x + y
    @property
    def quux(self):
        return 42
    def zzz(self):
        '''This method will be deleted below'''
        return 99
class Bar:
    def foo(self):
        return 1
"""

SMOKE_AFTER = """
x = 10
def foo(y):
    return y + 4
class Baz(object):
    def __init__(self, x):
        self.x = x
    def bar(self, y):
        return self.x + y + 1
    @property
    def quux(self):
        return 43
class Bar:
    def foo(self):
        return 2
"""


def test_autoreload_smoke_test(
    shell: Any, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # autoreload's _check_smoketest (its %autoreload 2 and %aimport variants).
    project.write("mod.py", SMOKE_BEFORE)
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    run(shell, "old_foo = mod.foo; old_obj = mod.Baz(9); old_obj2 = mod.Bar()")
    check_before = (
        "assert (mod.x, mod.z, old_foo(0), mod.foo(0)) == (9, 123, 3, 3)\n"
        "assert (old_obj.bar(1), mod.Baz(9).bar(1), old_obj.quux, old_obj.zzz()) == (10, 10, 42, 99)\n"
        "assert (old_obj2.foo(), mod.Bar().foo()) == (1, 1)\n"
    )
    run(shell, check_before)
    project.write("mod.py", "a syntax error\n")
    run(shell, "pass")
    assert capsys.readouterr().err.count("SyntaxError") == 1
    run(shell, "pass")  # the same broken file is not reported again
    assert "SyntaxError" not in capsys.readouterr().err
    run(shell, check_before)
    project.write("mod.py", SMOKE_AFTER)
    check_after = (
        "assert (mod.x, hasattr(mod, 'z'), old_foo(0), mod.foo(0)) == (10, False, 4, 4)\n"
        "assert (old_obj.bar(1), mod.Baz(9).bar(1), old_obj.quux, mod.Baz(9).quux) == (11, 11, 43, 43)\n"
        "assert not hasattr(old_obj, 'zzz') and not hasattr(mod.Baz(9), 'zzz')\n"
        "assert (old_obj2.foo(), mod.Bar().foo()) == (2, 2)\n"
    )
    run(shell, check_after)
    project.path("mod.py").unlink()
    run(shell, check_after)  # a deleted file reloads nothing
    run(shell, "%hookreload off")
    project.write("mod.py", "x = -99\n")
    run(shell, "pass")
    run(shell, check_after)
    run(shell, "%hookreload on")
    assert run(shell, "mod.x") == -99


def test_autoreload_enums_class_type_and_attributes(shell: Any, project: Project) -> None:
    # autoreload's test_reload_enums, test_reload_class_type, test_reload_class_attributes.
    project.write(
        "mod.py",
        """
        from enum import Enum
        class MyEnum(Enum):
            A = 'A'
            B = 'B'
        class Test():
            def meth(self):
                return "old"
        class MyClass:
            def __init__(self, a=10):
                self.a = a
                self.b = 22
            def square(self):
                return self.a * self.a
        """,
    )
    run(shell, "%load_ext hookreload")
    run(shell, f"from {project.name('mod')} import MyEnum, Test, MyClass")
    run(shell, "test = Test(); first = MyClass(5); a = MyEnum.A")
    project.write(
        "mod.py",
        """
        from enum import Enum
        class MyEnum(Enum):
            A = 'A'
            B = 'B'
            C = 'C'
        class Test():
            def meth(self):
                return "new"
        class MyClass:
            def __init__(self, a=10):
                self.a = a
                self.b = 11
            def power(self, p):
                return self.a ** p
        """,
    )
    run(shell, "import pickle, sys")
    assert run(shell, "MyEnum.C.value, a is MyEnum.A") == ("C", True)
    assert run(shell, "type(test) is getattr(sys.modules[type(test).__module__], 'Test')") is True
    assert run(shell, "pickle.loads(pickle.dumps(test)).meth()") == "new"
    run(shell, "second = MyClass(5)")
    assert run(shell, "first.power(2), second.power(2), first.b, second.b") == (25, 25, 22, 11)
    assert run(shell, "hasattr(first, 'square') or hasattr(second, 'square')") is False


def test_autoreload_3_star_import_brings_new_names(shell: Any, project: Project) -> None:
    # autoreload's test_autoload_newly_added_objects.
    project.write("mod.py", "def func1(): pass\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"from {project.name('mod')} import *")
    run(shell, "func1()")
    assert run(shell, "'func2' in dir(), 'number' in dir()") == (False, False)
    project.write(
        "mod.py",
        """
        def func1(): pass
        def func2(): pass
        class Test: pass
        number = 0
        from enum import Enum
        class TestEnum(Enum):
            A = 'a'
        """,
    )
    run(shell, "func2(); t = Test(); number; TestEnum.A")
    run(shell, f"import sys; sys.modules['{project.name('mod')}'].func2()")
    project.write(
        "mod.py",
        """
        def func1(): return 'changed'
        def func2(): return 'changed'
        class Test:
            def new_func(self):
                return 'changed'
        number = 1
        from enum import Enum
        class TestEnum(Enum):
            A = 'a'
            B = 'added'
        """,
    )
    run(shell, "assert func1() == 'changed' and func2() == 'changed'")
    run(shell, "assert t.new_func() == 'changed' and Test().new_func() == 'changed'")
    run(shell, "assert number == 1")
    run(shell, "assert TestEnum.B.value == 'added'")
    project.write(
        "ext.py",
        """
        from enum import Enum
        class Ext(Enum):
            A = 'ext'
        def ext_func():
            return 'ext'
        class ExtTest:
            def meth(self):
                return 'ext'
        ext_int = 2
        """,
    )
    project.write("mod.py", "from .ext import *\n")
    run(shell, "assert Ext.A.value == 'ext' and ext_func() == 'ext'")
    run(shell, "assert ExtTest().meth() == 'ext' and ext_int == 2")


@pytest.mark.parametrize(
    ("first_import", "new_source", "checks"),
    [
        # test_autoload3_import_Y_as_Z
        (
            "from {mod} import n as foo",
            "n = 100\ndef func2(): pass\ndef func1(): pass\nm = 5\n",
            "assert foo == 100 and 'n' not in dir() and 'func1' not in dir()",
        ),
        # test_autoload3_import_Y_as_Z_overloading
        (
            "from {mod} import n as foo",
            "n = 100\ndef func2(): pass\ndef func1(): pass\nfoo = 45\n",
            "assert foo == 100\nfrom {mod} import foo\nassert foo == 45",
        ),
        # test_autoload3_normalimport
        (
            "import {mod}",
            "n = 100\ndef func2(): pass\ndef func1(): pass\nm = 5\n",
            "{mod}.func1(); {mod}.func2()\nassert ({mod}.n, {mod}.m) == (100, 5)\n"
            "from {mod} import n\nassert n == 100",
        ),
        # test_autoload3_normalimport_2
        (
            "from {mod} import n\nimport {mod}",
            "n = 100\ndef func2(): pass\ndef func1(): pass\nm = 5\n",
            "{mod}.func1(); {mod}.func2()\nassert ({mod}.m, n) == (5, 100)",
        ),
        # test_autoload_3_does_not_add_all
        (
            "from {mod} import n",
            "n = 1\ndef func2(): pass\ndef func1(): pass\nm = 5\n",
            "assert not {{'func1', 'func2', 'm'}} & set(dir())\n"
            "from {mod} import m\nassert 'func1' not in dir()\n"
            "from {mod} import func1, func2\nfunc1(); func2()",
        ),
    ],
    ids=["import_as", "import_as_overloading", "normalimport", "normalimport_2", "not_all"],
)
def test_autoreload_3_from_imports(
    shell: Any, project: Project, first_import: str, new_source: str, checks: str
) -> None:
    project.write("mod.py", "def func1(): pass\nn = 1\n")
    mod = project.name("mod")
    run(shell, "%load_ext hookreload")
    run(shell, first_import.format(mod=mod))
    project.write("mod.py", new_source)
    run(shell, checks.format(mod=mod))


def test_the_latest_from_import_of_a_name_wins(shell: Any, project: Project) -> None:
    # autoreload's ImportFromTracker tests: conflicts, and one name imported twice.
    project.write("mod.py", "foo = 'original_foo'\nbar = 'original_bar'\n")
    mod = project.name("mod")
    run(shell, "%load_ext hookreload")
    run(shell, f"from {mod} import foo as bar")
    run(shell, f"from {mod} import bar")
    run(shell, f"from {mod} import foo as baz\nfrom {mod} import foo")
    project.write("mod.py", "foo = 'modified_foo'\nbar = 'modified_bar'\n")
    assert run(shell, "bar, baz, foo") == ("modified_bar", "modified_foo", "modified_foo")


def test_a_name_the_user_rebound_is_left_alone(shell: Any, project: Project) -> None:
    project.write("mod.py", "LIMIT = 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"from {project.name('mod')} import LIMIT")
    run(shell, "LIMIT = 'mine'")
    project.write("mod.py", "LIMIT = 2\n")
    assert run(shell, "LIMIT") == "mine"


def test_names_follow_reloads_made_by_the_magic(shell: Any, project: Project) -> None:
    project.write("mod.py", "LIMIT = 1\n")
    name = project.name("mod")
    run(shell, "%load_ext hookreload")
    run(shell, f"from {name} import LIMIT")
    run(shell, "%hookreload off")
    project.write("mod.py", "LIMIT = 2\n")
    run(shell, f"%hookreload reload {name}")
    assert run(shell, "LIMIT") == 2
    run(shell, f"%hookreload rollback {name}")
    assert run(shell, "LIMIT") == 1


def test_without_patch_mode_imported_names_stay(shell: Any, project: Project) -> None:
    project.write("mod.py", "LIMIT = 1\ndef f():\n    return 1\n")
    run(shell, "%load_ext hookreload")
    run(shell, "%hookreload patch off")
    run(shell, f"from {project.name('mod')} import LIMIT, f")
    project.write("mod.py", "LIMIT = 2\ndef f():\n    return 2\n")
    assert run(shell, "LIMIT, f()") == (1, 1)


def test_a_user_variable_named_in_does_not_matter(shell: Any, project: Project) -> None:
    # autoreload's test_autoreload_with_user_defined_In_variable.
    project.write("mod.py", "def hello():\n    return 'Hello'\n")
    run(shell, "%load_ext hookreload")
    run(shell, f"import {project.name('mod')} as mod")
    run(shell, "In = 'some_value'")
    project.write("mod.py", "def hello():\n    return 'Changed'\n")
    assert run(shell, "mod.hello()") == "Changed"


def test_imports_in_cells() -> None:
    from hookreload._ipython_imports import imports_in

    source = (
        "from a import b as c, d\n"
        "if x:\n    from e import *\n"
        "try:\n    pass\nexcept E:\n    from f import g\n"
        "def inner():\n    from h import i\n"
        "from . import rel\n"
    )
    assert imports_in(source) == [
        ("a", "b", "c"),
        ("a", "d", "d"),
        ("e", "*", "*"),
        ("f", "g", "g"),
    ]
    assert imports_in("from x import (") == []
    assert imports_in("x = 1") == []


def test_cells_that_fail_or_import_other_modules_bind_nothing(shell: Any, project: Project) -> None:
    project.write("mod.py", "LIMIT = 1\n")
    run(shell, "%load_ext hookreload")
    result = shell.run_cell(f"from {project.name('mod')} import LIMIT\nraise ValueError")
    assert not result.success
    run(shell, "from os import sep")
    project.write("mod.py", "LIMIT = 2\n")
    # The failed cell's import was not recorded: the name is left as it was.
    assert run(shell, "LIMIT") == 1


def test_a_cell_ipython_cannot_transform_binds_nothing() -> None:
    from hookreload import _ipython

    class Shell:
        def __init__(self) -> None:
            self.user_ns: dict[str, object] = {}

        def transform_cell(self, source: str) -> str:
            raise ValueError("cannot")

    class Result:
        success = True
        info = type("Info", (), {"raw_cell": "from a import b"})()

    extension = _ipython._Extension(Shell())
    extension.after_cell(Result())
    extension.after_cell(None)
    assert extension.imports.bound == {}
