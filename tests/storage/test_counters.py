"""Counter cells (storage.counters): the CRDT's laws (hypothesis), the leader's step, replays,
the encoding, and how the storage merge, codec and engine treat counter cells."""

from __future__ import annotations

import random
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_storage_strategies import HOSTS, KEY, TABLE, cells, counter_cells, shard_maps

from skewless.errors import RemoteProtocolError
from skewless.storage import codec, counters, merge
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row

A, B, C = (uuid.UUID(bytes=h) for h in HOSTS)
INT64_MAX = (1 << 63) - 1


def pu(*cells_: Cell, deletion: Deletion | None = None, ck: bytes = b"\x01") -> PartitionUpdate:
    rows = (Row(ck, cells=tuple(CellWrite("c", b"", c) for c in cells_)),) if cells_ else ()
    return PartitionUpdate(TABLE, KEY, deletion, rows=rows)


# --- laws ---------------------------------------------------------------------------------------
@given(shard_maps, shard_maps, shard_maps)
def test_merge_values_is_a_semilattice_join(a: dict[bytes, tuple[int, int]],
                                            b: dict[bytes, tuple[int, int]],
                                            c: dict[bytes, tuple[int, int]]) -> None:
    x, y, z = counters.encode(a), counters.encode(b), counters.encode(c)
    mv = counters.merge_values
    assert mv(x, y) == mv(y, x)
    assert mv(mv(x, y), z) == mv(x, mv(y, z))
    assert mv(x, x) == x
    assert mv(mv(x, y), y) == mv(x, y)


@settings(max_examples=300)
@given(cells(), cells(), cells())
def test_reconcile_over_every_cell_is_a_semilattice_join(a: Cell, b: Cell, c: Cell) -> None:
    r = merge.reconcile_cells
    assert r(a, b) == r(b, a)
    assert r(r(a, b), c) == r(a, r(b, c))
    assert r(a, a) == a
    assert r(r(a, b), b) == r(a, b)


@given(counter_cells(), cells())
def test_a_non_counter_cell_beats_a_counter_cell_whatever_the_timestamps(
        k: Cell, other: Cell) -> None:
    if not other.counter:
        assert merge.reconcile_cells(k, other) == other


def test_a_tombstone_wins_over_a_newer_counter_cell() -> None:
    tomb = Cell(1, None, deleted_s=1)
    k = counters.cell(100, {HOSTS[0]: (5, 7)})
    assert merge.reconcile_cells(tomb, k) == tomb
    assert merge.reconcile_cells(k, tomb) == tomb


def test_shards_merge_per_host_by_clock_then_count() -> None:
    a = counters.cell(3, {HOSTS[0]: (5, 10), HOSTS[1]: (2, 1)})
    b = counters.cell(4, {HOSTS[0]: (4, 99), HOSTS[1]: (2, 3), HOSTS[2]: (1, -1)})
    m = merge.reconcile_cells(a, b)
    assert m.ts_us == 4 and m.counter
    assert counters.shards_of(m) == {HOSTS[0]: (5, 10), HOSTS[1]: (2, 3), HOSTS[2]: (1, -1)}
    assert counters.total(m) == 12


# --- the leader's step and replays ------------------------------------------------------------
@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([A, B, C]), st.integers(-1000, 1000),
                          st.integers(0, 5)), min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_replicas_converge_to_the_sum_whatever_the_delivery(
        increments: list[tuple[uuid.UUID, int, int]], rnd: random.Random) -> None:
    """Each increment is led by one replica (read its own cell, step, apply); its resulting
    state is then delivered to every replica in any order, any number of times (hints, read
    repair, batchlog replays): every replica ends with the same cell, whose total is the sum."""
    local: dict[uuid.UUID, Cell | None] = {A: None, B: None, C: None}
    states: list[Cell] = []
    now = 0
    for leader, delta, tick in increments:
        now += tick  # a clock that may stand still
        new = counters.leader_step(local[leader], leader, delta, now, now)
        cur = local[leader]
        local[leader] = new if cur is None else merge.reconcile_cells(cur, new)
        states.append(new)
    finals = []
    for _ in range(3):
        deliveries = states + rnd.choices(states, k=len(states))  # duplicates: replays
        rnd.shuffle(deliveries)
        acc = deliveries[0]
        for s in deliveries[1:]:
            acc = merge.reconcile_cells(acc, s)
        finals.append(acc)
    assert finals[0] == finals[1] == finals[2]
    assert counters.total(finals[0]) == sum(d for _, d, _ in increments)


