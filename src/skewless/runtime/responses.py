"""Translation between the CQL codec's requests/responses and the executor's calls/results."""

from __future__ import annotations

from collections.abc import Mapping

from skewless.cql import protocol as p
from skewless.cql import protocol_responses as r
from skewless.cql import results
from skewless.cql.terms import resolve_type
from skewless.errors import CqlError, InvalidRequest, ServerError
from skewless.node.auth.model import AuthOk
from skewless.node.clock import session_token
from skewless.node.effects import ClusterEvent
from skewless.node.executor import Executor, Params, PreparedResult
from skewless.schema import Schema


def _params(q: p.QueryParams, token_us: int | None, tracing: bool, client: str) -> Params:
    return Params(q.consistency, q.values, q.names, q.page_size, q.paging_state,
                  q.serial_consistency, q.timestamp, token_us, tracing, client)


def request_to_call(ex: Executor, conn: int, stream: int, req: p.Request,
                    keyspace: str | None,
                    custom_payload: Mapping[str, bytes | None] | None = None,
                    tracing: bool = False, client: str = "") -> None:
    """Hand a QUERY/PREPARE/EXECUTE/BATCH to the executor (it answers through the node).
    ``custom_payload``: the frame's (a session token may be in it); ``tracing``: the frame's
    tracing flag (PREPARE is not traced); ``client``: its address."""
    try:
        token_us = session_token.decode(custom_payload)
        _refuse_now_in_seconds(req)
    except CqlError as e:
        ex.node.reply_error(conn, stream, e)
        return
    keyspace = _statement_keyspace(req) or keyspace
    if isinstance(req, p.Query):
        ex.query(conn, stream, req.query, _params(req.params, token_us, tracing, client),
                 keyspace)
    elif isinstance(req, p.Prepare):
        ex.prepare(conn, stream, req.query, keyspace)
    elif isinstance(req, p.Execute):
        ex.execute(conn, stream, req.query_id, _params(req.params, token_us, tracing, client),
                   keyspace)
    elif isinstance(req, p.AuthResponse):
        ex.auth_response(conn, stream, req.token)
    elif isinstance(req, p.Batch):
        entries = [(e.statement, e.values) for e in req.entries]
        ex.batch(conn, stream, req.kind, entries,
                 Params(req.consistency, timestamp=req.timestamp,
                        serial_consistency=req.serial_consistency, token_us=token_us,
                        tracing=tracing, client=client), keyspace)
    else:
        ex.node.reply_error(conn, stream, ServerError(f"unexpected request {type(req).__name__}"))


def _statement_keyspace(req: p.Request) -> str | None:
    """The v5 per-statement keyspace (QUERY/BATCH flag 0x80, PREPARE flag 0x01): it stands in
    for the connection's for this statement. An EXECUTE's is the one it was prepared with."""
    if isinstance(req, p.Query):
        return req.params.keyspace
    if isinstance(req, (p.Prepare, p.Batch)):
        return req.keyspace
    return None


def _refuse_now_in_seconds(req: p.Request) -> None:
    """v5 now_in_seconds (flag 0x100) is not built: say so rather than ignore it."""
    now = req.now_in_seconds if isinstance(req, p.Batch) else (
        req.params.now_in_seconds if isinstance(req, (p.Query, p.Execute)) else None)
    if now is not None:
        raise InvalidRequest("now_in_seconds (protocol v5 flag 0x100) is not supported")


def _specs(cols: tuple[results.ColumnSpec, ...], schema: Schema) -> tuple[r.ColumnSpec, ...]:
    """Column specs with their types resolved (user types from ``schema``, by keyspace)."""
    return tuple(r.ColumnSpec(c.keyspace, c.table, c.name, resolve_type(c.type, schema,
                                                                        c.keyspace))
                 for c in cols)


def _schema_change(c: results.SchemaChange) -> r.ResultSchemaChange:
    return r.ResultSchemaChange(c.change_type, c.target, c.keyspace, c.name,  # type: ignore[arg-type]
                                c.arg_types)


def response_for(body: object, schema: Schema | None = None) -> r.Response:
    """The protocol response for an executor answer; ``schema`` resolves user types in
    result and bind metadata."""
    schema = schema if schema is not None else Schema()
    if isinstance(body, CqlError):
        return r.ErrorResponse(body)
    if isinstance(body, AuthOk):
        return r.AuthSuccess(None)
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
        return r.ResultPrepared(body.statement_id, _specs(body.bind_columns, schema),
                                body.pk_indexes, r.RowsMetadata(_specs(body.result_columns,
                                                                       schema)))
    raise AssertionError(f"no response for {type(body).__name__}")


def event_frame(e: ClusterEvent) -> r.Event:
    if e.kind == "SCHEMA_CHANGE":
        assert isinstance(e.schema_change, results.SchemaChange)
        return r.SchemaChangeEvent(_schema_change(e.schema_change))
    if e.kind == "TOPOLOGY_CHANGE":
        return r.TopologyChangeEvent(e.change, e.address, e.port)  # type: ignore[arg-type]
    return r.StatusChangeEvent(e.change, e.address, e.port)  # type: ignore[arg-type]
