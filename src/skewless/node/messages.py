"""Internode messages: frozen dataclasses and their versioned msgpack wire form.

Every message travels in an envelope ``[WIRE_VERSION, kind, sender_ts_us, fields...]``: the
sender's clock reading rides on every message so that hybrid logical clocks observe each other
(and, later, so that clock offsets can be measured). Partition updates travel in the storage
codec's own encoding (``skewless.storage.codec``), as bytes.

A malformed envelope is a peer's fault: ``decode`` raises ``RemoteProtocolError`` and the
transport drops the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from operator import attrgetter
from typing import Any, ClassVar

import msgpack

from skewless.errors import RemoteProtocolError
from skewless.frozen import fast_init

WIRE_VERSION = 1
_packb = partial(msgpack.packb, use_bin_type=True)


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
    schema_ts_us: int  # the node's cluster metadata log position (node.metadata)
    known: tuple[str, ...]  # addresses this node knows, so peers learn of each other
    load_bytes: int
    # node.topology: STARTING (no tokens yet), JOINING, NORMAL, LEAVING, LEFT
    status: str = "NORMAL"
    cluster_name: str = ""  # a peer of another cluster is refused
    replacing: str = ""  # the dead node whose tokens this one takes (replace_address_first_boot)
    storage: str = ""  # its storage verdict when it needs rebuild (storage.integrity), else ''


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
class BatchlogStore:
    """Coordinator -> batchlog replica: keep this LOGGED batch durably, then ack."""

    KIND: ClassVar[int] = 10
    req_id: int
    batch_id: bytes  # 16 bytes, chosen by the coordinator
    mutations: bytes  # node.batchlog.encode_mutations: the batch's (keyspace, update) pairs


@dataclass(frozen=True, slots=True)
class BatchlogAck:
    KIND: ClassVar[int] = 11
    req_id: int
    error: str  # '' when stored and synced


@dataclass(frozen=True, slots=True)
class BatchlogRemove:
    """Coordinator -> batchlog replica: the batch's mutations met their consistency level."""

    KIND: ClassVar[int] = 12
    batch_id: bytes


@dataclass(frozen=True, slots=True)
class TruncateRequest:
    """Coordinator -> every node: drop all data of a table, recording ``truncated_at_us``
    (node.truncation)."""

    KIND: ClassVar[int] = 21
    req_id: int
    table: str  # TableDef.table_key
    truncated_at_us: int


@dataclass(frozen=True, slots=True)
class TruncateResponse:
    KIND: ClassVar[int] = 22
    req_id: int
    error: str  # '' when truncated and durable


@dataclass(frozen=True, slots=True)
class ClockPing:
    """Clock measurement: our raw real time and monotonic time, echoed by the pong."""

    KIND: ClassVar[int] = 15
    t1_real_us: int
    t1_mono_ns: int


@dataclass(frozen=True, slots=True)
class ClockPong:
    KIND: ClassVar[int] = 16
    t1_real_us: int
    t1_mono_ns: int
    t2_real_us: int  # the answering node's raw real time when it answered


@dataclass(frozen=True, slots=True)
class StampRequest:
    """A fenced node asks a peer with a clock in bounds for a write timestamp above a floor."""

    KIND: ClassVar[int] = 17
    req_id: int
    floor_us: int


@dataclass(frozen=True, slots=True)
class StampResponse:
    KIND: ClassVar[int] = 18
    req_id: int
    ts_us: int
    error: str  # '' when ts_us is a timestamp


@dataclass(frozen=True, slots=True)
class FloorQuery:
    """Ordered writes: the newest timestamp a replica holds in a partition."""

    KIND: ClassVar[int] = 19
    req_id: int
    table: str
    key: bytes


@dataclass(frozen=True, slots=True)
class FloorReply:
    KIND: ClassVar[int] = 20
    req_id: int
    max_ts_us: int
    error: str


