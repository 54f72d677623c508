"""Cassandra's native scalar functions applied in a select clause, on serialized values.

Each function has a signature: the argument types it accepts and its result type
(``signature``), so result metadata is known at PREPARE time. ``apply`` computes one call from
its serialized argument; a null (or empty) argument gives null, as Cassandra's native functions
do. The functions without arguments (now(), uuid(), currentTimestamp(), ...) depend on the
statement's context, not on the row: they are evaluated once per statement with
``terms.call_function`` (see ``selection.bind_selectors``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from skewless import errors
from skewless.cql import fixed
from skewless.cql.json_codec import to_json
from skewless.cql.terms import DATE_EPOCH, NATIVE_TYPES, edge_timeuuid, timeuuid_ms
from skewless.cql.types_base import CqlType
from skewless.storage import keys

ZERO_ARGS = {"now": "timeuuid", "currenttimeuuid": "timeuuid", "uuid": "uuid",
             "currenttimestamp": "timestamp", "currentdate": "date", "currenttime": "time"}

# name -> (accepted argument types, result type); "*" accepts any type.
ONE_ARG: dict[str, tuple[tuple[str, ...], str]] = {
    "totimestamp": (("timeuuid", "date", "timestamp"), "timestamp"),
    "dateof": (("timeuuid",), "timestamp"),
    "todate": (("timeuuid", "timestamp", "date"), "date"),
    "tounixtimestamp": (("timeuuid", "timestamp", "date"), "bigint"),
    "unixtimestampof": (("timeuuid",), "bigint"),
    "mintimeuuid": (("timestamp",), "timeuuid"),
    "maxtimeuuid": (("timestamp",), "timeuuid"),
    "tojson": (("*",), "text"),
}


def _blob_conversion(name: str) -> tuple[tuple[str, ...], str] | None:
    if name.endswith("asblob") and name[:-6] in NATIVE_TYPES:
        return (name[:-6],), "blob"
    if name.startswith("blobas") and name[6:] in NATIVE_TYPES:
        return ("blob",), name[6:]
    return None


def is_scalar(name: str) -> bool:
    return name in ZERO_ARGS or name in ONE_ARG or _blob_conversion(name) is not None


def param_type(name: str) -> str:
    """The type a constant argument of ``name`` is read as (its first accepted type)."""
    accepted, _ = ONE_ARG.get(name) or _blob_conversion(name) or (("text",), "")
    return "text" if accepted[0] == "*" else accepted[0]


def signature(name: str, arg_types: list[str]) -> str:
    """The result type of ``name`` called with arguments of ``arg_types``."""
    if name in ZERO_ARGS:
        if arg_types:
            raise _arity(name, 0, len(arg_types))
        return ZERO_ARGS[name]
    sig = ONE_ARG.get(name) or _blob_conversion(name)
    if sig is None:
        raise errors.InvalidRequest(f"Unknown function '{name}'")
    if len(arg_types) != 1:
        raise _arity(name, 1, len(arg_types))
    accepted, result = sig
    base = _base(arg_types[0])
    if "*" not in accepted and base not in accepted and not (
            base == "varchar" and "text" in accepted):
        raise errors.InvalidRequest(
            f"Type error: argument of type {arg_types[0]} cannot be passed as argument 0 of "
            f"function system.{name} of type {' or '.join(accepted)}")
    return result


def _base(type_text: str) -> str:
    return keys.parse_type(type_text)[0] if "<" in type_text else type_text


def _arity(name: str, want: int, got: int) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"Invalid number of arguments in call to function system."
                                 f"{name}: {want} required but {got} provided")


def _ms_of(v: bytes, t: str) -> int:
    if t == "timeuuid":
        return timeuuid_ms(v)
    if t == "date":
        return (fixed.unpack(">I", v, "date") - DATE_EPOCH) * 86_400_000
    return fixed.unpack(">q", v, t)


def _date(ms: int) -> bytes:
    return struct.pack(">I", (ms // 86_400_000 + DATE_EPOCH) & 0xFFFFFFFF)


def apply(name: str, arg: bytes | None, arg_type: str,
          ctype_of: Callable[[str], CqlType]) -> bytes | None:
    """``name(arg)`` for a one-argument function, on serialized values."""
    if name == "tojson":
        return to_json(ctype_of(arg_type), arg).encode()
    if arg is None or (not arg and arg_type not in ("blob", "text", "ascii", "varchar")):
        return None
    if name in ("totimestamp", "dateof"):
        return struct.pack(">q", _ms_of(arg, arg_type))
    if name in ("tounixtimestamp", "unixtimestampof"):
        return struct.pack(">q", _ms_of(arg, arg_type))
    if name == "todate":
        return _date(_ms_of(arg, arg_type))
    if name in ("mintimeuuid", "maxtimeuuid"):
        return edge_timeuuid(_ms_of(arg, "timestamp"), name == "maxtimeuuid")
    conversion = _blob_conversion(name)
    assert conversion is not None, name
    if conversion[1] != "blob" and arg:
        ctype_of(conversion[1]).validate(arg)
    return arg
