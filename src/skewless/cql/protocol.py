"""Sans-I/O codec for the CQL native protocol, versions 3, 4 and 5.

Theory of operation
-------------------
A frame (v5: an envelope) is a 9-byte header -- version (0x0N request, 0x8N response), flags,
stream (int16, signed), opcode, body length (int32) -- followed by the body. Bodies differ by
version in a few places, each handled where it is read or written: v5 query/batch flags are an
[int] (v3/v4: a [byte]) and add a keyspace (0x80) and now_in_seconds (0x100); v5 PREPARE has
[int] flags (0x01: keyspace); v5 EXECUTE echoes the result metadata id; a v3 [value] has no
UNSET. v5 envelopes travel inside segments (``segments``) once the handshake is over.

This module turns request bodies into frozen dataclasses (``decode_request``) and response
dataclasses into frames (``encode_envelope``). It holds no state and does no I/O;
``connection.ServerConnection`` owns buffering, the handshake, compression and segment state,
and calls into here.

Blame is explicit, as in h11: bytes from the peer that break the protocol raise
``errors.RemoteProtocolError`` (the connection answers with a protocol ERROR); our own misuse
(e.g. a Rows result whose rows are narrower than its columns) is an ``assert``.

Version negotiation: the drivers open with 0x42/0x41 (DSE) or 5 and step down only when the
answer is ERROR 0x000A on the *same stream* whose message contains "unsupported protocol
version", in a frame whose version byte they understand. ``version_error_frame`` builds exactly
Cassandra's answer (header version 0x85, our highest; an old v1/v2 frame gets its own version).

Envelope order (response): [trace id (16 bytes) if flag 0x02][warnings [string list] if 0x08]
[custom payload [bytes map] if 0x04] then the message; the whole body is LZ4-compressed (flag
0x01; 4-byte big-endian uncompressed length + raw LZ4 block) once STARTUP negotiated it.
A request may carry a custom payload (flag 0x04) before its message; it is parsed and exposed.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lz4.block

from skewless import errors, limits
from skewless.cql.protocol_responses import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    ColumnSpec,
    ErrorResponse,
    Event,
    Ready,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
    RowsMetadata,
    SchemaChangeEvent,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    encode_event,
    encode_response,
    pack_bytes_map,
    pack_string_list,
)

__all__ = [
    "AuthChallenge", "AuthResponse", "AuthSuccess", "Authenticate", "Batch", "BatchEntry",
    "ColumnSpec", "ErrorResponse", "Event", "Execute", "FrameHeader", "Options", "Prepare",
    "Query", "QueryParams", "Ready", "Register", "Request", "Response", "ResultPrepared",
    "ResultRows", "ResultSchemaChange", "ResultSetKeyspace", "ResultVoid", "RowsMetadata",
    "SchemaChangeEvent", "StatusChangeEvent", "Startup", "Supported", "TopologyChangeEvent",
    "UNSET", "Unset", "Value", "decode_header", "decode_request", "encode_envelope",
    "encode_event_frame", "error_frame", "lz4_compress", "lz4_decompress", "version_error_frame",
    "OPCODE_NAMES",
]

VERSIONS = (3, 4, 5)  # what we speak, oldest first
VERSION_MAX = 5
VERSION_REQUEST = 0x04  # v4, the version of frames built without an explicit one
VERSION_RESPONSE = 0x84
RESPONSE_BIT = 0x80
HEADER = struct.Struct(">BBhBi")
HEADER_SIZE = HEADER.size

FLAG_COMPRESSED = 0x01
FLAG_TRACING = 0x02
FLAG_CUSTOM_PAYLOAD = 0x04
FLAG_WARNING = 0x08

OP_STARTUP = 0x01
OP_OPTIONS = 0x05
OP_QUERY = 0x07
OP_PREPARE = 0x09
OP_EXECUTE = 0x0A
OP_REGISTER = 0x0B
OP_EVENT = 0x0C
OP_BATCH = 0x0D
OP_AUTH_RESPONSE = 0x0F

OPCODE_NAMES = {
    0x00: "ERROR", 0x01: "STARTUP", 0x02: "READY", 0x03: "AUTHENTICATE", 0x05: "OPTIONS",
    0x06: "SUPPORTED", 0x07: "QUERY", 0x08: "RESULT", 0x09: "PREPARE", 0x0A: "EXECUTE",
    0x0B: "REGISTER", 0x0C: "EVENT", 0x0D: "BATCH", 0x0E: "AUTH_CHALLENGE",
    0x0F: "AUTH_RESPONSE", 0x10: "AUTH_SUCCESS",
}

# QUERY/EXECUTE parameter flags (one byte in v4); BATCH uses 0x10, 0x20 and 0x40.
QF_VALUES = 0x01
QF_SKIP_METADATA = 0x02
QF_PAGE_SIZE = 0x04
QF_PAGING_STATE = 0x08
QF_SERIAL_CONSISTENCY = 0x10
QF_TIMESTAMP = 0x20
QF_NAMES = 0x40
QF_KEYSPACE = 0x80  # v5
QF_NOW_IN_SECONDS = 0x100  # v5
PREPARE_KEYSPACE = 0x01  # v5 PREPARE flags

CONSISTENCY_MAX = 0x000A  # LOCAL_ONE; ANY=0 .. LOCAL_ONE=10 are the v4 levels


class Unset:
    """The type of ``UNSET``: a bound value the client left out ([value] length -2)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()
