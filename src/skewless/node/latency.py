"""Latency histograms of one node, in microseconds, for nodetool's tablestats/histograms.

Two kinds, as Cassandra keeps them:

* per table, the *local* latency of applying a mutation to this replica's storage and of
  reading one partition from it (Cassandra's ``TableMetrics.writeLatency/readLatency``,
  shown by ``nodetool tablestats`` and ``tablehistograms``);
* per node, the *coordinator* latency of whole requests this node coordinated, from the
  first replica message to the consistency level being met or failing (Cassandra's
  ``ClientRequestMetrics``, shown by ``nodetool proxyhistograms``).

The caller passes the elapsed time it measured with its injected clock: nothing here reads a
clock, so the same code records simulated time in the simulator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec

from hdrh.histogram import HdrHistogram

from skewless import limits
from skewless.clock import Clock

P = ParamSpec("P")

PERCENTILES = (50.0, 75.0, 95.0, 98.0, 99.0)  # nodetool's rows, then Min and Max


class Latency:
    """One latency histogram (µs), with the count Cassandra reports beside it."""

    def __init__(self) -> None:
        self._h = HdrHistogram(1, limits.latency_histogram_us_max, 3)
        # values not yet in ``_h``: recording one into an HdrHistogram costs microseconds of
        # Python, so they are folded in together (equal values once) when read or when many
        self._pending: list[int] = []

    def record(self, elapsed_us: int) -> None:
        pending = self._pending
        pending.append(elapsed_us)
        if len(pending) >= limits.latency_pending_values_max:
            self._fold()

    def _fold(self) -> None:
        if not self._pending:
            return
        top = limits.latency_histogram_us_max
        for value, n in Counter(self._pending).items():
            self._h.record_value(min(max(1, value), top), n)
        self._pending.clear()

    @property
    def count(self) -> int:
        self._fold()
        return int(self._h.get_total_count())

    def mean_us(self) -> float | None:
        return float(self._h.get_mean_value()) if self.count else None

    def percentiles_us(self) -> list[float]:
        """50/75/95/98/99th percentiles, Min, Max (all 0 when empty, as Cassandra prints)."""
        if not self.count:
            return [0.0] * (len(PERCENTILES) + 2)
        values = [float(self._h.get_value_at_percentile(p)) for p in PERCENTILES]
        return values + [float(self._h.get_min_value()), float(self._h.get_max_value())]


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

    def table(self, table_key: str) -> TableLatency:
        t = self.tables.get(table_key)
        if t is None:
            t = self.tables[table_key] = TableLatency()
        return t

    def local_write(self, table_key: str, elapsed_ns: int) -> None:
        self.table(table_key).write.record(elapsed_ns // 1000)

    def local_read(self, table_key: str, elapsed_ns: int) -> None:
        self.table(table_key).read.record(elapsed_ns // 1000)
