"""Counter writes: the coordinator's record and the leader replica's step (Cassandra's design).

Theory of operation
-------------------
A counter UPDATE (``c = c + v``) or COUNTER BATCH is one ``CounterWriteRecord`` on its
coordinator, from its start to its one answer:

* ``START``: the statements are built by ``cql.dml`` at a timestamp from this node; a counter
  column's ``c = c +/- v`` comes out as a *delta cell* (the signed delta, not a context), which
  ``split`` turns into ``storage.counters.Increment``s per partition; anything else of the
  partition (DELETEs in a counter batch) is its ``rest``. Consistency ANY is refused as
  Cassandra refuses it, and a partition with too few live replicas for the level is
  Unavailable before anything is sent (``Node.plan_write``).
* ``LEADERS``: each partition's increments go to one *leader* replica (``choose_leader``: this
  node when it is a replica, else a live replica of its datacenter, else any live replica),
  as a ``CounterMutationRequest`` (or a direct call when the leader is this node). The record
  waits for every leader's answer, at most ``counter_write_request_timeout_in_ms`` (then
  WriteTimeout, write_type COUNTER); the first error is the answer. Increments that did not
  take effect because a deletion covers the counter (a tombstone beats a counter whatever the
  timestamps: ``storage.counters``) come back as the replicas' shadowing reports and are
  answered with a warning (``deleted_warnings``): no increment is lost in silence.
* ``ANSWERED``.

The leader (``CounterLeader.lead``) reads its own partition, builds ``counters.leader_update``
(its own shard of each counter: clock and count advanced) and hands it to ``Node.write`` at the
request's consistency level, write_type COUNTER: that applies it locally first (the leader is a
replica) and sends the same *state* to the other replicas, so hints, read repair, batchlog
replays and a duplicated send merge it idempotently and never count an increment twice.

Serialisation. A leader's shard is a read-modify-write; Cassandra takes a lock per counter cell
around it. Here the read (``Storage.read``) and the local apply (inside ``Node.write``) happen in
one synchronous step of the node's single-threaded core, so no other increment of the partition
can interleave between them: per partition, increments are serialised by construction and no
queue is needed. The leader bounds the increments it is *replicating* at once
(``limits.counter_leader_inflight_max``; more are answered Overloaded).

Duplicates. A ``CounterMutationRequest`` applied twice would count twice, so each carries an
``op_id`` the coordinator draws at random; the leader remembers the last
``limits.counter_leader_seen_max`` (coordinator, op id) pairs: a duplicate of one in progress is
dropped, of one finished answered again with the same answer.

Not idempotent for the client: a timed-out increment may or may not have been applied (as in
Cassandra); a client retry may count it twice. LWTs are the alternative where that matters.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from skewless import limits
from skewless.cql import ast, counter_rules
from skewless.cql.results import Void
from skewless.errors import (
    UNKNOWN_FAILURE,
    CqlError,
    InvalidRequest,
    Overloaded,
    RemoteProtocolError,
    ServerError,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from skewless.node import consistency as cl_mod
from skewless.node.coordinator import Join
from skewless.node.messages import CounterMutationRequest, CounterMutationResponse
from skewless.node.params import Params, Value
from skewless.node.ports import NodeCore
from skewless.node.record import Record
from skewless.node.shadowing import ShadowReport, unique
from skewless.schema import KeyspaceDef
from skewless.storage import codec, counters
from skewless.storage.engine import Slice
from skewless.storage.merge import merge, merge_many
from skewless.storage.model import PartitionUpdate, Row, Shadowed

if TYPE_CHECKING:
    import random
    import uuid

    from skewless.cql.compiled import Plans
    from skewless.cql.list_ops import ListSeq
    from skewless.cql.terms import EvalContext
    from skewless.node.coordinator import PlannedWrite
    from skewless.node.ports import WritesDone
    from skewless.node.requests import ClientRequests
    from skewless.schema import Schema, TableDef

log = logging.getLogger("skewless.counters")

Statement = ast.Insert | ast.Update | ast.Delete
LeaderDone = Callable[[CqlError | None, tuple[ShadowReport, ...]], None]
# one partition of a counter write: keyspace, table id, key, deletions, increments
Part = tuple[KeyspaceDef, str, bytes, PartitionUpdate | None, list[counters.Increment]]


# ---------------------------------------------------------------- what it is given


class CounterHost(NodeCore, Protocol):
    """What counter writes use of their node (the ``Node``): placement and coordinator writes,
    local storage and the schema, the node's identity, timestamps and randomness (leader
    choice, op ids), the client requests (records and their continuations), and the node's
    ``CounterLeader``."""

    @property
    def rng(self) -> random.Random: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def host_id(self) -> uuid.UUID: ...

    @property
    def requests(self) -> ClientRequests: ...

    @property
    def counters(self) -> CounterLeader: ...

    def physical_us(self) -> int: ...

    def next_timestamp(self) -> int: ...

    def write_replicas(self, ks: KeyspaceDef, key: bytes) -> tuple[list[str], list[str]]: ...

    def plan_write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int
                   ) -> list[PlannedWrite]: ...

    def write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int,
              write_type: str, done: WritesDone) -> None: ...


class CounterExecutor(Protocol):
    """What the coordinator's record uses of the executor (``node.write_path.ExecutorSide``)."""

    plans: Plans

    def context(self, values: Sequence[Value], keyspace: str | None,
                now_us: int | None = None) -> EvalContext: ...

    def table(self, stmt_ks: str | None, name: str, keyspace: str | None
              ) -> tuple[KeyspaceDef, TableDef]: ...


