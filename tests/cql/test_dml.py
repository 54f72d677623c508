"""INSERT / UPDATE / DELETE / BATCH -> exact PartitionUpdates, and term evaluation."""

from __future__ import annotations

import struct
import uuid

import pytest
from cassandra import util

from skewless import errors
from skewless.cql import ast
from skewless.cql.dml import (
    batch_mutations,
    build_mutations,
    list_path,
    list_reads,
    using_timestamp,
    using_ttl,
)
from skewless.cql.paging import PagingState, decode_paging_state, encode_paging_state
from skewless.cql.parser import parse
from skewless.cql.terms import UNSET, Env, EvalContext, Value, evaluate
from skewless.schema import ColumnDef, Schema, TableDef, UserType
from skewless.storage.keys import composite_partition_key, encode_clustering
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

TS, NOW_S = 1_000_000, 1_700_000_000


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def table(name: str, *cols: ColumnDef, options: tuple[tuple[str, object], ...] = ()) -> TableDef:
    return TableDef("ks", name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols, options)


def pk(name: str, t: str = "int", pos: int = 0) -> ColumnDef:
    return ColumnDef(name, t, "partition_key", pos)


def ck(name: str, t: str = "int", pos: int = 0, desc: bool = False) -> ColumnDef:
    return ColumnDef(name, t, "clustering", pos, "desc" if desc else "asc")


def reg(name: str, t: str = "int") -> ColumnDef:
    return ColumnDef(name, t, "regular", -1)


def static(name: str, t: str = "int") -> ColumnDef:
    return ColumnDef(name, t, "static", -1)


T = table("t", pk("k"), ck("c"), static("s"), reg("v", "text"), reg("w"))
C = table("coll", pk("k"), reg("st", "set<int>"), reg("m", "map<text, int>"), reg("l", "list<int>"),
          reg("fl", "frozen<list<int>>"), reg("u", "addr"))
SCHEMA = Schema(tables=(T, C), types=(UserType("ks", "addr", ("street", "zip"), ("text", "int")),))


def ctx(*values: Value, now_us: int = 1_700_000_000_123_456) -> EvalContext:
    return EvalContext(now_us, lambda n: bytes(range(n)), list(values), "ks", node_id=0xABCDEF,
                       clock_seq=7)


def mut(q: str, tbl: TableDef = T, *values: Value, ts: int = TS) -> list[PartitionUpdate]:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
    return build_mutations(stmt, tbl, SCHEMA, ctx(*values), ts, NOW_S)


def one(q: str, tbl: TableDef = T, *values: Value) -> PartitionUpdate:
    (u,) = mut(q, tbl, *values)
    return u


def enc(*values: int, desc: bool = False) -> bytes:
    return encode_clustering([("int", desc, i32(v)) for v in values])


def live(v: bytes, ttl: int = 0) -> Cell:
    return Cell(TS, v, ttl, NOW_S + ttl if ttl else 0)


TOMB = Cell(TS, None, deleted_s=NOW_S)


def invalid(q: str, msg: str, tbl: TableDef = T, *values: Value) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        mut(q, tbl, *values)
    assert msg in e.value.message, e.value.message


# ---------------------------------------------------------------- INSERT


def test_insert_writes_marker_and_cells_sorted() -> None:
    u = one("INSERT INTO t (k, c, w, v) VALUES (1, 2, 3, 'x')")
    assert u == PartitionUpdate(T.table_key, i32(1), rows=(Row(
        enc(2), marker=live(b""),
        cells=(CellWrite("v", b"", live(b"x")), CellWrite("w", b"", live(i32(3))))),))


def test_insert_null_is_tombstone_and_unset_is_skipped() -> None:
    u = one("INSERT INTO t (k, c, v, w) VALUES (?, ?, ?, ?)", T, i32(1), i32(2), None, UNSET)
    assert u.rows == (Row(enc(2), marker=live(b""), cells=(CellWrite("v", b"", TOMB),)),)


def test_insert_static_goes_to_static_row_without_marker() -> None:
    u = one("INSERT INTO t (k, c, s, v) VALUES (1, 2, 5, 'x')")
    assert u.static_row == Row(b"", cells=(CellWrite("s", b"", live(i32(5))),))
    assert u.rows == (Row(enc(2), marker=live(b""), cells=(CellWrite("v", b"", live(b"x")),)),)
    only = one("INSERT INTO t (k, s) VALUES (1, 5)")
    assert only.rows == () and only.static_row is not None and only.static_row.marker is None


