"""CQL statement execution on a coordinator: QUERY, PREPARE, EXECUTE and BATCH.

Theory of operation
-------------------
The runtime decodes a CQL request and calls one entry point here with the connection id, the
stream id and the connection's current keyspace. The executor parses (with a bounded cache),
resolves the statement against the schema, and either answers at once (USE, DDL, system tables,
errors) or starts coordinator work on the ``Node`` (``write``/``read``) with a continuation that
answers when the work completes. Every answer is a ``Reply`` put in the node's Ready batch; a
request gets exactly one.

Writes go through ``node.write_path``. Their timestamps, in order of precedence: the
statement's ``USING TIMESTAMP``; the BATCH's; the timestamp the client sent in the request (the
drivers' default client-side timestamps); otherwise one issued by the node's timestamp source
(``hlc`` or ``wallclock``: see ``skewless.clock``). The statements of a BATCH without their own
share one timestamp.

BATCH: Cassandra's size and unlogged-partition checks answer warnings (or "Batch too large"); a
LOGGED batch of more than one partition update goes through the batchlog (``node.batchlog``).

Pure: time comes from the node's injected clock, randomness (uuid()) from the injected rng.
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from skewless import limits
from skewless.cql import ast, cas, compiled, compiled_read, paging, select
from skewless.cql.parser import parse
from skewless.cql.prepare_checks import check_at_prepare
from skewless.cql.results import ColumnSpec, RowsResult, SetKeyspace, Void
from skewless.cql.terms import UNSET, EvalContext, Unset
from skewless.errors import (
    CqlError,
    InvalidRequest,
    Unprepared,
    unsupported,
)
from skewless.node import consistency as cl_mod
from skewless.node import lwt_path
from skewless.node.auth import statements as role_statements
from skewless.node.auth.model import Hasher, InlineHasher, obfuscate_password
from skewless.node.auth.service import Auth
from skewless.node.auth.statements import ROLE_STATEMENTS
from skewless.node.auth.wiring import AuthzHooks
from skewless.node.binds import batch_bind_metadata, bind_metadata
from skewless.node.clock import client_clocks, session_token
from skewless.node.effects import ClusterEvent, Reply
from skewless.node.info import NodeInfo
from skewless.node.lwt_path import LwtPath, renumbered
from skewless.node.metadata.entries import DdlEntry, Outcome
from skewless.node.node import Node
from skewless.node.params import Params as Params  # re-exported: where callers found it
from skewless.node.params import Value as Value
from skewless.node.prepared_deps import Dependency, dependency, still_valid
from skewless.node.read_record import ReadRecord
from skewless.node.schema import ddl, describe, virtual_select
from skewless.node.schema.system_tables import (
    STORED_SYSTEM_KEYSPACES,
    SystemContext,
    named_keyspace,
    named_table,
)
from skewless.node.tracing.records import Trace
from skewless.node.write_path import WritePath
from skewless.schema import SYSTEM_KEYSPACES, KeyspaceDef, Schema, TableDef
from skewless.storage.integrity import storage_verdict
from skewless.storage.model import PartitionUpdate

log = logging.getLogger("skewless.executor")


@dataclass(frozen=True, slots=True)
class PreparedResult:
    statement_id: bytes
    bind_columns: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...]
    result_columns: tuple[ColumnSpec, ...]


@dataclass(slots=True)
class _Prepared:
    query: str
    keyspace: str | None
    parsed: ast.Parsed
    depends_on: Dependency | None = None  # evicted when the schema no longer matches it
    valid_in: Schema | None = None  # the schema it was last found valid in (checked once)


class Executor:
    def __init__(self, node: Node, rng: random.Random, hasher: Hasher | None = None,
                 first_superuser: tuple[str, str] | None = None) -> None:
        self.node = node
        self.rng = rng
        self._internal: dict[int, Callable[[object], None]] = {}  # conn < 0 -> continuation
        self._internal_conn = 0
        self.auth = Auth(self, hasher or InlineHasher(rng.randbytes), rng, first_superuser)
        self.authz = AuthzHooks(self)  # CassandraAuthorizer checks (node.auth.authorizer)
        self.prepared: OrderedDict[bytes, _Prepared] = OrderedDict()
        self.client_clocks = client_clocks.ClientClocks()
        cfg = node.config
        self.timestamp_rules = client_clocks.TimestampRules(
            cfg.max_future_timestamp_ms, cfg.max_past_timestamp_ms,
            "fail" if cfg.past_timestamps == "fail" else "warn")
        self.traces: dict[tuple[int, int], Trace] = {}  # (conn, stream) -> open session
        self.sampled: set[tuple[int, int]] = set()  # traced by settraceprobability, not asked
        self.plans = compiled.Plans()  # statements compiled once (cql.compiled)
        self._tables_in: Schema | None = None  # ``_table``'s finds, valid in this schema
        self._tables: dict[tuple[str, str], tuple[KeyspaceDef, TableDef]] = {}
        self._host: uuid.UUID | None = None  # ``_ctx``'s host id bits, for this host id
        self._host_bits = (0, 0)
        self.read_plans = compiled_read.ReadPlans()  # and point reads (cql.compiled_read)
        self.writes = WritePath(self, node)
        self.lwt = LwtPath(self, node, self._page)  # conditional statements, SERIAL reads
        node.requests.answer = self._answer  # the registry's answers end traces too

    # ------------------------------------------------------------------ entry points

    def internal(self, query: str, values: tuple[bytes | None, ...], cl: int,
                 done: Callable[[object], None], timestamp_us: int | None = None) -> None:
        """Run ``query`` for the node itself (the role manager): ``done`` gets what a client
        would be answered (rows, Void, or the CqlError). Internal connections are negative."""
        self._internal_conn -= 1
        conn = self._internal_conn
        self._internal[conn] = self.node.requests.bind(done)  # part of the current request
        self.query(conn, 0, query, Params(consistency=cl, values=values,
                                          timestamp=timestamp_us), None)

    def auth_response(self, conn: int, stream: int, token: bytes | None) -> None:
        """AUTH_RESPONSE: answered AuthOk (the runtime sends AUTH_SUCCESS) or an error."""
        self._guard(conn, stream, lambda: self.auth.authenticate(conn, stream, token))

    def query(self, conn: int, stream: int, query: str, params: Params,
              keyspace: str | None) -> None:
        self.auth.fresh(conn, lambda: self._query(conn, stream, query, params, keyspace))

    def _query(self, conn: int, stream: int, query: str, params: Params,
               keyspace: str | None) -> None:
        trace = self._begin_trace(conn, stream, params, "Execute CQL3 query", query)

        def run() -> None:
            if trace is not None:
                trace.event(f"Parsing {obfuscate_password(query)}")
            parsed = parse(query)
            if trace is not None:
                trace.event("Preparing statement")
            self._run(conn, stream, parsed, params, keyspace, query)
        self._guard(conn, stream, run)

    def simple_query(self, conn: int, stream: int, query: str, cl: int, keyspace: str | None,
                     timestamp_us: int | None = None) -> None:
        self.query(conn, stream, query, Params(consistency=cl, timestamp=timestamp_us), keyspace)

    def prepare(self, conn: int, stream: int, query: str, keyspace: str | None) -> None:
        self._guard(conn, stream, lambda: self._prepare(conn, stream, query, keyspace))

    def execute(self, conn: int, stream: int, statement_id: bytes, params: Params,
                keyspace: str | None) -> None:
        p = self.prepared.get(statement_id)
        self._begin_trace(conn, stream, params, "Execute CQL3 prepared query",
                          p.query if p is not None else "")

        def run() -> None:
            p = self._prepared(statement_id)
            self.prepared.move_to_end(statement_id)
            self._run(conn, stream, p.parsed, params, p.keyspace or keyspace, p.query)
        self.auth.fresh(conn, lambda: self._guard(conn, stream, run))

    def batch(self, conn: int, stream: int, kind: int,
              entries: Sequence[tuple[str | bytes, tuple[Value, ...]]], params: Params,
              keyspace: str | None) -> None:
        self._begin_trace(conn, stream, params, "Execute batch of CQL3 queries", "")
        self.auth.fresh(conn, lambda: self._guard(
            conn, stream, lambda: self._batch(conn, stream, kind, entries, params, keyspace)))

    # ------------------------------------------------------------------ tracing

    def _begin_trace(self, conn: int, stream: int, params: Params, request: str,
                     query: str) -> Trace | None:
        """Open a tracing session for a request with the tracing flag, or one drawn at the
        node's trace probability (nodetool settraceprobability); None otherwise."""
        p = self.node.tracer.probability
        sampled = not params.tracing and p > 0 and self.rng.random() < p
        if not params.tracing and not sampled:
            return None
        parameters = {"consistency_level": cl_mod.NAMES.get(params.consistency, "?")}
        if query:
            parameters["query"] = obfuscate_password(query)
        if params.page_size is not None:
            parameters["page_size"] = str(params.page_size)
        if params.serial_consistency is not None:
            parameters["serial_consistency_level"] = cl_mod.NAMES.get(
                params.serial_consistency, "?")
        if params.timestamp is not None:
            parameters["user_timestamp"] = str(params.timestamp)
        trace = self.node.tracer.begin(params.client, request, parameters)
        if trace is not None:
            self.traces[(conn, stream)] = trace
            if sampled:
                self.sampled.add((conn, stream))
        return trace

    # ------------------------------------------------------------------ plumbing

    def _guard(self, conn: int, stream: int, fn: Callable[[], object]) -> None:
        try:
            fn()
        except CqlError as e:
            self._answer(conn, stream, e)
        except Exception as e:  # a bug in one statement must not take the node down
            self.node.requests.internal_error(conn, stream, e)  # logged with an error id

    def _answer(self, conn: int, stream: int, body: object,
                warnings: tuple[str, ...] = (), token_us: int | None = None) -> None:
        if conn < 0:  # an internal query (``internal``)
            trace = self.traces.pop((conn, stream), None)  # sampled (settraceprobability)
            self.sampled.discard((conn, stream))
            if trace is not None:
                self.node.tracer.finish(trace)
            done = self._internal.pop(conn, None)
            if done is not None:
                try:
                    done(body)
                except Exception:  # a bug in a continuation must not take the node down
                    log.exception("internal error in an internal query's continuation")
            return
        payload = session_token.encode(token_us) if token_us else ()
        trace = self.traces.pop((conn, stream), None)
        if trace is None:
            self.node.reply(Reply(conn, stream, body, warnings, payload))
            return
        what = type(body).__name__ if isinstance(body, CqlError) else "result"
        trace.event(f"Sending {what} to client {trace.client or '(unknown)'}")
        self.node.tracer.finish(trace)
        asked = (conn, stream) not in self.sampled  # a sampled trace is not the client's
        self.sampled.discard((conn, stream))
        self.node.reply(Reply(conn, stream, body, warnings, payload,
                              tracing_id=trace.session_id if asked else None))

    def _ctx(self, values: Sequence[Value], keyspace: str | None,
             now_us: int | None = None) -> EvalContext:
        """The context statements evaluate in; ``now_us``: cluster time already read for
        this input (read here otherwise)."""
        if now_us is None:
            now_us = self.node.physical_us()
        host = self.node.host_id
        if host is not self._host:  # the timeuuid node id and clock seq, worked out once
            self._host = host
            self._host_bits = (host.int & (2**48 - 1), (host.int >> 48) & 0x3FFF)
        return EvalContext(now_us, self.rng.randbytes, tuple(values), keyspace,
                           self._host_bits[0], self._host_bits[1])

    def _values(self, parsed: ast.Parsed, params: Params) -> tuple[Value, ...]:
        if params.names is None:
            values = params.values
        else:
            by_name = dict(zip(params.names, params.values, strict=True))
            values = tuple(by_name.get(n or "", UNSET) for n in parsed.bind_names)
        if len(values) != parsed.bind_count:
            raise InvalidRequest(
                f"There were {parsed.bind_count} markers(?) in CQL but {len(values)} bound "
                "variables")
        return values

    def _keyspace_of(self, stmt_ks: str | None, keyspace: str | None) -> str:
        ks = stmt_ks or keyspace
        if not ks:
            raise InvalidRequest(
                "No keyspace has been specified. USE a keyspace, or explicitly specify "
                "keyspace.tablename")
        return ks

    def _table(self, stmt_ks: str | None, name: str, keyspace: str | None
               ) -> tuple[KeyspaceDef, TableDef]:
        ks_name = self._keyspace_of(stmt_ks, keyspace)
        schema = self.node.schema
        if schema is not self._tables_in:  # found tables are remembered per schema object
            self._tables_in, self._tables = schema, {}
        found = self._tables.get((ks_name, name))
        if found is None:
            found = self._tables[(ks_name, name)] = self._lookup_table(ks_name, name)
        return found

    def _lookup_table(self, ks_name: str, name: str) -> tuple[KeyspaceDef, TableDef]:
        # system_traces and system_auth are stored as data (node.tracer, node.auth)
        ks = named_keyspace(self.node.schema, ks_name)
        table = named_table(self.node.schema, ks_name, name)
        if ks is None:
            raise InvalidRequest(f"Keyspace '{ks_name}' does not exist")
        if table is None:
            raise InvalidRequest(f"unconfigured table {name}")
        return ks, table

    # The narrow interface the write path is given (``node.write_path.ExecutorSide``).
    answer = _answer
    context = _ctx
    table = _table

    def system_context(self, with_clients: bool = False) -> SystemContext:
        """``with_clients``: list every CQL connection (system.skewless_clients only: a node
        may hold thousands, and the drivers read the other system tables at every connect)."""
        node = self.node
        now_ns = node.clock.monotonic_ns()
        alarm_us = node.config.clock_alarm_ms * 1000
        peers = []
        for addr, p in sorted(node.membership.peers.items()):
            s = p.state
            if node.membership.out_of_cluster(addr):
                continue  # out of the cluster (node.topology): not a peer any more
            offset = node.clocks.peer_offset_us(addr, now_ns)
            peer_error = node.clocks.peer_error_us(addr, now_ns)
            peers.append(NodeInfo(
                host_id=uuid.UUID(s.host_id), address=addr, cql_port=s.cql_port,
                internode_port=node.config.internode_port, dc=s.dc, rack=s.rack,
                tokens=s.tokens, schema_version=uuid.UUID(s.schema_version),
                up=p.up, load_bytes=s.load_bytes, phi=node.membership.phi(addr, now_ns),
                down_cause=None if p.up else node.fd.last_cause.get(addr),
                storage=(s.storage or "OK") if isinstance(s.storage, str) else None,
                clock_offset_us=round(offset or 0), clock_uncertainty_us=round(peer_error or 0),
                clock_alarm=offset is not None and abs(offset) > alarm_us,
                clock_in_bounds=offset is not None
                and abs(offset) <= node.config.max_offset_ms * 1000))
        local_hb = node.membership.local
        view = node.clocks.view()
        local = NodeInfo(node.host_id, node.address, node.config.cql_port,
                         node.config.internode_port, node.config.dc, node.config.rack,
                         local_hb.tokens, node.schema.version, load_bytes=local_hb.load_bytes,
                         clock_offset_us=round(view.offset_us),
                         clock_uncertainty_us=round(view.uncertainty_us), clock_alarm=view.alarm,
                         clock_in_bounds=view.in_bounds, storage=storage_verdict(node.storage.kv))
        own = node.membership.ring().primary_ownership()
        ownership = {local.host_id: own.get(local.address, 0.0)}
        ownership.update({p.host_id: own.get(p.address, 0.0) for p in peers})
        clients = self.client_clocks.views(now_ns, node.config.clock_alarm_ms) \
            if with_clients else []
        # Cassandra's truncation record: (commit log segment, position, truncated at ms)
        truncated = {t.id: at for t in node.schema.tables
                     if (at := node.truncations.truncated_at.get(t.table_key)) is not None}
        return SystemContext(local=local, peers=tuple(peers), schema=node.schema,
                             cluster_name=node.config.cluster_name, ownership=ownership,
                             clients=tuple(clients), truncated_at=truncated,
                             built_indexes=node.indexes.built_indexes())

    # ------------------------------------------------------------------ dispatch

    def _run(self, conn: int, stream: int, parsed: ast.Parsed, params: Params,
             keyspace: str | None, text: str = "") -> None:
        values = self._values(parsed, params)
        self.authz.before(conn, stream, parsed.statement, keyspace, lambda: self._dispatch(
            conn, stream, parsed.statement, values, params, keyspace, text))

    def _dispatch(self, conn: int, stream: int, stmt: ast.Statement, values: tuple[Value, ...],
                  params: Params, keyspace: str | None, text: str) -> None:
        self.node.requests.classify(conn, stream, _kind(stmt))
        if isinstance(stmt, ast.Select):
            self._select(conn, stream, stmt, values, params, keyspace)
        elif isinstance(stmt, ast.Insert | ast.Update | ast.Delete) and cas.is_conditional(stmt):
            self.lwt.write(conn, stream, stmt, values, params, keyspace)
        elif isinstance(stmt, ast.Batch) and any(cas.is_conditional(s) for s in stmt.statements):
            self.lwt.write(conn, stream, stmt, values, params, keyspace)
        elif isinstance(stmt, ast.Insert | ast.Update | ast.Delete):
            self.writes.write(conn, stream, [stmt], [values], params, keyspace, "SIMPLE")
        elif isinstance(stmt, ast.Batch):
            self.writes.write(conn, stream, list(stmt.statements), [values] * len(stmt.statements),
                        params, keyspace, "BATCH" if stmt.kind == "LOGGED" else "UNLOGGED_BATCH",
                        batch=stmt)
        elif isinstance(stmt, ast.Use):
            if self.node.schema.keyspace(stmt.keyspace) is None and \
                    stmt.keyspace not in SYSTEM_KEYSPACES:
                raise InvalidRequest(f"Keyspace '{stmt.keyspace}' does not exist")
            self._answer(conn, stream, SetKeyspace(stmt.keyspace))
        elif isinstance(stmt, ast.Describe):
            self._answer(conn, stream, describe.describe(stmt, self.system_context(), keyspace))
        elif isinstance(stmt, ast.Unsupported) and stmt.if_exists:
            self._answer(conn, stream, Void())
        elif isinstance(stmt, ast.Unsupported):
            raise unsupported(stmt.feature)
        elif isinstance(stmt, ast.Truncate):
            self._truncate(conn, stream, stmt, keyspace)
        elif isinstance(stmt, ROLE_STATEMENTS):
            role_statements.execute(self, conn, stream, stmt)
        elif isinstance(stmt, ast.Permissions):
            self.authz.permissions(conn, stream, stmt, keyspace)
        else:
            self._ddl(conn, stream, stmt, keyspace, text)

    def _truncate(self, conn: int, stream: int, stmt: ast.Truncate, keyspace: str | None
                  ) -> None:
        ks, table = self._table(stmt.keyspace, stmt.name, keyspace)
        if ks.name in SYSTEM_KEYSPACES:
            raise unsupported("TRUNCATE of system tables")
        self.node.truncations.truncate(table, self.node.requests.bind(
            lambda error: self._answer(conn, stream, error or Void())))

    def _ddl(self, conn: int, stream: int, stmt: ast.Statement, keyspace: str | None,
             text: str) -> None:
        """Check the DDL against our schema (a bad statement fails here, at once, unless a peer
        gossips a later log position than ours), then put it in the cluster metadata log and
        answer with what applying it at its position did (``node.metadata``): the change is
        agreed by a majority before it is acknowledged."""
        assert text, "a DDL statement without its CQL text"
        new_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        drop_us = 0  # a dropped column's drop time: USING TIMESTAMP, else a write timestamp
        if isinstance(stmt, ast.AlterTable) and stmt.action == "DROP":
            drop_us = stmt.drop_timestamp if stmt.drop_timestamp is not None else \
                self.node.next_timestamp()
        dcs = frozenset([self.node.config.dc] + [
            p.state.dc for p in self.node.membership.peers.values()])
        if not self.node.metadata.behind():  # else the log decides (we may miss entries)
            _, change = ddl.apply_ddl(self.node.schema, stmt, keyspace, new_id,  # type: ignore[arg-type]
                                      drop_us, dcs)
            if change is None:
                self._answer(conn, stream, Void())
                return
        entry = DdlEntry(self.node.metadata.new_entry_id(), text, keyspace, new_id.bytes,
                         drop_us, tuple(sorted(dcs)))

        after = self.authz.after_ddl(conn, stmt, keyspace)  # creator's grants, DROP cleanup

        def applied(outcome: Outcome) -> None:
            if outcome.error is not None:
                self._answer(conn, stream, outcome.error)
            elif outcome.change is None:
                self._answer(conn, stream, Void())
            else:
                self.node.event(ClusterEvent("SCHEMA_CHANGE", schema_change=outcome.change))
                change = outcome.change
                after(lambda: self._answer(conn, stream, change))

        self.node.metadata.propose_ddl(entry, self.node.requests.bind(applied))

    # ------------------------------------------------------------------ writes

    # ------------------------------------------------------------------ reads

    def _select(self, conn: int, stream: int, stmt: ast.Select, values: tuple[Value, ...],
                params: Params, keyspace: str | None) -> None:
        ks_name = self._keyspace_of(stmt.keyspace, keyspace)
        if ks_name in SYSTEM_KEYSPACES and ks_name not in STORED_SYSTEM_KEYSPACES:
            rows = virtual_select.select_virtual(
                stmt, [None if isinstance(v, Unset) else v for v in values],
                self.system_context(stmt.table == "skewless_clients"), params.page_size,
                params.paging_state, keyspace)
            self._answer(conn, stream, rows)
            return
        if params.consistency in (cl_mod.SERIAL, cl_mod.LOCAL_SERIAL):
            self.lwt.serial_read(conn, stream, stmt, values, params, keyspace)
            return
        ks, table = self._table(stmt.keyspace, stmt.table, keyspace)
        cl_mod.check_cl(params.consistency)
        ctx = self._ctx(values, keyspace)
        state = paging.decode_paging_state(params.paging_state) if params.paging_state else None
        page_size = None
        if params.page_size is not None and params.page_size > 0:
            page_size = min(params.page_size, limits.cql_page_rows_max)
        plan = self.read_plans.plan(stmt, table, self.node.schema, ctx, state, page_size)
        self._read_plan(conn, stream, ks, plan, params)

    def _read_plan(self, conn: int, stream: int, ks: KeyspaceDef, plan: select.ReadPlan,
                   params: Params) -> None:
        """Read the plan's page: one ``ReadRecord`` from here to its answer."""
        ReadRecord(self.node, self._answer, self._page, conn, stream, ks, plan, params,
                   self.traces.get((conn, stream))).start()

    def _page(self, plan: select.ReadPlan, parts: list[PartitionUpdate],
              now_s: int | None = None) -> RowsResult:
        page = select.render(plan, parts, self._now_s() if now_s is None else now_s)
        state = None
        if page.more and page.state is not None:
            state = paging.encode_paging_state(page.state)
        return RowsResult(plan.columns, page.rows, state)

    def _now_s(self) -> int:
        return self.node.physical_us() // 1_000_000

    # ------------------------------------------------------------------ prepare and batch

    def _prepare(self, conn: int, stream: int, query: str, keyspace: str | None) -> None:
        parsed = parse(query)
        if parsed.bind_count > limits.cql_bind_markers_max:
            raise InvalidRequest(f"Too many markers(?). {parsed.bind_count} markers exceed the "
                                 f"allowed maximum of {limits.cql_bind_markers_max}")
        stmt = parsed.statement
        statement_id = hashlib.md5(((keyspace or "") + query).encode()).digest()
        binds: tuple[ColumnSpec, ...] = ()
        pk: tuple[int, ...] = ()
        result_cols: tuple[ColumnSpec, ...] = ()
        depends_on: Dependency | None = None
        if isinstance(stmt, ast.Select | ast.Insert | ast.Update | ast.Delete):
            ks_name = self._keyspace_of(stmt.keyspace, keyspace)
            if isinstance(stmt, ast.Select) and ks_name in SYSTEM_KEYSPACES and \
                    ks_name not in STORED_SYSTEM_KEYSPACES:
                binds = tuple(ColumnSpec(ks_name, stmt.table, f"[bind{i}]", "text")
                              for i in range(parsed.bind_count))
            else:
                _, table = self._table(stmt.keyspace, stmt.table, keyspace)
                depends_on = dependency(self.node.schema, table.keyspace, table.name)
                binds, pk = bind_metadata(stmt, parsed, table, self.node.schema)
                check_at_prepare(stmt, table, self.node.schema, binds, self.node.physical_us())
                if isinstance(stmt, ast.Select):
                    result_cols = select.select_result_columns(stmt, table, self.node.schema)
                else:
                    lwt_path.check_at_prepare(stmt)
                    self.plans.compile(stmt, table)
        elif isinstance(stmt, ast.Batch):  # Cassandra prepares a BATCH too (BatchStatement)
            tables = [self._table(s.keyspace, s.table, keyspace)[1] for s in stmt.statements]
            binds = batch_bind_metadata(stmt, parsed, tables, self.node.schema)
        self.prepared[statement_id] = _Prepared(query, keyspace, parsed, depends_on)
        if len(self.prepared) > limits.cql_prepared_statements_max:
            self.prepared.popitem(last=False)
        self._answer(conn, stream, PreparedResult(statement_id, binds, pk, result_cols))

    def _prepared(self, statement_id: bytes) -> _Prepared:
        """The statement prepared as ``statement_id``; Unprepared if unknown or if a schema
        change since evicted it (``prepared_deps``)."""
        p = self.prepared.get(statement_id)
        schema = self.node.schema
        if p is not None and p.valid_in is not schema:
            if not still_valid(p.depends_on, schema):
                del self.prepared[statement_id]
                p = None
            else:
                p.valid_in = schema
        if p is None:
            raise Unprepared(f"Prepared query with ID {statement_id.hex()} not found",
                             statement_id)
        return p

    def _batch(self, conn: int, stream: int, kind: int,
               entries: Sequence[tuple[str | bytes, tuple[Value, ...]]], params: Params,
               keyspace: str | None) -> None:
        stmts: list[ast.Insert | ast.Update | ast.Delete] = []
        values: list[tuple[Value, ...]] = []
        for query_or_id, vals in entries:
            if isinstance(query_or_id, bytes):
                parsed = self._prepared(query_or_id).parsed
            else:
                parsed = parse(query_or_id)
            s = parsed.statement
            if not isinstance(s, ast.Insert | ast.Update | ast.Delete):
                raise InvalidRequest("Invalid statement in batch: only UPDATE, INSERT and DELETE "
                                     "statements are allowed.")
            stmts.append(s)
            values.append(self._values(parsed, Params(values=vals)))
        write_type = ("BATCH", "UNLOGGED_BATCH", "COUNTER")[kind]
        if kind != 2 and any(cas.is_conditional(s) for s in stmts):  # a conditional batch: one LWT
            batch, flat = renumbered("LOGGED" if kind == 0 else "UNLOGGED", stmts, values)
            self.authz.before(conn, stream, batch, keyspace, lambda: self.lwt.write(
                conn, stream, batch, flat, params, keyspace))
            return
        self.authz.before(conn, stream, ast.Batch("LOGGED", tuple(stmts)), keyspace,
                         lambda: self.writes.write(
            conn, stream, stmts, values, params, keyspace, write_type))


def _kind(stmt: ast.Statement) -> str:
    """The request kind whose timeout bounds ``stmt`` (node.requests)."""
    if isinstance(stmt, ast.Select):
        return "range"  # a single-partition read's timeout is shorter: this bounds both
    if isinstance(stmt, ast.Insert | ast.Update | ast.Delete | ast.Batch):
        return "write"
    if isinstance(stmt, ast.Truncate):
        return "truncate"
    return "request"
