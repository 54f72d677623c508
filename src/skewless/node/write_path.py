"""The write path of a coordinator: timestamps, list reads, stamping, replication, shadowing.

Theory of operation
-------------------
``Executor`` hands every INSERT/UPDATE/DELETE and BATCH to ``WritePath.write`` (``_write``):

1. list operations by index or value read the list first (as Cassandra does), at the
   statement's consistency level;
2. the write's timestamp: a statement's ``USING TIMESTAMP``, the BATCH's, the client's (each
   checked against cluster time: ``node.client_clocks``), else this node's. Before the node
   stamps, a write to an ``ordered_writes`` table asks the replicas for their newest timestamp
   (``node.ordered``), a session token is folded in (``node.session_token``), and a node whose
   clock is fenced has a peer stamp it (``node.stamping``);
3. the mutations are built once the timestamp is known and replicated (LOGGED batches through
   the batchlog, ``node.batchlog``); the answer carries the warnings (client timestamps,
   batches, shadowing: ``node.shadowing``) and the response's session token, after a commit
   wait when configured.
4. **Restamping.** Under ``hlc``, when replicas report that newer data shadowed a write this
   node stamped (no client or USING timestamp), the write is stamped again above the newest
   timestamp reported and sent again, up to ``limits.write_restamps_max`` rounds, and only
   then acknowledged. Under QUORUM writes this makes clock error harmless to ordering: a
   write acknowledged before this one started is on a quorum, this write's last round reached
   a quorum that intersects it and took effect there, so its timestamp is above the earlier
   write's. Linearizable, because the write was still in progress when it was placed after
   the data that shadowed it. Data far ahead of this node's clock (a majority of clocks just
   moved, or a doomstone) gets a stamp just above it without moving the clock
   (``Stamping.stamp``): the write takes effect and the clock is not dragged along. Not done
   for client-chosen timestamps (the client asked for that timestamp: an old replayed write
   must stay old), or under ``wallclock`` (Cassandra's behaviour: reported, not repaired).

Pure, like the executor: it reaches the node and the client only through the executor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from skewless import limits
from skewless.cql import ast, dml
from skewless.cql.list_ops import ListSeq
from skewless.cql.results import Void
from skewless.errors import CqlError, InvalidRequest, Overloaded, ProtocolError, WriteTimeout
from skewless.node import consistency as cl_mod
from skewless.node import shadowing
from skewless.node.auth.model import AUTH_KEYSPACE
from skewless.node.batchlog import batch_warnings
from skewless.node.clock import client_clocks, fencing, session_token
from skewless.node.coordinator import Join
from skewless.node.messages import ReadRequest
from skewless.node.ordered import FloorJoin
from skewless.node.placement import dc_factors
from skewless.node.shadowing import ShadowReport
from skewless.schema import SYSTEM_KEYSPACES, KeyspaceDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.executor import Executor, Params, Value

log = logging.getLogger("skewless.executor")


class WritePath:
    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self.node = executor.node
        self.list_seq = ListSeq()  # list elements this coordinator adds get paths of their own

    def _default_timestamp(self, conn: int, batch: ast.Batch | None, values: tuple[Value, ...],
                           params: Params, keyspace: str | None, warnings: list[str],
                           node_ts: int | None, ordered: bool, restamps: int
                           ) -> tuple[int, str, bool]:
        """The timestamp of every statement without its own USING TIMESTAMP: the batch's,
        else the client's, else one from this node's timestamp source, with where it came from
        (for tracing) and whether a node issued it (only those are restamped). A client's
        timestamp is checked against cluster time (``node.client_clocks``)."""
        if batch is not None:
            ts = dml.using_timestamp(batch, self.ex._ctx(values, keyspace))
            if ts is not None:
                self._check_client_timestamp(ts, "USING TIMESTAMP", warnings)
                return ts, "BATCH USING TIMESTAMP", False
        if params.timestamp is not None:
            self.ex.client_clocks.sample(conn, params.timestamp, self.node.physical_us(),
                                      self.node.clock.monotonic_ns())
            self._check_client_timestamp(params.timestamp, "Client timestamp", warnings)
            return params.timestamp, "client timestamp", False
        if node_ts is not None:
            if restamps:
                why = f"stamped again above newer data (round {restamps + 1})"
            elif ordered:
                why = "ordered write"
            else:
                why = "stamped by a peer: this node's clock is fenced"
            return node_ts, f"{self.node.ts.policy}, {why}", True
        if ordered or self.node.stamping.fenced():
            raise _NeedStamp(ordered)
        if params.token_us is not None:
            session_token.check(params.token_us, self.node.physical_us(),
                                self.node.config.max_offset_ms)
            self.node.ts.observe(params.token_us)  # within bounds: checked just above
        return self.node.next_timestamp(), self.node.ts.policy, True

    def _check_client_timestamp(self, ts: int, source: str, warnings: list[str]) -> None:
        if not self.node.stamping.clock_trusted():
            return  # no trusted cluster time to judge it by (``node.clock.fencing``)
        warning = client_clocks.check(ts, self.node.physical_us(), self.ex.timestamp_rules, source)
        if warning is not None and warning not in warnings:
            log.warning("%s", warning)
            warnings.append(warning)

    def write(self, conn: int, stream: int,
               stmts: Sequence[ast.Insert | ast.Update | ast.Delete],
               values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
               write_type: str, batch: ast.Batch | None = None) -> None:
        """Read what list operations by index or value need (as Cassandra does), then stamp
        and replicate the write (``_write_read``)."""
        if batch is not None and batch.using.ttl is not None:
            raise InvalidRequest("Global TTL on the BATCH statement is not supported.")
        if params.timestamp == -(2**63):  # QueryOptions' codec: the minimum long is reserved
            raise ProtocolError(f"Out of bound timestamp, must be in [{-(2**63) + 1}, "
                                f"{2**63 - 1}] (got {params.timestamp})")
        reads = []
        for i, (stmt, vals) in enumerate(zip(stmts, values, strict=True)):
            ks, table = self.ex._table(stmt.keyspace, stmt.table, keyspace)
            for key, cks in dml.list_reads(stmt, table, self.node.schema,
                                           self.ex._ctx(vals, keyspace)):
                reads.append((i, ks, ReadRequest(0, table.table_key, key, tuple(
                    (c, True, c, True) for c in cks), False, 0, False)))
        if not reads:
            self._write_read(conn, stream, stmts, values, params, keyspace, write_type, batch, ())
            return

        def read(error: CqlError | None, results: list[object]) -> None:
            if error is not None:
                self.ex._answer(conn, stream, error)
                return
            current: list[list[PartitionUpdate]] = [[] for _ in stmts]
            for (i, _, _), r in zip(reads, results, strict=True):
                if isinstance(r, PartitionUpdate):
                    current[i].append(r)
            self.ex._guard(conn, stream, lambda: self._write_read(
                conn, stream, stmts, values, params, keyspace, write_type, batch, current))

        # List operations that need the list's elements read them first (as Cassandra does),
        # at the statement's consistency level (ONE for ANY, which cannot read).
        join = Join(len(reads), read)
        read_cl = params.consistency if params.consistency != cl_mod.ANY else cl_mod.ONE
        for j, (_, ks, req) in enumerate(reads):
            self.node.read(ks, req, read_cl, join.part(j))  # bound to the request there

    def _write_read(self, conn: int, stream: int,
                    stmts: Sequence[ast.Insert | ast.Update | ast.Delete],
                    values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
                    write_type: str, batch: ast.Batch | None,
                    current: Sequence[Sequence[PartitionUpdate]]) -> None:
        """Stamp and replicate a write whose list reads are done (``current``). Before
        stamping, a write to an ``ordered_writes`` table asks the replicas for their newest
        timestamp (``node.ordered``), and a node whose clock is fenced has a healthy peer stamp
        it (``node.stamping``)."""
        try:
            self._write_stamped(conn, stream, stmts, values, params, keyspace, write_type, batch,
                                None, current)
            return
        except _NeedStamp as need:
            ordered = need.ordered

        def stamped(ts: int | None, why: str) -> None:
            if ts is None:
                self.ex._answer(conn, stream, Overloaded(why))
                return
            self.ex._guard(conn, stream, lambda: self._write_stamped(
                conn, stream, stmts, values, params, keyspace, write_type, batch, ts, current))

        stamped = self.node.requests.bind(stamped)
        token = params.token_us or 0
        safe = self._restamp_orders(stmts, params, keyspace)
        if not ordered:
            self.node.stamping.stamp(token, stamped, safe)
            return
        # The partitions written do not depend on the timestamp: build them once to ask.
        groups = self._write_stamped(conn, stream, stmts, values, params, keyspace, write_type,
                                     batch, 0, current, dry_run=True)

        def floor_known(floor: int | None, why: str) -> None:
            if floor is None:
                self.ex._answer(conn, stream, WriteTimeout(why, params.consistency, 0, 1,
                                                        "SIMPLE"))
                return
            self.node.stamping.stamp(max(floor, token), stamped, safe)

        join = FloorJoin(len(groups), self.node.requests.bind(floor_known))
        for ks, ups in groups:
            self.node.ordered.floor(ks, ups, params.consistency, join.part_done)

    def _write_stamped(self, conn: int, stream: int,
                       stmts: Sequence[ast.Insert | ast.Update | ast.Delete],
                       values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
                       write_type: str, batch: ast.Batch | None, node_ts: int | None,
                       current: Sequence[Sequence[PartitionUpdate]] = (),
                       dry_run: bool = False, restamps: int = 0
                       ) -> list[tuple[KeyspaceDef, list[PartitionUpdate]]]:
        """Build the write's mutations and (unless ``dry_run``) replicate them; returns them
        grouped by keyspace. ``restamps``: rounds already sent and shadowed."""
        if len(stmts) > limits.cql_batch_statements_max:
            raise InvalidRequest(f"Batch with {len(stmts)} statements is too large")
        cl_mod.check_cl(params.consistency)
        ordered = any(dict(self.ex._table(s.keyspace, s.table, keyspace)[1].options)
                      .get("ordered_writes") is True for s in stmts)
        now_s = self.node.physical_us() // 1_000_000
        trace = self.ex.traces.get((conn, stream))
        default_ts: tuple[int, str, bool] | None = None
        max_ts = 0  # the response's session token
        node_stamped = True  # every statement's timestamp came from a node (may restamp)
        warnings: list[str] = []
        by_ks: dict[str, tuple[KeyspaceDef, list[PartitionUpdate]]] = {}
        for n, (stmt, vals) in enumerate(zip(stmts, values, strict=True)):
            ks, table = self.ex._table(stmt.keyspace, stmt.table, keyspace)
            if ks.name in SYSTEM_KEYSPACES and not (conn < 0 and ks.name == AUTH_KEYSPACE):
                raise InvalidRequest(f"{ks.name} keyspace is not user-modifiable")
            ctx = self.ex._ctx(vals, keyspace)
            ts = dml.using_timestamp(stmt, ctx)
            source = "USING TIMESTAMP"
            if ts is None:
                if default_ts is None:
                    default_ts = self._default_timestamp(conn, batch, values[0], params,
                                                         keyspace, warnings, node_ts, ordered,
                                                         restamps)
                ts, source, from_node = default_ts
                node_stamped = node_stamped and from_node
            elif batch is not None and batch.using.timestamp is not None:
                raise InvalidRequest(
                    "Timestamp must be set either on BATCH or individual statements")
            else:
                self._check_client_timestamp(ts, "USING TIMESTAMP", warnings)
                node_stamped = False
            max_ts = max(max_ts, ts)
            if trace is not None and not dry_run:
                trace.write_timestamp(ts, source)
            ups = self.ex.plans.mutations(stmt, table, self.node.schema, ctx, ts, now_s,
                                          current[n] if current else (), self.list_seq)
            by_ks.setdefault(ks.name, (ks, []))[1].extend(ups)
        groups = [(ks, dml.merge_by_partition(ups)) for ks, ups in by_ks.values() if ups]
        if dry_run:
            return groups
        if not groups:
            self.ex._answer(conn, stream, Void(), tuple(warnings), max_ts)
            return groups
        if write_type in ("BATCH", "UNLOGGED_BATCH"):
            warnings.extend(batch_warnings(self.node.schema, [
                (ks.name, u) for ks, ups in groups for u in ups], write_type == "BATCH"))
        reports: list[ShadowReport] = []


        def finished(error: CqlError | None, _results: list[object]) -> None:
            if error is None and reports:
                floor = self._restamp_floor(reports, max_ts) if node_stamped else None
                if floor is not None and restamps < limits.write_restamps_max:
                    self._restamp(conn, stream, stmts, values, params, keyspace, write_type,
                                  batch, current, reports, floor, restamps)
                    return
                error = self._shadowed(reports, warnings)
            if error is None and self.node.config.commit_wait:
                # Commit wait: acknowledge once cluster time is certainly past the stamp.
                self.node.stamping.after_certainly_past(max_ts, self.node.requests.bind(
                    lambda: self.ex._answer(conn, stream, Void(), tuple(warnings), max_ts)))
                return
            self.ex._answer(conn, stream, error if error is not None else Void(), tuple(warnings),
                         max_ts if error is None else None)

        if write_type == "BATCH" and sum(len(ups) for _, ups in groups) > 1:
            def logged(error: CqlError | None, shadowed: tuple[ShadowReport, ...]) -> None:
                reports.extend(shadowed)
                finished(error, [])
            self.node.batchlog.write_atomic(groups, params.consistency,
                                            self.node.requests.bind(logged))
            return groups
        join = Join(len(groups), finished)
        for i, (ks, ups) in enumerate(groups):
            self.node.write(ks, ups, params.consistency, write_type,
                            _collect_shadowed(join, i, reports), trace)
        return groups

    def _restamp_floor(self, reports: Sequence[ShadowReport], ts_us: int) -> int | None:
        """The timestamp a shadowed write must be stamped above to take effect (the newest
        reported, or ``ts_us``), or None under ``wallclock`` (never restamped) or with
        restamping turned off (test only: ``--no-restamp``)."""
        if not self.node.stamping.hlc or not self.node.config.restamp_shadowed_writes:
            return None
        return max(max(r.shadowed.existing_ts_us for r in reports), ts_us)

    def _restamp(self, conn: int, stream: int,
                 stmts: Sequence[ast.Insert | ast.Update | ast.Delete],
                 values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
                 write_type: str, batch: ast.Batch | None,
                 current: Sequence[Sequence[PartitionUpdate]], reports: Sequence[ShadowReport],
                 floor: int, restamps: int) -> None:
        """Send the write again, stamped above ``floor`` (see the module docstring)."""
        for table_id in {r.table for r in reports}:
            self.node.restamped_writes[table_id] += 1
        log.info("write shadowed by data up to %d ms newer: stamped again (round %d)",
                 (floor - max(r.shadowed.incoming_ts_us for r in reports)) // 1000,
                 restamps + 2)

        def stamped(ts: int | None, why: str) -> None:
            if ts is None:
                self.ex._answer(conn, stream, Overloaded(why))
                return
            self.ex._guard(conn, stream, lambda: self._write_stamped(
                conn, stream, stmts, values, params, keyspace, write_type, batch, ts, current,
                restamps=restamps + 1))

        self.node.stamping.stamp(floor, self.node.requests.bind(stamped),
                                 self._restamp_orders(stmts, params, keyspace))

    def _restamp_orders(self, stmts: Sequence[ast.Insert | ast.Update | ast.Delete],
                        params: Params, keyspace: str | None) -> bool:
        """Whether restamping orders this write whatever the clocks say (every keyspace it
        writes is acknowledged by a set meeting every quorum): then a fenced node may stamp it
        with its logical clock (``node.clock.fencing``)."""
        if not self.node.config.restamp_shadowed_writes:
            return False
        dc = self.node.config.dc
        return all(fencing.restamp_orders(
            params.consistency, dc_factors(self.ex._table(s.keyspace, s.table, keyspace)[0]
                                           .replication_map(), dc), dc) for s in stmts)

    def _shadowed(self, reports: list[ShadowReport], warnings: list[str]) -> CqlError | None:
        """Warn about (or, under ``shadowed_writes = fail``, refuse) a write whose replicas
        reported parts that did not take effect (see ``node.shadowing``)."""
        error: CqlError | None = None
        by_table: dict[str, list[ShadowReport]] = {}
        for r in reports:
            by_table.setdefault(r.table, []).append(r)
        for table_id, rs in by_table.items():
            self.node.shadowed_writes[table_id] += len(rs)
            table = self.node.schema.table_by_key(table_id)
            name = f"{table.keyspace}.{table.name}" if table is not None else table_id
            text = shadowing.warning_text(name, rs)
            log.warning("%s", text)
            option = dict(table.options).get("shadowed_writes") if table is not None else None
            if "fail" in (self.node.config.shadowed_writes, option):
                error = InvalidRequest(text + " (shadowed_writes = fail)")
            else:
                warnings.append(text)
        return error


class _NeedStamp(Exception):
    """Raised while building a write that needs a timestamp this node cannot issue at once:
    an ordered write (the replicas' floor first) or a fenced node (a peer stamps)."""

    def __init__(self, ordered: bool) -> None:
        super().__init__("a write timestamp must be obtained first")
        self.ordered = ordered


def _collect_shadowed(join: Join, i: int, into: list[ShadowReport]
                      ) -> Callable[[CqlError | None, tuple[ShadowReport, ...]], None]:
    """A write continuation for part ``i`` of ``join`` that keeps the shadowing reports."""
    part = join.part(i)

    def done(error: CqlError | None, reports: tuple[ShadowReport, ...]) -> None:
        into.extend(reports)
        part(error, None)

    return done

