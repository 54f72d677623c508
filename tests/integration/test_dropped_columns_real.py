"""A dropped column's old values never come back on real node processes: not through a replica
that missed the drop (hints replayed to it, its own old cells, read repair), nor after restarts."""

from __future__ import annotations

import time

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"


def _q(cql: str, cl: int = ConsistencyLevel.QUORUM) -> SimpleStatement:
    return SimpleStatement(cql, consistency_level=cl)


def _rows(session, cql: str, cl: int = ConsistencyLevel.ONE) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    return [tuple(r) for r in session.execute(_q(cql, cl))]


def test_dropped_column_stays_dropped_through_hints_and_restarts(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3)
    s = c.session()
    s.execute(KS)
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int, l list<int>)")
    for k in range(5):
        s.execute(_q(f"INSERT INTO ks.t (k, v, l) VALUES ({k}, {k}, [{k}, {k}])",
                     ConsistencyLevel.ALL))
    victim = c.nodes[2]
    victim.kill9()
    c.wait_gossip(2)
    s.execute(_q("UPDATE ks.t SET l = l + [9] WHERE k = 5"))  # only in a hint for node 3
    # Node 3 is not yet convicted: the DDL's answer waits for its schema agreement
    # (schema_agreement_wait_ms), then the driver waits for its own (max_schema_agreement_wait,
    # 10 s) if it has not yet marked node 3 down; together longer than its default 10 s.
    ddl_timeout_s = 30
    s.execute(_q("ALTER TABLE ks.t DROP l"), timeout=ddl_timeout_s)
    s.execute(_q("ALTER TABLE ks.t ADD l list<int>"), timeout=ddl_timeout_s)
    victim.restart()
    c.wait_gossip(3)
    c.wait_gossip(3, via=victim.address)
    via3 = c.session_to(victim.address)
    deadline = time.monotonic() + 30  # the schema reaches node 3 with gossip
    while time.monotonic() < deadline and "l" not in {
            r.column_name for r in via3.execute(_q(
                "SELECT column_name FROM system_schema.dropped_columns WHERE keyspace_name = "
                "'ks' AND table_name = 't'"))}:
        time.sleep(0.2)
    time.sleep(3)  # hints replay once node 3 is seen up
    want = [(k, None) for k in range(5)]
    assert sorted(_rows(via3, "SELECT k, l FROM ks.t WHERE k IN (0, 1, 2, 3, 4, 5)")) == want
    assert sorted(_rows(s, "SELECT k, l FROM ks.t WHERE k IN (0, 1, 2, 3, 4, 5)",
                        ConsistencyLevel.ALL)) == want
    s.execute(_q("UPDATE ks.t SET l = l + [7] WHERE k = 0", ConsistencyLevel.ALL))
    for node in c.nodes:
        node.terminate()
        node.restart()
    c.wait_gossip(3)
    c.wait_gossip(3, via=victim.address)
    via3 = c.session_to(victim.address)
    after = sorted(_rows(via3, "SELECT k, v, l FROM ks.t WHERE k IN (0, 1, 2, 3, 4, 5)"))
    assert after == [(0, 0, [7])] + [(k, k, None) for k in range(1, 5)], after
