"""A file descriptor that becomes readable when a watched directory changes (Linux inotify).

watchfiles collects changes in a thread of its own, but the only way to ask
it for them is a loop that wakes every step (5 ms) to look. On an idle
program those 200 wake-ups a second are most of the watcher's CPU (each one
is a timer interrupt, a thread switch and the GIL taken and given back). The
doorbell lets the watcher thread sleep in the kernel instead, and ask
watchfiles only once something happened. It only says *that* something
changed: which files, and whether a save is finished, still come from
watchfiles.

A missed ring would leave a change unreported, so the doorbell is used only
where it hears everything watchfiles hears: its own inotify watches on the
same directories, for every kind of change watchfiles reports. Anywhere else
(no inotify, watchfiles polling, a watch that cannot be added) there is no
doorbell, and the watcher wakes every step as before.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# <sys/inotify.h>: the changes watchfiles reports (created, modified, metadata,
# moved, deleted), and the watched directory itself deleted or moved. Not
# opening, reading or closing: an import reads files in these directories.
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ONLYDIR = 0x01000000
MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)

_READ_SIZE = 65536


class Doorbell:
    """An inotify descriptor on ``directories``, and a pipe that wakes its waiter.

    Raises:
        OSError: inotify is not available here or a directory cannot be
            watched (missing, or the user's inotify limits are reached).
    """

    def __init__(self, directories: Sequence[str]) -> None:
        libc = _libc()
        if libc is None:
            raise OSError("inotify is not available")
        self._lock = threading.Lock()
        self._closed = False
        # IN_NONBLOCK and IN_CLOEXEC are O_NONBLOCK and O_CLOEXEC on Linux.
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _os_error(libc, "inotify_init1")
        self._fd: int = fd
        try:
            for directory in directories:
                if libc.inotify_add_watch(fd, os.fsencode(directory), MASK) < 0:
                    raise _os_error(libc, directory)
            self._wake_r, self._wake_w = os.pipe()
        except BaseException:
            os.close(fd)
            raise
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        import select

        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)

    def __repr__(self) -> str:
        return f"<Doorbell fd={self._fd}{' closed' if self._closed else ''}>"

    def wait(self, timeout: float | None) -> bool:
        """Sleep until a change, :meth:`wake` or ``timeout`` seconds; whether a change rang.

        The rings heard are consumed: the next call waits for a new one.
        """
        ms = -1 if timeout is None else max(0, round(timeout * 1000))
        ready = {fd for fd, _ in self._poll.poll(ms)}
        if self._wake_r in ready:
            _drain(self._wake_r)
        if self._fd not in ready:
            return False
        _drain(self._fd)
        return True

    def wake(self) -> None:
        """End a :meth:`wait` now (from any thread); a no-op once closed."""
        with self._lock:
            if self._closed:
                return
            # A full pipe already wakes the waiter.
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"!")

    def close(self) -> None:
        """Release the descriptors; safe to call twice."""
        with self._lock:
            # Under the lock: wake() must never write to a number that a
            # later open() may have reused.
            if self._closed:
                return
            self._closed = True
            for fd in (self._fd, self._wake_r, self._wake_w):
                os.close(fd)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, _READ_SIZE):
            pass
    except BlockingIOError:
        pass


def preload_doorbell() -> None:
    """Import what a :class:`Doorbell` needs now, in the calling thread."""
    import select  # noqa: F401

    _libc()


_libc_cache: list[Any] = []


def _libc() -> Any:
    """The C library, when it has inotify (Linux); ``None`` elsewhere."""
    if not _libc_cache:
        found = None
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if hasattr(libc, "inotify_init1") and hasattr(libc, "inotify_add_watch"):
                    libc.inotify_add_watch.argtypes = [
                        ctypes.c_int,
                        ctypes.c_char_p,
                        ctypes.c_uint32,
                    ]
                    found = libc
            except OSError:
                pass
        _libc_cache.append(found)
    return _libc_cache[0]


def _os_error(libc: Any, what: str) -> OSError:
    import ctypes

    errno = ctypes.get_errno()
    return OSError(errno, os.strerror(errno), what)
