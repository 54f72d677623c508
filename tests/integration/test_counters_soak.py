"""Counters through a node's kill -9 on real node processes (issue 14's counter soak): 3 client
processes (``cas_soak_worker.py counters``) make 10,000 increments each through rotating
coordinators while a node is killed with kill -9 and restarted in the middle; after ``nodetool
repair`` the count read at ALL lies between the acknowledged increments and those plus the ones
whose outcome is unknown, and every replica read alone at ONE returns that same count
(``skewless.lab.counter_checks``)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from conftest import INTERNODE_PORT, LocalCluster
from test_cas_soak import _join, _read, _start, _stop, _wait_lines

from skewless.lab.counter_checks import counter_bounds, counter_replicas
from skewless.runtime.cluster import admin_port_for

COUNTER_WORKERS, COUNTER_INCREMENTS, COUNTER_KEYS = 3, 10_000, 5


def test_counters_three_processes_through_kill9_then_repair(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:
    c = cluster_factory(3)
    s = c.session()
    s.execute("CREATE KEYSPACE soak WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE soak.counts (k int PRIMARY KEY, n counter)")
    outs = _start(c, tmp_path, "counters", COUNTER_WORKERS, COUNTER_KEYS, COUNTER_INCREMENTS)
    procs = [p for p, _ in outs]
    try:
        _wait_lines([o for _, o in outs], COUNTER_WORKERS * COUNTER_INCREMENTS // 2)
        c.nodes[2].kill9()
        time.sleep(2)
        c.nodes[2].start()
        c.nodes[2].wait_ready()
        _join(procs)
    finally:
        _stop(procs)
    c.wait_gossip(3)
    history = _read([o for _, o in outs])
    repair = subprocess.run(
        [sys.executable, "-m", "skewless.nodetool.cli", "-h", c.nodes[0].address, "-p",
         str(admin_port_for(INTERNODE_PORT)), "repair", "-full", "soak"],
        capture_output=True, text=True, timeout=300)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    final: dict[object, int | None] = {}
    for k in range(COUNTER_KEYS):
        row = s.execute(SimpleStatement("SELECT n FROM soak.counts WHERE k = %s",
                                        consistency_level=ConsistencyLevel.ALL), (k,)).one()
        final[k] = row.n if row else None
    replicas: dict[object, dict[str, int | None]] = {
        k: {n.address: _one(c, n.address, k) for n in c.nodes}
                for k in range(COUNTER_KEYS)}
    acked = sum(1 for op in history if op["ok"])
    unknown = sum(1 for op in history if not op["ok"])
    print(f"\n{len(history)} increments: {acked} acknowledged, {unknown} unknown "
          f"({sum(1 for op in history if op.get('retry'))} resent by the driver); final "
          f"{final}, total {sum(v or 0 for v in final.values())}; replicas {replicas}")
    assert sum(1 for op in history if not op.get("retry")) == (
        COUNTER_WORKERS * COUNTER_INCREMENTS)
    assert counter_bounds(history, final) == []
    assert counter_replicas(history, replicas) == []
    assert acked >= len(history) * 9 // 10  # one node down: QUORUM still answers



def _one(c: LocalCluster, address: str, key: int) -> int | None:
    row = c.session_to(address).execute(SimpleStatement(
        "SELECT n FROM soak.counts WHERE k = %s", consistency_level=ConsistencyLevel.ONE),
        (key,)).one()
    return row.n if row else None

