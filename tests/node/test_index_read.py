"""The index read core (node.index_read): replica candidates from the index and from the data
(an index still building), resumed in ring order, and the coordinator's reconciliation."""

from __future__ import annotations

import random
import struct

from schema_of import schema_of

from skewless.cql import ast, dml
from skewless.cql.parser import parse
from skewless.cql.terms import EvalContext
from skewless.node.index import read as index_read
from skewless.node.index.manager import specs_by_table
from skewless.node.messages import IndexScanRequest, IndexScanResponse
from skewless.node.scan import Pos
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.storage import index as sindex
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV

NOW_S = 1_750_000_000


SCHEMA, TABLE = schema_of(
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TABLE ks.t (k int, c int, v int, s int STATIC, PRIMARY KEY (k, c))",
    "CREATE INDEX iv ON ks.t (v)",
    "CREATE INDEX is ON ks.t (s)",
    "CREATE INDEX sv ON ks.t (v) USING 'sai'",
)
SPECS = specs_by_table(SCHEMA)[TABLE.table_key]


def _write(st: Storage, q: str, ts: int = 1000) -> None:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
    ctx = EvalContext(NOW_S * 10**6, random.Random(0).randbytes, (), "ks")
    for u in dml.build_mutations(stmt, TABLE, SCHEMA, ctx, ts, NOW_S):
        st.apply(u, NOW_S)


def _store() -> Storage:
    st = Storage(MemoryKV())
    st.index_specs = {TABLE.table_key: SPECS}
    for k in range(40):
        for c in range(5):
            _write(st, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, {c}, {(k + c) % 3})")
        if k % 4 == 0:
            _write(st, f"UPDATE ks.t SET s = 7 WHERE k = {k}")
    _write(st, "UPDATE ks.t SET v = 2 WHERE k = 1 AND c = 1", 2000)
    _write(st, "DELETE FROM ks.t WHERE k = 2", 2000)
    _write(st, "UPDATE ks.t USING TTL 1 SET v = 1 WHERE k = 3 AND c = 0", 2000)
    return st


Range = tuple[bytes, bool] | None


def _walk(st: Storage, name: str, term: int, built: bool, limit: int,
          lower: Range = None, upper: Range = None) -> list[sindex.Candidate]:
    """Every candidate of the ring, ``limit`` at a time, resuming as a coordinator does."""
    spec = next(s for s in SPECS if s.name == name)
    out: list[sindex.Candidate] = []
    pos = Pos(MIN_TOKEN)
    while True:
        resume = pos.key is not None
        r = IndexScanRequest(1, TABLE.table_key, name, struct.pack(">i", term),
                             pos.token - 1 if resume else pos.token, MAX_TOKEN,
                             pos.key or b"", pos.clustering, limit, lower, upper)
        resp = index_read.answer(st, spec, built, r, NOW_S + 5)
        assert not resp.error
        out.extend(resp.candidates)
        if resp.exhausted:
            return out
        key, ck = resp.candidates[-1]
        pos = Pos(token_of(key), key, ck)


def test_index_and_data_agree_on_live_rows() -> None:
    """The entries of the built index are the data's matches, plus the stale entries of
    expired cells (which readers drop); a build over existing rows gives the same entries."""
    st = _store()
    for name, term in (("iv", 1), ("iv", 2), ("is", 7)):
        from_data = _walk(st, name, term, False, 1000)
        assert from_data == sorted(from_data, key=lambda c: Pos(token_of(c[0]), *c).order())
        for limit in (1, 3, 1000):
            from_index = _walk(st, name, term, True, limit)
            assert len(from_index) == len(set(from_index))
            assert set(from_data) <= set(from_index)
            stale = set(from_index) - set(from_data)  # only the expired cell's entry
            assert stale == ({(struct.pack(">i", 3), b"\x01\x80\x00\x00\x00")}
                             if (name, term) == ("iv", 1) else set())
            assert _walk(st, name, term, False, limit) == from_data
    assert all(ck is None for _, ck in _walk(st, "is", 7, True, 1000))  # partition level


def test_sai_range_from_index_and_data() -> None:
    st = _store()
    one, two = (struct.pack(">i", 1), True), (struct.pack(">i", 2), False)
    for lower, upper in ((one, None), (None, two), (one, two)):
        from_data = _walk(st, "sv", 0, False, 1000, lower, upper)
        expect = set(_walk(st, "iv", 1, False, 1000)) if lower and upper else None
        if expect is not None:
            assert set(from_data) == expect
        for limit in (1, 4, 1000):
            from_index = _walk(st, "sv", 0, True, limit, lower, upper)
            assert len(from_index) == len(set(from_index))
            assert set(from_data) <= set(from_index)
            assert all(c[0] == struct.pack(">i", 3) for c in set(from_index) - set(from_data))


def test_round_keeps_the_union_up_to_the_least_advanced_replica() -> None:
    got: list[object] = []
    req = IndexScanRequest(1, "t", "iv", b"", MIN_TOKEN, MAX_TOKEN, b"", None, 2, None, None)
    op = index_read.IndexRound(1, req, ("a", "b"), 0, 1,
                               lambda e, found, covered: got.append((e, found, covered)))
    keys = sorted((struct.pack(">i", i) for i in range(6)), key=token_of)
    op.on_response("a", IndexScanResponse(1, "", ((keys[0], b""), (keys[3], b"")), False))
    op.on_response("b", IndexScanResponse(1, "", ((keys[1], b""), (keys[2], b"")), False))
    assert got == [(None, ((keys[0], b""), (keys[1], b""), (keys[2], b"")),
                    Pos(token_of(keys[2]), keys[2], b""))]
