"""Compiled point reads (cql.compiled_read) against select.plan_select, the reference: the same
plan for the same values and page size, the same first error for bad values."""

from __future__ import annotations

import random
import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast, compiled_read
from skewless.cql.paging import PagingState
from skewless.cql.parser import parse
from skewless.cql.select import plan_select
from skewless.cql.terms import UNSET, EvalContext, Value
from skewless.schema import ColumnDef, Schema, TableDef


def table(name: str, *cols: ColumnDef) -> TableDef:
    return TableDef("ks", name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols, ())


T = table("t", ColumnDef("k", "int", "partition_key", 0), ColumnDef("c", "text", "clustering", 0),
          ColumnDef("d", "bigint", "clustering", 1, "desc"), ColumnDef("s", "int", "static", -1),
          ColumnDef("v", "text", "regular", -1), ColumnDef("l", "list<int>", "regular", -1))
K = table("kv", ColumnDef("k", "bigint", "partition_key", 0),
          ColumnDef("v", "blob", "regular", -1))
P = table("p", ColumnDef("a", "text", "partition_key", 0),
          ColumnDef("b", "int", "partition_key", 1), ColumnDef("v", "int", "regular", -1))
SCHEMA = Schema(tables=(T, K, P))

COMPILED = [
    (K, "SELECT v FROM kv WHERE k = ?"),
    (K, "SELECT * FROM kv WHERE k = ?"),
    (K, "SELECT JSON k, v FROM kv WHERE k = ?"),
    (K, "SELECT v AS x FROM kv WHERE k = ? LIMIT 1"),
    (T, "SELECT * FROM t WHERE k = ? AND c = ? AND d = ?"),
    (T, "SELECT v, l, s FROM t WHERE d = ? AND k = ? AND c = 'x'"),
    (T, "SELECT v FROM t WHERE k = ?"),
    (T, "SELECT v FROM t WHERE k = ? ORDER BY c DESC"),
    (P, "SELECT v FROM p WHERE a = ? AND b = ?"),
]

INTERPRETED = [
    (K, "SELECT count(*) FROM kv WHERE k = ?"),
    (K, "SELECT writetime(v) FROM kv WHERE k = ?"),
    (K, "SELECT v FROM kv WHERE k IN (?, ?)"),
    (K, "SELECT v FROM kv WHERE k = ? LIMIT ?"),
    (K, "SELECT v FROM kv"),
    (T, "SELECT v FROM t WHERE k = ? AND c = ?"),  # a clustering prefix: a slice
    (T, "SELECT v FROM t WHERE k = ? AND c = ? AND d > ?"),
    (T, "SELECT DISTINCT k FROM t WHERE k = ?"),
    (T, "SELECT v FROM t WHERE k = ? AND v = ? ALLOW FILTERING"),
]


def ctx(values: tuple[Value, ...]) -> EvalContext:
    return EvalContext(1_700_000_000_123_456, lambda n: bytes(range(n)), values, "ks")


def _stmt(q: str) -> ast.Select:
    s = parse(q).statement
    assert isinstance(s, ast.Select)
    return s


@pytest.mark.parametrize(("tbl", "q"), COMPILED)
def test_point_reads_have_templates(tbl: TableDef, q: str) -> None:
    assert compiled_read.compile_read(_stmt(q), tbl) is not None


@pytest.mark.parametrize(("tbl", "q"), INTERPRETED)
def test_other_reads_are_planned_each_time(tbl: TableDef, q: str) -> None:
    assert compiled_read.compile_read(_stmt(q), tbl) is None


def _value(type_text: str, rng: random.Random, good: bool) -> Value:
    r = 1.0 if good else rng.random()
    if r < 0.06:
        return None
    if r < 0.1:
        return UNSET
    if r < 0.14:
        return b""
    if r < 0.18:
        return b"\x01\x02\x03"
    if type_text == "int":
        return struct.pack(">i", rng.randrange(-5, 5))
    if type_text == "bigint":
        return struct.pack(">q", rng.randrange(-5, 5))
    if type_text == "text":
        return rng.choice([b"a", b"b", b"\xff\xfe", b"x" * 70_000])
    raise AssertionError(type_text)


def outcome(fn: object) -> object:
    try:
        return fn()  # type: ignore[operator]
    except errors.CqlError as e:
        return (type(e).__name__, e.message)


@pytest.mark.parametrize(("tbl", "q"), COMPILED)
def test_templates_plan_what_plan_select_plans(tbl: TableDef, q: str) -> None:
    stmt = _stmt(q)
    types = []
    for rel in stmt.where:
        col = tbl.column(str(rel.lhs))
        assert col is not None
        if isinstance(rel.rhs, ast.BindMarker):
            types.append(col.type)
    rng = random.Random(q)
    plans = compiled_read.ReadPlans()
    first = tuple(struct.pack(">i", 1) if t == "int" else struct.pack(">q", 1)
                  if t == "bigint" else b"a" for t in types)
    assert plans.plan(stmt, tbl, SCHEMA, ctx(first), None, 100) == plan_select(
        stmt, tbl, SCHEMA, ctx(first), None, 100)
    template = plans._plans[id(stmt)][3]
    assert template is not None and template.base is not None  # kept from the first plan
    for _ in range(300):
        values = tuple(_value(t, rng, False) for t in types)
        page = rng.choice([None, 1, 5000])
        want = outcome(lambda v=values, p=page: plan_select(stmt, tbl, SCHEMA, ctx(v), None, p))
        got = outcome(lambda v=values, p=page: plans.plan(stmt, tbl, SCHEMA, ctx(v), None, p))
        assert got == want, values
    state = PagingState(first[0] if tbl is K else b"\x00", None, 5, None)
    assert plans.plan(stmt, tbl, SCHEMA, ctx(first), state, 5) == plan_select(
        stmt, tbl, SCHEMA, ctx(first), state, 5)


def test_a_schema_change_makes_the_template_again() -> None:
    stmt = _stmt("SELECT * FROM kv WHERE k = ?")
    plans = compiled_read.ReadPlans()
    values = (struct.pack(">q", 1),)
    plans.plan(stmt, K, SCHEMA, ctx(values))
    wider = TableDef(K.keyspace, K.name, K.id, (*K.columns, ColumnDef("w", "int", "regular", -1)),
                     ())
    schema = Schema(tables=(T, wider, P))
    plan = plans.plan(stmt, wider, schema, ctx(values))
    assert [c.name for c in plan.columns] == ["k", "v", "w"]
    assert plans.plan(stmt, wider, schema, ctx(values)) == plan
