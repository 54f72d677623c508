"""Native protocol responses: the message values a server sends, and their body encodings.

Every response is a frozen, slotted dataclass; ``encode_response(r, version)`` returns its
opcode and body (without the envelope prefixes: trace id, warnings and custom payload are added
by ``protocol.encode_envelope``). ERROR bodies follow the spec per code, including the extra
fields the drivers read (Unavailable, timeouts, failures, AlreadyExists, Unprepared). Bodies
are v4's except where ``version`` says otherwise (``protocol_versions`` has the v3/v5 views of
types and errors): v3 PREPARED has no partition key indexes; v5 PREPARED carries the result
metadata id, v5 Rows metadata may say METADATA_CHANGED, and v5 failures carry a reason map.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from skewless import errors
from skewless.cql.protocol_versions import compatible_error, result_metadata_id, type_option
from skewless.cql.types_base import CqlType, pack_cell, pack_int, pack_short, pack_string

OP_ERROR = 0x00
OP_READY = 0x02
OP_AUTHENTICATE = 0x03
OP_SUPPORTED = 0x06
OP_RESULT = 0x08
OP_EVENT = 0x0C
OP_AUTH_CHALLENGE = 0x0E
OP_AUTH_SUCCESS = 0x10

ROWS_GLOBAL_TABLE_SPEC = 0x0001
ROWS_HAS_MORE_PAGES = 0x0002
ROWS_NO_METADATA = 0x0004
ROWS_METADATA_CHANGED = 0x0008  # v5

SchemaTarget = Literal["KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE"]
SchemaChangeType = Literal["CREATED", "UPDATED", "DROPPED"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    type: CqlType


@dataclass(frozen=True, slots=True)
class RowsMetadata:
    """Result metadata. ``paging_state`` set means 'has more pages'; ``no_metadata`` sends only
    the column count (the client uses the prepared statement's metadata); ``new_metadata_id``
    (v5) says the columns differ from those the client's EXECUTE named, and their id."""

    columns: tuple[ColumnSpec, ...]
    paging_state: bytes | None = None
    no_metadata: bool = False
    new_metadata_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    error: errors.CqlError


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class Supported:
    options: Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Authenticate:
    authenticator: str


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    token: bytes | None


@dataclass(frozen=True, slots=True)
class AuthSuccess:
    token: bytes | None = None


@dataclass(frozen=True, slots=True)
class ResultVoid:
    pass


@dataclass(frozen=True, slots=True)
class ResultRows:
    metadata: RowsMetadata
    rows: Sequence[Sequence[bytes | None]]


@dataclass(frozen=True, slots=True)
class ResultSetKeyspace:
    keyspace: str


@dataclass(frozen=True, slots=True)
class ResultPrepared:
    """``bind_columns`` are the bind markers' specs in order; ``pk_indexes`` the positions of
    the partition key columns among them (the drivers route with these)."""

    query_id: bytes
    bind_columns: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...]
    result_metadata: RowsMetadata


@dataclass(frozen=True, slots=True)
class ResultSchemaChange:
    change_type: SchemaChangeType
    target: SchemaTarget
    keyspace: str
    name: str | None = None  # TABLE, TYPE, FUNCTION, AGGREGATE
    arg_types: tuple[str, ...] = field(default=())  # FUNCTION, AGGREGATE


@dataclass(frozen=True, slots=True)
class TopologyChangeEvent:
    change: Literal["NEW_NODE", "REMOVED_NODE", "MOVED_NODE"]
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class StatusChangeEvent:
    change: Literal["UP", "DOWN"]
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class SchemaChangeEvent:
    change: ResultSchemaChange


Event = TopologyChangeEvent | StatusChangeEvent | SchemaChangeEvent
Response = (
    ErrorResponse | Ready | Supported | Authenticate | AuthChallenge | AuthSuccess | ResultVoid
    | ResultRows | ResultSetKeyspace | ResultPrepared | ResultSchemaChange
)

# ------------------------------------------------------------------ primitive writers


def pack_byte(n: int) -> bytes:
    return struct.pack(">B", n)


