"""Tombstone and batch thresholds, and ReadFailure when replicas refuse a read."""

from __future__ import annotations

from skewless import errors, limits
from skewless.node import thresholds
from skewless.node.coordinator import ReadOp
from skewless.node.messages import ReadRequest
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

D = Deletion(10, 1)


def dead_rows(n: int) -> tuple[Row, ...]:
    return tuple(Row(i.to_bytes(4, "big"), deletion=D) for i in range(n))


def test_every_kind_of_tombstone_counts() -> None:
    row = Row(b"\x01", marker=Cell(5, None), deletion=D,
              cells=(CellWrite("a", b"", Cell(5, None)), CellWrite("b", b"", Cell(5, b"x"))),
              column_deletions=(("s", D),))
    p = PartitionUpdate("t", b"k", D, (RangeTombstone(b"", True, b"", True, D),),
                        Row(b"", cells=(CellWrite("st", b"", Cell(5, None)),)), (row,))
    # partition + range + static cell + (row deletion, column deletion, marker, cell a)
    assert thresholds.tombstones(p) == 1 + 1 + 1 + 4
    assert thresholds.tombstones(PartitionUpdate("t", b"k")) == 0


def test_read_warning_and_refusal_thresholds() -> None:
    at_warn = PartitionUpdate("t", b"k", rows=dead_rows(limits.read_tombstones_warn))
    assert thresholds.read_warnings([at_warn], 0, "ks.t") == ()
    over = PartitionUpdate("t", b"k", rows=dead_rows(limits.read_tombstones_warn + 1))
    (w,) = thresholds.read_warnings([over], 3, "ks.t")
    assert w == (f"Read 3 live rows and {limits.read_tombstones_warn + 1} tombstone cells for "
                 "query on ks.t (see tombstone_warn_threshold)")
    assert thresholds.overwhelming(over, "ks.t") is None
    too_many = PartitionUpdate("t", b"k", rows=dead_rows(limits.read_tombstones_max + 1))
    refusal = thresholds.overwhelming(too_many, "ks.t")
    assert refusal is not None and "Scanned over 100000 tombstones" in refusal


def _op(targets: tuple[str, ...], block_for: int, out: list[object]) -> ReadOp:
    req = ReadRequest(1, "t", b"k", (), False, 0, False)
    return ReadOp(1, req, targets, block_for, 10**9, 4, lambda: 2,
                  lambda e, d: out.append(e if e is not None else d))


def test_read_failure_once_block_for_is_out_of_reach() -> None:
    out: list[object] = []
    op = _op(("a", "b"), 2, out)
    op.first_sends()
    op.on_failure("b")
    assert len(out) == 1 and isinstance(out[0], errors.ReadFailure)
    e = out[0]
    assert (e.consistency, e.received, e.block_for, e.failures, e.data_present) == (
        4, 0, 2, 1, False)
    op.on_failure("a")  # the op is finished: nothing more
    op.expire()
    assert len(out) == 1


def test_failure_of_an_unknown_address_is_ignored_and_data_still_answers() -> None:
    out: list[object] = []
    op = _op(("a",), 1, out)
    op.on_failure("zz")
    assert out == []
    part = PartitionUpdate("t", b"k")
    op.on_response("a", part, b"")
    assert out == [part]
