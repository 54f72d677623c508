"""Checks made when a statement is PREPAREd, before any value is bound.

Cassandra validates a statement's shape at PREPARE (``CQLStatement.Raw.prepare``): unknown
columns, a missing partition key or clustering restriction in an INSERT/UPDATE/DELETE, a
literal of the wrong type, restrictions a SELECT cannot serve. Skewless makes those checks while
planning an execution, with the bound values in hand.

Theory of operation
-------------------
Rather than restate every rule, PREPARE *dry-runs* the execution planner (``select.plan_select``
or ``dml.build_mutations``) with a placeholder value for each bind marker: a valid, non-null,
non-empty value of the marker's type (a one-element collection, a tuple or UDT with every
component set, 1 for numbers, ...). An error the dry run raises is reported at PREPARE only if
it is about the statement's shape (``_SHAPE_ERRORS``: messages that no bound value can cause or
cure); an error a placeholder might have caused (null, unset, empty key, a value out of range,
a list element missing) is ignored and left to EXECUTE, which evaluates the real values. So a
statement refused here would be refused at every EXECUTE, and nothing Cassandra accepts at
PREPARE is refused: a marker whose type has no placeholder skips the dry run.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec
from skewless.cql.terms import EvalContext, resolve_type
from skewless.cql.types import CqlType, ListType, MapType, SetType, TupleType, UdtType
from skewless.schema import Schema, TableDef

# Messages (prefixes) that depend on the statement's text and the schema only.
_SHAPE_ERRORS = (
    "Undefined column name",
    "Some partition key parts are missing",
    "Some clustering keys are missing",
    "Unmatched column names/values",
    "The column names contains duplicates",
    "Type error:",
    "Invalid STRING constant", "Invalid INTEGER constant", "Invalid FLOAT constant",
    "Invalid BOOLEAN constant", "Invalid UUID constant", "Invalid HEX constant",
    "Invalid DURATION constant",
    "PRIMARY KEY part",
    "Non PRIMARY KEY columns found in where clause",
    "Only EQ and IN relation are supported on the partition key",
    "Slice restrictions are not supported on the clustering columns",
    "Range deletions are not supported for specific columns",
    "Invalid restrictions on clustering columns since the",
    "The token function cannot be used in WHERE clauses",
    "Cannot execute this query as it might involve data filtering",
    "Invalid operation (",
    "Invalid list literal", "Invalid set literal", "Invalid map literal",
    "Invalid tuple literal", "Invalid user type literal", "Unknown field",
    "Unable to make", "Unknown function", "Invalid number of arguments",
    "Invalid call to function", "Unknown type",
    "Order by", "ORDER BY is only supported", "Unsupported order by relation",
    "More than one restriction", "Mixing single column relations",
    "Mixing multi-column relations", "SELECT DISTINCT",
    "toJson() may only be used", "fromJson() cannot be used",
)
# ... and message parts found after a column name.
_SHAPE_ERROR_PARTS = (
    "cannot be restricted by more than one relation",
    "cannot be restricted by both",
    "cannot be cast to",
)

_ONE = {"int": struct.pack(">i", 1), "bigint": struct.pack(">q", 1),
        "counter": struct.pack(">q", 1), "smallint": struct.pack(">h", 1),
        "tinyint": b"\x01", "varint": b"\x01", "decimal": b"\x00\x00\x00\x00\x01",
        "float": struct.pack(">f", 1.0), "double": struct.pack(">d", 1.0),
        "boolean": b"\x01", "text": b"a", "ascii": b"a", "blob": b"\x01",
        "timestamp": struct.pack(">q", 1), "time": struct.pack(">q", 1),
        "date": struct.pack(">I", 1 << 31), "inet": b"\x7f\x00\x00\x01",
        "duration": b"\x00\x00\x02",
        # a version-1 uuid: valid for uuid and timeuuid
        "uuid": bytes.fromhex("a0000000000011ef8000000000000001"),
        "timeuuid": bytes.fromhex("a0000000000011ef8000000000000001")}


def _cell(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def placeholder(t: CqlType) -> bytes | None:
    """A valid, non-empty serialized value of ``t`` (None: no placeholder known)."""
    if isinstance(t, ListType | SetType):
        e = placeholder(t.element)
        return None if e is None else struct.pack(">i", 1) + _cell(e)
    if isinstance(t, MapType):
        k, v = placeholder(t.key), placeholder(t.value)
        return None if k is None or v is None else struct.pack(">i", 1) + _cell(k) + _cell(v)
    if isinstance(t, TupleType | UdtType):
        parts = [placeholder(s) for s in t.subtypes]
        return None if any(p is None for p in parts) else b"".join(
            _cell(p) for p in parts if p is not None)
    return _ONE.get(t.name)


def check_at_prepare(stmt: ast.Select | ast.Insert | ast.Update | ast.Delete, table: TableDef,
                     schema: Schema, binds: Sequence[ColumnSpec], now_us: int) -> None:
    """Raise at PREPARE what every EXECUTE of ``stmt`` would raise (see the module doc)."""
    from skewless.cql import counter_rules, dml, select

    if not isinstance(stmt, ast.Select):
        counter_rules.check_modification(stmt, table)  # text and schema only, as Cassandra's

    values = []
    for spec in binds:
        try:
            v = placeholder(resolve_type(spec.type, schema, table.keyspace))
        except errors.InvalidRequest:
            v = None
        if v is None:
            return
        values.append(v)
    ctx = EvalContext(now_us, lambda n: bytes(n), tuple(values), table.keyspace)
    try:
        if isinstance(stmt, ast.Select):
            select.plan_select(stmt, table, schema, ctx)
        else:
            dml.build_mutations(stmt, table, schema, ctx, now_us, now_us // 1_000_000)
    except errors.InvalidRequest as e:
        message = str(e)
        if message.startswith(_SHAPE_ERRORS) or any(p in message for p in _SHAPE_ERROR_PARTS):
            raise
    except Exception:  # noqa: BLE001 - placeholders only; EXECUTE evaluates the real values
        return
