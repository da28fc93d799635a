"""Random edits, reloads, rollbacks, patch-mode toggles and reads, checked against a model.

The model is a list of the versions kept (number, source text, and which
function object binds ``get``, the live one last) and the text on disk. Every
step of hypothesis' state machine does one thing to the real module and to the
model, then checks they agree.

Patch mode (``hook.patch``, switched at random) is modelled by function
identity: a reload in patch mode makes the new version bind the old ``get``
object, updated to the new code; without it the new version has a ``get`` of
its own. A rollback undoes the patch a reload made. References to ``get``
taken at random steps must answer what the model says their object runs.
"""

from __future__ import annotations

import importlib
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import hookreload

_names = itertools.count()
KEEP = 2


def good(value: int) -> str:
    # Every good source has the same size: edits within one second must
    # still be told apart, by content.
    return f"VALUE = {value}\n\n\ndef get():\n    return VALUE\n"


def _value(source: str) -> int:
    return int(source.split()[2])


BROKEN = {
    "syntax": "VALUE = (\n",
    "raises": "VALUE = 99\nraise RuntimeError('no')\n",
    "missing import": "import hr_no_such_module_anywhere\nVALUE = 98\n",
    "exit": "import sys\nVALUE = 97\nsys.exit(3)\n",
}


class Reloads(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="hr-model-"))
        self.package = f"hr_model_{next(_names)}"
        (self.root / self.package).mkdir()
        (self.root / self.package / "__init__.py").write_text("")
        self.path = self.root / self.package / "mod.py"
        self.disk = good(0)
        self.path.write_text(self.disk)
        self.modules_before = set(sys.modules)
        sys.path.insert(0, str(self.root))
        importlib.invalidate_caches()
        self.hook = hookreload.install(include=[self.package], keep=KEEP)
        try:
            self.mod = importlib.import_module(f"{self.package}.mod")
            # Hash version 1 now: its hash is taken lazily, and a later edit
            # would make it "changed since import" (see Version.source_hash).
            hookreload.versions(self.mod)[0].source_hash  # noqa: B018
        except BaseException:
            self.teardown()  # hypothesis only tears down machines it could build
            raise
        # (number, source, token of the `get` object the version binds)
        self.kept: list[tuple[int, str, int]] = [(1, self.disk, 0)]
        # What each `get` object answers now, by token.
        self.answers: dict[int, int] = {0: 0}
        # References to `get` taken along the way, with their object's token.
        self.taken: list[tuple[object, int]] = [(self.mod.get, 0)]
        self.last_number = 1
        # Whether the file was written since reload_changed() last looked.
        self.touched = False

    def teardown(self) -> None:
        self.hook.uninstall()
        sys.path.remove(str(self.root))
        for name in set(sys.modules) - self.modules_before:
            del sys.modules[name]
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the model -----------------------------------------------------------

    def _built(self) -> None:
        self.last_number += 1
        value = _value(self.disk)
        token = self.kept[-1][2] if self.hook.patch else max(self.answers) + 1
        self.answers[token] = value
        self.kept.append((self.last_number, self.disk, token))
        del self.kept[:-KEEP]

    def _rolled_back(self) -> None:
        dropped = self.kept.pop()
        live = self.kept[-1]
        if dropped[2] == live[2]:
            # That reload patched the live object: the rollback gives the old code back.
            self.answers[live[2]] = _value(live[1])

    @property
    def disk_is_good(self) -> bool:
        return self.disk not in BROKEN.values()

    # -- the steps -----------------------------------------------------------

    def _write(self, text: str) -> None:
        self.disk = text
        self.path.write_text(text)
        self.touched = True

    @rule(value=st.integers(0, 9))
    def write_good(self, value: int) -> None:
        self._write(good(value))

    @rule(kind=st.sampled_from(sorted(BROKEN)))
    def write_broken(self, kind: str) -> None:
        self._write(BROKEN[kind])

    @rule()
    def reload(self) -> None:
        if self.disk_is_good:
            version = hookreload.reload(self.mod)
            self._built()
            assert version.number == self.last_number
        else:
            with pytest.raises(hookreload.ReloadError, match=r"mod\.py") as caught:
                hookreload.reload(self.mod)
            assert f"keeping version {self.kept[-1][0]}" in str(caught.value)

    @rule()
    def rollback(self) -> None:
        if len(self.kept) > 1:
            version = hookreload.rollback(self.mod)
            self._rolled_back()
            assert version.number == self.kept[-1][0]
        else:
            with pytest.raises(hookreload.ReloadError):
                hookreload.rollback(self.mod)

    @rule()
    def reload_changed(self) -> None:
        # Only files written since the last call count, and only when their
        # content differs from the live version: a broken save is reported
        # once, not at every call, and a rollback is not undone.
        events = [e for e in hookreload.reload_changed() if e.name == self.mod.__name__]
        touched, self.touched = self.touched, False
        if not touched or self.disk == self.kept[-1][1]:
            assert events == []
            return
        assert len(events) == 1
        assert events[0].ok == self.disk_is_good, events[0]
        if self.disk_is_good:
            self._built()

    @rule(on=st.booleans())
    def toggle_patch(self, on: bool) -> None:
        self.hook.patch = on

    @precondition(lambda self: len(self.taken) < 8)
    @rule()
    def take_a_reference(self) -> None:
        # What `from mod import get` or a stored callback does.
        self.taken.append((self.mod.get, self.kept[-1][2]))

    @precondition(lambda self: self.disk_is_good)
    @rule()
    def importlib_reload(self) -> None:
        assert importlib.reload(self.mod) is self.mod
        self._built()

    # -- what must hold after every step ----------------------------------------

    @invariant()
    def the_live_version_answers(self) -> None:
        text = self.kept[-1][1]
        expected = _value(text)
        assert expected == self.mod.VALUE
        assert self.mod.get() == expected
        assert expected == hookreload.current(self.mod).VALUE
        assert sys.modules[self.mod.__name__] is self.mod

    @invariant()
    def references_taken_before_answer_as_their_object_runs(self) -> None:
        answers = [get() for get, _ in self.taken]  # type: ignore[operator]
        assert answers == [self.answers[token] for _, token in self.taken]
        # The same object exactly when the model says so.
        live_get = self.mod.get
        for get, token in self.taken:
            assert (get is live_get) == (token == self.kept[-1][2])

    @invariant()
    def the_versions_kept_are_the_model(self) -> None:
        assert [v.number for v in hookreload.versions(self.mod)] == [n for n, _, _ in self.kept]


Reloads.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, database=None
)
test_reloads_follow_the_model = Reloads.TestCase
