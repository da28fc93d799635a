"""Child processes: the hook installed in every Python child a program starts, and after a fork.

A program run by the ``hookreload`` command, or one that sets
``HOOKRELOAD_CHILDREN=1`` and calls ``install()``, passes its options down
through the environment: ``HOOKRELOAD_CHILD_CONFIG`` holds them (JSON), and
the directory ``_boot/``, whose only file is a ``sitecustomize.py``, goes
first on ``PYTHONPATH``. Every Python process started from then on with that
environment (``subprocess`` running ``sys.executable``, multiprocessing's
spawn and forkserver start methods, which start fresh interpreters) imports
that ``sitecustomize`` at start-up (``site`` does, before the program runs);
it takes its directory off ``sys.path`` again, runs the ``sitecustomize`` it
shadows, if any, and calls :func:`boot`, which installs a watching hook with
the parent's options. Grandchildren inherit the environment, so they get it
too. The child's watcher starts when its first proxied module finishes
importing (``_hook.start_deferred_watcher()``), not at start-up: most Python
children (multiprocessing's resource tracker and forkserver, ``python -c``
helpers, pip) import none, and importing watchfiles and starting a thread
was most of what the hook cost them at start-up.

Why not a ``.pth`` file in site-packages, as coverage.py ships (its
``COVERAGE_PROCESS_START`` / ``process_startup()``)? A ``.pth`` file runs in
every interpreter of the environment, for every program, whether it uses
hookreload or not, and it is only there when the package was installed from
a wheel: an editable install does not ship it, and writing one at run time
means editing site-packages. The boot directory works the same from a wheel,
an editable install or a source checkout, changes nothing on disk, and costs
nothing to processes that are not children of a program that asked for it.
Its limits: a child started with ``-I``, ``-E`` or ``-S``, or with an
environment of its own that drops ``PYTHONPATH``, is not reached (coverage's
way has the same limits with its own variable).

A fork (``os.fork``, multiprocessing's fork start method, and each child the
forkserver forks) copies the hook but not the watcher's thread:
:func:`follow_forks` gives each forked child a watcher of its own (at once
when the parent's runs, else at the child's first proxied import).
"""

from __future__ import annotations

import os
import threading

from . import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._hook import Hook

# The opt-in, read by install(): "1" passes the hook down to child processes.
# The hookreload command does it unless given --no-children or "0".
ENV = "HOOKRELOAD_CHILDREN"
# The options a child installs its hook with; set by the parent, read by boot().
CONFIG_ENV = "HOOKRELOAD_CHILD_CONFIG"
BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")

# Keyword options of install() passed down as they are: plain values only;
# objects (validate=, but for the command's --check; an event loop for
# reload_in=) cannot be.
_PASSED = ("patch", "keep", "dependents", "hold_timeout", "reload_timeout")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# Name -> (its value before enable(), the value enable() set): put back when
# the hook that enabled it is uninstalled, unless the program changed it since.
_saved: dict[str, tuple[str | None, str]] | None = None
_enabled_by: Hook | None = None
# The hook boot() installed: an install() of the program's own replaces it.
_inherited: Hook | None = None
_following_forks = False
# True while boot() installs the inherited hook: install() then defers its
# watcher to the first proxied import.
booting = False


