"""__unload__(): a replaced version lets go of what it holds, after the swap."""

from __future__ import annotations

import logging

import pytest

import hookreload
from tests.conftest import Project

# Each version records, in a list kept across versions, that its __unload__ ran.
SOURCE = """
import hookreload
LOG = hookreload.keep("LOG", list)
N = {n}

def __unload__():
    # The live version, by then, is the one that replaced this one.
    import sys
    LOG.append(("unload", N, sys.modules[__name__].N))
"""


def test_the_replaced_version_unloads_after_a_reload_and_a_rollback(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("mod.py", SOURCE.format(n=1))
    mod = project.load("mod")
    project.write("mod.py", SOURCE.format(n=2))
    hookreload.reload(mod)
    assert mod.LOG == [("unload", 1, 2)]  # type: ignore[attr-defined]
    hookreload.rollback(mod)
    assert mod.LOG == [("unload", 1, 2), ("unload", 2, 1)]  # type: ignore[attr-defined]


def test_a_failed_reload_unloads_nothing(project: Project, hook: hookreload.Hook) -> None:
    project.write("mod.py", SOURCE.format(n=1))
    mod = project.load("mod")
    project.write("mod.py", SOURCE.format(n=2) + "raise RuntimeError('broken')\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    assert mod.LOG == []  # type: ignore[attr-defined]


def test_unload_errors_are_logged_and_the_swap_stands(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    project.write("mod.py", "N = 1\ndef __unload__():\n    raise OSError('socket busy')\n")
    mod = project.load("mod")
    project.write("mod.py", "N = 2\n__unload__ = 'not callable'\n")
    assert hookreload.reload(mod).number == 2
    assert mod.N == 2  # type: ignore[attr-defined]
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "__unload__ of the replaced version 1 failed" in failed.getMessage()
    assert "socket busy" in (failed.exc_text or "")
    project.write("mod.py", "N = 3\n")
    hookreload.reload(mod)
    [warned] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "__unload__ is a str, not a function" in warned.getMessage()


def test_patch_mode_runs_the_old_versions_own_unload(project: Project) -> None:
    hookreload.install(include=[project.package], patch=True)
    project.write("mod.py", SOURCE.format(n=1))
    mod = project.load("mod")
    project.write("mod.py", SOURCE.format(n=2).replace('"unload"', '"unload v2"'))
    hookreload.reload(mod)
    # The patched function runs version 2's code; the hook called was version 1's.
    assert mod.LOG == [("unload", 1, 2)]  # type: ignore[attr-defined]


def test_every_replaced_module_of_a_batch_unloads(project: Project, hook: hookreload.Hook) -> None:
    project.write("a.py", SOURCE.format(n=1))
    project.write("b.py", SOURCE.format(n=10))
    a, b = project.load("a"), project.load("b")
    project.write("a.py", SOURCE.format(n=2))
    project.write("b.py", SOURCE.format(n=20))
    hookreload.reload(a, b)
    assert (a.LOG, b.LOG) == ([("unload", 1, 2)], [("unload", 10, 20)])  # type: ignore[attr-defined]


def test_a_callable_object_as_unload_is_called(project: Project, hook: hookreload.Hook) -> None:
    project.write(
        "mod.py",
        "import functools, hookreload\nLOG = hookreload.keep('LOG', list)\n"
        "__unload__ = functools.partial(LOG.append, 'closed')\n",
    )
    mod = project.load("mod")
    hookreload.reload(mod)
    assert mod.LOG == ["closed"]  # type: ignore[attr-defined]
