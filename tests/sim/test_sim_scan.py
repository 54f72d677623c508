"""Scans in the deterministic simulator: 3 nodes of the production code, RF=3."""

from __future__ import annotations

import hashlib

import pytest

from skewless import limits
from skewless.cql import ast, dml
from skewless.cql.parser import parse
from skewless.cql.results import RowsResult
from skewless.errors import CqlError, InvalidRequest, ReadTimeout, Unavailable
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.node.executor import Params
from skewless.node.membership import phi
from skewless.ring import token_of
from skewless.sim.world import World

NODES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
CONVICT_NS = int(phi.convict_within_ms() * 1_000_000)  # a dead or paused node is down by then


class Client:
    def __init__(self, seed: int) -> None:
        self.w = World(seed, n_nodes=3)
        assert self.w.stabilize()
        self.conn = 0

    def ask(self, node: str, q: str, cl: int = QUORUM, page_size: int | None = None,
            state: bytes | None = None, wait_s: int = 20) -> object:
        out: list[object] = []

        def on_reply(r: Reply) -> None:
            out.append(r.body)

        self.conn += 1
        self.w.client_execute(node, self.conn, q, Params(consistency=cl, page_size=page_size,
                                                         paging_state=state), on_reply)
        assert self.w.run_until(lambda: bool(out), wait_s * 10**9), q
        assert len(out) == 1
        return out[0]

    def warnings(self, node: str, q: str) -> tuple[str, ...]:
        out: list[Reply] = []
        self.conn += 1
        self.w.client_execute(node, self.conn, q, Params(consistency=QUORUM), out.append)
        assert self.w.run_until(lambda: bool(out), 20 * 10**9), q
        assert isinstance(out[0].body, RowsResult), out[0].body
        return out[0].warnings

    def rows(self, node: str, q: str, cl: int = QUORUM) -> RowsResult:
        r = self.ask(node, q, cl)
        assert isinstance(r, RowsResult), r
        return r


def _setup(seed: int, partitions: int = 40, rows: int = 3) -> Client:
    c = Client(seed)
    c.ask(NODES[0], "CREATE KEYSPACE ks WITH replication = "
          "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    c.ask(NODES[0], "CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c))")
    c.w.run_for(2 * 10**9)
    for k in range(partitions):
        for i in range(rows):
            c.ask(NODES[k % 3], f"INSERT INTO ks.t (k, c, v) VALUES ({k}, {i}, {k * 100 + i})")
    return c


def _ints(r: RowsResult) -> list[tuple[int, ...]]:
    return [tuple(int.from_bytes(v or b"", "big", signed=True) for v in row) for row in r.rows]


def _pages(c: Client, q: str, size: int) -> list[tuple[int, ...]]:
    """Every page of ``q``, each from the next coordinator in turn."""
    got: list[tuple[int, ...]] = []
    state = None
    for page in range(200):
        r = c.ask(NODES[page % 3], q, QUORUM, page_size=size, state=state)
        assert isinstance(r, RowsResult), r
        assert len(r.rows) <= size
        got.extend(_ints(r))
        state = r.paging_state
        if state is None:
            return got
    raise AssertionError("too many pages")


def test_pages_across_coordinators_return_every_row_once_in_token_order() -> None:
    c = _setup(11)
    got = _pages(c, "SELECT k, c FROM ks.t", 7)
    assert sorted(got) == [(k, i) for k in range(40) for i in range(3)]
    assert len(got) == 120
    tokens = [token_of(k.to_bytes(4, "big", signed=True)) for k, _ in got]
    assert tokens == sorted(tokens)
    assert _ints(c.rows(NODES[1], "SELECT COUNT(*) FROM ks.t")) == [(120,)]
    assert len(c.rows(NODES[2], "SELECT DISTINCT k FROM ks.t").rows) == 40
    assert len(c.rows(NODES[2], "SELECT k FROM ks.t LIMIT 50").rows) == 50
    assert _ints(c.rows(NODES[0], "SELECT k, c FROM ks.t WHERE v = 1702 ALLOW FILTERING")) == [
        (17, 2)]
    t5 = token_of((5).to_bytes(4, "big", signed=True))
    assert _ints(c.rows(NODES[0], f"SELECT k, c FROM ks.t WHERE token(k) = {t5}")) == [
        (5, 0), (5, 1), (5, 2)]
    assert c.rows(NODES[0], f"SELECT k FROM ks.t WHERE token(k) > {t5} AND token(k) < {t5}"
                  ).rows == ()
    assert _ints(c.rows(NODES[0], f"SELECT COUNT(*) FROM ks.t WHERE token(k) > {t5} "
                               f"AND token(k) < {t5}")) == [(0,)]
    by_token = sorted(range(40), key=lambda k: token_of(k.to_bytes(4, "big", signed=True)))
    assert _pages(c, "SELECT k, c FROM ks.t WHERE c >= 1 ALLOW FILTERING", 4) == [
        (k, i) for k in by_token for i in (1, 2)]
    assert _pages(c, "SELECT k, c FROM ks.t PER PARTITION LIMIT 2", 5) == [
        (k, i) for k in by_token for i in (0, 1)]
    assert _pages(c, "SELECT k, c FROM ks.t WHERE c < 2 LIMIT 33 ALLOW FILTERING", 10) == [
        (k, i) for k in by_token for i in (0, 1)][:33]
    assert _pages(c, "SELECT DISTINCT k FROM ks.t", 6) == [(k,) for k in by_token]
    assert _pages(c, "SELECT k, c FROM ks.t WHERE k > 35 AND c = 2 ALLOW FILTERING", 2) == [
        (k, 2) for k in by_token if k > 35]
    t0 = token_of(by_token[20].to_bytes(4, "big", signed=True))
    assert _pages(c, f"SELECT DISTINCT k FROM ks.t WHERE token(k) >= {t0}", 3) == [
        (k,) for k in by_token[20:]]
    warn = ("Aggregation query used without partition key",)
    assert c.warnings(NODES[0], "SELECT COUNT(*) FROM ks.t") == warn  # as Cassandra warns
    assert c.warnings(NODES[0], f"SELECT COUNT(*) FROM ks.t WHERE token(k) > {t0}") == ()
    assert c.warnings(NODES[0], "SELECT k FROM ks.t") == ()
    for q in ("SELECT * FROM ks.t WHERE c = 1", "SELECT * FROM ks.t WHERE v = 1"):
        refused = c.ask(NODES[0], q)
        assert isinstance(refused, InvalidRequest) and refused.message.startswith(
            "Cannot execute this query as it might involve data filtering"), refused


