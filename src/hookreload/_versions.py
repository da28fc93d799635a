"""Versions of a module, their history, and the registry of proxied modules."""

from __future__ import annotations

import os
import sys
import threading
import time
import types
import weakref

from . import _policy
from ._digest import Signature, digest_if_unchanged
from ._errors import NotProxiedError
from ._proxy import version_of
from ._reclaim import reclaim

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from importlib.machinery import ModuleSpec
    from typing import Any


class Version:
    """One executed version of a proxied module.

    Attributes:
        name: the module's dotted name.
        number: 1 for the first import, then one more for every successful reload.
        source_hash: hex digest of the source bytes this version was built from.
        loaded_at: when it was built (``time.time()``).
        duration_s: how long building it took, in seconds.
        module: its own module object; ``None`` once the version was released.
        batch: the names of the modules made live together with this version
            (by ``reload(a, b, c)`` or one batch of the watcher), itself
            included; ``None`` for version 1. A rollback of one of them rolls
            back those of the batch that are still live.
    """

    __slots__ = (
        "_hash",
        "_origin",
        "batch",
        "code",
        "duration_s",
        "loaded_at",
        "module",
        "name",
        "number",
    )

    def __init__(
        self,
        name: str,
        number: int,
        module: types.ModuleType | None,
        source_hash: str | None,
        code: types.CodeType | None,
        duration_s: float,
        origin: tuple[str, Signature] | None = None,
    ) -> None:
        self.name = name
        self.number = number
        # None for version 1 until something needs it (see ModuleRecord.live_module).
        self.module = module
        self._hash = source_hash
        # Version 1 is hashed on first use, not at import (imports stay cheap):
        # its file and stat signature then.
        self._origin = origin
        # Kept so that reloading an unchanged file can skip compiling: keyed
        # by content, it can never be stale.
        self.code = code
        self.loaded_at = time.time()
        self.duration_s = duration_s
        # Shared, as one tuple, by every version of one batch: rollback tells
        # "swapped together" by identity.
        self.batch: tuple[str, ...] | None = None

    @property
    def source_hash(self) -> str:
        if self._hash is None:
            assert self._origin is not None
            self._hash = digest_if_unchanged(*self._origin)
        return self._hash

    def release(self) -> None:
        """Forget the version's module; free its namespace now if nothing uses it."""
        handover = [self.module] if self.module is not None else []
        self.module = None
        self.code = None
        if handover:
            reclaim(handover)

    def __repr__(self) -> str:
        state = "" if self.module is not None else " released"
        return f"<Version {self.number} of {self.name!r} {self.source_hash[:12]}{state}>"


