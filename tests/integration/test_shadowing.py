"""No silent shadowing on real processes (issue 4): under `wallclock` with node 2's clock 200 ms
slow, the application sees a warning on the shadowed UPDATE (ResponseFuture.warnings) and the
node's metric counts it; with shadowed_writes = 'fail' the UPDATE raises."""

from __future__ import annotations

import os
import urllib.request

import pytest
from cassandra import ConsistencyLevel, InvalidRequest

METRICS_PORT = 19900 + int(os.environ.get("SKEWLESS_TEST_PORT_OFFSET", "0"))


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
