"""The IPython/Jupyter extension: ``%load_ext hookreload``.

Before each cell runs, every proxied module whose source changed is
reloaded (a drop-in for ``%autoreload``), and ``%hookreload`` shows the
versions, reloads, rolls back and switches patch mode. Like autoreload,
which updates old functions and classes in place, the extension installs
the hook in patch mode; the notebook's names taken with ``from module
import name`` are rebound after a reload too (see ``_ipython_imports``).
"""

from __future__ import annotations

import sys

from ._errors import HookreloadError
from ._events import ReloadEvent
from ._hook import active, install, patching
from ._ipython_imports import CellImports
from ._reload import reload_record, rollback_record
from ._status import status
from ._versions import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_USAGE = """\
%hookreload                 the proxied modules: live version, versions kept, last reload and error
%hookreload reload NAME     reload a module now
%hookreload rollback NAME   make the previous version of a module live again
%hookreload off | on        stop or resume reloading before each cell
%hookreload patch on | off  update old functions, classes and imported names in place, or not"""


def _say(text: str) -> None:
    # The extension is a user interface: it reports in the notebook, not in a log.
    print(text, file=sys.stderr)


def _describe(event: ReloadEvent) -> str:
    if event.version is None:
        return f"hookreload: {event.error}"
    verb = "reloaded" if event.action == "reload" else "rolled back"
    return f"hookreload: {verb} {event.name} v{event.version.number}"


class _Extension:
    """The state of the extension in one shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.enabled = True
        self.imports = CellImports()

    def before_cell(self, *_: object) -> None:
        if self.enabled:
            from ._watch import reload_changed

            for event in reload_changed():
                _say(_describe(event))
        if patching():
            # Also after reloads made by %hookreload, a watcher or the program.
            self.imports.refresh(self.shell.user_ns)

    def after_cell(self, result: Any = None) -> None:
        info = getattr(result, "info", None)
        if info is None or not getattr(result, "success", False):
            return
        source = info.raw_cell or ""
        if "import" in source:
            transform = getattr(self.shell, "transform_cell", None)
            try:
                source = transform(source) if transform is not None else source
            except Exception:  # what IPython cannot transform binds no name
                return
            self.imports.note(source, self.shell.user_ns)

    def _patch(self, words: list[str]) -> None:
        hook = active()
        if hook is None:
            _say("hookreload: not installed; %load_ext hookreload installs it")
        elif len(words) == 1:
            _say(f"hookreload: patch mode is {'on' if hook.patch else 'off'}")
        elif words[1] in ("on", "off") and len(words) == 2:
            hook.patch = words[1] == "on"
            _say(f"hookreload: patch mode is {words[1]}")
        else:
            _say(f"hookreload: unknown arguments {' '.join(words)!r}\n{_USAGE}")

    def magic(self, line: str) -> None:
        words = line.split()
        try:
            if not words:
                _say(status_table())
            elif words[0] == "patch":
                self._patch(words)
            elif words[0] in ("on", "off") and len(words) == 1:
                self.enabled = words[0] == "on"
                _say(f"hookreload: reloading before each cell is {words[0]}")
            elif words[0] == "reload" and len(words) == 2:
                version = reload_record(resolve(words[1], "reload"))
                _say(f"hookreload: reloaded {words[1]} v{version.number}")
            elif words[0] == "rollback" and len(words) == 2:
                version = rollback_record(resolve(words[1], "roll back"))
                _say(f"hookreload: rolled back {words[1]} to v{version.number}")
            else:
                _say(f"hookreload: unknown arguments {line!r}\n{_USAGE}")
        except (HookreloadError, TypeError) as exc:
            _say(f"hookreload: {exc}")


def status_table() -> str:
    """The proxied modules as a table, for ``%hookreload``: the one ``str(hookreload.status())`` is."""
    rows = status()
    if not rows:
        return "hookreload: no module is proxied yet; import your modules after %load_ext"
    return f"{rows}\npatch mode: {'on' if patching() else 'off'}"


_extensions: dict[int, _Extension] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Install hookreload (unless it already is) and reload changed modules before each cell.

    The hook it installs is in patch mode, as autoreload patches old objects;
    a hook the program installed keeps its own setting.
    """
    if active() is None:
        install(patch=True)
    if id(ipython) in _extensions:
        return
    extension = _Extension(ipython)
    _extensions[id(ipython)] = extension
    ipython.events.register("pre_run_cell", extension.before_cell)
    ipython.events.register("post_run_cell", extension.after_cell)
    ipython.register_magic_function(extension.magic, "line", "hookreload")


def unload_ipython_extension(ipython: Any) -> None:
    """Stop reloading before each cell; proxies already made keep working."""
    extension = _extensions.pop(id(ipython), None)
    if extension is not None:
        ipython.events.unregister("pre_run_cell", extension.before_cell)
        ipython.events.unregister("post_run_cell", extension.after_cell)
