"""Threads and asyncio tasks call into a module while it reloads and rolls back without pause.

The short run of stress/workload.py: ``make stress`` runs it for minutes.
Every answer a caller gets must come from one whole version (see the
workload's docstring); the counts are printed (``pytest -s``) and checked.
"""

from __future__ import annotations

import pytest

import hookreload
from stress.workload import hammer, source
from tests.conftest import Project

RELOADS = 120
SECONDS = 4.0  # whichever ends first: patch-mode reloads under load are slow (see below)


@pytest.mark.parametrize("patch", [False, True], ids=["normal", "patch"])
def test_callers_only_ever_see_whole_versions(project: Project, patch: bool) -> None:
    path = project.write("mod.py", source(1))
    with hookreload.install(include=[project.package], patch=patch):
        mod = project.load("mod")
        counts = hammer(mod, path, reloads=RELOADS, seconds=SECONDS)
        print(f"\n{'patch' if patch else 'normal'} mode: {counts.summary()}")
        assert (counts.errors, counts.unexpected) == (0, 0), counts.samples
        assert counts.torn == 0, counts.samples
        assert counts.reloads > 0
        assert counts.reloads + counts.failed_reloads <= RELOADS
        assert counts.rollbacks > 0, "no rollback ever ran between two reloads"
        assert counts.calls > 0
        assert len(counts.seen) > 1, "the callers never saw a reload"
        if patch:
            # References taken before the first reload follow the new code.
            assert len(counts.seen_by_references) > 1
        else:
            assert counts.seen_by_references == {1}
        assert mod.observe()[0] == mod.N == mod.MARK
