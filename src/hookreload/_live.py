"""Live references: wrapt proxies to one attribute that follow every switch."""

from __future__ import annotations

import importlib
import sys
import types
from functools import reduce

from . import _log
from ._versions import ModuleRecord, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _lookup(module: types.ModuleType, path: str) -> Any:
    return reduce(getattr, path.split("."), module)


def _parse(target: object, attr: str | None) -> tuple[object, str]:
    if attr is not None:
        return target, attr
    if isinstance(target, str) and ":" in target:
        name, _, path = target.partition(":")
        if name and path:
            if name not in sys.modules:
                importlib.import_module(name)
            return name, path
    raise ValueError(
        f"live() takes 'package.module:attribute' or (module, 'attribute'); got {target!r}"
    )


def live(target: object, attr: str | None = None) -> Any:
    module_target, path = _parse(target, attr)
    record = resolve(module_target, "follow an attribute of")
    try:
        obj = _lookup(record.proxy, path)
    except AttributeError as exc:
        raise AttributeError(
            f"module {record.name!r} ({record.source_path}) has no attribute {path!r}"
        ) from exc
    import wrapt  # imported here: it is heavy and most programs never need it

    cls = wrapt.CallableObjectProxy if callable(obj) else wrapt.ObjectProxy
    ref: Any = cls(obj)
    ref._self_hookreload_path = path
    record.add_follower(ref)
    return ref


def follow(record: ModuleRecord) -> None:
    """Point every live reference of ``record`` at what the live version binds."""
    for ref in record.followers():
        path = ref._self_hookreload_path
        try:
            ref.__wrapped__ = _lookup(record.proxy, path)
        except AttributeError:
            _log.logger().warning(
                "live reference %s:%s keeps its old target: version %d of %r has no %r",
                record.name,
                path,
                record.live.number,
                record.name,
                path,
            )
