"""Faster construction of frozen slotted dataclasses, still frozen.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__(self, "name", value)`` (its own ``__setattr__`` refuses): a global lookup,
an attribute lookup and a call by name per field. The internode messages, their envelopes,
client replies and clock readings are built several times per write, so ``fast_init`` gives
such a class an ``__init__`` that stores through each slot's descriptor instead (the same
values, the same defaults, ``__post_init__`` still called): about twice as fast. Nothing else
changes: assigning a field still raises ``FrozenInstanceError``, equality and hashing are the
dataclass's.

Classes it cannot rewrite faithfully (no slots, not frozen, a default factory, keyword-only
fields, init-only variables) are returned unchanged.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")


def fast_init(cls: type[_T]) -> type[_T]:
    """``cls`` with a descriptor-storing ``__init__`` (see the module docstring)."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen \
            or "__slots__" not in cls.__dict__ or not params.init:
        return cls
    ns: dict[str, Any] = {}
    args: list[str] = []
    body: list[str] = []
    if any(repr(getattr(f, "_field_type", None)) == "_FIELD_INITVAR"
           for f in getattr(cls, "__dataclass_fields__", {}).values()):
        return cls  # init-only variables: leave the generated one
    for f in fields(cls):
        if not f.init or f.default_factory is not MISSING or f.kw_only:
            return cls
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            args.append(f.name)
        else:
            ns[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, ns)  # noqa: S102 - built from the class's own field names only
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = getattr(cls.__init__, "__doc__", None)
    init.fast_init = True  # what the tests check
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
