"""SELECT: read plans, rendering (selection, aggregates, filtering, limits) and paging."""

from __future__ import annotations

import dataclasses
import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.dml import build_mutations
from skewless.cql.paging import (
    PagingState,
    decode_paging_state,
    encode_paging_state,
)
from skewless.cql.parser import parse
from skewless.cql.results import ColumnSpec
from skewless.cql.select import (
    FILTERING_MSG,
    ClusteringSlice,
    ReadPlan,
    plan_select,
    render,
    select_result_columns,
)
from skewless.cql.terms import EvalContext, Value
from skewless.node.binds import bind_metadata
from skewless.ring import MAX_TOKEN, token_of
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage.keys import composite_partition_key, encode_clustering
from skewless.storage.merge import merge
from skewless.storage.model import PartitionUpdate, Row

NOW_S = 1_700_000_000


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def i64(n: int) -> bytes:
    return struct.pack(">q", n)


def col(name: str, t: str, kind: str, pos: int = -1, order: str = "none") -> ColumnDef:
    return ColumnDef(name, t, kind, pos, order)  # type: ignore[arg-type]


def tdef(name: str, *cols: ColumnDef) -> TableDef:
    return TableDef("ks", name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols)


T = tdef("t", col("k", "int", "partition_key", 0), col("c", "int", "clustering", 0, "asc"),
         col("s", "int", "static"), col("st", "set<int>", "regular"),
         col("v", "text", "regular"), col("w", "int", "regular"))
D = tdef("d", col("k", "int", "partition_key", 0), col("a", "int", "clustering", 0, "asc"),
         col("b", "int", "clustering", 1, "desc"), col("v", "int", "regular"))
CP = tdef("cp", col("x", "text", "partition_key", 0), col("y", "int", "partition_key", 1),
          col("v", "int", "regular"))
SCHEMA = Schema(tables=(T, D, CP))


def ctx(*values: Value) -> EvalContext:
    return EvalContext(NOW_S * 1_000_000, lambda n: bytes(n), list(values), "ks")


class Store:
    """A single in-memory replica: partitions merged by key."""

    def __init__(self) -> None:
        self.parts: dict[bytes, PartitionUpdate] = {}

    def run(self, q: str, table: TableDef, ts: int = 1000, *values: Value) -> None:
        stmt = parse(q).statement
        assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
        for u in build_mutations(stmt, table, SCHEMA, ctx(*values), ts, NOW_S):
            old = self.parts.get(u.key)
            self.parts[u.key] = u if old is None else merge(old, u)

    def read(self, plan: ReadPlan) -> list[PartitionUpdate]:
        if plan.partition_keys is not None:
            return [self.parts[k] for k in plan.partition_keys if k in self.parts]
        return sorted(self.parts.values(), key=lambda p: (token_of(p.key), p.key))


def plan(q: str, table: TableDef = T, *values: Value, page_size: int | None = None,
         paging: PagingState | None = None) -> ReadPlan:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Select)
    return plan_select(stmt, table, SCHEMA, ctx(*values), paging, page_size)


def rows(store: Store, q: str, table: TableDef = T, now_s: int = NOW_S
         ) -> list[tuple[bytes | None, ...]]:
    p = plan(q, table)
    return list(render(p, store.read(p), now_s).rows)


def invalid(q: str, msg: str, table: TableDef = T, *values: Value) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        plan(q, table, *values)
    assert msg in e.value.message, e.value.message


@pytest.fixture
def store() -> Store:
    s = Store()
    for k in (1, 2):
        for c in range(4):
            s.run(f"INSERT INTO t (k, c, v, w) VALUES ({k}, {c}, 'v{c}', {k * 10 + c})", T)
    s.run("UPDATE t SET s = 7 WHERE k = 1", T)
    s.run("INSERT INTO t (k, s) VALUES (3, 9)", T)  # a partition with only static data
    s.run("UPDATE t USING TTL 100 SET v = 'ttl' WHERE k = 2 AND c = 3", T, 2000)
    s.run("UPDATE t SET st = {5, 1} WHERE k = 2 AND c = 0", T)
    return s


# ---------------------------------------------------------------- plans


