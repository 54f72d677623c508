"""Timestamps carried by data: what a node's hybrid logical clock observes."""

from __future__ import annotations

from skewless.storage.model import PartitionUpdate, Row


def _row_max(r: Row) -> int:
    m = 0
    if r.marker is not None:
        m = r.marker.ts_us
    if r.deletion is not None:
        m = max(m, r.deletion.ts_us)
    for c in r.cells:
        m = max(m, c.cell.ts_us)
    for _, d in r.column_deletions:
        m = max(m, d.ts_us)
    return m


def max_timestamp(p: PartitionUpdate) -> int:
    """The highest write timestamp anywhere in ``p`` (0 if it holds nothing)."""
    m = p.deletion.ts_us if p.deletion is not None else 0
    for rt in p.range_tombstones:
        m = max(m, rt.deletion.ts_us)
    if p.static_row is not None:
        m = max(m, _row_max(p.static_row))
    for r in p.rows:
        m = max(m, _row_max(r))
    return m
