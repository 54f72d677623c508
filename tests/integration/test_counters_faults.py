"""Counters through a node's kill -9 and restart on a real 3-node cluster: 3 client threads
increment through rotating coordinators while one node is killed and restarted; the final
count read at ALL lies between the acknowledged increments and those plus the failed ones, and
after read repair every replica read at ONE holds that same count (``lab.counter_checks``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from conftest import LocalCluster

from skewless.lab.counter_checks import counter_bounds, counter_replicas

THREADS = 3
PER_THREAD = 400
KEYS = 4


def test_counter_totals_through_a_kill9_and_restart(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(3)
    s = c.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE ks.c (k int PRIMARY KEY, n counter)")
    history: list[dict[str, object]] = []
    lock = threading.Lock()
    progress = [0]

    def client(t: int) -> None:
        session = c.round_robin_session()
        inc = session.prepare("UPDATE ks.c SET n = n + ? WHERE k = ?")
        inc.consistency_level = ConsistencyLevel.QUORUM
        for i in range(PER_THREAD):
            key, delta = (t + i) % KEYS, 1 + (i % 3)
            start = time.monotonic()
            future = session.execute_async(inc, (delta, key), timeout=20)
            try:
                future.result()
                ok = True
            except Exception:  # a timeout, a lost connection: outcome unknown
                ok = False
            with lock:
                history.append({"op": "increment", "key": key, "delta": delta, "ok": ok,
                                "start": start, "end": time.monotonic()})
                if ok and len(future.attempted_hosts) > 1:
                    # the stock driver resent it after a broken connection (its default retry
                    # policy, even for a counter): the first send's outcome is unknown
                    history.append({"op": "increment", "key": key, "delta": delta,
                                    "ok": False, "start": start, "end": time.monotonic(),
                                    "retry": True})
                progress[0] += 1

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    while progress[0] < THREADS * PER_THREAD // 3:
        time.sleep(0.05)
    c.nodes[2].kill9()
    time.sleep(2)
    c.nodes[2].start()
    c.nodes[2].wait_ready()
    for th in threads:
        th.join(timeout=600)
    c.wait_gossip(3)
    time.sleep(5)  # hints replayed to the restarted node
    final: dict[object, int | None] = {}
    for key in range(KEYS):
        rows = list(s.execute(SimpleStatement(f"SELECT n FROM ks.c WHERE k = {key}",
                                              consistency_level=ConsistencyLevel.ALL)))
        final[key] = rows[0].n if rows else None
    replicas = {key: {n.address: _one(c, n.address, key) for n in c.nodes}
                for key in range(KEYS)}
    acked = sum(1 for op in history if op["ok"])
    print(f"{len(history)} increments, {acked} acknowledged, final {final}")
    assert sum(1 for op in history if not op.get("retry")) == THREADS * PER_THREAD
    assert acked >= len(history) // 2
    assert counter_bounds(history, final) == []
    assert counter_replicas(history, replicas) == []


def _one(c: LocalCluster, address: str, key: int) -> int | None:
    rows = list(c.session_to(address).execute(SimpleStatement(
        f"SELECT n FROM ks.c WHERE k = {key}", consistency_level=ConsistencyLevel.ONE)))
    return rows[0].n if rows else None
