"""Cassandra's guard thresholds on reads and batches: client warnings and the tombstone failure.

Theory of operation
-------------------
* A replica that scans more than ``limits.read_tombstones_max`` tombstones for one partition
  read refuses to answer it (Cassandra's TombstoneOverwhelmingException): it replies with an
  error, and the coordinator answers the client ReadFailure (``coordinator.ReadOp.on_failure``).
* A coordinator whose read result holds more than ``limits.read_tombstones_warn`` tombstones
  answers with a client warning (tombstone_warn_threshold). Warnings travel in the response
  envelope (flag 0x08) and the drivers show them in ``ResponseFuture.warnings``. (Batch size
  warnings are in ``node.batchlog``.)

Pure functions over the data model; counts are Cassandra's in spirit: every partition, range,
row and column deletion, every tombstone cell and dead liveness marker is one tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable

from skewless import limits
from skewless.storage.model import PartitionUpdate, Row


def _row_tombstones(row: Row) -> int:
    n = int(row.deletion is not None) + len(row.column_deletions)
    n += int(row.marker is not None and row.marker.value is None)
    return n + sum(1 for cw in row.cells if cw.cell.value is None)


def tombstones(p: PartitionUpdate) -> int:
    """How many tombstones a read of ``p`` scanned (``p`` as a replica's read returned it)."""
    n = int(p.deletion is not None) + len(p.range_tombstones)
    if p.static_row is not None:
        n += _row_tombstones(p.static_row)
    return n + sum(_row_tombstones(r) for r in p.rows)


def overwhelming(p: PartitionUpdate, table_name: str) -> str | None:
    """The replica's refusal message when the read scanned too many tombstones, else None."""
    n = tombstones(p)
    if n <= limits.read_tombstones_max:
        return None
    return (f"Scanned over {limits.read_tombstones_max} tombstones during query on {table_name} "
            f"({n} tombstones); query aborted")


def read_warnings(parts: Iterable[PartitionUpdate], live_rows: int, table_name: str
                  ) -> tuple[str, ...]:
    n = sum(tombstones(p) for p in parts)
    if n <= limits.read_tombstones_warn:
        return ()
    return (f"Read {live_rows} live rows and {n} tombstone cells for query on {table_name} "
            "(see tombstone_warn_threshold)",)
