"""One behavioural suite for both KV backends, MemoryKV's durability model, and a kill -9 test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import rocksdict
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.storage.kv import KV, MemoryKV, RocksKV, family_pieces, is_data_key


@pytest.fixture(params=["memory", "rocks"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    store: KV = MemoryKV() if request.param == "memory" else RocksKV(str(tmp_path / "db"))
    yield store
    store.close()


def test_get_write_delete(kv: KV) -> None:
    assert kv.get(b"a") is None
    kv.write([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert kv.get(b"a") == b"3"
    kv.write([(b"a", None)])
    assert kv.get(b"a") is None and kv.get(b"b") == b"2"
    assert kv.size_bytes() >= 0


def test_iteration_bounds_and_reverse(kv: KV) -> None:
    kv.write([(bytes([i]), bytes([i])) for i in range(0, 20, 2)])
    assert [k[0] for k, _ in kv.iter_from(b"\x03", b"\x09")] == [4, 6, 8]
    assert [k[0] for k, _ in kv.iter_from(b"\x03", b"\x08", reverse=True)] == [6, 4]
    assert [k[0] for k, _ in kv.iter_from(b"\x10", None)] == [16, 18]
    assert [k[0] for k, _ in kv.iter_from(b"\x10", None, reverse=True)] == [18, 16]
    assert [k[0] for k, _ in kv.iter_from(b"", b"\x03", reverse=True)] == [2, 0]
    assert list(kv.iter_from(b"\x05", b"\x05")) == []


def test_delete_range(kv: KV) -> None:
    kv.write([(bytes([i]), b"v") for i in range(10)])
    kv.delete_range(b"\x02", b"\x05")
    assert [k[0] for k, _ in kv.iter_from(b"", None)] == [0, 1, 5, 6, 7, 8, 9]


# Keys around the column families' bounds (RocksKV keeps data prefixes d and x in their own).
near_families = st.builds(bytes.__add__, st.sampled_from([b"", b"c", b"d", b"e", b"w", b"x", b"y"]),
                          st.binary(max_size=2))
keys_ = st.one_of(st.binary(max_size=3), near_families)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys_, st.binary(max_size=3)),
        st.tuples(st.just("del"), keys_, st.just(b"")),
        st.tuples(st.just("range"), keys_, keys_),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(ops, st.one_of(st.binary(max_size=2), near_families),
       st.one_of(st.binary(max_size=3), near_families))
def test_backends_agree(tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, bytes,
                        bytes]], start: bytes, end: bytes) -> None:
    rocks = RocksKV(str(tmp_path_factory.mktemp("db")), "none")
    memory = MemoryKV()
    model: dict[bytes, bytes] = {}
    for op, a, b in operations:
        for store in (rocks, memory):
            if op == "put":
                store.write([(a, b)])
            elif op == "del":
                store.write([(a, None)])
            elif a < b:
                store.delete_range(a, b)
        if op == "put":
            model[a] = b
        elif op == "del":
            model.pop(a, None)
        else:
            model = {k: v for k, v in model.items() if not a <= k < b}
    expected = sorted((k, v) for k, v in model.items() if start <= k and (not end or k < end))
    for store in (rocks, memory):
        assert list(store.iter_from(start, end or None)) == expected
        assert list(store.iter_from(start, end or None, reverse=True)) == expected[::-1]
    rocks.close()


def test_memory_crash_keeps_only_synced() -> None:
    kv = MemoryKV()
    kv.write([(b"a", b"1"), (b"b", b"1")])
    kv.sync()
    kv.write([(b"a", b"2"), (b"c", b"1"), (b"b", None)])
    kv.delete_range(b"", b"a\x00")
    after = kv.crash()
    assert list(after.iter_from(b"", None)) == [(b"a", b"1"), (b"b", b"1")]
    after.delete_range(b"a", b"b")
    after.write([(b"d", b"1")])
    after.sync()
    assert list(after.crash().iter_from(b"", None)) == [(b"b", b"1"), (b"d", b"1")]


CHILD = textwrap.dedent(
    """
    import sys, time
    from skewless.storage.kv import RocksKV
    kv = RocksKV(sys.argv[1], "group")
    kv.write([(b"k%05d" % i, b"v" * 100) for i in range(1000)])
    kv.sync()
    print("synced", flush=True)
    while True:
        time.sleep(1)
    """
)


def test_rocks_synced_data_survives_kill_9(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "synced"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    kv = RocksKV(path)
    assert sum(1 for _ in kv.iter_from(b"k", b"l")) == 1000
    assert kv.get(b"k00999") == b"v" * 100
    kv.close()


def test_family_pieces_cut_where_the_family_changes() -> None:
    assert family_pieces(b"", None) == [(False, b"", b"d"), (True, b"d", b"e"),
                                        (False, b"e", b"x"), (True, b"x", b"y"),
                                        (False, b"y", None)]
    assert family_pieces(b"d\x01a", b"d\x01b") == [(True, b"d\x01a", b"d\x01b")]
    assert family_pieces(b"c", b"d\x00") == [(False, b"c", b"d"), (True, b"d", b"d\x00")]
    assert family_pieces(b"m", b"n") == [(False, b"m", b"n")]
    assert family_pieces(b"e", b"e") == []


def test_data_keys_live_in_their_own_files_and_batches_span_families(tmp_path: Path) -> None:
    kv = RocksKV(str(tmp_path / "db"))
    kv.write([(b"d\x01k", b"row"), (b"mhost_id", b"me"), (b"x\x01i", b"entry")])  # one batch
    kv.flush()
    data_files = kv.data_sst_files()
    assert len(data_files) == 1 and kv.sst_files() == 2
    content = (tmp_path / "db" / data_files[0]).read_bytes()
    assert b"row" in content and b"entry" in content and b"host_id" not in content
    kv.delete_range(b"c", b"z")  # one range over both families
    assert list(kv.iter_from(b"", None)) == []
    kv.close()
    kv = RocksKV(str(tmp_path / "db"))  # closing released the database (both families)
    assert kv.migrated == 0 and list(kv.iter_from(b"", None)) == []
    kv.close()


def test_a_single_family_database_is_split_at_open(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    old = rocksdict.Rdict(path, options)  # the layout before the split: everything in default
    entries = {b"d%05d" % i: b"row" for i in range(3000)}
    entries.update({b"x%05d" % i: b"entry" for i in range(10)})
    entries.update({b"mhost_id": b"me", b"h\x01hint": b"h", b"b\x00batch": b"b"})
    for k, v in entries.items():
        old[k] = v
    old.flush(True)
    old.close()
    del old
    kv = RocksKV(path)
    assert kv.migrated == 3010
    assert dict(kv.iter_from(b"", None)) == entries
    assert dict(kv.iter_family(kv._db, b"", None)) == {
        k: v for k, v in entries.items() if not is_data_key(k)}
    kv.close()
    kv = RocksKV(path)
    assert kv.migrated == 0 and dict(kv.iter_from(b"", None)) == entries
    kv.close()
