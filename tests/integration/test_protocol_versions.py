"""Native protocol v5, v4 and v3 with the stock cassandra-driver on real node processes.

With its defaults the driver offers DSE_V2, DSE_V1, then 5: it must end on v5 (segments, lz4
segments since the driver has lz4), and on 3 or 4 when forced. On v5: per-statement keyspaces,
result metadata ids (an ALTER TABLE ADD under a prepared ``SELECT *``), envelopes larger than a
segment, tracing, warnings, custom payloads and pushed events. On v3: what v3 lacks (warnings,
custom payloads, v4 types as custom types) and what must still work.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra import protocol as dp
from cassandra.cluster import Cluster, Session
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import BatchStatement, SimpleStatement
from conftest import CQL_PORT, LocalCluster

from skewless.session_tokens import TokenSession

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module")
def one_node(module_cluster_factory: Any) -> LocalCluster:
    cluster: LocalCluster = module_cluster_factory(1)
    return cluster


def _cluster(c: LocalCluster, **kw: Any) -> Cluster:
    address = c.nodes[0].address
    cluster = Cluster([address], port=CQL_PORT,
                      load_balancing_policy=WhiteListRoundRobinPolicy([address]), **kw)
    c.clusters.append(cluster)
    return cluster


@pytest.fixture(scope="module")
def v5(one_node: LocalCluster) -> Iterator[Session]:
    """A session with the driver's defaults: protocol negotiated, lz4 compression."""
    cluster = _cluster(one_node)
    session = cluster.connect()
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS pv WITH replication = {RF1}")
    session.execute("CREATE TABLE IF NOT EXISTS pv.kv (k int PRIMARY KEY, v text)")
    yield session


def test_defaults_negotiate_v5_with_lz4(v5: Session) -> None:
    cluster = v5.cluster
    assert cluster.protocol_version == 5
    conn = cluster.control_connection._connection
    assert conn._is_checksumming_enabled and conn.compressor is not None  # lz4 segments
    v5.execute("INSERT INTO pv.kv (k, v) VALUES (1, 'one')")
    assert v5.execute("SELECT v FROM pv.kv WHERE k = 1").one().v == "one"


@pytest.mark.parametrize("compression", [True, False])
def test_v5_result_larger_than_a_segment(one_node: LocalCluster, compression: bool) -> None:
    """A result over 128 KiB travels in several non-self-contained segments; the request
    carrying a big value too."""
    session = _cluster(one_node, compression=compression).connect()
    assert session.cluster.protocol_version == 5
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS big WITH replication = {RF1}")
    session.execute("CREATE TABLE IF NOT EXISTS big.blobs (k int, c int, v text, "
                    "PRIMARY KEY (k, c))")
    value = "".join(chr(ord("a") + (i * 7919) % 26) for i in range(40_000))  # poorly compressible
    insert = session.prepare("INSERT INTO big.blobs (k, c, v) VALUES (?, ?, ?)")
    for c in range(8):  # 8 x 40 KB: 320 KB of rows in one page
        session.execute(insert, (int(compression), c, value + str(c)))
    rows = list(session.execute(SimpleStatement(
        "SELECT c, v FROM big.blobs WHERE k = %s", fetch_size=1000), (int(compression),)))
    assert [r.c for r in rows] == list(range(8))
    assert all(r.v == value + str(r.c) for r in rows)
    huge = value * 5  # 200 KB in one request
    session.execute(insert, (int(compression), 99, huge))
    assert session.execute("SELECT v FROM big.blobs WHERE k = %s AND c = 99",
                           (int(compression),)).one().v == huge


