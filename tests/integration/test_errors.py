"""Errors, warnings and payloads as the stock Python driver expects them, on 3 real nodes.

One module-scoped cluster. Tests that stop nodes (SIGSTOP) resume them and wait until every
node sees the whole cluster again before they return. Sessions that must see the server's own
error (rather than the driver's retry of it) use FallthroughRetryPolicy; the default policy's
behaviour is checked where it differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import (
    AlreadyExists,
    ConsistencyLevel,
    InvalidRequest,
    ReadFailure,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy, WriteType
from cassandra.protocol import OverloadedErrorMessage, SyntaxException
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from conftest import CQL_PORT

from skewless import limits

QUORUM = ConsistencyLevel.QUORUM


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Any) -> Any:
    c = module_cluster_factory(3)
    s = c.session_to(c.nodes[0].address)
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v text)")
    s.execute("CREATE KEYSPACE one WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE one.t (k int, c int, v text, PRIMARY KEY (k, c))")
    return c


def strict_session(cluster: Any, address: str, **kw: Any) -> Any:
    """A session to one node only, whose retry policy rethrows every server error."""
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               retry_policy=FallthroughRetryPolicy(), request_timeout=30.0)
    c = Cluster([address], port=CQL_PORT, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile}, **kw)
    cluster.clusters.append(c)
    return c.connect()


@pytest.fixture(scope="module")
def s1(cluster: Any) -> Any:
    return strict_session(cluster, cluster.nodes[0].address)


@pytest.fixture
def stopped_peers(cluster: Any) -> Iterator[None]:
    """Nodes 2 and 3 SIGSTOPped for the test's duration; resumed and reconverged after."""
    for n in cluster.nodes[1:]:
        n.sigstop()
    try:
        yield
    finally:
        for n in cluster.nodes[1:]:
            n.sigcont()
        for n in cluster.nodes:
            cluster.wait_gossip(3, via=n.address)


def wait_down(session: Any, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = list(session.execute("SELECT * FROM system.skewless_status"))
        if sum(1 for r in rows if not r.up) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} nodes not seen down")


# ---------------------------------------------------------------- request errors


def test_invalid_and_syntax_errors(s1: Any) -> None:
    with pytest.raises(InvalidRequest, match="unconfigured table nope"):
        s1.execute("SELECT * FROM ks.nope WHERE k = 1")
    with pytest.raises(InvalidRequest, match="Undefined column name w"):
        s1.execute("SELECT w FROM ks.kv WHERE k = 1")
    with pytest.raises(InvalidRequest):
        s1.execute("INSERT INTO ks.kv (k, v) VALUES ('not an int', 'x')")
    with pytest.raises(SyntaxException) as e:
        s1.execute("SELEKT * FROM ks.kv")
    assert e.value.code == 0x2000
    # the connection survives every error above
    s1.execute("INSERT INTO ks.kv (k, v) VALUES (1, 'one')")
    assert s1.execute("SELECT v FROM ks.kv WHERE k = 1").one().v == "one"


