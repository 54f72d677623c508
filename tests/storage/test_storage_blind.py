"""Writes without reading (storage.newest): the blind path stores and reports exactly what the
read-merge path does, across random sequences, syncs, crashes and reopens."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import msgpack
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_storage_strategies import TABLE, updates

from skewless.storage import keys, newest
from skewless.storage.engine import Storage, partition_prefix
from skewless.storage.kv import KV, Batch, MemoryKV
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row

KEYS = [b"pk", b"other", b"third"]


class ReadMergeStorage(Storage):
    """The reference: every update takes the read-merge path."""

    def _may_write_blind(self, update: PartitionUpdate, token: int, oldest_us: int) -> bool:
        return False


class CountingKV:
    """A MemoryKV that counts reads (range scans and gets of data keys)."""

    def __init__(self, inner: MemoryKV) -> None:
        self.inner = inner
        self.scans = 0
        self.gets = 0

    def get(self, key: bytes) -> bytes | None:
        self.gets += key[:1] == b"d"
        return self.inner.get(key)

    def write(self, batch: Batch) -> None:
        self.inner.write(batch)

    def iter_from(self, start: bytes, end: bytes | None,
                  reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        self.scans += 1
        return self.inner.iter_from(start, end, reverse)

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.inner.delete_range(start, end)

    def sync(self) -> None:
        self.inner.sync()

    def close(self) -> None:
        self.inner.close()

    def size_bytes(self) -> int:
        return self.inner.size_bytes()


def _shift_cell(c: Cell, dt: int) -> Cell:
    return dataclasses.replace(c, ts_us=c.ts_us + dt)


def _shift_deletion(d: Deletion | None, dt: int) -> Deletion | None:
    return None if d is None else dataclasses.replace(d, ts_us=d.ts_us + dt)


def _shift_row(r: Row, dt: int, writes_only: bool) -> Row:
    return Row(
        r.clustering, None if r.marker is None else _shift_cell(r.marker, dt),
        None if writes_only else _shift_deletion(r.deletion, dt),
        tuple(CellWrite(w.column, w.path, _shift_cell(w.cell, dt)) for w in r.cells),
        () if writes_only else tuple((c, d) for c, d in
                                     ((c, _shift_deletion(d, dt)) for c, d in r.column_deletions)
                                     if d is not None),
    )


def shifted(p: PartitionUpdate, key: bytes, dt: int, writes_only: bool) -> PartitionUpdate:
    """``p`` for partition ``key`` with every timestamp moved by ``dt``; with ``writes_only``,
    without its deletions."""
    return PartitionUpdate(
        p.table, key, None if writes_only else _shift_deletion(p.deletion, dt),
        () if writes_only else tuple(
            dataclasses.replace(t, deletion=_shift_deletion(t.deletion, dt) or t.deletion)
            for t in p.range_tombstones),
        None if p.static_row is None else _shift_row(p.static_row, dt, writes_only),
        tuple(_shift_row(r, dt, writes_only) for r in p.rows),
    )


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[PartitionUpdate, str]]:
    """Updates (timestamps below, equal to and above what came before, deletions or not), each
    followed by nothing, a sync or a crash."""
    out = []
    for i in range(draw(st.integers(1, 12))):
        base = draw(updates())
        key = draw(st.sampled_from(KEYS))
        dt = draw(st.sampled_from([0, 0, 3, 10 * i, 10 * i + 3, -2]))
        writes_only = draw(st.booleans()) or draw(st.booleans())
        after = draw(st.sampled_from(["", "", "", "sync", "crash"]))
        out.append((shifted(base, key, dt, writes_only), after))
    return out


def _contents(kv: KV) -> list[tuple[bytes, bytes]]:
    return list(kv.iter_from(b"", None))


def _check_mark(kv: KV) -> None:
    """Every stored timestamp is at most the durable high-water mark."""
    stored = [v for k, v in kv.iter_from(b"d", b"e")]
    if not stored:
        return
    raw = kv.get(b"mtimestamp_high_water")
    assert raw is not None
    assert newest.newest_of_values(stored) <= newest.decode_high_water(raw)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps(), st.sampled_from([1, 2, 1024]))
def test_blind_path_equals_read_merge_path(seq: list[tuple[PartitionUpdate, str]],
                                           buckets: int) -> None:
    """Few buckets: partitions share them (only ever less blind, never wrong)."""
    kv_blind, kv_ref = MemoryKV(), MemoryKV()
    blind, ref = Storage(kv_blind, buckets), ReadMergeStorage(kv_ref, buckets)
    for update, after in seq:
        event("blind" if blind.blind_apply_possible(update) else "read-merge")
        assert blind.apply(update, 5) == ref.apply(update, 5)
        assert _contents(kv_blind) == _contents(kv_ref)
        if after == "sync":
            blind.sync()
            ref.sync()
        elif after == "crash":
            kv_blind, kv_ref = kv_blind.crash(), kv_ref.crash()
            assert _contents(kv_blind) == _contents(kv_ref)
            _check_mark(kv_blind)
            blind, ref = Storage(kv_blind, buckets), ReadMergeStorage(kv_ref, buckets)
    _check_mark(kv_blind)


def _insert(key: bytes, ck: bytes, ts: int, ttl: bool = False) -> PartitionUpdate:
    cell = Cell(ts, b"v", 10, 100) if ttl else Cell(ts, b"v")
    return PartitionUpdate(TABLE, key, rows=(Row(ck, Cell(ts, b""), None,
                                                 (CellWrite("a", b"", cell),)),))


def test_new_writes_do_not_read_and_old_ones_do() -> None:
    kv = CountingKV(MemoryKV())
    s = Storage(kv)
    s.apply(_insert(b"k", b"\x01", 1000), 0)  # the first apply reads the (empty) store once
    kv.scans = kv.gets = 0
    for i in range(10):
        assert s.apply(_insert(b"k%d" % i, b"\x01", 2000 + i), 0).shadowed == ()
    assert kv.scans == 0 and kv.gets == 0  # no read at all, markers included
    report = s.apply(_insert(b"k3", b"\x01", 1500), 0)  # below what the partition holds
    assert kv.scans > 0
    assert [x.existing_ts_us for x in report.shadowed] == [2003, 2003]


def test_a_blind_marker_keeps_the_row_deletion() -> None:
    kv = CountingKV(MemoryKV())
    s = Storage(kv)
    s.apply(PartitionUpdate(TABLE, b"k", rows=(Row(b"\x01", deletion=Deletion(10, 1)),)), 0)
    update = _insert(b"k", b"\x01", 20)
    assert s.blind_apply_possible(update)  # the marker has a key of its own
    kv.scans = kv.gets = 0
    s.apply(update, 0)
    assert kv.scans == 0 and kv.gets == 0
    stored = s.stored(TABLE, b"k")
    assert stored.rows[0].deletion == Deletion(10, 1) and stored.rows[0].marker == Cell(20, b"")


def _legacy_row(ck: bytes, marker: Cell | None, deletion: Deletion | None) -> tuple[bytes, bytes]:
    """A row header as stores written before the marker's own key hold it."""
    prefix = partition_prefix(TABLE, b"k") + b"\x03" + keys.escape(ck)
    value = msgpack.packb([None if marker is None else [marker.ts_us, marker.value],
                           None if deletion is None else [deletion.ts_us, deletion.deleted_s]])
    return prefix + b"\x00", value


