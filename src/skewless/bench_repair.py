"""``python -m skewless.bench_repair``: what a repair moves when one replica missed writes.

It starts its own 3-node local cluster (RF=3, hinted handoff off; the nodes' admin endpoints on
the internode port + 199), writes ``--rows - --missed`` rows at QUORUM, stops node 3, writes the
``--missed`` other rows, restarts node 3 and runs ``nodetool repair``'s admin operations on node 1
(``admin.ops_repair``); then a second repair (nothing should move), and finally node 3
alone (nodes 1 and 2 stopped) is asked for every row at ONE. It prints the repair's lines and
summaries, the bytes that moved against the size of the table, and whether node 3 alone serves
every row. Nothing is asserted: the numbers are for the machine at hand.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy

from skewless.nodetool.client import AdminClient
from skewless.runtime.cluster import NodeProcess, admin_port_for, start_local_cluster, stop_nodes

ROWS_MAX = 10_000_000  # bounds one run
WAIT_S = 600  # one repair, or one gossip convergence, gets this long


def _session(address: str, port: int) -> tuple[Cluster, Session]:
    c = Cluster([address], port=port,
                load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    s = c.connect()
    s.default_timeout = 120
    return c, s


def _wait(session: Session, cond: str, up: int | None = None, down: str = "") -> None:
    deadline = time.monotonic() + WAIT_S  # allow-real-clock
    while time.monotonic() < deadline:  # allow-real-clock
        rows = {r.address: r.up for r in session.execute("SELECT * FROM system.skewless_status")}
        if (up is not None and sum(rows.values()) >= up) or (down and not rows.get(down, 1)):
            return
        time.sleep(0.2)  # allow-real-clock
    raise click.ClickException(f"gossip did not converge: {cond}")


def _repair(client: AdminClient) -> dict[str, Any]:
    (number,) = client.call("repair", {"keyspace": "bench"})["commands"]
    deadline = time.monotonic() + WAIT_S  # allow-real-clock
    while time.monotonic() < deadline:  # allow-real-clock
        status = client.call("repair_status", {"command": number})
        if status["state"] != "RUNNING":
            return status
        time.sleep(0.5)  # allow-real-clock
    raise click.ClickException("repair did not finish")


def _write(session: Session, keys: range) -> float:
    ins = session.prepare("INSERT INTO bench.repair (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.QUORUM
    started = time.perf_counter()  # allow-real-clock
    execute_concurrent_with_args(session, ins, [(k, f"value {k:012d}") for k in keys],
                                 concurrency=128, raise_on_first_error=True)
    return time.perf_counter() - started  # allow-real-clock


def run(data_dir: Path, rows: int, missed: int, cql_port: int, internode_port: int) -> None:
    extra = [["--no-hints"] for _ in range(3)]
    nodes: list[NodeProcess] = start_local_cluster(3, data_dir, extra, cql_port=cql_port,
                                                   internode_port=internode_port)
    try:
        _bench(nodes, rows, missed, cql_port, internode_port)
    finally:
        stop_nodes(nodes, 10.0)


def _bench(nodes: list[NodeProcess], rows: int, missed: int, cql_port: int,
           internode_port: int) -> None:
    n1, n2, n3 = nodes
    for n in nodes:
        c, s = _session(n.address, cql_port)
        _wait(s, "3 nodes up", up=3)
        c.shutdown()
    c1, s1 = _session(n1.address, cql_port)
    s1.execute("CREATE KEYSPACE bench WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s1.execute("CREATE TABLE bench.repair (k int PRIMARY KEY, v text)")
    secs = _write(s1, range(rows - missed))
    click.echo(f"wrote {rows - missed} rows at QUORUM in {secs:.1f} s")
    n3.terminate()
    _wait(s1, "node 3 down", down=n3.address)
    secs = _write(s1, range(rows - missed, rows))
    click.echo(f"node 3 down (no hints): wrote {missed} more rows in {secs:.1f} s")
    n3.restart()
    for n in nodes:
        c, s = _session(n.address, cql_port)
        _wait(s, "3 nodes up", up=3)
        c.shutdown()
    c1.shutdown()
    reports = []
    for label in ("repair", "second repair"):
        status = _repair(AdminClient(n1.address, admin_port_for(internode_port)))
        lines = status["lines"]
        assert isinstance(lines, list)
        click.echo(f"--- {label}: {len(lines)} lines, first and last:")
        click.echo("\n".join([lines[0], "...", *lines[-3:]]))
        reports.append(status["summary"])
    first = reports[0]
    assert isinstance(first, dict)
    per_row = first["bytes_streamed"] / max(1, first["partitions_streamed"])
    table = per_row * rows
    moved = first["bytes_streamed"] + first["bytes_fetched"]
    click.echo(f"first repair: {first}")
    click.echo(f"second repair: {reports[1]}")
    click.echo(f"streamed {first['bytes_streamed']} bytes ({first['partitions_streamed']} "
               f"partitions) of a table of ~{table:.0f} bytes ({rows} rows of ~{per_row:.0f} "
               f"bytes): {100 * first['bytes_streamed'] / table:.1f}%; with the leaves fetched "
               f"for merging {100 * moved / table:.1f}%, with the Merkle trees "
               f"{100 * (moved + first['tree_bytes']) / table:.1f}%")
    n1.terminate()
    n2.terminate()
    c3, s3 = _session(n3.address, cql_port)
    count = s3.execute("SELECT count(*) FROM bench.repair", timeout=300).one()[0]
    click.echo(f"node 3 alone (nodes 1 and 2 stopped) at ONE: {count} of {rows} rows")
    c3.shutdown()


@click.command()
@click.option("--rows", type=click.IntRange(1, ROWS_MAX), default=100_000, show_default=True)
@click.option("--missed", type=click.IntRange(1, ROWS_MAX), default=10_000, show_default=True,
              help="Rows written while node 3 is down.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where the nodes keep their data (default: a temporary directory).")
@click.option("--cql-port", type=int, default=29042, show_default=True)
@click.option("--internode-port", type=int, default=27000, show_default=True)
def main(rows: int, missed: int, data_dir: Path | None, cql_port: int,
         internode_port: int) -> None:
    if missed >= rows:
        raise click.BadParameter("--missed must be below --rows")
    if data_dir is not None:
        run(data_dir, rows, missed, cql_port, internode_port)
        return
    with tempfile.TemporaryDirectory(prefix="bench-repair-") as tmp:
        run(Path(tmp), rows, missed, cql_port, internode_port)


if __name__ == "__main__":
    main()
