"""``python -m skewless.bench_load`` (also ``skewless bench load``): a long load, decile by decile.

It starts 3 local Skewless nodes (node i on 127.0.0.i, batch commit log), creates a keyspace
with RF=3 and loads ``--rows`` distinct rows (keys 0..rows-1, ``--value-bytes`` each) through one
stock cassandra-driver process (this one), a prepared INSERT at QUORUM with server-side
timestamps, ``--concurrency`` in flight. As each tenth of the rows is answered it prints that
decile's throughput and the servers' CPU per row (utime + stime of the 3 node processes, from
/proc); at the end, the ratio of the last decile's throughput to the first's, and for each node
its data size on disk (its data directory without logs) and its resident memory.

The run is bounded: ``--max-seconds`` stops it (the deciles done are reported). Nothing is
asserted; the nodes are stopped by pid and the data removed at the end.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import click

from skewless.bench_support import (
    DriverLoop,
    bench_cluster,
    connect_driver,
    cpu_seconds,
    disk_bytes,
    human_bytes,
    now_s,
    rss_bytes,
    wait_all_up,
)
from skewless.runtime.cluster import (
    NodeProcess,
    node_address,
)

NODES = 3
KEYSPACE = "bench_load"
TABLE = "rows"
DECILES = 10
ROWS_MAX = 100_000_000  # bounds one run (3 replicas of each row on this machine's disk)


@dataclass(frozen=True)
class Decile:
    index: int  # 1..10
    first_row: int  # 1-based, inclusive
    last_row: int
    seconds: float
    server_cpu_s: float

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row + 1

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def line(self) -> str:
        return (f"decile {self.index:2}: rows {self.first_row:>11,}-{self.last_row:<11,} "
                f"{self.per_s:9,.0f} rows/s  server CPU "
                f"{self.server_cpu_s * 1e6 / self.rows:6,.0f} µs/row")


class DecileWatch:
    """Called after each answer with the count so far; closes a decile at each tenth."""

    def __init__(self, rows: int, server_pids: tuple[int, ...]) -> None:
        self._bounds = [rows * (i + 1) // DECILES for i in range(DECILES)]
        self._pids = server_pids
        self._lock = threading.Lock()
        self.deciles: list[Decile] = []
        self._mark = (now_s(), cpu_seconds(server_pids), 0)

    def __call__(self, finished: int) -> None:
        closed: list[Decile] = []
        with self._lock:
            while len(self.deciles) < DECILES and finished >= self._bounds[len(self.deciles)]:
                i = len(self.deciles)
                t, cpu = now_s(), cpu_seconds(self._pids)
                t0, cpu0, last = self._mark
                d = Decile(i + 1, last + 1, self._bounds[i], t - t0, cpu - cpu0)
                self.deciles.append(d)
                self._mark = (t, cpu, self._bounds[i])
                if d.rows > 0:  # fewer rows than deciles leaves some empty
                    closed.append(d)
        for d in closed:
            click.echo(d.line())


def load(nodes: list[NodeProcess], cql_port: int, rows: int, concurrency: int,
         value_bytes: int, max_seconds: float) -> None:
    hosts = tuple(node_address(i) for i in range(1, NODES + 1))
    driver = connect_driver(hosts, cql_port)
    try:
        session = driver.connect()
        session.use_client_timestamp = False  # the coordinator stamps every write
        wait_all_up(session, NODES)
        session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 3}", timeout=60)
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} "
                        "(k bigint PRIMARY KEY, v blob)", timeout=60)
        insert = session.prepare(f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES (?, ?)")
        value = random.Random(1).randbytes(value_bytes)
        pids = tuple(n.pid for n in nodes)
        watch = DecileWatch(rows, pids)
        started, cpu0 = now_s(), cpu_seconds(pids)
        result = DriverLoop(session, insert, lambda i: (i, value), concurrency,
                            deadline_s=started + max_seconds, total=rows,
                            keep_latencies=False, on_done=watch).run()
        cpu1 = cpu_seconds(pids)
    finally:
        driver.shutdown()
    done = result.ops + result.errors
    stopped = "" if done >= rows else f" (stopped by --max-seconds {max_seconds:g} after {done:,})"
    click.echo(f"{result.ops:,} rows in {result.elapsed_s:,.1f} s: "
               f"{result.ops / max(result.elapsed_s, 1e-9):,.0f} rows/s, server CPU "
               f"{(cpu1 - cpu0) * 1e6 / max(result.ops, 1):,.0f} µs/row, {result.errors} errors"
               + (f" ({', '.join(f'{n} {k}' for k, n in result.error_kinds.items())})"
                  if result.errors else "") + stopped)
    full = [d for d in watch.deciles if d.rows > 0]
    if len(full) >= 2 and len(watch.deciles) == DECILES:
        first, last = full[0], full[-1]
        click.echo(f"last decile / first decile throughput: {last.per_s / first.per_s:.2f} "
                   f"({last.per_s:,.0f} / {first.per_s:,.0f} rows/s)")
    else:
        click.echo("last decile / first decile throughput: n/a (the load did not finish)")
    for n in nodes:
        size = human_bytes(disk_bytes(n.data_dir))
        click.echo(f"node{n.index} ({n.address}): data on disk {size}, "
                   f"RSS {human_bytes(rss_bytes(n.pid))}")


@click.command()
@click.option("--rows", type=click.IntRange(1, ROWS_MAX), default=5_000_000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Requests in flight.")
@click.option("--value-bytes", type=click.IntRange(1, 1_000_000), default=100,
              show_default=True)
@click.option("--max-seconds", type=click.FloatRange(1, 86_400), default=14_400,
              show_default=True, help="Stop the load after this long.")
@click.option("--timestamp-policy", type=click.Choice(["hlc", "wallclock"]), default="hlc",
              show_default=True, help="The nodes' timestamp policy.")
@click.option("--data-dir", "data_parent", type=click.Path(file_okay=False), default=None,
              help="Where the run's temporary directory is made (default: the system's).")
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29300,
              show_default=True, help="CQL port BASE, internode BASE-2000.")
def main(rows: int, concurrency: int, value_bytes: int, max_seconds: float,
         timestamp_policy: str, data_parent: str | None, base_port: int) -> None:
    """Load ROWS rows through one driver process; throughput per decile, disk and memory."""
    args = ["--timestamp-policy", timestamp_policy, "--commitlog-sync", "batch"]
    with bench_cluster("bench-load", NODES, args, base_port, base_port - 2000,
                       data_parent) as nodes:
        click.echo(f"bench_load: {rows:,} rows into a {NODES}-node local cluster "
                   f"({timestamp_policy}), QUORUM, RF=3, {concurrency} in flight, "
                   f"{value_bytes}-byte values, server timestamps, one driver process")
        load(nodes, base_port, rows, concurrency, value_bytes, max_seconds)


if __name__ == "__main__":
    main()
