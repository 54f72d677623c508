"""The replica side of a node: applying a mutation, serving a read, reporting what was shadowed.

A replica answers a ``MutationRequest`` by applying the update to its storage (the clock folds
in the update's newest timestamp first: ``Node.apply_local``) and returning the cells newer
data shadowed (``node.shadowing``), and a ``ReadRequest`` with the partition (or its digest),
unless reading it met too many tombstones (``node.thresholds``). A peer's bad frame or an
unknown table is answered with an error, not raised, and so is a write the disk refuses
(``storage.diskspace.DiskFull``: the error names this node and the cause). ``rt``: the
replica's part of a traced request (``node.tracer``), or None.

Pure, like the node: it acts only through the node it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skewless.errors import RemoteProtocolError
from skewless.node import thresholds
from skewless.node.messages import MutationRequest, MutationResponse, ReadRequest, ReadResponse
from skewless.node.tracing.records import THREAD_MUTATION, THREAD_READ, ReplicaTrace
from skewless.storage import codec, merge
from skewless.storage.diskspace import DiskFull
from skewless.storage.engine import Slice
from skewless.storage.integrity import CORRUPT_PREFIX, StorageCorruption, replica_refusal
from skewless.storage.model import PartitionUpdate, Shadowed

if TYPE_CHECKING:
    from skewless.node.ports import ReplicaHost


def mutation_reply(node: ReplicaHost, m: MutationRequest, rt: ReplicaTrace | None = None
                   ) -> MutationResponse:
    try:
        update = codec.decode_update(m.update)
    except RemoteProtocolError as e:
        return MutationResponse(m.req_id, str(e), ())
    table = node.table_by_key(update.table)
    if table is None:
        return MutationResponse(m.req_id, f"unknown table {update.table}", ())
    if m.hint and node.truncations.covers(update):
        return MutationResponse(m.req_id, "", ())  # written before a TRUNCATE: dropped
    try:
        shadowed = node.apply_local(update)
    except StorageCorruption as e:  # recorded (storage.integrity); the coordinator counts it
        return MutationResponse(m.req_id, f"{CORRUPT_PREFIX} {node.address}: {e}", ())
    except DiskFull as e:  # the coordinator answers WriteFailure naming us and the cause
        return MutationResponse(m.req_id, str(e), ())
    if rt is not None:
        rt.event(f"Applied mutation to {table.keyspace}.{table.name} "
                 f"({len(update.rows)} rows){shadow_note(shadowed)}", THREAD_MUTATION)
    wire = tuple((s.clustering, s.column, s.path, s.incoming_ts_us, s.existing_ts_us)
                 for s in shadowed)
    return MutationResponse(m.req_id, "", wire)


def read_local(node: ReplicaHost, r: ReadRequest) -> PartitionUpdate:
    slices = [Slice(*s) for s in r.slices] or None
    started_ns = node.clock.monotonic_ns()
    data = node.storage.read(r.table, r.key, node.physical_us() // 1_000_000, slices=slices,
                             reverse=r.reverse, row_limit=r.row_limit or None)
    node.latency.local_read(r.table, node.clock.monotonic_ns() - started_ns)
    return data


def read_checked(node: ReplicaHost, r: ReadRequest) -> PartitionUpdate | str:
    """``read_local``, or why this replica cannot serve it: its data needs rebuild, or the
    read met corrupt storage (``storage.integrity``; the coordinator fails over)."""
    refused = replica_refusal(node.storage.kv, node.address)
    if refused is not None:
        return refused
    try:
        return read_local(node, r)
    except StorageCorruption as e:
        return f"{CORRUPT_PREFIX} {node.address}: {e}"


def refusal(node: ReplicaHost, r: ReadRequest, data: PartitionUpdate) -> str | None:
    """Why this read must fail (too many tombstones), or None."""
    table = node.schema.table_by_key(r.table)
    name = r.table if table is None else f"{table.keyspace}.{table.name}"
    return thresholds.overwhelming(data, name)


def read_reply(node: ReplicaHost, r: ReadRequest, rt: ReplicaTrace | None = None) -> ReadResponse:
    table = node.table_by_key(r.table)
    if table is None:
        return ReadResponse(r.req_id, f"unknown table {r.table}", b"", b"")
    if rt is not None:
        rt.event(f"Executing single-partition query on {table.name}", THREAD_READ)
    data = read_checked(node, r)
    if isinstance(data, str):
        return ReadResponse(r.req_id, data, b"", b"")
    refused = refusal(node, r, data)
    if refused is not None:
        return ReadResponse(r.req_id, refused, b"", b"")
    if rt is not None:
        rt.event(f"Read {len(data.rows)} rows" + (", digest computed" if r.digest else ""),
                 THREAD_READ)
    if r.digest:
        return ReadResponse(r.req_id, "", b"", merge.digest(data))
    return ReadResponse(r.req_id, "", codec.encode_update(data), b"")


def shadow_note(shadowed: tuple[Shadowed, ...]) -> str:
    """Cells a mutation did not change because newer data was there (clock safety's concern)."""
    if not shadowed:
        return ""
    s = shadowed[0]
    return (f"; {len(shadowed)} cells not applied, newer data present (e.g. existing "
            f"timestamp {s.existing_ts_us} > incoming {s.incoming_ts_us})")
