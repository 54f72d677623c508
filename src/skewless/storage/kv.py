"""A tiny ordered key-value interface, on RocksDB or in memory, with explicit durability.

``write`` applies a batch atomically but does not make it durable; ``sync`` makes everything
written so far durable with one fsync, so a caller group-commits many writes under one sync.

* ``RocksKV`` (rocksdict, write-ahead log on): every write goes to the WAL without fsync (it
  survives a crash of this process, since the OS holds it, but not a power failure); ``sync``
  fsyncs the WAL (``flush_wal(True)``). ``sync_mode='write'`` syncs every write instead and
  ``sync_mode='none'`` never fsyncs (benchmarks, throwaway nodes).
  Replicated data (keys starting with ``DATA_PREFIXES``: partitions and secondary-index
  entries, everything the peers can stream back) lives in its own column family, ``data``, so
  in its own SST files; the node's own state (meta, hints, batchlog) stays in the default one.
  Corruption in a data file then never touches the node's identity (``runtime.quarantine``).
  Routing is by key prefix and invisible to callers: a batch spanning both families is one
  atomic ``WriteBatch``; a range spanning them is served piece by piece, in key order. A
  database from before the split (one family) has its data keys moved at open.
* ``MemoryKV`` is the simulator's disk. It models the same contract: ``sync`` marks everything
  written so far durable and ``crash()`` returns a new instance holding exactly the synced state,
  as a machine that lost power would.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol

import rocksdict

from skewless import limits

SyncMode = Literal["group", "write", "none"]
Batch = Sequence[tuple[bytes, bytes | None]]


DATA_FAMILY = "data"
# Key prefixes of replicated data, kept in ``DATA_FAMILY``: ``storage.engine``'s partitions (d)
# and ``storage.index``'s entries (x). Every other prefix is the node's own state.
DATA_PREFIXES = (b"d", b"x")
_DATA_RANGES = tuple((p, bytes((p[0] + 1,))) for p in DATA_PREFIXES)
_BOUNDS = sorted(b for r in _DATA_RANGES for b in r)


def is_data_key(key: bytes) -> bool:
    return key[:1] in DATA_PREFIXES


def family_pieces(start: bytes, end: bytes | None) -> list[tuple[bool, bytes, bytes | None]]:
    """[start, end) cut where the column family changes: (is data, lo, hi) in key order."""
    pieces: list[tuple[bool, bytes, bytes | None]] = []
    lo = start
    for bound in _BOUNDS:
        if bound <= lo:
            continue
        if end is not None and bound >= end:
            break
        pieces.append((is_data_key(lo), lo, bound))
        lo = bound
    if end is None or lo < end:
        pieces.append((is_data_key(lo), lo, end))
    return pieces


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def write(self, batch: Batch) -> None:
        """Apply puts (value bytes) and deletes (None) atomically, in order."""

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) for start <= key < end (end None: no bound), ascending or descending."""

    def delete_range(self, start: bytes, end: bytes) -> None:
        """Delete every key in [start, end)."""

    def sync(self) -> None:
        """Make everything written so far durable."""

    def close(self) -> None: ...

    def size_bytes(self) -> int:
        """Approximate bytes of keys and values stored."""


