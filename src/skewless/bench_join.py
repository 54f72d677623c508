"""``python -m skewless.bench_join``: grow a loaded cluster under load and count what was lost.

It starts a local 3-node cluster in ``--data-dir`` (ports ``--cql-port``/``--internode-port``),
loads ``--rows`` rows at replication factor ``--rf``, starts ``--clients`` client processes that
write new rows and read loaded ones at QUORUM, then adds nodes 4..``--nodes`` one at a time
(each bootstraps: JOINING, streams, NORMAL). After the last join it stops the clients and
checks: every loaded row and every acknowledged write readable at ONE through each node, the
count at ONE. It prints acknowledged writes lost, rows invisible at ONE, failed QUORUM reads
during the joins, what each join streamed against the data set, and effective ownership after
each join. Nothing is asserted: the numbers are for the machine at hand.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from skewless.node.topology.tokens import ownership, spread_percent
from skewless.runtime.cluster import (
    NodeProcess,
    node_address,
    node_argv,
    start_local_cluster,
    stop_nodes,
)

ROWS_MAX = 10_000_000  # bounds one run
JOIN_WAIT_S = 1800  # a join that takes longer than half an hour is reported as stuck
CLIENT_KEY_BASE = 100_000_000  # client-written keys start here, apart from the loaded ones


def driver_session(port: int, address: str | None = None) -> tuple[Cluster, Session]:
    if address is None:
        c = Cluster([node_address(1)], port=port, protocol_version=4)
    else:
        c = Cluster([address], port=port, protocol_version=4,
                    load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    return c, c.connect()


def _client(index: int, port: int, rows: int, stop: Any, out: Any) -> None:
    """A client process: alternately a QUORUM write of a new key and a QUORUM read of a loaded
    key, until ``stop``; puts (acknowledged keys, failed writes, reads, failed reads)."""
    cluster, s = driver_session(port)
    ins = s.prepare("INSERT INTO bench.t (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.QUORUM
    sel = s.prepare("SELECT v FROM bench.t WHERE k = ?")
    sel.consistency_level = ConsistencyLevel.QUORUM
    rng = random.Random(index)
    acked: list[int] = []
    failed_writes = reads = failed_reads = 0
    n = 0
    while not stop.is_set():
        key = CLIENT_KEY_BASE + index * 10_000_000 + n
        n += 1
        try:
            s.execute(ins, (key, f"client-{key}"))
            acked.append(key)
        except Exception:  # noqa: BLE001 - a failed write is counted, not acknowledged
            failed_writes += 1
        reads += 1
        try:
            if len(list(s.execute(sel, (rng.randrange(rows),)))) != 1:
                failed_reads += 1
        except Exception:  # noqa: BLE001 - counted
            failed_reads += 1
    cluster.shutdown()
    out.put((acked, failed_writes, reads, failed_reads))


def _wait_log(p: NodeProcess, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s  # allow-real-clock
    while time.monotonic() < deadline:  # allow-real-clock
        log = p.log_path.read_text(errors="replace")
        if text in log:
            return log
        if not p.running():
            raise click.ClickException(f"{p.address} exited:\n{p.log_tail()}")
        time.sleep(0.5)  # allow-real-clock
    raise click.ClickException(f"{p.address} never logged {text!r}:\n{p.log_tail()}")


def _ownership(port: int, rf: int) -> dict[str, float]:
    """Effective ownership from node 1's system.peers and system.local (one node's view)."""
    cluster, s = driver_session(port, node_address(1))
    toks = {str(r.rpc_address): tuple(int(t) for t in r.tokens)
            for r in s.execute("SELECT rpc_address, tokens FROM system.peers") if r.tokens}
    local = s.execute("SELECT rpc_address, tokens FROM system.local").one()
    toks[str(local.rpc_address)] = tuple(int(t) for t in local.tokens)
    cluster.shutdown()
    return ownership(toks, rf)


def _missing_at_one(port: int, address: str, keys: list[int]) -> tuple[int, str]:
    """(rows read as absent, the reads that failed by error) at ONE through ``address``."""
    cluster, s = driver_session(port, address)
    sel = s.prepare("SELECT v FROM bench.t WHERE k = ?")
    sel.consistency_level = ConsistencyLevel.ONE
    res = execute_concurrent_with_args(s, sel, [(k,) for k in keys], concurrency=32,
                                       raise_on_first_error=False)
    errors = Counter(type(r).__name__ for ok, r in res if not ok)
    failed = ", ".join(f"{n} {e}" for e, n in sorted(errors.items())) or "none"
    missing = sum(1 for ok, rows in res if ok and len(list(rows)) != 1)
    cluster.shutdown()
    return missing, failed


@click.command()
@click.option("--rows", type=click.IntRange(1, ROWS_MAX), default=100_000, show_default=True)
@click.option("--rf", type=click.IntRange(1, 3), default=1, show_default=True)
@click.option("--nodes", type=click.IntRange(4, 9), default=4, show_default=True,
              help="Grow the 3-node cluster to this many nodes, one join at a time.")
@click.option("--clients", type=click.IntRange(0, 16), default=3, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the nodes keep their data (default: a new temporary directory).")
@click.option("--cql-port", type=int, default=29042, show_default=True)
@click.option("--internode-port", type=int, default=27000, show_default=True)
def main(rows: int, rf: int, nodes: int, clients: int, data_dir: str | None, cql_port: int,
         internode_port: int) -> None:
    """Add nodes to a loaded 3-node cluster under load; print what moved and what was lost."""
    root = Path(data_dir or tempfile.mkdtemp(prefix="skewless-bench-join-"))
    procs = start_local_cluster(3, root, cql_port=cql_port, internode_port=internode_port)
    try:
        _run(procs, root, rows, rf, nodes, clients, cql_port, internode_port)
    finally:
        stop_nodes(procs, 10.0)


def _run(procs: list[NodeProcess], root: Path, rows: int, rf: int, nodes: int, clients: int,
         cql_port: int, internode_port: int) -> None:
    time.sleep(3)  # allow-real-clock  (gossip settles)
    cluster, s = driver_session(cql_port)
    s.execute("CREATE KEYSPACE bench WITH replication = "
              f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
    s.execute("CREATE TABLE bench.t (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO bench.t (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.ALL
    started = time.monotonic()  # allow-real-clock
    res = execute_concurrent_with_args(s, ins, [(k, f"row-{k:09d}") for k in range(rows)],
                                       concurrency=128)
    assert all(ok for ok, _ in res), "the load failed"
    took = time.monotonic() - started  # allow-real-clock
    click.echo(f"loaded {rows} rows at RF={rf} in {took:.1f} s")
    spread = spread_percent(_ownership(cql_port, rf))
    click.echo(f"ownership at 3 nodes: spread {spread:.1f} % of the mean")
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    out: Any = ctx.Queue()
    workers = [ctx.Process(target=_client, args=(i, cql_port, rows, stop, out))
               for i in range(clients)]
    for w in workers:
        w.start()
    for index in range(4, nodes + 1):
        data = root / f"node{index}"
        p = NodeProcess(index=index, address=node_address(index), cql_port=cql_port,
                        data_dir=data, argv=node_argv(index, data, seeds=[node_address(1)],
                                                      cql_port=cql_port,
                                                      internode_port=internode_port))
        procs.append(p)
        t0 = time.monotonic()  # allow-real-clock
        p.start()
        log = _wait_log(p, "is now NORMAL", JOIN_WAIT_S)
        line = next((x for x in log.splitlines() if "bootstrap complete" in x), "")
        click.echo(f"node {index} joined in {time.monotonic() - t0:.1f} s: "  # allow-real-clock
                   f"{line.split('bootstrap complete: ')[-1]} (data set: {rows} rows x RF {rf})")
        time.sleep(3)  # allow-real-clock  (the NORMAL state gossiped)
        own = _ownership(cql_port, rf)
        click.echo(f"ownership at {index} nodes (effective, RF={rf}): "
                   + ", ".join(f"{a} {o * 100:.1f}%" for a, o in sorted(own.items()))
                   + f"; spread {spread_percent(own):.1f} % of the mean")
    stop.set()
    acked: list[int] = []
    failed_writes = reads = failed_reads = 0
    for _ in workers:
        a, fw, r, fr = out.get(timeout=120)
        acked.extend(a)
        failed_writes, reads, failed_reads = failed_writes + fw, reads + r, failed_reads + fr
    for w in workers:
        w.join(30)
    click.echo(f"clients: {len(acked)} writes acknowledged, {failed_writes} failed; "
               f"{reads} QUORUM reads, {failed_reads} failed")
    every = list(range(rows)) + acked
    for p in procs:
        lost, failed = _missing_at_one(cql_port, p.address, every)
        click.echo(f"via {p.address}: {lost} of {len(every)} rows invisible at ONE "
                   f"(reads failed: {failed})")
    count = s.execute(SimpleStatement("SELECT count(*) FROM bench.t",
                                      consistency_level=ConsistencyLevel.ONE),
                      timeout=600).one()[0]
    click.echo(f"count(*) at ONE: {count} (expected {len(every)})")
    cluster.shutdown()


if __name__ == "__main__":
    main()