def test_insert_composite_partition_key_and_desc_clustering() -> None:
    tbl = table("cp", pk("a", "text"), pk("b", "int", 1), ck("c", "int", 0, desc=True), reg("v"))
    u = one("INSERT INTO cp (a, b, c, v) VALUES ('x', 2, 3, 4)", tbl)
    assert u.key == composite_partition_key([b"x", i32(2)])
    assert u.rows[0].clustering == enc(3, desc=True)
    assert enc(4, desc=True) < enc(3, desc=True)


def test_insert_ttl_and_table_default() -> None:
    u = one("INSERT INTO t (k, c, v) VALUES (1, 2, 'x') USING TTL 60")
    assert u.rows[0].marker == live(b"", 60)
    assert u.rows[0].cells == (CellWrite("v", b"", live(b"x", 60)),)
    tbl = table("d", pk("k"), reg("v"), options=(("default_time_to_live", 100),))
    assert one("INSERT INTO d (k, v) VALUES (1, 2)", tbl).rows[0].marker == live(b"", 100)
    assert one("INSERT INTO d (k, v) VALUES (1, 2) USING TTL 0", tbl).rows[0].marker == live(b"")
    invalid("INSERT INTO t (k, c) VALUES (1, 2) USING TTL -1",
            "A TTL must be greater or equal to 0, but was -1")
    invalid("INSERT INTO t (k, c) VALUES (1, 2) USING TTL 630720001", "ttl is too large")


def test_using_timestamp_and_ttl_values() -> None:
    stmt = parse("UPDATE t USING TIMESTAMP ? AND TTL ? SET v = 'a' WHERE k = 1 AND c = 1").statement
    assert isinstance(stmt, ast.Update)
    assert using_timestamp(stmt, ctx(struct.pack(">q", 42), i32(5))) == 42
    assert using_timestamp(stmt, ctx(UNSET, i32(5))) is None
    assert using_ttl(stmt, ctx(UNSET, i32(5)), T) == 5
    assert using_ttl(stmt, ctx(UNSET, UNSET), T) == 0
    with pytest.raises(errors.InvalidRequest, match="Invalid null value of timestamp"):
        using_timestamp(stmt, ctx(None, i32(5)))


@pytest.mark.parametrize("q,msg", [
    ("INSERT INTO t (c, v) VALUES (1, 'x')", "Some partition key parts are missing: k"),
    ("INSERT INTO t (k, v) VALUES (1, 'x')", "Some clustering keys are missing: c"),
    ("INSERT INTO t (k, c, nope) VALUES (1, 2, 3)", "Undefined column name nope"),
    ("INSERT INTO t (k, c, v) VALUES (1, 2)", "Unmatched column names/values"),
    ("INSERT INTO t (k, c) VALUES (null, 2)", "Invalid null value in condition for column k"),
    ("INSERT INTO t (k, c, w) VALUES (1, 2, 'text')", "Invalid STRING constant"),
])
def test_insert_errors(q: str, msg: str) -> None:
    invalid(q, msg)


def test_a_conditional_statement_builds_its_writes_and_a_counter_update_a_delta_cell() -> None:
    # the IF clause is cql.cas's (node.lwt_path runs it): dml builds the writes it guards
    for q, plain in [("INSERT INTO t (k, c) VALUES (1, 2) IF NOT EXISTS",
                      "INSERT INTO t (k, c) VALUES (1, 2)"),
                     ("UPDATE t SET v = 'a' WHERE k = 1 AND c = 1 IF v = 'b'",
                      "UPDATE t SET v = 'a' WHERE k = 1 AND c = 1"),
                     ("DELETE FROM t WHERE k = 1 IF EXISTS", "DELETE FROM t WHERE k = 1")]:
        assert mut(q) == mut(plain), q
    ctr = table("ctr", pk("k"), reg("n", "counter"))
    (u,) = mut("UPDATE ctr SET n = n - 3 WHERE k = 1", ctr)
    assert [(w.column, w.cell.value) for w in u.rows[0].cells] == [
        ("n", struct.pack(">q", -3))]


# ---------------------------------------------------------------- UPDATE


def test_update_writes_no_marker_and_fans_out_over_in() -> None:
    us = mut("UPDATE t SET v = 'a' WHERE k IN (1, 2) AND c IN (5, 3)")
    assert [u.key for u in us] == [i32(1), i32(2)]
    for u in us:
        assert u.rows == tuple(Row(enc(c), cells=(CellWrite("v", b"", live(b"a")),))
                               for c in (3, 5))