def test_leader_step_clock_and_count() -> None:
    first = counters.leader_step(None, A, 5, now_us=100, ts_us=7)
    assert first.ts_us == 7 and counters.shards_of(first) == {A.bytes: (100, 5)}
    # the clock never goes back, even when the wall clock does
    second = counters.leader_step(first, A, -2, now_us=50, ts_us=8)
    assert counters.shards_of(second) == {A.bytes: (101, 3)}
    # only the leader's own shard is sent, the others' shards stay out of the mutation
    other = merge.reconcile_cells(second, counters.cell(9, {B.bytes: (1, 40)}))
    third = counters.leader_step(other, A, 1, now_us=500, ts_us=10)
    assert counters.shards_of(third) == {A.bytes: (500, 4)}
    assert counters.total(merge.reconcile_cells(other, third)) == 44


def test_leader_step_over_a_tombstone_starts_afresh_and_stays_deleted() -> None:
    tomb = Cell(5, None, deleted_s=1)
    step = counters.leader_step(tomb, A, 3, now_us=10, ts_us=20)
    assert counters.shards_of(step) == {A.bytes: (10, 3)}
    assert merge.reconcile_cells(tomb, step) == tomb


def test_counts_wrap_like_a_java_long() -> None:
    top = counters.leader_step(None, A, INT64_MAX, 1, 1)
    assert counters.total(counters.leader_step(top, A, 1, 2, 2)) == -(1 << 63)
    both = merge.reconcile_cells(top, counters.cell(1, {B.bytes: (1, 1)}))
    assert counters.total(both) == -(1 << 63)
    assert counters.wrap64(1 << 64) == 0


def test_leader_step_at_the_last_clock_does_not_overflow() -> None:
    last = counters.cell(1, {A.bytes: (INT64_MAX, 1)})
    step = counters.leader_step(last, A, 1, 0, 2)
    assert counters.shards_of(step) == {A.bytes: (INT64_MAX, 2)}
    counters.encode(counters.shards_of(step))  # still encodable


def test_read_cell_is_the_total_as_a_bigint() -> None:
    k = counters.cell(3, {HOSTS[0]: (1, 40), HOSTS[1]: (1, 2)})
    assert counters.read_cell(k) == Cell(3, struct.pack(">q", 42))
    plain = Cell(3, b"x")
    assert counters.read_cell(plain) is plain


# --- encoding ---------------------------------------------------------------------------------
@given(shard_maps)
def test_encoding_round_trips(shards: dict[bytes, tuple[int, int]]) -> None:
    value = counters.encode(shards)
    assert len(value) == 1 + 32 * len(shards)
    assert counters.decode(value) == shards


@pytest.mark.parametrize("value", [
    b"", b"\x02" + bytes(32), b"\x01", b"\x01" + bytes(31),
    b"\x01" + HOSTS[1] + bytes(16) + HOSTS[0] + bytes(16),  # out of order
    b"\x01" + HOSTS[0] + bytes(16) + HOSTS[0] + bytes(16),  # a host twice
])
def test_malformed_contexts_are_refused(value: bytes) -> None:
    with pytest.raises(counters.BadCounterValue):
        counters.decode(value)
    assert counters.check(value) is not None


def test_codec_carries_counter_cells_and_refuses_bad_ones() -> None:
    k = counters.cell(3, {HOSTS[0]: (1, 40)})
    assert codec.decode_cell(codec.encode_cell(k)) == k
    update = pu(k)
    assert codec.decode_update(codec.encode_update(update)) == update
    for fields in ([3, b"\x01junk", True], [3, None, True], [3, k.value, False], [3, 1, True]):
        with pytest.raises(RemoteProtocolError):
            codec.cell_from(fields)
    with pytest.raises(RemoteProtocolError, match="row marker"):
        codec.row_from([b"", codec.cell_fields(k), None, [], []])