class ModuleRecord:
    """What hookreload knows of one proxied module.

    The registry maps the proxy to its record weakly, so the record must not
    hold the proxy strongly either.
    """

    # Slots: one of these per proxied module that was ever asked about.
    __slots__ = (
        "__weakref__",
        "_followers",
        "_last_number",
        "_proxy",
        "history",
        "keep",
        "loader",
        "lock",
        "name",
        "real_path",
        "reloading",
        "signature",
        "source_path",
        "spec",
    )

    def __init__(
        self,
        proxy_ref: weakref.ref[types.ModuleType],
        spec: ModuleSpec,
        loader: Any,
        source_path: str,
        real_path: str,
        keep: int,
        signature: Signature,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        # The loader hookreload wrapped: the one that knows how to build code.
        self.loader = loader
        # Resolved once, at import: a reload only ever reads this file.
        self.source_path = source_path
        self.real_path = real_path
        self.keep = keep
        # The file's stat signature at import: see Version.source_hash.
        self.signature = signature
        # The registry entry goes with the proxy (see register_import()).
        self._proxy = proxy_ref
        self.lock = threading.RLock()
        self.reloading = False
        self.history: list[Version] = []
        self._last_number = 0
        # wrapt proxies made by hookreload.live(), pushed at every switch. By
        # id, not in a WeakSet: a proxy hashes and compares as its target.
        self._followers: dict[int, weakref.ref[Any]] | None = None

    @property
    def proxy(self) -> types.ModuleType:
        proxy = self._proxy()
        if proxy is None:  # pragma: no cover - the registry drops us first
            raise ReferenceError(f"the proxy of {self.name!r} is gone")
        return proxy

    @property
    def live(self) -> Version:
        return self.history[-1]

    def live_module(self) -> types.ModuleType:
        live = self.live
        if live.module is None:
            # Version 1's own module object, made on first need rather than at
            # every import; under the lock, so never while a switch is open.
            with self.lock:
                if live.module is None:
                    live.module = version_of(self.proxy)
        return live.module

    def add_follower(self, ref: Any) -> None:
        if self._followers is None:
            self._followers = {}
        key = id(ref)
        followers = self._followers

        def forget(_: object) -> None:
            followers.pop(key, None)

        followers[key] = weakref.ref(ref, forget)

    def followers(self) -> list[Any]:
        if not self._followers:
            return []
        alive = (ref() for ref in list(self._followers.values()))
        return [ref for ref in alive if ref is not None]

    def next_number(self) -> int:
        self._last_number += 1
        return self._last_number

    def push_first(self, duration_s: float, loaded_at: float) -> None:
        """Record the import's execution as version 1, unless that is done already.

        The caller holds the lock, or is the only one to know the record.
        """
        if self._last_number:
            # Both the import's end and the record's making saw the other:
            # see finish_import().
            return
        origin = (self.source_path, self.signature)
        first = Version(self.name, self.next_number(), None, None, None, duration_s, origin)
        first.loaded_at = loaded_at
        self.push(first)

    def push(self, version: Version) -> None:
        """Record ``version`` as live; release the ones beyond ``keep``."""
        self.history.append(version)
        while len(self.history) > self.keep:
            self.history.pop(0).release()

    def pop(self) -> Version:
        """Drop the live version, making the previous one live."""
        dropped = self.history.pop()
        dropped.release()
        return dropped


# id(proxy) -> what its import left (see Imported), whose record is built on
# first need. An entry leaves when its proxy dies (_proxy_died), so an
# id in here always names a live proxy: cheaper on the import path than a
# WeakKeyDictionary, which makes a reference per lookup.
_records: dict[int, Imported] = {}
# Guards building records, so that a module only ever has one.
_records_lock = threading.Lock()


class Imported:
    """What importing one module leaves in the registry, until its record is needed.

    Most modules are never reloaded nor asked about, so registering one stores
    what the import learnt on this object and builds nothing: its ModuleRecord
    and version 1 are made on first need, by :func:`record_of`. The loader that
    imports the module is one (``_loader.HookLoader``): the module's spec holds
    it anyway, so the registry costs the import no object of its own besides
    the weak reference to its proxy. (Every object that outlives an import
    costs it twice: made, then walked by each garbage collection while the
    program's heap grows.) It is not callable: code that collects the callables
    of a module's namespace (``__loader__`` among them) must find what it would
    without hookreload.

    The import path calls functions, not methods: the loader's ``__getattr__``
    makes every method call on it build a bound method.
    """

    __slots__ = (
        "_key",
        "_proxy",
        "_record",
        "duration_s",
        "keep",
        "loaded_at",
        "real_path",
        "signature",
        "source_path",
        "spec",
        "watched",
        "wrapped",
    )

    # Set when the loader is made; the others by register_import(), before
    # the registry can hand the entry out.
    wrapped: Any  # the loader that builds code (see ModuleRecord.loader)
    keep: int
    # Hashing a source costs a read; done lazily unless a watcher needs to
    # tell a touch from an edit from the first event on.
    watched: bool
    spec: ModuleSpec
    source_path: str
    real_path: str
    signature: Signature
    duration_s: float
    loaded_at: float | None
    _key: int
    _proxy: weakref.ref[types.ModuleType]
    _record: ModuleRecord | None


class _ProxyRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a proxy that knows its registry entry, for :func:`_proxy_died`."""

    __slots__ = ("entry",)

    entry: Imported


def _proxy_died(
    ref: _ProxyRef,
    # Bound here: at interpreter exit, proxies die after this module's
    # globals are cleared (their namespaces hold their loaders).
    records: dict[int, Imported] = _records,
) -> None:
    """A proxy died: its entry leaves the registry.

    No lock: this runs inside whatever allocation freed the proxy, perhaps
    with the lock held by this very thread. Single dict operations are
    atomic under the GIL, and the proxy's address cannot be reused by a new
    registration before this returns.
    """
    entry = ref.entry
    if records.get(entry._key) is entry:
        records.pop(entry._key, None)
    # Namespaces outlive their proxy and hold its loader, the entry
    # (``__loader__``): they must not keep the record and its versions alive.
    entry._record = None


def register_import(
    entry: Imported,
    proxy: types.ModuleType,
    spec: ModuleSpec,
    source_path: str,
    real_path: str,
    signature: Signature,
) -> Imported:
    """Register ``proxy`` as it starts executing; :func:`finish_import` its entry when done.

    Args:
        entry: the module's loader (a HookLoader); the entry, unless it has one
            already.
        source_path: the file it is loaded from; a reload only ever reads it.
        real_path: that file with its links resolved, at import.
        signature: the file's stat signature at import, to tell later whether
            the file still holds the source version 1 was built from.
    """
    if entry._key:
        # The loader made a proxy already: a module made again from the same
        # spec (``module_from_spec(proxy.__spec__)``) gets an entry of its own.
        loader, entry = entry, Imported()
        entry.wrapped = loader.wrapped
        entry.keep = loader.keep
        entry.watched = loader.watched
    entry.spec = spec
    entry.source_path = source_path
    entry.real_path = real_path
    entry.signature = signature
    entry._record = None
    entry.loaded_at = None
    entry.duration_s = 0.0
    entry._key = key = id(proxy)
    # Weakly: the registry keeps no module alive.
    entry._proxy = ref = _ProxyRef(proxy, _proxy_died)
    ref.entry = entry
    _records[key] = entry
    return entry


def finish_import(entry: Imported, duration_s: float) -> None:
    """Record the first execution of the module registered as ``entry`` as version 1.

    No lock on this path, which every import takes: the import's end stores
    ``loaded_at`` then looks for a record, the making of a record (_build)
    publishes it then looks at ``loaded_at``. Whichever comes second sees the
    other, so version 1 reaches the record at least once; push_first() keeps
    it to once.
    """
    entry.duration_s = duration_s
    entry.loaded_at = loaded_at = time.time()  # last: who sees it sees duration_s
    record = entry._record
    if record is not None:
        # Someone asked for the record while the module was executing.
        with record.lock:
            record.push_first(duration_s, loaded_at)


def _build(entries: list[tuple[Imported, types.ModuleType]]) -> list[ModuleRecord]:
    """The records of those of ``entries`` still registered, made now where none is yet.

    Each entry comes with its proxy, held here so that it cannot die meanwhile.
    """
    made = []
    with _records_lock:
        records = []
        for entry, _held in entries:
            if _records.get(entry._key) is not entry:
                continue  # unregistered since the caller found it
            record = entry._record
            if record is None:
                record = ModuleRecord(
                    entry._proxy,
                    entry.spec,
                    entry.wrapped,
                    entry.source_path,
                    entry.real_path,
                    entry.keep,
                    entry.signature,
                )
                if entry.loaded_at is not None:
                    # Finished long ago, as a rule: complete before anyone sees it.
                    record.push_first(entry.duration_s, entry.loaded_at)
                else:
                    made.append((entry, record))
                entry._record = record
            records.append(record)
    # After publishing, and outside our lock (the record's own lock is taken
    # after it elsewhere): an import that ended meanwhile may have missed it.
    for entry, record in made:
        if entry.loaded_at is not None:
            with record.lock:
                record.push_first(entry.duration_s, entry.loaded_at)
    return records


def unregister(proxy: types.ModuleType) -> None:
    """Forget ``proxy``: its import failed, or it replaced itself in ``sys.modules``."""
    with _records_lock:
        entry = _records.get(id(proxy))
        if entry is not None and entry._proxy() is proxy:
            del _records[id(proxy)]
            entry._record = None


def record_of(obj: object) -> ModuleRecord | None:
    """The record of ``obj`` when it is a proxy, else ``None``."""
    entry = _records.get(id(obj))
    if entry is None or entry._proxy() is not obj:
        return None
    record = entry._record
    if record is None:
        built = _build([(entry, obj)])  # type: ignore[list-item]
        record = built[0] if built else None
    return record


def all_records() -> Iterator[ModuleRecord]:
    """The records of every live proxy, in the order their imports began."""
    entries = []
    for entry in list(_records.values()):
        proxy = entry._proxy()
        if proxy is not None:  # else its removal is under way
            entries.append((entry, proxy))
    return iter(_build(entries))


def resolve(target: object, what: str = "reload") -> ModuleRecord:
    """The record of ``target`` (a proxy or a module name), or ``NotProxiedError``."""
    if isinstance(target, str):
        module = sys.modules.get(target)
        if module is None:
            raise NotProxiedError(
                f"cannot {what} {target!r}: no module of that name is imported; "
                "import it (after hookreload.install()) first"
            )
    elif isinstance(target, types.ModuleType):
        module = target
    else:
        raise NotProxiedError(
            f"cannot {what} a value of type {type(target).__name__}: pass a module imported under "
            "hookreload or its dotted name"
        )
    record = record_of(module)
    if record is None:
        name = getattr(module, "__name__", repr(module))
        raise NotProxiedError(
            f"cannot {what} {name!r}: it is not managed by hookreload because "
            f"{_policy.explain(module, _policy.active)}"
        )
    return record


def _forked() -> None:
    """In a forked child: free the locks that threads the child does not have were holding.

    A reload running in another thread at the fork left its module's lock
    (and perhaps the registry's) taken for good: the child's first reload of
    that module, or its watcher's first look at the registry, would wait
    forever. Locks the forking thread holds stay: it releases them itself.
    """
    global _records_lock
    _records_lock = threading.Lock()  # the forking thread never holds it across fork()
    for entry in list(_records.values()):
        record = entry._record
        if record is not None and not record.lock._is_owned():  # type: ignore[attr-defined]
            record.lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forked)
