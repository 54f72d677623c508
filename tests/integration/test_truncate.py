"""TRUNCATE on a real 3-node cluster through the stock driver: every node's copy is emptied,
the truncation survives a node's restart (SIGKILL), and with a node down the statement fails as
Cassandra's does (TRUNCATE_ERROR "Error during truncate: Cannot achieve consistency level ALL")
without touching any data."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import NoHostAvailable
from cassandra.protocol import TruncateError
from cassandra.query import SimpleStatement
from conftest import LocalCluster

KEYS = range(20)


def _rows(session: object, cl: int = ConsistencyLevel.ALL) -> list[int]:
    stmt = SimpleStatement("SELECT k FROM ks.t", consistency_level=cl)
    return sorted(r.k for r in session.execute(stmt))  # type: ignore[attr-defined]


def _fill(session: object, cl: int = ConsistencyLevel.ALL) -> None:
    for k in KEYS:
        session.execute(SimpleStatement(  # type: ignore[attr-defined]
            f"INSERT INTO ks.t (k, v) VALUES ({k}, {k})", consistency_level=cl))


def test_truncate_on_three_nodes_survives_restart_and_needs_every_node(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(3)
    s = c.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    _fill(s)
    assert _rows(s) == list(KEYS)
    s.execute("TRUNCATE ks.t")
    for node in c.nodes:  # each node's own copy (ONE through a session pinned to it)
        assert _rows(c.session_to(node.address), ConsistencyLevel.ONE) == []
    c.nodes[2].kill9()
    c.nodes[2].start()
    c.nodes[2].wait_ready()
    c.wait_gossip(3)
    assert _rows(c.session_to(c.nodes[2].address), ConsistencyLevel.ONE) == []

    _fill(s, ConsistencyLevel.QUORUM)
    c.nodes[2].terminate()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until node 1 has convicted node 3 (phi: ≈ 20 s)
        up = [r.up for r in c.session_to(c.nodes[0].address).execute(
            "SELECT up FROM system.skewless_status")]
        if up.count(True) == 2:
            break
        time.sleep(0.2)
    # The driver retries a TRUNCATE_ERROR on the next host (as it does against Cassandra); with
    # one host it ends as NoHostAvailable holding the error.
    with pytest.raises(NoHostAvailable) as e:
        c.session_to(c.nodes[0].address).execute("TRUNCATE ks.t")
    (error,) = e.value.errors.values()
    assert isinstance(error, TruncateError), error
    assert "Error during truncate: Cannot achieve consistency level ALL" in str(error)
    assert _rows(s, ConsistencyLevel.QUORUM) == list(KEYS)
