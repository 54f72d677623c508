"""Counters on a real 3-node cluster through the stock driver and cqlsh: increments and
decrements (prepared and literal, several counters and a static one), COUNTER batches (the
driver's BatchType.COUNTER and the CQL text), reads at ONE/QUORUM/ALL through every node,
DELETE, and Cassandra's refusals with its messages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from conftest import CQL_PORT, LocalCluster

CQLSH = str(Path(sys.executable).parent / "cqlsh")
LEVELS = (ConsistencyLevel.ONE, ConsistencyLevel.QUORUM, ConsistencyLevel.ALL)


def _read(session: object, query: str, cl: int) -> list[tuple[object, ...]]:
    return [tuple(r) for r in session.execute(  # type: ignore[attr-defined]
        SimpleStatement(query, consistency_level=cl))]


def test_counters_through_the_driver_and_cqlsh(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:
    c = cluster_factory(3)
    s = c.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE ks.c (k int, ck int, s counter static, n counter, m counter, "
              "PRIMARY KEY (k, ck))")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    inc = s.prepare("UPDATE ks.c SET n = n + ?, m = m - ? WHERE k = ? AND ck = ?")
    inc.consistency_level = ConsistencyLevel.QUORUM
    rr = c.round_robin_session()  # rotating coordinators
    for i in range(30):
        rr.execute(inc, (i, 1, 1, 1))
    rr.execute("UPDATE ks.c SET s = s + 7 WHERE k = 1")
    rr.execute("UPDATE ks.c SET n = n - 35 WHERE k = 1 AND ck = 1")
    batch = BatchStatement(batch_type=BatchType.COUNTER,
                           consistency_level=ConsistencyLevel.QUORUM)
    batch.add(inc, (10, 0, 2, 1))
    batch.add(inc, (5, 2, 2, 1))
    batch.add(SimpleStatement("UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1"))
    rr.execute(batch)
    rr.execute("BEGIN COUNTER BATCH UPDATE ks.c SET m = m + 100 WHERE k = 3 AND ck = 0; "
               "UPDATE ks.c SET m = m + 1 WHERE k = 3 AND ck = 0; APPLY BATCH")
    for node in c.nodes:
        pinned = c.session_to(node.address)
        for cl in LEVELS:
            assert _read(pinned, "SELECT k, ck, s, n, m FROM ks.c WHERE k = 1", cl) == \
                [(1, 1, 7, 435 - 35 + 1, -30)], (node.address, cl)
            assert _read(pinned, "SELECT n, m FROM ks.c WHERE k = 2 AND ck = 1", cl) == \
                [(15, -2)]
            assert _read(pinned, "SELECT m FROM ks.c WHERE k = 3", cl) == [(101,)]

    # DELETE through the ordinary path: the tombstone beats the counter
    s.execute(SimpleStatement("DELETE n FROM ks.c WHERE k = 2 AND ck = 1",
                              consistency_level=ConsistencyLevel.ALL))
    assert _read(s, "SELECT n, m FROM ks.c WHERE k = 2 AND ck = 1", ConsistencyLevel.ALL) == \
        [(None, -2)]
    s.execute(SimpleStatement("DELETE FROM ks.c WHERE k = 3",
                              consistency_level=ConsistencyLevel.ALL))
    assert _read(s, "SELECT m FROM ks.c WHERE k = 3", ConsistencyLevel.ALL) == []

    refusals = {
        "INSERT INTO ks.c (k, ck, n) VALUES (1, 1, 1)":
            "INSERT statements are not allowed on counter tables, use UPDATE instead",
        "UPDATE ks.c SET n = 5 WHERE k = 1 AND ck = 1":
            "Cannot set the value of counter column n (counters can only be "
            "incremented/decremented, not set)",
        "UPDATE ks.c USING TIMESTAMP 5 SET n = n + 1 WHERE k = 1 AND ck = 1":
            "Cannot provide custom timestamp for counter updates",
        "BEGIN UNLOGGED BATCH UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1; "
        "INSERT INTO ks.t (k, v) VALUES (1, 1); APPLY BATCH":
            "Counter and non-counter mutations cannot exist in the same batch",
        "BEGIN COUNTER BATCH INSERT INTO ks.t (k, v) VALUES (1, 1); APPLY BATCH":
            "Cannot include non-counter statement in a counter batch",
    }
    for query, message in refusals.items():
        with pytest.raises(InvalidRequest) as e:
            s.execute(query)
        assert message in str(e.value), (query, e.value)
    with pytest.raises(InvalidRequest) as e:
        s.execute(SimpleStatement("UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1",
                                  consistency_level=ConsistencyLevel.ANY))
    assert "Consistency level ANY is not yet supported for counter table c" in str(e.value)

    out = subprocess.run(
        [CQLSH, c.nodes[1].address, str(CQL_PORT), "-e",
         "CONSISTENCY ALL; SELECT k, ck, s, n, m FROM ks.c WHERE k = 1;"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert out.returncode == 0, out.stderr
    assert " 1 |  1 | 7 | 401 | -30" in out.stdout, out.stdout
