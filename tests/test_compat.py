"""A proxied module behaves like a plain module, before and after reload and rollback.

Each test runs its checks at every stage of a module's life (see ``_stages``):
first import, after a reload, after a rollback, after a failed reload, after
reloading again. Where a plain module gives the reference answer, the same
source is loaded without the hook (``_plain``) and compared.
"""

from __future__ import annotations

import gc
import importlib
import importlib.resources
import importlib.util
import inspect
import logging
import pickle
import pkgutil
import sys
import textwrap
import types
import typing
import weakref
from collections.abc import Callable, Iterator
from dataclasses import fields
from unittest import mock

import pytest

import hookreload
from tests.conftest import Project

Source = Callable[[int], str]


def _stages(
    project: Project, source: Source, rel: str = "mod.py"
) -> Iterator[tuple[types.ModuleType, str, int]]:
    """Import ``source(1)``, then walk the module through reload, rollback and failure.

    Yields ``(proxy, stage, n)`` where ``source(n)`` is what the live version ran.
    """
    project.write(rel, source(1))
    mod = project.load("" if rel == "__init__.py" else rel)
    yield mod, "first import", 1
    project.write(rel, source(2))
    assert hookreload.reload(mod).number == 2
    yield mod, "after reload", 2
    assert hookreload.rollback(mod).number == 1
    yield mod, "after rollback", 1
    project.write(rel, textwrap.dedent(source(2)) + "\ndef broken(:\n")
    with pytest.raises(hookreload.ReloadError, match="SyntaxError"):
        hookreload.reload(mod)
    yield mod, "after a failed reload", 1
    project.write(rel, source(3))
    assert hookreload.reload(mod).number == 3
    yield mod, "after reloading again", 3


def _plain(project: Project, source: str, tag: str) -> types.ModuleType:
    """``source`` loaded as a plain module: spec_from_file_location bypasses every finder."""
    path = project.root / f"plain_{project.package}_{tag}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not hookreload.is_proxy(module)
    return module


def _basic(n: int) -> str:
    # Each version defines its own names (NAME_<n>) so that dir() must change.
    return f"""
    X = {n}
    NAME_{n} = {n}
    def get_x():
        return X
    """


# --- the module object itself -------------------------------------------------------


def test_is_a_module_of_exactly_module_type_at_every_stage(
    project: Project, hook: hookreload.Hook
) -> None:
    for mod, stage, n in _stages(project, _basic):
        assert isinstance(mod, types.ModuleType), stage
        # No window class left behind by a reload, a failed reload or a rollback.
        assert type(mod) is types.ModuleType, stage
        assert mod.__class__ is types.ModuleType, stage
        assert hookreload.is_proxy(mod), stage
        assert sys.modules[project.name("mod")] is mod, stage
        assert n == mod.X, stage


def test_dir_is_that_of_a_plain_module(project: Project, hook: hookreload.Hook) -> None:
    def callables(module: types.ModuleType) -> list[str]:
        return [name for name, value in vars(module).items() if callable(value)]

    for mod, stage, n in _stages(project, _basic):
        plain = _plain(project, _basic(n), str(n))
        assert dir(mod) == dir(plain), stage
        # Code that collects a module's callables finds the same (__loader__ is none).
        assert callables(mod) == callables(plain), stage
        assert f"NAME_{n}" in dir(mod), stage
        assert [name for name in dir(mod) if name.startswith("NAME_")] == [f"NAME_{n}"], stage


def test_repr_is_that_of_a_plain_module(project: Project, hook: hookreload.Hook) -> None:
    name = project.name("mod")
    path = str(project.path("mod.py"))
    for mod, stage, _ in _stages(project, _basic):
        assert repr(mod) == f"<module {name!r} from {path!r}>", stage
        assert str(mod) == repr(mod), stage


def test_dict_is_the_live_namespace(project: Project, hook: hookreload.Hook) -> None:
    for mod, stage, n in _stages(project, _basic):
        live = hookreload.current(mod)
        assert live is not mod, stage
        assert mod.__dict__ is live.__dict__, stage
        assert vars(mod) is mod.__dict__, stage
        assert mod.get_x.__globals__ is mod.__dict__, stage
        assert mod.__dict__["X"] == n, stage
        assert mod.__dict__["__name__"] == project.name("mod"), stage


