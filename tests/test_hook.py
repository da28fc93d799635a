"""install() / uninstall() and the finder: which modules become proxies."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import subprocess
import sys
import types
from collections.abc import Sequence

import pytest

import hookreload
from hookreload import _proxy
from hookreload._finder import HookFinder
from tests.conftest import LoaderFinder, Project


def test_install_puts_finder_first_and_uninstall_removes_it() -> None:
    before = list(sys.meta_path)
    hook = hookreload.install(include=["nothing_here"])
    assert sys.meta_path[0] is hook.finder
    assert hook.installed
    hook.uninstall()
    hook.uninstall()  # idempotent
    assert sys.meta_path == before
    assert not hook.installed


def test_install_is_idempotent_and_refuses_other_options() -> None:
    hook = hookreload.install(include=["a"], exclude=["a.b"])
    assert hookreload.install(include=["a"], exclude=["a.b"]) is hook
    assert sys.meta_path.count(hook.finder) == 1
    with pytest.raises(ValueError, match="already installed with other options"):
        hookreload.install(include=["other"])
    hookreload.uninstall()
    assert hookreload.install(include=["other"]) is not hook


def test_hook_is_a_context_manager() -> None:
    with hookreload.install(include=["a"]) as hook:
        assert hook.installed
        assert hook.include == ("a",)
        assert hook.exclude == ()
        assert "installed" in repr(hook)
    assert not hook.installed
    assert "uninstalled" in repr(hook)


@pytest.mark.parametrize("bad", [[""], [3], ["  "]])
def test_bad_patterns_are_refused(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="module-name patterns"):
        hookreload.install(include=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("keep", [0, -1, 1.5, True])
def test_bad_keep_is_refused(keep: object) -> None:
    with pytest.raises(ValueError, match="keep must be"):
        hookreload.install(keep=keep)  # type: ignore[arg-type]


def test_a_single_string_pattern_is_one_pattern(project: Project) -> None:
    with hookreload.install(include=project.package):
        project.write("mod.py", "X = 1\n")
        assert hookreload.is_proxy(project.load("mod"))


def test_package_pattern_covers_submodules_and_exclude_wins(project: Project) -> None:
    project.write("a.py", "")
    project.write("sub/b.py", "")
    project.write("sub/c.py", "")
    with hookreload.install(include=[project.package], exclude=[f"{project.package}.sub.c"]):
        assert hookreload.is_proxy(project.load())
        assert hookreload.is_proxy(project.load("a"))
        assert hookreload.is_proxy(project.load("sub/b"))
        assert not hookreload.is_proxy(project.load("sub/c"))


def test_fnmatch_patterns(project: Project) -> None:
    project.write("mod_one.py", "")
    project.write("other.py", "")
    with hookreload.install(include=[f"{project.package}.mod_*"]):
        assert hookreload.is_proxy(project.load("mod_one"))
        assert not hookreload.is_proxy(project.load("other"))


def test_default_proxies_source_modules_outside_stdlib(project: Project) -> None:
    project.write("mod.py", "X = 1\n")
    sys.modules.pop("colorsys", None)
    with hookreload.install():
        assert hookreload.is_proxy(project.load("mod"))
        import colorsys  # a pure-Python stdlib module

        assert not hookreload.is_proxy(colorsys)


def test_stdlib_is_proxied_when_included() -> None:
    sys.modules.pop("colorsys", None)
    with hookreload.install(include=["colorsys"]):
        import colorsys

        assert hookreload.is_proxy(colorsys)
        assert hookreload.reload(colorsys).number == 2


def test_modules_imported_before_install_are_left_alone(project: Project) -> None:
    project.write("early.py", "X = 1\n")
    early = project.load("early")
    with hookreload.install(include=[project.package]):
        assert importlib.import_module(project.name("early")) is early
        assert not hookreload.is_proxy(early)
        with pytest.raises(TypeError, match="imported before hookreload.install"):
            hookreload.reload(early)


def test_uninstalled_hook_leaves_proxies_working(project: Project) -> None:
    project.write("mod.py", "X = 1\n")
    with hookreload.install(include=[project.package]):
        mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    assert mod.X == 2


def test_namespace_packages_are_not_proxied(project: Project, hook: hookreload.Hook) -> None:
    (project.dir / "ns").mkdir()
    (project.dir / "ns" / "leaf.py").write_text("X = 1\n")
    importlib.invalidate_caches()
    ns = project.load("ns")
    leaf = project.load("ns/leaf")
    assert not hookreload.is_proxy(ns)
    assert hookreload.is_proxy(leaf)
    with pytest.raises(TypeError, match="namespace package"):
        hookreload.reload(ns)


class _Reentrant(importlib.abc.MetaPathFinder):
    """A finder behind hookreload that asks the whole meta path again."""

    def __init__(self) -> None:
        self.inner: list[object] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.endswith("reenter"):
            hook_finder = sys.meta_path[0]
            self.inner.append(hook_finder.find_spec(fullname, path))  # type: ignore[attr-defined]
        return None


def test_finder_does_not_recurse_into_itself(project: Project) -> None:
    project.write("reenter.py", "X = 1\n")
    reentrant = _Reentrant()
    sys.meta_path.insert(0, reentrant)
    with hookreload.install(include=[project.package]):
        mod = project.load("reenter")
    assert mod.X == 1
    assert hookreload.is_proxy(mod)
    # The nested call came back empty at once instead of asking the finders again.
    assert reentrant.inner == [None]


class _Transformer(importlib.machinery.SourceFileLoader):
    """A transforming loader (like an assertion rewriter) another finder returns."""

    def source_to_code(self, data, path, *, _optimize=-1):  # type: ignore[no-untyped-def,override]
        return compile(bytes(data).replace(b"ORIGINAL", b"TRANSFORMED"), path, "exec")


def test_other_import_hooks_keep_transforming_their_modules(project: Project) -> None:
    project.write("mod.py", "X = 'ORIGINAL'\n")
    sys.meta_path.insert(0, LoaderFinder(project.package, _Transformer))
    with hookreload.install(include=[project.package]):
        mod = project.load("mod")
    assert hookreload.is_proxy(mod)
    assert mod.X == "TRANSFORMED"
    project.write("mod.py", "X = 'ORIGINAL again'\n")
    hookreload.reload(mod)
    assert mod.X == "TRANSFORMED again"


class _ExecOnlyLoader(importlib.abc.Loader):
    """A loader with exec_module only, as pytest's assertion rewriter is."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.executed = 0

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        self.executed += 1
        with open(self.origin, encoding="utf-8") as f:
            exec(compile(f.read() + "\nEXEC_ONLY = True\n", self.origin, "exec"), module.__dict__)


