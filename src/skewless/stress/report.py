"""Counting a stress run and reporting it: tallies, statistics, the JSON document, tables.

Latencies are recorded in microseconds in one HDR histogram per operation type (1 µs to 60 s at
3 significant digits: each percentile is within 0.1% of the true value); a latency above the
range is recorded as the range's top. Only successful operations are timed; failed ones are
counted as errors by kind (the driver's exception class, e.g. ``WriteTimeout``). The JSON
document and the summary table are built from the same numbers.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram
from rich import box
from rich.table import Table

from skewless import limits

LATENCY_US_MIN = 1
LATENCY_US_MAX = 60_000_000
PERCENTILES = (("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0), ("p999_ms", 99.9))
OTHER_KIND = "other"  # error kinds beyond limits.stress_error_kinds_max are counted here


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LATENCY_US_MIN, LATENCY_US_MAX, 3)


class OpTally:
    """What one operation type did: finished operations, their latencies, errors, read checks."""

    def __init__(self) -> None:
        self.histogram = new_histogram()
        self.ops = 0  # finished, successfully or not
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.not_found = 0  # reads that found no row (the key was never written)
        self.mismatched = 0  # reads whose value is not what the key's writes put there

    def record_ok(self, latency_us: int) -> None:
        clamped = min(max(latency_us, LATENCY_US_MIN), LATENCY_US_MAX)
        recorded = self.histogram.record_value(clamped)
        assert recorded, clamped
        self.ops += 1

    def record_error(self, kind: str) -> None:
        self.ops += 1
        self.errors += 1
        if kind not in self.error_kinds and len(self.error_kinds) >= limits.stress_error_kinds_max:
            kind = OTHER_KIND
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def latency_stats(histogram: HdrHistogram) -> dict[str, float | None]:
    """mean, p50, p95, p99, p999 and max in milliseconds (None for an empty histogram)."""
    keys = ["mean_ms", *(k for k, _ in PERCENTILES), "max_ms"]
    if histogram.get_total_count() == 0:
        return dict.fromkeys(keys, None)
    values = histogram.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    stats: dict[str, float | None] = {"mean_ms": round(histogram.get_mean_value() / 1000, 3)}
    for key, p in PERCENTILES:
        stats[key] = values[p] / 1000
    stats["max_ms"] = histogram.get_max_value() / 1000
    return stats


def op_stats(tally: OpTally, seconds: float, reads: bool) -> dict[str, Any]:
    """One operation type's numbers: counts, ops/s over ``seconds``, latency statistics."""
    stats: dict[str, Any] = {
        "ops": tally.ops,
        "errors": tally.errors,
        "ops_per_s": round(tally.ops / seconds, 1) if seconds > 0 else 0.0,
    }
    stats.update(latency_stats(tally.histogram))
    stats["error_kinds"] = dict(sorted(tally.error_kinds.items()))
    if reads:
        stats["not_found"] = tally.not_found
        stats["mismatched"] = tally.mismatched
    return stats


def total_stats(tallies: dict[str, OpTally], seconds: float) -> dict[str, Any]:
    merged = OpTally()
    for tally in tallies.values():
        merged.histogram.add(tally.histogram)
        merged.ops += tally.ops
        merged.errors += tally.errors
        for kind, n in tally.error_kinds.items():
            merged.error_kinds[kind] = merged.error_kinds.get(kind, 0) + n
    return op_stats(merged, seconds, reads=False)


def document(options: dict[str, Any], tallies: dict[str, OpTally], elapsed_s: float,
             stopped_by: str, unfinished: int, version: str) -> dict[str, Any]:
    """The machine-readable report of a run (what ``--json`` writes)."""
    return {
        "tool": "skewless stress",
        "version": version,
        "options": options,
        "elapsed_s": round(elapsed_s, 3),
        "stopped_by": stopped_by,
        "unfinished": unfinished,
        "operations": {op: op_stats(t, elapsed_s, reads=op == "read")
                       for op, t in tallies.items()},
        "total": total_stats(tallies, elapsed_s),
    }


SUMMARY_COLUMNS = (
    ("ops", "ops"), ("ops/s", "ops_per_s"), ("mean", "mean_ms"), ("p50", "p50_ms"),
    ("p95", "p95_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms"), ("max", "max_ms"),
    ("errors", "errors"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_ms"):
        return f"{value:.2f}"
    if key == "ops_per_s":
        return f"{value:,.0f}"
    return f"{value:,}"


def stats_table(rows: dict[str, dict[str, Any]], title: str | None) -> Table:
    """A table with one row per operation type (latencies in ms), from ``op_stats`` dicts."""
    table = Table(title=title, caption="latencies in milliseconds", box=box.SIMPLE_HEAVY,
                  caption_justify="left")
    table.add_column("op")
    for header, _ in SUMMARY_COLUMNS:
        table.add_column(header, justify="right")
    for name, stats in rows.items():
        style = "red" if stats.get("errors") else None
        table.add_row(name, *(_cell(k, stats.get(k)) for _, k in SUMMARY_COLUMNS), style=style)
    return table


def heading(doc: dict[str, Any]) -> str:
    """One line naming the run above its summary table."""
    o = doc["options"]
    client = o.get("client") or {}
    tls = ", TLS" if client.get("ssl") else ""
    user = f", as {client['username']}" if client.get("username") else ""
    return (f"skewless stress {o['workload']}: {o['consistency']}, RF={o['replication_factor']}, "
            f"concurrency {o['concurrency']}, {o['value_size']}-byte values{tls}{user}, "
            f"{doc['elapsed_s']:.1f} s (stopped by {doc['stopped_by']})")


def summary_table(doc: dict[str, Any]) -> Table:
    rows = dict(doc["operations"])
    if len(rows) > 1:
        rows["total"] = doc["total"]
    return stats_table(rows, None)


def notes(doc: dict[str, Any]) -> list[str]:
    """Lines worth a reader's attention below the table: unfinished requests, errors, misses."""
    lines = []
    if doc["unfinished"]:
        lines.append(f"{doc['unfinished']} requests were still in flight at the hard stop")
    for op, stats in doc["operations"].items():
        if stats["error_kinds"]:
            kinds = ", ".join(f"{k} {n}" for k, n in stats["error_kinds"].items())
            lines.append(f"{op} errors: {kinds}")
        if stats.get("not_found"):
            lines.append(f"{op}: {stats['not_found']} keys not found (write them first, "
                         f"with the same --keys)")
        if stats.get("mismatched"):
            lines.append(f"{op}: {stats['mismatched']} values differ from what the writes put "
                         f"(another --value-size?)")
    return lines
