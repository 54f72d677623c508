"""Reconciliation at equal timestamps, case by case, as Cassandra 5 resolves it
(``Cells.resolveRegular``, ``LivenessInfo.supersedes``, ``DeletionTime.deletes/supersedes``),
each result checked in both argument orders."""

from __future__ import annotations

import itertools

from test_storage_strategies import KEY, TABLE

from skewless.storage import merge as m
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

TS = 1_000
CK = b"\x00\x04\x00\x00\x00\x01"


def won(a: Cell, b: Cell) -> Cell:
    w = m.reconcile_cells(a, b)
    assert w == m.reconcile_cells(b, a)
    return w


def test_tombstone_beats_live_whatever_the_value() -> None:
    tomb = Cell(TS, None, deleted_s=1)
    assert won(Cell(TS, b"\xff\xff"), tomb) == tomb


def test_tombstone_beats_expiring_even_one_expiring_later() -> None:
    tomb = Cell(TS, None, deleted_s=1)
    assert won(Cell(TS, b"\xff", ttl_s=100, expires_s=10_000), tomb) == tomb


def test_expiring_beats_plain_live_even_with_a_smaller_value() -> None:
    expiring = Cell(TS, b"\x00", ttl_s=100, expires_s=500)
    assert won(Cell(TS, b"\xff"), expiring) == expiring


def test_two_expiring_later_expiry_wins_before_value() -> None:
    later = Cell(TS, b"\x00", ttl_s=100, expires_s=900)
    assert won(Cell(TS, b"\xff", ttl_s=100, expires_s=800), later) == later


def test_two_expiring_same_expiry_greater_value_wins() -> None:
    big = Cell(TS, b"\x02", ttl_s=100, expires_s=900)
    assert won(Cell(TS, b"\x01", ttl_s=100, expires_s=900), big) == big


def test_two_tombstones_later_local_deletion_wins() -> None:
    later = Cell(TS, None, deleted_s=9)
    assert won(Cell(TS, None, deleted_s=3), later) == later


def test_two_live_values_compare_bytewise_unsigned() -> None:
    assert won(Cell(TS, b"\x7f"), Cell(TS, b"\x80")) == Cell(TS, b"\x80")
    assert won(Cell(TS, b"a"), Cell(TS, b"ab")) == Cell(TS, b"ab")


def test_expiring_marker_beats_plain_marker() -> None:
    plain = Row(CK, marker=Cell(TS, b""))
    expiring = Row(CK, marker=Cell(TS, b"", ttl_s=10, expires_s=50))
    for a, b in itertools.permutations([plain, expiring]):
        merged = m.merge(pu(a), pu(b))
        assert merged.rows[0].marker == expiring.marker


def pu(*rows: Row, deletion: Deletion | None = None,
       rts: tuple[RangeTombstone, ...] = ()) -> PartitionUpdate:
    return PartitionUpdate(TABLE, KEY, deletion, rts, None, tuple(rows))


def _both_orders(a: PartitionUpdate, b: PartitionUpdate) -> PartitionUpdate:
    ab, ba = m.merge(a, b), m.merge(b, a)
    assert ab == ba
    return ab


LIVE_ROW = Row(CK, marker=Cell(TS, b""), cells=(CellWrite("v", b"", Cell(TS, b"\x01")),))


def test_row_deletion_beats_marker_and_cells_of_its_timestamp() -> None:
    merged = _both_orders(pu(LIVE_ROW), pu(Row(CK, deletion=Deletion(TS, 1))))
    assert merged.rows == (Row(CK, deletion=Deletion(TS, 1)),)
    assert m.live_view(merged, 0).rows == ()


def test_range_tombstone_beats_rows_of_its_timestamp() -> None:
    rt = RangeTombstone(b"", True, b"", True, Deletion(TS, 1))
    merged = _both_orders(pu(LIVE_ROW), pu(rts=(rt,)))
    assert merged.rows == () and merged.range_tombstones == (rt,)


def test_partition_deletion_beats_rows_and_range_tombstones_of_its_timestamp() -> None:
    rt = RangeTombstone(CK, True, CK, True, Deletion(TS, 7))
    merged = _both_orders(pu(LIVE_ROW, rts=(rt,)), pu(deletion=Deletion(TS, 1)))
    assert merged.rows == () and merged.range_tombstones == ()
    assert merged.deletion == Deletion(TS, 1)


def test_equal_timestamp_deletions_later_local_time_wins() -> None:
    merged = _both_orders(pu(deletion=Deletion(TS, 1)), pu(deletion=Deletion(TS, 5)))
    assert merged.deletion == Deletion(TS, 5)


def test_column_deletion_beats_cell_of_its_timestamp() -> None:
    cell = Row(CK, cells=(CellWrite("v", b"", Cell(TS, b"\x01")),))
    merged = _both_orders(pu(cell), pu(Row(CK, column_deletions=(("v", Deletion(TS, 1)),))))
    assert merged.rows[0].cells == ()
