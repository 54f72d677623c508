"""The schema's wire and disk form: msgpack of its dataclasses, rebuilt field by field."""

from __future__ import annotations

import uuid
from dataclasses import astuple
from typing import Any

import msgpack

from skewless.errors import RemoteProtocolError
from skewless.node.messages import tupled
from skewless.schema import (
    ColumnDef,
    DroppedColumn,
    IndexDef,
    KeyspaceDef,
    Schema,
    TableDef,
    UserType,
)

_VERSION = 1


def _default(o: object) -> Any:
    if isinstance(o, uuid.UUID):
        return msgpack.ExtType(1, o.bytes)
    raise TypeError(f"cannot encode {type(o).__name__}")


def _ext(code: int, data: bytes) -> object:
    if code == 1:
        return uuid.UUID(bytes=data)
    return msgpack.ExtType(code, data)


def encode_schema(s: Schema) -> bytes:
    body = [
        _VERSION,
        [astuple(k) for k in s.keyspaces],
        [[t.keyspace, t.name, t.id, [astuple(c) for c in t.columns], list(t.options),
          [astuple(d) for d in t.dropped]]
         for t in s.tables],
        [astuple(u) for u in s.types],
        [astuple(i) for i in s.indexes],
    ]
    data: bytes = msgpack.packb(body, use_bin_type=True, default=_default)
    return data


def decode_schema(data: bytes) -> Schema:
    try:
        v, ks, tables, types, indexes = msgpack.unpackb(
            data, raw=False, ext_hook=_ext, strict_map_key=False)
        assert v == _VERSION
        schema = Schema(
            keyspaces=tuple(KeyspaceDef(k[0], tupled(k[1]), k[2]) for k in ks),
            tables=tuple(
                TableDef(t[0], t[1], t[2], tuple(ColumnDef(*c) for c in t[3]), tupled(t[4]),
                         tuple(DroppedColumn(*d) for d in (t[5] if len(t) > 5 else ())))
                for t in tables),
            types=tuple(UserType(u[0], u[1], tupled(u[2]), tupled(u[3])) for u in types),
            indexes=tuple(IndexDef(i[0], i[1], i[2], i[3], tupled(i[4])) for i in indexes),
        )
    except (ValueError, TypeError, IndexError, AssertionError, msgpack.UnpackException) as e:
        raise RemoteProtocolError(f"undecodable schema: {e}") from e
    return schema.with_version()
