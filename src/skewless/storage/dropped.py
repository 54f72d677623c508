"""Cells of dropped columns, skipped (Cassandra's ``TableMetadata.droppedColumns``).

Theory of operation
-------------------
``ALTER TABLE ... DROP c`` records in the schema the time it was stamped with (a write
timestamp of the coordinating node). From then on every cell of a column named ``c`` whose
timestamp is at or before that time is as good as gone, and so is a collection deletion of
``c`` at or before it: whether ``c`` stays dropped or a column of that name is added back,
the old values never reappear. Later cells (written after a column of that name came back)
are kept.

The rule is applied wherever cells are met, by the storage engine of every replica (reads,
every applied mutation whatever its origin: a write, read repair, a hint, a batchlog replay;
compaction), and by the coordinator to what replicas answer, so one replica that has not yet
seen the schema change cannot bring old values back through the coordinator either. Applying
it to an update also purges what it skips: ``Storage.apply`` rewrites the rows it touches
without them, ``Storage.purge_tombstones`` every partition.

``dropped`` maps a column name to its drop time in microseconds (``TableDef.dropped_times``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from skewless.storage.model import PartitionUpdate, Row

Dropped = Mapping[str, int]  # column name -> drop time (us): its cells up to then are ignored


def _gone(column: str, ts_us: int, dropped: Dropped) -> bool:
    t = dropped.get(column)
    return t is not None and ts_us <= t


def skip_dropped_row(row: Row, dropped: Dropped) -> Row | None:
    """``row`` without the cells and column deletions of dropped columns; None when nothing is
    left (no marker, no deletion: the row only lived through a dropped column)."""
    if not dropped:
        return row
    cells = tuple(w for w in row.cells if not _gone(w.column, w.cell.ts_us, dropped))
    col_dels = tuple((c, d) for c, d in row.column_deletions if not _gone(c, d.ts_us, dropped))
    if len(cells) == len(row.cells) and len(col_dels) == len(row.column_deletions):
        return row
    if row.marker is None and row.deletion is None and not cells and not col_dels:
        return None
    return Row(row.clustering, row.marker, row.deletion, cells, col_dels)


def skip_dropped(p: PartitionUpdate, dropped: Dropped) -> PartitionUpdate:
    """``p`` without the cells of dropped columns (rows left empty removed)."""
    if not dropped:
        return p
    static = None if p.static_row is None else skip_dropped_row(p.static_row, dropped)
    rows = tuple(r for row in p.rows if (r := skip_dropped_row(row, dropped)) is not None)
    return replace(p, static_row=static, rows=rows)