def _lazy(n: int) -> str:
    return f"""
    import warnings

    def __getattr__(name):
        if name == "lazy_{n}":
            return {n}
        if name == "old":
            warnings.warn("old is deprecated in version {n}", DeprecationWarning, stacklevel=2)
            return -{n}
        raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}} (v{n})")
    """


def test_module_getattr(project: Project, hook: hookreload.Hook) -> None:
    for mod, stage, n in _stages(project, _lazy):
        assert getattr(mod, f"lazy_{n}") == n, stage
        other = 2 if n != 2 else 1
        with pytest.raises(AttributeError, match=rf"'missing' \(v{n}\)"):
            mod.missing  # noqa: B018
        assert getattr(mod, f"lazy_{other}", "default") == "default", stage
        assert not hasattr(mod, "missing"), stage


def _read_old(mod: types.ModuleType) -> object:
    return mod.old  # the line a stacklevel=2 warning from the module must blame


_READ_OLD_LINE = _read_old.__code__.co_firstlineno + 1


def test_module_getattr_warning_blames_the_caller(project: Project, hook: hookreload.Hook) -> None:
    for mod, stage, n in _stages(project, _lazy):
        with pytest.warns(DeprecationWarning, match=f"version {n}") as record:
            assert _read_old(mod) == -n
        [warning] = record.list
        # Not a frame of hookreload: the proxy adds no Python frame to the lookup.
        assert (warning.filename, warning.lineno) == (__file__, _READ_OLD_LINE), stage


def test_module_dir_function(project: Project, hook: hookreload.Hook) -> None:
    def source(n: int) -> str:
        return f"""
        def __dir__():
            return ["public_{n}", "shared"]
        """

    for mod, stage, n in _stages(project, source):
        assert dir(mod) == [f"public_{n}", "shared"], stage


def test_setattr_and_delattr_reach_the_functions_globals(
    project: Project, hook: hookreload.Hook
) -> None:
    for mod, stage, n in _stages(project, _basic):
        assert mod.get_x() == n, stage
        mod.X = 100 + n
        assert mod.get_x() == 100 + n, stage
        assert 100 + n == hookreload.current(mod).X, stage
        mod.ADDED = stage
        assert mod.get_x.__globals__["ADDED"] == stage
        del mod.X
        with pytest.raises(NameError):
            mod.get_x()
        assert "X" not in hookreload.current(mod).__dict__, stage
        with pytest.raises(AttributeError):
            del mod.X
        mod.X = n  # the next stage's rollback target expects its own value back


# --- classes defined in a proxied module --------------------------------------------


def _classes(n: int) -> str:
    return f"""
    import dataclasses

    class C:
        def __init__(self, value):
            self.value = value

    class Outer:
        class Inner:
            version = {n}

    @dataclasses.dataclass
    class D:
        x: int
        tag: str = "v{n}"
    """


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip_of_instances(
    project: Project, hook: hookreload.Hook, protocol: int
) -> None:
    for mod, stage, n in _stages(project, _classes):
        c = pickle.loads(pickle.dumps(mod.C(n), protocol))
        assert type(c) is mod.C, stage
        assert c.value == n, stage
        inner = pickle.loads(pickle.dumps(mod.Outer.Inner(), protocol))
        assert type(inner) is mod.Outer.Inner, stage
        assert inner.version == n, stage
        d = pickle.loads(pickle.dumps(mod.D(n), protocol))
        assert type(d) is mod.D, stage
        assert d == mod.D(n, f"v{n}"), stage


def test_pickling_the_module_itself_fails_as_for_a_plain_module(
    project: Project, hook: hookreload.Hook
) -> None:
    with pytest.raises(TypeError, match="module") as plain:
        pickle.dumps(_plain(project, _basic(1), "1"))
    for mod, stage, _ in _stages(project, _basic):
        with pytest.raises(TypeError) as proxied:
            pickle.dumps(mod)
        assert str(proxied.value) == str(plain.value), stage


def _dataclass_source(n: int) -> str:
    # Version 1 has no ClassVar and no z; later versions add both. The
    # annotations are strings, so dataclasses resolves "ClassVar" in the
    # namespace it finds through sys.modules[cls.__module__] while the
    # version executes: the old one would not know the name.
    later = n > 1
    return textwrap.dedent(f"""
        from __future__ import annotations
        import dataclasses
        {"from typing import ClassVar" if later else ""}

        class Sentinel:
            pass

        SENTINEL = Sentinel()

        @dataclasses.dataclass
        class P:
            x: int
            y: int = {n}
            {"z: int = 0" if later else ""}
            {"count: ClassVar[int] = 0" if later else ""}
        """)