def test_partition_keys_in_sorted_distinct_order() -> None:
    assert plan("SELECT * FROM t WHERE k IN (3, 1, 3, 2)").partition_keys == (
        i32(1), i32(2), i32(3))
    assert plan("SELECT * FROM cp WHERE x IN ('b', 'a') AND y = 1", CP).partition_keys == (
        composite_partition_key([b"a", i32(1)]), composite_partition_key([b"b", i32(1)]))
    assert plan("SELECT * FROM t WHERE k IN ?", T, struct.pack(">i", 2) + struct.pack(
        ">i", 4) + i32(9) + struct.pack(">i", 4) + i32(-1)).partition_keys == (i32(-1), i32(9))


def test_token_scans() -> None:
    p = plan("SELECT * FROM t")
    assert p.is_scan and p.token_end == (MAX_TOKEN, True)
    p = plan("SELECT * FROM t WHERE token(k) > ? AND token(k) <= 100", T, i64(-5))
    assert p.token_start == (-5, False) and p.token_end == (100, True)
    p = plan("SELECT * FROM t WHERE token(k) = token(4)")
    assert p.token_start == p.token_end == (token_of(i32(4)), True)
    invalid("SELECT * FROM cp WHERE token(x) > 0", "must be applied to all partition key", CP)


def test_clustering_slices() -> None:
    def enc(*vals: tuple[int, bool]) -> bytes:
        return encode_clustering([("int", d, i32(v)) for v, d in vals])

    assert plan("SELECT * FROM t WHERE k = 1 AND c IN (3, 1)").slices == (
        ClusteringSlice(enc((1, False)), True, enc((1, False)), True),
        ClusteringSlice(enc((3, False)), True, enc((3, False)), True))
    assert plan("SELECT * FROM t WHERE k = 1 AND c >= 2 AND c < 5").slices == (
        ClusteringSlice(enc((2, False)), True, enc((5, False)), False),)
    # b is DESC: b > 2 is an upper bound in byte order
    assert plan("SELECT * FROM d WHERE k = 1 AND a = 1 AND b > 2", D).slices == (
        ClusteringSlice(enc((1, False)), True, enc((1, False), (2, True)), False),)
    assert plan("SELECT * FROM d WHERE k = 1 AND (a, b) = (1, 2)", D).slices == (
        ClusteringSlice(enc((1, False), (2, True)), True, enc((1, False), (2, True)), True),)
    single = tdef("m", col("k", "int", "partition_key", 0), col("a", "int", "clustering", 0),
                  col("b", "int", "clustering", 1))
    assert plan("SELECT * FROM m WHERE k = 1 AND (a, b) > (1, 2)", single).slices == (
        ClusteringSlice(enc((1, False), (2, False)), False, b"", True),)


@pytest.mark.parametrize("q,msg", [
    ("SELECT * FROM t WHERE c = 1", FILTERING_MSG),
    ("SELECT * FROM t WHERE k = 1 AND v = 'a'", FILTERING_MSG),
    ("SELECT * FROM t WHERE k > 1", "Only EQ and IN relation are supported on the partition key"),
    ("SELECT * FROM d WHERE k = 1 AND b = 1", 'PRIMARY KEY column "b" cannot be restricted as '
     'preceding column "a" is not restricted'),
    ("SELECT * FROM d WHERE k = 1 AND a > 1 AND b = 1", 'Clustering column "b" cannot be '
     'restricted (preceding column "a" is restricted by a non-EQ relation)'),
    ("SELECT * FROM d WHERE k = 1 ORDER BY b DESC", "following their declared order"),
    ("SELECT * FROM d WHERE k = 1 ORDER BY a ASC, b ASC", "Unsupported order by relation"),
    ("SELECT * FROM d WHERE k = 1 ORDER BY v ASC", "only supported on the clustered columns"),
    ("SELECT * FROM d ORDER BY a DESC", "ORDER BY is only supported when the partition key"),
    ("SELECT * FROM t WHERE k = 1 LIMIT 0", "LIMIT must be strictly positive"),
    ("SELECT DISTINCT c FROM t", "must only request partition key columns and/or static"),
    ("SELECT DISTINCT s FROM t", "must request all the partition key columns (missing k)"),
    ("SELECT writetime(k) FROM t", "Cannot use selection function writetime on PRIMARY KEY "
     "part k"),  # Cassandra 5's words (4.x said writeTime)
    ("SELECT nope FROM t", "Undefined column name nope"),
    ("SELECT * FROM t WHERE k = 1 AND c = 1 AND c = 2", "cannot be restricted by more than one "
     "relation if it includes an Equal"),
    ("SELECT * FROM t WHERE v != 'a' ALLOW FILTERING", 'Unsupported "!=" relation'),
])
def test_plan_errors(q: str, msg: str) -> None:
    invalid(q, msg, D if " d " in q else T)


