"""Patch mode, functions: references taken before a reload run the new code.

Scenarios of IPython's autoreload (``old_foo(0)`` after a reload in its
smoke test) and of jurigged (``test_merge``'s ``inflate``, decorators in
``test_merge_decorators*``/``test_change_decorator``, the registry of
same-named functions in ``test_functions_interface*``, ``test_conform``,
async functions, ``functools.wraps`` chains), plus the issue's own.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys
import textwrap
import threading
import types
from unittest import mock

import pytest

import hookreload
from tests.conftest import Project
from tests.patching import edit, hook, load

__all__ = ["hook"]


def test_a_function_taken_before_runs_the_new_code(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "X = 1\ndef f(a):\n    return a + X\n")
    f = mod.f
    edit(project, mod, "X = 10\ndef f(a):\n    return a * X\n")
    assert f is mod.f
    assert f(2) == 20
    # Its globals are the live namespace, which mock.patch writes through the module.
    assert f.__globals__ is mod.__dict__
    with mock.patch.object(mod, "X", 3):
        assert f(2) == 6
    assert f(2) == 20


def test_mock_patch_by_name_reaches_patched_functions(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "def helper():\n    return 1\ndef f():\n    return helper()\n")
    f = mod.f
    edit(project, mod, "def helper():\n    return 2\ndef f():\n    return helper() * 10\n")
    with mock.patch(f"{mod.__name__}.helper", return_value=5):
        assert f() == 50
    assert f() == 20


def test_defaults_annotations_doc_and_dict_follow(project: Project, hook: hookreload.Hook) -> None:
    mod = load(
        project,
        """
        def f(a, b=1, *, c=2) -> int:
            "old doc"
            return a + b + c
        f.tag = "old"
        f.only_old = True
        """,
    )
    f = mod.f
    edit(
        project,
        mod,
        """
        def f(a: str, b=10, *, c=20) -> str:
            "new doc"
            return str(a + b + c)
        f.tag = "new"
        """,
    )
    assert f(0) == "30"
    assert f.__defaults__ == (10,)
    assert f.__kwdefaults__ == {"c": 20}
    assert f.__annotations__ == {"a": str, "return": str}
    assert f.__doc__ == "new doc"
    assert f.tag == "new"
    assert not hasattr(f, "only_old")
    assert inspect.signature(f).parameters["b"].default == 10


def test_a_default_naming_a_kept_object_is_the_kept_object(
    project: Project, hook: hookreload.Hook
) -> None:
    source = "class Cls:\n    pass\ndef f(kind=Cls):\n    return kind\n"
    mod = load(project, source)
    f, cls = mod.f, mod.Cls
    edit(project, mod, source + "\n# edited\n")
    assert f() is cls is mod.Cls


def test_removed_and_added_functions(project: Project, hook: hookreload.Hook) -> None:
    # jurigged test_merge: uninteresting() goes, deflate() comes.
    mod = load(
        project, "def inflate(x):\n    return x * 2\ndef uninteresting():\n    return None\n"
    )
    inflate, gone = mod.inflate, mod.uninteresting
    event = edit(
        project, mod, "def inflate(x):\n    return x * 3\ndef deflate(x):\n    return x / 3\n"
    )
    assert inflate(5) == 15
    assert mod.deflate(15) == 5
    assert not hasattr(mod, "uninteresting")
    assert gone() is None  # a removed function keeps its old code
    assert event.added == ("deflate",)
    assert event.removed == ("uninteresting",)


def test_closures_take_the_new_values(project: Project, hook: hookreload.Hook) -> None:
    mod = load(
        project,
        """
        def make(n):
            def handler():
                return n
            return handler
        handler = make(3)
        """,
    )
    handler = mod.handler
    edit(
        project,
        mod,
        """
        def make(n):
            def handler():
                return n * 100
            return handler
        handler = make(4)
        """,
    )
    assert handler is mod.handler
    assert handler() == 400


def test_shared_cells_stay_shared(project: Project, hook: hookreload.Hook) -> None:
    source = """
        def counter(start):
            n = start
            def bump():
                nonlocal n
                n += STEP
                return n
            def read():
                return n
            return bump, read
        STEP = {step}
        bump, read = counter(0)
    """
    mod = load(project, source.format(step=1))
    bump, read = mod.bump, mod.read
    bump()
    edit(project, mod, source.format(step=10))
    assert bump() == 10  # the new version starts again from 0, as its source says
    assert read() == 10


def test_a_closure_that_no_longer_fits_is_replaced_and_reported(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "def make():\n    def f():\n        return 1\n    return f\nf = make()\n")
    f = mod.f
    event = edit(
        project,
        mod,
        "def make():\n    y = 2\n    def f():\n        return y\n    return f\nf = make()\n",
    )
    assert mod.f is not f
    assert mod.f() == 2
    assert f() == 1  # a reference taken before keeps the old function
    assert "make.<locals>.f" in event.replaced
    assert "closure" in event.replaced["make.<locals>.f"]
    assert "make.<locals>.f" not in event.patched


def test_nested_function_definitions_run_the_new_code(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's apple.pomme: a function that defines a function.
    mod = load(project, "def pomme():\n    def ver():\n        return 'old'\n    return ver\n")
    pomme = mod.pomme
    made_before = pomme()
    edit(project, mod, "def pomme():\n    def ver():\n        return 'new'\n    return ver\n")
    assert pomme()() == "new"
    assert made_before() == "old"  # made by the old code: not named by the new version


def test_lambdas(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "double = lambda x: x * 2\n")
    double = mod.double
    edit(project, mod, "double = lambda x: x * 20\n")
    assert double(2) == 40


def test_functools_wraps_chain_is_patched_at_the_wrapped_function(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's apple.pommier / arbre.branche.
    source = """
        from functools import wraps
        def arbre(fn):
            @wraps(fn)
            def branche(x, y):
                return fn(x * y)
            return branche
        @arbre
        def pommier(z):
            return z ** {power}
    """
    mod = load(project, source.format(power=2))
    pommier, inner = mod.pommier, mod.pommier.__wrapped__
    event = edit(project, mod, source.format(power=3))
    assert pommier is mod.pommier
    assert pommier.__wrapped__ is inner
    assert pommier(1, 2) == 8
    assert inner(2) == 8
    assert "pommier" in event.patched


def test_decorator_stack_grows_and_signature_changes(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's chips: test_merge_decorators and test_merge_decorators_change.
    crunch = (
        "def crunch(fn):\n    def deco(*args):\n        return fn(*args) + 1\n    return deco\n"
    )
    mod = load(project, crunch + "@crunch\n@crunch\ndef munch(x):\n    return x\n")
    munch = mod.munch
    assert munch(4) == 6
    edit(project, mod, crunch + "@crunch\n@crunch\ndef munch(x, y):\n    return x + y\n")
    assert munch(4, 2) == 8
    edit(project, mod, crunch + "@crunch\n@crunch\n@crunch\ndef munch(x):\n    return x + 10\n")
    assert munch(4) == 17
    assert munch is mod.munch


def test_a_changed_decorator_reaches_decorated_functions(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's test_change_decorator: only the decorator's body changes.
    source = (
        "def crunch(fn):\n    def deco(*args):\n        return fn(*args) + {n}\n    return deco\n"
    )
    use = "@crunch\n@crunch\ndef munch(x):\n    return x\n"
    mod = load(project, source.format(n=1) + use)
    munch = mod.munch
    edit(project, mod, source.format(n=2) + use)
    assert munch(4) == 8


def test_a_foreign_decorator_keeps_its_wrapper_and_takes_new_arguments(
    project: Project, hook: hookreload.Hook
) -> None:
    project.write(
        "lib.py",
        """
        import functools
        def times(n):
            def decorate(fn):
                @functools.wraps(fn)
                def wrapper(*args):
                    return [fn(*args)] * n
                return wrapper
            return decorate
        """,
    )
    source = "from .lib import times\n@times({n})\ndef f(x):\n    return x + {add}\n"
    mod = load(project, source.format(n=1, add=0))
    f = mod.f
    assert f(1) == [1]
    edit(project, mod, source.format(n=2, add=1))
    assert f is mod.f
    assert f(1) == [2, 2]


def test_wrapt_decorated_functions_are_patched_at_the_wrapped_function(
    project: Project, hook: hookreload.Hook
) -> None:
    pytest.importorskip("wrapt")
    source = """
        import wrapt
        @wrapt.decorator
        def plus(wrapped, instance, args, kwargs):
            return wrapped(*args, **kwargs) + {plus}
        @plus
        def f(x):
            return x * {times}
    """
    mod = load(project, source.format(plus=1, times=1))
    f = mod.f
    assert f(2) == 3
    edit(project, mod, source.format(plus=100, times=10))
    assert f is mod.f
    assert f(2) == 120


def test_lru_cached_functions_forget_old_results(project: Project, hook: hookreload.Hook) -> None:
    source = "import functools\n@functools.lru_cache\ndef f(x):\n    return x * {n}\n"
    mod = load(project, source.format(n=1))
    f = mod.f
    assert f(3) == 3
    edit(project, mod, source.format(n=2))
    assert f is mod.f
    assert f(3) == 6


def test_registry_of_functions_keeps_its_identity(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's elephant: test_functions_interface, _add and _rm.
    registry = """
        class Rememberer:
            def __init__(self):
                self.funcs = []
            def register(self, fn):
                self.funcs.append(fn)
                return self
            def __call__(self, *args):
                return [fn(*args) for fn in self.funcs]
        activities = Rememberer()
    """
    do = "@activities.register\ndef do(x):\n    return f'{} {{x}}'\n"

    def body(*words: str) -> str:
        return textwrap.dedent(registry) + "".join(do.format(word) for word in words)

    mod = load(project, body("Paint", "Sing", "Dance"))
    activities = mod.do
    assert activities(7) == ["Paint 7", "Sing 7", "Dance 7"]
    edit(project, mod, body("Paint", "Sing twice", "Dance"))
    assert activities(7) == ["Paint 7", "Sing twice 7", "Dance 7"]
    edit(project, mod, body("Paint", "Sing", "Worship", "Dance", "Do"))
    assert activities(7) == ["Paint 7", "Sing 7", "Worship 7", "Dance 7", "Do 7"]
    edit(project, mod, body("Eat"))
    assert activities(7) == ["Eat 7"]
    assert activities is mod.activities is mod.do


def test_a_module_registry_dict_binds_the_kept_functions(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        HANDLERS = {}
        def handles(name):
            def register(fn):
                HANDLERS[name] = fn
                return fn
            return register
        @handles("a")
        def on_a():
            return "a1"
    """
    mod = load(project, source)
    on_a = mod.on_a
    edit(project, mod, textwrap.dedent(source).replace("a1", "a2") + "ROUTES = [on_a]\n")
    assert mod.HANDLERS["a"] is on_a is mod.ROUTES[0]
    assert mod.HANDLERS["a"]() == "a2"