class CounterPath(Protocol):
    """What the record uses of its write path (``node.write_path.WritePath``)."""

    @property
    def node(self) -> CounterHost: ...

    @property
    def ex(self) -> CounterExecutor: ...

    @property
    def list_seq(self) -> ListSeq: ...

    def answer(self, conn: int, stream: int, body: object,
               warnings: tuple[str, ...] = (), token_us: int | None = None) -> None: ...



# ---------------------------------------------------------------- pure parts


def split(u: PartitionUpdate) -> tuple[list[counters.Increment], PartitionUpdate | None]:
    """A built counter-table update as the increments of its delta cells (live, no path, 8
    bytes: ``cql.dml``'s) and the rest (tombstones and deletions), None when nothing is left."""
    incs: list[counters.Increment] = []

    def row(r: Row, static: bool) -> Row:
        kept = []
        for w in r.cells:
            c = w.cell
            if not w.path and not c.counter and c.value is not None and len(c.value) == 8:
                incs.append(counters.Increment(
                    r.clustering, w.column, int.from_bytes(c.value, "big", signed=True), static))
            else:
                kept.append(w)
        return Row(r.clustering, marker=r.marker, deletion=r.deletion, cells=tuple(kept),
                   column_deletions=r.column_deletions)

    static = None if u.static_row is None else row(u.static_row, True)
    rows = tuple(row(r, False) for r in u.rows)
    rows = tuple(r for r in rows if r.cells or r.deletion or r.column_deletions or r.marker)
    if static is not None and not (static.cells or static.column_deletions or static.deletion):
        static = None
    if static is None and not rows and u.deletion is None and not u.range_tombstones:
        return incs, None
    return incs, PartitionUpdate(u.table, u.key, deletion=u.deletion, static_row=static,
                                 rows=rows, range_tombstones=u.range_tombstones)


def choose_leader(replicas: Sequence[str], alive: Sequence[str], me: str,
                  dc_of: Mapping[str, str], my_dc: str, rng: random.Random) -> str | None:
    """The leader of a partition's increments: this node when it is a live replica, else a live
    replica of this node's datacenter, else any live one (``rng`` picks); None if none."""
    live = [a for a in replicas if a in alive]
    if me in live:
        return me
    local = [a for a in live if dc_of.get(a) == my_dc]
    pool = local or live
    return rng.choice(pool) if pool else None


def response_of(req_id: int, error: CqlError | None,
                reports: Sequence[ShadowReport] = ()) -> CounterMutationResponse:
    """The leader's answer carrying ``error`` (None: the level was met, with the shadowing
    ``reports`` of its replicas)."""
    if error is None:
        return CounterMutationResponse(req_id, True, 0, "", 0, 0, 0, tuple(
            (r.shadowed.clustering, r.shadowed.column, r.shadowed.path,
             r.shadowed.incoming_ts_us, r.shadowed.existing_ts_us) for r in reports))
    received = block_for = failures = 0
    if isinstance(error, WriteTimeout):
        received, block_for = error.received, error.block_for
    elif isinstance(error, Unavailable):
        received, block_for = error.alive, error.required
    elif isinstance(error, WriteFailure):
        received, block_for, failures = error.received, error.block_for, error.failures
    code = error.code if isinstance(error, _PASSED_ON) else ServerError.code
    return CounterMutationResponse(req_id, False, code, str(error), received, block_for,
                                   failures, ())


_PASSED_ON = (WriteTimeout, Unavailable, WriteFailure, Overloaded, InvalidRequest)


