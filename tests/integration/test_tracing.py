"""Query tracing through the stock driver and cqlsh, on 3 real nodes, node 2's clock 200 ms slow.

The configured offset is exact (both nodes read the same OS clock; ``--clock-offset-ms`` adds a
constant), so the trace's estimate must contain -200 ms within its own error bound.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cassandra import ConsistencyLevel
from cassandra.query import QueryTrace, SimpleStatement

SLOW = "127.0.0.2"
OFFSET_RE = re.compile(r"Clock offset of (\S+) relative to coordinator: (\S+) ms \(\+-(\S+) ms\)")


def _offsets(activities: list[str]) -> dict[str, tuple[float, float]]:
    return {m[1]: (float(m[2]), float(m[3]))
            for m in (OFFSET_RE.search(a) for a in activities) if m}


def _check_offsets(offsets: dict[str, tuple[float, float]]) -> None:
    assert set(offsets) == {"127.0.0.2", "127.0.0.3"}, offsets
    for node, (ms, err) in offsets.items():
        true_ms = -200.0 if node == SLOW else 0.0
        assert abs(ms - true_ms) <= err + 0.05, (node, ms, err)  # 0.05: the printed rounding
        assert err < 100, (node, err)  # a bound that says something


def _cluster(cluster_factory):  # type: ignore[no-untyped-def]
    c = cluster_factory(3, extra=[[], ["--clock-offset-ms", "-200"], []])
    s = c.session_to("127.0.0.1")  # node 1 coordinates every request
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE app.t (k int PRIMARY KEY, v int)")
    return c, s


def test_traced_update_and_select_through_the_driver(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c, s = _cluster(cluster_factory)
    update = SimpleStatement("UPDATE app.t SET v = 1 WHERE k = 1",
                             consistency_level=ConsistencyLevel.ALL)
    future = s.execute_async(update, trace=True)
    future.result()
    trace = future.get_query_trace(max_wait=10)
    assert isinstance(trace, QueryTrace)
    writetime = s.execute("SELECT writetime(v) FROM app.t WHERE k = 1").one()[0]
    assert trace.coordinator == "127.0.0.1" and trace.client == "127.0.0.1"
    assert trace.request_type == "Execute CQL3 query" and trace.duration is not None
    assert trace.parameters["write_timestamp"] == str(writetime)
    assert trace.parameters["write_timestamp_source"] == "client timestamp"
    activities = [e.description for e in trace.events]
    assert f"Assigned write timestamp {writetime} (client timestamp) on 127.0.0.1" in activities
    assert {e.source for e in trace.events} == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
    for node in ("127.0.0.2", "127.0.0.3"):
        assert any(e.source == node and e.description.startswith("Applied mutation to app.t")
                   for e in trace.events)
    offsets = _offsets(activities)
    _check_offsets(offsets)
    for node, (ms, err) in offsets.items():
        print(f"\nUPDATE trace: clock offset of {node}: {ms} ms (+-{err} ms)")

    # The trace is replicated data: node 3's driver session reads the same session.
    other = c.session_to("127.0.0.3")
    again = QueryTrace(trace.trace_id, other)
    again.populate(max_wait=10)
    assert [e.description for e in again.events] == activities

    # Server-side timestamps: the node's hybrid logical clock stamps the write.
    s.use_client_timestamp = False
    future = s.execute_async(update, trace=True)
    future.result()
    trace = future.get_query_trace(max_wait=10)
    writetime = s.execute("SELECT writetime(v) FROM app.t WHERE k = 1").one()[0]
    assert trace.parameters["write_timestamp"] == str(writetime)
    assert trace.parameters["write_timestamp_source"] == "hlc"

    select = SimpleStatement("SELECT v FROM app.t WHERE k = 1",
                             consistency_level=ConsistencyLevel.ALL)
    future = s.execute_async(select, trace=True)
    assert future.result().one().v == 1
    trace = future.get_query_trace(max_wait=10)
    for node in ("127.0.0.2", "127.0.0.3"):
        assert any(e.source == node and e.description == "Executing single-partition query on t"
                   for e in trace.events)
    assert any(e.source == "127.0.0.1" and e.description == "Read 1 rows locally"
               for e in trace.events)
    offsets = _offsets([e.description for e in trace.events])
    _check_offsets(offsets)
    for node, (ms, err) in offsets.items():
        print(f"SELECT trace: clock offset of {node}: {ms} ms (+-{err} ms)")

    untraced = s.execute_async(select)
    untraced.result()
    assert untraced.get_query_trace() is None  # no tracing id came back


def test_cqlsh_tracing_on_prints_the_trace(cluster_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, _ = _cluster(cluster_factory)
    cqlsh = Path(sys.executable).parent / "cqlsh"
    script = ("CONSISTENCY ALL; TRACING ON; UPDATE app.t SET v = 7 WHERE k = 2; "
              "SELECT v FROM app.t WHERE k = 2;")
    env = dict(os.environ, HOME=str(tmp_path))
    out = subprocess.run([str(cqlsh), "127.0.0.1", str(c.nodes[0].cql_port), "-e", script],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    print(text)
    assert text.count("Tracing session:") == 2
    assert "Execute CQL3 query" in text and "Request complete" in text
    assert re.search(r"Assigned write timestamp \d+ \(client timestamp\) on 127\.0\.0\.1", text)
    assert "Executing single-partition query on t" in text
    first_trace = text.split("Tracing session:")[1]
    _check_offsets(_offsets(first_trace.splitlines()))
