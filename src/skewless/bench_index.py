"""``python -m skewless.bench_index``: a secondary index query against a filtered full scan.

It runs against a cluster that is already serving (``skewless cluster start``, 3 nodes): creates
``bench.indexed`` (RF=3) with ``--rows`` rows (``--partitions`` partitions), where ``v`` (with a
secondary index) and ``w`` (without) hold the same value, ``--values`` distinct values spread
evenly, and ``m`` a map whose entry ``'g'`` has its own ENTRIES index, created after the load
(so it is built over existing rows). Once every node lists the indexes in
``system."IndexInfo"`` (the time this took is printed), it times, at ONE and QUORUM with
``--fetch-size`` rows a page, reading every page of:

* ``SELECT k, c FROM bench.indexed WHERE v = ?`` (served by the index),
* ``SELECT k, c FROM bench.indexed WHERE w = ? ALLOW FILTERING`` (the same rows by a scan),
* ``SELECT k, c FROM bench.indexed WHERE m['g'] = ?`` (the ENTRIES index),

checks that the three return the same rows, and prints the median time of each over
``--repeat`` runs. Nothing is asserted beyond equal answers: the numbers are for the machine at
hand.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.query import SimpleStatement

ROWS_MAX = 10_000_000  # bounds one run
_INFLIGHT = 256  # concurrent inserts while loading


def load(session: Session, rows: int, partitions: int, values: int) -> None:
    """(Re)create ``bench.indexed`` holding ``rows`` rows: the index on ``v`` exists while
    they are written, the one on ``m`` is created afterwards (a background build)."""
    session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    session.cluster.control_connection.wait_for_schema_agreement(wait_time=30)
    session.execute("DROP TABLE IF EXISTS bench.indexed")
    session.execute("CREATE TABLE bench.indexed (k int, c int, v int, w int, m map<text, int>, "
                    "PRIMARY KEY (k, c))")
    session.execute("CREATE INDEX indexed_v ON bench.indexed (v)")  # maintained while loading
    insert = session.prepare("INSERT INTO bench.indexed (k, c, v, w, m) VALUES (?, ?, ?, ?, ?)")
    insert.consistency_level = ConsistencyLevel.QUORUM
    per = max(1, rows // partitions)
    futures = []
    for i in range(rows):
        value = i % values
        futures.append(session.execute_async(
            insert, (i // per, i % per, value, value, {"g": value})))
        if len(futures) >= _INFLIGHT:
            for f in futures:
                f.result()
            futures = []
    for f in futures:
        f.result()
    session.execute("CREATE INDEX indexed_m ON bench.indexed (ENTRIES(m))")  # built afterwards


def timed(session: Session, cql: str, value: int, cl: int, fetch: int
          ) -> tuple[float, list[tuple[int, int]]]:
    """Seconds to read every page of ``cql``, and the rows."""
    stmt = SimpleStatement(cql, fetch_size=fetch, consistency_level=cl)
    started = time.perf_counter()  # allow-real-clock
    got = [(r.k, r.c) for r in session.execute(stmt, (value,))]
    return time.perf_counter() - started, got  # allow-real-clock


QUERIES = (
    ("index v = ?", "SELECT k, c FROM bench.indexed WHERE v = %s"),
    ("scan  w = ? ALLOW FILTERING", "SELECT k, c FROM bench.indexed WHERE w = %s ALLOW FILTERING"),
    ("index m['g'] = ?", "SELECT k, c FROM bench.indexed WHERE m['g'] = %s"),
)


def measure(session: Session, values: int, fetch: int, repeat: int,
            echo: Callable[[str], None]) -> None:
    for cl in (ConsistencyLevel.ONE, ConsistencyLevel.QUORUM):
        name = ConsistencyLevel.value_to_name[cl]
        times: dict[str, list[float]] = {label: [] for label, _ in QUERIES}
        rows = 0
        for r in range(repeat):
            value = (r * 7 + 3) % values
            answers = []
            for label, cql in QUERIES:
                seconds, got = timed(session, cql, value, cl, fetch)
                times[label].append(seconds)
                answers.append(sorted(got))
            if not answers[0] == answers[1] == answers[2]:
                raise click.ClickException(f"answers differ for value {value} at {name}")
            rows = len(answers[0])
        echo(f"{name}: {rows} matching rows per query, fetch size {fetch}, "
             f"median of {repeat} runs:")
        base = statistics.median(times[QUERIES[1][0]])
        for label, _ in QUERIES:
            t = statistics.median(times[label])
            echo(f"  {label:30} {t * 1000:9.1f} ms  ({base / t:6.1f}x faster than the scan)"
                 if label != QUERIES[1][0] else f"  {label:30} {t * 1000:9.1f} ms")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@click.option("--rows", type=click.IntRange(1, ROWS_MAX), default=100_000, show_default=True)
@click.option("--partitions", type=click.IntRange(1, ROWS_MAX), default=10_000,
              show_default=True)
@click.option("--values", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="Distinct indexed values (a query matches rows/values rows).")
@click.option("--fetch-size", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--repeat", type=click.IntRange(1, 1000), default=3, show_default=True)
@click.option("--skip-load", is_flag=True, help="Query the table a previous run loaded.")
def main(host: str, port: int, rows: int, partitions: int, values: int, fetch_size: int,
         repeat: int, skip_load: bool) -> None:
    """Time an index query against a full scan with ALLOW FILTERING on a running cluster."""
    cluster = Cluster([host], port=port, protocol_version=4)
    try:
        session = cluster.connect()
        hosts = list(cluster.metadata.all_hosts())
        if not skip_load:
            started = time.perf_counter()  # allow-real-clock
            load(session, rows, partitions, values)
            took = time.perf_counter() - started  # allow-real-clock
            click.echo(f"loaded {rows} rows in {partitions} partitions on {len(hosts)} nodes "
                       f"(RF=3) in {took:.1f} s")
        started = time.perf_counter()  # allow-real-clock
        built = {"indexed_v", "indexed_m"}
        for h in hosts:  # every node's own "IndexInfo"
            deadline = time.monotonic() + 600  # allow-real-clock
            while True:
                got = session.execute('SELECT table_name, index_name FROM system."IndexInfo"',
                                      host=h)
                if built <= {r.index_name for r in got if r.table_name == "bench"}:
                    break
                if time.monotonic() > deadline:  # allow-real-clock
                    raise click.ClickException(f"indexes not built on {h}")
                time.sleep(0.2)  # allow-real-clock
        waited = time.perf_counter() - started  # allow-real-clock
        click.echo(f"indexes built on every node {waited:.1f} s after the load")
        session.default_timeout = 300
        measure(session, values, fetch_size, repeat, click.echo)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