def test_v5_per_statement_keyspace(v5: Session) -> None:
    v5.execute(f"CREATE KEYSPACE IF NOT EXISTS other WITH replication = {RF1}")
    v5.execute("CREATE TABLE IF NOT EXISTS other.kv (k int PRIMARY KEY, v text)")
    assert v5.keyspace is None
    v5.execute(SimpleStatement("INSERT INTO kv (k, v) VALUES (7, 'in other')",
                               keyspace="other"))
    row = v5.execute(SimpleStatement("SELECT v FROM kv WHERE k = 7", keyspace="other")).one()
    assert row.v == "in other"
    select = v5.prepare("SELECT v FROM kv WHERE k = ?", keyspace="other")
    assert v5.execute(select, (7,)).one().v == "in other"
    batch = BatchStatement()
    batch.add(SimpleStatement("INSERT INTO kv (k, v) VALUES (8, 'batched')"))
    batch.keyspace = "other"  # the driver sends a batch's keyspace (v5 BATCH flag 0x80)
    v5.execute(batch)
    assert v5.execute(select, (8,)).one().v == "batched"
    # the statement's keyspace is the one used, not the session's
    session = v5.cluster.connect("pv")
    session.execute("INSERT INTO kv (k, v) VALUES (7, 'in pv')")
    assert session.execute(SimpleStatement("SELECT v FROM kv WHERE k = 7",
                                           keyspace="other")).one().v == "in other"
    assert session.execute("SELECT v FROM kv WHERE k = 7").one().v == "in pv"
    with pytest.raises(InvalidRequest, match="Keyspace 'nowhere' does not exist"):
        v5.execute(SimpleStatement("SELECT v FROM kv WHERE k = 7", keyspace="nowhere"))


def test_v5_result_metadata_id_follows_alter_table(v5: Session) -> None:
    v5.execute("CREATE TABLE pv.evolving (k int PRIMARY KEY, a text)")
    v5.execute("INSERT INTO pv.evolving (k, a) VALUES (1, 'x')")
    select = v5.prepare("SELECT * FROM pv.evolving WHERE k = ?")
    before = select.result_metadata_id
    assert before and len(before) == 16
    assert list(v5.execute(select, (1,)).one()) == [1, "x"]  # metadata skipped, id agrees
    v5.execute("ALTER TABLE pv.evolving ADD b int")
    v5.execute("UPDATE pv.evolving SET b = 5 WHERE k = 1")
    # the driver still holds the old id: the answer says METADATA_CHANGED with the new columns
    # (or, when ALTER evicted the statement, the driver re-prepared it: new id either way)
    row = v5.execute(select, (1,)).one()
    assert row._fields == ("k", "a", "b") and list(row) == [1, "x", 5]
    again = v5.prepare("SELECT * FROM pv.evolving WHERE k = ?")
    assert again.query_id == select.query_id
    assert again.result_metadata_id != before and len(again.result_metadata_id) == 16
    assert list(v5.execute(again, (1,)).one()) == [1, "x", 5]


def test_v5_paging_tracing_warnings_payload(v5: Session) -> None:
    v5.execute("CREATE TABLE IF NOT EXISTS pv.paged (k int, c int, PRIMARY KEY (k, c))")
    insert = v5.prepare("INSERT INTO pv.paged (k, c) VALUES (0, ?)")
    for c in range(25):
        v5.execute(insert, (c,))
    select = v5.prepare("SELECT c FROM pv.paged WHERE k = 0")
    select.fetch_size = 10
    assert [r.c for r in v5.execute(select)] == list(range(25))
    rs = v5.execute("SELECT c FROM pv.paged WHERE k = 0", trace=True)
    trace = rs.get_query_trace(max_wait_sec=10)
    assert trace.request_type and trace.events
    batch = BatchStatement(consistency_level=ConsistencyLevel.ONE)
    for c in range(12):  # a logged batch over batch_size_warn_threshold (5 KiB)
        batch.add(SimpleStatement("INSERT INTO pv.kv (k, v) VALUES (%s, %s)"),
                  (100 + c, "w" * 600))
    future = v5.execute_async(batch)
    future.result()
    assert future.warnings and "exceeding specified threshold" in future.warnings[0]
    tokens = TokenSession(v5)  # session tokens ride on the custom payload
    tokens.execute("INSERT INTO pv.kv (k, v) VALUES (200, 'tok')")
    assert int(tokens.token) > 0


