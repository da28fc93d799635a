"""The ``hookreload`` command: run a program with the hook installed and watching."""

from __future__ import annotations

import argparse
import logging
import os
import runpy
import sys

from . import _children, _report, _status
from ._hook import install
from ._validate import CheckCommand

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_DESCRIPTION = """\
Run a Python program as `python` would, with hookreload installed and watching:
save a module the program imported and the program uses the new code at once.
A broken save is reported and the program keeps running on the previous version.
Python child processes the program starts (subprocess, multiprocessing) reload
their own modules too. Send SIGUSR1 to print the modules' versions on stderr.
"""

_EPILOG = """\
examples:
  hookreload app.py --port 8000
  hookreload -m myservice.main
  hookreload --include myservice --poll 0.2 -m myservice.main
  hookreload --patch app.py
"""


def _version() -> str:
    from . import __version__

    return f"hookreload {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookreload",
        usage="hookreload [options] script.py [args...]\n"
        "       hookreload [options] -m module [args...]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="proxy only modules matching PATTERN ('app' also means 'app.*'); repeatable. "
        "Default: every module loaded from source outside the standard library",
    )
    parser.add_argument(
        "--exclude", action="append", metavar="PATTERN", help="never proxy these; repeatable"
    )
    parser.add_argument(
        "--poll",
        nargs="?",
        const=True,
        type=float,
        metavar="INTERVAL",
        help="poll the files every INTERVAL seconds (default 0.5) instead of waiting for the "
        "operating system's file events: for network mounts and some containers",
    )
    parser.add_argument(
        "--no-dependents",
        dest="dependents",
        action="store_false",
        help="reload only the modules whose file changed; by default, the modules that took "
        "names from a reloaded module (from module import name) reload after it, so their "
        "copies are fresh",
    )
    parser.add_argument(
        "--patch",
        action="store_true",
        help="update the old functions and classes in place at each reload, so that references "
        "the program took before (from module import name, bound methods, instances) run the "
        "new code too",
    )
    parser.add_argument(
        "--no-children",
        dest="children",
        action="store_false",
        default=None,
        help="do not install hookreload in the Python child processes the program starts "
        "(also HOOKRELOAD_CHILDREN=0); by default each one watches and reloads itself",
    )
    parser.add_argument(
        "--check",
        metavar="CMD",
        help="before each reload goes live, run CMD (split like a shell command line, run "
        "without a shell) with the changed source files appended as arguments; a non-zero "
        "exit vetoes the reload, e.g. --check 'ruff check --quiet'",
    )
    parser.add_argument(
        "--reload-timeout",
        type=_seconds,
        default=RELOAD_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a reload whose modules still execute after SECONDS (default "
        f"{RELOAD_TIMEOUT:g}; 0: no limit); the previous version stays live",
    )
    quiet = parser.add_mutually_exclusive_group()
    quiet.add_argument("-q", "--quiet", action="store_true", help="report only failed reloads")
    quiet.add_argument("-v", "--verbose", action="store_true", help="report what is proxied too")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-m", dest="module", metavar="module", help="run a module, as python -m")
    return parser


# Options of ours that take a value; everything from the first other word on
# belongs to the program.
_VALUED = {"--include", "--exclude", "--check", "--reload-timeout", "-m"}
# A module that blocks at import must not stop the watcher for good; generous,
# as a reload executes far faster than this (a few ms).
RELOAD_TIMEOUT = 30.0


def _seconds(word: str) -> float:
    value = float(word)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {word!r}")
    return value


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Our options, and the program with its arguments."""
    ours: list[str] = []
    rest = list(argv)
    while rest:
        word = rest[0]
        if word == "--":
            return ours, rest[1:]
        if not word.startswith("-") or word == "-":
            return ours, rest
        ours.append(rest.pop(0))
        if word in _VALUED and rest:
            ours.append(rest.pop(0))
            if word == "-m":
                return ours, rest
        elif word == "--poll" and rest and _is_number(rest[0]):
            ours.append(rest.pop(0))
    return ours, rest


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _run_program(module: str | None, rest: list[str]) -> None:
    # As `python` would: argv, __main__ and the first entry of sys.path.
    if module is not None:
        sys.argv = [module, *rest]
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script, *args = rest
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hookreload`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    ours, rest = _split(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    options = parser.parse_args(ours)
    if options.module is None and not rest:
        parser.error("give a script to run, or -m and a module")
    if options.module is None and not os.path.isfile(rest[0]):
        parser.error(f"no such script: {rest[0]!r}")
    level = logging.DEBUG if options.verbose else logging.ERROR if options.quiet else logging.INFO
    handler = _report.to_stderr(level)
    saved_argv, saved_path0 = list(sys.argv), sys.path[0] if sys.path else ""
    if not sys.path:
        sys.path.append("")
    hook = install(
        options.include,
        options.exclude,
        watch=True,
        poll=options.poll,
        dependents=options.dependents,
        patch=options.patch,
        validate=None if options.check is None else CheckCommand(options.check),
        reload_timeout=options.reload_timeout or None,
    )
    if options.children is not False and _children.requested(default=True):
        _children.enable(hook, report=level)
    restore_signal = _status.print_on_signal()
    try:
        _run_program(options.module, rest)
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    finally:
        restore_signal()
        hook.uninstall()
        logging.getLogger("hookreload").removeHandler(handler)
        sys.argv = saved_argv
        sys.path[0] = saved_path0
    return 0


def _exit_code(code: object) -> int:
    # As the interpreter maps SystemExit(code) to a status.
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
