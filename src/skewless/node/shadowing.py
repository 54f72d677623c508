"""No silent shadowing: what a replica reports when part of a write did not take effect.

Theory of operation
-------------------
Last-write-wins means a write whose timestamp is below what a replica already holds (a newer
value, or a newer deletion) is applied and yet changes nothing. Cassandra acknowledges it like
any other write: that is how seed 000's UPDATEs vanished. Here the replica's storage reports
every such cell (``storage.merge.shadowed_by``), the replica returns the reports with its
acknowledgement, and the coordinator turns the reports of the replicas that made up the
consistency level into:

* a server warning on the response (the drivers log it and expose it in
  ``ResponseFuture.warnings``), naming the table, the partition, the columns, both timestamps
  and the gap;
* a count per table (``Node.shadowed_writes``, a Prometheus counter) and a log line;
* with ``shadowed_writes = fail`` (node setting or table option), an Invalid error instead of
  success: not retried by the drivers, so a retry cannot silently override the newer write.

Under the default ``hlc`` policy a write the node stamped is not reported at once: it is
stamped again above the newer data and sent again (``node.write_path``, restamping), so the
client sees a report only for a write with a client-chosen timestamp, under ``wallclock``, or
when the rounds run out (writers racing on one cell): each is worth an operator's eyes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skewless.storage.model import Shadowed

SHADOWED_WRITES = ("warn", "fail")
_SHOWN_CELLS_MAX = 3  # cells detailed in one warning; the rest are counted


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """One cell (or row marker, or deletion) of a write that did not take effect."""

    table: str  # table id (PartitionUpdate.table)
    key: bytes
    shadowed: Shadowed


def unique(reports: Sequence[ShadowReport]) -> list[ShadowReport]:
    """One report per cell: every replica that applied the write reports the same cells."""
    seen: set[tuple[str, bytes, bytes, str, bytes]] = set()
    out = []
    for r in reports:
        s = r.shadowed
        k = (r.table, r.key, s.clustering, s.column, s.path)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def warning_text(table_name: str, reports: Sequence[ShadowReport]) -> str:
    """A warning for the reports of one table (``reports`` non-empty, already unique)."""
    assert reports
    parts = []
    for r in reports[:_SHOWN_CELLS_MAX]:
        s = r.shadowed
        what = f"column {s.column}" if s.column else "row marker/deletion"
        gap_ms = (s.existing_ts_us - s.incoming_ts_us) / 1000
        parts.append(f"{what} of partition 0x{r.key.hex()}"
                     + (f" row 0x{s.clustering.hex()}" if s.clustering else "")
                     + f": write timestamp {s.incoming_ts_us} <= existing {s.existing_ts_us}"
                     f" ({gap_ms:.1f} ms newer)")
    more = len(reports) - _SHOWN_CELLS_MAX
    tail = f"; and {more} more" if more > 0 else ""
    return (f"Write to {table_name} was shadowed: {len(reports)} cell(s) did not take effect "
            f"because newer data was already there ({'; '.join(parts)}{tail}). Concurrent "
            f"writes, or a clock that is off?")
