"""The validation gate: a callable or a command that may veto a reload before the swap.

``install(validate=callable)`` is called with a read-only mapping of module
name -> new module object, for every module of the batch, once they all
executed and before any is live. It vetoes by returning ``False`` or by
raising; anything else (``None``, ``True``) lets the swap go on. The CLI's
``--check CMD`` is such a callable: :class:`CheckCommand` runs ``CMD`` with
the source files of the batch as arguments.
"""

from __future__ import annotations

import types

from ._errors import ReloadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ._build import Built

    Validator = Callable[[Mapping[str, types.ModuleType]], object]

# Longest a --check command may run before it counts as a veto.
CHECK_TIMEOUT = 60.0


class Vetoed(ReloadError):
    """A reload stopped by the validation gate; the live versions are unchanged.

    Attributes:
        validator: the ``validate`` callable (or ``--check`` command) that vetoed it.
    """

    def __init__(
        self, message: str, *, module: str, filename: str | None, validator: object
    ) -> None:
        super().__init__(message, module=module, filename=filename)
        self.validator = validator


def run(validate: Validator | None, built: Sequence[Built]) -> None:
    """Ask ``validate`` about ``built``; ``Vetoed`` (naming the first module) when it says no."""
    if validate is None or not built:
        return
    modules = types.MappingProxyType({b.record.name: b.module for b in built})
    reason: str | None = None
    try:
        if validate(modules) is False:
            reason = "it returned False"
    except Exception as exc:
        reason = str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}"
        cause: BaseException | None = exc
    else:
        cause = None
    if reason is None:
        return
    first = built[0].record
    names = ", ".join(repr(b.record.name) for b in built)
    error = Vetoed(
        f"cannot reload {names}: vetoed by {_describe(validate)}: {reason}; "
        f"keeping the live version{'s' if len(built) > 1 else ''}",
        module=first.name,
        filename=first.source_path,
        validator=validate,
    )
    raise error from cause


def _describe(validate: object) -> str:
    if isinstance(validate, CheckCommand):
        return repr(validate)
    name = getattr(validate, "__qualname__", None) or repr(validate)
    return f"validate={name}"


class CheckCommand:
    """A validator that runs a command on the new sources: a non-zero exit vetoes.

    The command line is split as a POSIX shell would (``shlex``), run
    without a shell, in the current directory, with the source file of
    every module of the batch appended as arguments. A command that runs
    longer than ``timeout`` seconds vetoes too.

    Example:
        >>> CheckCommand("ruff check --quiet")
        --check 'ruff check --quiet'
    """

    def __init__(self, command: str, timeout: float = CHECK_TIMEOUT) -> None:
        import shlex

        self.command = command
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("--check needs a command to run, such as 'ruff check'")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"--check {self.command!r}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CheckCommand):
            return NotImplemented
        return (self.command, self.timeout) == (other.command, other.timeout)

    def __hash__(self) -> int:
        return hash((self.command, self.timeout))

    def __call__(self, modules: Mapping[str, types.ModuleType]) -> bool:
        import subprocess

        files = sorted({str(m.__file__) for m in modules.values() if getattr(m, "__file__", None)})
        try:
            done = subprocess.run(
                [*self.argv, *files],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"it ran longer than {self.timeout:g} s") from None
        except OSError as exc:
            raise CheckFailed(f"it cannot run ({exc.strerror or exc})") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            last = output.splitlines()[-1] if output else "no output"
            raise CheckFailed(f"exit status {done.returncode} ({last})")
        return True


class CheckFailed(Exception):
    """A ``--check`` command said no; the message says how."""
