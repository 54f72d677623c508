"""Full-table and token-range scans on 3 real nodes with the stock cassandra-driver.

One cluster (3 nodes, RF=3) for the module: 2,000 partitions x 10 rows read back by a paged
``SELECT *``, by token ranges split from the driver's token map (as Spark and DSBulk do), by
COUNT(*), and page by page across coordinators; 5,000 rows in one partition read back in
clustering order.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement
from conftest import LocalCluster

from skewless.ring import token_of

PARTITIONS, ROWS_PER = 2_000, 10
BIG_ROWS = 5_000
MIN_TOKEN = -(2**63)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("scan")), 3)
    try:
        for node in c.nodes:
            c.wait_gossip(3, via=node.address)
        s = c.session()
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))")
        s.execute("CREATE TABLE ks.big (k int, c int, v int, PRIMARY KEY (k, c))")
        ins = s.prepare("INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)")
        ins.consistency_level = ConsistencyLevel.QUORUM
        args = [(k, c, f"v{k}.{c}") for k in range(PARTITIONS) for c in range(ROWS_PER)]
        started = time.monotonic()
        results = execute_concurrent_with_args(s, ins, args, concurrency=64,
                                               raise_on_first_error=True)
        assert all(ok for ok, _ in results)
        big = s.prepare("INSERT INTO ks.big (k, c, v) VALUES (7, ?, ?)")
        big.consistency_level = ConsistencyLevel.QUORUM
        results = execute_concurrent_with_args(s, big, [(i, i) for i in range(BIG_ROWS)],
                                               concurrency=64, raise_on_first_error=True)
        assert all(ok for ok, _ in results)
        print(f"\nloaded {len(args) + BIG_ROWS} rows in {time.monotonic() - started:.1f} s")
        yield c
    finally:
        c.close()


def _stmt(q: str, fetch_size: int = 1000) -> SimpleStatement:
    return SimpleStatement(q, fetch_size=fetch_size, consistency_level=ConsistencyLevel.QUORUM)


def _expect_each_once(rows: list[tuple[int, int]]) -> None:
    counts = Counter(rows)
    assert len(counts) == PARTITIONS * ROWS_PER
    assert set(counts.values()) == {1}, [r for r, n in counts.items() if n > 1][:5]
    assert set(counts) == {(k, c) for k in range(PARTITIONS) for c in range(ROWS_PER)}


def test_full_scan_paged_by_the_driver(cluster: LocalCluster) -> None:
    s = cluster.session()
    started = time.monotonic()
    got = [(r.k, r.c) for r in s.execute(_stmt("SELECT k, c FROM ks.t"))]
    elapsed = time.monotonic() - started
    _expect_each_once(got)
    tokens = [token_of(k.to_bytes(4, "big", signed=True)) for k, _ in got]
    assert tokens == sorted(tokens), "a scan answers in token order"
    for i in range(1, len(got)):  # and in clustering order within a partition
        if got[i][0] == got[i - 1][0]:
            assert got[i][1] == got[i - 1][1] + 1
    print(f"\nSELECT k, c FROM ks.t (QUORUM, fetch_size 1000): {len(got)} rows in "
          f"{elapsed:.2f} s ({len(got) / elapsed:.0f} rows/s)")


def _ring_ranges(s) -> list[tuple[str, tuple[int, ...]]]:  # type: ignore[no-untyped-def]
    """The token ranges Spark/DSBulk issue: (t_i, t_i+1], then the wrap split in two."""
    tokens = sorted(t.value for t in s.cluster.metadata.token_map.ring)
    assert len(tokens) >= 3
    out = [("token(k) > ? AND token(k) <= ?", (a, b)) for a, b in pairwise(tokens)]
    out.append(("token(k) > ?", (tokens[-1],)))
    out.append(("token(k) <= ?", (tokens[0],)))
    return out


def test_token_range_scan_split_from_the_driver_token_map(cluster: LocalCluster) -> None:
    s = cluster.session()
    prepared: dict[str, object] = {}
    got: list[tuple[int, int]] = []
    counted = 0
    started = time.monotonic()
    for where, bounds in _ring_ranges(s):
        if where not in prepared:
            p = s.prepare(f"SELECT k, c FROM ks.t WHERE {where}")
            p.consistency_level = ConsistencyLevel.QUORUM
            p.fetch_size = 1000
            prepared[where] = p
        for r in s.execute(prepared[where], bounds):
            tok = token_of(r.k.to_bytes(4, "big", signed=True))
            if len(bounds) == 2:
                assert bounds[0] < tok <= bounds[1]
            got.append((r.k, r.c))
        counted += s.execute(_stmt(f"SELECT COUNT(*) FROM ks.t WHERE {where}".replace(
            "?", "{}").format(*bounds))).one()[0]
    elapsed = time.monotonic() - started
    _expect_each_once(got)
    assert counted == PARTITIONS * ROWS_PER
    print(f"\n{len(_ring_ranges(s))} token ranges (rows and COUNT(*) of each): {elapsed:.2f} s")


def test_count_star_and_distinct_of_the_whole_table(cluster: LocalCluster) -> None:
    s = cluster.session()
    started = time.monotonic()
    assert s.execute(_stmt("SELECT COUNT(*) FROM ks.t")).one()[0] == PARTITIONS * ROWS_PER
    print(f"\nSELECT COUNT(*) of {PARTITIONS * ROWS_PER} rows: {time.monotonic() - started:.2f} s")
    distinct = [r.k for r in s.execute(_stmt("SELECT DISTINCT k FROM ks.t", 300))]
    assert sorted(distinct) == list(range(PARTITIONS))
    assert len([r for r in s.execute(_stmt("SELECT k FROM ks.t LIMIT 2345", 1000))]) == 2345
    pp = [(r.k, r.c) for r in s.execute(_stmt("SELECT k, c FROM ks.t PER PARTITION LIMIT 2"))]
    assert sorted(pp) == [(k, c) for k in range(PARTITIONS) for c in range(2)]
    filtered = s.execute(_stmt("SELECT k, c, v FROM ks.t WHERE c = 3 AND v = 'v5.3' "
                               "ALLOW FILTERING"))
    assert [(r.k, r.c, r.v) for r in filtered] == [(5, 3, "v5.3")]
    with pytest.raises(InvalidRequest, match="use ALLOW FILTERING"):
        s.execute("SELECT * FROM ks.t WHERE v = 'v1.1'")


def test_paging_state_continues_on_another_coordinator(cluster: LocalCluster) -> None:
    nodes = [n.address for n in cluster.nodes]
    sessions = [cluster.session_to(a) for a in nodes]
    q = "SELECT k, c FROM ks.t"
    got: list[tuple[int, int]] = []
    state = None
    pages = 0
    while True:
        rs = sessions[pages % 3].execute(_stmt(q, 1700), paging_state=state)
        got.extend((r.k, r.c) for r in rs.current_rows)
        pages += 1
        state = rs.paging_state
        if state is None:
            break
        assert pages < 100
    _expect_each_once(got)
    assert pages >= 12


def test_one_large_partition_in_clustering_order(cluster: LocalCluster) -> None:
    s = cluster.session()
    rows = [(r.c, r.v) for r in s.execute(_stmt("SELECT c, v FROM ks.big WHERE k = 7", 100))]
    assert rows == [(i, i) for i in range(BIG_ROWS)]
    desc = [r.c for r in s.execute(_stmt("SELECT c FROM ks.big WHERE k = 7 ORDER BY c DESC",
                                         100))]
    assert desc == list(range(BIG_ROWS - 1, -1, -1))
    # the same partition through a scan: replicas cut their answers inside the partition
    scanned = [r.c for r in s.execute(_stmt("SELECT c FROM ks.big", 100))]
    assert scanned == list(range(BIG_ROWS))
    count = s.execute(_stmt("SELECT COUNT(*) FROM ks.big")).one()[0]
    assert count == BIG_ROWS
