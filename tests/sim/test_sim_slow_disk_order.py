"""The simulator's slow disk keeps the runtime's order: a Ready batch taken while an earlier
batch waits for its sync leaves after that sync, never before. Otherwise a replica answers a
read with a write it has not made durable yet (a crash then takes back a value a client saw:
the swarm found this as a linearizability violation, seed 13 with slow disks and crashes)."""

from __future__ import annotations

from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

MS = 1_000_000


def test_a_read_answer_waits_for_the_slow_sync_of_the_write_it_saw() -> None:
    w = World(5, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    a1, a2, _ = sorted(w.nodes)
    got: list[Reply] = []
    for text in ("CREATE KEYSPACE ks WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                 "CREATE TABLE ks.t (k int PRIMARY KEY, v int)"):
        n = len(got)
        w.client_query(a1, 1, text, QUORUM, got.append)
        assert w.run_until(lambda n=n: len(got) > n, 10 * 10**9)  # type: ignore[misc]
    w.run_for(1000 * MS)
    w.nodes[a1].disk_sync_ns = 500 * MS
    writes: list[Reply] = []
    reads: list[Reply] = []
    w.client_query(a1, 2, "UPDATE ks.t SET v = 1 WHERE k = 1", ONE, writes.append)
    w.run_for(1 * MS)
    w.client_query(a2, 3, "SELECT v FROM ks.t WHERE k = 1", ALL, reads.append)
    w.run_for(100 * MS)
    assert not writes and not reads  # node 1's answer waits behind its sync
    w.run_for(600 * MS)
    assert writes and reads
    assert list(reads[0].body.rows) == [(b"\x00\x00\x00\x01",)]  # type: ignore[attr-defined]
