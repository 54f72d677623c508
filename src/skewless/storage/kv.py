"""A tiny ordered key-value interface, on RocksDB or in memory, with explicit durability.

``write`` applies a batch atomically but does not make it durable; ``sync`` makes everything
written so far durable with one fsync, so a caller group-commits many writes under one sync.

* ``RocksKV`` (rocksdict, write-ahead log on): every write goes to the WAL without fsync (it
  survives a crash of this process, since the OS holds it, but not a power failure); ``sync``
  fsyncs the WAL (``flush_wal(True)``). ``sync_mode='write'`` syncs every write instead and
  ``sync_mode='none'`` never fsyncs (benchmarks, throwaway nodes).
* ``MemoryKV`` is the simulator's disk. It models the same contract: ``sync`` marks everything
  written so far durable and ``crash()`` returns a new instance holding exactly the synced state,
  as a machine that lost power would.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol

import rocksdict

SyncMode = Literal["group", "write", "none"]
Batch = Sequence[tuple[bytes, bytes | None]]


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
        self._db = rocksdict.Rdict(path, options)
        self._path, self._options = path, options
        self._sync_mode = sync_mode
        self._write_options = rocksdict.WriteOptions()
        self._write_options.sync = sync_mode == "write"

    def get(self, key: bytes) -> bytes | None:
        value = self._db.get(key)
        assert value is None or isinstance(value, bytes)
        return value

    def write(self, batch: Batch) -> None:
        wb = rocksdict.WriteBatch(raw_mode=True)
        for key, value in batch:
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        self._db.write(wb, self._write_options)

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        if not reverse:
            it.seek(start)
            while it.valid() and (end is None or it.key() < end):
                yield it.key(), it.value()
                it.next()
            return
        if end is None:
            it.seek_to_last()
        else:
            it.seek_for_prev(end)
            if it.valid() and it.key() >= end:
                it.prev()
        while it.valid() and it.key() >= start:
            yield it.key(), it.value()
            it.prev()

    def delete_range(self, start: bytes, end: bytes) -> None:
        self._db.delete_range(start, end, self._write_options)

    def sync(self) -> None:
        if self._sync_mode != "none":
            self._db.flush_wal(True)

    def close(self) -> None:
        try:
            self.sync()
        finally:  # closed even when the sync fails (a store failed by a full disk)
            self._db.close()

    def reopen(self) -> None:
        """Close and open the database again: the way out of RocksDB's read-only state after
        a write error (rocksdict has no ``resume``). Opening replays the WAL into an SST file;
        if that fails the store stays closed and this raises (call it again later)."""
        try:
            self._db.close()
        except Exception:  # a failed store's close reports the error it already had
            pass
        self._db = rocksdict.Rdict(self._path, self._options)

    def unflushed_bytes(self) -> int:
        """Bytes the memtables hold: what flushing them writes before their WAL goes."""
        return int(self._db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0)

    def flush(self) -> None:
        """Write the memtables to SST files (nodetool flush)."""
        self._db.flush(True)

    def compact(self) -> None:
        """Compact every level into one (nodetool compact: a major compaction)."""
        self._db.compact_range(None, None)

    def checkpoint(self, path: str) -> None:
        """A consistent copy of the database at ``path`` (a new directory), its SST files hard
        links to the live ones (nodetool snapshot)."""
        rocksdict.Checkpoint(self._db).create_checkpoint(path)

    def sst_files(self) -> int:
        return len(self._db.live_files())

    def size_bytes(self) -> int:
        live = self._db.property_int_value("rocksdb.estimate-live-data-size") or 0
        memtables = self._db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(live) + int(memtables)


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
