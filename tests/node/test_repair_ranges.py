"""Which ranges a repair covers (node.repair_ranges) and the repaired-at records
(node.repaired): -pr on every node covers the ring once, all ranges of a node are those it
replicates, -st/-et cuts them, wrapping ranges split; records keep the latest time per piece."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.node.placement import Endpoint, Ring
from skewless.node.repair.ranges import node_ranges, pieces
from skewless.node.repair.repaired import record_interval, repaired_at
from skewless.ring import MAX_TOKEN, MIN_TOKEN

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
SIMPLE = {"class": "org.apache.cassandra.locator.SimpleStrategy"}


def _ring(seed: int, n: int = 4, tokens: int = 8) -> Ring:
    rng = random.Random(seed)
    owned = {a: sorted(rng.randrange(MIN_TOKEN + 1, MAX_TOKEN) for _ in range(tokens))
             for a in ADDRESSES[:n]}
    return Ring(owned, [Endpoint(a, "datacenter1", "rack1") for a in ADDRESSES[:n]])


def _width(start: int, end: int) -> int:
    return sum(hi - lo for lo, hi in pieces(start, end))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4))
def test_primary_ranges_of_all_nodes_cover_the_ring_once(seed: int, rf: int) -> None:
    ring = _ring(seed)
    replication = {**SIMPLE, "replication_factor": str(rf)}
    covered = [(r.start, r.end) for a in ADDRESSES
               for r in node_ranges(ring, replication, a, primary=True)]
    assert len(covered) == len(ring.tokens)
    assert sum(_width(s, e) for s, e in covered) == MAX_TOKEN - MIN_TOKEN


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4))
def test_a_node_repairs_the_ranges_it_replicates_with_their_replicas(seed: int, rf: int) -> None:
    ring = _ring(seed)
    replication = {**SIMPLE, "replication_factor": str(rf)}
    me = ADDRESSES[seed % 4]
    ranges = node_ranges(ring, replication, me, primary=False)
    assert len(ranges) == sum(me in ring.replicas(t, replication) for t in ring.tokens)
    for r in ranges:
        assert r.replicas[0] == me and set(r.replicas) == set(ring.replicas(r.end, replication))


def test_sub_range_cuts_the_ranges_and_wrapping_ranges_split() -> None:
    ring = Ring({"a": [-100, 100], "b": [0, 200]},
                [Endpoint(x, "dc", "r") for x in ("a", "b")])
    replication = {**SIMPLE, "replication_factor": "2"}
    got = [(r.start, r.end) for r in node_ranges(ring, replication, "a", False, (-50, 150))]
    assert got == [(-50, 0), (0, 100), (100, 150)]
    wrapping = [(r.start, r.end) for r in node_ranges(ring, replication, "a", True, (150, -50))]
    assert wrapping == [(200, MAX_TOKEN), (MIN_TOKEN, -100)]
    assert pieces(5, 5) == [(5, MAX_TOKEN), (MIN_TOKEN, 5)]
    assert pieces(MAX_TOKEN, 7) == [(MIN_TOKEN, 7)]


def test_records_keep_the_latest_time_of_each_piece() -> None:
    iv = record_interval([], 0, 100, 10)
    iv = record_interval(iv, 50, 150, 20)
    assert iv == [(0, 50, 10), (50, 150, 20)]
    iv = record_interval(iv, 0, 150, 5)  # a late, older record changes nothing
    assert iv == [(0, 50, 10), (50, 150, 20)]
    iv = record_interval(iv, 0, 50, 20)  # equal neighbours join
    assert iv == [(0, 150, 20)]
    assert repaired_at(iv, 0) == 0 and repaired_at(iv, 1) == 20 and repaired_at(iv, 150) == 20
    assert repaired_at(iv, 151) == 0
