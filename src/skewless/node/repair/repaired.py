"""Repaired-at records: when each token range of each table was last repaired, and the tombstone
purge that honours them (``only_purge_repaired_tombstones``).

Theory of operation
-------------------
When a repair session of a range has compared every replica's Merkle tree and streamed every
difference, the coordinator tells each replica (and itself) ``RangeRepaired(table, start, end,
repaired_at_s)``, with ``repaired_at_s`` the time the session started: every write a replica had
before then is now on every replica of the range. Each node keeps, per table, disjoint token
intervals ``(start, end]`` with the latest such time (a record never goes back in time; a message
that arrives late changes nothing it should not), durably in storage meta, written before the
next sync.

Purging (``purge``, what ``nodetool compact`` / ``garbagecollect`` do): a tombstone older than the
table's ``gc_grace_seconds`` is dropped, as today. With the table's compaction sub-option
``only_purge_repaired_tombstones = 'true'`` (Cassandra's name; there it keeps tombstones of
unrepaired sstables), a tombstone must also be older than the last repair of its partition's
token: a tombstone that a replica which missed the delete never received stays until a repair
has carried it there, so the deleted row cannot come back from that replica (no zombie). In
``Storage.purge_tombstones`` terms: a partition with token ``t`` is purged as of
``min(now, repaired_at(t) + gc_grace)`` (deleted before ``repaired_at(t)``), and never when its
range was never repaired.

Pure: acts on the storage it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from skewless import limits
from skewless.schema import TableDef
from skewless.storage.engine import Storage

_META = "repaired_ranges"  # storage meta: JSON object, table key -> [[start, end, at_s], ...]
Interval = tuple[int, int, int]  # (start exclusive, end inclusive, repaired_at_s)


def only_purge_repaired(table: TableDef) -> bool:
    compaction = table.option("compaction", ())
    assert isinstance(compaction, tuple)
    value = dict(compaction).get("only_purge_repaired_tombstones", "false")
    return str(value).lower() == "true"


def record_interval(intervals: list[Interval], start: int, end: int, at_s: int
                    ) -> list[Interval]:
    """``intervals`` (sorted, disjoint) with (start, end] repaired at ``at_s``: each piece keeps
    the later of its times; adjacent pieces of one time are joined."""
    assert start < end
    cuts = sorted({start, end} | {x for a, b, _ in intervals for x in (a, b)})
    pieces: list[Interval] = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        times = [t for a, b, t in intervals if a <= lo and hi <= b]
        if start <= lo and hi <= end:
            times.append(at_s)
        if times:
            pieces.append((lo, hi, max(times)))
    joined: list[Interval] = []
    for p in pieces:
        if joined and joined[-1][1] == p[0] and joined[-1][2] == p[2]:
            joined[-1] = (joined[-1][0], p[1], p[2])
        else:
            joined.append(p)
    return joined


def repaired_at(intervals: list[Interval], token: int) -> int:
    """When ``token`` was last repaired (0: never)."""
    for a, b, t in intervals:
        if a < token <= b:
            return t
    return 0


class RepairedRanges:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        raw = storage.get_meta(_META)
        loaded = json.loads(raw.decode()) if raw else {}
        self.by_table: dict[str, list[Interval]] = {
            str(k): [(int(a), int(b), int(t)) for a, b, t in v] for k, v in loaded.items()}

    def record(self, table_key: str, start: int, end: int, at_s: int) -> None:
        """Record (start, end] repaired; the caller syncs before acknowledging anything."""
        self.by_table[table_key] = record_interval(
            self.by_table.get(table_key, []), start, end, at_s)
        data = {k: [list(i) for i in v] for k, v in sorted(self.by_table.items())}
        self.storage.put_meta(_META, json.dumps(data).encode())

    def repaired_at(self, table_key: str, token: int) -> int:
        return repaired_at(self.by_table.get(table_key, []), token)

    def purge(self, table: TableDef, now_s: int) -> int:
        """Drop ``table``'s purgeable tombstones (see the module doc); entries removed."""
        gc_grace = table.option("gc_grace_seconds", limits.gc_grace_seconds_default)
        assert isinstance(gc_grace, int)
        as_of: Callable[[int], int] | None = None
        if only_purge_repaired(table):
            intervals = self.by_table.get(table.table_key, [])

            def repaired_as_of(token: int) -> int:
                at = repaired_at(intervals, token)
                return at + gc_grace if at else 0

            as_of = repaired_as_of
        return self.storage.purge_tombstones(table.table_key, gc_grace, now_s, as_of)