def test_quorum_scan_merges_replicas_and_repairs_the_stale_one() -> None:
    c = _setup(12, partitions=12, rows=2)
    # A newer value for k=3, c=1 on node 1 only (as if nodes 2 and 3 missed the write).
    n1 = c.w.nodes[NODES[0]].node
    ks = n1.schema.keyspace("ks")
    assert ks is not None
    newer = "UPDATE ks.t USING TIMESTAMP 9000000000000000 SET v = -1 WHERE k = 3 AND c = 1"
    table = n1.schema.table("ks", "t")
    assert table is not None
    stmt = parse(newer).statement
    assert isinstance(stmt, ast.Update)
    ctx = c.w.nodes[NODES[0]].executor._ctx((), "ks")
    for u in dml.build_mutations(stmt, table, n1.schema, ctx, 9000000000000000, 0):
        n1.apply_local(u)
    q = "SELECT v FROM ks.t WHERE k = 3 AND c = 1 ALLOW FILTERING"
    scan = "SELECT k, c, v FROM ks.t WHERE c = 1 ALLOW FILTERING"
    # Node 3 at ONE reads only itself: the old value.
    assert (3, 1, 301) in _ints(c.rows(NODES[2], scan, ONE))
    # Node 2 at QUORUM asks itself and node 1: the newer value wins.
    assert (3, 1, -1) in _ints(c.rows(NODES[1], scan, QUORUM))
    c.w.run_for(10**9)
    # That scan repaired node 2 (not blocking): node 2 alone now has the newer value.
    assert _ints(c.rows(NODES[1], q, ONE)) == [(-1,)]
    assert _ints(c.rows(NODES[2], q, ONE)) == [(301,)]
    assert _ints(c.rows(NODES[2], "SELECT COUNT(*) FROM ks.t", ALL)) == [(24,)]
    assert _ints(c.rows(NODES[2], q, ONE)) == [(-1,)]  # the ALL scan repaired node 3


def test_unavailable_and_timeout_like_point_reads() -> None:
    c = _setup(13, partitions=5, rows=1)
    c.w.pause(NODES[2], True)
    r = c.ask(NODES[0], "SELECT * FROM ks.t", ALL, page_size=100, wait_s=30)
    assert isinstance(r, ReadTimeout), r
    c.w.run_for(CONVICT_NS)  # node 3 is now convicted down
    r = c.ask(NODES[0], "SELECT * FROM ks.t", ALL, page_size=100)
    assert isinstance(r, Unavailable), r
    assert len(c.rows(NODES[0], "SELECT * FROM ks.t", QUORUM).rows) == 5
    c.w.crash(NODES[1])
    c.w.run_for(CONVICT_NS)
    r = c.ask(NODES[0], "SELECT COUNT(*) FROM ks.t", QUORUM)
    assert isinstance(r, Unavailable) and isinstance(r, CqlError), r
    assert _ints(c.rows(NODES[0], "SELECT COUNT(*) FROM ks.t", ONE)) == [(5,)]


def test_same_seed_same_scan_trace() -> None:
    def run(seed: int) -> str:
        c = _setup(seed, partitions=10, rows=2)
        c.rows(NODES[1], "SELECT * FROM ks.t")
        c.rows(NODES[2], "SELECT COUNT(*) FROM ks.t")
        return hashlib.sha256("\n".join(c.w.trace).encode()).hexdigest()

    assert run(21) == run(21)


@pytest.mark.parametrize("cl", [ONE, QUORUM])
def test_many_small_rounds(cl: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicas answer one row per round: a filtered scan and COUNT(*) take hundreds of rounds
    (completing at once at ONE, where this node is the replica asked), cut anywhere."""
    c = _setup(14, partitions=40, rows=3)
    monkeypatch.setattr(limits, "scan_response_rows_max", 1)
    by_token = sorted(range(40), key=lambda k: token_of(k.to_bytes(4, "big", signed=True)))
    r = c.rows(NODES[1], "SELECT k, c FROM ks.t WHERE v >= 1000 ALLOW FILTERING", cl)
    assert _ints(r) == [(k, i) for k in by_token if k >= 10 for i in range(3)]
    assert _ints(c.rows(NODES[2], "SELECT COUNT(*) FROM ks.t", cl)) == [(120,)]


def test_unpaged_scan_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _setup(15, partitions=6, rows=2)
    monkeypatch.setattr(limits, "cql_page_rows_max", 12)
    assert len(c.rows(NODES[0], "SELECT * FROM ks.t").rows) == 12  # no page size: all rows
    c.ask(NODES[0], "INSERT INTO ks.t (k, c, v) VALUES (100, 0, 0)")
    refused = c.ask(NODES[0], "SELECT * FROM ks.t")
    assert isinstance(refused, InvalidRequest) and "set a fetch size" in refused.message
    assert len(c.rows(NODES[0], "SELECT * FROM ks.t LIMIT 12").rows) == 12
