"""The range-read core (node.scan): replica answers, resume points, reconciliation, segments."""

from __future__ import annotations

import random

import pytest
from schema_of import schema_of

from skewless.clock import TimestampSource
from skewless.cql import ast, dml
from skewless.cql.parser import parse
from skewless.cql.terms import EvalContext
from skewless.errors import ReadTimeout
from skewless.node import scan
from skewless.node.messages import MutationRequest, RangeReadRequest, RangeReadResponse
from skewless.node.placement import SIMPLE, Endpoint, Ring
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.storage import codec, keys, merge
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV

NOW_S = 1_750_000_000


SCHEMA, TABLE = schema_of(
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c))",
)
TS = TimestampSource("hlc")


def _store(rows: dict[int, list[int]], ts: int = 1000, value: int = 0) -> Storage:
    st = Storage(MemoryKV())
    for k, cs in rows.items():
        for c in cs:
            write(st, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, {c}, {value})", ts)
    return st


def write(st: Storage, q: str, ts: int) -> None:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
    ctx = EvalContext(NOW_S * 10**6, random.Random(0).randbytes, (), "ks")
    for u in dml.build_mutations(stmt, TABLE, SCHEMA, ctx, ts, NOW_S):
        st.apply(u, NOW_S)


def _key(k: int) -> bytes:
    return k.to_bytes(4, "big", signed=True)


def _req(start: scan.Pos, end: int = MAX_TOKEN, rows: int = 1000, per: int = 0,
         byte_limit: int = 1 << 20) -> RangeReadRequest:
    resume = start.key is not None
    return RangeReadRequest(1, TABLE.table_key, start.token - 1 if resume else start.token, end,
                            start.key or b"", start.clustering, (), rows, per, byte_limit)


def _rows(resp: RangeReadResponse) -> list[tuple[int, int]]:
    """The live rows of a response as (k, c)."""
    out = []
    for key, data in resp.partitions:
        p = codec.decode_update(data)
        assert p.key == key
        for r in merge.live_view(p, NOW_S).rows:
            (c,) = keys.decode_clustering([("int", False)], r.clustering)
            out.append((int.from_bytes(key, "big", signed=True),
                        int.from_bytes(c or b"", "big", signed=True)))
    return out


def _in_ring_order(ks: list[int]) -> list[int]:
    return sorted(ks, key=lambda k: scan.partition_order(_key(k)))


def test_positions_order_like_the_storage_engine() -> None:
    k = _key(5)
    t = token_of(k)
    assert scan.Pos(t - 1).order() < scan.Pos(t, k, b"\x00").order()
    assert scan.Pos(t, k, b"\x00").order() < scan.Pos(t, k, b"\x01").order()
    assert scan.Pos(t, k, b"\xff").order() < scan.Pos(t, k).order() < scan.Pos(t).order()
    assert scan.covers_partition(scan.Pos(t, k, b""), k)
    assert not scan.covers_partition(scan.Pos(t - 1), k)
    assert scan.scan_start(MIN_TOKEN, True) == scan.Pos(MIN_TOKEN)
    assert scan.scan_start(10, True) == scan.Pos(9) and scan.scan_start(10, False) == scan.Pos(10)
    assert scan.scan_end(MIN_TOKEN, True) == scan.Pos(MAX_TOKEN)  # Cassandra: ring end
    assert scan.scan_end(10, False) == scan.Pos(9)


def test_replica_cuts_inside_a_partition_and_resumes_there() -> None:
    st = _store({k: [0, 1, 2] for k in range(3)})
    order = _in_ring_order([0, 1, 2])
    resp = scan.serve_range(st, SCHEMA, _req(scan.Pos(MIN_TOKEN), rows=5), NOW_S)
    assert _rows(resp) == [(order[0], c) for c in range(3)] + [(order[1], 0), (order[1], 1)]
    assert not resp.exhausted and resp.last_clustering is not None
    k1 = _key(order[1])
    nxt = scan.serve_range(st, SCHEMA, _req(scan.Pos(token_of(k1), k1, resp.last_clustering)),
                           NOW_S)
    assert _rows(nxt) == [(order[1], 2)] + [(order[2], c) for c in range(3)]
    assert nxt.exhausted
    per = scan.serve_range(st, SCHEMA, _req(scan.Pos(MIN_TOKEN), per=1), NOW_S)
    assert _rows(per) == [(k, 0) for k in order] and per.exhausted
    one = scan.serve_range(st, SCHEMA, _req(scan.Pos(MIN_TOKEN), byte_limit=1), NOW_S)
    assert len(one.partitions) == 1 and one.last_clustering is None and not one.exhausted


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 7])
def test_walking_a_range_with_any_bound_returns_every_row_once(rows: int) -> None:
    data = {k: list(range(k % 4)) for k in range(25)}  # some partitions hold no row at all
    st = _store(data)
    write(st, "DELETE FROM ks.t WHERE k = 3 AND c = 1", 2000)
    expect = [(k, c) for k in _in_ring_order(list(data)) for c in data[k] if (k, c) != (3, 1)]
    pos, got = scan.Pos(MIN_TOKEN), []
    for _ in range(200):
        resp = scan.serve_range(st, SCHEMA, _req(pos, rows=rows), NOW_S)
        got.extend(_rows(resp))
        if resp.exhausted:
            break
        key = resp.partitions[-1][0]
        pos = scan.Pos(token_of(key), key, resp.last_clustering)
    assert got == expect


