"""SELECT over the generated system tables (system, system_schema, system_traces, ...).

The rows come from ``system_tables.rows_for`` in a deterministic order, so paging is by offset:
the paging state is ``b"skewless-virtual:" + 8-byte big-endian offset``. Supported: ``*``, named
columns (duplicates allowed, as the drivers' peers queries need), aliases, ``count(*)`` /
``count(1)`` / ``count(column)``; WHERE with ``=`` and ``IN`` on any column, comparing
serialized values (literals converted with the column type's ``from_constant``, bind markers
taken as sent); LIMIT; DISTINCT.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec, RowsResult
from skewless.cql.types import parse_type
from skewless.cql.types_base import CqlType
from skewless.node.schema.system_tables import Row, SystemContext, rows_for, system_table
from skewless.schema import TableDef

PAGING_PREFIX = b"skewless-virtual:"


@functools.lru_cache(maxsize=256)
def cql_type(text: str) -> CqlType:
    """The CqlType of a system column's type text (cached: system types are a small set)."""
    return parse_type(text)


@dataclass(frozen=True, slots=True)
class _Output:
    """One result column: a table column, or an aggregate count (of all rows, or non-null)."""

    spec: ColumnSpec
    column: str | None  # source column; None for count(*)
    count: bool = False


def select_virtual(
    stmt: ast.Select,
    values: Sequence[bytes | None],
    ctx: SystemContext,
    page_size: int | None,
    paging_state: bytes | None,
    current_keyspace: str | None = None,
) -> RowsResult:
    """Execute ``stmt`` over a generated system table."""
    table = resolve_table(stmt.keyspace if stmt.keyspace is not None else current_keyspace,
                          stmt.table)
    _check_supported(stmt)
    outputs = _outputs(stmt, table)
    generated = rows_for(table.keyspace, table.name, ctx)
    rows = [r for r in generated if _matches(r, stmt, table, values)]
    if any(o.count for o in outputs):
        return RowsResult(tuple(o.spec for o in outputs), (_count_row(outputs, rows),))
    cells = [tuple(_cell(o, r, table) for o in outputs) for r in rows]
    if stmt.distinct:
        cells = list(dict.fromkeys(cells))
    limit = _limit(stmt.limit, values)
    if limit is not None:
        cells = cells[:limit]
    return _page(tuple(o.spec for o in outputs), cells, page_size, paging_state)


def resolve_table(keyspace: str | None, name: str) -> TableDef:
    """The system table a SELECT names (InvalidRequest as Cassandra words it otherwise)."""
    if keyspace is None:
        raise errors.InvalidRequest(
            "No keyspace has been specified. USE a keyspace, or explicitly specify "
            "keyspace.tablename")
    table = system_table(keyspace, name)
    if table is None:
        raise errors.InvalidRequest(f"unconfigured table {name}")
    return table


def _check_supported(stmt: ast.Select) -> None:
    if stmt.json:
        raise errors.unsupported("SELECT JSON on system tables")
    if stmt.group_by:
        raise errors.unsupported("GROUP BY on system tables")
    if stmt.order_by:
        raise errors.unsupported("ORDER BY on system tables")
    if stmt.per_partition_limit is not None:
        raise errors.unsupported("PER PARTITION LIMIT on system tables")


# ---------------------------------------------------------------- selectors


def _outputs(stmt: ast.Select, table: TableDef) -> list[_Output]:
    if not stmt.selectors:
        return [_Output(ColumnSpec(table.keyspace, table.name, c.name, c.type), c.name)
                for c in table.columns]
    return [_output(s, table) for s in stmt.selectors]


def _column(table: TableDef, name: str) -> str:
    column = table.column(name)
    if column is None:
        raise errors.InvalidRequest(f"Undefined column name {name}")
    return column.type


def _output(selector: ast.Selector, table: TableDef) -> _Output:
    expr = selector.expr
    if isinstance(expr, ast.ColumnRef):
        type_text = _column(table, expr.name)
        name = selector.alias or expr.name
        return _Output(ColumnSpec(table.keyspace, table.name, name, type_text), expr.name)
    if isinstance(expr, ast.CountStar):
        return _Output(_count_spec(table, selector.alias or "count"), None, count=True)
    if isinstance(expr, ast.SelectorCall) and expr.name == "count" and len(expr.args) == 1:
        arg = expr.args[0]
        if isinstance(arg, ast.ColumnRef):
            _column(table, arg.name)
            name = selector.alias or f"system.count({arg.name})"
            return _Output(_count_spec(table, name), arg.name, count=True)
        if isinstance(arg, ast.SelectorTerm):
            return _Output(_count_spec(table, selector.alias or "count"), None, count=True)
    what = expr.name if isinstance(expr, ast.SelectorCall) else type(expr).__name__
    raise errors.unsupported(f"Selector {what} on system tables")


def _count_spec(table: TableDef, name: str) -> ColumnSpec:
    return ColumnSpec(table.keyspace, table.name, name, "bigint")


