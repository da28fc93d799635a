"""Run the test suite under every supported Python present on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import nox

# 3.14 runs where a machine has it; the CI machines do not (see docs/limitations.md).
VERSIONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


def _works(path: str) -> bool:
    try:
        return subprocess.run([path, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def _interpreter(version: str) -> str:
    """The interpreter for ``version``: on PATH, or in a pyenv tree; else the bare name."""
    name = f"python{version}"
    found = shutil.which(name)
    if found and _works(found):
        return found
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for candidate in sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", name))):
        if _works(candidate):
            return candidate
    return name  # nox skips it as missing


@nox.session(python=[_interpreter(v) for v in VERSIONS])
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test,service]")
    session.run("python", "-m", "pytest", *session.posargs)
