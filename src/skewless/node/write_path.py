"""The write path of a coordinator: timestamps, list reads, stamping, replication, shadowing.

Theory of operation
-------------------
``Executor`` hands every INSERT/UPDATE/DELETE and BATCH to ``WritePath.write``, which makes it
one ``node.write_record.WriteRecord``: the write's state and its phase, moved by the record's
transition table. This module holds what a phase computes (the timestamp, the mutations, the
restamp floor, the shadowing answer); the record holds the order. The steps:

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

Pure, like the executor. It reaches the executor only through ``ExecutorSide`` (tables, the
evaluation context, the answer, the open traces, the client clocks), and cluster time is read
once per input (``now_us``), not once per use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from skewless import limits
from skewless.cql import ast, counter_rules, dml
from skewless.cql.compiled import Plans
from skewless.cql.list_ops import ListSeq
from skewless.cql.terms import EvalContext
from skewless.errors import CqlError, InvalidRequest, ProtocolError
from skewless.node import consistency as cl_mod
from skewless.node import shadowing
from skewless.node.auth.model import AUTH_KEYSPACE
from skewless.node.batchlog import batch_warnings
from skewless.node.clock import client_clocks, fencing, session_token
from skewless.node.clock.client_clocks import ClientClocks, TimestampRules
from skewless.node.counter_write import CounterWriteRecord
from skewless.node.messages import ReadRequest
from skewless.node.params import Params, Value
from skewless.node.placement import dc_factors
from skewless.node.shadowing import ShadowReport
from skewless.node.tracing.records import Trace
from skewless.node.write_record import Built, NeedStamp, WriteRecord
from skewless.schema import SYSTEM_KEYSPACES, KeyspaceDef, TableDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.executor")

Statement = ast.Insert | ast.Update | ast.Delete


class ExecutorSide(Protocol):
    """What the write path needs of the executor (``node.executor`` provides it)."""

    client_clocks: ClientClocks
    timestamp_rules: TimestampRules
    traces: dict[tuple[int, int], Trace]
    plans: Plans  # statements compiled once (``cql.compiled``)

    def answer(self, conn: int, stream: int, body: object,
               warnings: tuple[str, ...] = (), token_us: int | None = None) -> None: ...

    def context(self, values: Sequence[Value], keyspace: str | None,
                now_us: int | None = None) -> EvalContext: ...

    def table(self, stmt_ks: str | None, name: str, keyspace: str | None
              ) -> tuple[KeyspaceDef, TableDef]: ...


class WritePath:
    def __init__(self, executor: ExecutorSide, node: Node) -> None:
        self.ex = executor
        self.node = node
        self.list_seq = ListSeq()  # list elements this coordinator adds get paths of their own

    def answer(self, conn: int, stream: int, body: object,
               warnings: tuple[str, ...] = (), token_us: int | None = None) -> None:
        self.ex.answer(conn, stream, body, warnings, token_us)

    def write(self, conn: int, stream: int, stmts: Sequence[Statement],
              values: Sequence[tuple[Value, ...]], params: Params, keyspace: str | None,
              write_type: str, batch: ast.Batch | None = None) -> None:
        """Start a client write (or batch): one ``WriteRecord`` from here to its answer."""
        if batch is not None and batch.using.ttl is not None:
            raise InvalidRequest("Global TTL on the BATCH statement is not supported.")
        if params.timestamp == -(2**63):  # QueryOptions' codec: the minimum long is reserved
            raise ProtocolError(f"Out of bound timestamp, must be in [{-(2**63) + 1}, "
                                f"{2**63 - 1}] (got {params.timestamp})")
        if self._counter_write(stmts, keyspace, write_type, batch):
            CounterWriteRecord(self, conn, stream, stmts, values, params, keyspace).start()
            return
        WriteRecord(self, conn, stream, stmts, values, params, keyspace, write_type,
                    batch).start()

    def _counter_write(self, stmts: Sequence[Statement], keyspace: str | None, write_type: str,
                       batch: ast.Batch | None) -> bool:
        """Whether this write goes to counter leaders (``node.counter_write``), after
        Cassandra's counter rules (``cql.counter_rules``): a counter UPDATE or a counter
        batch. A DELETE alone on a counter table is an ordinary write."""
        tables = [self.ex.table(s.keyspace, s.table, keyspace)[1] for s in stmts]
        counter = [counter_rules.is_counter_table(t) for t in tables]
        if batch is None and write_type in ("BATCH", "UNLOGGED_BATCH", "COUNTER"):
            batch = ast.Batch({"BATCH": "LOGGED", "UNLOGGED_BATCH": "UNLOGGED"}.get(
                write_type, "COUNTER"), tuple(stmts))  # type: ignore[arg-type]
        if batch is not None:
            if batch.kind == "COUNTER" or any(counter):
                counter_rules.check_batch(batch, tables)
                return True
            return False
        if not any(counter):
            return False
        counter_rules.check_modification(stmts[0], tables[0])
        return isinstance(stmts[0], ast.Update)

    def list_reads(self, stmts: Sequence[Statement], values: Sequence[tuple[Value, ...]],
                   keyspace: str | None) -> list[tuple[int, KeyspaceDef, ReadRequest]]:
        """What list operations by index or value must read first (as Cassandra does):
        (statement index, keyspace, read)."""
        reads = []
        for i, (stmt, vals) in enumerate(zip(stmts, values, strict=True)):
            ks, table = self.ex.table(stmt.keyspace, stmt.table, keyspace)
            for key, cks in dml.list_reads(stmt, table, self.node.schema,
                                           self.ex.context(vals, keyspace)):
                reads.append((i, ks, ReadRequest(0, table.table_key, key, tuple(
                    (c, True, c, True) for c in cks), False, 0, False)))
        return reads

    def build(self, w: WriteRecord, node_ts: int | None, now_us: int, dry_run: bool = False
              ) -> Built | NeedStamp:
        """Build the write's mutations at ``node_ts`` (None: this node's timestamp source, if
        it can issue one at once) and cluster time ``now_us``."""
        stmts, keyspace, params, batch = w.stmts, w.keyspace, w.params, w.batch
        if len(stmts) > limits.cql_batch_statements_max:
            raise InvalidRequest(f"Batch with {len(stmts)} statements is too large")
        cl_mod.check_cl(params.consistency)
        tables = [self.ex.table(s.keyspace, s.table, keyspace) for s in stmts]
        ordered = any(dict(table.options).get("ordered_writes") is True for _, table in tables)
        now_s = now_us // 1_000_000
        trace = None if dry_run else self.ex.traces.get((w.conn, w.stream))
        default_ts: tuple[int, str, bool] | None = None
        max_ts = 0
        node_stamped = True
        warnings: list[str] = []
        by_ks: dict[str, tuple[KeyspaceDef, list[PartitionUpdate]]] = {}
        current = w.current
        for n, (stmt, vals) in enumerate(zip(stmts, w.values, strict=True)):
            ks, table = tables[n]
            if ks.name in SYSTEM_KEYSPACES and not (w.conn < 0 and ks.name == AUTH_KEYSPACE):
                raise InvalidRequest(f"{ks.name} keyspace is not user-modifiable")
            ctx = self.ex.context(vals, keyspace, now_us)
            ts = dml.using_timestamp(stmt, ctx)
            source = "USING TIMESTAMP"
            if ts is None:
                if default_ts is None:
                    default = self._default_timestamp(w, warnings, node_ts, ordered, now_us)
                    if isinstance(default, NeedStamp):
                        return default
                    default_ts = default
                ts, source, from_node = default_ts
                node_stamped = node_stamped and from_node
            elif batch is not None and batch.using.timestamp is not None:
                raise InvalidRequest(
                    "Timestamp must be set either on BATCH or individual statements")
            else:
                self._check_client_timestamp(ts, "USING TIMESTAMP", warnings, now_us)
                node_stamped = False
            max_ts = max(max_ts, ts)
            if trace is not None:
                trace.write_timestamp(ts, source)
            ups = self.ex.plans.mutations(stmt, table, self.node.schema, ctx, ts, now_s,
                                          current[n] if current else (), self.list_seq)
            by_ks.setdefault(ks.name, (ks, []))[1].extend(ups)
        groups = [(ks, dml.merge_by_partition(ups)) for ks, ups in by_ks.values() if ups]
        if groups and not dry_run and w.write_type in ("BATCH", "UNLOGGED_BATCH"):
            warnings.extend(batch_warnings(self.node.schema, [
                (ks.name, u) for ks, ups in groups for u in ups], w.write_type == "BATCH"))
        return Built(groups, warnings, max_ts, node_stamped, trace)

    def _default_timestamp(self, w: WriteRecord, warnings: list[str], node_ts: int | None,
                           ordered: bool, now_us: int) -> tuple[int, str, bool] | NeedStamp:
        """The timestamp of every statement without its own USING TIMESTAMP: the batch's,
        else the client's, else one from this node's timestamp source, with where it came from
        (for tracing) and whether a node issued it (only those are restamped). A client's
        timestamp is checked against cluster time (``node.client_clocks``)."""
        params = w.params
        if w.batch is not None:
            ts = dml.using_timestamp(w.batch, self.ex.context(w.values[0], w.keyspace, now_us))
            if ts is not None:
                self._check_client_timestamp(ts, "USING TIMESTAMP", warnings, now_us)
                return ts, "BATCH USING TIMESTAMP", False
        if params.timestamp is not None:
            self.ex.client_clocks.sample(w.conn, params.timestamp, now_us,
                                         self.node.clock.monotonic_ns())
            self._check_client_timestamp(params.timestamp, "Client timestamp", warnings, now_us)
            return params.timestamp, "client timestamp", False
        if node_ts is not None:
            if w.restamps:
                why = f"stamped again above newer data (round {w.restamps + 1})"
            elif ordered:
                why = "ordered write"
            else:
                why = "stamped by a peer: this node's clock is fenced"
            return node_ts, f"{self.node.ts.policy}, {why}", True
        stamping = self.node.stamping
        if ordered or stamping.fenced_at(now_us):
            return NeedStamp(ordered)
        if params.token_us is not None:
            session_token.check(params.token_us, now_us, self.node.config.max_offset_ms)
            self.node.ts.observe(params.token_us)  # within bounds: checked just above
        return stamping.next_timestamp_at(now_us), self.node.ts.policy, True

    def _check_client_timestamp(self, ts: int, source: str, warnings: list[str],
                                now_us: int) -> None:
        if not self.node.stamping.clock_trusted():
            return  # no trusted cluster time to judge it by (``node.clock.fencing``)
        warning = client_clocks.check(ts, now_us, self.ex.timestamp_rules, source)
        if warning is not None and warning not in warnings:
            log.warning("%s", warning)
            warnings.append(warning)

    def restamp_floor(self, reports: Sequence[ShadowReport], ts_us: int) -> int | None:
        """The timestamp a shadowed write must be stamped above to take effect (the newest
        reported, or ``ts_us``), or None under ``wallclock`` (never restamped) or with
        restamping turned off (test only: ``--no-restamp``)."""
        if not self.node.stamping.hlc or not self.node.config.restamp_shadowed_writes:
            return None
        return max(max(r.shadowed.existing_ts_us for r in reports), ts_us)

    def restamp_orders(self, w: WriteRecord) -> bool:
        """Whether restamping orders this write whatever the clocks say (every keyspace it
        writes is acknowledged by a set meeting every quorum): then a fenced node may stamp it
        with its logical clock (``node.clock.fencing``)."""
        if not self.node.config.restamp_shadowed_writes:
            return False
        dc = self.node.config.dc
        return all(fencing.restamp_orders(
            w.params.consistency, dc_factors(self.ex.table(s.keyspace, s.table, w.keyspace)[0]
                                             .replication_map(), dc), dc) for s in w.stmts)

    def shadowed(self, reports: Sequence[ShadowReport], warnings: list[str]) -> CqlError | None:
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
