"""Compiled write plans (cql.compiled) against dml.build_mutations, the reference: the same
mutations for the same values, the same first error for bad ones."""

from __future__ import annotations

import random
import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast, compiled
from skewless.cql.dml import build_mutations
from skewless.cql.parser import parse
from skewless.cql.terms import UNSET, EvalContext, Value
from skewless.schema import ColumnDef, Schema, TableDef, UserType

TS, NOW_S = 1_000_000, 1_700_000_000


def table(name: str, *cols: ColumnDef, options: tuple[tuple[str, object], ...] = ()) -> TableDef:
    return TableDef("ks", name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols, options)


T = table("t", ColumnDef("k", "int", "partition_key", 0), ColumnDef("c", "text", "clustering", 0),
          ColumnDef("d", "bigint", "clustering", 1, "desc"), ColumnDef("s", "int", "static", -1),
          ColumnDef("v", "text", "regular", -1), ColumnDef("w", "int", "regular", -1),
          ColumnDef("f", "frozen<list<int>>", "regular", -1),
          ColumnDef("st", "set<int>", "regular", -1), ColumnDef("u", "addr", "regular", -1))
K = table("kv", ColumnDef("k", "bigint", "partition_key", 0), ColumnDef("v", "blob", "regular", -1),
          options=(("default_time_to_live", 3600),))
P = table("p", ColumnDef("a", "text", "partition_key", 0),
          ColumnDef("b", "int", "partition_key", 1), ColumnDef("v", "int", "regular", -1))
N = table("n", ColumnDef("k", "int", "partition_key", 0), ColumnDef("n", "counter", "regular", -1))
SCHEMA = Schema(tables=(T, K, P, N),
                types=(UserType("ks", "addr", ("street", "zip"), ("text", "int")),))


def ctx(values: tuple[Value, ...]) -> EvalContext:
    return EvalContext(1_700_000_000_123_456, lambda n: bytes(range(n)), values, "ks",
                       node_id=0xABCDEF, clock_seq=7)


def outcome(fn: object) -> object:
    try:
        return fn()  # type: ignore[operator]
    except errors.CqlError as e:
        return (type(e).__name__, e.message)


COMPILED = [
    (K, "INSERT INTO kv (k, v) VALUES (?, ?)"),
    (K, "INSERT INTO kv (v, k) VALUES (?, ?) USING TTL ?"),
    (K, "INSERT INTO kv (k, v) VALUES (?, ?) USING TIMESTAMP ? AND TTL 0"),
    (K, "INSERT INTO kv (k) VALUES (?)"),
    (K, "UPDATE kv SET v = ? WHERE k = ?"),
    (K, "UPDATE kv USING TTL ? SET v = ? WHERE k = ?"),
    (T, "INSERT INTO t (k, c, d, v, w, s, f) VALUES (?, ?, ?, ?, ?, ?, ?)"),
    (T, "INSERT INTO t (w, d, k, c) VALUES (?, ?, ?, ?)"),
    (T, "INSERT INTO t (k, c, d, s) VALUES (?, 'x', ?, ?)"),
    (T, "INSERT INTO t (k, c, d, v) VALUES (1, ?, 5, null)"),
    (T, "UPDATE t SET v = ?, w = ? WHERE k = ? AND c = ? AND d = ?"),
    (T, "UPDATE t SET f = ?, v = 'lit' WHERE d = ? AND c = ? AND k = ?"),
    (P, "INSERT INTO p (a, b, v) VALUES (?, ?, ?)"),
    (P, "UPDATE p SET v = ? WHERE a = ? AND b = ?"),
]

INTERPRETED = [
    (T, "INSERT INTO t (k, c, d, st) VALUES (?, ?, ?, ?)"),  # a non-frozen collection
    (T, "INSERT INTO t (k, c, d, u) VALUES (?, ?, ?, ?)"),  # a user type
    (T, "INSERT INTO t (k, c, v) VALUES (?, ?, ?)"),  # a clustering column missing
    (T, "INSERT INTO t (k, c, d, w) VALUES (?, ?, ?, ?) IF NOT EXISTS"),
    (T, "INSERT INTO t JSON ?"),
    (T, "INSERT INTO t (k, c, d, w) VALUES (?, ?, ?, now())"),
    (T, "UPDATE t SET s = ? WHERE k = ?"),
    (T, "UPDATE t SET w = ? WHERE k = ? AND c = ? AND d IN (?, ?)"),
    (T, "UPDATE t SET w = w + ? WHERE k = ? AND c = ? AND d = ?"),
    (T, "UPDATE t SET w = ? WHERE k = ? AND c = ? AND d = ? IF w = 1"),
    (T, "DELETE FROM t WHERE k = ?"),
    (N, "UPDATE n SET n = n + ? WHERE k = ?"),
    (N, "INSERT INTO n (k) VALUES (?)"),
]