Value = bytes | None | Unset


# ------------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True)
class QueryParams:
    consistency: int
    values: tuple[Value, ...] = ()
    names: tuple[str, ...] | None = None  # flag 0x40: values carry names
    skip_metadata: bool = False
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None  # microseconds since the epoch
    keyspace: str | None = None  # v5 flag 0x80: the statement's keyspace
    now_in_seconds: int | None = None  # v5 flag 0x100


@dataclass(frozen=True, slots=True)
class Startup:
    options: dict[str, str]


@dataclass(frozen=True, slots=True)
class Options:
    pass


@dataclass(frozen=True, slots=True)
class Register:
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    query: str
    params: QueryParams


@dataclass(frozen=True, slots=True)
class Prepare:
    query: str
    keyspace: str | None = None  # v5 flag 0x01


@dataclass(frozen=True, slots=True)
class Execute:
    query_id: bytes
    params: QueryParams
    result_metadata_id: bytes | None = None  # v5: the id the client's metadata has


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """kind 0: ``statement`` is the query text; kind 1: the prepared id (bytes)."""

    kind: int
    statement: str | bytes
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    kind: int  # 0 logged, 1 unlogged, 2 counter
    entries: tuple[BatchEntry, ...]
    consistency: int
    serial_consistency: int | None = None
    timestamp: int | None = None  # microseconds
    keyspace: str | None = None  # v5 flag 0x80
    now_in_seconds: int | None = None  # v5 flag 0x100


@dataclass(frozen=True, slots=True)
class AuthResponse:
    token: bytes | None


Request = Startup | Options | Register | Query | Prepare | Execute | Batch | AuthResponse


@dataclass(frozen=True, slots=True)
class FrameHeader:
    version: int
    flags: int
    stream: int
    opcode: int
    length: int


def decode_header(data: bytes) -> FrameHeader:
    assert len(data) >= HEADER_SIZE
    return FrameHeader(*HEADER.unpack_from(data))


# ------------------------------------------------------------------ body reader


_U8, _U16, _I32, _I64 = (struct.Struct(f) for f in (">B", ">H", ">i", ">q"))


