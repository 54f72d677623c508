"""Engine semantics on both KV backends, against merge as the model."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_storage_strategies import KEY, TABLE, updates

from skewless import limits
from skewless.ring import MIN_TOKEN, token_of
from skewless.storage import keys
from skewless.storage import merge as m
from skewless.storage.engine import Slice, Storage
from skewless.storage.kv import KV, MemoryKV, RocksKV
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
    Shadowed,
)


def _open(kind: str, path: Path) -> KV:
    return MemoryKV() if kind == "memory" else RocksKV(str(path), "none")


@pytest.fixture(params=["memory", "rocks"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    s = Storage(_open(request.param, tmp_path / "db"))
    yield s
    s.close()


def ck(*vals: int) -> bytes:
    return keys.encode_clustering([("int", False, struct.pack(">i", v)) for v in vals])


def cell_row(c: bytes, col: str, cell: Cell, marker: Cell | None = None) -> Row:
    return Row(c, marker=marker, cells=(CellWrite(col, b"", cell),))


def pu(*rows: Row, key: bytes = KEY, deletion: Deletion | None = None,
       rts: tuple[RangeTombstone, ...] = (), static: Row | None = None) -> PartitionUpdate:
    return PartitionUpdate(TABLE, key, deletion, rts, static, tuple(rows))


def live_values(p: PartitionUpdate, now_s: int = 0) -> list[tuple[bytes, str, bytes | None]]:
    view = m.live_view(p, now_s)
    return [(r.clustering, w.column, w.cell.value) for r in view.rows for w in r.cells]


def expected_read(p: PartitionUpdate, now_s: int) -> PartitionUpdate:
    def expire(r: Row) -> Row:
        cells = tuple(CellWrite(w.column, w.path, m.expired_as_tombstone(w.cell, now_s))
                      for w in r.cells)
        marker = None if r.marker is None else m.expired_as_tombstone(r.marker, now_s)
        return Row(r.clustering, marker, r.deletion, cells, r.column_deletions)

    static = None if p.static_row is None else expire(p.static_row)
    return m.normalize(PartitionUpdate(p.table, p.key, p.deletion, p.range_tombstones, static,
                                       tuple(expire(r) for r in p.rows)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(updates(), min_size=1, max_size=5), st.integers(0, 8))
def test_read_equals_merge_of_applied(
    tmp_path_factory: pytest.TempPathFactory, ups: list[PartitionUpdate], now_s: int
) -> None:
    for kind in ("memory", "rocks"):
        s = Storage(_open(kind, tmp_path_factory.mktemp("db") / "db"))
        merged = ups[0]
        for u in ups:
            s.apply(u, now_s)
            merged = m.merge(merged, u)
        assert s.read(TABLE, KEY, now_s) == expected_read(merged, now_s)
        s.close()


@settings(max_examples=60, deadline=None)
@given(updates(), st.lists(st.tuples(st.sampled_from([b"", b"\x01", b"\x02", b"\x02\x00"]),
                                     st.booleans(), st.sampled_from([b"", b"\x01", b"\x03"]),
                                     st.booleans()), max_size=2),
       st.booleans(), st.none() | st.integers(1, 3), st.integers(0, 8))
def test_slices_reverse_limit_against_model(
    u: PartitionUpdate, raw_slices: list[tuple[bytes, bool, bytes, bool]], reverse: bool,
    limit: int | None, now_s: int,
) -> None:
    s = Storage(MemoryKV())
    s.apply(u, now_s)
    slices = [Slice(*x) for x in raw_slices] or None
    full = s.read(TABLE, KEY, now_s)
    ranges = [r for x in raw_slices if (r := keys.clustering_range(*x))]
    if not slices:
        ranges = [(b"", None)]
    selected = [r for r in full.rows if any(keys.in_range(r.clustering, rg) for rg in ranges)]
    if reverse:
        selected.reverse()
    if limit is not None:
        kept, live = [], 0
        for r in selected:
            if live >= limit:
                break
            kept.append(r)
            live += m._live_row(r, now_s) is not None
        selected = kept
    got = s.read(TABLE, KEY, now_s, slices, reverse, limit)
    assert got.rows == tuple(sorted(selected, key=lambda r: r.clustering))
    assert got.deletion == full.deletion and got.static_row == full.static_row


def test_last_write_wins_and_tombstone_on_tie(storage: Storage) -> None:
    storage.apply(pu(cell_row(ck(1), "a", Cell(10, b"new"))), 0)
    report = storage.apply(pu(cell_row(ck(1), "a", Cell(5, b"old"))), 0)
    assert report.shadowed == (Shadowed(ck(1), "a", b"", 5, 10),)
    assert live_values(storage.read(TABLE, KEY, 0)) == [(ck(1), "a", b"new")]
    storage.apply(pu(cell_row(ck(1), "a", Cell(10, None, deleted_s=1))), 0)
    assert live_values(storage.read(TABLE, KEY, 0)) == []
    assert storage.read(TABLE, KEY, 0).rows[0].cells[0].cell == Cell(10, None, deleted_s=1)
    assert storage.apply(pu(cell_row(ck(1), "a", Cell(10, b"zzz"))), 0).shadowed == (
        Shadowed(ck(1), "a", b"", 10, 10),)


def test_range_tombstone_over_prefix_and_partition_deletion(storage: Storage) -> None:
    for a in range(3):
        for b in range(2):
            storage.apply(pu(cell_row(ck(a, b), "v", Cell(5, b"x"))), 0)
    rt = RangeTombstone(ck(1), True, ck(1), True, Deletion(5, 0))
    storage.apply(pu(rts=(rt,)), 0)
    assert [c for c, _, _ in live_values(storage.read(TABLE, KEY, 0))] == [
        ck(0, 0), ck(0, 1), ck(2, 0), ck(2, 1)]
    storage.apply(pu(cell_row(ck(1, 0), "v", Cell(6, b"y"))), 0)
    assert (ck(1, 0), "v", b"y") in live_values(storage.read(TABLE, KEY, 0))
    report = storage.apply(pu(deletion=Deletion(5, 0)), 0)
    assert report.shadowed == (Shadowed(ck(1, 0), "v", b"", 5, 6),)
    assert live_values(storage.read(TABLE, KEY, 0)) == [(ck(1, 0), "v", b"y")]
    read = storage.read(TABLE, KEY, 0, [Slice(ck(2), True, b"", True)])
    assert read.deletion == Deletion(5, 0) and read.rows == () and read.range_tombstones == ()


def test_static_row_and_ttl(storage: Storage) -> None:
    storage.apply(pu(cell_row(ck(1), "v", Cell(1, b"x", 10, 100)),
                     static=cell_row(b"", "s", Cell(1, b"st"))), 0)
    assert live_values(storage.read(TABLE, KEY, 99)) == [(ck(1), "v", b"x")]
    expired = storage.read(TABLE, KEY, 100)
    assert expired.rows[0].cells[0].cell == Cell(1, None, deleted_s=100)
    assert m.live_view(expired, 100).static_row is not None
    sliced = storage.read(TABLE, KEY, 0, [Slice(ck(5), True, b"", True)])
    assert sliced.rows == () and sliced.static_row is not None


def test_purge_after_gc_grace(storage: Storage) -> None:
    storage.apply(pu(cell_row(ck(1), "v", Cell(1, b"x"))), 0)
    storage.apply(pu(Row(ck(1), deletion=Deletion(2, 100))), 100)
    storage.apply(pu(cell_row(ck(2), "v", Cell(1, b"y", 5, 100))), 0)
    assert storage.purge_tombstones(TABLE, 10, 105) == 0
    assert storage.read(TABLE, KEY, 105).rows[0].deletion == Deletion(2, 100)
    assert storage.purge_tombstones(TABLE, 10, 111) == 2
    assert storage.read(TABLE, KEY, 111) == pu()


def test_scan_token_order_wrap_and_resume(storage: Storage) -> None:
    pks = [bytes([i]) for i in range(20)]
    for k in pks:
        storage.apply(pu(cell_row(ck(1), "v", Cell(1, b"x")), cell_row(ck(2), "v", Cell(1, b"x")),
                         key=k), 0)
    by_token = sorted(pks, key=token_of)
    got = [p.key for p in storage.scan(TABLE, MIN_TOKEN, MIN_TOKEN, 0, 100, 1000)]
    assert got == by_token
    mid = token_of(by_token[9])
    assert [p.key for p in storage.scan(TABLE, MIN_TOKEN, mid, 0, 100, 1000)] == by_token[:10]
    wrap = [p.key for p in storage.scan(TABLE, mid, token_of(by_token[2]), 0, 100, 1000)]
    assert wrap == by_token[10:] + by_token[:3]
    assert [p.key for p in storage.scan(TABLE, MIN_TOKEN, MIN_TOKEN, 0, 3, 1000)] == by_token[:3]
    limited = storage.scan(TABLE, MIN_TOKEN, MIN_TOKEN, 0, 100, 5)
    assert [len(p.rows) for p in limited] == [2, 2, 1]
    resumed = storage.scan(TABLE, mid, token_of(by_token[2]), 0, 100, 1000, by_token[15])
    assert [p.key for p in resumed] == by_token[16:] + by_token[:3]
    resumed = storage.scan(TABLE, mid, token_of(by_token[2]), 0, 100, 1000, by_token[1])
    assert [p.key for p in resumed] == by_token[2:3]
    storage.truncate(TABLE)
    assert storage.scan(TABLE, MIN_TOKEN, MIN_TOKEN, 0, 100, 1000) == []


def test_meta_and_hints_bounded(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.put_meta("ring", b"r1")
    assert storage.get_meta("ring") == b"r1" and storage.get_meta("other") is None
    monkeypatch.setattr(limits, "hints_per_target_max", 3)
    assert [storage.add_hint("n2", t, b"p%d" % t) for t in (30, 10, 20, 40)] == [
        True, True, True, False]
    assert storage.hint_count("n2") == 3 and storage.hint_targets() == ["n2"]
    hints = storage.hints("n2", 10)
    assert [(c, p) for _, c, p in hints] == [(10, b"p10"), (20, b"p20"), (30, b"p30")]
    storage.remove_hints("n2", [hints[0][0], hints[0][0], b"nonexistent"])
    assert storage.hint_count("n2") == 2 and storage.add_hint("n2", 5, b"p5")
    assert [c for _, c, _ in storage.hints("n2", 2)] == [5, 20]
    storage.remove_hints("n2", [h[0] for h in storage.hints("n2", 10)])
    assert storage.hint_count("n2") == 0 and storage.hint_targets() == []


def test_state_survives_reopen_after_sync(tmp_path: Path) -> None:
    s = Storage(RocksKV(str(tmp_path / "db")))
    s.apply(pu(cell_row(ck(1), "v", Cell(1, b"x"))), 0)
    s.add_hint("n3", 1, b"h")
    s.sync()
    s.close()
    s = Storage(RocksKV(str(tmp_path / "db")))
    assert live_values(s.read(TABLE, KEY, 0)) == [(ck(1), "v", b"x")]
    assert s.hint_count("n3") == 1 and s.add_hint("n3", 2, b"h2")
    assert len({h[0] for h in s.hints("n3", 10)}) == 2
    s.close()


def test_memory_crash_loses_unsynced_apply() -> None:
    kv = MemoryKV()
    s = Storage(kv)
    s.apply(pu(cell_row(ck(1), "v", Cell(1, b"x"))), 0)
    s.sync()
    s.apply(pu(cell_row(ck(2), "v", Cell(1, b"y"))), 0)
    after = Storage(kv.crash())
    assert live_values(after.read(TABLE, KEY, 0)) == [(ck(1), "v", b"x")]