def test_order_by_reverses_and_in_with_order_by_refuses_paging() -> None:
    assert plan("SELECT * FROM d WHERE k = 1 ORDER BY a DESC, b ASC", D).reversed
    assert not plan("SELECT * FROM d WHERE k = 1 ORDER BY a ASC", D).reversed
    with pytest.raises(errors.InvalidRequest, match="Cannot page queries with both ORDER BY"):
        plan("SELECT * FROM d WHERE k IN (1, 2) ORDER BY a DESC", D, page_size=100)
    assert plan("SELECT * FROM d WHERE k IN (1, 2) ORDER BY a DESC LIMIT 5", D, page_size=100)


def test_result_columns_without_values() -> None:
    stmt = parse("SELECT k, writetime(v) AS wt, ttl(v), count(*), max(w), token(k), "
                 "CAST(w AS text) FROM t").statement
    assert isinstance(stmt, ast.Select)
    names = [(c.name, c.type) for c in select_result_columns(stmt, T, SCHEMA)]
    assert names == [("k", "int"), ("wt", "bigint"), ("ttl(v)", "int"), ("count", "bigint"),
                     ("system.max(w)", "int"), ("system.token(k)", "bigint"),
                     ("cast(w as text)", "text")]
    star = parse("SELECT * FROM t").statement
    assert isinstance(star, ast.Select)
    assert [c.name for c in select_result_columns(star, T, SCHEMA)] == [
        "k", "c", "s", "st", "v", "w"]


# ---------------------------------------------------------------- render


def test_select_star_static_and_collections(store: Store) -> None:
    got = rows(store, "SELECT * FROM t WHERE k IN (2, 3)")
    assert got[0] == (i32(2), i32(0), None, struct.pack(">i", 2) + struct.pack(">i", 4) + i32(1)
                      + struct.pack(">i", 4) + i32(5), b"v0", i32(20))
    assert len(got) == 5
    assert got[-1] == (i32(3), None, i32(9), None, None, None)  # static-only partition
    assert rows(store, "SELECT * FROM t WHERE k = 3 AND c = 1") == []
    # only static columns selected: still one result per row (Cassandra's StaticColumnsTest),
    # the static row alone for the partition without rows
    assert rows(store, "SELECT k, s FROM t WHERE k IN (1, 3)") == [(i32(1), i32(7))] * 4 + [
        (i32(3), i32(9))]
    assert rows(store, "SELECT DISTINCT k, s FROM t WHERE k IN (1, 3)") == [
        (i32(1), i32(7)), (i32(3), i32(9))]


def test_writetime_ttl_token_cast(store: Store) -> None:
    got = rows(store, "SELECT writetime(v), ttl(v), ttl(w), token(k), CAST(w AS text), "
                      "CAST(w AS bigint) FROM t WHERE k = 2 AND c = 3")
    assert got == [(i64(2000), i32(100), None, i64(token_of(i32(2))), b"23", i64(23))]
    assert rows(store, "SELECT ttl(v) FROM t WHERE k = 2 AND c = 3", now_s=NOW_S + 40) == [
        (i32(60),)]
    assert rows(store, "SELECT v FROM t WHERE k = 2 AND c = 3", now_s=NOW_S + 100) == [(None,)]


