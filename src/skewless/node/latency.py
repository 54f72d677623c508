"""Latency histograms of one node, in microseconds, for nodetool's tablestats/histograms.

Two kinds, as Cassandra keeps them:

* per table, the *local* latency of applying a mutation to this replica's storage and of
  reading one partition from it (Cassandra's ``TableMetrics.writeLatency/readLatency``,
  shown by ``nodetool tablestats`` and ``tablehistograms``);
* per node, the *coordinator* latency of whole requests this node coordinated, from the
  first replica message to the consistency level being met or failing (Cassandra's
  ``ClientRequestMetrics``, shown by ``nodetool proxyhistograms``); for an LWT or a SERIAL
  read, from its first Paxos round to its outcome, contention and backoff included (CASWrite,
  CASRead).

The caller passes the elapsed time it measured with its injected clock: nothing here reads a
clock, so the same code records simulated time in the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec

from hdrh.histogram import HdrHistogram

from skewless import limits
from skewless.clock import Clock

P = ParamSpec("P")

PERCENTILES = (50.0, 75.0, 95.0, 98.0, 99.0)  # nodetool's rows, then Min and Max


class Latency:
    """One latency histogram (µs), with the count Cassandra reports beside it.

    ``record`` runs several times per write: it only appends. The values are folded into the
    histogram when it is read, or once ``latency_pending_max`` are waiting; folding rounds each
    value down to the lowest of its histogram bucket (the bucket the histogram itself would
    put it in, so counts, percentiles, min, max and mean are the same) and records each bucket
    once with its count."""

    def __init__(self) -> None:
        self._h = HdrHistogram(1, limits.latency_histogram_us_max, 3)
        # Values below 2**_exact are their own bucket; above, a bucket spans 2**(bits - _exact).
        self._exact = self._h.sub_bucket_half_count_magnitude + 1
        assert self._h.unit_magnitude == 0
        self._pending: list[int] = []

    def record(self, elapsed_us: int) -> None:
        pending = self._pending
        pending.append(elapsed_us)
        if len(pending) >= limits.latency_pending_max:
            self._fold()

    def _fold(self) -> None:
        if not self._pending:
            return
        exact, top = self._exact, limits.latency_histogram_us_max
        buckets: dict[int, int] = {}
        for v in self._pending:
            v = min(max(1, v), top)
            shift = v.bit_length() - exact
            if shift > 0:
                v = (v >> shift) << shift
            buckets[v] = buckets.get(v, 0) + 1
        self._pending.clear()
        for v, n in buckets.items():
            self._h.record_value(v, n)

    @property
    def histogram(self) -> HdrHistogram:
        self._fold()
        return self._h

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def mean_us(self) -> float | None:
        return float(self.histogram.get_mean_value()) if self.count else None

    def percentiles_us(self) -> list[float]:
        """50/75/95/98/99th percentiles, Min, Max (all 0 when empty, as Cassandra prints)."""
        if not self.count:
            return [0.0] * (len(PERCENTILES) + 2)
        h = self.histogram
        values = [float(h.get_value_at_percentile(p)) for p in PERCENTILES]
        return values + [float(h.get_min_value()), float(h.get_max_value())]


def timed(clock: Clock, latency: Latency, done: Callable[P, None]) -> Callable[P, None]:
    """``done``, recording into ``latency`` the time from now until it is called."""
    started_ns = clock.monotonic_ns()

    def wrapped(*args: P.args, **kwargs: P.kwargs) -> None:
        latency.record((clock.monotonic_ns() - started_ns) // 1000)
        done(*args, **kwargs)

    return wrapped


@dataclass
class TableLatency:
    read: Latency = field(default_factory=Latency)
    write: Latency = field(default_factory=Latency)


class NodeLatency:
    """Local latency per table (by table key) and coordinator latency of this node."""

    def __init__(self) -> None:
        self.tables: dict[str, TableLatency] = {}
        self.coordinator_read = Latency()
        self.coordinator_write = Latency()
        self.coordinator_range = Latency()
        self.coordinator_cas_read = Latency()  # SERIAL / LOCAL_SERIAL reads (Cassandra: CASRead)
        self.coordinator_cas_write = Latency()  # conditional statements (CASWrite)

    def table(self, table_key: str) -> TableLatency:
        t = self.tables.get(table_key)
        if t is None:
            t = self.tables[table_key] = TableLatency()
        return t

    def local_write(self, table_key: str, elapsed_ns: int) -> None:
        self.table(table_key).write.record(elapsed_ns // 1000)

    def local_read(self, table_key: str, elapsed_ns: int) -> None:
        self.table(table_key).read.record(elapsed_ns // 1000)
