"""Bad input: every case raises a clear error and leaves the live version untouched."""

from __future__ import annotations

import logging
import os
import sys
import types
from pathlib import Path

import pytest

import hookreload
from tests.conftest import Project


@pytest.fixture
def mod(project: Project, hook: hookreload.Hook) -> types.ModuleType:
    project.write("mod.py", "X = 1\n")
    return project.load("mod")


def _assert_untouched(mod: types.ModuleType) -> None:
    assert mod.X == 1
    assert [v.number for v in hookreload.versions(mod)] == [1]
    assert type(mod) is types.ModuleType


def test_deleted_file(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").unlink()
    with pytest.raises(hookreload.ReloadError, match="source file is gone") as info:
        hookreload.reload(mod)
    assert info.value.module == mod.__name__
    assert info.value.filename == str(project.path("mod.py"))
    _assert_untouched(mod)


def test_file_replaced_by_a_directory(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").unlink()
    project.path("mod.py").mkdir()
    with pytest.raises(hookreload.ReloadError, match="now a directory"):
        hookreload.reload(mod)
    _assert_untouched(mod)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(project: Project, mod: types.ModuleType) -> None:  # pragma: no cover
    project.path("mod.py").chmod(0)
    with pytest.raises(hookreload.ReloadError, match="cannot be read"):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_unreadable_file_as_root(
    project: Project, mod: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == str(project.path("mod.py")):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("os.open", deny)
    with pytest.raises(hookreload.ReloadError, match="cannot be read .Permission denied"):
        hookreload.reload(mod)
    monkeypatch.undo()
    _assert_untouched(mod)


def test_source_that_does_not_decode(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").write_bytes(b"X = '\xff\xfe'\n")
    with pytest.raises(hookreload.ReloadError, match="cannot reload") as info:
        hookreload.reload(mod)
    assert "decode" in str(info.value) or "SyntaxError" in str(info.value)
    _assert_untouched(mod)


def test_encoding_declaration_not_followed(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").write_bytes(b"# -*- coding: ascii -*-\nX = '\xc3\xa9'\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_null_bytes(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").write_bytes(b"X = 2\x00\n")
    with pytest.raises(hookreload.ReloadError, match="cannot reload"):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_empty_file_is_a_valid_version(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").write_text("")
    hookreload.reload(mod)
    assert not hasattr(mod, "X")
    hookreload.rollback(mod)
    assert mod.X == 1


def test_deeply_nested_expression(project: Project, mod: types.ModuleType) -> None:
    project.path("mod.py").write_text("X = " + "(" * 200_000 + ")" * 200_000 + "\n")
    with pytest.raises(hookreload.ReloadError, match="cannot reload"):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_infinite_recursion_at_import(project: Project, mod: types.ModuleType) -> None:
    project.write("mod.py", "def f():\n    return f()\nf()\n")
    with pytest.raises(hookreload.ReloadError, match="RecursionError while executing"):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_missing_import(project: Project, mod: types.ModuleType) -> None:
    project.write("mod.py", "import no_such_module_anywhere\n")
    with pytest.raises(hookreload.ReloadError, match="ModuleNotFoundError") as info:
        hookreload.reload(mod)
    assert info.value.lineno == 1
    _assert_untouched(mod)


def test_source_swapped_for_a_link_elsewhere(
    project: Project, mod: types.ModuleType, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("X = 'evil'\n")
    project.path("mod.py").unlink()
    project.path("mod.py").symlink_to(elsewhere)
    with pytest.raises(hookreload.ReloadError, match="refusing to run it"):
        hookreload.reload(mod)
    _assert_untouched(mod)


def test_failure_is_logged(
    project: Project, mod: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    project.write("mod.py", "X = (\n")
    with caplog.at_level(logging.ERROR, logger="hookreload"), pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    [record] = [r for r in caplog.records if r.name == "hookreload"]
    assert mod.__name__ in record.getMessage()
    assert "keeping version 1" in record.getMessage()


def test_not_a_module() -> None:
    with pytest.raises(TypeError, match="cannot reload a value of type int"):
        hookreload.reload(3)  # type: ignore[arg-type]
    with pytest.raises(hookreload.NotProxiedError):
        hookreload.versions(3)  # type: ignore[arg-type]


def test_never_imported(hook: hookreload.Hook) -> None:
    with pytest.raises(TypeError, match="no module of that name is imported"):
        hookreload.reload("surely_not_imported_anywhere")


def test_builtin_module(hook: hookreload.Hook) -> None:
    with pytest.raises(TypeError, match="built-in module"):
        hookreload.rollback("sys")


def test_extension_module(hook: hookreload.Hook) -> None:
    import _decimal

    with pytest.raises(TypeError, match="extension or bytecode-only"):
        hookreload.current(_decimal)


def test_frozen_module(hook: hookreload.Hook) -> None:
    import zipimport

    if zipimport.__spec__.origin != "frozen":
        pytest.skip("zipimport is not frozen in this build")
    with pytest.raises(TypeError, match="frozen module"):
        hookreload.reload(zipimport)


def test_stdlib_module(hook: hookreload.Hook) -> None:
    import json

    with pytest.raises(TypeError, match="no include pattern names it"):
        hookreload.reload(json)
    hookreload.uninstall()
    with hookreload.install(), pytest.raises(TypeError, match="standard library"):
        hookreload.reload(json)


def test_deny_listed(hook: hookreload.Hook) -> None:
    hookreload.uninstall()
    with hookreload.install(include=["wrapt"]), pytest.raises(TypeError, match="deny-list"):
        hookreload.reload(sys.modules["hookreload"])


def test_excluded(project: Project) -> None:
    project.write("mod.py", "")
    with hookreload.install(exclude=[project.package]):
        mod = project.load("mod")
        with pytest.raises(TypeError, match="an exclude pattern names it"):
            hookreload.reload(mod)


def test_hook_not_installed(project: Project) -> None:
    project.write("mod.py", "")
    with pytest.raises(TypeError, match="hookreload is not installed"):
        hookreload.reload(project.load("mod"))


def test_module_made_by_hand() -> None:
    with pytest.raises(TypeError, match="no __spec__"):
        hookreload.reload(types.ModuleType("by_hand"))


def test_reload_during_first_import(project: Project, hook: hookreload.Hook) -> None:
    project.write(
        "selfish.py",
        """
        import sys, hookreload
        try:
            hookreload.current(sys.modules[__name__])
        except hookreload.ReloadError as exc:
            ERROR = str(exc)
        """,
    )
    assert "still being imported" in project.load("selfish").ERROR


def test_reload_during_first_import_is_refused(project: Project, hook: hookreload.Hook) -> None:
    project.write(
        "selfish.py",
        """
        import hookreload
        try:
            hookreload.reload(__name__)
        except hookreload.ReloadError as exc:
            ERROR = str(exc)
        """,
    )
    assert "still being imported" in project.load("selfish").ERROR


def test_share_namespace_refuses_what_is_not_a_module_or_dict() -> None:
    from hookreload._proxy import share_namespace

    with pytest.raises(TypeError):
        share_namespace(object(), {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a dict"):
        share_namespace(types.ModuleType("m"), types.MappingProxyType({}))  # type: ignore[arg-type]


def test_failed_first_import_is_not_a_proxy(project: Project, hook: hookreload.Hook) -> None:
    project.write("broken.py", "raise ValueError('at import')\n")
    with pytest.raises(ValueError, match="at import"):
        project.load("broken")
    assert project.name("broken") not in sys.modules
    project.write("broken.py", "X = 1\n")
    assert hookreload.is_proxy(project.load("broken"))


def test_source_gone_right_after_import(project: Project, hook: hookreload.Hook) -> None:
    path = project.write("mod2.py", "X = 1\n")
    mod = project.load("mod2")
    path.unlink()
    assert hookreload.is_proxy(mod)
    with pytest.raises(hookreload.ReloadError, match="source file is gone"):
        hookreload.reload(mod)
    [version] = hookreload.versions(mod)
    assert version.source_hash == "changed-since-import"


def test_the_watchers_own_library_is_never_proxied() -> None:
    # With include=None (the command's default) watchfiles is imported after
    # install(), by the watcher: it must stay a plain module.
    from hookreload._policy import Policy

    reason = Policy(None, None).reason_by_name("watchfiles.main")
    assert reason is not None and "deny-list" in reason and "watcher" in reason