@dataclass(frozen=True, slots=True)
class IndexScanRequest:
    """A replica's local index candidates for ``term`` in the token range (start_token,
    end_token], in ring order, resuming as a RangeReadRequest does (see ``node.index_read``)."""

    KIND: ClassVar[int] = 30
    req_id: int
    table: str
    index: str
    term: bytes
    start_token: int  # exclusive
    end_token: int  # inclusive, > start_token
    start_key: bytes
    resume_clustering: bytes | None
    limit: int  # candidates in the response
    lower: tuple[bytes, bool] | None  # a range of terms (term, inclusive) instead of ``term``
    upper: tuple[bytes, bool] | None


@dataclass(frozen=True, slots=True)
class IndexScanResponse:
    KIND: ClassVar[int] = 31
    req_id: int
    error: str
    candidates: tuple[tuple[bytes, bytes | None], ...]  # (key, clustering; None: partition)
    exhausted: bool  # the response reaches the end of the requested range


@dataclass(frozen=True, slots=True)
class TracedRequest:
    """A MutationRequest or ReadRequest of a traced CQL request (``node.tracer``): untraced
    requests travel bare and pay nothing."""

    KIND: ClassVar[int] = 13
    session_id: bytes  # the tracing session's uuid (16 bytes)
    coordinator_send_us: int  # the coordinator's physical clock when it sent this (t1)
    coordinator_send_mono_ns: int  # its monotonic clock then (t4 = t1 + monotonic elapsed)
    request: bytes  # pack(the inner request)


@dataclass(frozen=True, slots=True)
class TracedResponse:
    """The answer to a TracedRequest: the inner response, the replica's trace events and its
    physical clock at receipt (t2) and send (t3), for the clock offset estimate."""

    KIND: ClassVar[int] = 14
    session_id: bytes
    coordinator_send_us: int  # echoed t1
    coordinator_send_mono_ns: int  # echoed
    replica_recv_us: int  # t2
    replica_send_us: int  # t3
    events: tuple[tuple[int, int, str, str], ...]  # (real µs, elapsed µs, activity, thread)
    response: bytes  # pack(the inner response)


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """SWIM: "probe ``target`` for me" (a suspect's indirect probe, asked of a helper)."""

    KIND: ClassVar[int] = 100
    probe_id: int
    target: str


@dataclass(frozen=True, slots=True)
class ProbePing:
    """SWIM: a helper's ping of the suspect, on behalf of ``requester``."""

    KIND: ClassVar[int] = 101
    probe_id: int
    requester: str


@dataclass(frozen=True, slots=True)
class ProbeAck:
    """SWIM: the suspect's answer to a ProbePing, relayed by the helper to ``requester``."""

    KIND: ClassVar[int] = 102
    probe_id: int
    requester: str
    target: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """A node stopping cleanly tells its peers (Cassandra's GOSSIP_SHUTDOWN): they mark it down
    at once, and ignore its heartbeats of this generation."""

    KIND: ClassVar[int] = 103
    generation: int


@dataclass(frozen=True, slots=True)
class MerkleTreeRequest:
    """Repair coordinator -> replica: the Merkle tree of your partitions of ``table`` in
    (start_token, end_token] (``node.repair``, ``node.merkle``)."""

    KIND: ClassVar[int] = 60
    req_id: int
    table: str  # TableDef.table_key
    start_token: int  # exclusive
    end_token: int  # inclusive, > start_token


@dataclass(frozen=True, slots=True)
class MerkleTreeResponse:
    KIND: ClassVar[int] = 61
    req_id: int
    error: str  # '' when the tree is there
    partitions: int  # partitions hashed
    depth: int  # the depth of the replica's whole tree (it keeps it for MerkleLeavesRequest)
    leaves: bytes  # node.merkle.encode_leaves: its top levels, min(depth, merkle_top_depth)


@dataclass(frozen=True, slots=True)
class MerkleLeavesRequest:
    """Repair coordinator -> replica: of the tree you sent the top of, the nodes at ``depth``
    under these nodes of level ``level`` (node.repair's second round)."""

    KIND: ClassVar[int] = 67
    req_id: int
    table: str
    start_token: int
    end_token: int
    level: int
    depth: int
    nodes: tuple[int, ...]  # ascending indices at ``level``


