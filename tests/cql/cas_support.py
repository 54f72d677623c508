"""A one-replica model for CAS tests: plain writes through dml, conditional statements through
cql.cas (plan, evaluate on what is stored, apply the mutation when applied), and every result
decoded by the stock driver (cassandra.protocol) from the bytes the project's encoder sends."""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from cassandra import protocol as dp
from cassandra.cluster import ResultSet
from cassandra.query import BatchStatement, SimpleStatement, named_tuple_factory

from skewless.cql import ast
from skewless.cql import protocol as p
from skewless.cql.cas import CasPlan, plan_batch, plan_statement
from skewless.cql.cas_results import CasOutcome, evaluate, result_set
from skewless.cql.connection import RequestReceived, ServerConnection
from skewless.cql.dml import batch_mutations, build_mutations
from skewless.cql.parser import parse
from skewless.cql.results import RowsResult
from skewless.cql.terms import EvalContext, Value
from skewless.runtime.responses import response_for
from skewless.schema import ColumnDef, Schema, TableDef, UserType
from skewless.storage.merge import merge_many
from skewless.storage.model import PartitionUpdate

NOW_S = 1_700_000_000


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def table(name: str, *cols: ColumnDef) -> TableDef:
    return TableDef("ks", name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols)


def pk(name: str, t: str = "int", pos: int = 0) -> ColumnDef:
    return ColumnDef(name, t, "partition_key", pos)


def ck(name: str, t: str = "int", pos: int = 0) -> ColumnDef:
    return ColumnDef(name, t, "clustering", pos, "asc")


def reg(name: str, t: str = "int") -> ColumnDef:
    return ColumnDef(name, t, "regular", -1)


def static(name: str, t: str = "int") -> ColumnDef:
    return ColumnDef(name, t, "static", -1)


ADDR = UserType("ks", "addr", ("a", "b"), ("int", "text"))
# Cassandra's InsertUpdateIfConditionStaticsTest table, and a few more.
ST = table("st", pk("pk"), ck("ck"), static("static_col"), reg("value"))
KV = table("kv", pk("k"), reg("v"), reg("w", "text"), reg("lock", "boolean"))
CO = table("co", pk("k"), reg("l", "list<int>"), reg("s", "set<text>"),
           reg("m", "map<text, int>"), reg("fl", "frozen<list<int>>"),
           reg("fm", "frozen<map<text, int>>"), reg("u", "addr"), reg("fu", "frozen<addr>"),
           reg("d", "duration"), reg("ld", "list<duration>"))
BT = table("bt", pk("id"), ck("k", "text"), static("version"), reg("v", "text"))
CT = table("ct", pk("k"), reg("c", "counter"))
SCHEMA = Schema(tables=(ST, KV, CO, BT, CT), types=(ADDR,))
TABLES = {t.name: t for t in SCHEMA.tables}


def ctx(*values: Value, now_us: int = NOW_S * 1_000_000) -> EvalContext:
    return EvalContext(now_us, lambda n: bytes(range(n)), list(values), "ks", node_id=1,
                       clock_seq=2)


def statement(q: str) -> ast.Insert | ast.Update | ast.Delete | ast.Batch:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete | ast.Batch), stmt
    return stmt


def plan(q: str, *values: Value) -> CasPlan:
    stmt = statement(q)
    if isinstance(stmt, ast.Batch):
        return plan_batch(stmt, SCHEMA, ctx(*values))
    return plan_statement(stmt, TABLES[stmt.table], SCHEMA, ctx(*values))


# ---------------------------------------------------------------- the driver's view


def _ready() -> ServerConnection:
    conn = ServerConnection()
    frame = dp._ProtocolHandler.encode_message(dp.StartupMessage("3.0.0", {}), 0, 4, None,
                                               False)
    (event,) = conn.receive_data(frame)
    assert isinstance(event, RequestReceived)
    conn.send_response(event.stream, p.Ready())
    return conn


def driver_decode(result: RowsResult) -> Any:
    """``result`` as the stock driver decodes the ROWS frame the server would send."""
    frame = _ready().send_response(7, response_for(result, SCHEMA))
    _, flags, stream, opcode, _ = struct.unpack(">BBhBi", frame[:9])
    return dp._ProtocolHandler.decode_message(4, {}, stream, flags, opcode, frame[9:], None,
                                              None)


@dataclass
class _Future:
    """What cassandra.cluster.ResultSet reads of a ResponseFuture."""

    query: Any
    _col_names: list[str]
    _col_types: list[Any]
    row_factory: Any = named_tuple_factory
    has_more_pages: bool = False


def driver_result_set(result: RowsResult, batch: bool = False) -> ResultSet:
    """The driver's ResultSet over the decoded rows (``was_applied`` as applications see it)."""
    msg = driver_decode(result)
    query = BatchStatement() if batch else SimpleStatement("UPDATE ...")
    names = list(msg.column_names)
    fut = _Future(query, names, list(msg.column_types))
    return ResultSet(fut, named_tuple_factory(names, msg.parsed_rows))


def rows(result: RowsResult) -> list[tuple[Any, ...]]:
    """The result's rows as Python values, decoded by the driver."""
    return [tuple(r) for r in driver_decode(result).parsed_rows]


# ---------------------------------------------------------------- one replica


@dataclass
class Replica:
    """Partitions by (table, key); plain writes and CAS at increasing timestamps."""

    data: dict[tuple[str, bytes], PartitionUpdate] = field(default_factory=dict)
    ts: int = 1_000_000

    def _apply(self, updates: list[PartitionUpdate]) -> None:
        for u in updates:
            k = (u.table, u.key)
            self.data[k] = u if k not in self.data else merge_many([self.data[k], u])

    def execute(self, q: str, *values: Value, now_s: int = NOW_S) -> None:
        self.ts += 10
        stmt = statement(q)
        if isinstance(stmt, ast.Batch):
            self._apply(batch_mutations(stmt, SCHEMA, ctx(*values), self.ts, now_s))
            return
        self._apply(build_mutations(stmt, TABLES[stmt.table], SCHEMA, ctx(*values), self.ts,
                                    now_s))

    def current(self, pl: CasPlan) -> PartitionUpdate | None:
        return self.data.get((pl.table_def.table_key, pl.key))

    def cas(self, q: str, *values: Value, now_s: int = NOW_S) -> tuple[CasOutcome, RowsResult]:
        pl = plan(q, *values)
        cur = self.current(pl)
        outcome = evaluate(pl, cur, now_s)
        if outcome.applied:
            self.ts += 10
            self._apply([pl.mutation(self.ts, now_s, cur)])
        return outcome, result_set(pl, outcome)

    def rows(self, q: str, *values: Value, now_s: int = NOW_S) -> list[tuple[Any, ...]]:
        """The decoded result rows of a conditional statement or batch."""
        return rows(self.cas(q, *values, now_s=now_s)[1])