def requested(default: bool = False) -> bool:
    """Whether ``HOOKRELOAD_CHILDREN`` asks for child processes to get the hook."""
    raw = os.environ.get(ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    if raw:
        _log.logger().warning(
            "ignoring %s=%r: use 1 to install hookreload in child processes, 0 not to", ENV, raw
        )
    return default


def on_install(hook: Hook) -> None:
    """What ``install()`` does for child processes once ``hook`` is active."""
    if hook.watch:
        follow_forks()
    if requested():
        enable(hook)


def on_uninstall(hook: Hook) -> None:
    """Undo :func:`enable`: children started from now on run without the hook."""
    global _saved, _inherited, _enabled_by
    if _inherited is hook:
        _inherited = None
    if _enabled_by is not hook or _saved is None:
        return
    saved, _saved, _enabled_by = _saved, None, None
    for name, (before, ours) in saved.items():
        if os.environ.get(name) != ours:
            continue
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def enable(hook: Hook, report: int | None = None) -> None:
    """Make every Python child process started from now on install ``hook``'s options.

    Args:
        report: the ``logging`` level at which children report their reloads
            on standard error, as the ``hookreload`` command does; ``None``:
            they only log, on the ``hookreload`` logger.
    """
    global _saved, _enabled_by
    import json

    config: dict[str, object] = {
        "include": None if hook.include is None else list(hook.include),
        "exclude": list(hook.exclude),
        "patch": hook.patch,
        "keep": hook.keep,
        "poll": hook.poll,
        "dependents": hook.dependents,
        "hold_timeout": hook.hold_timeout,
        "reload_timeout": hook.reload_timeout,
        "report": report,
    }
    from ._validate import CheckCommand

    if isinstance(hook.validate, CheckCommand):
        # The command's --check is plain data: a child checks its reloads the same way.
        config["check"] = [hook.validate.command, hook.validate.timeout]
    before = {name: os.environ.get(name) for name in (CONFIG_ENV, "PYTHONPATH")}
    os.environ[CONFIG_ENV] = json.dumps(config)
    path = os.environ.get("PYTHONPATH", "")
    if path.split(os.pathsep)[0] != BOOT_DIR:
        os.environ["PYTHONPATH"] = BOOT_DIR + (os.pathsep + path if path else "")
    if _saved is None:
        _saved = {name: (value, os.environ[name]) for name, value in before.items()}
    else:  # enabled again (the command's own options): what was there first goes back
        _saved = {name: (_saved[name][0], os.environ[name]) for name in _saved}
    _enabled_by = hook
    follow_forks()
    _log.debug("child processes will install hookreload: %s", config)


def boot() -> None:
    """In a child process, at start-up: install the hook its parent passed down. Never raises."""
    global _inherited, booting
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        return
    try:
        import json

        from ._hook import install

        config = json.loads(raw)
        report = config.get("report")
        if report is not None:
            from . import _report

            _report.to_stderr(int(report))
        options = {name: config[name] for name in _PASSED if name in config}
        if config.get("check") is not None:
            from ._validate import CheckCommand

            command, timeout = config["check"]
            options["validate"] = CheckCommand(command, timeout)
        booting = True
        try:
            _inherited = install(
                config.get("include"),
                config.get("exclude"),
                watch=True,
                poll=config.get("poll"),
                **options,
            )
        finally:
            booting = False
    except Exception as exc:
        # A child must run even when its parent's hook cannot follow it. A
        # warning, not a log record: at start-up nothing configured logging yet.
        import warnings

        warnings.warn(
            f"could not install hookreload in child process {os.getpid()} from "
            f"{CONFIG_ENV}={raw!r}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=1,
        )


def make_way_for(hook: Hook) -> None:
    """Before ``install()`` puts in ``hook``: the program's own options replace inherited ones.

    A child installs its parent's options before its program starts; when the
    program calls ``install()`` with options of its own, it gets them rather
    than ``ValueError``. The modules already proxied stay proxies.
    """
    inherited = _inherited
    if inherited is not None and inherited.installed and inherited._options() != hook._options():
        _log.debug("replacing the inherited hook %r", inherited)
        inherited.uninstall()


def follow_forks() -> None:
    """Give every child forked from now on a watcher of its own (the thread does not survive)."""
    global _following_forks
    if not _following_forks and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _following_forks = True


def _after_fork_in_child() -> None:
    from . import _hook

    hook = _hook.active()
    if hook is None or hook._settings is None:
        return
    if hook.watcher is None:
        if hook._deferred is None:
            # Another thread of the parent was starting the watcher (or its
            # start failed): what it held is the parent's; this child's
            # watcher starts with its first proxied import, as deferred ones do.
            from . import _watch

            _watch.forget_after_fork()
            _hook._lock = threading.Lock()
            hook._deferred = hook._settings
        return
    try:
        from ._watch import restart_after_fork

        hook.watcher = restart_after_fork(hook.watcher)
    except Exception:
        _log.logger().warning(
            "could not start a watcher in forked process %d", os.getpid(), exc_info=True
        )
