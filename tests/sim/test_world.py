"""The simulator runs the production node code: deterministic traces, virtual time."""

from __future__ import annotations

import hashlib
import time

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World


def _workload(seed: int, sim_seconds: int) -> tuple[World, list[object]]:
    w = World(seed, n_nodes=3)
    assert w.stabilize()
    answers: list[object] = []

    def on_reply(r: Reply) -> None:
        answers.append(r.body)

    addrs = sorted(w.nodes)
    w.client_query(addrs[0], 1, "CREATE KEYSPACE ks WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}", QUORUM, on_reply)
    w.run_for(10**9)
    w.client_query(addrs[0], 1, "CREATE TABLE ks.kv (k int PRIMARY KEY, v int)", QUORUM,
                   on_reply)
    w.run_for(3 * 10**9)
    rng = w.rng
    for i in range(sim_seconds * 20):  # a write or a read every 50 ms, round-robin
        node = addrs[i % 3]
        k = rng.randrange(50)
        if rng.random() < 0.5:
            q = f"INSERT INTO ks.kv (k, v) VALUES ({k}, {i})"
        else:
            q = f"SELECT v FROM ks.kv WHERE k = {k}"
        w.client_query(node, 2 + i % 3, q, QUORUM, on_reply)
        w.run_for(50 * 10**6)
    return w, answers


def test_same_seed_same_trace_and_speed() -> None:
    started = time.perf_counter()  # allow-real-clock
    a, answers = _workload(7, 100)
    elapsed = time.perf_counter() - started  # allow-real-clock
    b, _ = _workload(7, 100)
    c, _ = _workload(8, 5)
    ta, tb = "\n".join(a.trace).encode(), "\n".join(b.trace).encode()
    assert ta == tb
    assert hashlib.sha256(ta).digest() != hashlib.sha256("\n".join(c.trace).encode()).digest()
    errors = [x for x in answers if isinstance(x, CqlError)]
    assert not errors, errors[:3]
    assert len(answers) == 2 + 2000
    print(f"\n100 simulated seconds, 3 nodes, 2000 requests: {elapsed:.2f} real seconds; "
          f"trace {len(a.trace)} lines, sha256 {hashlib.sha256(ta).hexdigest()[:16]}")


def test_seed000_in_simulation() -> None:
    """Write A via node 1, Write B via node 2 whose clock is 200 ms slow: lost under wallclock."""
    for policy, expect_lost in (("wallclock", True), ("hlc", False)):
        w = World(3, n_nodes=3, timestamp_policy=policy)
        w.nodes["127.0.0.2"].clock.offset_us = -200_000
        assert w.stabilize()
        out: list[object] = []

        def on_reply(r: Reply, out: list[object] = out) -> None:
            out.append(r.body)

        def q(node: str, text: str, w: World = w) -> None:
            w.client_query(node, 1, text, QUORUM, on_reply)
            w.run_for(20 * 10**6)  # the next statement follows 20 ms later

        q("127.0.0.1", "CREATE KEYSPACE app WITH replication = "
          "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        q("127.0.0.1", "CREATE TABLE app.t (id int PRIMARY KEY, status text)")
        w.run_for(2 * 10**9)
        q("127.0.0.1", "INSERT INTO app.t (id, status) VALUES (1, 'created')")
        q("127.0.0.2", "UPDATE app.t SET status = 'processed' WHERE id = 1")
        q("127.0.0.3", "SELECT status FROM app.t WHERE id = 1")
        rows = out[-1]
        status = rows.rows[0][0]  # type: ignore[attr-defined]
        assert (status == b"created") == expect_lost, (policy, status)


def test_batch_statement_timestamps() -> None:
    """A statement's own USING TIMESTAMP applies to it alone; the rest share one timestamp."""
    w = World(11, n_nodes=3)
    assert w.stabilize()
    out: list[object] = []

    def q(text: str) -> None:
        w.client_query("127.0.0.1", 1, text, QUORUM, lambda r: out.append(r.body))
        w.run_for(200 * 10**6)

    q("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
      "'replication_factor': 3}")
    q("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
    q("BEGIN BATCH INSERT INTO ks.kv (k, v) VALUES (1, 1) USING TIMESTAMP 5; "
      "INSERT INTO ks.kv (k, v) VALUES (2, 2); INSERT INTO ks.kv (k, v) VALUES (3, 3); "
      "APPLY BATCH")
    stamps = []
    for k in (1, 2, 3):
        q(f"SELECT writetime(v) FROM ks.kv WHERE k = {k}")
        stamps.append(int.from_bytes(out[-1].rows[0][0], "big", signed=True))  # type: ignore[attr-defined]
    assert stamps[0] == 5
    assert stamps[1] == stamps[2] > 5
    q("BEGIN BATCH USING TIMESTAMP 7 INSERT INTO ks.kv (k, v) VALUES (1, 1) USING TIMESTAMP 5; "
      "APPLY BATCH")
    assert isinstance(out[-1], CqlError)
    assert "either on BATCH or individual statements" in str(out[-1])