def reports_of(m: CounterMutationResponse, table: str, key: bytes
               ) -> tuple[ShadowReport, ...] | None:
    """The shadowing reports a leader's answer carries (None: malformed, a peer's fault)."""
    out = []
    for s in m.shadowed:
        if not (isinstance(s, tuple) and len(s) == 5 and isinstance(s[0], bytes)
                and isinstance(s[1], str) and isinstance(s[2], bytes)
                and type(s[3]) is int and type(s[4]) is int):
            return None
        out.append(ShadowReport(table, key, Shadowed(*s)))
    return tuple(out)


def deleted_warnings(schema: Schema, reports: Sequence[ShadowReport]) -> list[str]:
    """The client's warning, one per table, for increments that did not take effect: a
    deletion covers the counter (it stays deleted until the deletion is purged)."""
    by_table: dict[str, list[ShadowReport]] = {}
    for r in reports:
        by_table.setdefault(r.table, []).append(r)
    out = []
    for table_id, rs in by_table.items():
        table = schema.table_by_key(table_id)
        name = f"{table.keyspace}.{table.name}" if table is not None else table_id
        cells = "; ".join(
            f"column {r.shadowed.column or '?'} of partition 0x{r.key.hex()}"
            + (f" row 0x{r.shadowed.clustering.hex()}" if r.shadowed.clustering else "")
            for r in rs[:_SHOWN_MAX])
        more = f"; and {len(rs) - _SHOWN_MAX} more" if len(rs) > _SHOWN_MAX else ""
        out.append(f"Counter update to {name} did not take effect on {len(rs)} cell(s), "
                   f"deleted ({cells}{more}): a deleted counter stays deleted until its "
                   f"deletion is purged (gc_grace_seconds)")
    return out


_SHOWN_MAX = 5  # cells named in one warning


def error_of(m: CounterMutationResponse, cl: int) -> CqlError | None:
    """The client's error for a leader's answer (None: applied at ``cl``)."""
    if m.ok:
        return None
    if m.error_code == WriteTimeout.code:
        return WriteTimeout(m.message, cl, m.received, m.block_for, "COUNTER")
    if m.error_code == Unavailable.code:
        return Unavailable(m.message, cl, m.block_for, m.received)
    if m.error_code == WriteFailure.code:
        return WriteFailure(m.message, cl, m.received, m.block_for, m.failures, "COUNTER",
                            reasons={})
    if m.error_code == Overloaded.code:
        return Overloaded(m.message)
    if m.error_code == InvalidRequest.code:  # e.g. the leader does not have the table yet
        return InvalidRequest(m.message)
    return ServerError(m.message)


# ---------------------------------------------------------------- the leader


