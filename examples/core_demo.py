"""hookreload in one minute: edit a module under a running program.

Run it with ``make demo-core`` (or ``.venv/bin/python examples/core_demo.py``). It
writes a small package ``greeter`` into a temporary directory, imports it
through the hook and keeps a worker thread serving requests with it. Then,
while that thread runs, it edits the module (a good change, a syntax error,
an exception at import), reloads it after each edit, and rolls back.
Everything it creates is removed at the end.
"""

from __future__ import annotations

import importlib
import queue
import shutil
import sys
import tempfile
import threading
import types
from pathlib import Path

import hookreload

# Version 1 of greeter/greetings.py. `state` is the module-level state that
# the program builds up; __reload__(old) hands it to every new version.
VERSION_1 = """\
state = {"calls": 0}


def hello(name):
    state["calls"] += 1
    return f"Hello, {name}! (call {state['calls']})"


def __reload__(old):
    global state
    state = old.state  # carry the very same object, so rollbacks keep it too
"""

# Version 2: new behaviour, same state.
VERSION_2 = """\
state = {"calls": 0}


def hello(name):
    state["calls"] += 1
    return f"Good morning, {name}! (call {state['calls']})"


def __reload__(old):
    global state
    state = old.state
"""

# A typo: this never compiles.
BROKEN_SYNTAX = """\
state = {"calls": 0}


def hello(name)
    return f"Hi, {name}!"
"""

# Compiles, but fails while executing at import.
BROKEN_AT_IMPORT = """\
GREETINGS = {"en": "Hello", "de": "Hallo"}
DEFAULT = GREETINGS["fr"]


def hello(name):
    return f"{DEFAULT}, {name}!"
"""


def step(title: str) -> None:
    print()
    print(title)


def show(text: str) -> None:
    print(f"  {text}")


class Worker(threading.Thread):
    """The "running program": a thread answering requests with greetings.hello().

    It imports the module once, when it starts, and keeps that reference for
    its whole life: it never re-imports anything.
    """

    def __init__(self) -> None:
        super().__init__(name="worker", daemon=True)
        self.requests: queue.Queue[str | None] = queue.Queue()
        self.replies: queue.Queue[str] = queue.Queue()

    def run(self) -> None:
        from greeter import greetings

        while (name := self.requests.get()) is not None:
            try:
                self.replies.put(greetings.hello(name))
            except Exception as exc:  # a real server would log it and carry on
                self.replies.put(f"error: {exc!r}")

    def ask(self, name: str) -> None:
        self.requests.put(name)
        show(f"worker -> {self.replies.get(timeout=10)}")

    def stop(self) -> None:
        self.requests.put(None)
        self.join(timeout=10)


def on_reload(event: hookreload.ReloadEvent) -> None:
    if event.version is not None:
        outcome = f"now version {event.version.number}"
    else:
        outcome = "FAILED, nothing changed"
    show(f"[on_reload] {event.action} {event.name}: {outcome} ({event.duration_s * 1000:.1f} ms)")


def describe_versions(module: types.ModuleType) -> str:
    numbers = [v.number for v in hookreload.versions(module)]
    return f"versions kept: {numbers}, live: {numbers[-1]}"


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="hookreload-demo-"))
    package = root / "greeter"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "greetings.py"
    source.write_text(VERSION_1)

    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    hookreload.install(include=["greeter"])
    unsubscribe = hookreload.on_reload(on_reload)
    worker = Worker()
    try:
        print(f"hookreload demo: a package 'greeter' written to {root}")

        step("1. Import greeter.greetings through the hook and start the program")
        import greeter.greetings
        from greeter.greetings import hello  # a plain reference to one function

        live_hello = hookreload.live("greeter.greetings:hello")  # one that follows reloads
        worker.start()
        show(f"is_proxy(greeter.greetings) = {hookreload.is_proxy(greeter.greetings)}")
        worker.ask("Ada")
        worker.ask("Grace")

        step("2. Edit greetings.py (a new greeting) and reload it")
        source.write_text(VERSION_2)
        hookreload.reload(greeter.greetings)
        worker.ask("Ada")
        show("same module object, new code, and the call counter went on")
        show(f"live('greeter.greetings:hello') -> {live_hello('Linus')}")
        show(f"hello captured before the reload -> {hello('Linus')}  (still the old code)")

        step("3. Save a typo (a syntax error) and reload")
        source.write_text(BROKEN_SYNTAX)
        try:
            hookreload.reload(greeter.greetings)
        except hookreload.ReloadError as exc:
            show(f"ReloadError: {exc}")
        worker.ask("Grace")
        show("the program keeps running on version 2")

        step("4. Save a version that raises while it is imported, and reload")
        source.write_text(BROKEN_AT_IMPORT)
        try:
            hookreload.reload("greeter.greetings")  # a dotted name works too
        except hookreload.ReloadError as exc:
            show(f"ReloadError: {exc}")
            show(f"  .module={exc.module!r} .lineno={exc.lineno} .__cause__={exc.__cause__!r}")
        worker.ask("Ada")

        step("5. The versions hookreload keeps (the current one and the previous one)")
        for v in hookreload.versions(greeter.greetings):
            show(
                f"version {v.number}: source {v.source_hash[:12]}, "
                f"built in {v.duration_s * 1000:.2f} ms"
            )

        step("6. Roll back to the previous version")
        version = hookreload.rollback(greeter.greetings)
        show(f"rolled back to version {version.number}")
        worker.ask("Grace")
        show(describe_versions(greeter.greetings))
        show("the counter survived: every version shares the same `state` object")
    finally:
        if worker.is_alive():
            worker.stop()
        unsubscribe()
        hookreload.uninstall()
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == "greeter" or n.startswith("greeter.")]:
            del sys.modules[name]
        shutil.rmtree(root, ignore_errors=True)

    print()
    print("Done: hookreload uninstalled and the temporary package removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
