"""Internode messages: frozen dataclasses and their versioned msgpack wire form.

Every message travels in an envelope ``[WIRE_VERSION, kind, sender_ts_us, fields...]``: the
sender's clock reading rides on every message so that hybrid logical clocks observe each other
(and, later, so that clock offsets can be measured). Partition updates travel in the storage
codec's own encoding (``skewless.storage.codec``), as bytes.

A malformed envelope is a peer's fault: ``decode`` raises ``RemoteProtocolError`` and the
transport drops the connection.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import Any, ClassVar

import msgpack

from skewless.errors import RemoteProtocolError

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Gossip: a node's state, sent to every peer it knows each gossip interval."""

    KIND: ClassVar[int] = 1
    address: str
    host_id: str
    generation: int  # start time of the node process (µs): a restart is a new generation
    beat: int  # increases every interval
    dc: str
    rack: str
    tokens: tuple[int, ...]
    cql_port: int
    schema_version: str
    schema_ts_us: int
    known: tuple[str, ...]  # addresses this node knows, so peers learn of each other
    load_bytes: int


@dataclass(frozen=True, slots=True)
class MutationRequest:
    KIND: ClassVar[int] = 2
    req_id: int
    update: bytes  # storage.codec.encode_update
    hint: bool  # replayed from a hint log


@dataclass(frozen=True, slots=True)
class MutationResponse:
    KIND: ClassVar[int] = 3
    req_id: int
    error: str  # '' when applied
    shadowed: tuple[tuple[bytes, str, bytes, int, int], ...]  # storage.model.Shadowed fields


@dataclass(frozen=True, slots=True)
class ReadRequest:
    KIND: ClassVar[int] = 4
    req_id: int
    table: str
    key: bytes
    slices: tuple[tuple[bytes, bool, bytes, bool], ...]  # empty: the whole partition
    reverse: bool
    row_limit: int  # 0: no limit
    digest: bool


@dataclass(frozen=True, slots=True)
class ReadResponse:
    KIND: ClassVar[int] = 5
    req_id: int
    error: str
    data: bytes  # encoded PartitionUpdate (empty for a digest response)
    digest: bytes


@dataclass(frozen=True, slots=True)
class RangeReadRequest:
    """A replica's partitions of the token range (start_token, end_token], in ring order,
    resuming after ``start_key`` (b'': from the range start), inside it after
    ``resume_clustering`` when that is not None (see ``node.scan``)."""

    KIND: ClassVar[int] = 6
    req_id: int
    table: str
    start_token: int  # exclusive
    end_token: int  # inclusive, > start_token
    start_key: bytes
    resume_clustering: bytes | None
    slices: tuple[tuple[bytes, bool, bytes, bool], ...]  # empty: whole partitions
    row_limit: int  # live rows in the response (a partition without any counts as one)
    partition_row_limit: int  # 0: no limit; more rows of a partition are not wanted
    byte_limit: int  # stop after the partition that reaches this many encoded bytes


@dataclass(frozen=True, slots=True)
class RangeReadResponse:
    KIND: ClassVar[int] = 7
    req_id: int
    error: str
    partitions: tuple[tuple[bytes, bytes], ...]  # (key, storage.codec.encode_update)
    last_clustering: bytes | None  # the last partition stopped after this row (None: complete)
    exhausted: bool  # the response reaches the end of the requested range


@dataclass(frozen=True, slots=True)
class SchemaPull:
    KIND: ClassVar[int] = 8
    known_ts_us: int


@dataclass(frozen=True, slots=True)
class SchemaPush:
    KIND: ClassVar[int] = 9
    schema_ts_us: int
    schema: bytes  # node.schema_codec.encode_schema


Message = (
    Heartbeat
    | MutationRequest
    | MutationResponse
    | ReadRequest
    | ReadResponse
    | RangeReadRequest
    | RangeReadResponse
    | SchemaPull
    | SchemaPush
)
_BY_KIND: dict[int, type[Any]] = {
    c.KIND: c
    for c in (Heartbeat, MutationRequest, MutationResponse, ReadRequest, ReadResponse,
              RangeReadRequest, RangeReadResponse, SchemaPull, SchemaPush)
}


@dataclass(frozen=True, slots=True)
class Envelope:
    sender_ts_us: int
    message: Message


def encode(env: Envelope) -> bytes:
    m = env.message
    data: bytes = msgpack.packb([WIRE_VERSION, m.KIND, env.sender_ts_us, *astuple(m)],
                                use_bin_type=True)
    return data


def tupled(v: Any) -> Any:
    """msgpack gives lists back: turn them (recursively) into the tuples our values hold."""
    if isinstance(v, list):
        return tuple(tupled(x) for x in v)
    return v


def decode(data: bytes) -> Envelope:
    try:
        items = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise RemoteProtocolError(f"undecodable internode message: {e}") from e
    if not isinstance(items, list) or len(items) < 3:
        raise RemoteProtocolError("internode message is not an envelope")
    version, kind, ts = items[0], items[1], items[2]
    if version != WIRE_VERSION:
        raise RemoteProtocolError(f"internode wire version {version}, expected {WIRE_VERSION}")
    cls = _BY_KIND.get(kind) if isinstance(kind, int) else None
    if cls is None or not isinstance(ts, int):
        raise RemoteProtocolError(f"unknown internode message kind {kind!r}")
    args = [tupled(x) for x in items[3:]]
    if len(args) != len(fields(cls)):
        raise RemoteProtocolError(f"internode message {cls.__name__} has {len(args)} fields")
    try:
        msg = cls(*args)
    except TypeError as e:
        raise RemoteProtocolError(f"bad {cls.__name__}: {e}") from e
    return Envelope(ts, msg)
