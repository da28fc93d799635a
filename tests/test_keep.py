"""hookreload.keep(): a module-level object that every new version takes over."""

from __future__ import annotations

import pytest

import hookreload
from tests.conftest import Project

KEEPER = """
import hookreload

REVISION = {revision}
cache = hookreload.keep("cache", dict)
made = hookreload.keep("made", list)
made.append(REVISION)
"""


def test_the_first_import_calls_the_factory_and_reloads_take_the_object_over(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("keeper.py", KEEPER.format(revision=1))
    mod = project.load("keeper")
    first = mod.cache
    first["answer"] = 42
    project.write("keeper.py", KEEPER.format(revision=2))
    hookreload.reload(mod)
    assert mod.REVISION == 2
    assert mod.cache is first
    assert mod.cache == {"answer": 42}
    assert mod.made == [1, 2]  # one list, appended to by every version


def test_a_failed_reload_leaves_the_object_as_the_live_version_has_it(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("keeper.py", KEEPER.format(revision=1))
    mod = project.load("keeper")
    project.write("keeper.py", KEEPER.format(revision=2) + "raise RuntimeError('no')\n")
    with pytest.raises(hookreload.ReloadError):
        hookreload.reload(mod)
    # The failed version appended to the same list before it raised: keep()
    # shares objects, it does not copy them. The live version still has it.
    assert mod.REVISION == 1
    assert mod.made == [1, 2]


def test_a_name_the_live_version_lacks_is_made_by_the_factory(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("keeper.py", "X = 1\n")
    mod = project.load("keeper")
    project.write("keeper.py", KEEPER.format(revision=2))
    hookreload.reload(mod)
    assert mod.cache == {}
    assert mod.made == [2]


def test_rollback_and_a_later_reload_keep_the_same_object(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write("keeper.py", KEEPER.format(revision=1))
    mod = project.load("keeper")
    first = mod.cache
    project.write("keeper.py", KEEPER.format(revision=2))
    hookreload.reload(mod)
    hookreload.rollback(mod)
    project.write("keeper.py", KEEPER.format(revision=3))
    hookreload.reload(mod)
    assert mod.cache is first
    assert mod.made == [1, 2, 3]


def test_outside_a_managed_module_it_calls_the_factory() -> None:
    made: list[int] = []
    assert hookreload.keep("made", lambda: made) is made
    assert hookreload.keep("nothing_by_this_name", dict) == {}


@pytest.mark.parametrize(
    ("name", "factory", "error"),
    [("not a name", dict, ValueError), (3, dict, ValueError), ("x", 3, TypeError)],
)
def test_bad_arguments_are_refused(name: object, factory: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="keep"):
        hookreload.keep(name, factory)  # type: ignore[arg-type]