def test_async_functions_and_generators(project: Project, hook: hookreload.Hook) -> None:
    source = """
        async def juggle(a):
            return a * {n}
        def gen():
            yield {n}
        async def agen():
            yield {n}
    """
    mod = load(project, source.format(n=1))
    juggle, gen, agen = mod.juggle, mod.gen, mod.agen
    edit(project, mod, source.format(n=2))
    assert asyncio.run(juggle(3)) == 6
    assert list(gen()) == [2]

    async def first() -> int:
        result: int = await agen().__anext__()
        return result

    assert asyncio.run(first()) == 2


def test_a_suspended_generator_finishes_on_its_old_code(
    project: Project, hook: hookreload.Hook
) -> None:
    source = "X = {n}\ndef gen():\n    yield X\n    yield X\n"
    mod = load(project, source.format(n=1))
    running = mod.gen()
    assert next(running) == 1
    for n in (2, 3, 4):
        edit(project, mod, source.format(n=n))
    gc.collect()
    # Its frame still reads the namespace it started with, kept alive for it.
    assert next(running) == 1
    assert list(mod.gen()) == [4, 4]


def test_a_function_reloading_its_own_module_finishes_safely(project: Project) -> None:
    # A safe point inside the module: the frame keeps running the old code and
    # reading the old globals while its function is patched under it, even with
    # keep=1, where the old version is released at once.
    with hookreload.install(include=[project.package], patch=True, keep=1):
        mod = load(
            project,
            """
            import hookreload
            X = "old"
            def loop(edit):
                before = X
                edit()
                hookreload.reload(__name__)
                big = [X] * 1000  # allocations: a freed namespace would show here
                return before, big[0], X, step()
            def step():
                return "step-old"
            """,
        )
        new = (
            project.path("mod.py")
            .read_text()
            .replace('"old"', '"new"')
            .replace("step-old", "step-new")
        )
        result = mod.loop(lambda: project.write("mod.py", new))
        gc.collect()
        assert result == ("old", "old", "old", "step-new")
        assert mod.loop(lambda: None) == ("new", "new", "new", "step-new")


