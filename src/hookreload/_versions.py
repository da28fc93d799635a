"""Versions of a module, their history, and the registry of proxied modules."""

from __future__ import annotations

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

    _Imported = tuple[Any, ...]


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

    # Slots: one of these per proxied module, made on the import path.
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
        proxy_ref: _ProxyRef,
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
        """Record the import's execution as version 1."""
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


# id(proxy) -> its record, checked by the identity of the record's weak
# reference to the proxy, which removes the entry when the proxy goes: cheaper
# on the import path than a WeakKeyDictionary, which makes a reference per
# lookup.
#
# The import path stores a tuple, not a record: what it learnt about the module
# (see register_import). Most modules are never reloaded nor asked about, so the
# ModuleRecord and its version 1 are built on first need, by record_of().
_records: dict[int, ModuleRecord | _Imported] = {}
# Guards turning a tuple into a record, so that there is only ever one record.
_records_lock = threading.Lock()

# Positions in an _Imported tuple.
_REF, _SPEC, _LOADER, _PATH, _REAL_PATH, _KEEP, _SIGNATURE, _DURATION, _LOADED_AT = range(9)


def register_import(
    proxy: types.ModuleType,
    spec: ModuleSpec,
    loader: Any,
    source_path: str,
    real_path: str,
    keep: int,
    signature: Signature,
) -> None:
    """Register ``proxy`` as it starts executing; :func:`finish_import` when it is done.

    Args:
        loader: the loader hookreload wrapped, the one that builds code.
        source_path: the file it is loaded from; a reload only ever reads it.
        real_path: that file with its links resolved, at import.
        signature: the file's stat signature at import, to tell later whether
            the file still holds the source version 1 was built from.
    """
    ref = _ProxyRef(proxy, _forget)
    ref.key = key = id(proxy)
    _records[key] = (ref, spec, loader, source_path, real_path, keep, signature)


def finish_import(proxy: types.ModuleType, duration_s: float) -> None:
    """Record the first execution of ``proxy``, registered before it, as version 1."""
    key = id(proxy)
    loaded_at = time.time()
    with _records_lock:
        entry = _records[key]
        if type(entry) is tuple:
            _records[key] = (*entry, duration_s, loaded_at)
            return
    # Someone asked for the record while the module was executing.
    assert isinstance(entry, ModuleRecord)
    with entry.lock:
        entry.push_first(duration_s, loaded_at)


def _record_from(entry: _Imported) -> ModuleRecord:
    record = ModuleRecord(*entry[:_DURATION])
    if len(entry) > _DURATION:
        record.push_first(entry[_DURATION], entry[_LOADED_AT])
    return record


def _ref_of(entry: ModuleRecord | _Imported) -> _ProxyRef:
    return entry[_REF] if type(entry) is tuple else entry._proxy  # type: ignore[union-attr]


def _materialise(key: int) -> ModuleRecord:
    with _records_lock:
        entry = _records[key]
        if type(entry) is tuple:
            entry = _records[key] = _record_from(entry)
        assert isinstance(entry, ModuleRecord)
        return entry


def unregister(proxy: types.ModuleType) -> None:
    with _records_lock:
        entry = _records.get(id(proxy))
        if entry is not None and _ref_of(entry)() is proxy:
            del _records[id(proxy)]


class _ProxyRef(weakref.ref[types.ModuleType]):
    """A weak reference to a proxy that knows its registry key (set after creation:
    a Python ``__init__`` would cost a frame on every import)."""

    __slots__ = ("key",)
    key: int


def _forget(ref: _ProxyRef) -> None:
    # No lock: this runs when the proxy dies, which can happen inside any
    # allocation, with the lock held by this very thread. Single dict
    # operations are atomic under the GIL.
    entry = _records.get(ref.key)
    if entry is not None and _ref_of(entry) is ref:
        _records.pop(ref.key, None)


def record_of(obj: object) -> ModuleRecord | None:
    """The record of ``obj`` when it is a proxy, else ``None``."""
    key = id(obj)
    entry = _records.get(key)
    if entry is None or _ref_of(entry)() is not obj:
        return None
    if type(entry) is tuple:
        return _materialise(key)
    return entry  # type: ignore[return-value]


def all_records() -> Iterator[ModuleRecord]:
    with _records_lock:
        for key, entry in list(_records.items()):
            if type(entry) is tuple:
                _records[key] = _record_from(entry)
        records = list(_records.values())
    return iter(records)  # type: ignore[arg-type]


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
