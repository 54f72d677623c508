"""Index reads: a SELECT served by a secondary index, over token ranges, at any consistency.

Theory of operation
-------------------
Each replica indexes its own data (``storage.index``, maintained in ``Storage.apply``). A query
answered by an index (``cql.index_plan``) is a scan page (``node.scan_page.ScanPage``) whose
rounds read the index instead of every partition. One round, from a position ``pos`` (the
``node.scan.Pos`` of a scan) towards the page's end:

1. *Candidates.* The coordinator sends an ``IndexScanRequest`` to the replicas the consistency
   level needs for the next run of ring ranges with the same replicas (``scan.round_segment``),
   as a range read does. Each answers the (partition key, clustering) of its entries for the
   term (or, for an SAI range, every term of the range: ``storage.index.scan_range``), in ring
   order, from ``pos`` on, at most ``limit``, and whether it reached the range
   end. A replica whose index is still building answers from its data instead (every partition
   of the range read and checked), so answers are complete during a build. As for range reads,
   the union of the answers is complete up to the *smallest* replica position ``P``, which the
   round reports as covered; candidates past ``P`` wait for the next round.
2. *Rows.* Every candidate partition is read with an ordinary point read at the same
   consistency level (``Node.read``: digests, a full-data read and blocking read repair when
   replicas differ), restricted to the candidate rows (the whole partition for a
   partition-level candidate: a static column or a partition key component).
3. The merged partitions go through the plan's filters, which include the indexed restriction:
   entries are never trusted. A stale entry (an overwritten, deleted or expired value on one
   replica) costs a read and is dropped here.

Consistency: a row is returned when some replica of the round holds an entry for it and the
merged data of CL replicas matches. At QUORUM, a write acknowledged at QUORUM reached a replica
of every round's quorum, whose index then holds the entry (maintained in the same batch as the
data), and the point read merges the newest version; so every coordinator returns the same
rows for the same data, as Cassandra with replica filtering protection does. At ONE the
candidates and the rows come from one replica per range: what that replica holds.

Paging needs nothing new: positions and paging states are those of scans, so a paging state
resumes through any coordinator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skewless import limits
from skewless.cql import index_plan, select
from skewless.cql.types import parse_type
from skewless.errors import CqlError, ReadFailure, ReadTimeout
from skewless.node.coordinator import Join
from skewless.node.messages import IndexScanRequest, IndexScanResponse, ReadRequest
from skewless.node.scan import Pos, RoundResult, partition_order, round_segment
from skewless.node.scan_page import PageDone, ScanPage
from skewless.ring import token_of
from skewless.schema import KeyspaceDef
from skewless.storage import index as sindex
from skewless.storage.engine import Storage
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.node import Node

Candidates = tuple[sindex.Candidate, ...]


# ---------------------------------------------------------------- replica side


def serve(node: Node, r: IndexScanRequest) -> IndexScanResponse:
    """A replica's candidates (see the module docstring)."""
    spec = next((s for s in node.storage.index_specs.get(r.table, ()) if s.name == r.index),
                None)
    if spec is None:
        return IndexScanResponse(r.req_id, f"unknown index {r.index} of {r.table}", (), False)
    return answer(node.storage, spec, node.indexes.built(r.table, r.index), r,
                  node.physical_us() // 1_000_000)


def answer(storage: Storage, spec: sindex.IndexSpec, built: bool, r: IndexScanRequest,
           now_s: int) -> IndexScanResponse:
    """The candidates from the index when it is ``built``, else from the data."""
    if r.start_token >= r.end_token or r.limit <= 0:
        return IndexScanResponse(r.req_id, "malformed index read", (), False)
    ranged = r.lower is not None or r.upper is not None
    if ranged and not spec.term_type:
        return IndexScanResponse(r.req_id, f"index {r.index} does not answer ranges", (), False)
    if built and ranged:
        found, exhausted = sindex.scan_range(
            storage.kv, r.table, r.index, spec.term_type, r.lower, r.upper, r.start_token,
            r.end_token, r.start_key, r.resume_clustering, r.limit)
    elif built:
        found, exhausted = sindex.scan(storage.kv, r.table, r.index, r.term, r.start_token,
                                       r.end_token, r.start_key, r.resume_clustering, r.limit,
                                       spec.term_type)
    else:
        found, exhausted = _scan_data(storage, spec, r, now_s)
    return IndexScanResponse(r.req_id, "", tuple(found), exhausted)


def _scan_data(storage: Storage, spec: sindex.IndexSpec, r: IndexScanRequest, now_s: int
               ) -> tuple[list[sindex.Candidate], bool]:
    """The candidates of an index not built yet here, found by reading the data."""
    out: list[sindex.Candidate] = []
    matches = _matcher(spec, r)
    first = [r.start_key] if r.start_key and r.resume_clustering is not None else []
    rest = storage.partition_keys(r.table, r.start_token, r.end_token, r.start_key or None)
    for key in itertools.chain(first, rest):
        p = storage.read(r.table, key, now_s)
        rows = [(p.static_row, True)] if p.static_row is not None else []
        rows += [(row, False) for row in p.rows]
        for row, static in rows:
            if not any(matches(t) for t in sindex.terms_of_row(spec, key, row, static, now_s)):
                continue
            ck = None if static else row.clustering
            if static and spec.kind not in ("static", "partition_key"):
                continue
            if key == r.start_key and r.resume_clustering is not None and ck is not None \
                    and ck <= r.resume_clustering:
                continue
            out.append((key, ck))
            if len(out) >= r.limit:
                return out, False
    return out, True


def _matcher(spec: sindex.IndexSpec, r: IndexScanRequest) -> Callable[[bytes], bool]:
    """Whether a term answers the request: equal to its term, or within its range."""
    if r.lower is None and r.upper is None:
        return lambda term: term == r.term
    compare = parse_type(spec.term_type).compare
    lower, upper = r.lower, r.upper

    def within(term: bytes) -> bool:
        if not term:
            return False  # an empty value matches no range
        if lower is not None and compare(term, lower[0]) < (0 if lower[1] else 1):
            return False
        return upper is None or compare(term, upper[0]) <= (0 if upper[1] else -1)

    return within


# ---------------------------------------------------------------- coordinator: candidates


CandidatesDone = Callable[[CqlError | None, Candidates, Pos], None]


def _position(c: sindex.Candidate) -> Pos:
    return Pos(token_of(c[0]), c[0], c[1])


@dataclass
class IndexRound:
    """Step 1 of a round: the candidates of CL replicas of one run of ranges, reconciled."""

    req_id: int
    request: IndexScanRequest
    targets: tuple[str, ...]
    deadline_ns: int
    cl: int
    done: CandidatesDone
    answers: dict[str, IndexScanResponse] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    finished: bool = False

    def on_response(self, address: str, resp: IndexScanResponse) -> None:
        if self.finished or address not in self.targets or address in self.answers \
                or address in self.failed:
            return
        if resp.error or (not resp.candidates and not resp.exhausted):
            self.failed.append(address)
            self._finish(ReadFailure(f"Index read failed on {address}: {resp.error}", self.cl,
                                     len(self.answers), len(self.targets), len(self.failed),
                                     bool(self.answers)), (), Pos(0))
            return
        self.answers[address] = resp
        if len(self.answers) == len(self.targets):
            self._reconcile()

    def _reconcile(self) -> None:
        end = Pos(self.request.end_token)
        positions = [end if a.exhausted else _position(a.candidates[-1])
                     for a in self.answers.values()]
        covered = min(positions, key=Pos.order)
        union = {c for a in self.answers.values() for c in a.candidates
                 if _position(c).order() <= covered.order()}
        ordered = sorted(union, key=lambda c: _position(c).order())
        self._finish(None, tuple(ordered), covered)

    def expire(self) -> None:
        if not self.finished:
            got = len(self.answers)
            self._finish(ReadTimeout(f"Operation timed out - received only {got} responses.",
                                     self.cl, got, len(self.targets), bool(got)), (), Pos(0))

    def _finish(self, error: CqlError | None, found: Candidates, covered: Pos) -> None:
        assert not self.finished
        self.finished = True
        self.done(error, found, covered)


def on_response(node: Node, sender: str, resp: IndexScanResponse) -> None:
    op = node.ops.get(resp.req_id)
    if isinstance(op, IndexRound):
        op.on_response(sender, resp)


def start_candidates(node: Node, ks: KeyspaceDef, table_key: str, query: index_plan.IndexQuery,
                     pos: Pos, end: Pos, cl: int, limit: int, done: CandidatesDone) -> None:
    """Step 1 from ``pos`` towards ``end``. Raises Unavailable (nothing sent) when too few
    replicas are alive."""
    seg_end, chosen = round_segment(node, ks, pos, end, cl)
    req_id = node.new_req_id()
    resume = pos.key is not None
    req = IndexScanRequest(req_id, table_key, query.name, query.term,
                           pos.token - 1 if resume else pos.token, seg_end, pos.key or b"",
                           pos.clustering, limit, query.lower, query.upper)
    deadline_ns = node.clock.monotonic_ns() + limits.range_read_timeout_ms * 1_000_000

    def finished(error: CqlError | None, found: Candidates, covered: Pos) -> None:
        node.ops.pop(req_id, None)
        done(error, found, covered)

    op = IndexRound(req_id, req, tuple(chosen), deadline_ns, cl, finished)
    node.ops[req_id] = op
    for addr in chosen:
        if addr != node.address:
            node.send(addr, req)
    if node.address in chosen:
        op.on_response(node.address, serve(node, req))


# ---------------------------------------------------------------- coordinator: a page


def read_index(node: Node, ks: KeyspaceDef, plan: select.ReadPlan, cl: int, now_s: int,
               done: PageDone) -> None:
    """Answer one page of the index query ``plan`` at ``cl`` through ``done``. Raises
    Unavailable when the first round cannot be sent."""
    assert plan.is_scan and plan.index is not None
    IndexPage(node, ks, plan, cl, now_s, done).start()


class IndexPage(ScanPage):
    """A scan page whose rounds are index rounds (steps 1 and 2 of the module docstring)."""

    node: Node  # index rounds use more of the node than a scan's (``ports.ScanHost``)

    def _start_round(self) -> None:
        query = self.plan.index
        assert query is not None
        left = self._page_left()
        limit = limits.index_candidates_max
        for bound in (self.plan.limit, left):
            if bound is not None:
                limit = min(limit, max(bound, 1))
        end = self.end
        start_candidates(self.node, self.ks, self.plan.table.table_key, query, self.pos, end,
                         self.cl, limit, self._on_candidates)

    def _on_candidates(self, error: CqlError | None, found: Candidates, covered: Pos) -> None:
        if error is not None:
            self._on_round(error, None)
            return
        done = covered.order() >= self.end.order()
        if done:
            covered = self.end
        by_key: dict[bytes, list[bytes | None]] = {}
        for key, ck in found:
            by_key.setdefault(key, []).append(ck)
        if not by_key:
            self._on_round(None, RoundResult((), covered, done))
            return
        order = sorted(by_key, key=partition_order)

        def read(err: CqlError | None, results: list[object]) -> None:
            if err is not None:
                self._on_round(err, None)
                return
            parts = tuple(r for r in results if isinstance(r, PartitionUpdate))
            self._on_round(None, RoundResult(parts, covered, done))

        join = Join(len(order), read)
        try:
            for i, key in enumerate(order):
                req = ReadRequest(0, self.plan.table.table_key, key, self._slices(key, by_key[key]),
                                  False, 0, False)
                self.node.read(self.ks, req, self.cl, join.part(i))
        except CqlError as e:
            join.part(0)(e, None)

    def _slices(self, key: bytes, cks: list[bytes | None]
                ) -> tuple[tuple[bytes, bool, bytes, bool], ...]:
        if any(ck is None for ck in cks):
            return tuple((s.start, s.start_inclusive, s.end, s.end_inclusive)
                         for s in self.plan.slices_for(key))
        return tuple((ck, True, ck, True) for ck in cks if ck is not None)
