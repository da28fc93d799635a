"""Hot code reloading through an import hook.

``hookreload.install()`` makes every module imported afterwards a proxy: a
module object whose namespace is its live *version*. ``hookreload.reload()``
executes the module's current source into a fresh version and switches the
proxy to it only when that succeeded, so ``module.attr`` always reaches the
newest working code and the previous version stays ready for ``rollback()``.

Example:
    >>> import hookreload
    >>> hook = hookreload.install(include=["myapp"])  # doctest: +SKIP
    >>> import myapp.handlers                          # doctest: +SKIP
    >>> hookreload.reload(myapp.handlers)              # doctest: +SKIP
    <Version 2 of 'myapp.handlers' ...>
"""

from __future__ import annotations

import sys
import types

from . import _hook, _keep, _status
from ._errors import HookreloadError, NotProxiedError, ReloadError
from ._events import ReloadEvent, subscribe
from ._hold import HoldTimeout, hold
from ._hook import Hook, install, uninstall
from ._live import live as _live
from ._middleware import ASGIHoldMiddleware, WSGIHoldMiddleware
from ._reload import reload_record, reload_records, rollback_record
from ._status import ModuleStatus
from ._versions import Version, record_of, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = [
    "ASGIHoldMiddleware",
    "HoldTimeout",
    "Hook",
    "HookreloadError",
    "ModuleStatus",
    "NotProxiedError",
    "ReloadError",
    "ReloadEvent",
    "Version",
    "WSGIHoldMiddleware",
    "current",
    "hold",
    "install",
    "is_proxy",
    "keep",
    "live",
    "on_reload",
    "reload",
    "reload_changed",
    "rollback",
    "status",
    "uninstall",
    "versions",
]

__version__ = "0.1.0"


if TYPE_CHECKING:
    from typing import overload
else:

    def overload(func: object) -> object:  # typing's, without importing typing at startup
        return func


@overload
def reload(target: types.ModuleType | str, /, *, dependents: bool | None = None) -> Version: ...


@overload
def reload(  # noqa: F811 - ruff does not see through the overload shim above
    target: types.ModuleType | str,
    second: types.ModuleType | str,
    /,
    *more: types.ModuleType | str,
    dependents: bool | None = None,
) -> list[Version]: ...


def reload(  # noqa: F811
    *targets: types.ModuleType | str, dependents: bool | None = None
) -> Version | list[Version]:
    """Build a new version of one or more proxied modules from source and switch to them.

    Several targets reload as one batch, atomically: every new version is
    built first, in dependency order, each seeing the new versions of the
    modules of the batch it imports; only then are they all switched at
    once. If one fails, none is switched.

    Args:
        targets: the modules (proxies) or their dotted names.
        dependents: once they reloaded, also reload the proxied modules that
            took names from them (``from target import name``), transitively,
            in dependency order. ``None``: as ``install(dependents=...)``
            says. Their failures are logged and sent to ``on_reload``
            callbacks, not raised.

    Returns:
        The new live version of the target; with several targets, the list
        of their new versions, in the order given.

    Raises:
        ReloadError: the source is missing or does not compile, executing it
            raised, or its ``__reload__(old)`` raised (for a batch: the error
            of the module that failed, named in the message). Nothing changed.
        NotProxiedError: a target is not a module hookreload manages (a
            ``TypeError``); the message says why.

    Example:
        >>> v = hookreload.reload("myapp.handlers")  # doctest: +SKIP
        >>> v.number                                   # doctest: +SKIP
        2
        >>> hookreload.reload("myapp.models", "myapp.views")  # doctest: +SKIP
        [<Version 3 of 'myapp.models' ...>, <Version 2 of 'myapp.views' ...>]
    """
    if not targets:
        raise TypeError("reload() takes at least one module (a proxy or a dotted name)")
    records = [resolve(target, "reload") for target in targets]
    single = len(records) == 1
    versions = [reload_record(records[0])] if single else reload_records(records)
    if dependents if dependents is not None else _hook.dependents():
        from ._batch import reload_dependents  # on first use: keeps `import hookreload` cheap

        reload_dependents(records, skip={record.name for record in records})
    return versions[0] if len(targets) == 1 else versions


def reload_changed() -> list[ReloadEvent]:
    """Reload, in this thread, every proxied module whose source changed.

    The safe point of a program with a main loop (a game, a training loop, a
    server's request loop): call it once per iteration, with
    ``install(watch=True, reload_in="safe-points")`` so the watcher only
    collects changes. A module changed when its file's content hash differs
    from its live version's. Modules changed together reload as one batch,
    in dependency order (a module after those it imports), then, with
    ``install(dependents=True)``, the modules that took names from them.

    With a watcher running it reloads what the watcher collected, and costs
    nothing when nothing changed (with the default ``reload_in="thread"`` the
    watcher reloads by itself and this usually finds nothing left). Without
    a watcher it compares every proxied module's file (a ``stat`` each, and a
    hash of those whose ``stat`` changed).

    Returns:
        One :class:`ReloadEvent` per reload attempt, in order; empty when
        nothing changed. A failed reload is in it with its ``error``; it was
        also logged and passed to the ``on_reload`` callbacks, and its module
        keeps its live version.

    Example:
        >>> hookreload.install(watch=True, reload_in="safe-points")  # doctest: +SKIP
        >>> while running:                                           # doctest: +SKIP
        ...     for event in hookreload.reload_changed():
        ...         print(event)
        ...     step()
    """
    from ._watch import reload_changed  # on first use: keeps `import hookreload` cheap

    return reload_changed()