def test_a_store_from_before_the_split_reads_and_rewrites_its_headers() -> None:
    kv = MemoryKV()
    ReadMergeStorage(kv).apply(_insert(b"k", b"\x02", 5), 0)  # the mark and a cell
    kv.write([_legacy_row(b"\x01", Cell(30, b""), Deletion(10, 1)),
              _legacy_row(b"\x02", Cell(5, b""), None)])
    s = Storage(kv)
    assert s.stored(TABLE, b"k").rows[0] == Row(b"\x01", Cell(30, b""), Deletion(10, 1))
    s.apply(_insert(b"k", b"\x02", 100), 0)  # blind: the old header stays beside the marker
    row = s.stored(TABLE, b"k").rows[1]
    assert row.marker == Cell(100, b"") and row.deletion is None
    s.apply(PartitionUpdate(TABLE, b"k", rows=(Row(b"\x01", deletion=Deletion(20, 2)),)), 0)
    stored = s.stored(TABLE, b"k")
    assert stored.rows[0] == Row(b"\x01", Cell(30, b""), Deletion(20, 2))
    ref = MemoryKV()  # what the same rows written in the split form look like
    ReadMergeStorage(ref).apply(stored, 0)
    s.apply(_insert(b"k", b"\x02", 50), 0)  # below the stored marker: the read-merge path
    rewritten = [(k, v) for k, v in kv.iter_from(b"d", b"e") if k[-1:] in (b"\x00", b"\x02")]
    assert rewritten == [(k, v) for k, v in ref.iter_from(b"d", b"e")
                         if k[-1:] in (b"\x00", b"\x02")]


def test_restart_is_conservative_and_the_mark_moves_in_steps() -> None:
    kv = MemoryKV()
    s = Storage(kv)
    s.apply(_insert(b"k", b"\x01", 5_000_000), 0)
    s.sync()
    mark = kv.get(b"mtimestamp_high_water")
    assert mark is not None and newest.decode_high_water(mark) > 5_000_000
    for i in range(100):  # within one step: the mark is not rewritten
        s.apply(_insert(b"j%d" % i, b"\x01", 5_000_001 + i), 0)
    assert kv.get(b"mtimestamp_high_water") == mark
    s.apply(_insert(b"k", b"\x02", 9_000_000), 0)  # unsynced: lost in the crash with its mark
    reopened = Storage(kv.crash())
    assert not reopened.blind_apply_possible(_insert(b"k", b"\x01", 5_000_100))
    assert reopened.blind_apply_possible(_insert(b"k", b"\x01", 7_000_000))
    report = reopened.apply(_insert(b"k", b"\x01", 4_000_000), 0)
    assert [x.existing_ts_us for x in report.shadowed] == [5_000_000, 5_000_000]


def test_a_store_without_the_mark_is_read_once() -> None:
    kv = MemoryKV()
    ReadMergeStorage(kv).apply(_insert(b"k", b"\x01", 777, ttl=True), 0)
    kv.write([(b"mtimestamp_high_water", None)])  # as a store from before the mark holds it
    s = Storage(kv)
    assert not s.blind_apply_possible(_insert(b"z", b"\x01", 777))
    assert s.blind_apply_possible(_insert(b"z", b"\x01", 778))


def test_unsynced_is_derived_from_writes() -> None:
    s = Storage(MemoryKV())
    assert not s.take_unsynced()
    s.put_meta("x", b"1")
    assert s.take_unsynced()
    assert not s.take_unsynced()
    s.apply(_insert(b"k", b"\x01", 1), 0)
    s.sync()
    assert not s.take_unsynced()
    s.read(TABLE, b"k", 0)
    assert not s.take_unsynced()
    s.truncate(TABLE)
    assert s.take_unsynced()
