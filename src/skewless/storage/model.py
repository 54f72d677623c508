"""The data model every replica stores and every coordinator merges: Cassandra's, cell by cell.

Theory of operation
-------------------
A table's data is a set of partitions. A ``PartitionUpdate`` is both a *mutation* (what a write
sends to replicas) and a *read result* (what a replica answers): it holds a partition deletion,
range tombstones over clustering prefixes, an optional static row, and rows keyed by their
order-preserving clustering bytes (``skewless.storage.keys``). Each row carries an optional
liveness marker (written by INSERT), an optional row deletion, cells, and whole-column deletions
(collection tombstones). A cell is addressed by (column name, path): path is ``b''`` for a simple
column and the element key for a cell of a non-frozen collection.

Every cell, marker and deletion carries its own write timestamp in microseconds (``ts_us``).
Reconciliation is Cassandra's, so every replica converges to the same state whatever the order
in which it receives updates (merge is commutative, associative and idempotent):

* for two cells at one address: the higher ``ts_us`` wins; on equal timestamps a tombstone wins
  over a live cell, then the greater value bytes, then the later expiry (a total, symmetric
  order, so the choice never depends on arrival order);
* a deletion (partition, range, row, column) shadows every cell, marker or narrower deletion with
  ``ts_us <= deletion.ts_us``;
* a TTL'd cell becomes a tombstone at ``expires_s``; tombstones are purged ``gc_grace_seconds``
  after ``deleted_s``;
* counter cells merge their per-replica shards, and lose to a tombstone at any timestamp
  (``storage.counters``).

The time used to decide liveness (``now_s``) is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def value_class(cls: type[_T]) -> type[_T]:
    """A frozen dataclass to the type checker (assigning a field is a type error), built at run
    time without frozen's ``object.__setattr__`` per field: constructing one is about 3x faster,
    and these are made per cell, several times per write. Hashable by value, as frozen ones."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


@value_class
class Cell:
    """One versioned value. ``value is None`` makes it a tombstone.

    ``ttl_s``/``expires_s`` are set (non-zero) for a cell written with a TTL: it is live until
    ``expires_s`` (seconds since the epoch, local time of the coordinator that stamped it).
    ``deleted_s`` is set for a tombstone: the local time of deletion, for gc_grace purging.
    ``counter`` marks a live counter cell: ``value`` is a counter context (``storage.counters``),
    there is no TTL, and it reconciles by merging shards. A counter column's tombstone is an
    ordinary tombstone (``counter`` False), which wins over any counter cell.
    """

    ts_us: int
    value: bytes | None
    ttl_s: int = 0
    expires_s: int = 0
    deleted_s: int = 0
    counter: bool = False


@value_class
class Deletion:
    """A partition, range, row or column deletion at ``ts_us`` (shadows everything <= it)."""

    ts_us: int
    deleted_s: int


@value_class
class CellWrite:
    column: str
    path: bytes  # b'' for a simple column; the element key in a non-frozen collection
    cell: Cell


@value_class
class RangeTombstone:
    """Deletes rows whose clustering lies between two clustering *prefixes*.

    ``start == b''`` means from the first row, ``end == b''`` to the last. An inclusive bound
    that is a prefix covers every clustering that starts with it (``DELETE ... WHERE ck1 = 1``
    is start=end=enc(1), both inclusive)."""

    start: bytes
    start_inclusive: bool
    end: bytes
    end_inclusive: bool
    deletion: Deletion


@value_class
class Row:
    clustering: bytes  # order-preserving encoding (skewless.storage.keys); b'' for static/no ck
    marker: Cell | None = None  # liveness marker from INSERT: value b'' (or a tombstone)
    deletion: Deletion | None = None
    cells: tuple[CellWrite, ...] = ()  # sorted by (column, path), one per address
    column_deletions: tuple[tuple[str, Deletion], ...] = ()  # sorted by column


@value_class
class PartitionUpdate:
    """A mutation of one partition, or the (tombstone-carrying) contents read from one."""

    table: str  # the table id: uuid hex (32 chars)
    key: bytes  # the partition key as routed: single component bytes or composite encoding
    deletion: Deletion | None = None
    range_tombstones: tuple[RangeTombstone, ...] = ()
    static_row: Row | None = None
    rows: tuple[Row, ...] = ()  # sorted by clustering, at most one per clustering


@value_class
class Shadowed:
    """Part of an applied mutation that did not take effect because newer data was present."""

    clustering: bytes
    column: str  # '' for a row marker or row deletion
    path: bytes
    incoming_ts_us: int
    existing_ts_us: int


@value_class
class ApplyReport:
    shadowed: tuple[Shadowed, ...] = ()