class RocksKV:
    """``KV`` on RocksDB (rocksdict, raw bytes keys and values)."""

    def __init__(self, path: str, sync_mode: SyncMode = "group") -> None:
        assert sync_mode in ("group", "write", "none"), sync_mode
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        self._path, self._options = path, options
        self._open()
        self._sync_mode = sync_mode
        self._write_options = rocksdict.WriteOptions()
        self._write_options.sync = sync_mode == "write"
        self.recovered_sequence = self.sequence()  # what the WAL gave back, before any write
        try:
            self.migrated = self._migrate_single_family()
        except BaseException:
            self.close()
            raise

    def _migrate_single_family(self) -> int:
        """Move data keys a database from before the split holds in its default family into
        the data family, a batch at a time (each batch atomic: a crash resumes at next open)."""
        moved = 0
        for lo, hi in _DATA_RANGES:
            while True:
                chunk = list(self.iter_family(self._db, lo, hi, False,
                                              limits.kv_family_migration_batch_entries))
                if not chunk:
                    break
                lo = chunk[-1][0] + b"\x00"  # past the moved keys' tombstones
                wb = rocksdict.WriteBatch(raw_mode=True)
                for key, value in chunk:
                    wb.put(key, value, self._data_handle)
                    wb.delete(key)
                self._db.write(wb, self._write_options)
                moved += len(chunk)
        if moved:
            self._db.flush_wal(True)
            self._db.compact_range(_BOUNDS[0], _BOUNDS[-1])  # drop the moved keys' tombstones
        return moved

    def _family(self, key: bytes) -> rocksdict.Rdict:
        return self._data if is_data_key(key) else self._db

    def get(self, key: bytes) -> bytes | None:
        value = self._family(key).get(key)
        assert value is None or isinstance(value, bytes)
        return value

    def write(self, batch: Batch) -> None:
        wb = rocksdict.WriteBatch(True)  # raw mode; one batch over both families: atomic
        data = self._data_handle
        for key, value in batch:
            family = data if key[:1] in DATA_PREFIXES else None  # is_data_key, inline
            if value is None:
                wb.delete(key, family)
            else:
                wb.put(key, value, family)
        self._db.write(wb, self._write_options)

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        pieces = family_pieces(start, end)
        for data, lo, hi in reversed(pieces) if reverse else pieces:
            yield from self.iter_family(self._data if data else self._db, lo, hi, reverse)

    @staticmethod
    def iter_family(db: rocksdict.Rdict, start: bytes, end: bytes | None, reverse: bool = False,
                    limit: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of one column family in [start, end), at most ``limit``; raises when a
        corrupt block cut the scan short."""
        it = db.iter()
        n = 0
        if not reverse:
            it.seek(start)
            while it.valid() and (end is None or it.key() < end) and n != limit:
                yield it.key(), it.value()
                n += 1
                it.next()
            if not it.valid():
                it.status()  # raises when the scan stopped at a corrupt block, not at the end
            return
        if end is None:
            it.seek_to_last()
        else:
            it.seek_for_prev(end)
            if it.valid() and it.key() >= end:
                it.prev()
        while it.valid() and it.key() >= start and n != limit:
            yield it.key(), it.value()
            n += 1
            it.prev()
        if not it.valid():
            it.status()  # raises when the scan stopped at a corrupt block, not at the end

    def delete_range(self, start: bytes, end: bytes) -> None:
        wb = rocksdict.WriteBatch(raw_mode=True)
        for data, lo, hi in family_pieces(start, end):
            assert hi is not None
            wb.delete_range(lo, hi, self._data_handle if data else None)
        self._db.write(wb, self._write_options)

    def sync(self) -> None:
        if self._sync_mode != "none":
            self._db.flush_wal(True)

    def close(self) -> None:
        try:
            self.sync()
        finally:  # closed even when the sync fails (a store failed by a full disk)
            self._close_families()

    def _open(self) -> None:
        self._db = rocksdict.Rdict(self._path, self._options,
                                   column_families={DATA_FAMILY: self._options})
        self._data = self._db.get_column_family(DATA_FAMILY)
        self._data_handle: rocksdict.ColumnFamily | None = self._db.get_column_family_handle(
            DATA_FAMILY)

    def _close_families(self) -> None:
        self._data_handle = None  # the database closes once no family object refers to it
        try:
            self._data.close()
        finally:
            self._db.close()

    def reopen(self) -> None:
        """Close and open the database again: the way out of RocksDB's read-only state after
        a write error (rocksdict has no ``resume``). Opening replays the WAL into an SST file;
        if that fails the store stays closed and this raises (call it again later)."""
        try:
            self._close_families()
        except Exception:  # a failed store's close reports the error it already had
            pass
        self._open()

    def unflushed_bytes(self) -> int:
        """Bytes the memtables of both families hold: what flushing them writes before their
        WAL goes."""
        return sum(int(family.property_int_value("rocksdb.cur-size-all-mem-tables") or 0)
                   for family in (self._db, self._data))

    def flush(self) -> None:
        """Write the memtables to SST files (nodetool flush)."""
        self._data.flush(True)
        self._db.flush(True)

    def compact(self) -> None:
        """Compact every level into one (nodetool compact: a major compaction)."""
        self._data.compact_range(None, None)
        self._db.compact_range(None, None)

    def checkpoint(self, path: str) -> None:
        """A consistent copy of the database at ``path`` (a new directory), its SST files hard
        links to the live ones (nodetool snapshot)."""
        rocksdict.Checkpoint(self._db).create_checkpoint(path)

    def sequence(self) -> int:
        """RocksDB's last sequence number: one per write in the WAL (``storage.integrity``)."""
        return int(self._db.latest_sequence_number())

    def sst_files(self) -> int:
        return len(self._db.live_files())

    def data_sst_files(self) -> list[str]:
        """The names of the SST files of the data family (their keys all start with a data
        prefix; the default family's never do)."""
        return sorted(f["name"].lstrip("/") for f in self._db.live_files()
                      if is_data_key(f["start_key"]))

    def size_bytes(self) -> int:
        total = 0
        for family in (self._db, self._data):
            live = family.property_int_value("rocksdb.estimate-live-data-size") or 0
            memtables = family.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
            total += int(live) + int(memtables)
        return total


class MemoryKV:
    """``KV`` in memory: a dict plus a sorted key list; models durability for the simulator."""

    def __init__(self, durable: dict[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = dict(durable or {})
        self._keys: list[bytes] = sorted(self._data)
        self._durable: dict[bytes, bytes] = dict(self._data)
        # Unsynced operations: (key, value, None) puts/deletes, (start, None, end) range deletes.
        self._pending: list[tuple[bytes, bytes | None, bytes | None]] = []
        self._size = sum(len(k) + len(v) for k, v in self._data.items())
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        assert not self._closed
        return self._data.get(key)

    def write(self, batch: Batch) -> None:
        assert not self._closed
        for key, value in batch:
            self._put(key, value)
            self._pending.append((key, value, None))

    def _put(self, key: bytes, value: bytes | None) -> None:
        old = self._data.get(key)
        if old is not None:
            self._size -= len(key) + len(old)
        if value is None:
            if old is not None:
                del self._data[key]
                del self._keys[bisect.bisect_left(self._keys, key)]
            return
        if old is None:
            bisect.insort(self._keys, key)
        self._data[key] = value
        self._size += len(key) + len(value)

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        assert not self._closed
        lo = bisect.bisect_left(self._keys, start)
        hi = len(self._keys) if end is None else bisect.bisect_left(self._keys, end)
        selected = self._keys[lo:hi]  # a copy: writes during iteration do not disturb it
        for key in reversed(selected) if reverse else selected:
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def delete_range(self, start: bytes, end: bytes) -> None:
        assert not self._closed
        lo, hi = bisect.bisect_left(self._keys, start), bisect.bisect_left(self._keys, end)
        for key in self._keys[lo:hi]:
            self._size -= len(key) + len(self._data.pop(key))
        del self._keys[lo:hi]
        self._pending.append((start, None, end))

    def sync(self) -> None:
        for key, value, end in self._pending:
            if end is not None:
                for k in [k for k in self._durable if key <= k < end]:
                    del self._durable[k]
            elif value is None:
                self._durable.pop(key, None)
            else:
                self._durable[key] = value
        self._pending.clear()

    def crash(self) -> MemoryKV:
        """A new instance holding only what was synced; this one becomes unusable."""
        self._closed = True
        return MemoryKV(self._durable)

    def close(self) -> None:
        self.sync()
        self._closed = True

    def size_bytes(self) -> int:
        return self._size
