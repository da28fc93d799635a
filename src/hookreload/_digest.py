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
        with open(path, "rb") as f:
            data = f.read()
            # Read first, then stat: a write in between moves the signature.
            now = signature_of(os.fstat(f.fileno()))
    except OSError:
        return CHANGED
    return digest(data) if now == since else CHANGED