def test_a_thread_in_old_code_keeps_running(project: Project, hook: hookreload.Hook) -> None:
    source = """
        X = {n}
        def block(entered, release):
            entered.set()
            release.wait(10)
            return X
    """
    mod = load(project, source.format(n=1))
    entered, release, result = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(mod.block(entered, release)))
    thread.start()
    try:
        assert entered.wait(10)
        for n in (2, 3):
            edit(project, mod, source.format(n=n))
    finally:
        release.set()
        thread.join(10)
    assert result == [1]


def test_builtins_and_dunders_are_left_alone(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "def f():\n    return len('ab')\n")
    builtins = mod.f.__builtins__
    edit(project, mod, "def f():\n    return len('abc')\n")
    assert mod.f.__builtins__ is builtins
    assert mod.f() == 3
    assert mod.__name__ == project.name("mod")


def test_a_function_turned_into_a_class_is_replaced(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "def Handler():\n    return 1\n")
    before = mod.Handler
    event = edit(project, mod, "class Handler:\n    pass\n")
    assert isinstance(mod.Handler, type)
    assert before() == 1
    assert "Handler" in event.replaced


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type parameters are 3.12+")
def test_type_parameters_follow(project: Project, hook: hookreload.Hook) -> None:
    mod = load(project, "def first[T](items: list[T]) -> T:\n    return items[0]\n")
    first = mod.first
    edit(project, mod, "def first[U](items: list[U]) -> U:\n    return items[-1]\n")
    assert first([1, 2]) == 2
    assert [p.__name__ for p in first.__type_params__] == ["U"]


