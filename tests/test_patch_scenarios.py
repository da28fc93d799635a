"""Patch mode over whole edit sessions: jurigged's generated and watcher scenarios.

``test_generated`` in jurigged edits random modules of functions and classes
ten times and checks, after each merge, the module and a *shadow* of it
taken at the start (references to its functions and classes) against the
source. ``test_watch`` reloads through the watcher, survives a syntax
error and stops. ``test_update_statements`` keeps a list a program
appended to (jurigged does not re-run unchanged statements; hookreload
re-executes the module, so ``__reload__`` carries it), and
``test_bad_statement`` applies the rest of an edit around a bad statement
(hookreload keeps its all-or-nothing contract instead).
"""

from __future__ import annotations

import random
import time
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

import hookreload
from tests.conftest import Project
from tests.patching import edit, hook, load

__all__ = ["hook"]

SYLLABLES = [c + v for c in "bdfgjklmnprstvz" for v in "aeiou"]


@dataclass
class Function:
    name: str
    nargs: int
    nlines: int
    active: bool

    def source(self, indent: str = "") -> str:
        args = [chr(ord("a") + i) for i in range(self.nargs)]
        total = " + ".join(args) or "0"
        body = [f"acc = {total}", *(f"acc += {i}" for i in range(self.nlines)), "return acc"]
        lines = [f"def {self.name}({', '.join(args)}):", *(f"    {line}" for line in body)]
        return "\n".join(indent + line for line in lines) + "\n"

    def expected(self) -> int:
        return sum(range(self.nargs)) + sum(range(self.nlines))

    def changed(self, rng: random.Random) -> Function:
        if rng.random() > 0.3:
            return self
        active = not self.active if rng.random() < 0.1 else self.active
        return Function(self.name, rng.randint(0, 3), rng.randint(0, 5), active)


@dataclass
class Class:
    name: str
    methods: list[Function] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any(method.active for method in self.methods)

    def source(self) -> str:
        body = "".join("    @staticmethod\n" + m.source("    ") for m in self.methods if m.active)
        return f"class {self.name}:\n{body}"

    def changed(self, rng: random.Random) -> Class:
        methods = [method.changed(rng) for method in self.methods]
        rng.shuffle(methods)
        return Class(self.name, methods)


Item = Function | Class


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(4))


def _plan(rng: random.Random, count: int, classes: bool = True) -> list[Item]:
    items: list[Item] = []
    for _ in range(count):
        if classes and rng.random() < 0.2:
            methods = _plan(rng, rng.randint(1, 3), classes=False)
            items.append(Class(_name(rng), [m for m in methods if isinstance(m, Function)]))
        else:
            items.append(
                Function(_name(rng), rng.randint(0, 3), rng.randint(0, 5), rng.random() < 0.5)
            )
    return items


def _module_source(items: list[Item]) -> str:
    return "\n".join(item.source() for item in items if item.active)


def _check(items: list[Item], namespace: dict[str, Any], require_all: bool) -> None:
    for item in items:
        if not item.active:
            continue
        obj = namespace.get(item.name)
        if obj is None:
            assert not require_all, item.name
            continue
        if isinstance(item, Function):
            assert obj(*range(item.nargs)) == item.expected(), item
        else:
            members = vars(obj)
            for method in item.methods:
                if method.active and (require_all or method.name in members):
                    assert getattr(obj, method.name)(*range(method.nargs)) == method.expected()


def _shadow(module: types.ModuleType) -> dict[str, Any]:
    """References to what the module defines, as a program holds them."""
    shadow: dict[str, Any] = {}
    for name, value in vars(module).items():
        if isinstance(value, type):
            # A class's functions, taken one by one.
            members = {k: getattr(value, k) for k in vars(value) if not k.startswith("__")}
            shadow[name] = types.SimpleNamespace(**members)
        elif not name.startswith("__"):
            shadow[name] = value
    return shadow


