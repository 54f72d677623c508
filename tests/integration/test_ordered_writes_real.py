"""Ordered writes on real processes (issue 4): with compensation switched off (a test-only
setting) and node 2's clock 5 s behind, sequential updates through different coordinators are
never lost on an ``ordered_writes`` table; the same flow on a plain table loses some (RF=1, so
replication cannot carry the clock). The extra latency is printed (and measured side by side
by ``python -m skewless.bench_clock``)."""

from __future__ import annotations

import itertools
import statistics
import time

from cassandra import ConsistencyLevel


def _flow(sessions, table: str, first_id: int, rounds: int) -> tuple[int, list[float]]:  # type: ignore[no-untyped-def]
    """INSERT through x then UPDATE through y for every ordered pair; (lost, UPDATE ms)."""
    pairs = list(itertools.permutations(sorted(sessions), 2))
    ins = {a: s.prepare(f"INSERT INTO app.{table} (id, status) VALUES (?, 'created')")
           for a, s in sessions.items()}
    upd = {a: s.prepare(f"UPDATE app.{table} SET status = 'processed' WHERE id = ?")
           for a, s in sessions.items()}
    rd = {a: s.prepare(f"SELECT status FROM app.{table} WHERE id = ?")
          for a, s in sessions.items()}
    lost = 0
    latencies = []
    for r in range(rounds):
        for j, (x, y) in enumerate(pairs):
            i = first_id + r * len(pairs) + j
            sessions[x].execute(ins[x], (i,))
            t0 = time.perf_counter()  # allow-real-clock
            sessions[y].execute(upd[y], (i,))
            latencies.append((time.perf_counter() - t0) * 1000)  # allow-real-clock
            lost += sessions[x].execute(rd[x], (i,)).one().status != "processed"
    return lost, latencies


def test_ordered_writes_keep_sequential_updates(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--max-offset-ms", "60000", "--no-clock-compensation", "--no-restamp"]
             for _ in range(3)]
    extra[1] += ["--clock-offset-ms", "-5000"]
    c = cluster_factory(3, extra=extra)
    sessions = {}
    for n in c.nodes:
        s = c.session_to(n.address)
        s.use_client_timestamp = False
        s.default_consistency_level = ConsistencyLevel.QUORUM
        sessions[n.address] = s
    s = sessions["127.0.0.1"]
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE app.plain (id int PRIMARY KEY, status text)")
    s.execute("CREATE TABLE app.ordered (id int PRIMARY KEY, status text) "
              "WITH ordered_writes = true")
    lost_plain, lat_plain = _flow(sessions, "plain", 0, 10)
    lost_ordered, lat_ordered = _flow(sessions, "ordered", 0, 10)
    print(f"\nclocks 5 s apart, compensation off, RF=1, 60 INSERT/UPDATE pairs: plain table "
          f"{lost_plain} lost, UPDATE p50 {statistics.median(lat_plain):.2f} ms; "
          f"ordered_writes {lost_ordered} lost, UPDATE p50 "
          f"{statistics.median(lat_ordered):.2f} ms")
    assert lost_plain > 0
    assert lost_ordered == 0
