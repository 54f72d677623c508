"""Translation between the CQL codec's requests/responses and the executor's calls/results."""

from __future__ import annotations

from skewless.cql import protocol as p
from skewless.cql import protocol_responses as r
from skewless.cql import results
from skewless.cql.types import CqlType, parse_type
from skewless.errors import CqlError, ServerError
from skewless.node.ddl_columns import parsed_type
from skewless.node.effects import ClusterEvent
from skewless.node.executor import Executor, Params, PreparedResult
from skewless.schema import Schema


def _params(q: p.QueryParams) -> Params:
    return Params(q.consistency, q.values, q.names, q.page_size, q.paging_state,
                  q.serial_consistency, q.timestamp)


def request_to_call(ex: Executor, conn: int, stream: int, req: p.Request,
                    keyspace: str | None) -> None:
    """Hand a QUERY/PREPARE/EXECUTE/BATCH to the executor (it answers through the node)."""
    if isinstance(req, p.Query):
        ex.query(conn, stream, req.query, _params(req.params), keyspace)
    elif isinstance(req, p.Prepare):
        ex.prepare(conn, stream, req.query, keyspace)
    elif isinstance(req, p.Execute):
        ex.execute(conn, stream, req.query_id, _params(req.params), keyspace)
    elif isinstance(req, p.Batch):
        entries = [(e.statement, e.values) for e in req.entries]
        ex.batch(conn, stream, req.kind, entries,
                 Params(req.consistency, timestamp=req.timestamp,
                        serial_consistency=req.serial_consistency), keyspace)
    else:
        ex.node.reply_error(conn, stream, ServerError(f"unexpected request {type(req).__name__}"))


def _specs(cols: tuple[results.ColumnSpec, ...], schema: Schema | None
           ) -> tuple[r.ColumnSpec, ...]:
    """Result/bind metadata; user types are resolved in each column's keyspace."""
    def ctype(c: results.ColumnSpec) -> CqlType:
        if schema is None:
            return parse_type(c.type)
        return parsed_type(schema, c.keyspace, c.type)
    return tuple(r.ColumnSpec(c.keyspace, c.table, c.name, ctype(c)) for c in cols)


def _schema_change(c: results.SchemaChange) -> r.ResultSchemaChange:
    return r.ResultSchemaChange(c.change_type, c.target, c.keyspace, c.name,  # type: ignore[arg-type]
                                c.arg_types)


def response_for(body: object, schema: Schema | None = None) -> r.Response:
    if isinstance(body, CqlError):
        return r.ErrorResponse(body)
    if isinstance(body, results.Void):
        return r.ResultVoid()
    if isinstance(body, results.RowsResult):
        meta = r.RowsMetadata(_specs(body.columns, schema), body.paging_state)
        return r.ResultRows(meta, body.rows)
    if isinstance(body, results.SetKeyspace):
        return r.ResultSetKeyspace(body.keyspace)
    if isinstance(body, results.SchemaChange):
        return _schema_change(body)
    if isinstance(body, PreparedResult):
        result_meta = r.RowsMetadata(_specs(body.result_columns, schema))
        return r.ResultPrepared(body.statement_id, _specs(body.bind_columns, schema),
                                body.pk_indexes, result_meta)
    raise AssertionError(f"no response for {type(body).__name__}")


def event_frame(e: ClusterEvent) -> r.Event:
    if e.kind == "SCHEMA_CHANGE":
        assert isinstance(e.schema_change, results.SchemaChange)
        return r.SchemaChangeEvent(_schema_change(e.schema_change))
    if e.kind == "TOPOLOGY_CHANGE":
        return r.TopologyChangeEvent(e.change, e.address, e.port)  # type: ignore[arg-type]
    return r.StatusChangeEvent(e.change, e.address, e.port)  # type: ignore[arg-type]
