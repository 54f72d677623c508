"""Unit tests of four wrong results: empty IN, list elements sharing a timestamp, several
operations on one column in one UPDATE (their refusal and their reconciliation)."""

from __future__ import annotations

import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.dml import batch_mutations, build_mutations, merge_by_partition
from skewless.cql.list_ops import ListSeq
from skewless.cql.parser import parse
from skewless.cql.select import plan_select
from skewless.cql.terms import EvalContext, Value
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage.merge import live_view
from skewless.storage.model import PartitionUpdate

TS, NOW_S = 1_000_000, 1_700_000_000
T = TableDef("ks", "t", uuid.uuid5(uuid.NAMESPACE_DNS, "t"), (
    ColumnDef("k", "int", "partition_key", 0), ColumnDef("c", "int", "clustering", 0, "asc"),
    ColumnDef("s", "int", "static", -1), ColumnDef("v", "int", "regular", -1)))
L = TableDef("ks", "l", uuid.uuid5(uuid.NAMESPACE_DNS, "l"), (
    ColumnDef("k", "int", "partition_key", 0), ColumnDef("l", "list<int>", "regular", -1),
    ColumnDef("m", "map<int, int>", "regular", -1), ColumnDef("st", "set<int>", "regular", -1)))
SCHEMA = Schema(tables=(T, L))


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def ctx(*values: Value) -> EvalContext:
    return EvalContext(NOW_S * 1_000_000, lambda n: bytes(n), list(values), "ks")


def mut(q: str, table: TableDef, *values: Value) -> list[PartitionUpdate]:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
    return build_mutations(stmt, table, SCHEMA, ctx(*values), TS, NOW_S)


def values_of(u: PartitionUpdate, column: str) -> list[bytes | None]:
    """The live values of ``column`` in ``u``'s first row, in cell path order."""
    (row,) = live_view(u, NOW_S).rows
    return [c.cell.value for c in row.cells if c.column == column]


# ---------------------------------------------------------------- empty IN


@pytest.mark.parametrize("q,values", [
    ("SELECT * FROM t WHERE k = 0 AND c IN ()", ()),
    ("SELECT * FROM t WHERE k IN ()", ()),
    ("SELECT * FROM t WHERE k = 0 AND c IN ?", (b"\x00\x00\x00\x00",)),
    ("SELECT s, v FROM t WHERE k = 0 AND c IN ()", ()),
])
def test_empty_in_reads_no_partition(q: str, values: tuple[bytes, ...]) -> None:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Select)
    assert plan_select(stmt, T, SCHEMA, ctx(*values)).partition_keys == ()


@pytest.mark.parametrize("q", [
    "UPDATE t SET v = 1 WHERE k = 0 AND c IN ()",
    "UPDATE t SET v = 1, s = 2 WHERE k = 0 AND c IN ()",
    "UPDATE t SET v = 1 WHERE k IN () AND c = 1",
    "DELETE FROM t WHERE k = 0 AND c IN ()",
    "DELETE v FROM t WHERE k = 0 AND c IN ()",
    "DELETE FROM t WHERE k IN ()",
])
def test_empty_in_modifies_nothing(q: str) -> None:
    assert mut(q, T) == []


def test_empty_in_static_only_delete_still_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="modifies only static columns"):
        mut("DELETE s FROM t WHERE k = 0 AND c IN ()", T)


# ---------------------------------------------------------------- list paths


def test_batch_appends_and_prepends_get_distinct_ordered_paths() -> None:
    batch = parse("BEGIN BATCH UPDATE l SET l = l + [1] WHERE k = 0; "
                  "UPDATE l SET l = l + [2, 3] WHERE k = 0; UPDATE l SET l = [0] + l WHERE k = 0; "
                  "UPDATE l SET l = [-2, -1] + l WHERE k = 0; APPLY BATCH").statement
    assert isinstance(batch, ast.Batch)
    (u,) = batch_mutations(batch, SCHEMA, ctx(), TS, NOW_S)
    assert values_of(u, "l") == [i32(n) for n in (-2, -1, 0, 1, 2, 3)]


def test_several_appends_in_one_statement() -> None:
    (u,) = mut("UPDATE l SET l = l + [1], l = l + [2], l = [0] + l WHERE k = 0", L)
    assert values_of(u, "l") == [i32(0), i32(1), i32(2)]


def test_writes_sharing_a_timestamp_and_a_coordinator_keep_every_element() -> None:
    seq = ListSeq()
    stmts = ["UPDATE l SET l = l + [1] WHERE k = 0", "UPDATE l SET l = l + [2] WHERE k = 0",
             "UPDATE l SET l = [0] + l WHERE k = 0"]
    ups = []
    for q in stmts:
        stmt = parse(q).statement
        assert isinstance(stmt, ast.Update)
        ups.extend(build_mutations(stmt, L, SCHEMA, ctx(), TS, NOW_S, seq=seq))
    (u,) = merge_by_partition(ups)
    assert values_of(u, "l") == [i32(0), i32(1), i32(2)]


# ---------------------------------------------------------------- several operations


@pytest.mark.parametrize("q,column", [
    ("UPDATE t SET v = 1, v = 2 WHERE k = 0 AND c = 0", "v"),
    ("UPDATE l SET st = {1}, st = st + {2} WHERE k = 0", "st"),
    ("UPDATE l SET l = l + [1], l = [2] WHERE k = 0", "l"),
    ("UPDATE l SET m[1] = 1, m = {} WHERE k = 0", "m"),
])
def test_incompatible_settings_are_a_syntax_error(q: str, column: str) -> None:
    with pytest.raises(errors.SyntaxException,
                       match=f"Multiple incompatible setting of column {column}"):
        parse(q)


def test_compatible_operations_reconcile_per_cell() -> None:
    (u,) = mut("UPDATE l SET st = st + {1, 2}, st = st - {2}, st = st - {3}, st = st + {3} "
               "WHERE k = 0", L)
    (row,) = u.rows
    live = {c.path for c in row.cells if c.column == "st" and c.cell.value is not None}
    assert live == {i32(1)}
    (u,) = mut("UPDATE l SET m[1] = 5, m = m + {1: 4, 2: 2}, m = m - {2} WHERE k = 0", L)
    assert values_of(u, "m") == [i32(5)]