def test_aggregates(store: Store) -> None:
    got = rows(store, "SELECT count(*), count(s), min(w), max(w), sum(w), avg(w), k "
                      "FROM t WHERE k IN (1, 2)")
    assert got == [(i64(8), i64(4), i32(10), i32(23), i32(132), i32(16), i32(1))]
    assert rows(store, "SELECT count(*), max(w), sum(w) FROM t WHERE k = 9") == [
        (i64(0), None, i32(0))]
    assert rows(store, "SELECT count(1) FROM t") == [(i64(9),)]


def test_filtering_limits_order(store: Store) -> None:
    by_token = sorted((1, 2), key=lambda k: token_of(i32(k)))  # a scan goes in token order
    matching = {1: [2, 3], 2: [0, 1]}
    assert rows(store, "SELECT k, c FROM t WHERE w > 11 AND w < 22 ALLOW FILTERING") == [
        (i32(k), i32(c)) for k in by_token for c in matching[k]]
    assert rows(store, "SELECT c FROM t WHERE k = 2 AND st CONTAINS 5 ALLOW FILTERING") == [
        (i32(0),)]
    assert rows(store, "SELECT c FROM t WHERE k = 1 ORDER BY c DESC LIMIT 2") == [
        (i32(3),), (i32(2),)]
    assert rows(store, "SELECT k, c FROM t WHERE k IN (1, 2) PER PARTITION LIMIT 1") == [
        (i32(1), i32(0)), (i32(2), i32(0))]
    assert rows(store, "SELECT DISTINCT k, s FROM t WHERE k IN (1, 2, 3)") == [
        (i32(1), i32(7)), (i32(2), None), (i32(3), i32(9))]
    assert rows(store, "SELECT c FROM t WHERE k = 1 AND c IN (3, 0, 2)") == [
        (i32(0),), (i32(2),), (i32(3),)]


# ---------------------------------------------------------------- paging


def pages(store: Store, q: str, table: TableDef, size: int) -> list[tuple[bytes | None, ...]]:
    out: list[tuple[bytes | None, ...]] = []
    state: PagingState | None = None
    for _ in range(1000):
        p = plan(q, table, page_size=size, paging=state)
        page = render(p, store.read(p), NOW_S)
        assert len(page.rows) <= size
        out.extend(page.rows)
        if not page.more:
            return out
        assert page.state is not None
        state = decode_paging_state(encode_paging_state(page.state))
    raise AssertionError("paging did not terminate")


@pytest.mark.parametrize("q,expect", [
    ("SELECT k, a, b FROM d WHERE k = 0", [(0, a, b) for a in range(10) for b in range(4, -1, -1)]),
    ("SELECT k, a, b FROM d WHERE k = 0 ORDER BY a DESC",
     [(0, a, b) for a in range(9, -1, -1) for b in range(5)]),
    ("SELECT k, a, b FROM d WHERE k IN (2, 0, 1)",
     [(k, a, b) for k in range(3) for a in range(10) for b in range(4, -1, -1)]),
    ("SELECT k, a, b FROM d WHERE k IN (0, 1) LIMIT 60",
     [(k, a, b) for k in range(2) for a in range(10) for b in range(4, -1, -1)][:60]),
    ("SELECT k, a, b FROM d WHERE k IN (0, 1) PER PARTITION LIMIT 9",
     [(k, a, b) for k in range(2) for a in range(10) for b in range(4, -1, -1)
      if a * 5 + 4 - b < 9]),
    ("SELECT k, a, b FROM d WHERE k = 1 AND a >= 3 AND a < 6",
     [(1, a, b) for a in range(3, 6) for b in range(4, -1, -1)]),
])
@pytest.mark.parametrize("size", [1, 7, 50, 1000])
def test_paging_returns_every_row_once(q: str, expect: list[tuple[int, int, int]],
                                       size: int) -> None:
    s = Store()
    for k in range(3):
        for a in range(10):
            for b in range(5):
                s.run(f"INSERT INTO d (k, a, b, v) VALUES ({k}, {a}, {b}, 0)", D)
    got = pages(s, q, D, size)
    assert got == [(i32(k), i32(a), i32(b)) for k, a, b in expect]