def pack_short_bytes(data: bytes) -> bytes:
    return pack_short(len(data)) + data


def pack_string_list(items: Sequence[str]) -> bytes:
    return pack_short(len(items)) + b"".join(pack_string(s) for s in items)


def pack_bytes_map(items: Mapping[str, bytes | None]) -> bytes:
    return pack_short(len(items)) + b"".join(
        pack_string(k) + pack_cell(v) for k, v in items.items()
    )


def pack_inet_address(address: str) -> bytes:
    packed = ipaddress.ip_address(address).packed
    return pack_byte(len(packed)) + packed


def pack_inet(address: str, port: int) -> bytes:
    return pack_inet_address(address) + pack_int(port)


def _failures(e: errors.ReadFailure | errors.WriteFailure, version: int) -> bytes:
    """v3/v4: the failure count; v5: the reason map (address -> code) instead."""
    if version < 5:
        return pack_int(e.failures)
    return pack_int(len(e.reasons)) + b"".join(
        pack_inet_address(a) + pack_short(code) for a, code in e.reasons.items())


# ------------------------------------------------------------------ errors


def _error_extra(e: errors.CqlError, version: int) -> bytes:
    """The code-specific part of an ERROR body."""
    if isinstance(e, errors.Unavailable):
        return pack_short(e.consistency) + pack_int(e.required) + pack_int(e.alive)
    if isinstance(e, errors.WriteTimeout):
        # protocol v5: a CAS write timeout carries <contentions> [short] after write_type
        cas = b""
        if version >= 5 and e.write_type == "CAS":
            cas = pack_short(min(e.contentions, 0xFFFF))
        return (pack_short(e.consistency) + pack_int(e.received) + pack_int(e.block_for)
                + pack_string(e.write_type) + cas)
    if isinstance(e, errors.ReadTimeout):
        return (pack_short(e.consistency) + pack_int(e.received) + pack_int(e.block_for)
                + pack_byte(int(e.data_present)))
    if isinstance(e, errors.ReadFailure):
        return (pack_short(e.consistency) + pack_int(e.received) + pack_int(e.block_for)
                + _failures(e, version) + pack_byte(int(e.data_present)))
    if isinstance(e, errors.WriteFailure):
        return (pack_short(e.consistency) + pack_int(e.received) + pack_int(e.block_for)
                + _failures(e, version) + pack_string(e.write_type))
    if isinstance(e, errors.AlreadyExists):
        return pack_string(e.keyspace) + pack_string(e.table)
    if isinstance(e, errors.Unprepared):
        return pack_short_bytes(e.statement_id)
    return b""


def encode_error(e: errors.CqlError, version: int = 4) -> bytes:
    e = compatible_error(e, version)
    return pack_int(e.code) + pack_string(e.message) + _error_extra(e, version)


# ------------------------------------------------------------------ results


def _global_table(columns: Sequence[ColumnSpec]) -> tuple[str, str] | None:
    if not columns:
        return None
    first = (columns[0].keyspace, columns[0].table)
    same = all((c.keyspace, c.table) == first for c in columns)
    return first if same else None


def _column_specs(columns: Sequence[ColumnSpec], global_spec: tuple[str, str] | None,
                  version: int) -> bytes:
    out = []
    if global_spec is not None:
        out.append(pack_string(global_spec[0]) + pack_string(global_spec[1]))
    for c in columns:
        if global_spec is None:
            out.append(pack_string(c.keyspace) + pack_string(c.table))
        out.append(pack_string(c.name) + type_option(c.type, version))
    return b"".join(out)


