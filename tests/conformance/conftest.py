"""Clusters for the conformance corpus: one node and three, each started once per test module
on loopback (127.0.0.x) and stopped by pid when the module ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.cluster import Cluster, NoHostAvailable, Session

from skewless.runtime.cluster import start_local_cluster, stop_nodes, suite_port_offset

# Ports of their own (the integration tests use 19042/17000 plus the same offset).
PORT_OFFSET = suite_port_offset()
CQL_PORT = 21042 + PORT_OFFSET
INTERNODE_PORT = 19000 + PORT_OFFSET


def _session(n: int, tmp: Path) -> Iterator[Session]:
    nodes = start_local_cluster(n, tmp, cql_port=CQL_PORT, internode_port=INTERNODE_PORT)
    cluster = None
    try:
        cluster = Cluster([node.address for node in nodes], port=CQL_PORT)
        session = cluster.connect()
        # QUORUM by default, for the Check steps' own statements too: a write then a read at
        # the driver's default LOCAL_ONE may meet different replicas of RF=3 (legacy settings,
        # not a profile: the CQLEngine case sets the session's row_factory)
        session.default_consistency_level = ConsistencyLevel.QUORUM
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hosts = cluster.metadata.all_hosts()
            # every node must see every other up before the first case runs; the driver may
            # have met a node before it served CQL (marked down: it reconnects by itself)
            try:
                if len(hosts) >= n and all(
                        sum(1 for r in session.execute("SELECT up FROM system.skewless_status",
                                                       host=h) if r.up) >= n for h in hosts):
                    break
            except (NoHostAvailable, OperationTimedOut):
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"the {n}-node cluster did not come up")
        yield session
    finally:
        if cluster is not None:
            cluster.shutdown()
        stop_nodes(nodes, 10.0)


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    yield from _session(1, tmp_path_factory.mktemp("conformance1"))


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    yield from _session(3, tmp_path_factory.mktemp("conformance3"))
