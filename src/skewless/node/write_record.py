"""One client write (or batch) as one record: its state, its phase, its transitions.

Theory of operation
-------------------
A write is a ``WriteRecord`` from ``WritePath.write`` to its one answer, in the manner of h11's
state machines (``cql.connection`` is the project's other example): the record holds the
write's state (list reads' results, the timestamp, the rounds, the shadowing reports), its
``phase`` says what it waits for, and ``TRANSITIONS`` lists every phase it may move to from
each; a move not in the table is a broken invariant (an assert). The phases:

* ``START``: nothing asked yet;
* ``LIST_READS``: list operations by index or value read the list first;
* ``FLOOR_QUERY``: an ``ordered_writes`` table asks its replicas for their newest timestamp;
* ``STAMPING``: a timestamp this node cannot issue at once (ordered, or its clock fenced);
* ``REPLICATION``: the mutations are sent (LOGGED batches through the batchlog);
* ``RESTAMP``: replicas reported newer data shadowing a write this node stamped: a new stamp
  above it, then ``REPLICATION`` again (``node.write_path``, up to
  ``limits.write_restamps_max`` rounds);
* ``COMMIT_WAIT``: cluster time must pass the stamp before the answer;
* ``ANSWERED``: the one answer given; nothing leaves this phase.

Inputs (reads done, floor known, stamped, replicated, commit wait over) are queued and run
one at a time, never re-entrantly, under the request's context; a CqlError out of one is the
write's answer; the record attaches itself to its client request for the simulator's
exactly-one-reply check. That machinery is ``node.record``'s, shared with reads.

What each phase computes (timestamps, mutations, restamp floors, shadowing warnings) is in
``node.write_path``; the record only orders it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from skewless import limits
from skewless.cql import ast
from skewless.cql.results import Void
from skewless.errors import CqlError, Overloaded, WriteTimeout
from skewless.node import consistency as cl_mod
from skewless.node.coordinator import Join
from skewless.node.ordered import FloorJoin
from skewless.node.params import Params, Value
from skewless.node.record import Record
from skewless.node.shadowing import ShadowReport
from skewless.schema import KeyspaceDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.messages import ReadRequest
    from skewless.node.node import Node
    from skewless.node.tracing.records import Trace

log = logging.getLogger("skewless.executor")

Statement = ast.Insert | ast.Update | ast.Delete


class Phase(enum.Enum):
    START = "start"
    LIST_READS = "list reads"
    FLOOR_QUERY = "floor query"
    STAMPING = "stamping"
    REPLICATION = "replication"
    RESTAMP = "restamp round"
    COMMIT_WAIT = "commit wait"
    ANSWERED = "answered"


_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.START: frozenset({_P.LIST_READS, _P.FLOOR_QUERY, _P.STAMPING, _P.REPLICATION,
                         _P.ANSWERED}),
    _P.LIST_READS: frozenset({_P.FLOOR_QUERY, _P.STAMPING, _P.REPLICATION, _P.ANSWERED}),
    _P.FLOOR_QUERY: frozenset({_P.STAMPING, _P.ANSWERED}),
    _P.STAMPING: frozenset({_P.REPLICATION, _P.ANSWERED}),
    _P.REPLICATION: frozenset({_P.RESTAMP, _P.COMMIT_WAIT, _P.ANSWERED}),
    _P.RESTAMP: frozenset({_P.REPLICATION, _P.ANSWERED}),
    _P.COMMIT_WAIT: frozenset({_P.ANSWERED}),
    _P.ANSWERED: frozenset(),
}


class Built(NamedTuple):
    """A write's mutations at one timestamp, grouped by keyspace, and what its answer needs."""

    groups: list[tuple[KeyspaceDef, list[PartitionUpdate]]]
    warnings: list[str]
    max_ts: int  # the response's session token
    node_stamped: bool  # every statement's timestamp came from a node (may restamp)
    trace: Trace | None  # the request's tracing session


class NeedStamp(NamedTuple):
    """The write needs a timestamp this node cannot issue at once: an ordered write (the
    replicas' floor first) or a fenced node (a peer stamps)."""

    ordered: bool