def encode_rows_metadata(m: RowsMetadata, version: int = 4) -> bytes:
    changed = m.new_metadata_id is not None and version >= 5
    assert not (changed and m.no_metadata), m
    global_spec = None if m.no_metadata else _global_table(m.columns)
    flags = (ROWS_GLOBAL_TABLE_SPEC if global_spec is not None else 0)
    flags |= ROWS_HAS_MORE_PAGES if m.paging_state is not None else 0
    flags |= ROWS_NO_METADATA if m.no_metadata else 0
    flags |= ROWS_METADATA_CHANGED if changed else 0
    out = pack_int(flags) + pack_int(len(m.columns))
    if m.paging_state is not None:
        out += pack_cell(m.paging_state)
    if changed:
        assert m.new_metadata_id is not None
        out += pack_short_bytes(m.new_metadata_id)
    if not m.no_metadata:
        out += _column_specs(m.columns, global_spec, version)
    return out


def _encode_rows(r: ResultRows, version: int) -> bytes:
    width = len(r.metadata.columns)
    parts = [pack_int(2), encode_rows_metadata(r.metadata, version), pack_int(len(r.rows))]
    for row in r.rows:
        assert len(row) == width, (len(row), width)
        parts.extend(pack_cell(cell) for cell in row)
    return b"".join(parts)


def _encode_prepared(r: ResultPrepared, version: int) -> bytes:
    global_spec = _global_table(r.bind_columns)
    flags = ROWS_GLOBAL_TABLE_SPEC if global_spec is not None else 0
    for i in r.pk_indexes:
        assert 0 <= i < len(r.bind_columns), i
    metadata_id = (pack_short_bytes(result_metadata_id(r.result_metadata.columns))
                   if version >= 5 else b"")
    pk = (pack_int(len(r.pk_indexes)) + b"".join(pack_short(i) for i in r.pk_indexes)
          if version >= 4 else b"")
    return b"".join([
        pack_int(4), pack_short_bytes(r.query_id), metadata_id, pack_int(flags),
        pack_int(len(r.bind_columns)), pk, _column_specs(r.bind_columns, global_spec, version),
        encode_rows_metadata(r.result_metadata, version),
    ])


def encode_schema_change(c: ResultSchemaChange) -> bytes:
    out = pack_string(c.change_type) + pack_string(c.target) + pack_string(c.keyspace)
    if c.target != "KEYSPACE":
        assert c.name is not None, c
        out += pack_string(c.name)
    if c.target in ("FUNCTION", "AGGREGATE"):
        out += pack_string_list(c.arg_types)
    return out


def encode_event(e: Event) -> bytes:
    if isinstance(e, TopologyChangeEvent):
        return pack_string("TOPOLOGY_CHANGE") + pack_string(e.change) + pack_inet(e.address, e.port)
    if isinstance(e, StatusChangeEvent):
        return pack_string("STATUS_CHANGE") + pack_string(e.change) + pack_inet(e.address, e.port)
    return pack_string("SCHEMA_CHANGE") + encode_schema_change(e.change)


def _encode_result(r: Response, version: int) -> bytes:
    if isinstance(r, ResultVoid):
        return pack_int(1)
    if isinstance(r, ResultRows):
        return _encode_rows(r, version)
    if isinstance(r, ResultSetKeyspace):
        return pack_int(3) + pack_string(r.keyspace)
    if isinstance(r, ResultPrepared):
        return _encode_prepared(r, version)
    assert isinstance(r, ResultSchemaChange), r
    return pack_int(5) + encode_schema_change(r)


def encode_response(r: Response, version: int = 4) -> tuple[int, bytes]:
    """The opcode and body of a response message to a client on protocol ``version``."""
    if isinstance(r, ErrorResponse):
        return OP_ERROR, encode_error(r.error, version)
    if isinstance(r, Ready):
        return OP_READY, b""
    if isinstance(r, Supported):
        body = pack_short(len(r.options)) + b"".join(
            pack_string(k) + pack_string_list(v) for k, v in r.options.items()
        )
        return OP_SUPPORTED, body
    if isinstance(r, Authenticate):
        return OP_AUTHENTICATE, pack_string(r.authenticator)
    if isinstance(r, AuthChallenge):
        return OP_AUTH_CHALLENGE, pack_cell(r.token)
    if isinstance(r, AuthSuccess):
        return OP_AUTH_SUCCESS, pack_cell(r.token)
    return OP_RESULT, _encode_result(r, version)