@dataclass(frozen=True, slots=True)
class MerkleLeavesResponse:
    KIND: ClassVar[int] = 68
    req_id: int
    error: str
    leaves: bytes  # 2^(depth - level) hashes under each requested node, in order


@dataclass(frozen=True, slots=True)
class LeafRequest:
    """Repair coordinator -> replica: your partitions in these leaf ranges, in ring order,
    resuming after ``start_key`` in the first one (b'': from its start)."""

    KIND: ClassVar[int] = 62
    req_id: int
    table: str
    ranges: tuple[tuple[int, int], ...]  # (start exclusive, end inclusive), ascending
    start_key: bytes
    byte_limit: int  # stop after the partition that reaches this many encoded bytes


@dataclass(frozen=True, slots=True)
class LeafResponse:
    KIND: ClassVar[int] = 63
    req_id: int
    error: str
    partitions: tuple[bytes, ...]  # storage.codec.encode_update, as stored
    ranges_done: int  # the leading ranges sent completely
    last_key: bytes  # the last partition sent of the next range (b'': none)


@dataclass(frozen=True, slots=True)
class RepairStream:
    """Repair coordinator -> replica: what you lack of these partitions; merged through the
    normal apply path (timestamps decide, as for read repair), synced before the ack."""

    KIND: ClassVar[int] = 64
    req_id: int
    partitions: tuple[bytes, ...]  # storage.codec.encode_update


@dataclass(frozen=True, slots=True)
class RepairStreamAck:
    KIND: ClassVar[int] = 65
    req_id: int
    error: str


@dataclass(frozen=True, slots=True)
class RangeRepaired:
    """Repair coordinator -> replica: every replica of (start, end] of ``table`` held the same
    data as of ``repaired_at_s`` (the repair's start): tombstones written before it may go
    (``only_purge_repaired_tombstones``)."""

    KIND: ClassVar[int] = 66
    table: str
    start_token: int
    end_token: int
    repaired_at_s: int


# Cluster metadata log (node.metadata.paxos): multi-Paxos over log slots. A ballot is
# (round, proposer address); values are encoded log entries (node.metadata.entries).


@dataclass(frozen=True, slots=True)
class MetaPrepare:
    KIND: ClassVar[int] = 80
    slot: int
    round: int
    proposer: str


@dataclass(frozen=True, slots=True)
class MetaPromise:
    """Phase 1b. ``ok`` False: refused, ``promised_*`` is the higher ballot promised. ``chosen``
    non-empty: the slot is chosen already, with this value. ``last_chosen``: the highest slot
    the acceptor knows chosen (a proposer behind it pulls the log)."""

    KIND: ClassVar[int] = 81
    slot: int
    round: int
    proposer: str
    ok: bool
    promised_round: int
    promised_proposer: str
    accepted_round: int  # 0: nothing accepted in this slot
    accepted_proposer: str
    accepted_value: bytes
    chosen: bytes
    last_chosen: int


@dataclass(frozen=True, slots=True)
class MetaAccept:
    KIND: ClassVar[int] = 82
    slot: int
    round: int
    proposer: str
    value: bytes


@dataclass(frozen=True, slots=True)
class MetaAccepted:
    KIND: ClassVar[int] = 83
    slot: int
    round: int
    proposer: str
    ok: bool
    promised_round: int
    promised_proposer: str


@dataclass(frozen=True, slots=True)
class MetaCommit:
    """A chosen slot, told to every member (and answered to a late Accept)."""

    KIND: ClassVar[int] = 84
    slot: int
    value: bytes


@dataclass(frozen=True, slots=True)
class MetaPull:
    """Catch-up: send me the chosen entries from ``from_slot`` on."""

    KIND: ClassVar[int] = 85
    from_slot: int


