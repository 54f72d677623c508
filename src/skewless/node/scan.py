"""Range reads: a token range of a table read from enough replicas, merged, in ring order.

Theory of operation
-------------------
A scan (SELECT without a partition key, ``token(pk)`` ranges, DISTINCT, whole-table COUNT(*))
walks the ring in token order. ``node.scan_page`` drives one CQL page; this module does one
*round*: from a position to at most the end of a run of ring ranges that share their replicas.

Positions. A ``Pos`` says how far the scan has covered: ``(token, None, None)`` every partition
with a token <= token; ``(token, key, None)`` partitions up to and including ``key`` (whose
token is ``token``); ``(token, key, clustering)`` also the rows of ``key`` up to and including
``clustering``. Within a token, partitions are in the storage engine's order (key length, key).

Segments. The ring's ranges are (t[i-1], t[i]], owned by the owner of t[i]; the piece above the
last token, up to the maximum token, belongs to the first one's owner. A round covers the ranges
from the position on while the replicas chosen for the consistency level stay the same (with as
many nodes as replicas, every range: one round trip per page), up to the scan's end.

Rounds (``RangeRound``). The coordinator sends the same ``RangeReadRequest`` to each chosen
replica (data from all: range reads have no digests) with a row and a byte bound. A replica
answers its partitions from the start position on, in order, stopping after the bound; it says
where it stopped (its last partition, cut after a row or complete) or that it reached the end
of the range. A replica that stopped early may hold nothing beyond that point only because it
was not asked, so the merged answer is valid up to the *smallest* replica position ``P``: the
round keeps each replica's partitions up to ``P`` (rows past ``P``'s row dropped), merges the
versions of each partition by timestamp (``storage.merge``), and reports ``P`` (or the range end
when every replica reached it) as the next round's start. Each replica that did not reach the
end returned at least one partition past the start, so every round makes progress.

Short reads: with a per-partition row limit (DISTINCT, PER PARTITION LIMIT), a replica may stop
inside a partition whose rows another replica deleted; when a merged partition holds fewer
live rows than the limit, it is kept only up to the last row each limited replica sent, and the
next round resumes there (as Cassandra's short read protection does).

Read repair: a replica whose version of a kept partition lacks something the merge has is sent
the difference (a MutationRequest nobody waits for: not blocking, unlike point reads).
Identical answers (the common case) are decoded once and neither merged nor diffed.

Time-outs and Unavailable behave as for point reads: too few live replicas for a round raises
``Unavailable`` before anything is sent; a round without enough answers by
``range_read_timeout_ms`` ends in ``ReadTimeout``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import (
    UNKNOWN_FAILURE,
    CqlError,
    ReadFailure,
    ReadTimeout,
    RemoteProtocolError,
    Unavailable,
)
from skewless.node import consistency as cl_mod
from skewless.node.clock.stamps import max_timestamp
from skewless.node.coordinator import Send
from skewless.node.messages import MutationRequest, RangeReadRequest, RangeReadResponse
from skewless.node.placement import Ring, dc_factors
from skewless.node.schema.system_tables import stored_table_by_key
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.schema import KeyspaceDef, Schema
from skewless.storage import codec, keys, merge
from skewless.storage.diskspace import DiskFull
from skewless.storage.engine import Slice, Storage
from skewless.storage.integrity import CORRUPT_PREFIX, StorageCorruption, replica_refusal
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.ports import ScanHost

SliceTuple = tuple[bytes, bool, bytes, bool]


@dataclass(frozen=True, slots=True)
class Pos:
    """How far a scan has covered (see the module docstring)."""

    token: int
    key: bytes | None = None
    clustering: bytes | None = None

    def order(self) -> tuple[int, int, int, bytes, int, bytes]:
        if self.key is None:
            return (self.token, 1, 0, b"", 0, b"")
        c = self.clustering
        return (self.token, 0, len(self.key), self.key, 1 if c is None else 0, c or b"")


def partition_order(key: bytes) -> tuple[int, int, int, bytes]:
    return (token_of(key), 0, len(key), key)


def covers_partition(pos: Pos, key: bytes) -> bool:
    """``pos`` lies at or after the start of partition ``key``."""
    return partition_order(key) <= pos.order()[:4]


# ---------------------------------------------------------------- replica side


def _after(slices: Sequence[Slice] | None, c: bytes) -> list[Slice]:
    """The parts of ``slices`` (None: everything) after clustering ``c``."""
    out = []
    for s in slices if slices is not None else [Slice(b"", True, b"", True)]:
        rng = keys.clustering_range(s.start, s.start_inclusive, s.end, s.end_inclusive)
        if rng is None or (rng[1] is not None and c >= rng[1]):
            continue
        out.append(s if c < rng[0] else Slice(c, False, s.end, s.end_inclusive))
    return out


def _live_rows(p: PartitionUpdate, now_s: int) -> int:
    """Live rows of a partition as ``Storage.read`` returns it (normalized: nothing shadowed
    is left, so a row is live when its marker or a cell is)."""
    return sum(1 for r in p.rows if (r.marker is not None and merge.is_live(r.marker, now_s))
               or any(merge.is_live(w.cell, now_s) for w in r.cells))


def serve_range(storage: Storage, schema: Schema, r: RangeReadRequest, now_s: int,
                address: str = "") -> RangeReadResponse:
    """A replica's answer to a range read (see the module docstring); an error when its data
    needs rebuild or the scan met corrupt storage (``storage.integrity``)."""
    refused = replica_refusal(storage.kv, address)
    if refused is not None:
        return RangeReadResponse(r.req_id, refused, (), None, False)
    try:
        return _serve_range(storage, schema, r, now_s)
    except StorageCorruption as e:
        return RangeReadResponse(r.req_id, f"{CORRUPT_PREFIX} {address}: {e}", (), None, False)


def _serve_range(storage: Storage, schema: Schema, r: RangeReadRequest, now_s: int
                 ) -> RangeReadResponse:
    if schema.table_by_key(r.table) is None and stored_table_by_key(r.table) is None:
        return RangeReadResponse(r.req_id, f"unknown table {r.table}", (), None, False)
    if r.start_token >= r.end_token or r.row_limit <= 0:
        return RangeReadResponse(r.req_id, "malformed range read", (), None, False)
    slices = [Slice(*s) for s in r.slices] or None
    out: list[tuple[bytes, bytes]] = []
    rows_left, size = r.row_limit, 0
    per = r.partition_row_limit or None
    todo: list[tuple[bytes, list[Slice] | None]] = []
    if r.start_key and r.resume_clustering is not None and r.resume_clustering != b"":
        todo.append((r.start_key, _after(slices, r.resume_clustering)))
    keys_iter = storage.partition_keys(r.table, r.start_token, r.end_token, r.start_key or None)
    for key, sl in _chain(todo, keys_iter, slices):
        if sl == []:
            continue
        limit = rows_left if per is None else min(rows_left, per)
        p = storage.read(r.table, key, now_s, slices=sl, row_limit=limit)
        data = codec.encode_update(p)
        out.append((key, data))
        size += len(data)
        live = _live_rows(p, now_s)
        rows_left -= max(live, 1)
        if rows_left <= 0:
            cut_here = live == limit and (per is None or limit < per) and bool(p.rows)
            return RangeReadResponse(r.req_id, "", tuple(out),
                                     p.rows[-1].clustering if cut_here else None, False)
        if size >= r.byte_limit:
            return RangeReadResponse(r.req_id, "", tuple(out), None, False)
    return RangeReadResponse(r.req_id, "", tuple(out), None, True)


def _chain(first: list[tuple[bytes, list[Slice] | None]], rest: Iterator[bytes],
           slices: list[Slice] | None) -> Iterator[tuple[bytes, list[Slice] | None]]:
    yield from first
    for key in rest:
        yield key, slices


# ---------------------------------------------------------------- coordinator: one round


@dataclass(frozen=True, slots=True)
class RoundResult:
    partitions: tuple[PartitionUpdate, ...]  # merged, in ring order, up to ``covered``
    covered: Pos  # the next round starts after this
    done: bool  # ``covered`` reached the end the round was asked for


RoundDone = Callable[[CqlError | None, RoundResult | None], None]


@dataclass
class RangeRound:
    """One range read at a consistency level (see the module docstring)."""

    req_id: int
    request: RangeReadRequest
    targets: tuple[str, ...]
    deadline_ns: int
    cl: int
    repair_id: Callable[[], int]
    done: RoundDone
    now_s: int  # the coordinator's time, to count live rows for short reads
    answers: dict[str, RangeReadResponse] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    finished: bool = False

    def on_response(self, address: str, resp: RangeReadResponse) -> list[Send]:
        if self.finished or address not in self.targets or address in self.answers \
                or address in self.failed:
            return []
        if resp.error or (not resp.partitions and not resp.exhausted):
            self.failed.append(address)
            if not self.finished:
                self._finish(ReadFailure(f"Range read failed on {address}: {resp.error}",
                                         self.cl, len(self.answers), len(self.targets),
                                         len(self.failed), bool(self.answers),
                                         reasons=dict.fromkeys(self.failed, UNKNOWN_FAILURE)),
                             None)
            return []
        self.answers[address] = resp
        if len(self.answers) < len(self.targets):
            return []
        try:
            result, sends = self._reconcile()
        except RemoteProtocolError as e:
            self._finish(ReadFailure(f"Range read answer undecodable: {e}", self.cl,
                                     len(self.answers), len(self.targets), 1, True), None)
            return []
        self._finish(None, result)
        return sends

    def _position(self, resp: RangeReadResponse) -> Pos:
        if resp.exhausted:
            return Pos(self.request.end_token)
        key = resp.partitions[-1][0]
        return Pos(token_of(key), key, resp.last_clustering)

    def _reconcile(self) -> tuple[RoundResult, list[Send]]:
        covered = min((self._position(r) for r in self.answers.values()), key=Pos.order)
        versions: dict[bytes, dict[str, bytes]] = {}
        for addr in self.targets:
            for key, data in self.answers[addr].partitions:
                if covers_partition(covered, key):
                    versions.setdefault(key, {})[addr] = data
        parts: list[PartitionUpdate] = []
        sends: list[Send] = []
        for key in sorted(versions, key=partition_order):
            cut = covered.clustering if covered.key == key else None
            merged, repairs, short = self._merge(versions[key], cut)
            sends.extend(repairs)
            if short is not None:  # rows a limited replica did not send may be missing
                parts.append(_trim(merged, short))
                covered = Pos(token_of(key), key, short)
                break
            parts.append(merged)
        done = covered.order() >= Pos(self.request.end_token).order()
        return RoundResult(tuple(parts), covered, done), sends

    def _merge(self, by_addr: dict[str, bytes], cut: bytes | None
               ) -> tuple[PartitionUpdate, list[Send], bytes | None]:
        """The merged partition, the repairs it asks for, and where a short read stops it.

        Short reads: a replica that stopped at the partition row limit may have more rows, and
        if the merge holds fewer live rows than the limit (another replica deleted some), the
        merged partition is only complete up to the last row every such replica sent."""
        encodings = set(by_addr.values())
        if len(encodings) == 1 and len(by_addr) == len(self.targets):
            return _trim(codec.decode_update(next(iter(encodings))), cut), [], None
        decoded = {a: _trim(codec.decode_update(d), cut) for a, d in by_addr.items()}
        first = next(iter(decoded.values()))
        merged = first
        for p in list(decoded.values())[1:]:
            merged = merge.merge(merged, p)
        sends: list[Send] = []
        empty = PartitionUpdate(first.table, first.key, None, (), None, ())
        for a in self.targets:
            missing = merge.diff(merged, decoded.get(a, empty))
            if missing is not None:
                sends.append((a, MutationRequest(self.repair_id(),
                                                 codec.encode_update(missing), False)))
        return merged, sends, self._short_read(merged, list(decoded.values()))

    def _short_read(self, merged: PartitionUpdate, versions: list[PartitionUpdate]
                    ) -> bytes | None:
        per = self.request.partition_row_limit
        if not per or _live_rows(merged, self.now_s) >= per:
            return None
        limited = [p.rows[-1].clustering for p in versions
                   if p.rows and _live_rows(p, self.now_s) >= per]
        return min(limited) if limited else None

    def expire(self) -> None:
        if self.finished:
            return
        got = len(self.answers)
        self._finish(ReadTimeout(f"Operation timed out - received only {got} responses.",
                                 self.cl, got, len(self.targets), bool(got)), None)

    def _finish(self, error: CqlError | None, result: RoundResult | None) -> None:
        assert not self.finished
        self.finished = True
        self.done(error, result)


def _trim(p: PartitionUpdate, cut: bytes | None) -> PartitionUpdate:
    """``p`` without rows after clustering ``cut`` (None: all kept)."""
    if cut is None or not p.rows or p.rows[-1].clustering <= cut:
        return p
    return PartitionUpdate(p.table, p.key, p.deletion, p.range_tombstones, p.static_row,
                           tuple(r for r in p.rows if r.clustering <= cut))


# ---------------------------------------------------------------- coordinator: ring walk


def scan_end(token: int, inclusive: bool) -> Pos:
    """The end position of a scan bounded by ``token(pk) <(=) token``; the minimum token as
    an end means the end of the ring, as in Cassandra."""
    if token == MIN_TOKEN:
        return Pos(MAX_TOKEN)
    return Pos(token if inclusive else token - 1)


def scan_start(token: int, inclusive: bool) -> Pos:
    """The position before a scan bounded by ``token(pk) >(=) token``."""
    if token == MIN_TOKEN:
        return Pos(MIN_TOKEN)
    return Pos(token - 1 if inclusive else token)


def _segment_ends(ring: Ring, pos: Pos, end: int) -> Iterator[int]:
    """Ends of the ring ranges from the one holding what follows ``pos``, up to ``end``."""
    tokens = ring.tokens
    first = pos.token if pos.key is not None else pos.token + 1
    i = bisect.bisect_left(tokens, first)
    while True:
        t = tokens[i] if i < len(tokens) else MAX_TOKEN
        yield min(t, end)
        if t >= end or i >= len(tokens):
            return
        i += 1


Targets = Callable[[int], list[str]]  # the replicas to ask for the range ending at a token


def next_segment(ring: Ring, pos: Pos, end: int, targets: Targets) -> tuple[int, list[str]]:
    """The end token of the next round from ``pos`` and its replicas: ring ranges are joined
    while they would ask the same replicas (raises Unavailable for the first one only)."""
    ends = _segment_ends(ring, pos, end)
    seg_end = next(ends)
    chosen = targets(seg_end)
    for t in ends:
        try:
            if set(targets(t)) != set(chosen):
                break
        except Unavailable:
            break
        seg_end = t
    return seg_end, chosen


@dataclass(frozen=True, slots=True)
class RoundSpec:
    """What a page asks of its next round (table, bounds, per-response limits)."""

    table: str
    slices: tuple[SliceTuple, ...]
    row_limit: int
    partition_row_limit: int  # 0: none


def round_segment(node: ScanHost, ks: KeyspaceDef, pos: Pos, end: Pos, cl: int
                  ) -> tuple[int, list[str]]:
    """The next segment of a range read from ``pos`` towards ``end`` that one set of replicas
    serves (its end token) and the replicas to ask at ``cl``. Raises Overloaded past the node's
    in-flight bound and Unavailable when too few replicas are alive (nothing sent)."""
    node.check_capacity()
    factors = dc_factors(ks.replication_map(), node.config.dc)
    need = cl_mod.requirement(cl, factors, node.config.dc, write=False)
    replication = ks.replication_map()
    ring = node.membership.ring()

    def targets(token: int) -> list[str]:
        return node.read_targets(ring.replicas(token, replication), need, cl)

    return next_segment(ring, pos, end.token, targets)


def start_round(node: ScanHost, ks: KeyspaceDef, spec: RoundSpec, pos: Pos, end: Pos, cl: int,
                done: RoundDone) -> None:
    """Read from ``pos`` towards ``end`` at ``cl``; ``done`` gets the merged partitions and
    how far they cover. Raises Unavailable (nothing sent) when too few replicas are alive."""
    assert pos.order() < end.order() and end.key is None
    seg_end, chosen = round_segment(node, ks, pos, end, cl)
    req_id = node.new_req_id()
    resume = pos.key is not None
    req = RangeReadRequest(
        req_id, spec.table, pos.token - 1 if resume else pos.token, seg_end,
        pos.key or b"", pos.clustering, spec.slices, spec.row_limit, spec.partition_row_limit,
        limits.scan_response_bytes_max)
    started_ns = node.clock.monotonic_ns()
    deadline_ns = started_ns + limits.range_read_timeout_ms * 1_000_000

    def finished(error: CqlError | None, result: RoundResult | None) -> None:
        node.ops.pop(req_id, None)
        node.latency.coordinator_range.record((node.clock.monotonic_ns() - started_ns) // 1000)
        if result is not None:
            for p in result.partitions:
                node.observe(max_timestamp(p))
            if result.covered.order() >= end.order():
                result = RoundResult(result.partitions, end, True)
            else:
                result = RoundResult(result.partitions, result.covered, False)
        done(error, result)

    now_s = node.physical_us() // 1_000_000
    op = RangeRound(req_id, req, tuple(chosen), deadline_ns, cl, node.new_req_id, finished,
                    now_s)
    node.ops[req_id] = op
    for addr in chosen:
        if addr != node.address:
            node.send(addr, req)
    if node.address in chosen:
        dispatch(node, op, node.address, serve_range(node.storage, node.schema, req, now_s,
                                                    node.address))


def dispatch(node: ScanHost, op: RangeRound, sender: str, resp: RangeReadResponse) -> None:
    """Feed a replica's answer to its round and send the repairs the round asks for."""
    for addr, msg in op.on_response(sender, resp):
        if addr == node.address:
            assert isinstance(msg, MutationRequest)
            try:
                node.apply_local(codec.decode_update(msg.update))
            except DiskFull:  # a read repair the store refuses: the read is answered anyway
                pass
        else:
            node.send(addr, msg)


def on_range_response(node: ScanHost, sender: str, resp: RangeReadResponse) -> None:
    op = node.ops.get(resp.req_id)
    if isinstance(op, RangeRound):
        dispatch(node, op, sender, resp)