class _Reader:
    """Bounds-checked reads of protocol primitives; any overrun is the peer's fault."""

    __slots__ = ("data", "pos", "version")

    def __init__(self, data: bytes, version: int = 4) -> None:
        self.data = data
        self.pos = 0
        self.version = version

    def take(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if n < 0 or end > len(self.data):
            raise errors.RemoteProtocolError(
                f"Not enough bytes to read: need {n} at offset {pos} of {len(self.data)}"
            )
        self.pos = end
        return self.data[pos:end]

    def _fixed(self, s: struct.Struct) -> int:
        """One fixed-size integer, unpacked in place (no slice)."""
        pos = self.pos
        end = pos + s.size
        if end > len(self.data):
            raise errors.RemoteProtocolError(
                f"Not enough bytes to read: need {s.size} at offset {pos} of {len(self.data)}"
            )
        self.pos = end
        value: int = s.unpack_from(self.data, pos)[0]
        return value

    def byte(self) -> int:
        return self._fixed(_U8)

    def short(self) -> int:
        return self._fixed(_U16)

    def int32(self) -> int:
        return self._fixed(_I32)

    def long(self) -> int:
        return self._fixed(_I64)

    def _text(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.RemoteProtocolError("Invalid UTF-8 in a string") from None

    def string(self) -> str:
        return self._text(self.short())

    def long_string(self) -> str:
        n = self.int32()
        if n < 0:
            raise errors.RemoteProtocolError(f"Negative long string length {n}")
        return self._text(n)

    def bytes_(self) -> bytes | None:
        n = self.int32()
        return None if n < 0 else self.take(n)

    def short_bytes(self) -> bytes:
        return self.take(self.short())

    def value(self) -> Value:
        n = self.int32()
        if n == -1 or (n < 0 and self.version < 4):  # v3 has no UNSET: any negative is null
            return None
        if n == -2:
            return UNSET
        if n < 0:
            raise errors.RemoteProtocolError(f"Invalid value length {n}")
        return self.take(n)

    def flags(self) -> int:
        """Query/batch flags: an [int] from v5 on, a [byte] before."""
        return self.int32() if self.version >= 5 else self.byte()

    def consistency(self) -> int:
        cl = self.short()
        if cl > CONSISTENCY_MAX:
            raise errors.RemoteProtocolError(f"Unknown code {cl} for a consistency level")
        return cl

    def string_map(self) -> dict[str, str]:
        return {self.string(): self.string() for _ in range(self.short())}

    def string_list(self) -> tuple[str, ...]:
        return tuple(self.string() for _ in range(self.short()))

    def bytes_map(self) -> dict[str, bytes | None]:
        return {self.string(): self.bytes_() for _ in range(self.short())}

    def values(self, with_names: bool) -> tuple[tuple[Value, ...], tuple[str, ...] | None]:
        count = self.short()
        names: list[str] = []
        values: list[Value] = []
        if with_names:
            for _ in range(count):
                names.append(self.string())
                values.append(self.value())
            return tuple(values), tuple(names)
        # ``value`` inlined (every EXECUTE): a length, then that many bytes, else a special
        data, pos, size, unpack = self.data, self.pos, len(self.data), _I32.unpack_from
        for _ in range(count):
            n: int = unpack(data, pos)[0] if pos + 4 <= size else -3
            end = pos + 4 + n
            if n < 0 or end > size:  # a null, an unset, or an error: ``value`` says which
                self.pos = pos
                values.append(self.value())
                pos = self.pos
                continue
            values.append(data[pos + 4:end])
            pos = end
        self.pos = pos
        return tuple(values), None


# ------------------------------------------------------------------ request decoding


def _query_params(r: _Reader) -> QueryParams:
    consistency = r.consistency()
    flags = r.flags()
    values: tuple[Value, ...] = ()
    names = None
    if flags & QF_VALUES:
        values, names = r.values(bool(flags & QF_NAMES))
    page_size = r.int32() if flags & QF_PAGE_SIZE else None
    paging_state = r.bytes_() if flags & QF_PAGING_STATE else None
    serial = r.consistency() if flags & QF_SERIAL_CONSISTENCY else None
    timestamp = r.long() if flags & QF_TIMESTAMP else None
    keyspace, now = _v5_tail(r, flags)
    return QueryParams(consistency, values, names, bool(flags & QF_SKIP_METADATA), page_size,
                       paging_state, serial, timestamp, keyspace, now)


def _v5_tail(r: _Reader, flags: int) -> tuple[str | None, int | None]:
    """The v5 keyspace and now_in_seconds that end QUERY/EXECUTE/BATCH parameters."""
    if r.version < 5:
        return None, None
    keyspace = r.string() if flags & QF_KEYSPACE else None
    now = r.int32() if flags & QF_NOW_IN_SECONDS else None
    return keyspace, now


def _prepare(r: _Reader) -> Prepare:
    query = r.long_string()
    if r.version < 5:
        return Prepare(query)
    flags = r.int32()
    return Prepare(query, r.string() if flags & PREPARE_KEYSPACE else None)


def _execute(r: _Reader) -> Execute:
    query_id = r.short_bytes()
    metadata_id = r.short_bytes() if r.version >= 5 else None
    return Execute(query_id, _query_params(r), metadata_id)


def _batch_entry(r: _Reader) -> BatchEntry:
    kind = r.byte()
    if kind == 0:
        statement: str | bytes = r.long_string()
    elif kind == 1:
        statement = r.short_bytes()
    else:
        raise errors.RemoteProtocolError(f"Invalid query kind in BATCH messages: {kind}")
    values, _ = r.values(with_names=False)
    return BatchEntry(kind, statement, values)


def _batch(r: _Reader) -> Batch:
    kind = r.byte()
    if kind > 2:
        raise errors.RemoteProtocolError(f"Unknown batch type {kind}")
    count = r.short()
    if count > limits.cql_batch_statements_max:
        raise errors.RemoteProtocolError(f"Too many statements in a batch ({count})")
    entries = tuple(_batch_entry(r) for _ in range(count))
    consistency = r.consistency()
    flags = r.flags()
    if flags & QF_NAMES:  # as Cassandra: the v4 spec defines it but nobody implements it
        raise errors.RemoteProtocolError("Names for values are not yet supported in batches")
    serial = r.consistency() if flags & QF_SERIAL_CONSISTENCY else None
    timestamp = r.long() if flags & QF_TIMESTAMP else None
    keyspace, now = _v5_tail(r, flags)
    return Batch(kind, entries, consistency, serial, timestamp, keyspace, now)


def _decode_body(opcode: int, r: _Reader) -> Request:
    if opcode == OP_QUERY:
        return Query(r.long_string(), _query_params(r))
    if opcode == OP_EXECUTE:
        return _execute(r)
    if opcode == OP_PREPARE:
        return _prepare(r)
    if opcode == OP_BATCH:
        return _batch(r)
    if opcode == OP_STARTUP:
        return Startup(r.string_map())
    if opcode == OP_OPTIONS:
        return Options()
    if opcode == OP_REGISTER:
        return Register(r.string_list())
    if opcode == OP_AUTH_RESPONSE:
        return AuthResponse(r.bytes_())
    name = OPCODE_NAMES.get(opcode)
    what = f"{name} is a response, not a request" if name else f"Unknown opcode {opcode}"
    raise errors.RemoteProtocolError(what)


def decode_request(
    opcode: int, flags: int, body: bytes, version: int = 4
) -> tuple[Request, dict[str, bytes | None] | None]:
    """Decode an (already decompressed) request body into the request and its custom payload
    (None unless flag 0x04, which v3 does not have). Raises RemoteProtocolError for malformed
    bodies."""
    r = _Reader(body, version)
    payload = r.bytes_map() if flags & FLAG_CUSTOM_PAYLOAD and version >= 4 else None
    return _decode_body(opcode, r), payload


# ------------------------------------------------------------------ compression


def lz4_compress(body: bytes) -> bytes:
    """v4 LZ4: the uncompressed length as a big-endian int32, then a raw LZ4 block."""
    block: bytes = lz4.block.compress(body, store_size=False)
    return struct.pack(">i", len(body)) + block


def lz4_decompress(data: bytes) -> bytes:
    if len(data) < 4:
        raise errors.RemoteProtocolError("Compressed body shorter than its length prefix")
    (size,) = struct.unpack_from(">i", data)
    if not 0 <= size <= limits.cql_frame_body_bytes_max:
        raise errors.RemoteProtocolError(f"Invalid uncompressed body length {size}")
    if size == 0:
        return b""
    try:
        out: bytes = lz4.block.decompress(data[4:], uncompressed_size=size)
    except lz4.block.LZ4BlockError:
        raise errors.RemoteProtocolError("Corrupt LZ4 body") from None
    if len(out) != size:
        raise errors.RemoteProtocolError("LZ4 body length mismatch")
    return out


# ------------------------------------------------------------------ response framing


def _frame(stream: int, opcode: int, flags: int, body: bytes, version: int) -> bytes:
    assert -32768 <= stream <= 32767, stream
    return HEADER.pack(RESPONSE_BIT | version, flags, stream, opcode, len(body)) + body


def encode_envelope(
    stream: int,
    response: Response,
    *,
    tracing_id: uuid.UUID | None = None,
    warnings: Sequence[str] = (),
    custom_payload: Mapping[str, bytes | None] | None = None,
    compress: bool = False,
    version: int = 4,
) -> bytes:
    """A complete response frame: header, then [trace id][warnings][custom payload]<message>,
    the whole body LZ4-compressed when ``compress`` (and non-empty; v3/v4 only: v5 compresses
    segments). v3 has no warnings nor custom payload: they are left out."""
    opcode, message = encode_response(response, version)
    flags = 0
    prefix = b""
    if tracing_id is not None:
        flags |= FLAG_TRACING
        prefix += tracing_id.bytes
    if warnings and version >= 4:
        flags |= FLAG_WARNING
        prefix += pack_string_list(warnings)
    if custom_payload is not None and version >= 4:
        flags |= FLAG_CUSTOM_PAYLOAD
        prefix += pack_bytes_map(custom_payload)
    body = prefix + message
    if compress and body:
        assert version < 5, "v5 compresses segments, not envelopes"
        flags |= FLAG_COMPRESSED
        body = lz4_compress(body)
    return _frame(stream, opcode, flags, body, version)


def encode_event_frame(event: Event, *, compress: bool = False, version: int = 4) -> bytes:
    body = encode_event(event)
    flags = 0
    if compress:
        assert version < 5, "v5 compresses segments, not envelopes"
        flags, body = FLAG_COMPRESSED, lz4_compress(body)
    return _frame(-1, OP_EVENT, flags, body, version)


def error_frame(stream: int, error: errors.CqlError, *, compress: bool = False,
                version: int = 4) -> bytes:
    return encode_envelope(stream, ErrorResponse(error), compress=compress, version=version)


def unsupported_version_message(version: int) -> str:
    """Cassandra's ProtocolVersion.invalidVersionMessage (the drivers match on part of it)."""
    supported = ", ".join(f"{v}/v{v}" for v in VERSIONS)
    return (f"Invalid or unsupported protocol version ({version}); "
            f"supported versions are ({supported})")


def version_error_frame(data: bytes) -> tuple[int, bytes] | None:
    """Cassandra's answer to a frame whose version byte we do not speak (``data`` starts a
    frame): the stream it came on and the ERROR frame, or None until enough bytes have arrived.
    As Cassandra's ProtocolVersion.decode: an old version (1, 2) is answered in its own
    (8-byte header) framing, anything else with our highest version."""
    version = data[0] & 0x7F
    if version < 3:
        if len(data) < 3:
            return None
        stream = struct.unpack_from(">b", data, 2)[0]
    else:
        if len(data) < 4:
            return None
        stream = struct.unpack_from(">h", data, 2)[0]
    message = unsupported_version_message(version)
    if version in (1, 2):
        _, body = encode_response(ErrorResponse(errors.ProtocolError(message)), 3)
        header = struct.pack(">BBbBi", RESPONSE_BIT | version, 0, stream, 0x00, len(body))
        return stream, header + body
    return stream, error_frame(stream, errors.ProtocolError(message), version=VERSION_MAX)