def test_already_exists(s1: Any) -> None:
    with pytest.raises(AlreadyExists) as e:
        s1.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v text)")
    assert (e.value.keyspace, e.value.table) == ("ks", "kv")
    with pytest.raises(AlreadyExists) as e:
        s1.execute("CREATE KEYSPACE ks WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    assert (e.value.keyspace, e.value.table) == ("ks", "")  # Cassandra sends "" for a keyspace
    s1.execute("CREATE TABLE IF NOT EXISTS ks.kv (k int PRIMARY KEY, v text)")
    s1.execute("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")


# ---------------------------------------------------------------- warnings and payloads


def test_batch_size_warning(s1: Any) -> None:
    ins = s1.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
    big = BatchStatement(BatchType.UNLOGGED)
    for k in range(100, 103):
        big.add(ins, (k, "x" * 3000))  # 3 partitions, ~9 KiB > 5 KiB
    warnings = s1.execute(big).response_future.warnings
    assert warnings is not None and len(warnings) == 1
    assert warnings[0].startswith("Batch for [ks.kv] is of size ")
    assert "exceeding specified threshold of 5120" in warnings[0]
    one_partition = BatchStatement(BatchType.UNLOGGED)
    for _ in range(3):
        one_partition.add(ins, (100, "y" * 3000))  # one partition: no warning (Cassandra's rule)
    assert s1.execute(one_partition).response_future.warnings is None
    small = BatchStatement(BatchType.LOGGED)
    small.add(ins, (104, "z"))
    small.add(ins, (105, "z"))
    assert s1.execute(small).response_future.warnings is None


def test_custom_payload_passes_through(s1: Any) -> None:
    payload = {"trace-tag": b"\x00\x01abc", "other": b""}
    rs = s1.execute("INSERT INTO ks.kv (k, v) VALUES (7, 'p')", custom_payload=payload)
    # Unknown keys are ignored; the only payload Skewless returns is its session token.
    written = rs.response_future.custom_payload
    assert set(written) == {"skewless-token"} and len(written["skewless-token"]) == 8
    prepared = s1.prepare("SELECT v FROM ks.kv WHERE k = ?", custom_payload=payload)
    rs = s1.execute(prepared, (7,), custom_payload=payload)
    assert rs.one().v == "p"
    assert rs.response_future.custom_payload == written  # the read saw that write
    batch = BatchStatement(BatchType.UNLOGGED)
    batch.add(SimpleStatement("INSERT INTO ks.kv (k, v) VALUES (8, 'q')"))
    s1.execute(batch, custom_payload=payload)
    assert s1.execute("SELECT v FROM ks.kv WHERE k = 8", custom_payload=payload).one().v == "q"


# ---------------------------------------------------------------- tombstones: warning, failure


def test_tombstone_warning_then_read_failure(cluster: Any) -> None:
    sessions = [strict_session(cluster, n.address) for n in cluster.nodes]
    s = sessions[0]
    delete = s.prepare("DELETE FROM one.t WHERE k = 0 AND c IN ?")
    s.execute(delete, [list(range(limits.read_tombstones_warn + 500))])
    for x in sessions:  # RF=1: one coordinator reads locally, the two others remotely
        rs = x.execute("SELECT * FROM one.t WHERE k = 0")
        assert list(rs) == []
        assert rs.response_future.warnings == [
            f"Read 0 live rows and {limits.read_tombstones_warn + 500} tombstone cells for "
            "query on one.t (see tombstone_warn_threshold)"]
    chunk = 2000
    for i in range(limits.read_tombstones_max // chunk + 1):
        s.execute(delete, [list(range(i * chunk, (i + 1) * chunk))])
    for x in sessions:
        with pytest.raises(ReadFailure) as e:
            x.execute("SELECT * FROM one.t WHERE k = 0")
        assert (e.value.failures, e.value.received_responses, e.value.required_responses) == (
            1, 0, 1)
        assert "1 failures" in str(e.value)
    # other partitions of the table are unaffected
    s.execute("INSERT INTO one.t (k, c, v) VALUES (1, 1, 'fine')")
    assert s.execute("SELECT v FROM one.t WHERE k = 1").one().v == "fine"


# ---------------------------------------------------------------- replicas not answering


def test_timeouts_then_unavailable(cluster: Any, s1: Any, stopped_peers: None) -> None:
    s1.execute("SELECT release_version FROM system.local")  # warm the connection
    write = SimpleStatement("INSERT INTO ks.kv (k, v) VALUES (20, 'w')", consistency_level=QUORUM)
    read = SimpleStatement("SELECT v FROM ks.kv WHERE k = 1", consistency_level=QUORUM)
    wf, rf = s1.execute_async(write), s1.execute_async(read)  # nodes 2, 3 not yet seen down
    with pytest.raises(WriteTimeout) as we:
        wf.result()
    assert (we.value.consistency, we.value.required_responses, we.value.received_responses,
            we.value.write_type) == (QUORUM, 2, 1, WriteType.SIMPLE)
    with pytest.raises(ReadTimeout) as re_:
        rf.result()
    assert (re_.value.consistency, re_.value.required_responses,
            re_.value.received_responses) == (QUORUM, 2, 1)
    wait_down(s1, 2)
    with pytest.raises(Unavailable) as ue:
        s1.execute(write)
    assert (ue.value.consistency, ue.value.required_replicas, ue.value.alive_replicas) == (
        QUORUM, 2, 1)
    with pytest.raises(Unavailable):
        s1.execute(read)
    # The default retry policy tries the next host once; with one host that is NoHostAvailable.
    default = cluster.session_to(cluster.nodes[0].address)
    with pytest.raises(NoHostAvailable) as ne:
        default.execute(write)
    assert any(isinstance(err, Unavailable) for err in ne.value.errors.values())
    one = SimpleStatement("SELECT v FROM ks.kv WHERE k = 1", consistency_level=ConsistencyLevel.ONE)
    assert s1.execute(one).one().v == "one"  # ONE still works with two replicas down


# ---------------------------------------------------------------- backpressure


def test_overloaded_under_a_bounded_flood(cluster: Any, stopped_peers: None) -> None:
    """With nodes 2 and 3 stopped every QUORUM write on node 1 stays in flight for the write
    timeout: three connections with 1,000 writes each (each below the per-connection bound)
    exceed the node's bound on in-flight requests, and the excess is answered Overloaded at
    once instead of being queued."""
    per_conn = 1000
    assert per_conn < limits.cql_streams_inflight_max
    assert 3 * per_conn > limits.cql_requests_inflight_max
    address = cluster.nodes[0].address
    sessions = [strict_session(cluster, address) for _ in range(3)]
    stmts = [x.prepare("INSERT INTO ks.kv (k, v) VALUES (?, 'flood')") for x in sessions]
    for st in stmts:
        st.consistency_level = QUORUM
    futures = [x.execute_async(st, (10_000 + i,)) for i in range(per_conn)
               for x, st in zip(sessions, stmts, strict=True)]
    outcomes: dict[str, int] = {}
    for f in futures:
        try:
            f.result()
            kind = "ok"
        except OverloadedErrorMessage:
            kind = "overloaded"
        except WriteTimeout:
            kind = "write_timeout"
        outcomes[kind] = outcomes.get(kind, 0) + 1
    print("flood outcomes:", outcomes)
    assert outcomes.get("overloaded", 0) > 0
    assert outcomes.get("write_timeout", 0) > 0
    assert outcomes.get("ok", 0) == 0
    assert outcomes["write_timeout"] <= 3 * per_conn - outcomes["overloaded"]


def test_node_serves_after_the_flood(s1: Any) -> None:
    """The in-flight count went back down: a burst as large as the bound is served."""
    ins = s1.prepare("INSERT INTO ks.kv (k, v) VALUES (?, 'after')")
    futures = [s1.execute_async(ins, (20_000 + i,)) for i in range(1000)]
    for f in futures:
        f.result()


# ---------------------------------------------------------------- restart: re-prepare


def test_unprepared_after_restart_is_reprepared(cluster: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    node = cluster.nodes[2]
    # reprepare_on_up=False: the driver must meet Unprepared rather than re-prepare on reconnect
    s = strict_session(cluster, node.address, reprepare_on_up=False)
    sel = s.prepare("SELECT v FROM ks.kv WHERE k = ?")
    assert s.execute(sel, (1,)).one().v == "one"
    node.kill9()
    node.restart()
    for n in cluster.nodes:
        cluster.wait_gossip(3, via=n.address)
    caplog.set_level(logging.DEBUG, logger="cassandra.cluster")
    deadline = time.monotonic() + 60
    while True:
        try:
            row = s.execute(sel, (1,)).one()
            break
        except NoHostAvailable:  # the driver has not reconnected to the node yet
            assert time.monotonic() < deadline, "driver did not reconnect"
            time.sleep(0.5)
    assert row.v == "one"
    assert any("Re-preparing unrecognized prepared statement" in r.getMessage()
               for r in caplog.records), "the server did not answer Unprepared"