def _refs_of_live_version(mod: types.ModuleType) -> tuple[weakref.ref[object], ...]:
    # A function, so that no frame of the test keeps the version's objects.
    return weakref.ref(hookreload.current(mod)), weakref.ref(mod.SENTINEL)


def test_dataclass_reload_adds_a_field_and_a_classvar(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", _dataclass_source(1))
    mod = project.load("mod")
    assert [f.name for f in fields(mod.P)] == ["x", "y"]
    first_version_refs = _refs_of_live_version(mod)
    project.write("mod.py", _dataclass_source(2))
    hookreload.reload(mod)

    assert [f.name for f in fields(mod.P)] == ["x", "y", "z"]
    assert mod.P.count == 0
    p = mod.P(1, z=3)
    assert (p.x, p.y, p.z) == (1, 2, 3)
    # The generated __init__ was compiled in the new version's namespace.
    assert mod.P.__init__.__globals__ is mod.__dict__

    for n in (3, 4):
        project.write("mod.py", _dataclass_source(n))
        hookreload.reload(mod)
    assert [v.number for v in hookreload.versions(mod)] == [3, 4]
    del p
    gc.collect()
    # Version 1 was released (keep=2) and nothing of a later version holds it.
    assert [ref() is None for ref in first_version_refs] == [True, True]
    assert mod.P(0).y == 4


def test_get_type_hints_resolves_names_only_the_new_version_defines(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "class C:\n    a: int\n")
    mod = project.load("mod")
    assert typing.get_type_hints(mod.C) == {"a": int}
    project.write(
        "mod.py",
        """
        from __future__ import annotations
        import typing

        def hinted(cls):
            # What class decorators do: resolve the hints while the module executes.
            cls.HINTS = typing.get_type_hints(cls)
            return cls

        class New:
            pass

        Alias = list[New]

        @hinted
        class C:
            a: New
            b: Alias
        """,
    )
    hookreload.reload(mod)
    assert {"a": mod.New, "b": list[mod.New]} == mod.C.HINTS
    assert typing.get_type_hints(mod.C) == {"a": mod.New, "b": list[mod.New]}
    hookreload.rollback(mod)
    assert typing.get_type_hints(mod.C) == {"a": int}


def test_inspect_getsource_and_getmodule(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "def f():\n    return 'first'\n\nclass C:\n    pass\n")
    mod = project.load("mod")
    assert inspect.getsource(mod.f) == "def f():\n    return 'first'\n"
    assert inspect.getmodule(mod.f) is mod
    assert inspect.getmodule(mod.C) is mod
    assert inspect.getmodule(mod.C()) is mod
    new_source = "X = 1\n\n\ndef f():\n    return 'the second one'\n\nclass C:\n    pass\n"
    project.write("mod.py", new_source)
    hookreload.reload(mod)
    assert inspect.getsource(mod.f) == "def f():\n    return 'the second one'\n"
    assert inspect.getsource(mod) == new_source
    assert inspect.getsourcefile(mod) == str(project.path("mod.py"))
    assert inspect.getmodule(mod.f) is mod
    assert inspect.getmodule(mod.C) is mod
    hookreload.rollback(mod)
    assert mod.f() == "first"
    assert inspect.getmodule(mod.f) is mod


# --- importlib.reload and unittest.mock ---------------------------------------------


def test_importlib_reload_makes_a_new_version(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    spec, loader = mod.__spec__, mod.__loader__
    project.write("mod.py", "X = 2\n")
    assert importlib.reload(mod) is mod
    assert mod.X == 2
    assert [v.number for v in hookreload.versions(mod)] == [1, 2]
    assert hookreload.is_proxy(mod)
    assert type(mod) is types.ModuleType
    assert sys.modules[project.name("mod")] is mod
    assert (mod.__spec__, mod.__loader__) == (spec, loader)
    project.write("mod.py", "X = 3\n")
    assert importlib.reload(mod) is mod
    assert mod.X == 3
    assert [v.number for v in hookreload.versions(mod)] == [2, 3]
    assert hookreload.rollback(mod).number == 2
    assert mod.X == 2


def test_importlib_reload_with_a_syntax_error_changes_nothing(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    live = hookreload.current(mod)
    spec, loader = mod.__spec__, mod.__loader__
    project.write("mod.py", "X = (\n")
    with pytest.raises(Exception) as info:  # noqa: PT011 - checked below
        importlib.reload(mod)
    # hookreload reports it as a ReloadError caused by the SyntaxError.
    assert isinstance(info.value, SyntaxError) or isinstance(info.value.__cause__, SyntaxError)
    assert hookreload.current(mod) is live
    assert [v.number for v in hookreload.versions(mod)] == [1]
    assert mod.__spec__ is spec
    assert mod.__loader__ is loader
    assert mod.X == 1
    assert type(mod) is types.ModuleType


def test_mock_patch_is_seen_by_the_module_and_restored(
    project: Project, hook: hookreload.Hook
) -> None:
    def source(n: int) -> str:
        return f"""
        X = {n}
        def helper():
            return "real {n}"
        def call_helper():
            return helper()
        def get_x():
            return X
        """

    name = project.name("mod")
    for mod, stage, n in _stages(project, source):
        original = mod.helper
        with mock.patch(f"{name}.helper", return_value="mocked") as patched:
            assert mod.call_helper() == "mocked", stage
        assert patched.call_count == 1
        assert mod.helper is original, stage
        assert mod.call_helper() == f"real {n}", stage
        with mock.patch(f"{name}.X", 99):
            assert mod.get_x() == 99, stage
        assert mod.get_x() == n, stage
        with mock.patch.object(mod, "X", 7):
            assert mod.get_x() == 7, stage
        assert mod.get_x() == n, stage
        with mock.patch(f"{name}.NEW", "created", create=True):
            assert mod.NEW == "created", stage
        assert not hasattr(mod, "NEW"), stage


# --- modules that manage their own sys.modules entry --------------------------------


def _subclassing(n: int, sentinel: bool = False) -> str:
    return f"""
    import sys
    import types

    class Sentinel:
        pass

    {"SENTINEL = Sentinel()" if sentinel else ""}

    class Sub(types.ModuleType):
        @property
        def answer(self):
            return ANSWER * 2

    ANSWER = {n}
    sys.modules[__name__].__class__ = Sub
    # While a reload executes, this thread must see the new version.
    SEEN = sys.modules[__name__].answer
    """


def test_module_subclass_set_through_sys_modules(project: Project, hook: hookreload.Hook) -> None:
    for mod, stage, n in _stages(project, _subclassing):
        assert type(mod) is mod.Sub, stage
        assert type(mod).__mro__ == (mod.Sub, types.ModuleType, object), stage
        assert isinstance(mod, types.ModuleType), stage
        assert hookreload.is_proxy(mod), stage
        assert mod.answer == 2 * n, stage
        assert 2 * n == mod.SEEN, stage
        assert type(hookreload.current(mod)) is mod.Sub, stage


def test_module_subclass_does_not_keep_old_versions_alive(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", _subclassing(1, sentinel=True))
    mod = project.load("mod")
    first_version_refs = _refs_of_live_version(mod)
    for n in (2, 3, 4):
        project.write("mod.py", _subclassing(n, sentinel=True))
        hookreload.reload(mod)
    assert mod.answer == 8
    gc.collect()
    assert [ref() is None for ref in first_version_refs] == [True, True]


@pytest.mark.parametrize("kind", ["object", "module"])
def test_module_replacing_its_sys_modules_entry_is_respected(
    project: Project, hook: hookreload.Hook, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    if kind == "object":
        replacement = "class _Replacement:\n    X = 1\n\nsys.modules[__name__] = _Replacement()\n"
    else:
        replacement = "_m = types.ModuleType(__name__)\n_m.X = 1\nsys.modules[__name__] = _m\n"
    project.write("mod.py", "import sys\nimport types\n\nX = 0\n" + replacement)
    caplog.set_level(logging.DEBUG, logger="hookreload")
    mod = project.load("mod")
    name = project.name("mod")
    assert mod is sys.modules[name]
    assert mod.X == 1
    assert not hookreload.is_proxy(mod)
    assert (type(mod) is types.ModuleType) is (kind == "module")
    namespace: dict[str, object] = {}
    exec(f"from {project.package} import mod as m", namespace)
    assert namespace["m"] is mod
    with pytest.raises(TypeError, match="not managed by hookreload"):
        hookreload.reload(name)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- imports between proxied modules ------------------------------------------------


def test_circular_imports_see_the_proxy(project: Project, hook: hookreload.Hook) -> None:
    project.write("b.py", "from . import a\nA_AT_IMPORT = a\ndef read_a():\n    return a.X\n")
    project.write("a.py", "from . import b\nX = 1\ndef via_b():\n    return b.read_a()\n")
    a = project.load("a")
    b = sys.modules[project.name("b")]
    assert hookreload.is_proxy(a) and hookreload.is_proxy(b)
    assert b.A_AT_IMPORT is a
    assert b.a is a
    assert a.b is b
    assert a.via_b() == 1

    # b calls back into a while a's new version executes: that thread sees it.
    project.write(
        "a.py", "from . import b\nX = 2\nSEEN = b.read_a()\ndef via_b():\n    return b.read_a()\n"
    )
    hookreload.reload(a)
    assert a.SEEN == 2
    assert a.via_b() == 2

    project.write("b.py", "from . import a\nA_AT_IMPORT = a\ndef read_a():\n    return a.X * 10\n")
    hookreload.reload(b)
    assert b.A_AT_IMPORT is a
    assert a.via_b() == 20
    hookreload.rollback(a)
    assert a.via_b() == 10
    assert b.a is a


def test_package_reload_keeps_submodules_and_relative_imports(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("other.py", "VALUE = 'other 1'\n")
    project.write("sub.py", "from .other import VALUE\ndef helper():\n    return VALUE\n")
    project.write("__init__.py", "from . import sub\nfrom .sub import helper\nNAME = 'pkg 1'\n")
    pkg = project.load()
    sub = sys.modules[project.name("sub")]
    other = sys.modules[project.name("other")]
    assert hookreload.is_proxy(pkg) and hookreload.is_proxy(sub) and hookreload.is_proxy(other)
    assert pkg.helper() == "other 1"

    project.write("__init__.py", "NAME = 'pkg 2'\n")
    hookreload.reload(pkg)
    assert pkg.NAME == "pkg 2"
    assert pkg.sub is sub
    assert pkg.other is other
    assert not hasattr(pkg, "helper")
    assert pkg.__path__ == [str(project.dir)]

    project.write("other.py", "VALUE = 'other 2'\n")
    hookreload.reload(other)
    project.write("sub.py", "from . import other\ndef helper():\n    return other.VALUE + '!'\n")
    hookreload.reload(sub)
    assert sub.helper() == "other 2!"
    assert sub.other is other

    project.write("__init__.py", "from .sub import helper\nNAME = 'pkg 3'\n")
    hookreload.reload(pkg)
    assert pkg.helper() == "other 2!"
    assert (pkg.sub, pkg.other) == (sub, other)
    hookreload.rollback(pkg)
    assert pkg.NAME == "pkg 2"
    assert (pkg.sub, pkg.other) == (sub, other)


def test_package_rollback_keeps_submodules_imported_since(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("sub.py", "X = 1\n")
    pkg = project.load()
    sub = project.load("sub")
    project.write("__init__.py", "NAME = 2\n")
    hookreload.reload(pkg)
    project.write("late.py", "Y = 1\n")
    late = project.load("late")
    assert pkg.late is late
    hookreload.rollback(pkg)
    assert pkg.sub is sub
    assert pkg.late is late


def test_importlib_resources_and_pkgutil_get_data(project: Project, hook: hookreload.Hook) -> None:
    (project.dir / "data.txt").write_text("some data")
    for pkg, stage, _ in _stages(project, lambda n: f"VERSION = {n}\n", rel="__init__.py"):
        assert hookreload.is_proxy(pkg), stage
        assert importlib.resources.files(pkg).joinpath("data.txt").read_text() == "some data"
        files = importlib.resources.files(project.name())
        assert files.joinpath("data.txt").read_bytes() == b"some data", stage
        assert pkgutil.get_data(project.name(), "data.txt") == b"some data", stage


def test_from_import_and_import_as_give_the_proxy(project: Project, hook: hookreload.Hook) -> None:
    package = project.package
    for mod, stage, n in _stages(project, _basic):
        namespace: dict[str, object] = {}
        exec(
            f"from {package} import mod as m1\n"
            f"import {package}.mod as m2\n"
            f"import {package}\n"
            f"m3 = {package}.mod\n"
            f"from {package}.mod import X\n",
            namespace,
        )
        assert namespace["m1"] is mod, stage
        assert namespace["m2"] is mod, stage
        assert namespace["m3"] is mod, stage
        assert namespace["X"] == n, stage
        assert importlib.import_module(project.name("mod")) is mod, stage


# --- live references and weak references --------------------------------------------


def _live_source(n: int) -> str:
    return f"""
    LIMIT = {n}0
    CONFIG = ("version", {n})

    def f():
        return {n}

    class C:
        @staticmethod
        def s():
            return {n}

        def method(self):
            return {n} * 100
    """


def test_live_follows_reloads_and_rollbacks(project: Project, hook: hookreload.Hook) -> None:
    name = project.name("mod")
    refs: dict[str, typing.Any] = {}
    for mod, stage, n in _stages(project, _live_source):
        if not refs:
            refs = {
                "f": hookreload.live(f"{name}:f"),
                "s": hookreload.live(mod, "C.s"),
                "method": hookreload.live(name, "C.method"),
                "limit": hookreload.live(mod, "LIMIT"),
                "config": hookreload.live(f"{name}:CONFIG"),
            }
        assert refs["f"]() == n, stage
        assert refs["f"].__wrapped__ is mod.f, stage
        assert refs["s"]() == n, stage
        assert refs["method"](mod.C()) == n * 100, stage
        assert not callable(refs["limit"]), stage
        assert refs["limit"] == n * 10, stage
        assert refs["limit"] + 1 == n * 10 + 1, stage
        assert refs["config"] == ("version", n), stage
        assert refs["config"].__wrapped__ is mod.CONFIG, stage


def test_live_imports_the_module_it_names(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", _live_source(1))
    name = project.name("mod")
    assert name not in sys.modules
    f = hookreload.live(f"{name}:f")
    assert hookreload.is_proxy(sys.modules[name])
    assert f() == 1


def test_live_reference_to_a_removed_name_keeps_its_target_and_warns(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    project.write("mod.py", "def g():\n    return 1\n")
    mod = project.load("mod")
    g = hookreload.live(mod, "g")
    first = mod.g
    project.write("mod.py", "def other():\n    return 2\n")
    with caplog.at_level(logging.WARNING, logger="hookreload"):
        hookreload.reload(mod)
    assert not hasattr(mod, "g")
    assert g() == 1
    assert g.__wrapped__ is first
    [record] = [r for r in caplog.records if r.name == "hookreload"]
    assert record.levelno == logging.WARNING
    assert "keeps its old target" in record.getMessage()
    assert f"{project.name('mod')}:g" in record.getMessage()

    project.write("mod.py", "def g():\n    return 3\n")
    hookreload.reload(mod)
    assert g() == 3
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hookreload"):
        hookreload.rollback(mod)
    # Version 2, live again, has no g either: the reference keeps version 3's.
    assert g() == 3
    assert "version 2" in caplog.records[0].getMessage()


def test_weak_references_to_the_proxy(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", _basic(1))
    mod = project.load("mod")
    ref = weakref.ref(mod)
    proxy = weakref.proxy(mod)
    registry: weakref.WeakValueDictionary[str, types.ModuleType] = weakref.WeakValueDictionary()
    registry["mod"] = mod
    for mod, stage, n in _stages(project, _basic):
        assert ref() is mod, stage
        assert n == proxy.X, stage
        assert registry["mod"] is mod, stage
    assert weakref.getweakrefcount(mod) >= 2


def test_every_live_reference_follows_even_to_equal_values(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", "def f():\n    return 1\nA = 10\nB = 10\n")
    mod = project.load("mod")
    f1, f2 = hookreload.live(mod, "f"), hookreload.live(f"{project.name('mod')}:f")
    a, b = hookreload.live(mod, "A"), hookreload.live(mod, "B")
    project.write("mod.py", "def f():\n    return 2\nA = 20\nB = 30\n")
    hookreload.reload(mod)
    assert (f1(), f2(), a, b) == (2, 2, 20, 30)


def test_live_reference_to_an_unhashable_value(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "CONFIG = {'version': 1}\nITEMS = [1]\n")
    mod = project.load("mod")
    config, items = hookreload.live(mod, "CONFIG"), hookreload.live(mod, "ITEMS")
    project.write("mod.py", "CONFIG = {'version': 2}\nITEMS = [2]\n")
    hookreload.reload(mod)
    assert (config["version"], items[0]) == (2, 2)