@dataclass(frozen=True, slots=True)
class MetaEntries:
    """Catch-up answer: a snapshot of the metadata at ``snapshot_index`` when the asked slots
    were compacted away (else empty and 0), then chosen values from ``first_slot`` on."""

    KIND: ClassVar[int] = 86
    snapshot_index: int
    snapshot: bytes
    first_slot: int
    values: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A node gaining a range asks its source for the next chunk of one table's partitions in
    the token range (start, end], after ``after_key`` (``has_after`` False: from the start)."""

    KIND: ClassVar[int] = 40
    session: str
    req_id: int
    table: str
    start_token: int
    end_token: int
    after_key: bytes
    has_after: bool
    byte_limit: int


@dataclass(frozen=True, slots=True)
class StreamChunk:
    KIND: ClassVar[int] = 41
    session: str
    req_id: int
    error: str
    partitions: tuple[tuple[bytes, bytes], ...]  # (key, storage.codec.encode_update)
    done: bool  # the range has no more partitions


@dataclass(frozen=True, slots=True)
class StreamDone:
    """A node that gained ranges from a leaving (or removed) node tells the one waiting for it
    that every such range is streamed."""

    KIND: ClassVar[int] = 42
    change: str  # node.topology's change id (e.g. 'leave 127.0.0.4 <generation>')


@dataclass(frozen=True, slots=True)
class RemoveNode:
    """removenode: the coordinator tells every node that a dead node is being removed
    (final False: its ranges become pending on their new owners) or is gone (final True)."""

    KIND: ClassVar[int] = 43
    address: str
    host_id: str
    coordinator: str
    final: bool


@dataclass(frozen=True, slots=True)
class ReplaceQuery:
    """A node started with replace_address_first_boot asks a peer about the node to replace."""

    KIND: ClassVar[int] = 44
    address: str


@dataclass(frozen=True, slots=True)
class ReplaceInfo:
    KIND: ClassVar[int] = 45
    address: str
    known: bool  # the peer knows this address from gossip
    alive: bool
    state: bytes  # pack(the node's last Heartbeat), b'' when unknown



@dataclass(frozen=True, slots=True)
class PermissionsInvalidate:
    """GRANT / REVOKE / DROP on one node: forget cached permissions (node.auth.authorizer).
    Not acknowledged: a node that misses it reloads when its entry expires."""

    KIND: ClassVar[int] = 140
    roles: tuple[str, ...]
    all: bool  # every role's entries (after a DROP)


# Lightweight transactions (node.paxos): Paxos per partition. A ballot is (µs, proposer
# address); updates travel as storage.codec.encode_update bytes (b'': none).


@dataclass(frozen=True, slots=True)
class LwtPrepare:
    """Phase 1a with the read: promise ``ballot`` for (table, key) and send the partition."""

    KIND: ClassVar[int] = 141
    req_id: int
    table: str
    key: bytes
    ballot_us: int
    ballot_node: str
    recent: bool  # also send the recent commits' origins (a proposer resolving its own value)


@dataclass(frozen=True, slots=True)
class LwtPromise:
    """Phase 1b. ``ok`` False: refused, ``promised_*`` is the higher ballot promised. Either
    way the acceptor's accepted-but-uncommitted proposal (``accepted_us`` 0: none), its most
    recent commit (``committed_us`` 0: none) and, when ``ok``, the partition (``data``)."""

    KIND: ClassVar[int] = 142
    req_id: int
    ok: bool
    promised_us: int
    promised_node: str
    accepted_us: int
    accepted_node: str
    accepted_update: bytes
    committed_us: int
    committed_node: str
    committed_update: bytes
    data: bytes
    error: str  # '' unless the request was bad (then nothing else counts)
    # the ballot each value was first proposed at (a re-proposal keeps it): its proposer
    # recognises its own value, finished or committed by another
    accepted_origin_us: int
    accepted_origin_node: str
    committed_origin_us: int
    committed_origin_node: str
    recent: tuple[tuple[int, str, int, str], ...]  # (commit ballot, origin), when asked


@dataclass(frozen=True, slots=True)
class LwtPropose:
    """Phase 2a. ``accepted_by``: acceptors known to have accepted this (ballot, update) (the
    proposer's own, accepted before sending); an acceptor that accepts and so completes
    ``quorum`` commits at once. ``repair_*``: a commit the proposer saw missing on some of its
    promises (``repair_us`` 0: none), applied before accepting."""

    KIND: ClassVar[int] = 143
    req_id: int
    table: str
    key: bytes
    ballot_us: int
    ballot_node: str
    update: bytes
    accepted_by: tuple[str, ...]
    quorum: int
    repair_us: int
    repair_node: str
    repair_update: bytes
    origin_us: int  # the ballot the value was first proposed at
    origin_node: str
    repair_origin_us: int
    repair_origin_node: str


@dataclass(frozen=True, slots=True)
class LwtAccepted:
    """Phase 2b. ``committed``: the acceptor knew the value chosen and applied it."""

    KIND: ClassVar[int] = 144
    req_id: int
    ok: bool
    committed: bool
    promised_us: int
    promised_node: str
    error: str


@dataclass(frozen=True, slots=True)
class LwtCommit:
    """A chosen (ballot, update): apply it (the fallback third round, or a repair)."""

    KIND: ClassVar[int] = 145
    req_id: int
    table: str
    key: bytes
    ballot_us: int
    ballot_node: str
    update: bytes
    origin_us: int
    origin_node: str


@dataclass(frozen=True, slots=True)
class LwtCommitAck:
    KIND: ClassVar[int] = 146
    req_id: int
    error: str  # '' when applied and synced


# Counters (node.counter_write): the coordinator forwards a statement's increments of one
# partition to a leader replica, which applies its own shard and replicates the state.


@dataclass(frozen=True, slots=True)
class CounterMutationRequest:
    """Increments of one partition for the leader to apply and replicate at ``cl``.
    ``op_id``: drawn at random by the coordinator, so a duplicated request is applied once."""

    KIND: ClassVar[int] = 147
    req_id: int
    op_id: int
    table: str
    key: bytes
    ts_us: int
    cl: int
    increments: tuple[tuple[bytes, str, int, bool], ...]  # (clustering, column, delta, static)
    rest: bytes  # deletions of the same partition (storage.codec.encode_update), b'': none


@dataclass(frozen=True, slots=True)
class CounterMutationResponse:
    """The leader's answer: ``ok`` when ``cl`` was met, else the protocol's error code
    (WriteTimeout, Unavailable, WriteFailure, Overloaded, Invalid; any other: ServerError)
    with its counts."""

    KIND: ClassVar[int] = 148
    req_id: int
    ok: bool
    error_code: int
    message: str
    received: int
    block_for: int
    failures: int
    # cells of the applied state that did not take effect (a deleted counter stays deleted)
    shadowed: tuple[tuple[bytes, str, bytes, int, int], ...]  # storage.model.Shadowed fields


Message = (
    Heartbeat
    | MutationRequest
    | MutationResponse
    | ReadRequest
    | ReadResponse
    | RangeReadRequest
    | RangeReadResponse
    | BatchlogStore
    | BatchlogAck
    | BatchlogRemove
    | ClockPing
    | ClockPong
    | StampRequest
    | StampResponse
    | FloorQuery
    | FloorReply
    | TracedRequest
    | TracedResponse
    | TruncateRequest
    | TruncateResponse
    | MetaPrepare
    | MetaPromise
    | MetaAccept
    | MetaAccepted
    | MetaCommit
    | MetaPull
    | MetaEntries
    | IndexScanRequest
    | IndexScanResponse
    | ProbeRequest
    | ProbePing
    | ProbeAck
    | Shutdown
    | MerkleTreeRequest
    | MerkleTreeResponse
    | LeafRequest
    | LeafResponse
    | RepairStream
    | RepairStreamAck
    | RangeRepaired
    | MerkleLeavesRequest
    | MerkleLeavesResponse
    | StreamRequest
    | StreamChunk
    | StreamDone
    | RemoveNode
    | ReplaceQuery
    | ReplaceInfo
    | PermissionsInvalidate
    | LwtPrepare
    | LwtPromise
    | LwtPropose
    | LwtAccepted
    | LwtCommit
    | LwtCommitAck
    | CounterMutationRequest
    | CounterMutationResponse
)


_BY_KIND: dict[int, type[Any]] = {
    c.KIND: c
    for c in (Heartbeat, MutationRequest, MutationResponse, ReadRequest, ReadResponse,
              RangeReadRequest, RangeReadResponse, BatchlogStore,
              BatchlogAck, BatchlogRemove, TracedRequest, TracedResponse, ClockPing, ClockPong,
              StampRequest, StampResponse, FloorQuery, FloorReply, TruncateRequest,
              TruncateResponse, IndexScanRequest, IndexScanResponse, ProbeRequest, ProbePing,
              ProbeAck, Shutdown, MerkleTreeRequest, MerkleTreeResponse, LeafRequest,
              LeafResponse, RepairStream, RepairStreamAck, RangeRepaired,
              MerkleLeavesRequest, MerkleLeavesResponse, MetaPrepare, MetaPromise, MetaAccept,
              MetaAccepted, MetaCommit, MetaPull, MetaEntries, StreamRequest, StreamChunk,
              StreamDone, RemoveNode, ReplaceQuery, ReplaceInfo, PermissionsInvalidate,
              LwtPrepare, LwtPromise, LwtPropose, LwtAccepted, LwtCommit, LwtCommitAck,
              CounterMutationRequest, CounterMutationResponse)
}


@dataclass(frozen=True, slots=True)
class Envelope:
    sender_ts_us: int
    message: Message


for _cls in (*_BY_KIND.values(), Envelope):  # built on every message sent and received
    fast_init(_cls)


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


# Per kind: the class, its field count, and a getter of its fields' values in order (encode and
# decode run on every internode message: no per-message reflection or deep copies).
_ARITY: dict[int, int] = {k: len(_field_names(c)) for k, c in _BY_KIND.items()}
_GETTERS: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}
for _cls in _BY_KIND.values():
    _names = _field_names(_cls)
    if len(_names) == 1:
        _GETTERS[_cls] = (lambda n: lambda m: (getattr(m, n),))(_names[0])
    elif not _names:
        _GETTERS[_cls] = lambda m: ()
    else:
        _GETTERS[_cls] = attrgetter(*_names)


def encode(env: Envelope) -> bytes:
    m = env.message
    data: bytes = _packb([WIRE_VERSION, m.KIND, env.sender_ts_us, *_GETTERS[type(m)](m)])
    return data


def tupled(v: Any) -> Any:
    """msgpack gives lists back: turn them (recursively) into the tuples our values hold."""
    if isinstance(v, list):
        return tuple(tupled(x) for x in v)
    return v


def pack(m: Message) -> bytes:
    """One message without an envelope (what a Traced* message carries inside)."""
    data: bytes = _packb([m.KIND, *_GETTERS[type(m)](m)])
    return data


def _unpackb(data: bytes) -> Any:
    """Arrays come back as tuples (what the messages' fields hold), at any depth."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=False)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise RemoteProtocolError(f"undecodable internode message: {e}") from e


def unpack(data: bytes) -> Message:
    items = _unpackb(data)
    if not isinstance(items, tuple) or not items:
        raise RemoteProtocolError("packed internode message is not a list")
    return _message(items[0], items[1:])


def _message(kind: object, args: tuple[Any, ...]) -> Message:
    cls = _BY_KIND.get(kind) if isinstance(kind, int) else None
    if cls is None:
        raise RemoteProtocolError(f"unknown internode message kind {kind!r}")
    if len(args) != _ARITY[kind]:  # type: ignore[index]
        raise RemoteProtocolError(f"internode message {cls.__name__} has {len(args)} fields")
    try:
        msg: Message = cls(*args)
    except TypeError as e:
        raise RemoteProtocolError(f"bad {cls.__name__}: {e}") from e
    return msg


def decode(data: bytes) -> Envelope:
    items = _unpackb(data)
    if not isinstance(items, tuple) or len(items) < 3:
        raise RemoteProtocolError("internode message is not an envelope")
    version, kind, ts = items[0], items[1], items[2]
    if version != WIRE_VERSION:
        raise RemoteProtocolError(f"internode wire version {version}, expected {WIRE_VERSION}")
    if not isinstance(ts, int):
        raise RemoteProtocolError("internode envelope timestamp is not an integer")
    return Envelope(ts, _message(kind, items[3:]))
