"""Local secondary index entries kept by Storage.apply, against the merged data as the model."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_storage_strategies import KEY, TABLE, updates

from skewless.ring import MAX_TOKEN, MIN_TOKEN
from skewless.storage import index as sindex
from skewless.storage import merge as m
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

SPECS = (
    sindex.IndexSpec("ia", "a", "regular", -1, "value", "", 1, ()),
    sindex.IndexSpec("sa", "a", "static", -1, "value", "", 1, ()),
    sindex.IndexSpec("mk", "m", "regular", -1, "keys", "map", 1, ()),
    sindex.IndexSpec("mv", "m", "regular", -1, "values", "map", 1, ()),
    sindex.IndexSpec("me", "m", "regular", -1, "entries", "map", 1, ()),
    sindex.IndexSpec("pk", "k", "partition_key", 0, "value", "", 1, ()),
)


def _storage() -> Storage:
    s = Storage(MemoryKV())
    s.index_specs = {TABLE: SPECS}
    return s


def _stored_entries(s: Storage) -> set[bytes]:
    return {k for spec in SPECS for k in sindex.entry_keys(s.kv, TABLE, spec.name)}


def _model_entries(p: PartitionUpdate, now_s: int, ignore_ttl: bool) -> set[bytes]:
    if not ignore_ttl:
        return {k for k, _ in sindex.entries_for_build(SPECS, p, now_s)}
    return {k for spec in SPECS for k in sindex._entries_of(spec, TABLE, p, now_s, True)}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(updates(), min_size=1, max_size=6))
def test_entries_follow_the_data(ups: list[PartitionUpdate]) -> None:
    """Whatever the writes, the index holds an entry for every live indexed value (nothing a
    query needs is missing) and none for data the merged partition does not hold at all."""
    s = _storage()
    model = PartitionUpdate(TABLE, KEY)
    for now_s, u in enumerate(ups):
        s.apply(u, now_s)
        model = m.merge(model, u)
    final_s = len(ups)
    stored = _stored_entries(s)
    live = _model_entries(s.read(TABLE, KEY, final_s), final_s, False)
    assert live <= stored
    assert stored <= _model_entries(model, final_s, True)


def _row(ck: bytes, value: bytes | None, ts: int, ttl: int = 0) -> PartitionUpdate:
    cell = Cell(ts, value, ttl, ttl + 10 if ttl else 0, 0 if value else 10)
    return PartitionUpdate(TABLE, KEY, rows=(Row(ck, None, None, (CellWrite("a", b"", cell),)),))


def _candidates(s: Storage, term: bytes) -> list[sindex.Candidate]:
    found, exhausted = sindex.scan(s.kv, TABLE, "ia", term, MIN_TOKEN, MAX_TOKEN, b"", None, 100)
    assert exhausted
    return found


def test_overwrite_and_delete_move_the_entry() -> None:
    s = _storage()
    s.apply(_row(b"\x01", b"x", 1), 0)
    assert _candidates(s, b"x") == [(KEY, b"\x01")]
    s.apply(_row(b"\x01", b"y", 2), 0)
    assert _candidates(s, b"x") == []
    assert _candidates(s, b"y") == [(KEY, b"\x01")]
    s.apply(_row(b"\x01", None, 3), 0)
    assert _candidates(s, b"y") == []
    s.apply(_row(b"\x01", b"y", 1), 0)  # older than the deletion: no entry comes back
    assert _candidates(s, b"y") == []


def test_dropped_partition_takes_its_entries() -> None:
    """cleanup's drop_partition removes the partition's index entries with its data."""
    s = _storage()
    s.apply(_row(b"\x01", b"x", 1), 0)
    s.apply(_row(b"\x02", b"x", 1, ttl=5), 0)
    assert _candidates(s, b"x") == [(KEY, b"\x01"), (KEY, b"\x02")]
    s.drop_partition(TABLE, KEY, 0)
    assert _candidates(s, b"x") == [] and _stored_entries(s) == set()


def test_build_and_truncate() -> None:
    s = Storage(MemoryKV())
    s.apply(_row(b"\x01", b"x", 1), 0)
    s.apply(_row(b"\x02", b"x", 1, ttl=5), 0)
    assert list(sindex.entry_keys(s.kv, TABLE, "ia")) == []  # no index yet
    s.index_specs = {TABLE: SPECS}
    s.build_index_entries(TABLE, KEY, SPECS, 0)
    assert _candidates(s, b"x") == [(KEY, b"\x01"), (KEY, b"\x02")]
    s.truncate(TABLE)
    assert _candidates(s, b"x") == []


def test_scan_resumes_after_a_row() -> None:
    s = _storage()
    for ck in (b"\x01", b"\x02", b"\x03"):
        s.apply(_row(ck, b"x", 1), 0)
    found, exhausted = sindex.scan(s.kv, TABLE, "ia", b"x", MIN_TOKEN, MAX_TOKEN, KEY, b"\x01",
                                   1)
    assert (found, exhausted) == ([(KEY, b"\x02")], False)
    found, exhausted = sindex.scan(s.kv, TABLE, "ia", b"x", MIN_TOKEN, MAX_TOKEN, KEY, None, 5)
    assert (found, exhausted) == ([], True)


def test_range_scan_of_an_ordered_index() -> None:
    spec = sindex.IndexSpec("ri", "a", "regular", -1, "value", "", 1, (), "int")
    s = Storage(MemoryKV())
    s.index_specs = {TABLE: (spec,)}
    values = [-5, -1, 0, 3, 7, 100]
    for i, v in enumerate(values):
        s.apply(_row(bytes((1, i)), struct.pack(">i", v), 1), 0)

    def enc(b: tuple[int, bool] | None) -> tuple[bytes, bool] | None:
        return None if b is None else (struct.pack(">i", b[0]), b[1])

    def found(lower: tuple[int, bool] | None, upper: tuple[int, bool] | None,
              limit: int = 100) -> list[int]:
        got, _ = sindex.scan_range(s.kv, TABLE, "ri", "int", enc(lower), enc(upper),
                                   MIN_TOKEN, MAX_TOKEN, b"", None, limit)
        return sorted(values[ck[1]] for _, ck in got if ck is not None)

    assert found((-1, True), (7, False)) == [-1, 0, 3]
    assert found((-1, False), None) == [0, 3, 7, 100]
    assert found(None, (0, True)) == [-5, -1, 0]
    got, exhausted = sindex.scan_range(s.kv, TABLE, "ri", "int", None, None, MIN_TOKEN,
                                       MAX_TOKEN, KEY, bytes((1, 2)), 2)
    assert (got, exhausted) == ([(KEY, bytes((1, 3))), (KEY, bytes((1, 4)))], False)
    found_eq, _ = sindex.scan(s.kv, TABLE, "ri", struct.pack(">i", 3), MIN_TOKEN, MAX_TOKEN,
                              b"", None, 10, "int")
    assert found_eq == [(KEY, bytes((1, 3)))]