class PhaseWork(Protocol):
    """What the phases compute (``node.write_path.WritePath``)."""

    node: Node

    def answer(self, conn: int, stream: int, body: object,
               warnings: tuple[str, ...] = (), token_us: int | None = None) -> None: ...

    def list_reads(self, stmts: Sequence[Statement], values: Sequence[tuple[Value, ...]],
                   keyspace: str | None) -> list[tuple[int, KeyspaceDef, ReadRequest]]: ...

    def build(self, w: WriteRecord, node_ts: int | None, now_us: int, dry_run: bool = False
              ) -> Built | NeedStamp: ...

    def restamp_floor(self, reports: Sequence[ShadowReport], ts_us: int) -> int | None: ...

    def restamp_orders(self, w: WriteRecord) -> bool: ...

    def shadowed(self, reports: Sequence[ShadowReport], warnings: list[str]
                 ) -> CqlError | None: ...


class WriteRecord(Record):
    """One client write or batch (see the module docstring)."""

    TRANSITIONS = TRANSITIONS
    START = Phase.START
    ANSWERED = Phase.ANSWERED
    KIND = "write"

    __slots__ = ("work", "node", "stmts", "values", "params", "keyspace", "write_type", "batch",
                 "current", "restamps", "reports", "built", "_reads")

    def __init__(self, work: PhaseWork, conn: int, stream: int, stmts: Sequence[Statement],
                 values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
                 write_type: str, batch: ast.Batch | None) -> None:
        super().__init__(work.node.requests, work.answer, conn, stream)
        self.work = work
        self.node = work.node
        self.stmts = stmts
        self.values = values
        self.params = params
        self.keyspace = keyspace
        self.write_type = write_type
        self.batch = batch
        self.current: Sequence[Sequence[PartitionUpdate]] = ()  # list reads' partitions
        self.restamps = 0  # rounds already sent and shadowed
        self.reports: list[ShadowReport] = []  # this round's shadowing reports
        self.built: Built | None = None  # this round's mutations
        self._reads: list[tuple[int, KeyspaceDef, ReadRequest]] = []

    def __repr__(self) -> str:
        return f"write record ({self.write_type}, {self.phase.value})"

    # ------------------------------------------------------------------ inputs

    def start(self) -> None:
        self._begin(self._start)

    def _start(self) -> None:
        reads = self.work.list_reads(self.stmts, self.values, self.keyspace)
        if not reads:
            self._send(None)
            return
        # List operations that need the list's elements read them first (as Cassandra does),
        # at the statement's consistency level (ONE for ANY, which cannot read).
        self._reads = reads
        self._to(Phase.LIST_READS)
        join = Join(len(reads), self._reads_done)
        cl = self.params.consistency
        read_cl = cl if cl != cl_mod.ANY else cl_mod.ONE
        for j, (_, ks, req) in enumerate(reads):
            self.node.read(ks, req, read_cl, join.part(j))  # bound to the request there

    def _reads_done(self, error: CqlError | None, results: list[object]) -> None:
        self._input(self._on_reads, error, results)

    def _on_reads(self, error: CqlError | None, results: list[object]) -> None:
        if error is not None:
            self._answer(error)
            return
        current: list[list[PartitionUpdate]] = [[] for _ in self.stmts]
        for (i, _, _), r in zip(self._reads, results, strict=True):
            if isinstance(r, PartitionUpdate):
                current[i].append(r)
        self.current = current
        self._send(None)

    def _stamped(self, ts: int | None, why: str) -> None:
        self._input(self._on_stamped, ts, why)

    def _on_stamped(self, ts: int | None, why: str) -> None:
        if ts is None:
            self._answer(Overloaded(why))
            return
        if self.phase is Phase.RESTAMP:
            self.restamps += 1
        self._send(ts)

    def _floor_known(self, floor: int | None, why: str) -> None:
        self._input(self._on_floor, floor, why)

    def _on_floor(self, floor: int | None, why: str) -> None:
        if floor is None:
            self._answer(WriteTimeout(why, self.params.consistency, 0, 1, "SIMPLE"))
            return
        self._to(Phase.STAMPING)
        self.node.stamping.stamp(max(floor, self.params.token_us or 0),
                                 self.node.requests.bind(self._stamped),
                                 self.work.restamp_orders(self))

    def _replicated(self, error: CqlError | None, _results: list[object]) -> None:
        self._input(self._on_replicated, error)

    def _logged(self, error: CqlError | None, shadowed: tuple[ShadowReport, ...]) -> None:
        self.reports.extend(shadowed)
        self._input(self._on_replicated, error)

    def _on_replicated(self, error: CqlError | None) -> None:
        built = self.built
        assert built is not None
        reports = self.reports
        if error is None and reports:
            floor = self.work.restamp_floor(reports, built.max_ts) if built.node_stamped else None
            if floor is not None and self.restamps < limits.write_restamps_max:
                self._restamp(floor)
                return
            error = self.work.shadowed(reports, built.warnings)
        if error is None and self.node.config.commit_wait:
            # Commit wait: acknowledge once cluster time is certainly past the stamp.
            self._to(Phase.COMMIT_WAIT)
            self.node.stamping.after_certainly_past(
                built.max_ts, self.node.requests.bind(self._commit_waited))
            return
        if error is not None:
            self._answer(error, built.warnings)
        else:
            self._answer(Void(), built.warnings, built.max_ts)

    def _commit_waited(self) -> None:
        self._input(self._on_commit_waited)

    def _on_commit_waited(self) -> None:
        built = self.built
        assert built is not None
        self._answer(Void(), built.warnings, built.max_ts)

    # ------------------------------------------------------------------ phases' work

    def _send(self, node_ts: int | None) -> None:
        """Build the mutations (at ``node_ts``, or a timestamp issued now) and replicate them;
        a write needing a stamp first asks for it."""
        built = self.work.build(self, node_ts, self.node.physical_us())
        if isinstance(built, NeedStamp):
            self._need_stamp(built.ordered)
            return
        self.built = built
        groups = built.groups
        if not groups:
            self._answer(Void(), built.warnings, built.max_ts)
            return
        reports: list[ShadowReport] = []
        self.reports = reports
        self._to(Phase.REPLICATION)
        cl = self.params.consistency
        if self.write_type == "BATCH" and sum(len(ups) for _, ups in groups) > 1:
            self.node.batchlog.write_atomic(groups, cl, self.node.requests.bind(self._logged))
            return
        join = Join(len(groups), self._replicated)
        trace = built.trace
        for i, (ks, ups) in enumerate(groups):
            self.node.write(ks, ups, cl, self.write_type, _collect_shadowed(join, i, reports),
                            trace)

    def _need_stamp(self, ordered: bool) -> None:
        """Before stamping, a write to an ``ordered_writes`` table asks the replicas for their
        newest timestamp (``node.ordered``), and a node whose clock is fenced has a healthy
        peer stamp it (``node.stamping``)."""
        safe = self.work.restamp_orders(self)
        if not ordered:
            self._to(Phase.STAMPING)
            self.node.stamping.stamp(self.params.token_us or 0,
                                     self.node.requests.bind(self._stamped), safe)
            return
        # The partitions written do not depend on the timestamp: build them once to ask.
        built = self.work.build(self, 0, self.node.physical_us(), dry_run=True)
        assert isinstance(built, Built)
        self._to(Phase.FLOOR_QUERY)
        join = FloorJoin(len(built.groups), self.node.requests.bind(self._floor_known))
        for ks, ups in built.groups:
            self.node.ordered.floor(ks, ups, self.params.consistency, join.part_done)

    def _restamp(self, floor: int) -> None:
        """Send the write again, stamped above ``floor`` (see ``node.write_path``)."""
        reports = self.reports
        for table_id in {r.table for r in reports}:
            self.node.restamped_writes[table_id] += 1
        log.info("write shadowed by data up to %d ms newer: stamped again (round %d)",
                 (floor - max(r.shadowed.incoming_ts_us for r in reports)) // 1000,
                 self.restamps + 2)
        self._to(Phase.RESTAMP)
        self.node.stamping.stamp(floor, self.node.requests.bind(self._stamped),
                                 self.work.restamp_orders(self))


def _collect_shadowed(join: Join, i: int, into: list[ShadowReport]
                      ) -> Callable[[CqlError | None, tuple[ShadowReport, ...]], None]:
    """A write continuation for part ``i`` of ``join`` that keeps the shadowing reports."""
    part = join.part(i)

    def done(error: CqlError | None, reports: tuple[ShadowReport, ...]) -> None:
        into.extend(reports)
        part(error, None)

    return done