def test_without_patch_mode_nothing_is_patched(project: Project) -> None:
    with hookreload.install(include=[project.package]) as installed:
        assert installed.patch is False
        mod = load(project, "def f():\n    return 1\n")
        f = mod.f
        event = edit(project, mod, "def f():\n    return 2\n")
        assert f() == 1
        assert mod.f() == 2
        assert (event.patched, event.added, event.removed, event.replaced) == ((), (), (), {})


def test_an_empty_closure_cell_follows_the_new_code(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        def make():
            def inner():
                return value
            {before}
            return inner
            {after}
        handler = make()
    """
    mod = load(project, source.format(before="value = 1", after="pass"))
    handler = mod.handler
    assert handler() == 1
    # The new code never assigns the variable before returning: its cell is empty.
    edit(project, mod, source.format(before="pass", after="value = 2"))
    with pytest.raises(NameError):
        handler()
    edit(project, mod, source.format(before="value = 3", after="pass"))
    assert handler() == 3


def test_added_definitions_point_at_kept_objects(project: Project, hook: hookreload.Hook) -> None:
    source = "class Kind:\n    pass\n"
    mod = load(project, source)
    kind = mod.Kind
    edit(
        project,
        mod,
        source + "def added(kind=Kind):\n    return kind\nclass Added:\n    kind = Kind\n",
    )
    assert mod.added() is kind
    assert mod.Added.kind is kind


def test_decorated_definitions_are_reported_by_name(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "import functools\n@functools.lru_cache\ndef cached(x):\n    return x\n")
    event = edit(project, mod, "import functools\n@functools.cache\ndef fresh(x):\n    return x\n")
    assert (event.removed, event.added) == (("cached",), ("fresh",))


def test_a_name_rebound_to_another_definition_is_replaced(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "class Handler:\n    pass\n")
    event = edit(project, mod, "class Other:\n    pass\nHandler = Other\n")
    assert mod.Handler is mod.Other
    assert event.replaced == {"Handler": "it is defined as 'Other' now, not 'Handler'"}


def test_function_globals_are_repointed_only_for_functions_and_dicts() -> None:
    from hookreload import _proxy

    def f() -> int:
        return 1

    with pytest.raises(TypeError, match="globals of a function"):
        _proxy.set_function_globals(len, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a dict"):
        _proxy.set_function_globals(f, types.MappingProxyType({}))  # type: ignore[arg-type]
    namespace = dict(f.__globals__)
    clone = types.FunctionType(f.__code__, f.__globals__)
    _proxy.set_function_globals(clone, namespace)
    assert clone.__globals__ is namespace
    _proxy.set_function_globals(clone, namespace)  # already there: nothing to do
    assert clone() == 1


def test_a_pointer_changed_behind_our_back_is_refused() -> None:
    from hookreload import _proxy

    func = types.FunctionType((lambda: 1).__code__, {})
    with pytest.raises(hookreload.HookreloadError, match="changed under hookreload"):
        _proxy._api().repoint(_proxy._FUNCTION_GLOBALS, func, {}, {})


def test_unexpected_function_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from hookreload import _proxy

    monkeypatch.setattr(_proxy, "_capi", None)
    monkeypatch.setattr(_proxy, "_GLOBALS_OFFSET", _proxy._GLOBALS_OFFSET + 8)
    func = types.FunctionType((lambda: 1).__code__, {})
    with pytest.raises(hookreload.HookreloadError, match="function object layout"):
        _proxy.set_function_globals(func, {})