def test_v5_schema_events_reach_other_clients(one_node: LocalCluster, v5: Session) -> None:
    watcher = _cluster(one_node)
    watcher.connect()
    assert watcher.protocol_version == 5
    v5.execute(f"CREATE KEYSPACE evented WITH replication = {RF1}")
    deadline = time.monotonic() + 10
    while "evented" not in watcher.metadata.keyspaces and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "evented" in watcher.metadata.keyspaces  # pushed SCHEMA_CHANGE, in a segment


class _NowInSecondsQuery(dp.QueryMessage):
    """A v5 QUERY with the now_in_seconds flag (0x100), which the Python driver never sets."""

    def send_body(self, f: Any, protocol_version: int) -> None:
        dp.write_longstring(f, self.query)
        dp.write_consistency_level(f, self.consistency_level)
        dp.write_uint(f, 0x100)
        dp.write_int(f, 1_700_000_000)


def test_v5_now_in_seconds_is_refused_by_name(v5: Session) -> None:
    conn = v5.cluster.control_connection._connection
    ok, answer = conn.wait_for_response(
        _NowInSecondsQuery("SELECT key FROM system.local", ConsistencyLevel.ONE), timeout=10,
        fail_on_error=False)
    assert not ok and isinstance(answer, InvalidRequest)
    assert 'message="now_in_seconds (protocol v5 flag 0x100) is not supported"' in str(answer)
    assert v5.execute("SELECT key FROM system.local").one().key == "local"  # still usable


@pytest.mark.parametrize("version", [3, 4])
def test_forced_versions(one_node: LocalCluster, version: int) -> None:
    cluster = _cluster(one_node, protocol_version=version)
    session = cluster.connect()
    assert cluster.protocol_version == version
    ks = f"forced{version}"
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    session.set_keyspace(ks)
    session.execute("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")
    insert = session.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?)")
    batch = BatchStatement()
    for c in range(30):
        batch.add(insert, (1, c, f"v{c}"))
    session.execute(batch)
    select = session.prepare("SELECT c, v FROM t WHERE k = ?")
    select.fetch_size = 7
    rows = list(session.execute(select, (1,)))
    assert [(r.c, r.v) for r in rows] == [(c, f"v{c}") for c in range(30)]
    tokens = TokenSession(session)
    tokens.execute("INSERT INTO t (k, c, v) VALUES (2, 0, 'x')")
    assert (int(tokens.token) > 0) == (version >= 4)  # v3 has no custom payloads


def test_v3_sees_v4_types_as_custom_types(one_node: LocalCluster) -> None:
    """Cassandra's DataType.fromType: a type newer than the client's protocol is sent as a
    custom type naming its class, which the drivers still decode."""
    session = _cluster(one_node, protocol_version=3).connect()
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS v3types WITH replication = {RF1}")
    session.execute("CREATE TABLE IF NOT EXISTS v3types.t (k int PRIMARY KEY, d date, t time, "
                    "s smallint, y tinyint, l list<smallint>, du duration)")
    insert = session.prepare("INSERT INTO v3types.t (k, d, t, s, y, l) VALUES (?, ?, ?, ?, ?, ?)")
    types = [c.type.__name__ for c in insert.column_metadata[1:]]
    assert types[:4] == ["SimpleDateType", "TimeType", "ShortType", "ByteType"]
    session.execute(insert, (1, dt.date(2024, 2, 29), dt.time(12, 30), 7, -3, [1, 2]))
    session.execute("UPDATE v3types.t SET du = 1h2m WHERE k = 1")
    row = session.execute("SELECT d, t, s, y, l, du FROM v3types.t WHERE k = 1").one()
    assert str(row.d) == "2024-02-29" and str(row.t).startswith("12:30:00")
    assert (row.s, row.y, row.l) == (7, -3, [1, 2])
    assert row.du.nanoseconds == 3_720_000_000_000
