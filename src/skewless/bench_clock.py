"""``python -m skewless.bench_clock``: what clock safety costs, measured side by side in one run.

It starts local 3-node clusters on loopback (node i on 127.0.0.i, ports from ``--base-port``),
runs the stock driver against them and prints:

1. **Default clock safety against ``wallclock``** (Cassandra's stamping): two clusters, one per
   timestamp policy, both running; ``skewless stress`` write, read and mixed at QUORUM against
   each in turn (server-side timestamps: the coordinators stamp, which is what differs), for
   ``--rounds`` rounds (the order alternates), and the median ops/s and p99 of each with their
   ratio.
2. **Ordered writes**: sequential single-row QUORUM writes, one at a time, alternating between a
   table with ``ordered_writes = true`` and one without, on the default cluster: p50/p99 and the
   difference (the extra round trip).
3. **Commit wait**: the same sequential writes alternating between the default cluster and a
   third one started with ``--commit-wait``.

Nothing is asserted: the numbers are for the machine at hand. Every cluster it starts is
stopped by pid when it ends, and its data removed.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

from skewless import limits
from skewless.runtime.cluster import NodeProcess, start_local_cluster, stop_nodes

WORKLOADS = ("write", "read", "mixed")
STRESS_TIMEOUT_S = 900  # one stress run; bounded by --ops anyway


def _start(root: Path, name: str, port: int, extra: Sequence[str]) -> list[NodeProcess]:
    nodes = start_local_cluster(3, root / name, [list(extra)] * 3, cql_port=port,
                                internode_port=port - 2000)
    time.sleep(3)  # gossip and a few clock-ping rounds  # allow-real-clock
    return nodes


def _stress(workload: str, port: int, ops: int, concurrency: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "skewless.cli", "stress", workload, "--ops", str(ops),
           "--port", str(port), "--concurrency", str(concurrency), "--timestamps", "server",
           "--json", "-"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=STRESS_TIMEOUT_S)
    doc = json.loads(run.stdout)
    total = doc["total"]
    return {"ops_per_s": float(total["ops_per_s"]), "p99_ms": float(total["p99_ms"] or 0),
            "errors": float(total["errors"])}


def _session(port: int) -> tuple[Cluster, Session]:
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(),
                               consistency_level=ConsistencyLevel.QUORUM)
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    session = cluster.connect()
    session.use_client_timestamp = False  # the node stamps: that is what is measured
    return cluster, session


def _latencies(pairs: int, a: Callable[[int], object], b: Callable[[int], object]
               ) -> tuple[list[float], list[float]]:
    """Alternate ``a`` and ``b`` one at a time (after 20 warm-up pairs); latencies in ms."""
    la: list[float] = []
    lb: list[float] = []
    for i in range(pairs + 20):
        for fn, out in ((a, la), (b, lb)) if i % 2 == 0 else ((b, lb), (a, la)):
            t0 = time.perf_counter()  # allow-real-clock
            fn(i)
            if i >= 20:
                out.append((time.perf_counter() - t0) * 1000)  # allow-real-clock
    return sorted(la), sorted(lb)


def _line(name: str, ms: list[float]) -> str:
    n = len(ms)
    return (f"  {name:28} mean {statistics.mean(ms):6.2f} ms  p50 {ms[n // 2]:6.2f} ms  "
            f"p99 {ms[min(n - 1, int(n * 0.99))]:6.2f} ms")


def _policy_cost(port_hlc: int, port_wall: int, ops: int, rounds: int,
                 concurrency: int) -> None:
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(rounds):
        for workload in WORKLOADS:
            order = (("hlc", port_hlc), ("wallclock", port_wall))
            for policy, port in order if r % 2 == 0 else tuple(reversed(order)):
                results.setdefault((workload, policy), []).append(
                    _stress(workload, port, ops, concurrency))
    print(f"1. default (hlc, cluster time, checks) against wallclock: skewless stress, "
          f"{ops} ops, concurrency {concurrency}, QUORUM, RF=3, server-side timestamps, "
          f"median of {rounds} rounds")
    for workload in WORKLOADS:
        med = {p: statistics.median(x["ops_per_s"] for x in results[(workload, p)])
               for p in ("hlc", "wallclock")}
        p99 = {p: statistics.median(x["p99_ms"] for x in results[(workload, p)])
               for p in ("hlc", "wallclock")}
        errors = sum(x["errors"] for p in ("hlc", "wallclock") for x in results[(workload, p)])
        print(f"  {workload:6} hlc {med['hlc']:8.0f} ops/s (p99 {p99['hlc']:6.1f} ms)   "
              f"wallclock {med['wallclock']:8.0f} ops/s (p99 {p99['wallclock']:6.1f} ms)   "
              f"hlc/wallclock {med['hlc'] / med['wallclock']:.3f}   errors {errors:.0f}")


def _ordered_cost(port: int, pairs: int) -> None:
    cluster, s = _session(port)
    try:
        s.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE IF NOT EXISTS bench.plain (k int PRIMARY KEY, v int)")
        s.execute("CREATE TABLE IF NOT EXISTS bench.ordered (k int PRIMARY KEY, v int) "
                  "WITH ordered_writes = true")
        plain = s.prepare("UPDATE bench.plain SET v = ? WHERE k = 1")
        ordered = s.prepare("UPDATE bench.ordered SET v = ? WHERE k = 1")
        lp, lo = _latencies(pairs, lambda i: s.execute(plain, (i,)),
                            lambda i: s.execute(ordered, (i,)))
    finally:
        cluster.shutdown()
    print(f"2. ordered writes: {pairs} sequential QUORUM updates of one row each, alternating")
    print(_line("plain table", lp))
    print(_line("ordered_writes = true", lo))
    print(f"  extra at p50: {lo[len(lo) // 2] - lp[len(lp) // 2]:+.2f} ms")


def _commit_wait_cost(port: int, port_wait: int, pairs: int) -> None:
    sessions = [_session(p) for p in (port, port_wait)]
    try:
        stmts = []
        for _, s in sessions:
            s.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            s.execute("CREATE TABLE IF NOT EXISTS bench.cw (k int PRIMARY KEY, v int)")
            stmts.append(s.prepare("UPDATE bench.cw SET v = ? WHERE k = 1"))
        (_, s0), (_, s1) = sessions
        l0, l1 = _latencies(pairs, lambda i: s0.execute(stmts[0], (i,)),
                            lambda i: s1.execute(stmts[1], (i,)))
    finally:
        for c, _ in sessions:
            c.shutdown()
    print(f"3. commit wait: {pairs} sequential QUORUM updates, alternating between clusters")
    print(_line("default", l0))
    print(_line("--commit-wait", l1))
    print(f"  extra at p50: {l1[len(l1) // 2] - l0[len(l0) // 2]:+.2f} ms")


@click.command()
@click.option("--ops", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True)
@click.option("--pairs", type=click.IntRange(10, 100_000), default=500, show_default=True)
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29800, show_default=True)
def main(ops: int, rounds: int, concurrency: int, pairs: int, base_port: int) -> None:
    """Measure the cost of clock safety side by side (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="skewless-bench-clock-"))
    started: list[list[NodeProcess]] = []
    try:
        started.append(_start(root, "hlc", base_port, []))
        started.append(_start(root, "wallclock", base_port + 1,
                              ["--timestamp-policy", "wallclock"]))
        _policy_cost(base_port, base_port + 1, ops, rounds, concurrency)
        _ordered_cost(base_port, pairs)
        stop_nodes(started.pop(), limits.cluster_stop_grace_ms / 1000)
        started.append(_start(root, "commit-wait", base_port + 2, ["--commit-wait"]))
        _commit_wait_cost(base_port, base_port + 2, pairs)
    finally:
        for nodes in started:
            stop_nodes(nodes, limits.cluster_stop_grace_ms / 1000)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
