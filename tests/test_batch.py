"""Atomic batches: reload(a, b, c) builds every new version, then swaps them all or none."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

import hookreload
from hookreload import _watch
from tests.conftest import Project

TIMEOUT = 10.0  # seconds, per wait; a healthy test takes far less


def _shop(project: Project) -> tuple[object, object, object]:
    """models <- views <- api, each taking a name from the one before."""
    project.write("models.py", "class Model:\n    version = 1\n")
    project.write("views.py", "from .models import Model\nVIEW = ('view', Model.version)\n")
    project.write("api.py", "from .views import VIEW\nAPI = ('api', VIEW)\n")
    return project.load("models"), project.load("views"), project.load("api")


def _edit_shop(project: Project, n: int) -> None:
    project.write("models.py", f"class Model:\n    version = {n}\n")
    project.write(
        "views.py", f"from .models import Model\nVIEW = ('view', Model.version)\nV = {n}\n"
    )
    project.write("api.py", f"from .views import VIEW\nAPI = ('api', VIEW)\nA = {n}\n")


def test_a_batch_builds_each_module_against_the_new_versions_before_it(
    project: Project, hook: hookreload.Hook, events: list[hookreload.ReloadEvent]
) -> None:
    models, views, api = _shop(project)
    _edit_shop(project, 2)
    # Given in the reverse of the dependency order: built models, views, api.
    versions = hookreload.reload(api, project.name("views"), models)
    assert isinstance(versions, list)
    assert [(v.name, v.number) for v in versions] == [
        (project.name("api"), 2),
        (project.name("views"), 2),
        (project.name("models"), 2),
    ]
    assert api.API == ("api", ("view", 2))  # type: ignore[attr-defined]
    assert views.Model is models.Model  # type: ignore[attr-defined]
    names = (project.name("models"), project.name("views"), project.name("api"))
    assert [e.name for e in events] == list(names)
    assert all(e.ok and e.batch == names for e in events)
    assert all(v.batch == names for v in versions)


def test_one_target_still_returns_a_version(project: Project, hook: hookreload.Hook) -> None:
    models, _, _ = _shop(project)
    version = hookreload.reload(models)
    assert isinstance(version, hookreload.Version)
    assert version.batch == (project.name("models"),)
    with pytest.raises(TypeError, match="at least one module"):
        hookreload.reload()  # type: ignore[call-overload]


def test_if_one_fails_none_is_swapped_and_the_error_names_it(
    project: Project, hook: hookreload.Hook, events: list[hookreload.ReloadEvent]
) -> None:
    models, views, api = _shop(project)
    live = [hookreload.current(m) for m in (models, views, api)]  # type: ignore[arg-type]
    _edit_shop(project, 2)
    path = project.write("views.py", "from .models import Model\nraise ValueError('no view')\n")
    with pytest.raises(hookreload.ReloadError) as info:
        hookreload.reload(models, views, api)  # type: ignore[arg-type]
    error = info.value
    assert error.module == project.name("views")
    assert str(path) in str(error) and "ValueError" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert [hookreload.current(m) for m in (models, views, api)] == live  # type: ignore[arg-type]
    assert models.Model.version == 1  # type: ignore[attr-defined]
    assert all(type(m) is type(live[0]) for m in (models, views, api))  # windows closed
    # One event per module; the others say which module stopped the batch.
    assert [e.name for e in events] == [project.name(n) for n in ("models", "views", "api")]
    assert [e.ok for e in events] == [False, False, False]
    assert events[1].error is error
    for event in (events[0], events[2]):
        assert isinstance(event.error, hookreload.ReloadError)
        assert event.error.module == event.name
        assert f"its batch stopped at {project.name('views')!r}" in str(event.error)
        assert event.error.__cause__ is error
    assert not any(e.deferred for e in events)
    # Mended, the whole batch goes through.
    _edit_shop(project, 3)
    hookreload.reload(models, views, api)  # type: ignore[arg-type]
    assert api.API == ("api", ("view", 3))  # type: ignore[attr-defined]


def test_other_threads_see_the_old_versions_until_the_swap(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write(
        "sync.py", "import threading\nbuilt = threading.Event()\ngo = threading.Event()\n"
    )
    sync = project.load("sync")
    project.write("a.py", "X = 1\n")
    project.write("b.py", "from .a import X\nY = X\n")
    a, b = project.load("a"), project.load("b")
    project.write("a.py", "X = 2\n")
    project.write(
        "b.py",
        f"from .a import X\nfrom {project.package} import sync\nY = X\n"
        "sync.built.set()\nassert sync.go.wait(10)\n",
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            hookreload.reload(a, b)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert sync.built.wait(TIMEOUT)  # type: ignore[attr-defined]
        # a is built and b is executing: this thread still sees both old versions.
        assert (a.X, b.Y) == (1, 1)  # type: ignore[attr-defined]
    finally:
        sync.go.set()  # type: ignore[attr-defined]
        thread.join(TIMEOUT)
    assert not thread.is_alive() and errors == []
    assert (a.X, b.Y) == (2, 2)  # type: ignore[attr-defined]


def test_an_import_cycle_reloads_as_one_batch(project: Project, hook: hookreload.Hook) -> None:
    project.write("__init__.py", "CONFIG = 1\nfrom .sub import thing\n")
    project.write("sub.py", "from . import CONFIG\nthing = ('thing', CONFIG)\n")
    pkg = project.load()
    sub = project.load("sub")
    project.write("__init__.py", "CONFIG = 1\nfrom .sub import thing\nP = 2\n")
    project.write("sub.py", "from . import CONFIG\nthing = ('new thing', CONFIG)\n")
    versions = hookreload.reload(pkg, sub)
    assert [v.name for v in versions] == [project.package, project.name("sub")]
    assert pkg.thing == ("new thing", 1)  # type: ignore[attr-defined]
    assert pkg.sub is sub  # type: ignore[attr-defined]


def test_rollback_of_a_module_rolls_back_its_whole_batch(
    project: Project, hook: hookreload.Hook, events: list[hookreload.ReloadEvent]
) -> None:
    models, views, api = _shop(project)
    _edit_shop(project, 2)
    hookreload.reload(models, views)  # type: ignore[arg-type]
    hookreload.reload(api)  # type: ignore[arg-type]
    events.clear()
    version = hookreload.rollback(views)  # type: ignore[arg-type]
    assert (version.name, version.number) == (project.name("views"), 1)
    assert [v.number for v in hookreload.versions(models)] == [1]  # type: ignore[arg-type]
    assert models.Model.version == 1  # type: ignore[attr-defined]
    assert views.VIEW == ("view", 1)  # type: ignore[attr-defined]
    # api was reloaded on its own: not part of that batch, it stays.
    assert [v.number for v in hookreload.versions(api)] == [1, 2]  # type: ignore[arg-type]
    batch = (project.name("views"), project.name("models"))
    assert [(e.action, e.name, e.batch) for e in events] == [
        ("rollback", project.name("views"), batch),
        ("rollback", project.name("models"), batch),
    ]


def test_rollback_leaves_members_that_moved_on(project: Project, hook: hookreload.Hook) -> None:
    models, views, _ = _shop(project)
    _edit_shop(project, 2)
    hookreload.reload(models, views)  # type: ignore[arg-type]
    project.write("models.py", "class Model:\n    version = 3\n")
    hookreload.reload(models)  # type: ignore[arg-type]
    hookreload.rollback(views)  # type: ignore[arg-type]
    # models' live version came from a later reload: a rollback of views leaves it.
    assert models.Model.version == 3  # type: ignore[attr-defined]
    assert [v.number for v in hookreload.versions(views)] == [1]  # type: ignore[arg-type]


def test_rollback_of_a_batch_is_refused_whole(project: Project) -> None:
    hookreload.install(include=[project.package], keep=2)
    models, views, _ = _shop(project)
    hookreload.reload(models)  # type: ignore[arg-type]
    _edit_shop(project, 2)
    hookreload.reload(models, views)  # type: ignore[arg-type]
    hookreload.rollback(models)  # type: ignore[arg-type]
    # models keeps versions 1 and 2 (1 was dropped), views only its first.
    hookreload.reload(models, views)  # type: ignore[arg-type]
    numbers = [v.number for v in hookreload.versions(views)]  # type: ignore[arg-type]
    assert numbers == [1, 3]
    hookreload.rollback(views)  # type: ignore[arg-type]
    with pytest.raises(hookreload.ReloadError, match="oldest one kept"):
        hookreload.rollback(views)  # type: ignore[arg-type]


def test_the_watcher_applies_a_batch_atomically(
    project: Project, hook: hookreload.Hook, events: list[hookreload.ReloadEvent]
) -> None:
    models, views, api = _shop(project)
    project.write("models.py", "class Model:\n    version = 2\n")
    project.write("views.py", "from .models import Model\nVIEW = (\n")
    results = hookreload.reload_changed()
    assert [e.ok for e in results] == [False, False]
    assert models.Model.version == 1  # type: ignore[attr-defined]
    assert results[0].batch == (project.name("models"), project.name("views"))
    # The next good save of the broken file takes the whole batch.
    project.write("views.py", "from .models import Model\nVIEW = ('fixed', Model.version)\n")
    results = hookreload.reload_changed()
    assert [e.ok for e in results] == [True, True]
    assert views.VIEW == ("fixed", 2)  # type: ignore[attr-defined]
    assert api.API == ("api", ("view", 1))  # type: ignore[attr-defined]


def test_a_batch_in_patch_mode_binds_the_kept_objects_across_modules(
    project: Project,
) -> None:
    hookreload.install(include=[project.package], patch=True)
    project.write("base.py", "class Base:\n    def who(self):\n        return 'base 1'\n")
    project.write(
        "child.py",
        "from .base import Base\n\nclass Child(Base):\n    pass\n\nMADE = Base()\n",
    )
    base, child = project.load("base"), project.load("child")
    old_base = base.Base  # type: ignore[attr-defined]
    instance = child.Child()  # type: ignore[attr-defined]
    project.write("base.py", "class Base:\n    def who(self):\n        return 'base 2'\n")
    project.write(
        "child.py",
        "from .base import Base\n\nclass Child(Base):\n    X = 2\n\n"
        "class Extra(Base):\n    pass\n\nMADE = Base()\n",
    )
    events = []
    stop = hookreload.on_reload(events.append)
    try:
        hookreload.reload(child, base)
    finally:
        stop()
    assert [e.name for e in events] == [project.name("base"), project.name("child")]
    assert base.Base is old_base  # type: ignore[attr-defined]
    assert child.Base is old_base  # type: ignore[attr-defined]
    assert child.Extra.__bases__ == (old_base,)  # type: ignore[attr-defined]
    assert isinstance(child.MADE, old_base)  # type: ignore[attr-defined]
    assert instance.who() == "base 2" and instance.X == 2
    assert "Base" in events[0].patched


def _two_patched_modules(project: Project) -> tuple[types.ModuleType, types.ModuleType, Any]:
    """Modules ``a`` and ``b`` in patch mode, their files edited since; and ``a.f`` taken then."""
    hookreload.install(include=[project.package], patch=True)
    project.write("a.py", "def f():\n    return 'a1'\n")
    project.write("b.py", "def g():\n    return 'b1'\n")
    a, b = project.load("a"), project.load("b")
    f = a.f  # type: ignore[attr-defined]
    project.write("a.py", "def f():\n    return 'a2'\n")
    project.write("b.py", "def g():\n    return 'b2'\n")
    return a, b, f


def test_a_failed_patch_in_a_batch_undoes_the_others(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hookreload import _patch

    a, b, f = _two_patched_modules(project)
    real_apply = _patch.apply

    def apply(module: str, old_ns: dict[str, object], new_ns: dict[str, object]) -> _patch.Patch:
        if module == project.name("b"):
            raise RuntimeError("cannot patch b")
        return real_apply(module, old_ns, new_ns)

    monkeypatch.setattr(_patch, "apply", apply)
    with pytest.raises(hookreload.ReloadError, match="RuntimeError while patching") as info:
        hookreload.reload(a, b)
    assert info.value.module == project.name("b")
    assert f() == "a1" and a.f() == "a1" and b.g() == "b1"  # type: ignore[attr-defined]
    assert [v.number for v in hookreload.versions(a)] == [1]


def test_a_deferred_batch_changes_nothing_and_is_retried(project: Project) -> None:
    hookreload.install(include=[project.package], hold_timeout=0.05)
    models, views, _ = _shop(project)
    _edit_shop(project, 2)
    opened, close = threading.Event(), threading.Event()

    def hold() -> None:
        with hookreload.hold():
            opened.set()
            close.wait(TIMEOUT)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert opened.wait(TIMEOUT)
        results = hookreload.reload_changed()
        assert results and all(e.deferred and not e.ok for e in results)
        assert isinstance(results[0].error, hookreload.HoldTimeout)
        assert models.Model.version == 1  # type: ignore[attr-defined]
    finally:
        close.set()
        thread.join(TIMEOUT)
    # Nothing changed on disk since: the deferred files are tried again anyway.
    results = hookreload.reload_changed()
    assert [e.ok for e in results] == [True, True, True]
    assert views.V == 2  # type: ignore[attr-defined]


def test_the_watcher_keeps_paths_to_try_again(project: Project) -> None:
    hookreload.install(include=[project.package], watch=True, reload_in="safe-points")
    watcher = _watch.current()
    assert watcher is not None
    watcher._deferred["/nowhere/deferred.py"] = None
    watcher._blocked["/nowhere/blocked.py"] = None
    # Deferred: at the next pass, a tick included; blocked: with the next change.
    assert watcher._retry([]) == ["/nowhere/deferred.py"]
    assert watcher._retry([]) == []
    assert watcher._retry(["/nowhere/fix.py"]) == ["/nowhere/blocked.py"]
    watcher._deferred["/nowhere/fix.py"] = None
    assert watcher._retry(["/nowhere/fix.py"]) == []


def test_a_rollback_skips_members_no_longer_imported(
    project: Project, hook: hookreload.Hook
) -> None:
    models, views, _ = _shop(project)
    _edit_shop(project, 2)
    hookreload.reload(models, views)  # type: ignore[arg-type]
    del sys.modules[project.name("views")]
    hookreload.rollback(models)  # type: ignore[arg-type]
    assert models.Model.version == 1  # type: ignore[attr-defined]
    assert views.VIEW == ("view", 2)  # type: ignore[attr-defined]


def test_a_failed_revert_in_a_batch_rollback_puts_the_others_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hookreload import _patch

    a, b, f = _two_patched_modules(project)
    hookreload.reload(a, b)
    real_revert = _patch.Patch.revert

    def revert(self: _patch.Patch) -> None:
        if self.module == project.name("b"):
            raise RuntimeError("cannot revert b")
        real_revert(self)

    monkeypatch.setattr(_patch.Patch, "revert", revert)
    with pytest.raises(hookreload.ReloadError, match="while restoring") as info:
        hookreload.rollback(a)
    assert info.value.module == project.name("b")
    assert f() == "a2" and b.g() == "b2"  # type: ignore[attr-defined]
    assert [v.number for v in hookreload.versions(a)] == [1, 2]


def test_the_watcher_contains_what_a_batch_or_a_dependent_raises(
    project: Project, hook: hookreload.Hook, caplog: pytest.LogCaptureFixture
) -> None:
    from hookreload import _batch
    from hookreload._versions import resolve

    models, _, _ = _shop(project)
    project.write("models.py", "class Model:\n    version = 2\n")
    project.write("views.py", "from .models import Model\nraise KeyboardInterrupt\n")
    records = [resolve(models, "reload")]  # type: ignore[arg-type]
    events = _batch.reload_batch(records, dependents=True, contain=True)
    assert [(e.name, e.ok) for e in events] == [(project.name("models"), True)]
    assert "reloading 'hr_test_" in caplog.text and "KeyboardInterrupt" in caplog.text
    project.write("models.py", "raise KeyboardInterrupt\n")
    assert _batch.reload_batch(records, dependents=False, contain=True) == []
    with pytest.raises(KeyboardInterrupt):
        _batch.reload_batch(records, dependents=False)
    assert models.Model.version == 2  # type: ignore[attr-defined]


def test_the_watcher_thread_retries_a_deferred_batch_once_holds_close(project: Project) -> None:
    hookreload.install(include=[project.package], watch=True, hold_timeout=0.05)
    models, views, _ = _shop(project)
    _edit_shop(project, 2)
    _until(lambda: getattr(views, "V", None) == 2, "the watcher to reload")
    seen: list[hookreload.ReloadEvent] = []
    stop = hookreload.on_reload(seen.append)
    opened, close = threading.Event(), threading.Event()

    def hold() -> None:
        with hookreload.hold():
            opened.set()
            close.wait(TIMEOUT)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert opened.wait(TIMEOUT)
        _edit_shop(project, 3)
        _until(lambda: any(e.deferred for e in seen), "a deferred reload")
        assert models.Model.version == 2  # type: ignore[attr-defined]
        close.set()
        thread.join(TIMEOUT)
        _until(lambda: getattr(views, "V", None) == 3, "the retried reload")
    finally:
        close.set()
        thread.join(TIMEOUT)
        stop()
    assert models.Model.version == 3  # type: ignore[attr-defined]


def _until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
