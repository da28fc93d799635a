"""The service's start-up: hookreload first, with its watcher, then the handlers.

``stdlib_app.main()`` and ``workers`` call :func:`install_hookreload` before
anything imports ``handlers``: only modules imported while the hook is
installed are proxies that a saved edit reloads.
"""

from __future__ import annotations

import logging

import hookreload


def install_hookreload(log_format: str = "%(name)s: %(message)s") -> None:
    """``hookreload.install(watch=True)``, and its reports of each reload on standard error."""
    try:
        hookreload.install(watch=True)
    except ValueError:
        # Installed already, with options of its own: this runs under the
        # hookreload command, whose watcher does the same job and reports.
        return
    # hookreload reports each reload on its logger, and a library prints nothing itself.
    logging.basicConfig(format=log_format)
    logging.getLogger("hookreload").setLevel(logging.INFO)
