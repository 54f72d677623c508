"""A replica whose storage needs rebuild (storage.integrity) in the simulator: it answers reads
with a failure starting with CORRUPT_PREFIX (point and range), gossips its verdict so the other
coordinators ask it last, and reads it coordinates at ONE and QUORUM are served by the others.
(The process wraps its RocksDB in CheckedKV; here the simulated store is wrapped the same way.)"""

from __future__ import annotations

from skewless.cql.results import RowsResult
from skewless.cql.types import parse_type
from skewless.node import replica
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.messages import RangeReadRequest, ReadRequest
from skewless.node.scan import serve_range
from skewless.ring import MAX_TOKEN, MIN_TOKEN
from skewless.sim.world import World
from skewless.storage.integrity import CORRUPT_PREFIX, CheckedKV, Integrity
from tests.sim.test_sim_repair import _q  # a QUORUM query run until answered

N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"


def test_a_replica_that_needs_rebuild_serves_nothing_and_reads_go_elsewhere() -> None:
    w = World(7, n_nodes=3)
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    w.run_for(2 * 10**9)
    for k in range(20):
        _q(w, N1, f"INSERT INTO ks.t (k, v) VALUES ({k}, {k * 10})", ALL)

    node3 = w.nodes[N3].node
    storage = node3.storage
    storage._kv = CheckedKV(storage._kv, Integrity(reasons=["test: corrupt SSTable block"]))
    table = node3.schema.table("ks", "t")
    assert table is not None
    key = parse_type("int").serialize(3)
    point = replica.read_reply(node3, ReadRequest(1, table.table_key, key, (), False, 0, False))
    assert point.error.startswith(CORRUPT_PREFIX) and point.data == b"", point
    ranged = serve_range(storage, node3.schema, RangeReadRequest(
        2, table.table_key, MIN_TOKEN, MAX_TOKEN, b"", None, (), 100, 0, 1 << 20), 0, N3)
    assert ranged.error.startswith(CORRUPT_PREFIX) and not ranged.partitions

    # Reads node 3 coordinates are served by the others.
    for cl in (ONE, QUORUM):
        got = _q(w, N3, "SELECT v FROM ks.t WHERE k = 3", cl)
        assert isinstance(got, RowsResult) and len(got.rows) == 1, got
        scan = _q(w, N3, "SELECT k FROM ks.t", cl)
        assert isinstance(scan, RowsResult) and len(scan.rows) == 20
    # Its peers learn the verdict by gossip and ask it last.
    assert w.run_until(lambda: w.nodes[N1].node.needs_rebuild(N3), 5 * 10**9)
    assert not w.nodes[N1].node.needs_rebuild(N2)
    assert _q(w, N2, "SELECT k FROM ks.t", QUORUM) is not None
