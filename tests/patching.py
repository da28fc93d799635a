"""Helpers for the patch-mode tests (tests/test_patch*.py)."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest

import hookreload
from tests.conftest import Project


@pytest.fixture
def hook(project: Project) -> Iterator[hookreload.Hook]:
    """The hook, installed in patch mode (overrides the conftest fixture of that name)."""
    with hookreload.install(include=[project.package], patch=True) as installed:
        yield installed


def load(project: Project, source: str, rel: str = "mod.py") -> types.ModuleType:
    """Write ``rel`` and import it."""
    project.write(rel, source)
    return project.load(rel)


def edit(
    project: Project, module: types.ModuleType, source: str, rel: str = "mod.py"
) -> hookreload.ReloadEvent:
    """Save new content and reload; the reload's event (raises if it failed)."""
    project.write(rel, source)
    events: list[hookreload.ReloadEvent] = []
    stop = hookreload.on_reload(events.append)
    try:
        hookreload.reload(module)
    finally:
        stop()
    return events[0]