class _ExecOnlyFinder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, origin: str) -> None:
        self.name = name
        self.loader = _ExecOnlyLoader(origin)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.loader.origin, loader=self.loader
        )


def test_loaders_without_source_to_code_execute_reloads_themselves(project: Project) -> None:
    path = project.write("mod.py", "X = 1\n")
    finder = _ExecOnlyFinder(project.name("mod"), str(path))
    sys.meta_path.insert(0, finder)
    with hookreload.install(include=[project.package]):
        mod = project.load("mod")
    project.write("mod.py", "X = 2\n")
    hookreload.reload(mod)
    assert (mod.X, mod.EXEC_ONLY, finder.loader.executed) == (2, True, 2)


def test_loader_delegates_other_methods(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", "X = 1\n")
    mod = project.load("mod")
    loader = mod.__loader__
    assert "hookreload loader" in repr(loader)
    assert loader.get_source(project.name("mod")) == "X = 1\n"
    assert loader.is_package(project.name("mod")) is False


def test_loader_refuses_loaders_without_exec_module() -> None:
    from hookreload._loader import HookLoader

    with pytest.raises(TypeError, match="exec_module"):
        HookLoader(object(), keep=2)


def test_finder_repr_and_invalidate_caches() -> None:
    finder = HookFinder(hookreload.install(include=["x"]).policy, keep=2)
    assert "include=('x',)" in repr(finder)
    finder.invalidate_caches()
    importlib.invalidate_caches()


def test_import_hookreload_changes_nothing() -> None:
    code = (
        "import sys, threading; before = (list(sys.meta_path), threading.active_count());"
        "import hookreload;"
        "assert (list(sys.meta_path), threading.active_count()) == before;"
        "assert 'wrapt' not in sys.modules and 'ctypes' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unsupported_interpreters_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    with pytest.raises(hookreload.HookreloadError, match="needs the GIL"):
        hookreload.install()
    monkeypatch.setattr(sys.implementation, "name", "pypy")
    with pytest.raises(hookreload.HookreloadError, match="needs CPython"):
        hookreload.install()


def test_unexpected_module_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_proxy, "_capi", None)
    monkeypatch.setattr(_proxy, "_DICT_OFFSET", _proxy._DICT_OFFSET + 8)
    with pytest.raises(hookreload.HookreloadError, match="module object layout"):
        _proxy.share_namespace(types.ModuleType("a"), {})


class _ObjectLoader(_ExecOnlyLoader):
    """A loader whose create_module() makes something that is not a module object."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return types.SimpleNamespace()  # type: ignore[return-value]


def test_non_module_objects_are_loaded_but_not_proxied(project: Project) -> None:
    path = project.write("odd.py", "X = 1\n")
    finder = _ExecOnlyFinder(project.name("odd"), str(path))
    finder.loader = _ObjectLoader(str(path))
    sys.meta_path.insert(0, finder)
    with hookreload.install(include=[project.package]):
        odd = project.load("odd")
    assert isinstance(odd, types.SimpleNamespace)
    assert odd.EXEC_ONLY is True
    assert not hookreload.is_proxy(odd)


class _PhantomLoader(importlib.abc.Loader):
    """A loader that names a source file that is not there (generated code)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.GENERATED = True


def test_modules_whose_source_file_is_missing_load_unproxied(project: Project) -> None:
    name = project.name("phantom")
    origin = str(project.path("phantom.py"))  # never written

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(
            self, fullname: str, path: object = None, target: object = None
        ) -> importlib.machinery.ModuleSpec | None:
            if fullname != name:
                return None
            return importlib.util.spec_from_file_location(name, origin, loader=_PhantomLoader())

    sys.meta_path.insert(0, Finder())
    with hookreload.install(include=[project.package]):
        phantom = project.load("phantom")
    assert phantom.GENERATED is True
    assert not hookreload.is_proxy(phantom)


def test_a_module_imported_through_a_link_reloads_from_its_target(
    project: Project, hook: hookreload.Hook
) -> None:
    target = project.dir.parent / "elsewhere_real.py"
    target.write_text("X = 1\n")
    project.path("linked.py").symlink_to(target)
    importlib.invalidate_caches()
    mod = project.load("linked")
    assert hookreload.is_proxy(mod)
    target.write_text("X = 2\n")
    hookreload.reload(mod)
    assert mod.X == 2


def test_real_file_resolves_the_folder_once(tmp_path: object) -> None:
    import os

    from hookreload._importlib_bootstrap import _real_file

    assert _real_file("/top.py") == "/top.py"
    assert _real_file("bare.py") == os.path.realpath("bare.py")
    assert _real_file(f"{tmp_path}/mod.py") == os.path.join(
        os.path.realpath(str(tmp_path)), "mod.py"
    )


def test_a_record_asked_for_during_the_first_import_gets_version_one(
    project: Project, hook: hookreload.Hook
) -> None:
    # The registry builds records lazily; one built while the module still
    # executes must still receive version 1 when the execution ends.
    project.write(
        "early.py",
        """
        import sys
        import hookreload
        SEEN = hookreload.is_proxy(sys.modules[__name__])
        """,
    )
    mod = project.load("early")
    assert mod.SEEN is True
    assert [v.number for v in hookreload.versions(mod)] == [1]
    assert hookreload.versions(mod)[0].duration_s >= 0
    project.write("early.py", "SEEN = 'again'\n")
    assert hookreload.reload(mod).number == 2
    assert mod.SEEN == "again"


def test_an_unasked_proxy_leaves_the_registry_when_it_dies(
    project: Project, hook: hookreload.Hook
) -> None:
    import gc

    from hookreload import _versions

    project.write("gone.py", "X = 1\n")
    mod = project.load("gone")
    key = id(mod)
    entry = _versions._records[key]
    assert entry is mod.__loader__  # the registry entry is the module's loader
    assert entry._record is None  # never asked for: no record built
    del sys.modules[mod.__name__], sys.modules[project.package].gone, mod
    gc.collect()
    assert key not in _versions._records