# --- deletions and the storage engine ---------------------------------------------------------
def test_any_covering_deletion_removes_a_counter_cell_whatever_the_timestamps() -> None:
    k = counters.cell(100, {HOSTS[0]: (1, 1)})
    assert merge.merge(pu(k), pu(deletion=Deletion(1, 1))).rows == ()
    row_deleted = PartitionUpdate(TABLE, KEY, rows=(Row(b"\x01", deletion=Deletion(1, 1)),))
    assert merge.merge(pu(k), row_deleted).rows[0].cells == ()
    assert merge.merge(pu(Cell(50, b"v")), pu(deletion=Deletion(1, 1))).rows != ()


def test_shadowing_reports_counter_cells_a_deletion_kills() -> None:
    k = counters.cell(100, {HOSTS[0]: (1, 1)})
    assert merge.shadowed_by(pu(Cell(1, None, deleted_s=1)), pu(k))
    assert merge.shadowed_by(pu(deletion=Deletion(1, 1)), pu(k))
    other = counters.cell(1, {HOSTS[1]: (1, 1)})
    assert merge.shadowed_by(pu(other), pu(k)) == ()  # merged, not lost
    assert merge.shadowed_by(pu(k), pu(deletion=Deletion(1, 1))) == ()  # the deletion wins


def test_the_engine_merges_counter_cells_and_never_writes_them_blind() -> None:
    storage = Storage(MemoryKV())
    a = counters.cell(10, {HOSTS[0]: (1, 5)})
    b = counters.cell(20, {HOSTS[1]: (1, 7)})
    storage.apply(pu(a), 0)
    assert not storage.blind_apply_possible(pu(b))  # newer than everything, still read
    storage.apply(pu(b), 0)
    storage.apply(pu(a), 0)  # a replay
    stored = storage.read(TABLE, KEY, 0)
    (cell,) = (w.cell for w in stored.rows[0].cells)
    assert counters.total(cell) == 12 and cell.ts_us == 20


# --- partition-level helpers -------------------------------------------------------------------
def test_leader_update_sums_a_statements_increments_per_cell() -> None:
    current = PartitionUpdate(TABLE, KEY, static_row=Row(b"", cells=(
        CellWrite("s", b"", counters.cell(1, {A.bytes: (10, 100), B.bytes: (3, 7)})),)),
        rows=(Row(b"\x01", cells=(CellWrite("n", b"", counters.cell(1, {A.bytes: (4, 1)})),)),))
    incs = [counters.Increment(b"\x01", "n", 2), counters.Increment(b"\x01", "n", 3),
            counters.Increment(b"\x02", "n", -1), counters.Increment(b"", "s", 5, static=True)]
    u = counters.leader_update(TABLE, KEY, incs, current, A, now_us=50, ts_us=60)
    assert u.static_row is not None
    (s,) = u.static_row.cells
    assert counters.shards_of(s.cell) == {A.bytes: (50, 105)} and s.cell.ts_us == 60
    assert [r.clustering for r in u.rows] == [b"\x01", b"\x02"]
    assert counters.shards_of(u.rows[0].cells[0].cell) == {A.bytes: (50, 6)}
    assert counters.shards_of(u.rows[1].cells[0].cell) == {A.bytes: (50, -1)}
    merged = merge.merge(current, u)
    assert counters.total(merged.static_row.cells[0].cell) == 112  # type: ignore[union-attr]
    assert counters.leader_update(TABLE, KEY, incs[:1], None, B, 1, 1).rows[0].cells[0].cell == (
        counters.cell(1, {B.bytes: (1, 2)}))


def test_read_view_turns_counter_cells_into_bigints() -> None:
    k = counters.cell(3, {HOSTS[0]: (1, 40), HOSTS[1]: (1, 2)})
    p = PartitionUpdate(TABLE, KEY, static_row=Row(b"", cells=(CellWrite("s", b"", k),)),
                        rows=(Row(b"\x01", cells=(CellWrite("n", b"", k),)), Row(b"\x02")))
    v = counters.read_view(p)
    assert v.rows[0].cells[0].cell == Cell(3, struct.pack(">q", 42))
    assert v.static_row is not None and v.static_row.cells[0].cell == Cell(3, struct.pack(">q", 42))
    assert v.rows[1] is p.rows[1]
