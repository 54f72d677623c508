"""The rows of a tracing session in ``system_traces``, built as ordinary INSERTs.

``sessions`` and ``events`` have Cassandra's schema (``system_tables``); the keyspace has
Cassandra's replication (SimpleStrategy, RF 2), so traces are replicated data any coordinator
can read. The mutations are made by the same code as a client's ``INSERT ... USING TTL``
(``cql.dml``), so they are exactly what such an INSERT would write.
"""

from __future__ import annotations

from collections.abc import Callable

from skewless.cql import ast, dml
from skewless.cql.parser import parse
from skewless.cql.terms import EvalContext
from skewless.cql.types import parse_type
from skewless.node.schema.system_tables import SYSTEM_SCHEMA
from skewless.node.tracing.records import TRACE_TTL_S, Trace
from skewless.schema import KeyspaceDef, TableDef
from skewless.storage.model import PartitionUpdate

TRACES_KEYSPACE = "system_traces"

_SESSION_COLUMNS = ("session_id", "client", "command", "coordinator", "coordinator_port",
                    "duration", "parameters", "request", "started_at")
_EVENT_COLUMNS = ("session_id", "event_id", "activity", "source", "source_elapsed",
                  "source_port", "thread")


def traces_keyspace() -> KeyspaceDef:
    ks = SYSTEM_SCHEMA.keyspace(TRACES_KEYSPACE)
    assert ks is not None
    return ks


def traces_table(name: str) -> TableDef | None:
    return SYSTEM_SCHEMA.table(TRACES_KEYSPACE, name)


def traces_table_by_key(table_key: str) -> TableDef | None:
    t = SYSTEM_SCHEMA.table_by_key(table_key)
    return t if t is not None and t.keyspace == TRACES_KEYSPACE else None


def _insert(table: str, columns: tuple[str, ...]) -> ast.Insert:
    cols = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    stmt = parse(f"INSERT INTO {TRACES_KEYSPACE}.{table} ({cols}) VALUES ({marks}) "
                 f"USING TTL {TRACE_TTL_S}").statement
    assert isinstance(stmt, ast.Insert)
    return stmt


def _row(table: TableDef, stmt: ast.Insert, values: dict[str, object], ts_us: int, now_s: int,
         random_bytes: Callable[[int], bytes]) -> list[PartitionUpdate]:
    serialized: list[bytes | None] = []
    for name in stmt.columns:
        column = table.column(name)
        assert column is not None, name
        v = values[name]
        serialized.append(None if v is None else parse_type(column.type).serialize(v))
    ctx = EvalContext(now_s * 1_000_000, random_bytes, tuple(serialized), TRACES_KEYSPACE)
    return dml.build_mutations(stmt, table, SYSTEM_SCHEMA, ctx, ts_us, now_s)


def trace_mutations(trace: Trace, ts_us: int, now_s: int, random_bytes: Callable[[int], bytes]
                    ) -> tuple[PartitionUpdate | None, PartitionUpdate]:
    """(the events partition, None without events; the session row) of a finished ``trace``."""
    assert trace.duration_us is not None
    sessions, events = traces_table("sessions"), traces_table("events")
    assert sessions is not None and events is not None
    event_stmt = _insert("events", _EVENT_COLUMNS)
    ups: list[PartitionUpdate] = []
    for event_id, e in trace.event_rows():
        ups += _row(events, event_stmt, {
            "session_id": trace.session_id, "event_id": event_id, "activity": e.activity,
            "source": e.source, "source_elapsed": e.elapsed_us,
            "source_port": trace.coordinator_port, "thread": e.thread,
        }, ts_us, now_s, random_bytes)
    session = _row(sessions, _insert("sessions", _SESSION_COLUMNS), {
        "session_id": trace.session_id, "client": trace.client or None, "command": "QUERY",
        "coordinator": trace.coordinator, "coordinator_port": trace.coordinator_port,
        "duration": trace.duration_us, "parameters": trace.session_parameters(),
        "request": trace.request, "started_at": trace.started_us // 1000,
    }, ts_us, now_s, random_bytes)
    merged_events = dml.merge_by_partition(ups)
    assert len(merged_events) <= 1 and len(session) == 1
    return (merged_events[0] if merged_events else None), session[0]
