"""Concurrent DDL on different nodes of a real 3-node cluster, through the stock driver: every
acknowledged change is present on every node, in one order (node.metadata's log), schema
versions agree, and the drivers' schema agreement holds. Without a majority a DDL answers
Unavailable at SERIAL."""

from __future__ import annotations

import time
from collections.abc import Callable

from cassandra import AlreadyExists, Unavailable
from cassandra.cluster import NoHostAvailable, Session
from conftest import LocalCluster

ROUNDS = 50


def _both(s1: Session, q1: str, s2: Session, q2: str) -> tuple[object, object]:
    """Send two statements at once (one per node); each one's result or exception."""
    f1 = s1.execute_async(q1, timeout=30)
    f2 = s2.execute_async(q2, timeout=30)
    out: list[object] = []
    for f in (f1, f2):
        try:
            out.append(f.result())
        except Exception as e:  # the outcome, checked by the caller
            out.append(e)
    return out[0], out[1]


def test_concurrent_ddl_on_two_nodes_all_applied_in_one_order(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(3)
    a, b, third = (n.address for n in c.nodes)
    s1, s2, s3 = c.session_to(a), c.session_to(b), c.session_to(third)
    s1.execute("CREATE KEYSPACE ml WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s1.execute("CREATE TABLE ml.base (k int PRIMARY KEY, v int)")
    tables = {"base"}
    columns = {"k", "v"}
    races = 0
    for i in range(ROUNDS):
        r1, r2 = _both(s1, f"CREATE TABLE ml.t{i}a (k int PRIMARY KEY, v int)",
                       s2, f"CREATE TABLE ml.t{i}b (k int PRIMARY KEY, v int)")
        assert not isinstance(r1, Exception) and not isinstance(r2, Exception), (r1, r2)
        tables |= {f"t{i}a", f"t{i}b"}
        r1, r2 = _both(s1, f"ALTER TABLE ml.base ADD c{i}a int",
                       s2, f"ALTER TABLE ml.base ADD c{i}b text")
        assert not isinstance(r1, Exception) and not isinstance(r2, Exception), (r1, r2)
        columns |= {f"c{i}a", f"c{i}b"}
        if i % 5 == 0:  # the same name on both nodes: one wins, the other is told
            r1, r2 = _both(s1, f"CREATE TABLE ml.same{i} (k int PRIMARY KEY, v int)",
                           s2, f"CREATE TABLE ml.same{i} (k int PRIMARY KEY, x text)")
            outcomes = sorted(type(r).__name__ for r in (r1, r2))
            assert [isinstance(r, AlreadyExists) for r in (r1, r2)].count(True) == 1, outcomes
            tables.add(f"same{i}")
            races += 1
    assert races == ROUNDS // 5
    versions = set()
    for s in (s1, s2, s3):
        deadline = time.monotonic() + 10
        while True:  # the third node learns the last entries by Commit or catch-up
            got_tables = {r.table_name for r in s.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ml'")}
            got_columns = {r.column_name for r in s.execute(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'ml' "
                "AND table_name = 'base'")}
            if (got_tables, got_columns) == (tables, columns) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert got_tables == tables
        assert got_columns == columns
        versions.add(s.execute("SELECT schema_version FROM system.local").one().schema_version)
    assert len(versions) == 1
    for s in (s1, s2, s3):
        assert s.cluster.control_connection.wait_for_schema_agreement(wait_time=10)
        peers = {r.schema_version for r in s.execute("SELECT schema_version FROM system.peers")}
        assert peers == versions


def test_ddl_without_a_majority_is_unavailable(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(3)
    s = c.session_to(c.nodes[0].address)
    s.execute("CREATE KEYSPACE ml2 WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    for n in c.nodes[1:]:
        n.kill9()
    deadline = time.monotonic() + 90  # conviction: phi past the threshold, probes unanswered
    while time.monotonic() < deadline:
        up = [r for r in s.execute("SELECT * FROM system.skewless_status") if r.up]
        if len(up) == 1:
            break
        time.sleep(0.3)
    try:
        s.execute("CREATE TABLE ml2.t (k int PRIMARY KEY)")
    except NoHostAvailable as e:  # the driver's retry policy tried the next host: none
        (error,) = e.errors.values()
        assert isinstance(error, Unavailable), error
        assert "SERIAL" in str(error) and "2 of the 3 nodes" in str(error), error
    else:
        raise AssertionError("a DDL was acknowledged without a majority")
    for n in c.nodes[1:]:
        n.restart()
    c.wait_gossip(3)
    s.execute("CREATE TABLE ml2.t (k int PRIMARY KEY)")  # a majority again
    assert s.execute("SELECT table_name FROM system_schema.tables "
                     "WHERE keyspace_name = 'ml2'").one().table_name == "t"