def test_update_static_only_needs_no_clustering() -> None:
    u = one("UPDATE t SET s = 1 WHERE k = 1")
    assert u.rows == () and u.static_row == Row(b"", cells=(CellWrite("s", b"", live(i32(1))),))
    invalid("UPDATE t SET s = 1 WHERE k = 1 AND c = 2",
            "Invalid restrictions on clustering columns since the UPDATE statement modifies only "
            "static columns")


@pytest.mark.parametrize("q,msg", [
    ("UPDATE t SET c = 1 WHERE k = 1 AND c = 2", "PRIMARY KEY part c found in SET part"),
    ("UPDATE t SET v = 'a' WHERE c = 2", "Some partition key parts are missing: k"),
    ("UPDATE t SET v = 'a' WHERE k = 1", "Some clustering keys are missing: c"),
    ("UPDATE t SET x = 1 WHERE k = 1 AND c = 1", "Undefined column name x"),
    ("UPDATE t SET v = 'a' WHERE k = 1 AND c > 1", "Slice restrictions are not supported"),
    ("UPDATE t SET v = 'a' WHERE k = 1 AND c = 1 AND w = 2", "Non PRIMARY KEY columns found"),
    ("UPDATE t SET w = w + 1 WHERE k = 1 AND c = 1", "for non counter column w"),
])
def test_update_errors(q: str, msg: str) -> None:
    invalid(q, msg)


# ---------------------------------------------------------------- DELETE


def test_delete_columns_row_partition() -> None:
    assert one("DELETE v, s FROM t WHERE k = 1 AND c = 2") == PartitionUpdate(
        T.table_key, i32(1), static_row=Row(b"", cells=(CellWrite("s", b"", TOMB),)),
        rows=(Row(enc(2), cells=(CellWrite("v", b"", TOMB),)),))
    d = Deletion(TS, NOW_S)
    assert one("DELETE FROM t WHERE k = 1 AND c = 2").rows == (Row(enc(2), deletion=d),)
    assert one("DELETE FROM t WHERE k = 1") == PartitionUpdate(T.table_key, i32(1), deletion=d)
    assert one("DELETE s FROM t WHERE k = 1").static_row == Row(
        b"", cells=(CellWrite("s", b"", TOMB),))


def test_delete_ranges() -> None:
    d = Deletion(TS, NOW_S)
    two = table("two", pk("k"), ck("a"), ck("b", "int", 1, desc=True), reg("v"))
    assert one("DELETE FROM two WHERE k = 1 AND a = 5", two).range_tombstones == (
        RangeTombstone(enc(5), True, enc(5), True, d),)
    assert one("DELETE FROM t WHERE k = 1 AND c > 3 AND c <= 9").range_tombstones == (
        RangeTombstone(enc(3), False, enc(9), True, d),)
    b_desc = encode_clustering([("int", False, i32(5)), ("int", True, i32(2))])
    assert one("DELETE FROM two WHERE k = 1 AND a = 5 AND b > 2", two).range_tombstones == (
        RangeTombstone(enc(5), True, b_desc, False, d),)
    invalid("DELETE v FROM t WHERE k = 1 AND c > 2", "Range deletions are not supported for "
            "specific columns")
    invalid("DELETE k FROM t WHERE k = 1", "Invalid identifier k for deletion")


# ---------------------------------------------------------------- collections


def test_set_overwrite_add_remove() -> None:
    row = one("UPDATE coll SET st = {3, 1, 3} WHERE k = 1", C).rows[0]
    assert row.column_deletions == (("st", Deletion(TS - 1, NOW_S)),)
    assert row.cells == (CellWrite("st", i32(1), live(b"")), CellWrite("st", i32(3), live(b"")))
    row = one("UPDATE coll SET st = st + {2}, st = st - {4} WHERE k = 1", C).rows[0]
    assert row.column_deletions == ()
    assert row.cells == (CellWrite("st", i32(2), live(b"")), CellWrite("st", i32(4), TOMB))


