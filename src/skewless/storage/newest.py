"""Newest timestamps per partition bucket: when a replica may write an update without reading.

Theory of operation
-------------------
``Storage.apply`` reads the stored entries an update touches, merges and reports what the
update could not overwrite (``merge.shadowed_by``). Most updates on the hot path are new cells
stamped now, so the read finds nothing newer and the merge is a plain union. This module lets
``apply`` tell that case apart *exactly*, without reading:

* ``NewestTimestamps`` keeps, in memory, one int64 per bucket of partitions (the low bits of the
  partition's token; ``limits.storage_newest_buckets_count`` buckets, so a few partitions share
  one). **Invariant:** every timestamp anything stored in a partition holds (cells, markers,
  partition, range, row and column deletions) is <= its bucket's value. Every write of
  partition data goes through ``Storage.apply`` (client writes, hints, the batchlog, repair,
  streaming, read repair), which raises the bucket to the update's newest timestamp; nothing
  else adds timestamps to a partition (purges, truncation and cleanup only remove entries).
* At open every bucket starts at the *high-water mark*: a meta entry bounding every timestamp
  the store holds. ``apply`` rewrites it in the same atomic batch as the data whenever an
  update's newest timestamp passes it, ``limits.storage_high_water_step_ms`` ahead so that it
  is rewritten about once per step, not per write. A crash keeps the data and the mark together
  or neither, so after a restart the buckets are conservative. A store from before this module
  has no mark: it is computed once by reading every data entry (``scan_high_water``).
* ``blind`` is the condition: every timestamp of the update is strictly above its bucket, and
  the update deletes nothing (no partition deletion, range tombstone, row deletion or column
  deletion, the last being how a collection is overwritten) and holds no counter cell (a
  counter cell merges with the stored one shard by shard, whatever the timestamps: ``bounds``
  reports it as deleting). Then every stored entry it meets
  is strictly older, so the merge keeps every stored entry, the update's entries overwrite the
  ones at their keys (a cell or marker with a higher timestamp wins), nothing is shadowed
  either way, and the stored result is ``stored ∪ entries_of(update)``. Every stored entry holds
  one thing (a row's marker and its deletion have separate keys, ``storage.engine``), so no
  blind write can overwrite a deletion; the update reads nothing at all. Tables with
  secondary indexes (their maintenance needs the old values) or dropped columns take the read.

A timestamp far in the future (``USING TIMESTAMP``) raises its bucket for good and, after a
restart, the mark and so every bucket: later writes below it take the read path, which is
slower but exact.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import msgpack

from skewless import limits
from skewless.storage.model import PartitionUpdate

TS_MIN = -(1 << 63)
TS_MAX = (1 << 63) - 1


def bounds(p: PartitionUpdate) -> tuple[int, int, bool]:
    """(oldest, newest timestamp in ``p``, whether ``p`` deletes anything or holds a counter
    cell: either way it must be merged with what is stored); an empty update is (TS_MAX,
    TS_MIN, False)."""
    lo, hi, deletes = TS_MAX, TS_MIN, False
    if p.deletion is not None:
        deletes, lo, hi = True, p.deletion.ts_us, p.deletion.ts_us
    for t in p.range_tombstones:
        deletes = True
        ts = t.deletion.ts_us
        lo, hi = min(lo, ts), max(hi, ts)
    rows = p.rows if p.static_row is None else (p.static_row, *p.rows)
    for r in rows:
        if r.marker is not None:
            ts = r.marker.ts_us
            lo, hi = min(lo, ts), max(hi, ts)
        if r.deletion is not None:
            deletes = True
            ts = r.deletion.ts_us
            lo, hi = min(lo, ts), max(hi, ts)
        for _, d in r.column_deletions:
            deletes = True
            lo, hi = min(lo, d.ts_us), max(hi, d.ts_us)
        for w in r.cells:
            c = w.cell
            ts = c.ts_us
            if c.counter:
                deletes = True  # shards merge with the stored ones: never written blind
            if ts < lo:
                lo = ts
            if ts > hi:
                hi = ts
    return lo, hi, deletes


def encode_high_water(ts_us: int) -> bytes:
    return ts_us.to_bytes(8, "big", signed=True)


def decode_high_water(raw: bytes) -> int:
    assert len(raw) == 8, raw
    return int.from_bytes(raw, "big", signed=True)


def _newest_in(x: object) -> int:
    """The newest timestamp in a decoded data entry: a cell or a deletion is a list starting
    with its timestamp; headers are lists of those (and of range tombstones' bounds)."""
    if not isinstance(x, list) or not x:
        return TS_MIN
    if type(x[0]) is int:
        return x[0]
    return max((_newest_in(e) for e in x), default=TS_MIN)


def newest_of_values(values: Iterable[bytes]) -> int:
    """The newest timestamp of stored data entries' values."""
    newest = TS_MIN
    for raw in values:
        newest = max(newest, _newest_in(msgpack.unpackb(raw, raw=False)))
    return newest


class NewestTimestamps:
    """Per-bucket upper bounds of stored timestamps, and the durable high-water mark."""

    def __init__(self, high_water_us: int, persisted: bool,
                 buckets: int = limits.storage_newest_buckets_count) -> None:
        assert buckets > 0 and buckets & (buckets - 1) == 0, buckets
        self._mask = buckets - 1
        self._buckets = array("q", [high_water_us]) * buckets
        self.high_water_us = high_water_us
        self._persisted = persisted  # False: the mark is not stored yet (computed by a scan)

    def blind(self, token: int, oldest_us: int) -> bool:
        """Whether ``oldest_us`` is above everything stored in the token's bucket."""
        return oldest_us > self._buckets[token & self._mask]

    def raise_to(self, token: int, newest_us: int) -> None:
        i = token & self._mask
        if newest_us > self._buckets[i]:
            self._buckets[i] = newest_us

    def mark_needed(self, newest_us: int) -> int | None:
        """The high-water mark to write in the same batch as an update up to ``newest_us``, or
        None when the stored mark already covers it. ``marked`` once the batch is written."""
        if newest_us <= self.high_water_us and self._persisted:
            return None
        step = limits.storage_high_water_step_ms * 1000
        return min(TS_MAX, max(newest_us, self.high_water_us) + step)

    def marked(self, high_water_us: int) -> None:
        """A batch holding the mark ``high_water_us`` was written."""
        self.high_water_us = max(self.high_water_us, high_water_us)
        self._persisted = True