class CounterLeader:
    """A node's leader side and its coordinators' pending leader requests."""

    def __init__(self, node: CounterHost) -> None:
        self.node = node
        self.inflight = 0  # increments this leader is replicating
        self.seen: OrderedDict[tuple[str, int], CounterMutationResponse | None] = OrderedDict()
        # coordinator side: req id -> (its continuation, deadline, cl, block_for, table, key)
        self.pending: dict[int, tuple[LeaderDone, int, int, int, str, bytes]] = {}
        self.applied = 0  # increments led here (tests, metrics)

    # -- as a leader

    def on_request(self, sender: str, m: CounterMutationRequest) -> None:
        key = (sender, m.op_id)
        if key in self.seen:
            answer = self.seen[key]
            if answer is not None:  # finished: the same answer again
                self.node.send(sender, replace(answer, req_id=m.req_id))
            return
        self.seen[key] = None
        while len(self.seen) > limits.counter_leader_seen_max:
            self.seen.popitem(last=False)

        def done(error: CqlError | None, reports: tuple[ShadowReport, ...]) -> None:
            response = response_of(m.req_id, error, reports)
            if key in self.seen:
                self.seen[key] = response
            self.node.send(sender, response)

        self.lead(m, done)

    def lead(self, m: CounterMutationRequest, done: LeaderDone) -> None:
        """Apply ``m``'s increments to this node's shards and replicate the state at ``m.cl``;
        ``done`` is called once, with None or the error (a bad request is answered too)."""
        node = self.node
        checked = self._check(m)
        if isinstance(checked, CqlError):
            done(checked, ())
            return
        ks, incs, rest = checked
        if self.inflight >= limits.counter_leader_inflight_max:
            done(Overloaded("Too many counter writes in flight on this leader"), ())
            return
        replicas, _ = node.write_replicas(ks, m.key)
        if node.address not in replicas:
            done(WriteFailure(f"Operation failed - {node.address} is not a replica of this "
                              "counter's partition", m.cl, 0, 1, 1, "COUNTER",
                              reasons={node.address: UNKNOWN_FAILURE}), ())
            return
        # Read and local apply in one synchronous step: serialised (module docstring).
        now_us = node.physical_us()
        rows = sorted({i.clustering for i in incs if not i.static})
        current = node.storage.read(  # the rows incremented (and the static row) only
            m.table, m.key, now_us // 1_000_000,
            slices=[Slice(ck, True, ck, True) for ck in rows] or None)
        update = counters.leader_update(m.table, m.key, incs, current, node.host_id, now_us,
                                        m.ts_us)
        if rest is not None:
            update = merge(rest, update)

        def replicated(error: CqlError | None, reports: tuple[ShadowReport, ...]) -> None:
            self.inflight -= 1
            done(error, reports)

        try:
            node.write(ks, [update], m.cl, "COUNTER", replicated)  # applies here first
        except CqlError as e:  # Unavailable or Overloaded: nothing applied nor sent
            done(e, ())
            return
        self.inflight += 1
        self.applied += len(incs)

    def _check(self, m: CounterMutationRequest
               ) -> tuple[KeyspaceDef, list[counters.Increment], PartitionUpdate | None] | CqlError:
        """``m``'s keyspace, increments and rest, or the error answering a bad request (a
        peer's fault, or a schema this node does not have yet)."""
        table = self.node.schema.table_by_key(m.table)
        ks = None if table is None else self.node.schema.keyspace(table.keyspace)
        if table is None or ks is None:
            return InvalidRequest(f"unknown table {m.table}")
        if m.cl not in cl_mod.NAMES or m.cl == cl_mod.ANY:
            return InvalidRequest(f"bad consistency level {m.cl} for a counter write")
        incs = []
        for inc in m.increments:
            if not (isinstance(inc, tuple) and len(inc) == 4 and isinstance(inc[0], bytes)
                    and isinstance(inc[1], str) and type(inc[2]) is int
                    and type(inc[3]) is bool):
                return InvalidRequest("bad counter increment")
            col = table.column(inc[1])
            if col is None or col.kind != ("static" if inc[3] else "regular") \
                    or not counter_rules.is_counter_type(col.type):
                return InvalidRequest(f"no counter column {inc[1]} in {table.name}")
            incs.append(counters.Increment(inc[0], inc[1], counters.wrap64(inc[2]), inc[3]))
        rest = None
        if m.rest:
            try:
                rest = codec.decode_update(m.rest)
            except RemoteProtocolError as e:
                return InvalidRequest(f"bad counter mutation: {e}")
            if (rest.table, rest.key) != (m.table, m.key):
                return InvalidRequest("a counter mutation's deletions of another partition")
        return ks, incs, rest

    # -- as a coordinator

    def on_response(self, sender: str, m: CounterMutationResponse) -> None:
        entry = self.pending.get(m.req_id)
        if entry is None:
            return  # late, or a duplicate
        reports = reports_of(m, entry[4], entry[5])
        if reports is None:
            log.warning("a malformed counter mutation response from %s: dropped", sender)
            return  # a peer's bad answer: the request times out
        del self.pending[m.req_id]
        entry[0](error_of(m, entry[2]), reports)

    def tick(self, now_ns: int) -> None:
        for rid in [r for r, e in self.pending.items() if e[1] <= now_ns]:
            cont, _, cl, block_for, _, _ = self.pending.pop(rid)
            cont(WriteTimeout("Operation timed out - received only 0 responses.", cl, 0,
                              block_for, "COUNTER"), ())


# ---------------------------------------------------------------- the coordinator's record


class Phase(enum.Enum):
    START = "start"
    LEADERS = "leaders"
    ANSWERED = "answered"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.START: frozenset({Phase.LEADERS, Phase.ANSWERED}),
    Phase.LEADERS: frozenset({Phase.ANSWERED}),
    Phase.ANSWERED: frozenset(),
}