def _cell(output: _Output, row: Row, table: TableDef) -> bytes | None:
    assert output.column is not None
    value = row.get(output.column)
    if value is None:
        return None
    return cql_type(output.spec.type).serialize(value)


def _count_row(outputs: list[_Output], rows: list[Row]) -> tuple[bytes | None, ...]:
    if not all(o.count for o in outputs):
        raise errors.InvalidRequest(
            "Aggregates and non-aggregate columns cannot be mixed in a system table query")
    bigint = cql_type("bigint")
    counts = [len(rows) if o.column is None else sum(r.get(o.column) is not None for r in rows)
              for o in outputs]
    return tuple(bigint.serialize(n) for n in counts)


# ---------------------------------------------------------------- WHERE


def _matches(row: Row, stmt: ast.Select, table: TableDef, values: Sequence[bytes | None]) -> bool:
    for rel in stmt.where:
        if not isinstance(rel.lhs, str):
            raise errors.unsupported("Multi-column, token and map-entry relations on system tables")
        type_text = _column(table, rel.lhs)
        if rel.op not in ("=", "IN"):
            raise errors.unsupported(f"Operator {rel.op} on system tables")
        wanted = _wanted(rel, type_text, values)
        value = row.get(rel.lhs)
        if value is None or cql_type(type_text).serialize(value) not in wanted:
            return False
    return True


def _wanted(rel: ast.Relation, type_text: str, values: Sequence[bytes | None]) -> set[bytes]:
    """The serialized values a relation accepts."""
    assert isinstance(rel.lhs, str)
    t = cql_type(type_text)
    if rel.op == "=":
        assert not isinstance(rel.rhs, tuple)
        return {_term_bytes(rel.rhs, t, rel.lhs, values)}
    if isinstance(rel.rhs, tuple):
        return {_term_bytes(term, t, rel.lhs, values) for term in rel.rhs}
    return _bound_in_list(rel.rhs, t, rel.lhs, values)


def _term_bytes(term: ast.Term, t: CqlType, column: str, values: Sequence[bytes | None]) -> bytes:
    while isinstance(term, (ast.TypeHint, ast.Cast)):
        term = term.term
    if isinstance(term, ast.BindMarker):
        data = _bound(term, values)
        if data is None:
            raise errors.InvalidRequest(f"Invalid null value in condition for column {column}")
        return data
    if isinstance(term, ast.Constant):
        if term.kind == "null":
            raise errors.InvalidRequest(f"Invalid null value in condition for column {column}")
        return t.serialize(t.from_constant(term, column))
    raise errors.unsupported(f"{type(term).__name__} values in system table conditions")


def _bound(marker: ast.BindMarker, values: Sequence[bytes | None]) -> bytes | None:
    if marker.index >= len(values):
        raise errors.InvalidRequest(
            f"There were {len(values)} markers(?) in CQL but {marker.index + 1} bound variables")
    return values[marker.index]


def _bound_in_list(
    term: ast.Term, t: CqlType, column: str, values: Sequence[bytes | None]
) -> set[bytes]:
    if not isinstance(term, ast.BindMarker):
        raise errors.InvalidRequest(f"Invalid IN value for column {column}")
    data = _bound(term, values)
    if data is None:
        raise errors.InvalidRequest(f"Invalid null value for IN restriction on column {column}")
    items = parse_type(f"list<{t.name}>").deserialize(data)
    assert isinstance(items, list)
    return {t.serialize(v) for v in items}


def _limit(term: ast.Term | None, values: Sequence[bytes | None]) -> int | None:
    if term is None:
        return None
    int_type = cql_type("int")
    if isinstance(term, ast.BindMarker):
        data = _bound(term, values)
        if data is None:
            raise errors.InvalidRequest("Invalid null value of limit")
        n = int_type.deserialize(data)
    elif isinstance(term, ast.Constant):
        n = int_type.from_constant(term, "[limit]")
    else:
        raise errors.InvalidRequest("Invalid LIMIT value")
    assert isinstance(n, int)
    if n <= 0:
        raise errors.InvalidRequest("LIMIT must be strictly positive")
    return n


# ---------------------------------------------------------------- paging


def _page(
    columns: tuple[ColumnSpec, ...],
    cells: list[tuple[bytes | None, ...]],
    page_size: int | None,
    paging_state: bytes | None,
) -> RowsResult:
    start = _offset(paging_state)
    if page_size is None or page_size <= 0:
        return RowsResult(columns, tuple(cells[start:]))
    end = start + page_size
    more = PAGING_PREFIX + end.to_bytes(8, "big") if end < len(cells) else None
    return RowsResult(columns, tuple(cells[start:end]), more)


def _offset(paging_state: bytes | None) -> int:
    if paging_state is None:
        return 0
    body = paging_state[len(PAGING_PREFIX):]
    if not paging_state.startswith(PAGING_PREFIX) or len(body) != 8:
        raise errors.InvalidRequest("Invalid value for the paging state")
    return int.from_bytes(body, "big")