def _prune(items: list[Item], shadow: dict[str, Any]) -> None:
    # As jurigged's prune(): what the source no longer defines leaves the shadow.
    active = {item.name: item for item in items if item.active}
    for name in list(shadow):
        item = active.get(name)
        if item is None:
            del shadow[name]
        elif isinstance(item, Class):
            keep = {m.name for m in item.methods if m.active}
            for member in [k for k in vars(shadow[name]) if k not in keep]:
                delattr(shadow[name], member)


@pytest.mark.parametrize("seed", range(12))
def test_random_edit_sequences(project: Project, hook: hookreload.Hook, seed: int) -> None:
    rng = random.Random(seed)
    items = _plan(rng, 5)
    mod = load(project, _module_source(items))
    _check(items, vars(mod), require_all=True)
    shadow = _shadow(mod)
    for _ in range(10):
        items = [item.changed(rng) for item in items]
        rng.shuffle(items)
        edit(project, mod, _module_source(items))
        _check(items, vars(mod), require_all=True)
        _prune(items, shadow)
        # What was taken at the start and is still defined runs the new code,
        # unless a version in between did not define it (then it was let go).
        _check(items, shadow, require_all=False)


def test_state_carried_by_reload_hook(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's test_update_statements, in hookreload's terms.
    source = """
        import math
        {names}
        betelgeuse = {betelgeuse}
        ursa_major = [1, 2, 3, 4]
        def sirius(x):
            return {body}
        def __reload__(old):
            global ursa_major
            ursa_major = old.ursa_major
    """
    mod = load(project, source.format(names="a = 1; b = 2", betelgeuse=1000, body="x * x"))
    sirius, stars = mod.sirius, mod.ursa_major
    stars.append(888)
    edit(
        project, mod, source.format(names="e = 11; f = 22", betelgeuse=41, body="math.ceil(x / 2)")
    )
    assert sirius(5) == 3
    assert mod.ursa_major is stars and stars == [1, 2, 3, 4, 888]
    assert mod.betelgeuse == 41
    assert not hasattr(mod, "a") and mod.e == 11


def test_a_bad_statement_stops_the_whole_edit(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's test_bad_statement applies the rest of the edit; hookreload's
    # contract is all or nothing: the live version stays, then the fix goes in.
    mod = load(project, "def lizard(n):\n    return 's' * n\n")
    lizard = mod.lizard
    project.write("mod.py", "x = this(wontwork)\ndef lizard(n):\n    return 's' * n * 2\n")
    with pytest.raises(hookreload.ReloadError, match="NameError"):
        hookreload.reload(mod)
    assert lizard(3) == "sss"
    edit(project, mod, "def lizard(n):\n    return 's' * n * 2\n")
    assert lizard(3) == "ssssss"


def test_values_that_are_not_functions_are_replaced_not_conformed(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's test_conform: conforming 1 to 2 does nothing, and does not crash.
    mod = load(project, "f1 = 1\ndef g():\n    return f1\n")
    edit(project, mod, "f1 = 2\ndef g():\n    return f1\n")
    assert (mod.f1, mod.g()) == (2, 2)


def _until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_watcher_patches_and_survives_a_syntax_error(project: Project) -> None:
    # jurigged's test_watch, with a reference taken before the edits.
    project.write("mod.py", "word = 'tyrant'\ndef say():\n    return word\n")
    with hookreload.install(include=[project.package], watch=True, poll=0.02, patch=True):
        mod = project.load("mod")
        say = mod.say
        events: list[hookreload.ReloadEvent] = []
        hookreload.on_reload(events.append)
        project.write("mod.py", "word = 'pirate\ndef say():\n    return word\n")
        assert _until(lambda: any(not e.ok for e in events))
        assert say() == "tyrant"
        project.write("mod.py", "word = 'pirate'\ndef say():\n    return word + '!'\n")
        assert _until(lambda: say() == "pirate!")
    project.write("mod.py", "word = 'nowatch'\ndef say():\n    return word\n")
    time.sleep(0.1)  # nothing may happen: there is nothing to poll for
    assert say() == "pirate!"