def rollback(target: types.ModuleType | str) -> Version:
    """Make the previous version live again, as it was, and drop the live one.

    When the live version was made by a batch (``reload(a, b)``, or one batch
    of the watcher), the whole batch goes back in one swap: every module of
    it that is still on the version that batch made (one reloaded again
    since is left as it is).

    Returns:
        The version of ``target`` made live.

    Raises:
        ReloadError: no previous version is kept (of ``target``, or of a
            module of its batch); nothing changed.
        NotProxiedError: ``target`` is not a module hookreload manages.
    """
    return rollback_record(resolve(target, "roll back"))


def current(target: types.ModuleType | str) -> types.ModuleType:
    """The live version's own module object (not the proxy).

    Example:
        >>> hookreload.current(myapp.handlers) is myapp.handlers  # doctest: +SKIP
        False
    """
    record = resolve(target, "inspect")
    if not record.history:
        raise ReloadError(
            f"{record.name!r} is still being imported; it has no version yet",
            module=record.name,
            filename=record.source_path,
        )
    return record.live_module()


def versions(target: types.ModuleType | str) -> list[Version]:
    """The versions kept for a proxied module, oldest first; the last one is live."""
    record = resolve(target, "inspect")
    if record.history:
        record.live_module()  # version 1's module object is made on first need
    return list(record.history)


def keep(name: str, factory: Callable[[], T]) -> T:
    """State that survives reloads: the live version's ``name``, or ``factory()``.

    Call it at module level. On the first import it returns ``factory()``; while
    a reload executes the new version, it returns the object the live (old)
    version holds under ``name``, so the new version takes it over instead of
    starting empty. A declarative alternative to ``__reload__(old)`` for
    one variable. Outside a module managed by hookreload it calls ``factory``.

    Example:
        >>> cache = hookreload.keep("cache", dict)  # doctest: +SKIP
        >>> connections = hookreload.keep("connections", lambda: Pool(size=4))  # doctest: +SKIP
    """
    return _keep.keep_for(name, factory, sys._getframe(1).f_globals)


def status() -> list[ModuleStatus]:
    """Every proxied module: its live version, the versions kept, and how its last reload went.

    Only modules the program imports now are listed (not ones removed from
    ``sys.modules``), sorted by name. The list is a snapshot taken without
    waiting for a reload in progress; ``str()`` of it is a table, which the
    ``hookreload`` command prints on ``SIGUSR1`` and ``%hookreload`` shows.

    Returns:
        One :class:`ModuleStatus` per module: ``name``, ``file``, ``version``
        (the live one's number), ``versions`` and ``kept``, ``loaded_at``,
        ``last_reload`` (when the last reload or rollback attempt ended, or
        ``None``) and ``last_error`` (its error; ``None`` when it succeeded).

    Example:
        >>> for row in hookreload.status():                     # doctest: +SKIP
        ...     print(row.name, row.version, row.kept, row.last_error)
        myapp.handlers 3 2 None
        >>> print(hookreload.status())                          # doctest: +SKIP
        module          live  kept  loaded    last reload  error
        myapp.handlers  v3    2,3   12:04:31  12:04:31
    """
    return _status.status()


def is_proxy(obj: object) -> bool:
    """Whether ``obj`` is a module proxy made by hookreload."""
    return record_of(obj) is not None


def on_reload(callback: Callable[[ReloadEvent], object]) -> Callable[[], None]:
    """Call ``callback(event)`` after every reload or rollback attempt.

    Returns:
        A function that unsubscribes the callback.

    Example:
        >>> stop = hookreload.on_reload(lambda e: print(e.name, e.ok))
        >>> stop()
    """
    return subscribe(callback)


def live(target: types.ModuleType | str, attr: str | None = None) -> Any:
    """A reference to one attribute of a proxied module that follows every switch.

    Args:
        target: ``"package.module:attribute"``, or the module (or its name)
            with ``attr``. Dotted attributes (``"Class.method"``) work too.

    Returns:
        A ``wrapt`` object proxy (callable when the attribute is) whose
        ``__wrapped__`` is pointed at the attribute of each new live version.

    Example:
        >>> handle = hookreload.live("myapp.handlers:handle")  # doctest: +SKIP
        >>> handle(request)                                      # doctest: +SKIP
    """
    return _live(target, attr)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hookreload``: reload changed modules before each cell; see docs/ipython.md."""
    from ._ipython import load_ipython_extension

    load_ipython_extension(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hookreload``: stop reloading before each cell."""
    from ._ipython import unload_ipython_extension

    unload_ipython_extension(ipython)
