"""What identifies the content of a source file: a digest, and a cheap stat signature."""

from __future__ import annotations

import os

# (mtime_ns, size, inode, ctime_ns): the change time moves on every write,
# rename and os.utime(), even when an editor pins the modification time.
Signature = tuple[int, int, int, int]


def digest(data: bytes) -> str:
    import hashlib  # here, not at the top: `import hookreload` stays cheap

    return hashlib.blake2b(data, digest_size=16).hexdigest()


def signature_of(st: os.stat_result) -> Signature:
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


# The digest of a file that changed after its version was built from it:
# equal to no real digest, so the file always counts as changed.
CHANGED = "changed-since-import"


def digest_if_unchanged(path: str, since: Signature) -> str:
    """The digest of ``path`` if its stat signature is still ``since``, else ``CHANGED``."""
    try:
        data, now = read_file(path)
    except OSError:
        return CHANGED
    return digest(data) if now == since else CHANGED


_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_CHUNK = 1 << 16  # most modules are smaller: one read


def read_file(path: str) -> tuple[bytes, Signature]:
    """The bytes of the file ``path`` and its stat signature, taken after the read.

    Four system calls for a file under 64 kB (open, read, stat, close), where
    ``open(path, "rb").read()`` makes nine: each lets the other threads take
    the GIL, and a reload in a busy program waits for it again every time
    (three busy threads: about 15 ms a call).

    Raises:
        OSError: as ``open()`` and ``read()`` would (``IsADirectoryError`` for
            a directory).
    """
    fd = os.open(path, _FLAGS)
    try:
        return _read(fd)
    finally:
        os.close(fd)


def read_file_opened(path: str) -> tuple[bytes, str | None]:
    """The bytes of the file ``path``, and the real path of the file opened.

    The real path is the kernel's (``/proc/self/fd``, one system call where
    ``os.path.realpath`` makes one per folder), or ``None`` where there is no
    such answer.

    Raises:
        OSError: as :func:`read_file`.
    """
    fd = os.open(path, _FLAGS)
    try:
        try:
            opened: str | None = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc (not Linux, or not mounted)
            opened = None
        return _read(fd)[0], opened
    finally:
        os.close(fd)


def _read(fd: int) -> tuple[bytes, Signature]:
    # Read first, then stat: a write in between moves the signature.
    data = os.read(fd, _CHUNK)
    st = os.fstat(fd)
    if len(data) == _CHUNK or len(data) < st.st_size:
        # Larger than one read (or a file system that reads short): the rest.
        parts = [data]
        while chunk := os.read(fd, max(_CHUNK, st.st_size)):
            parts.append(chunk)
        data = b"".join(parts)
        st = os.fstat(fd)
    return data, signature_of(st)