def test_scan_paging_covers_all_partitions_once() -> None:
    s = Store()
    for k in range(20):
        for a in range(3):
            s.run(f"INSERT INTO d (k, a, b, v) VALUES ({k}, {a}, 0, {k})", D)
    got = pages(s, "SELECT k, a FROM d", D, 7)
    assert sorted(got) == sorted((i32(k), i32(a)) for k in range(20) for a in range(3))
    assert len(got) == 60
    tokens = [token_of(r[0] or b"") for r in got]
    assert tokens == sorted(tokens)
    assert len(pages(s, "SELECT DISTINCT k FROM d", D, 3)) == 20
    assert len(pages(s, "SELECT k FROM d LIMIT 11", D, 4)) == 11


# ---------------------------------------------------------------- bind metadata


def test_bind_metadata_names_and_routing_indexes() -> None:
    def meta(q: str, table: TableDef) -> tuple[list[tuple[str, str]], tuple[int, ...]]:
        parsed = parse(q)
        specs, idx = bind_metadata(parsed.statement, parsed, table, SCHEMA)
        assert all(isinstance(s, ColumnSpec) and s.table == table.name for s in specs)
        return [(s.name, s.type) for s in specs], idx

    assert meta("SELECT * FROM t WHERE k = ? AND c IN ? AND token(k) > ? LIMIT ?", T) == (
        [("k", "int"), ("in(c)", "list<int>"), ("partition key token", "bigint"),
         ("[limit]", "int")], (0,))
    assert meta("INSERT INTO cp (y, x, v) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?", CP) == (
        [("y", "int"), ("x", "text"), ("v", "int"), ("[ttl]", "int"),
         ("[timestamp]", "bigint")], (1, 0))
    assert meta("UPDATE t SET st = st + ?, v = ? WHERE k IN ? AND c = ?", T) == (
        [("st", "set<int>"), ("v", "text"), ("in(k)", "list<int>"), ("c", "int")], ())
    assert meta("DELETE FROM cp WHERE x = ? AND y = 1", CP)[1] == ()


def test_map_values_count_entries_as_the_drivers_decode_them() -> None:
    """A map value's count is its number of entries (not of keys and values), frozen or not."""
    from cassandra.cqltypes import lookup_casstype

    m = tdef("m", col("k", "int", "partition_key", 0), col("m", "map<text, int>", "regular"),
             col("f", "frozen<map<text, int>>", "regular"))
    s = Store()
    s.run("INSERT INTO m (k, m, f) VALUES (1, {'a': 1, 'b': 2}, {'x': 9})", m)
    (got,) = rows(s, "SELECT m, f FROM m WHERE k = 1", m)
    driver_map = lookup_casstype("MapType(UTF8Type, Int32Type)")
    assert dict(driver_map.deserialize(got[0], 4)) == {"a": 1, "b": 2}
    assert dict(driver_map.deserialize(got[1], 4)) == {"x": 9}


def _replica_rows(p: ReadPlan, part: PartitionUpdate) -> tuple[Row, ...]:
    """The rows a replica reads: those inside the plan's slices for the partition."""
    def inside(c: bytes) -> bool:
        for sl in p.slices_for(part.key):
            rng = sl.byte_range()
            if rng is not None and rng[0] <= c and (rng[1] is None or c < rng[1]):
                return True
        return False
    return tuple(r for r in part.rows if inside(r.clustering))


def test_full_page_from_row_limited_replicas_says_more() -> None:
    """Replicas return at most row_limit_hint() rows per partition: a page filled by them must
    carry a paging state (the driver fetches the rest), not end the result."""
    s = Store()
    for a in range(10):
        s.run(f"INSERT INTO d (k, a, b, v) VALUES (0, {a}, 0, 0)", D)
    out: list[tuple[bytes | None, ...]] = []
    state: PagingState | None = None
    for _ in range(10):
        p = plan("SELECT a FROM d WHERE k = 0", D, page_size=4, paging=state)
        limit = p.row_limit_hint()
        assert limit == 4
        parts = [dataclasses.replace(part, rows=_replica_rows(p, part)[:limit])
                 for part in s.read(p)]
        page = render(p, parts, NOW_S)
        out.extend(page.rows)
        if not page.more:
            break
        assert page.state is not None
        state = decode_paging_state(encode_paging_state(page.state))
    assert out == [(i32(a),) for a in range(10)]
