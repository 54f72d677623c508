"""Seed 000 reproduced and fixed: a coordinator whose clock is 200 ms slow, through the driver.

The flow of the post: INSERT (Write A), SELECT (Read A), LOGGED BATCH into another table, UPDATE
(Write B) of the same row, with server-side timestamps and round-robin coordinators; node 2's OS
clock is 200 ms slow (libfaketime). Under ``wallclock`` (Cassandra's behaviour) an UPDATE
coordinated by the slow node is stamped below Write A and silently lost; under ``hlc`` (the
default) node 2 stamps with cluster time (its measured offset corrects its clock) above
everything it has seen, so none is. Either way node 1 reports node 2's clock 200 ms off, with
the alarm.
"""

from __future__ import annotations

import os
import time

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType

# 500 in the suite (the wallclock run loses ~100 of them); the post's 1000 with
# SKEWLESS_SEED000_ITERATIONS=1000.
ITERATIONS = int(os.environ.get("SKEWLESS_SEED000_ITERATIONS", "500"))


def _run_flow(cluster_factory, faketime, policy: str, iterations: int  # type: ignore[no-untyped-def]
              ) -> tuple[int, object]:
    """(UPDATEs lost, node 2's row of system.skewless_status as node 1 sees it)."""
    extra = [["--timestamp-policy", policy]] * 3
    ft = faketime("node2", -0.2)  # node 2's OS clock 200 ms slow (libfaketime), as in the post
    c = cluster_factory(3, extra=extra, env=[{}, ft.env(), {}])
    time.sleep(1.5)  # a few clock-ping rounds
    s = c.round_robin_session()
    s.use_client_timestamp = False  # server-side timestamps, as in the post
    # One session per coordinator: iteration i sends Write A to node i % 3 and rotates the
    # other statements, so Write B always goes through a different node than Write A.
    per_node = [c.session_to(n.address) for n in c.nodes]
    for x in per_node:
        x.use_client_timestamp = False
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE app.table1 (id int PRIMARY KEY, status text)")
    s.execute("CREATE TABLE app.table2 (id int, n int, PRIMARY KEY (id, n))")
    q = ConsistencyLevel.QUORUM
    write_a = s.prepare("INSERT INTO app.table1 (id, status) VALUES (?, 'created')")
    read = s.prepare("SELECT status FROM app.table1 WHERE id = ?")
    item = s.prepare("INSERT INTO app.table2 (id, n) VALUES (?, ?)")
    write_b = s.prepare("UPDATE app.table1 SET status = 'processed' WHERE id = ?")
    for p in (write_a, read, item, write_b):
        p.consistency_level = q
    lost = 0
    def prep(x, text):  # type: ignore[no-untyped-def]
        st = x.prepare(text)
        st.consistency_level = q
        return st

    texts = (write_a.query_string, read.query_string, item.query_string, write_b.query_string)
    stmts = [[prep(x, t) for t in texts] for x in per_node]
    for i in range(iterations):
        a = i % 3
        write_a, _, _, _ = stmts[a]
        _, read, _, _ = stmts[(a + 1) % 3]
        _, _, item, _ = stmts[(a + 2) % 3]
        _, _, _, write_b = stmts[(a + 1) % 3]
        per_node[a].execute(write_a, (i,))
        assert per_node[(a + 1) % 3].execute(read, (i,)).one().status == "created"
        batch = BatchStatement(BatchType.LOGGED, consistency_level=q)
        batch.add(item, (i, 1))
        batch.add(item, (i, 2))
        per_node[(a + 2) % 3].execute(batch)
        per_node[(a + 1) % 3].execute(write_b, (i,))
        if per_node[(a + 2) % 3].execute(stmts[(a + 2) % 3][1], (i,)).one().status \
                != "processed":
            lost += 1
    status = {r.address: r for r in s.execute("SELECT * FROM system.skewless_status")}
    return lost, status["127.0.0.2"]


@pytest.mark.parametrize("policy", ["wallclock", "hlc"])
def test_seed000_slow_coordinator(cluster_factory, faketime, policy: str) -> None:  # type: ignore[no-untyped-def]
    lost, node2 = _run_flow(cluster_factory, faketime, policy, ITERATIONS)
    print(f"\n{policy}: {lost} of {ITERATIONS} UPDATEs silently lost "
          f"({100 * lost / ITERATIONS:.1f}%); node 2 as node 1 sees it: clock offset "
          f"{node2.clock_offset_ms:+.1f} ms, alarm {node2.clock_alarm}")  # type: ignore[attr-defined]
    # Both policies measure node 2's clock; only hlc stamps with cluster time.
    assert abs(node2.clock_offset_ms + 200) < 20 and node2.clock_alarm  # type: ignore[attr-defined]
    if policy == "wallclock":
        assert lost > 0
    else:
        assert lost == 0
