"""Patch mode: after a reload, the old version's functions and classes take the new code.

``install(patch=True)``. A reload builds the new version as always; then,
before the switch, every function and class that the old version defined
and the new one defines again (same qualified name) is updated in place,
and the new namespace binds those old objects instead of its own, so
references taken before the reload (``from mod import f``, bound methods,
instances, registries, ``isinstance``, pickle) follow the new code.

Patching is part of the version: every change is a step that knows how to
undo itself. A failure part-way undoes the steps done, in reverse order,
and the reload fails with nothing changed; ``rollback()`` undoes the live
version's steps, so the previous version's objects run its code again.

The work is split by what is patched: ``_patch_match`` pairs old and new
objects, ``_patch_functions`` and ``_patch_classes`` capture and put back
their state, ``_patch_refs`` points the new version's own references at the
objects it keeps.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import weakref

from . import _log
from ._patch_classes import (
    InstanceState,
    after_patch,
    class_state,
    new_class_state,
    put_class_state,
)
from ._patch_functions import FunctionState
from ._patch_match import CLASS, FUNCTION, INSTANCE, WRAPPER, WRAPPER_FUNCTION, Matcher
from ._patch_refs import Relinker, empty_unused

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from ._versions import ModuleRecord, Version


class Report:
    """What one patch did, by qualified name within the module (``f``, ``Cls.method``).

    Attributes:
        patched: functions, classes and instances updated in place.
        added: functions and classes the new version defines and the old did not.
        removed: functions and classes the old version defined and the new does not.
        replaced: name -> why it could not be patched; the new object is bound
            instead, and references taken before keep the old one.
    """

    __slots__ = ("added", "patched", "removed", "replaced")

    def __init__(
        self,
        patched: tuple[str, ...] = (),
        added: tuple[str, ...] = (),
        removed: tuple[str, ...] = (),
        replaced: dict[str, str] | None = None,
    ) -> None:
        self.patched = patched
        self.added = added
        self.removed = removed
        self.replaced = dict(replaced or {})

    def summary(self) -> str:
        """``patched 3, added 1`` (empty when nothing was patched)."""
        counts = [
            (len(self.patched), "patched"),
            (len(self.added), "added"),
            (len(self.removed), "removed"),
            (len(self.replaced), "replaced"),
        ]
        return ", ".join(f"{word} {count}" for count, word in counts if count)


class _Step:
    """One change to one object, with its way back. ``apply`` and ``revert`` are idempotent."""

    __slots__ = ("after", "before", "target")

    def __init__(self, target: Any, before: Any, after: Any) -> None:
        self.target = target
        self.before = before
        self.after = after

    def put(self, state: Any) -> None:  # pragma: no cover - every step overrides it
        raise NotImplementedError

    def apply(self) -> None:
        self.put(self.after)

    def revert(self) -> None:
        self.put(self.before)


class _FunctionStep(_Step):
    __slots__ = ()

    def put(self, state: FunctionState) -> None:
        state.put(self.target)


class _ClassStep(_Step):
    __slots__ = ()

    def put(self, state: dict[str, Any]) -> None:
        put_class_state(self.target, state)


class _BasesStep(_Step):
    __slots__ = ()

    def put(self, state: tuple[type, ...]) -> None:
        if self.target.__bases__ != state:
            self.target.__bases__ = state


class _InstanceStep(_Step):
    __slots__ = ()

    def put(self, state: InstanceState) -> None:
        state.put(self.target)


class _WrappedStep(_Step):
    __slots__ = ()

    def put(self, state: Any) -> None:
        if self.target.__wrapped__ is not state:
            self.target.__wrapped__ = state


class Patch:
    """The steps one reload applied, kept with its version for ``rollback()``."""

    def __init__(self, module: str, report: Report) -> None:
        self.module = module
        self.report = report
        self.steps: list[_Step] = []
        # Until release(): cache clearings, the new classes whose old ones are kept.
        self.after: list[Callable[[], None]] = []
        self.discarded: list[type] = []
        self.kept: set[int] = set()

    def run(self, step: _Step) -> None:
        """Apply ``step``; if it fails, put its object back before the error goes on."""
        try:
            step.apply()
        except BaseException:
            step.revert()
            raise
        self.steps.append(step)

    def revert(self) -> None:
        """Undo every step, last first; if one fails, redo what was undone and raise.

        For a rollback: the live version stays whole if it cannot be undone.
        """
        undone: list[_Step] = []
        try:
            for step in reversed(self.steps):
                step.revert()
                undone.append(step)
        except BaseException:
            for step in reversed(undone):
                step.apply()
            raise

    def undo(self) -> None:
        """Undo every step, last first, whatever fails: a reload is failing already."""
        for step in reversed(self.steps):
            try:
                step.revert()
            except Exception:  # logged: the reload's own error is the one raised
                _log.logger().exception(
                    "%s: could not undo patching %r after a failed reload", self.module, step.target
                )


def apply(module: str, old_ns: dict[str, Any], new_ns: dict[str, Any]) -> Patch:
    """Patch the objects of ``old_ns`` that ``new_ns`` defines again, and bind them in ``new_ns``.

    Raises whatever stopped it, after undoing every change to the old objects.
    """
    matcher = Matcher(module, old_ns, new_ns)
    matcher.match()
    patch = Patch(module, Report())
    try:
        _settle_classes(matcher, patch)
        matcher.pair_instances()
        matcher.note_replacements()
        added, removed = matcher.changes()
        after = _apply_pairs(matcher, patch)
        _bind(matcher, new_ns)
        # Only the new version's own objects change from here on (a failure
        # throws them away with it), and those the old objects now hold.
        classes = {id(pair.new): pair.old for pair in matcher.of_kind(CLASS)}
        Relinker(module, matcher.translate, classes).run([new_ns, *_kept(matcher)])
    except BaseException:
        patch.undo()
        raise
    patch.after = after
    patch.report = Report(
        tuple(dict.fromkeys(pair.name for pair in matcher.pairs if pair.kind in _REPORTED)),
        tuple(added),
        tuple(removed),
        matcher.replaced,
    )
    patch.discarded = [pair.new for pair in matcher.of_kind(CLASS)]
    patch.kept = {id(pair.old) for pair in matcher.pairs}
    return patch


def release(patch: Patch, new_ns: dict[str, Any]) -> None:
    """Once the patch is committed: clear stale caches, let the new classes it did not keep go.

    Call it from a frame that holds none of those classes.
    """
    _run_after(patch)
    handover, patch.discarded = patch.discarded, []
    kept, patch.kept = patch.kept, set()
    empty_unused(handover, new_ns, kept)


def _run_after(patch: Patch) -> None:
    # A frame of its own: its hooks hold the new classes, which must be let
    # go before empty_unused() counts who holds them.
    hooks, patch.after = patch.after, []
    for hook in hooks:
        try:
            hook()
        except Exception:  # a cache left as it was: logged, the reload stands
            _log.logger().exception("%s: clearing a cache after patching failed", patch.module)


_REPORTED = (FUNCTION, CLASS, INSTANCE)


def _settle_classes(matcher: Matcher, patch: Patch) -> None:
    """Drop the classes that cannot be patched; give the others their new bases."""
    while True:
        matcher.drop_incompatible_classes()
        rebased = False
        for pair in matcher.of_kind(CLASS):
            bases = tuple(map(matcher.translate, pair.new.__bases__))
            if bases == pair.old.__bases__:
                continue
            try:
                # Atomic: CPython leaves the class as it was when it refuses.
                patch.run(_BasesStep(pair.old, pair.old.__bases__, bases))
            except TypeError as exc:
                matcher.drop(pair, f"its bases changed and cannot change in place ({exc})")
                rebased = True
                break
        if not rebased:
            return


def _apply_pairs(matcher: Matcher, patch: Patch) -> list[Callable[[], None]]:
    """Apply the steps of every pair; return what to do once all of them are done."""
    translate = matcher.translate
    after: list[Callable[[], None]] = []
    for pair in list(matcher.pairs):
        old, new = pair.old, pair.new
        if pair.kind == FUNCTION:
            patch.run(_FunctionStep(old, FunctionState(old), FunctionState(new, translate)))
        elif pair.kind == WRAPPER_FUNCTION:
            wrapper = FunctionState(new, translate, code_of=old)
            patch.run(_FunctionStep(old, FunctionState(old), wrapper))
        elif pair.kind == CLASS:
            patch.run(_ClassStep(old, class_state(old), new_class_state(old, new, translate)))
            after.append(functools.partial(after_patch, old, new, translate))
        elif pair.kind == INSTANCE:
            patch.run(_InstanceStep(old, InstanceState(old), InstanceState(new, translate)))
        elif pair.kind == WRAPPER:
            wrapped = translate(new.__wrapped__)
            if wrapped is not old.__wrapped__:
                patch.run(_WrappedStep(old, old.__wrapped__, wrapped))
            clear = getattr(old, "cache_clear", None)
            if callable(clear):
                # An lru_cache around a patched function: its results are stale.
                after.append(clear)
    return after


def _bind(matcher: Matcher, new_ns: dict[str, Any]) -> None:
    """Make the new namespace bind the kept objects instead of its own."""
    for key, value in list(new_ns.items()):
        kept = matcher.translate(value)
        if kept is not value:
            new_ns[key] = kept


def _kept(matcher: Matcher) -> Iterator[Any]:
    """The old objects now holding new objects: where the relinking walk starts."""
    return (pair.old for pair in matcher.pairs)


# -- rollback: the patches of the versions kept ---------------------------------

# record -> {version number: the patch that built it from the one before}.
_patches: weakref.WeakKeyDictionary[ModuleRecord, dict[int, Patch]] = weakref.WeakKeyDictionary()


def remember(record: ModuleRecord, version: Version, patch: Patch | None) -> None:
    """Keep ``patch`` for a rollback of ``version``, which is about to be pushed.

    Only the patches of versions whose predecessor stays are kept: the
    others can never be rolled back, and their steps hold the code of the
    previous version, which pins its namespace (see ``_proxy._pin``). They
    go before the push releases old versions, so the release can free them.
    """
    kept = [v.number for v in (*record.history, version)][-record.keep :]
    patches = _patches.setdefault(record, {})
    if patch is not None:
        patches[version.number] = patch
    for number in [n for n in patches if n not in kept[1:]]:
        del patches[number]


def recall(record: ModuleRecord, version: Version) -> Patch | None:
    """The patch that built ``version``, if it was built in patch mode and is kept."""
    return _patches.get(record, {}).get(version.number)


def forget(record: ModuleRecord, version: Version) -> None:
    _patches.get(record, {}).pop(version.number, None)


# -- atomicity for other threads --------------------------------------------------

_atomic_lock = threading.Lock()
_atomic_depth = 0
_saved_interval = 0.0
# The window in which no other thread runs: three times the longest patch
# seen (a 1,000-line module patches in ~6 ms, see docs/benchmarks.md), at
# least 20 ms; short, because a busy thread that takes the interpreter
# during the hand-over below keeps it that long, and a reload waits for it.
_WINDOW_MIN = 0.02
_WINDOW_MAX = 1.0
_window = _WINDOW_MIN


class atomically:  # a lower-case name: used as a statement, `with atomically():`
    """Ask the interpreter not to switch threads while old objects are patched.

    Other threads then see every object either before the patch or after
    it, never half of it (unless the patch itself blocks, which it does not,
    or outlasts the window, which is logged). Nested and concurrent uses
    restore the interval once, at the last exit.
    """

    __slots__ = ("started",)

    def __enter__(self) -> None:
        global _atomic_depth, _saved_interval
        with _atomic_lock:
            if _atomic_depth == 0:
                _saved_interval = sys.getswitchinterval()
                sys.setswitchinterval(max(_saved_interval, _window))
                _hand_over(_saved_interval)
            _atomic_depth += 1
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        global _atomic_depth, _window
        took = time.perf_counter() - self.started
        with _atomic_lock:
            _atomic_depth -= 1
            if _atomic_depth == 0:
                window = sys.getswitchinterval()
                sys.setswitchinterval(_saved_interval)
                if took > window:
                    _log.logger().warning(
                        "patching took %.0f ms, longer than the %.0f ms in which other threads "
                        "wait: they may have seen a partly patched module",
                        took * 1000,
                        window * 1000,
                    )
                _window = min(_WINDOW_MAX, max(_window, 3 * took))


def _hand_over(old_interval: float) -> None:
    """Make every thread waiting for the interpreter start its wait again, with the long interval.

    A thread already waiting measured its turn with the old, short interval:
    when that runs out it makes this thread let go, in the middle of the
    patch (seen by tests/test_stress.py as calls mixing old and new code).
    A wait that sees another thread take over starts again with the interval
    in force, so: let go for longer than the old interval, during which any
    waiting thread takes over, and take the interpreter back once they let go.
    """
    if threading.active_count() > 1:
        time.sleep(old_interval * 1.5)