def test_map_operations() -> None:
    row = one("UPDATE coll SET m['a'] = 1, m = m - {'b'} WHERE k = 1", C).rows[0]
    assert row.cells == (CellWrite("m", b"a", live(i32(1))), CellWrite("m", b"b", TOMB))
    row = one("INSERT INTO coll (k, m) VALUES (1, {'z': 1, 'a': 2})", C).rows[0]
    assert [w.path for w in row.cells] == [b"a", b"z"]
    assert one("DELETE m['a'] FROM coll WHERE k = 1", C).rows[0].cells == (
        CellWrite("m", b"a", TOMB),)
    assert one("DELETE m FROM coll WHERE k = 1", C).rows[0].column_deletions == (
        ("m", Deletion(TS, NOW_S)),)


def test_bound_collection_is_split_into_cells() -> None:
    bound = struct.pack(">i", 2) + struct.pack(">i", 4) + i32(9) + struct.pack(">i", 4) + i32(8)
    row = one("UPDATE coll SET st = ? WHERE k = 1", C, bound).rows[0]
    assert [w.path for w in row.cells] == [i32(8), i32(9)]
    assert one("UPDATE coll SET st = ? WHERE k = 1", C, UNSET).rows == ()
    null_row = one("UPDATE coll SET st = ? WHERE k = 1", C, None).rows[0]
    assert null_row.cells == () and null_row.column_deletions == (("st", Deletion(TS - 1,
                                                                                  NOW_S)),)


def test_list_append_and_prepend_order_by_path() -> None:
    row = one("UPDATE coll SET l = l + [7, 8] WHERE k = 1", C).rows[0]
    assert [w.cell.value for w in row.cells] == [i32(7), i32(8)]
    (later,) = mut("UPDATE coll SET l = [5] + l WHERE k = 1", C, ts=TS + 10)
    prepended = later.rows[0].cells[0].path
    assert prepended < row.cells[0].path < row.cells[1].path
    assert list_path(TS, 0, ctx()) < list_path(TS + 1, 0, ctx())
    invalid("UPDATE coll SET l[0] = 1 WHERE k = 1", "set an element on a list which is null", C)


def _with_list(q: str, *values: int) -> PartitionUpdate:
    """``q`` written against partition k=1 whose list l holds ``values`` (read before write)."""
    current = PartitionUpdate(C.table_key, i32(1), rows=(Row(b"", cells=tuple(
        CellWrite("l", bytes([i]), Cell(TS - 100, i32(v))) for i, v in enumerate(values))),))
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Update | ast.Delete)
    assert list_reads(stmt, C, SCHEMA, ctx()) == [(i32(1), ())]
    (u,) = build_mutations(stmt, C, SCHEMA, ctx(), TS, NOW_S, current=[current])
    return u


def test_list_ops_that_read_before_write() -> None:
    assert _with_list("UPDATE coll SET l[1] = 9 WHERE k = 1", 5, 6, 7).rows[0].cells == (
        CellWrite("l", bytes([1]), live(i32(9))),)
    assert _with_list("DELETE l[2] FROM coll WHERE k = 1", 5, 6, 7).rows[0].cells == (
        CellWrite("l", bytes([2]), TOMB),)
    assert _with_list("UPDATE coll SET l = l - [5, 7] WHERE k = 1", 5, 6, 7, 5).rows[0].cells == (
        CellWrite("l", bytes([0]), TOMB), CellWrite("l", bytes([2]), TOMB),
        CellWrite("l", bytes([3]), TOMB))
    with pytest.raises(errors.InvalidRequest, match="List index 3 out of bound, list has size 3"):
        _with_list("UPDATE coll SET l[3] = 9 WHERE k = 1", 5, 6, 7)
    stmt = parse("UPDATE coll SET l = l + [1] WHERE k = 1").statement
    assert isinstance(stmt, ast.Update)
    assert list_reads(stmt, C, SCHEMA, ctx()) == []


def test_frozen_list_is_one_cell_and_udt_fields_are_cells() -> None:
    row = one("UPDATE coll SET fl = [1, 2] WHERE k = 1", C).rows[0]
    assert row.cells == (CellWrite("fl", b"", live(
        struct.pack(">i", 2) + struct.pack(">i", 4) + i32(1) + struct.pack(">i", 4) + i32(2))),)
    row = one("UPDATE coll SET u = {zip: 5} WHERE k = 1", C).rows[0]
    assert row.cells == (CellWrite("u", struct.pack(">h", 1), live(i32(5))),)
    assert row.column_deletions == (("u", Deletion(TS - 1, NOW_S)),)
    row = one("UPDATE coll SET u.street = 'x' WHERE k = 1", C).rows[0]
    assert row.cells == (CellWrite("u", struct.pack(">h", 0), live(b"x")),)


# ---------------------------------------------------------------- BATCH