class CounterWriteRecord(Record):
    """One counter UPDATE or COUNTER BATCH (see the module docstring)."""

    TRANSITIONS = TRANSITIONS
    START = Phase.START
    ANSWERED = Phase.ANSWERED
    KIND = "counter write"

    __slots__ = ("path", "node", "stmts", "values", "params", "keyspace", "ts_us")

    def __init__(self, path: CounterPath, conn: int, stream: int, stmts: Sequence[Statement],
                 values: Sequence[tuple[Value, ...]], params: Params,
                 keyspace: str | None) -> None:
        super().__init__(path.node.requests, path.answer, conn, stream)
        self.path = path
        self.node = path.node
        self.stmts = stmts
        self.values = values
        self.params = params
        self.keyspace = keyspace
        self.ts_us = 0

    def start(self) -> None:
        self.node.requests.classify(self.conn, self.stream, "counter")
        self._begin(self._start)

    def _start(self) -> None:
        node, cl = self.node, self.params.consistency
        cl_mod.check_cl(cl)  # Cassandra's validateForWrite, then validateCounterForWrite
        if cl == cl_mod.ANY:
            name = self.path.ex.table(self.stmts[0].keyspace, self.stmts[0].table,
                                      self.keyspace)[1].name
            raise InvalidRequest(
                f"Consistency level ANY is not yet supported for counter table {name}")
        if cl in (cl_mod.SERIAL, cl_mod.LOCAL_SERIAL):
            raise InvalidRequest("Counter operations are inherently non-serializable")
        parts = self._build()
        if not parts:
            self._answer(Void())
            return
        plans = []
        for ks, table_key, key, rest, incs in parts:
            plan = node.plan_write(ks, [PartitionUpdate(table_key, key)], cl)[0]  # Unavailable
            _, replicas, alive, dc_of, need = plan
            leader = choose_leader(replicas, alive, node.address, dc_of, node.config.dc,
                                   node.rng)
            if leader is None:
                raise Unavailable("Cannot achieve consistency level " + cl_mod.NAMES[cl], cl,
                                  need.block_for, 0)
            plans.append((leader, need.block_for, CounterMutationRequest(
                0, node.rng.getrandbits(63), table_key, key, self.ts_us, cl,
                tuple((i.clustering, i.column, i.delta, i.static) for i in incs),
                b"" if rest is None else codec.encode_update(rest))))
        self._to(Phase.LEADERS)
        join = Join(len(plans), self.node.requests.bind(self._leaders_done))
        service = node.counters
        deadline = node.clock.monotonic_ns() + \
            node.config.counter_write_request_timeout_in_ms * 1_000_000
        for i, (leader, block_for, req) in enumerate(plans):
            part = join.part(i)

            def cont(error: CqlError | None, reports: tuple[ShadowReport, ...],
                     part: Callable[[CqlError | None, object], None] = part) -> None:
                part(error, reports)

            if leader == node.address:
                service.lead(req, node.requests.bind(cont))
                continue
            rid = node.new_req_id()
            service.pending[rid] = (node.requests.bind(cont), deadline, cl, block_for,
                                    req.table, req.key)
            node.send(leader, CounterMutationRequest(
                rid, req.op_id, req.table, req.key, req.ts_us, req.cl, req.increments,
                req.rest))

    def _build(self) -> list[Part]:
        """Each partition written: its keyspace, table, key, deletions (None: none) and
        increments (a counter's deltas are summed by the leader)."""
        node, ex = self.node, self.path.ex
        now_us = node.physical_us()
        self.ts_us = node.next_timestamp()
        by_key: dict[tuple[str, bytes], tuple[KeyspaceDef, list[PartitionUpdate],
                                              list[counters.Increment]]] = {}
        for stmt, vals in zip(self.stmts, self.values, strict=True):
            ks, table = ex.table(stmt.keyspace, stmt.table, self.keyspace)
            ctx = ex.context(vals, self.keyspace, now_us)
            for u in ex.plans.mutations(stmt, table, node.schema, ctx, self.ts_us,
                                        now_us // 1_000_000, (), self.path.list_seq):
                incs, rest = split(u)
                entry = by_key.setdefault((u.table, u.key), (ks, [], []))
                entry[2].extend(incs)
                if rest is not None:
                    entry[1].append(rest)
        return [(ks, table_key, key, merge_many(rests) if rests else None, incs)
                for (table_key, key), (ks, rests, incs) in by_key.items()]

    def _leaders_done(self, error: CqlError | None, results: list[object]) -> None:
        self._input(self._on_leaders, error, results)

    def _on_leaders(self, error: CqlError | None, results: list[object]) -> None:
        """Every leader answered (or the first error): increments of a deleted counter were
        not applied, and the client is told as for any shadowed write (``node.shadowing``)."""
        if error is not None:
            self._answer(error)
            return
        reports = unique([r for rs in results if isinstance(rs, tuple) for r in rs])
        warnings = deleted_warnings(self.node.schema, reports)
        for text in warnings:
            log.warning("%s", text)
        self._answer(Void(), warnings, self.ts_us)
