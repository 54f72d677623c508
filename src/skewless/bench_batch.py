"""``python -m skewless.bench_batch``: the latency the batchlog adds to a LOGGED batch.

It runs against a cluster that is already serving (``skewless cluster start``): creates
``bench.batches`` (RF=3), then sends ``--pairs`` pairs of batches of ``--partitions`` single-row
partitions at QUORUM through the stock driver, one request at a time, alternating UNLOGGED and
LOGGED so that both kinds see the same load on the machine, and prints the mean, p50 and p99
latency of each kind and their difference. Nothing is asserted: the numbers are for the machine
at hand.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, BatchType

PAIRS_MAX = 100_000  # bounds one run


@dataclass(frozen=True)
class Latencies:
    kind: str
    ms: tuple[float, ...]  # sorted

    def line(self) -> str:
        n = len(self.ms)
        return (f"{self.kind:8} {n} batches: mean {statistics.mean(self.ms):6.2f} ms, "
                f"p50 {self.ms[n // 2]:6.2f} ms, p99 {self.ms[min(n - 1, int(n * 0.99))]:6.2f} ms")


def measure(session: Session, pairs: int, partitions: int) -> tuple[Latencies, Latencies]:
    """(UNLOGGED, LOGGED) latencies of ``pairs`` alternating batches (after 20 warm-up pairs)."""
    assert 1 <= pairs <= PAIRS_MAX and partitions >= 2
    session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    session.execute("CREATE TABLE IF NOT EXISTS bench.batches (k int PRIMARY KEY, v text)")
    ins = session.prepare("INSERT INTO bench.batches (k, v) VALUES (?, ?)")
    kinds = (BatchType.UNLOGGED, BatchType.LOGGED)
    out: dict[BatchType, list[float]] = {k: [] for k in kinds}
    warmup = 20
    for i in range(warmup + pairs):
        for j, kind in enumerate(kinds):
            b = BatchStatement(kind, consistency_level=ConsistencyLevel.QUORUM)
            base = ((i * 2 + j) * partitions) % 1_000_000
            for p in range(partitions):
                b.add(ins, (base + p, "v"))
            started = time.perf_counter()  # allow-real-clock
            session.execute(b)
            if i >= warmup:
                out[kind].append((time.perf_counter() - started) * 1000)  # allow-real-clock
    unlogged, logged = (Latencies(k.name, tuple(sorted(out[k]))) for k in kinds)
    return unlogged, logged


def report(unlogged: Latencies, logged: Latencies, partitions: int) -> str:
    added = statistics.median(logged.ms) - statistics.median(unlogged.ms)
    return "\n".join([
        f"{partitions}-partition batches at QUORUM, one at a time, alternating:",
        unlogged.line(), logged.line(),
        f"the batchlog adds {added:.2f} ms at p50 "
        f"({statistics.mean(logged.ms) - statistics.mean(unlogged.ms):.2f} ms on the mean)"])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@click.option("--pairs", type=click.IntRange(1, PAIRS_MAX), default=500, show_default=True)
@click.option("--partitions", type=click.IntRange(2, 1000), default=4, show_default=True)
def main(host: str, port: int, pairs: int, partitions: int) -> None:
    """Latency of LOGGED against UNLOGGED batches on a running cluster."""
    cluster = Cluster([host], port=port, protocol_version=4)
    try:
        session = cluster.connect()
        click.echo(report(*measure(session, pairs, partitions), partitions))
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
