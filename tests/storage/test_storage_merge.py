"""Merge laws (hypothesis) and Cassandra's reconciliation rules (examples)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_storage_strategies import KEY, TABLE, cells, updates

from skewless.storage import merge as m
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
    Shadowed,
)


def pu(*rows: Row, deletion: Deletion | None = None, rts: tuple[RangeTombstone, ...] = (),
       static: Row | None = None) -> PartitionUpdate:
    return PartitionUpdate(TABLE, KEY, deletion, rts, static, tuple(rows))


def cell_row(ck: bytes, col: str, cell: Cell) -> Row:
    return Row(ck, cells=(CellWrite(col, b"", cell),))


@given(cells(), cells())
def test_reconcile_symmetric(a: Cell, b: Cell) -> None:
    assert m.reconcile_cells(a, b) == m.reconcile_cells(b, a)
    if not (a.counter and b.counter):  # two counter cells merge into a third
        assert m.reconcile_cells(a, b) in (a, b)


def test_reconcile_rules() -> None:
    assert m.reconcile_cells(Cell(2, b"a"), Cell(1, b"z")) == Cell(2, b"a")
    assert m.reconcile_cells(Cell(1, b"z"), Cell(1, None, deleted_s=5)).value is None
    assert m.reconcile_cells(Cell(1, b"a"), Cell(1, b"b")) == Cell(1, b"b")
    assert m.reconcile_cells(Cell(1, b"a", 5, 10), Cell(1, b"a", 5, 20)).expires_s == 20
    # Cassandra 5 (CASSANDRA-14592): an expiring cell beats a plain one at the same timestamp
    assert m.reconcile_cells(Cell(1, b"a", 5, 10), Cell(1, b"a")) == Cell(1, b"a", 5, 10)


@settings(max_examples=300)
@given(updates(), updates(), updates())
def test_merge_laws(a: PartitionUpdate, b: PartitionUpdate, c: PartitionUpdate) -> None:
    ab = m.merge(a, b)
    assert ab == m.merge(b, a)
    assert m.merge(ab, c) == m.merge(a, m.merge(b, c))
    assert m.merge(ab, ab) == ab
    assert m.merge(ab, b) == ab
    assert m.digest(m.merge(ab, c)) == m.digest(m.merge(c, m.merge(b, a)))


@settings(max_examples=300)
@given(updates(), updates(), st.integers(0, 8))
def test_live_view_order_independent_and_diff_repairs(
    a: PartitionUpdate, b: PartitionUpdate, now_s: int
) -> None:
    merged = m.merge(a, b)
    assert m.live_view(merged, now_s) == m.live_view(m.merge(b, a), now_s)
    replica = m.merge(a, a)
    d = m.diff(merged, replica)
    if d is None:
        assert replica == merged
    else:
        assert m.merge(replica, d) == merged
        assert m.digest(replica) != m.digest(merged)


@settings(max_examples=200)
@given(updates(), st.integers(0, 10), st.integers(0, 3))
def test_purge_keeps_live_view(p: PartitionUpdate, now_s: int, grace: int) -> None:
    purged = m.purge(p, now_s, grace)
    assert m.live_view(purged, now_s) == m.live_view(p, now_s)
    assert m.purge(purged, now_s, grace) == purged


def test_deletions_shadow_equal_timestamps() -> None:
    row = Row(b"\x01", marker=Cell(5, b""), cells=(CellWrite("a", b"", Cell(5, b"v")),))
    assert m.live_view(pu(row), 0).rows[0].cells[0].cell == Cell(5, b"v")
    assert m.live_view(pu(row, deletion=Deletion(5, 0)), 0).rows == ()
    assert len(m.live_view(pu(row, deletion=Deletion(4, 0)), 0).rows) == 1
    rt = RangeTombstone(b"\x01", True, b"\x01", True, Deletion(5, 0))
    assert m.live_view(pu(row, rts=(rt,)), 0).rows == ()
    rt_excl = RangeTombstone(b"\x01", False, b"", True, Deletion(9, 0))
    assert len(m.live_view(pu(row, rts=(rt_excl,)), 0).rows) == 1
    deleted_row = Row(b"\x01", deletion=Deletion(5, 0))
    assert m.live_view(m.merge(pu(row), pu(deleted_row)), 0).rows == ()
    col_del = Row(b"\x01", column_deletions=(("a", Deletion(5, 0)),))
    view = m.live_view(m.merge(pu(row), pu(col_del)), 0)
    assert view.rows[0].cells == () and view.rows[0].marker == Cell(5, b"")


def test_ttl_expiry_and_static_row() -> None:
    p = pu(cell_row(b"\x01", "a", Cell(1, b"v", 10, 100)),
           static=cell_row(b"", "s", Cell(1, b"s")))
    assert len(m.live_view(p, 99).rows) == 1
    assert m.live_view(p, 100).rows == ()
    assert m.live_view(p, 100).static_row is not None
    assert m.live_view(pu(static=cell_row(b"", "s", Cell(1, b"s")), deletion=Deletion(1, 0)),
                       0).static_row is None


def test_purge_after_gc_grace() -> None:
    p = pu(cell_row(b"\x01", "a", Cell(3, None, deleted_s=50)),
           cell_row(b"\x02", "a", Cell(1, b"v", 10, 60)), deletion=Deletion(0, 40))
    assert m.purge(p, 60, 10) == pu(cell_row(b"\x01", "a", Cell(3, None, deleted_s=50)),
                                    cell_row(b"\x02", "a", Cell(1, None, deleted_s=60)))
    assert m.purge(p, 71, 10) == pu()


def test_shadowed_by() -> None:
    existing = pu(cell_row(b"\x01", "a", Cell(10, b"new")), Row(b"\x02", deletion=Deletion(8, 0)))
    incoming = pu(cell_row(b"\x01", "a", Cell(5, b"old")), cell_row(b"\x02", "a", Cell(8, b"x")),
                  cell_row(b"\x03", "a", Cell(1, b"fresh")))
    assert m.shadowed_by(existing, incoming) == (
        Shadowed(b"\x01", "a", b"", 5, 10), Shadowed(b"\x02", "a", b"", 8, 8))
    assert m.shadowed_by(existing, pu(cell_row(b"\x01", "a", Cell(10, b"new")))) == ()
    assert m.shadowed_by(existing, pu(cell_row(b"\x01", "a", Cell(10, b"a")))) == (
        Shadowed(b"\x01", "a", b"", 10, 10),)
    # A delete older than the data it targets misses it.
    assert m.shadowed_by(existing, pu(Row(b"\x01", deletion=Deletion(7, 0)))) == (
        Shadowed(b"\x01", "a", b"", 7, 10),)
    assert m.shadowed_by(existing, pu(deletion=Deletion(9, 0))) == (
        Shadowed(b"\x01", "a", b"", 9, 10),)