def test_batch_merges_updates_of_one_partition() -> None:
    b = parse("BEGIN BATCH INSERT INTO t (k, c, v) VALUES (1, 1, 'a'); "
              "UPDATE t SET w = 2 WHERE k = 1 AND c = 1; "
              "UPDATE t USING TIMESTAMP 7 SET w = 3 WHERE k = 2 AND c = 1; APPLY BATCH").statement
    assert isinstance(b, ast.Batch)
    us = batch_mutations(b, SCHEMA, ctx(), TS, NOW_S)
    assert [u.key for u in us] == [i32(1), i32(2)]
    assert us[0].rows == (Row(enc(1), marker=live(b""), cells=(
        CellWrite("v", b"", live(b"a")), CellWrite("w", b"", live(i32(2))))),)
    assert us[1].rows[0].cells[0].cell.ts_us == 7
    bad = parse("BEGIN BATCH USING TIMESTAMP 5 UPDATE t USING TIMESTAMP 7 SET w = 3 WHERE k = 2 "
                "AND c = 1; APPLY BATCH").statement
    assert isinstance(bad, ast.Batch)
    with pytest.raises(errors.InvalidRequest, match="either on BATCH or individual"):
        batch_mutations(bad, SCHEMA, ctx(), TS, NOW_S)


# ---------------------------------------------------------------- functions and terms


def ev(term_text: str, type_text: str, c: EvalContext | None = None) -> Value:
    stmt = parse(f"INSERT INTO t (k) VALUES ({term_text})").statement
    assert isinstance(stmt, ast.Insert)
    return evaluate(stmt.values[0], type_text, Env(c or ctx(), SCHEMA, "ks"), "x")


def test_now_is_a_deterministic_distinct_timeuuid() -> None:
    c = ctx()
    a, b = ev("now()", "timeuuid", c), ev("now()", "timeuuid", c)
    assert isinstance(a, bytes) and isinstance(b, bytes) and a != b
    u = uuid.UUID(bytes=a)
    assert u.version == 1 and u.node == 0xABCDEF and u.clock_seq == 7
    assert util.unix_time_from_uuid1(u) == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert ev("now()", "timeuuid", ctx()) == a


def test_time_functions() -> None:
    now_ms = 1_700_000_000_123
    assert ev("toTimestamp(now())", "timestamp") == struct.pack(">q", now_ms)
    assert ev("currentTimestamp()", "timestamp") == struct.pack(">q", now_ms)
    assert ev("toUnixTimestamp(now())", "bigint") == struct.pack(">q", now_ms)
    assert ev("currentDate()", "date") == struct.pack(">I", 2**31 + now_ms // 86_400_000)
    u = ev("uuid()", "uuid")
    assert isinstance(u, bytes) and uuid.UUID(bytes=u).version == 4
    lo = ev("minTimeuuid('2013-01-01 00:05+0000')", "timeuuid")
    oracle = util.min_uuid_from_time(1356998400 + 300)
    assert lo == oracle.bytes
    hi = ev("maxTimeuuid('2013-01-01 00:05+0000')", "timeuuid")
    assert isinstance(hi, bytes) and hi[8:] == b"\x7f" * 8  # Cassandra's, not the driver's
    assert uuid.UUID(bytes=hi).time == oracle.time + 9_999  # the last 100 ns tick of the ms
    with pytest.raises(errors.InvalidRequest, match="Type error"):
        ev("now()", "int")


def test_collection_literal_errors() -> None:
    with pytest.raises(errors.InvalidRequest, match="Invalid list literal"):
        ev("[1]", "set<int>")
    with pytest.raises(errors.InvalidRequest, match="null is not supported inside collections"):
        ev("{1, null}", "set<int>")
    with pytest.raises(errors.InvalidRequest, match="Unknown field 'nope'"):
        ev("{nope: 1}", "frozen<addr>")


# ---------------------------------------------------------------- paging state codec


def test_paging_state_round_trip_and_garbage() -> None:
    for s in (PagingState(b"k", b"c", 5, None), PagingState(b"", None, None, 0)):
        assert decode_paging_state(encode_paging_state(s)) == s
    for junk in (b"", b"\x01", b"\x02abc", b"\x01\x93\x01\x02\x03", encode_paging_state(
            PagingState(b"k", None, None, None))[:-1]):
        with pytest.raises(errors.InvalidRequest, match="Invalid value for the paging state"):
            decode_paging_state(junk)