def _stmt(q: str) -> ast.Insert | ast.Update | ast.Delete:
    s = parse(q).statement
    assert isinstance(s, ast.Insert | ast.Update | ast.Delete)
    return s


@pytest.mark.parametrize(("tbl", "q"), COMPILED)
def test_compiled_forms_have_plans(tbl: TableDef, q: str) -> None:
    assert compiled.compile_write(_stmt(q), tbl) is not None


@pytest.mark.parametrize(("tbl", "q"), INTERPRETED)
def test_other_forms_are_interpreted(tbl: TableDef, q: str) -> None:
    assert compiled.compile_write(_stmt(q), tbl) is None


def _value(type_text: str, rng: random.Random) -> Value:
    """A bound value: usually valid, sometimes null, unset, empty or malformed."""
    r = rng.random()
    if r < 0.06:
        return None
    if r < 0.1:
        return UNSET
    if r < 0.14:
        return b""
    if r < 0.18:
        return b"\x01\x02\x03"  # a bad int, bigint or list
    if type_text == "int":
        return struct.pack(">i", rng.randrange(-5, 5))
    if type_text == "bigint":
        return struct.pack(">q", rng.randrange(-5, 5))
    if type_text == "text":
        return rng.choice([b"a", b"b", b"\xff\xfe", b"x" * 70_000])  # bad UTF-8, too long
    if type_text == "blob":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 8)))
    if type_text == "frozen<list<int>>":
        n = rng.randrange(3)
        return struct.pack(">i", n) + b"".join(
            struct.pack(">i", 4) + struct.pack(">i", rng.randrange(9)) for _ in range(n))
    raise AssertionError(type_text)


def _receivers(stmt: ast.Insert | ast.Update, tbl: TableDef) -> list[str]:
    """The type of each bind marker, by index."""
    types: dict[int, str] = {}

    def note(term: ast.Term | None, type_text: str) -> None:
        if isinstance(term, ast.BindMarker):
            types[term.index] = type_text

    note(stmt.using.timestamp, "bigint")
    note(stmt.using.ttl, "int")
    if isinstance(stmt, ast.Insert):
        for name, term in zip(stmt.columns, stmt.values, strict=True):
            c = tbl.column(name)
            assert c is not None
            note(term, c.type)
    else:
        for rel in stmt.where:
            c = tbl.column(str(rel.lhs))
            assert c is not None and not isinstance(rel.rhs, tuple)
            note(rel.rhs, c.type)
        for a in stmt.assignments:
            c = tbl.column(a.column)
            assert c is not None
            note(a.value, c.type)
    return [types[i] for i in range(len(types))]


@pytest.mark.parametrize(("tbl", "q"), COMPILED)
def test_plans_build_what_dml_builds(tbl: TableDef, q: str) -> None:
    stmt = _stmt(q)
    assert not isinstance(stmt, ast.Delete)
    plans = compiled.Plans()
    rng = random.Random(q)
    receivers = _receivers(stmt, tbl)
    for _ in range(300):
        values: tuple[Value, ...] = tuple(
            struct.pack(">i", rng.choice([0, 1, 60, -1])) if t == "int" and i == _ttl_index(stmt)
            else _value(t, rng) for i, t in enumerate(receivers))
        want = outcome(lambda v=values: build_mutations(stmt, tbl, SCHEMA, ctx(v), TS, NOW_S))
        got = outcome(lambda v=values: plans.mutations(stmt, tbl, SCHEMA, ctx(v), TS, NOW_S))
        assert got == want, values


def _ttl_index(stmt: ast.Insert | ast.Update) -> int:
    t = stmt.using.ttl
    return t.index if isinstance(t, ast.BindMarker) else -1


def test_a_new_table_definition_compiles_again() -> None:
    """A schema change gives a new TableDef (a new default TTL here): the plan follows it."""
    stmt = _stmt("INSERT INTO kv (k, v) VALUES (?, ?)")
    plans = compiled.Plans()
    values = (struct.pack(">q", 1), b"v")
    (first,) = plans.mutations(stmt, K, SCHEMA, ctx(values), TS, NOW_S)
    assert first.rows[0].marker is not None and first.rows[0].marker.ttl_s == 3600
    altered = TableDef(K.keyspace, K.name, K.id, K.columns, (("default_time_to_live", 60),))
    (second,) = plans.mutations(stmt, altered, SCHEMA, ctx(values), TS, NOW_S)
    assert second.rows[0].marker is not None and second.rows[0].marker.ttl_s == 60


def test_counter_still_refused_by_name() -> None:
    plans = compiled.Plans()
    for tbl, q, feature in [(N, "INSERT INTO n (k) VALUES (?)", "counter")]:
        stmt = _stmt(q)
        values = tuple(struct.pack(">q", 1) for _ in range(parse(q).bind_count))
        with pytest.raises(errors.InvalidRequest, match=feature):
            plans.mutations(stmt, tbl, SCHEMA, ctx(values), TS, NOW_S)
