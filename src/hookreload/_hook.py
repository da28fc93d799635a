"""install() and uninstall(): the one active import hook."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from types import TracebackType

from . import _children, _log, _policy
from ._finder import HookFinder
from ._hold import DEFAULT_TIMEOUT
from ._policy import Policy
from ._proxy import check_supported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._validate import Validator
    from ._watch import ReloadIn, Settings, Watcher


class Hook:
    """The installed import hook, as returned by :func:`hookreload.install`.

    Usable as a context manager; :meth:`uninstall` is safe to call twice.

    Example:
        >>> import hookreload
        >>> with hookreload.install(include=["myapp"]) as hook:
        ...     hook.installed
        True
    """

    def __init__(
        self,
        policy: Policy,
        *,
        watch: bool,
        patch: bool,
        keep: int,
        poll: bool | float | None = None,
        reload_in: ReloadIn = "thread",
        dependents: bool = False,
        hold_timeout: float | None = DEFAULT_TIMEOUT,
        validate: Validator | None = None,
        reload_timeout: float | None = None,
    ) -> None:
        self.policy = policy
        self.watch = watch
        self._patch = False
        self.patch = patch
        self.keep = keep
        self.poll = poll
        self.reload_in = reload_in
        self.dependents = dependents
        self.hold_timeout = hold_timeout
        self.validate = validate
        self.reload_timeout = reload_timeout
        self.finder = HookFinder(policy, keep, watched=watch)
        # The running watcher, with watch=True.
        self.watcher: Watcher | None = None
        # With watch=True: how the watcher runs (a forked child starts its own).
        self._settings: Settings | None = None
        # Set while the watcher waits for the first proxied module to finish
        # importing (a child process's hook: see start_deferred_watcher()).
        self._deferred: Settings | None = None

    @property
    def include(self) -> tuple[str, ...] | None:
        return self.policy.include

    @property
    def exclude(self) -> tuple[str, ...]:
        return self.policy.exclude

    @property
    def installed(self) -> bool:
        return self.finder in sys.meta_path

    @property
    def patch(self) -> bool:
        """Whether reloads update the old version's functions and classes in place.

        Settable while the hook is installed (``%hookreload patch on`` does it);
        it applies from the next reload on. See docs/patch.md.

        Example:
            >>> hook = hookreload.install(include=["myapp"])  # doctest: +SKIP
            >>> hook.patch = True  # references taken from now on follow reloads  # doctest: +SKIP
        """
        return self._patch

    @patch.setter
    def patch(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"patch must be True or False, not {value!r}")
        self._patch = value

    def _options(self) -> tuple[object, ...]:
        return (
            self.policy,
            self.watch,
            self.patch,
            self.keep,
            self.poll,
            self.reload_in,
            self.dependents,
            self.hold_timeout,
            self.validate,
            self.reload_timeout,
        )

    def __repr__(self) -> str:
        state = "installed" if self.installed else "uninstalled"
        return (
            f"<hookreload.Hook {state} include={self.include!r} exclude={self.exclude!r} "
            f"watch={self.watch} patch={self.patch} keep={self.keep} dependents={self.dependents}"
            f" hold_timeout={self.hold_timeout}>"
        )

    def uninstall(self) -> None:
        """Remove the finder and stop watching. Proxies already made keep working."""
        global _active
        with _lock:
            while self.finder in sys.meta_path:
                sys.meta_path.remove(self.finder)
            if _active is self:
                _active = None
                _policy.active = None
            watcher, self.watcher = self.watcher, None
            self._deferred = None
        if watcher is not None:
            # Outside the lock: the thread may be reloading a module that calls install().
            watcher.stop()
        _children.on_uninstall(self)
        _log.debug("hookreload uninstalled")

    def _start_deferred(self) -> None:
        """Start the watcher if it waits for a first import; ``_lock`` is held."""
        # Taken first: the start imports watchfiles, which may come back here
        # through the loader (it is proxied when include= is None).
        settings, self._deferred = self._deferred, None
        if settings is not None and _active is self:
            from . import _watch

            self.watcher = _watch.start(settings)

    def __enter__(self) -> Hook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()


_active: Hook | None = None
_lock = threading.Lock()


def install(
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    *,
    watch: bool = False,
    patch: bool = False,
    keep: int = 2,
    poll: bool | float | None = None,
    reload_in: ReloadIn = "thread",
    dependents: bool = False,
    hold_timeout: float | None = DEFAULT_TIMEOUT,
    validate: Validator | None = None,
    reload_timeout: float | None = None,
) -> Hook:
    """Put hookreload's finder first on ``sys.meta_path``; modules imported from now on are proxies.

    Args:
        include: module-name patterns to proxy (``fnmatch``; ``"app"`` also
            means ``"app.*"``). Default: every module loaded from Python
            source outside the standard library.
        exclude: patterns never to proxy.
        watch: start a watcher that reloads modules whose source changed.
        patch: after each reload, update the old version's functions and classes
            in place, so that references taken before it follow the new code
            (docs/patch.md). ``hook.patch`` switches it at run time.
        keep: versions kept per module, the live one included (2: live and
            previous, for ``rollback()``).
        poll: with ``watch``, poll every ``poll`` seconds (``True``: 0.5)
            instead of OS file events; ``None`` reads ``HOOKRELOAD_POLL``.
        reload_in: with ``watch``, where reloads run: ``"thread"``,
            ``"safe-points"`` (your ``reload_changed()`` calls) or an asyncio loop.
        dependents: after a module reloads (by the watcher, ``reload_changed()``
            or ``reload()``), also reload the proxied modules that took names
            from it with ``from module import name``, so their copies are fresh.
        hold_timeout: seconds a reload waits for open ``hookreload.hold()``
            blocks to close before it is deferred (and retried later, never
            forced); ``None``: no limit.
        validate: called with ``{name: new module}`` for every reload (or
            batch), after the new versions executed and before any is live;
            returning ``False`` or raising vetoes it, and nothing changes
            (docs/concepts.md, "Validation gate").
        reload_timeout: seconds a reload may spend executing its modules;
            past it the reload fails and nothing is swapped. ``None`` (the
            default): no limit, and modules execute in the thread that
            reloads, as an import would. With a limit they execute in a
            worker thread, which is left to finish when it overruns
            (docs/concepts.md, "Reload time-out").

    Returns:
        The active :class:`Hook`; a second call with the same options returns it again.

    Raises:
        ValueError: hookreload is installed with other options, or an option is invalid.
        HookreloadError: this interpreter cannot run hookreload (not CPython, no GIL).

    Example:
        >>> hook = hookreload.install(include=["myapp"], watch=True)  # doctest: +SKIP
        >>> import myapp.handlers  # a proxy: saved edits go live at once  # doctest: +SKIP
    """
    global _active
    check_supported()
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError(f"keep must be a whole number of versions, 1 or more; got {keep!r}")
    if watch:
        from . import _watch  # on first use: keeps `import hookreload` cheap

        # Checked before anything changes; HOOKRELOAD_POLL is read here.
        settings = _watch.Settings(_watch.poll_interval(poll), reload_in)
    elif poll is not None or reload_in != "thread":
        raise ValueError("poll= and reload_in= only apply with watch=True")
    if not isinstance(dependents, bool):
        raise ValueError(f"dependents must be True or False, not {dependents!r}")
    _check_seconds("hold_timeout", hold_timeout, "0 or more", lambda s: s >= 0)
    _check_seconds("reload_timeout", reload_timeout, "more than 0", lambda s: s > 0)
    if validate is not None and not callable(validate):
        raise ValueError(
            f"validate must be a callable taking {{name: new module}}, not {validate!r}"
        )
    hook = Hook(
        Policy(include, exclude),
        watch=watch,
        patch=patch,
        keep=keep,
        poll=poll,
        reload_in=reload_in,
        dependents=dependents,
        hold_timeout=hold_timeout,
        validate=validate,
        reload_timeout=reload_timeout,
    )
    _children.make_way_for(hook)
    with _lock:
        if _active is not None:
            if _active._options() == hook._options():
                # The program asked for a watcher: it runs from now, not from
                # the first proxied import (a child's inherited hook).
                _active._start_deferred()
                return _active
            raise ValueError(
                f"hookreload is already installed with other options ({_active!r}); "
                "call hookreload.uninstall() first to change them"
            )
        sys.meta_path.insert(0, hook.finder)
        _active = hook
        _policy.active = hook.policy
        if watch:
            hook._settings = settings
            if _children.booting:
                hook._deferred = settings
            else:
                hook.watcher = _watch.start(settings)
    _children.on_install(hook)
    _log.debug("hookreload installed: %r", hook)
    return hook


def uninstall() -> None:
    """Remove the active hook and stop its watcher; proxies already made keep working.

    Safe to call when nothing is installed.
    """
    hook = _active
    if hook is not None:
        hook.uninstall()


def active() -> Hook | None:
    return _active


def start_deferred_watcher() -> None:
    """A proxied module finished importing: start the active hook's watcher if it waits for that.

    A child process's hook (``_children.boot()``) starts its watcher here
    rather than at start-up, so that a child that never imports a proxied
    module (a ``python -c`` helper, multiprocessing's resource tracker) never
    imports watchfiles nor runs a thread. The modules imported before it
    starts are watched too: their sources were hashed at import, and a
    watcher's first pass takes in every proxied module and checks every file.

    Never blocks: a thread that finishes an import holds that module's import
    lock, and the start imports watchfiles. If another thread holds the lock,
    it is starting this watcher, or installing or uninstalling the hook,
    which starts it (install() with the same options) or wants none.
    """
    hook = _active
    if hook is None or hook._deferred is None:  # the common case costs no lock
        return
    if not _lock.acquire(blocking=False):
        return
    try:
        hook._start_deferred()
    except Exception:
        # The import that got here succeeded: it must not fail for the watcher.
        _log.logger().warning(
            "could not start the watcher: saved edits are not reloaded", exc_info=True
        )
    finally:
        _lock.release()


def patching() -> bool:
    """Whether the active hook patches old objects in place at each reload (``patch=True``)."""
    hook = _active
    return hook is not None and hook.patch


def dependents() -> bool:
    """Whether the active hook reloads the importers of a reloaded module (``dependents=True``)."""
    hook = _active
    return hook is not None and hook.dependents


def _check_seconds(
    option: str, value: object, allowed: str, accept: Callable[[float], bool]
) -> None:
    """A time-out option: ``None`` or a number of seconds that ``accept`` takes (not a bool)."""
    if value is None:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool) and accept(value):
        return
    raise ValueError(f"{option} must be seconds ({allowed}) or None, not {value!r}")


def hold_timeout() -> float | None:
    """How long a swap waits for open holds: ``install(hold_timeout=...)``, or the default."""
    hook = _active
    return DEFAULT_TIMEOUT if hook is None else hook.hold_timeout
