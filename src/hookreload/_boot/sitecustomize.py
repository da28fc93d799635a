"""hookreload's start-up code for child processes (see hookreload/_children.py).

A program run with the ``hookreload`` command, or with ``HOOKRELOAD_CHILDREN=1``,
puts this file's directory first on ``PYTHONPATH``, so that every Python child it
starts imports this module at start-up, as ``site`` imports ``sitecustomize``.
It takes its directory off ``sys.path`` again, runs the ``sitecustomize`` it
shadows (if there is one), and installs hookreload with the parent's options.
"""

from __future__ import annotations

import os
import sys


def _boot() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    # The program sees the sys.path it would have had without us.
    sys.path[:] = [entry for entry in sys.path if not entry or os.path.abspath(entry) != here]
    try:
        _chain()
    finally:
        # Even when the shadowed sitecustomize fails (site reports its error).
        _install()


def _install() -> None:
    # _children.CONFIG_ENV, read before importing anything: a PYTHONPATH copied
    # without the options that go with it costs nothing.
    if not os.environ.get("HOOKRELOAD_CHILD_CONFIG"):
        return
    try:
        from hookreload import _children
    except ImportError:  # pragma: no cover - coverage is not installed there either
        # Another interpreter, without hookreload: leave it alone.
        return
    _children.boot()


def _chain() -> None:
    """Run the ``sitecustomize`` module that ours shadows, as ``site`` would have."""
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_boot()