def _round(targets: tuple[str, ...]) -> tuple[scan.RangeRound, list[object]]:
    done: list[object] = []
    ids = iter(range(100, 200))
    op = scan.RangeRound(1, _req(scan.Pos(MIN_TOKEN), rows=4), targets, 0, 4,
                         lambda: next(ids), lambda e, r: done.append(e or r), NOW_S)
    return op, done


def test_round_keeps_what_every_replica_covered_and_merges_newest() -> None:
    old = _store({k: [0, 1, 2] for k in range(4)}, ts=1000, value=1)
    new = _store({k: [0, 1, 2] for k in range(4)}, ts=2000, value=2)
    order = _in_ring_order(list(range(4)))
    a = scan.serve_range(old, SCHEMA, _req(scan.Pos(MIN_TOKEN), rows=4), NOW_S)  # cut in p1
    b = scan.serve_range(new, SCHEMA, _req(scan.Pos(MIN_TOKEN), rows=9), NOW_S)  # p0..p2
    op, done = _round(("a", "b"))
    assert op.on_response("a", a) == []
    sends = op.on_response("b", b)
    (result,) = done
    assert isinstance(result, scan.RoundResult)
    k1 = _key(order[1])
    assert result.covered == scan.Pos(token_of(k1), k1, a.last_clustering)
    assert [p.key for p in result.partitions] == [_key(order[0]), k1]
    assert len(result.partitions[1].rows) == 1  # b's second and third rows of p1 dropped
    values = {w.cell.value for p in result.partitions for r in p.rows for w in r.cells}
    assert values == {(2).to_bytes(4, "big")}
    assert not result.done
    # a (stale) is repaired with what b had, up to the covered point only
    assert [addr for addr, _ in sends] == ["a", "a"]
    assert all(isinstance(m, MutationRequest) for _, m in sends)


def test_round_of_identical_answers_needs_no_merge_and_times_out_without_answers() -> None:
    st = _store({k: [0] for k in range(3)})
    r = scan.serve_range(st, SCHEMA, _req(scan.Pos(MIN_TOKEN), rows=4), NOW_S)
    op, done = _round(("a", "b"))
    op.on_response("a", r)
    assert op.on_response("b", r) == [] and isinstance(done[0], scan.RoundResult)
    assert done[0].done and len(done[0].partitions) == 3
    op, done = _round(("a", "b"))
    op.on_response("a", r)
    op.expire()
    assert isinstance(done[0], ReadTimeout) and done[0].received == 1
    op.expire()
    assert len(done) == 1


def test_segments_join_ring_ranges_with_the_same_replicas() -> None:
    ring = Ring({"a": [-100, 100], "b": [0, 200]},
                [Endpoint("a", "dc1", "r1"), Endpoint("b", "dc1", "r1")])

    def owner(rf: int):  # type: ignore[no-untyped-def]
        return lambda t: ring.replicas(t, {"class": SIMPLE, "replication_factor": str(rf)})

    assert scan.next_segment(ring, scan.Pos(MIN_TOKEN), MAX_TOKEN, owner(1)) == (-100, ["a"])
    assert scan.next_segment(ring, scan.Pos(-100), MAX_TOKEN, owner(1)) == (0, ["b"])
    assert scan.next_segment(ring, scan.Pos(150), MAX_TOKEN, owner(1)) == (200, ["b"])
    assert scan.next_segment(ring, scan.Pos(200), MAX_TOKEN, owner(1)) == (MAX_TOKEN, ["a"])
    assert scan.next_segment(ring, scan.Pos(MIN_TOKEN), MAX_TOKEN, owner(2))[0] == MAX_TOKEN
    assert scan.next_segment(ring, scan.Pos(MIN_TOKEN), 50, owner(2))[0] == 50
    k = _key(1)
    mid = scan.Pos(token_of(k), k, None)
    seg_end, _ = scan.next_segment(ring, mid, MAX_TOKEN, owner(1))
    assert seg_end >= token_of(k)


def test_short_read_under_a_partition_row_limit_stops_where_the_limited_replica_did() -> None:
    a = _store({1: [0, 1]}, ts=1000)  # has both rows
    b = _store({1: [0]}, ts=1000)  # missed row 1, and deleted row 0 later
    write(b, "DELETE FROM ks.t WHERE k = 1 AND c = 0", 2000)
    start = scan.Pos(MIN_TOKEN)
    op, done = _round(("a", "b"))
    op.request = _req(start, rows=4, per=1)
    op.on_response("a", scan.serve_range(a, SCHEMA, _req(start, rows=4, per=1), NOW_S))
    op.on_response("b", scan.serve_range(b, SCHEMA, _req(start, rows=4, per=1), NOW_S))
    (first,) = done
    assert isinstance(first, scan.RoundResult) and not first.done
    k = _key(1)
    assert first.covered.key == k and first.covered.clustering is not None
    assert first.partitions[0].rows[0].deletion is not None  # row 0: deleted, nothing live
    nxt = _req(first.covered, rows=4, per=1)
    op, done = _round(("a", "b"))
    op.request = nxt
    op.on_response("a", scan.serve_range(a, SCHEMA, nxt, NOW_S))
    op.on_response("b", scan.serve_range(b, SCHEMA, nxt, NOW_S))
    (second,) = done
    assert isinstance(second, scan.RoundResult) and second.done
    (p,) = second.partitions
    (row,) = merge.live_view(p, NOW_S).rows  # row 1, which only a had
    assert keys.decode_clustering([("int", False)], row.clustering) == [(1).to_bytes(4, "big")]
