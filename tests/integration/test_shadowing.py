"""No silent shadowing on real processes (issue 4): under `wallclock` with node 2's clock 200 ms
slow, the application sees a warning on the shadowed UPDATE (ResponseFuture.warnings) and the
node's metric counts it; with shadowed_writes = 'fail' the UPDATE raises."""

from __future__ import annotations

import time
import urllib.request

import pytest
from cassandra import ConsistencyLevel, InvalidRequest

from skewless.runtime.cluster import suite_port_offset

METRICS_PORT = 19900 + suite_port_offset()


def test_shadowed_update_is_loud(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--timestamp-policy", "wallclock", "--metrics-port", str(METRICS_PORT)]
             for _ in range(3)]
    extra[1] += ["--clock-offset-ms", "-200"]
    c = cluster_factory(3, extra=extra)
    first, slow = c.session_to("127.0.0.1"), c.session_to("127.0.0.2")
    for s in (first, slow):
        s.use_client_timestamp = False  # server-side timestamps, as in seed 000
        # QUORUM writes, as in seed 000: the UPDATE's acknowledging replicas then always
        # include one that holds the INSERT, which reports the shadowing.
        s.default_consistency_level = ConsistencyLevel.QUORUM
    first.execute("CREATE KEYSPACE app WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    first.execute("CREATE TABLE app.t (id int PRIMARY KEY, status text)")
    first.execute("CREATE TABLE app.strict (id int PRIMARY KEY, status text) "
                  "WITH shadowed_writes = 'fail'")
    first.execute("INSERT INTO app.t (id, status) VALUES (1, 'created')")
    f = slow.execute_async("UPDATE app.t SET status = 'processed' WHERE id = 1")
    f.result()
    print(f"\nwarning seen by the application: {f.warnings}")
    assert f.warnings and "Write to app.t was shadowed" in f.warnings[0], f.warnings
    assert first.execute("SELECT status FROM app.t WHERE id = 1").one().status == "created"
    url = f"http://127.0.0.2:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        metrics = resp.read().decode()
    assert 'skewless_shadowed_writes_total{keyspace="app",table="t"} 1.0' in metrics, metrics
    first.execute("INSERT INTO app.strict (id, status) VALUES (1, 'created')")
    with pytest.raises(InvalidRequest, match="was shadowed.*shadowed_writes = fail"):
        slow.execute("UPDATE app.strict SET status = 'processed' WHERE id = 1")


def test_shadowed_update_is_restamped_under_the_default(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    """Default settings, RF=1: a client INSERTs through node 1 with USING TIMESTAMP 400 ms
    ahead of now (within max_future_timestamp_ms, so accepted), then UPDATEs through node 2
    without a timestamp. Where node 2 has not seen the INSERT (the row lives elsewhere), its
    stamp is below the INSERT's: the replica reports the UPDATE shadowed, node 2 stamps it
    again above the INSERT and the UPDATE is kept, with no warning; node 2 counts the
    restamps. (Without restamping such an UPDATE is lost: tests/sim/test_sim_shadowing.py.)"""
    port = METRICS_PORT + 1
    c = cluster_factory(3, extra=[["--metrics-port", str(port)] for _ in range(3)])
    first, second = c.session_to("127.0.0.1"), c.session_to("127.0.0.2")
    for s in (first, second):
        s.use_client_timestamp = False
        s.default_consistency_level = ConsistencyLevel.QUORUM
    first.execute("CREATE KEYSPACE app WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    first.execute("CREATE TABLE app.t (id int PRIMARY KEY, status text)")
    kept = 0
    for i in range(20):
        ahead_us = int(time.time() * 1_000_000) + 400_000  # allow-real-clock (the client's)
        first.execute("INSERT INTO app.t (id, status) VALUES (%s, 'created') USING TIMESTAMP "
                      "%s", (i, ahead_us))
        f = second.execute_async("UPDATE app.t SET status = 'processed' WHERE id = %s", (i,))
        f.result()
        assert not f.warnings, f.warnings
        row = first.execute("SELECT status, writetime(status) AS wt FROM app.t WHERE id = %s",
                            (i,)).one()
        assert row.wt > ahead_us, (row, ahead_us)
        kept += row.status == "processed"
    with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5) as resp:  # noqa: S310 - loopback test node
        metrics = resp.read().decode()
    restamped = [float(ln.split()[-1]) for ln in metrics.splitlines()
                 if ln.startswith('skewless_restamped_writes_total{keyspace="app",table="t"}')]
    print(f"\nUPDATEs kept: {kept}/20; restamped by node 2: {restamped}")
    assert kept == 20
    assert restamped and restamped[0] >= 1, metrics
