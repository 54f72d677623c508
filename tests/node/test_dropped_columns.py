"""Dropped columns: the drop recorded in the schema (DDL, codec, system_schema.dropped_columns)
and the cells it hides in storage (reads, applied mutations, purges) and at the coordinator."""

from __future__ import annotations

import uuid

import pytest

from skewless import errors
from skewless.cql.parser import parse
from skewless.node.schema.codec import decode_schema, encode_schema
from skewless.node.schema.ddl import apply_ddl
from skewless.schema import DroppedColumn, Schema, TableDef, dropped_by_table
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row

KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
NOW_S = 1_700_000_000


def run(schema: Schema, cql: str, ts: int = 0) -> Schema:
    stmt = parse(cql).statement
    new, _ = apply_ddl(schema, stmt, "ks", uuid.UUID(int=42), ts)  # type: ignore[arg-type]
    return new


def table_after(*steps: tuple[str, int]) -> tuple[Schema, TableDef]:
    schema = run(Schema().with_version(), KS)
    schema = run(schema, "CREATE TABLE t (k int, c int, s int static, v int, l list<int>, "
                         "PRIMARY KEY (k, c))")
    for cql, ts in steps:
        schema = run(schema, cql, ts)
    t = schema.table("ks", "t")
    assert t is not None
    return schema, t


def test_drop_records_type_kind_and_time_and_readd_keeps_it() -> None:
    schema, t = table_after(("ALTER TABLE t DROP l", 100), ("ALTER TABLE t DROP s", 200),
                            ("ALTER TABLE t ADD l list<int>", 300))
    assert t.dropped == (DroppedColumn("l", "list<int>", "regular", 100),
                         DroppedColumn("s", "int", "static", 200))
    assert t.column("l") is not None
    _, again = table_after(("ALTER TABLE t DROP l", 100), ("ALTER TABLE t ADD l list<int>", 0),
                           ("ALTER TABLE t DROP l", 500))
    assert again.dropped == (DroppedColumn("l", "list<int>", "regular", 500),)
    assert dropped_by_table(schema) == {t.table_key: {"l": 100, "s": 200}}


def test_dropped_columns_survive_the_codec_and_change_the_version() -> None:
    schema, _ = table_after(("ALTER TABLE t DROP l", 100))
    assert decode_schema(encode_schema(schema)) == schema
    before, _ = table_after()
    assert before.version != schema.version


@pytest.mark.parametrize("cql,msg", [
    ("ALTER TABLE t ADD l set<int>", "Cannot re-add previously dropped column 'l' of type "
     "set<int>, incompatible with previous type list<int>"),
    ("ALTER TABLE t ADD l frozen<list<int>>", "of type frozen<list<int>>, incompatible"),
    ("ALTER TABLE t ADD v text", "of type text, incompatible with previous type int"),
    ("ALTER TABLE t ADD v int static", "Cannot re-add previously dropped column 'v' of kind "
     "STATIC, incompatible with previous kind REGULAR"),
    ("ALTER TABLE t ADD s int", "of kind REGULAR, incompatible with previous kind STATIC"),
])
def test_readd_refused(cql: str, msg: str) -> None:
    schema, _ = table_after(("ALTER TABLE t DROP l", 1), ("ALTER TABLE t DROP v", 1),
                            ("ALTER TABLE t DROP s", 1))
    with pytest.raises(errors.InvalidRequest) as e:
        run(schema, cql)
    assert msg in e.value.message


@pytest.mark.parametrize("cql", ["ALTER TABLE t ADD v varint", "ALTER TABLE t ADD v blob",
                                 "ALTER TABLE t ADD v int", "ALTER TABLE t ADD l list<int>"])
def test_readd_accepted(cql: str) -> None:
    schema, _ = table_after(("ALTER TABLE t DROP l", 1), ("ALTER TABLE t DROP v", 1))
    run(schema, cql)


# ---------------------------------------------------------------- storage


def _storage(dropped: dict[str, int]) -> Storage:
    s = Storage(MemoryKV())
    s.dropped = {"t1": dropped}
    return s


def _row(ck: bytes, *cells: tuple[str, bytes, int], marker: Cell | None = None,
         col_dels: tuple[tuple[str, Deletion], ...] = ()) -> Row:
    return Row(ck, marker=marker, cells=tuple(
        CellWrite(c, p, Cell(ts, b"x")) for c, p, ts in cells), column_deletions=col_dels)


def test_storage_skips_cells_written_at_or_before_the_drop() -> None:
    s = Storage(MemoryKV())
    s.apply(PartitionUpdate("t1", b"k", static_row=_row(b"", ("s", b"", 10)), rows=(
        _row(b"\x01", ("l", b"p1", 10), ("v", b"", 10), marker=Cell(10, b"")),
        _row(b"\x02", ("l", b"p2", 10), col_dels=(("l", Deletion(9, NOW_S)),)),
        _row(b"\x03", ("l", b"p3", 30)))), NOW_S)
    s.dropped = {"t1": {"l": 20, "s": 20}}
    p = s.read("t1", b"k", NOW_S)
    assert p.static_row is None
    assert p.rows == (_row(b"\x01", ("v", b"", 10), marker=Cell(10, b"")),
                      _row(b"\x03", ("l", b"p3", 30)))
    assert s.read("t1", b"k", NOW_S, row_limit=1).rows == p.rows[:1]
    # a late copy of old data (a hint, a replayed batch, read repair) stays hidden...
    s.apply(PartitionUpdate("t1", b"k", rows=(_row(b"\x02", ("l", b"p9", 20)),)), NOW_S)
    assert s.read("t1", b"k", NOW_S).rows == p.rows
    # ...and a purge removes what is hidden for good, whatever the schema says next
    s.purge_tombstones("t1", 0, NOW_S)
    s.dropped = {}
    after = s.read("t1", b"k", NOW_S)
    assert after.rows == p.rows and after.static_row is None


def test_drop_using_timestamp_parses() -> None:
    stmt = parse("ALTER TABLE t DROP (l, v) USING TIMESTAMP 2500").statement
    assert stmt.drop_columns == ("l", "v") and stmt.drop_timestamp == 2500  # type: ignore[union-attr]
    assert parse("ALTER TABLE t DROP l").statement.drop_timestamp is None  # type: ignore[union-attr]
