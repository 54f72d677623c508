"""Compiled statements (cql.compiled, cql.compiled_read) through the stock driver on a real
3-node cluster: prepared writes and point reads answer what the same statements unprepared
answer; a table change the prepared cache does not evict (a new default TTL) still reaches
the compiled plan; prepared LWTs run (not compiled), prepared counter increments apply."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from conftest import LocalCluster

Q = ConsistencyLevel.QUORUM


@pytest.fixture(scope="module")
def session(shared_cluster: LocalCluster) -> Session:
    s = shared_cluster.session()
    s.default_consistency_level = Q
    s.execute("CREATE KEYSPACE cs WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE cs.t (k int, c text, d bigint, s int static, v text, w int, "
              "f frozen<list<int>>, PRIMARY KEY (k, c, d)) WITH CLUSTERING ORDER BY (c ASC, "
              "d DESC)")
    s.execute("CREATE TABLE cs.kv (k bigint PRIMARY KEY, v blob)")
    s.execute("CREATE TABLE cs.n (k int PRIMARY KEY, n counter)")
    return s


def _rows(s: Session, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in s.execute(SimpleStatement(query, consistency_level=Q), args)]


def test_prepared_writes_and_point_reads_match_unprepared(session: Session) -> None:
    s = session
    ins = s.prepare("INSERT INTO cs.t (k, c, d, v, w, s, f) VALUES (?, ?, ?, ?, ?, ?, ?)")
    upd = s.prepare("UPDATE cs.t SET v = ?, w = ? WHERE k = ? AND c = ? AND d = ?")
    get = s.prepare("SELECT k, c, d, s, v, w, f FROM cs.t WHERE k = ? AND c = ? AND d = ?")
    part = s.prepare("SELECT c, d, v FROM cs.t WHERE k = ?")
    for i in range(20):
        s.execute(ins, (1, f"c{i % 4}", i, f"v{i}", i, 100 + i, [i, i + 1]))
        s.execute(f"INSERT INTO cs.t (k, c, d, v, w, s, f) VALUES (2, 'c{i % 4}', {i}, 'v{i}', "
                  f"{i}, {100 + i}, [{i}, {i + 1}])")
    s.execute(upd, ("u", None, 1, "c1", 5))
    s.execute("UPDATE cs.t SET v = 'u', w = null WHERE k = 2 AND c = 'c1' AND d = 5")
    s.execute(ins, (1, "c0", 99, None, 7, None, None))  # nulls: tombstones
    s.execute("INSERT INTO cs.t (k, c, d, v, w, s, f) VALUES (2, 'c0', 99, null, 7, null, null)")
    for i in [*range(20), 99]:
        want = _rows(s, "SELECT k, c, d, s, v, w, f FROM cs.t WHERE k = 2 AND c = %s AND d = %s",
                     (f"c{i % 4}", i))
        got = [tuple(r) for r in s.execute(get, (1, f"c{i % 4}", i))]
        assert [r[1:] for r in got] == [r[1:] for r in want], i
    assert [tuple(r) for r in s.execute(part, (1,))] == _rows(
        s, "SELECT c, d, v FROM cs.t WHERE k = 2")
    assert len(list(s.execute(part, (1,)))) == 21
    assert list(s.execute(get, (3, "none", 0))) == []


def test_bad_bound_values_are_refused_as_before(session: Session) -> None:
    s = session
    ins = s.prepare("INSERT INTO cs.kv (k, v) VALUES (?, ?)")
    with pytest.raises(InvalidRequest, match="Invalid null value in condition for column k"):
        s.execute(ins, (None, b"x"))
    get = s.prepare("SELECT v FROM cs.kv WHERE k = ?")
    with pytest.raises(InvalidRequest, match="Invalid null value in condition for column k"):
        s.execute(get, (None,))


def test_a_new_default_ttl_reaches_a_prepared_insert(session: Session) -> None:
    s = session
    ins = s.prepare("INSERT INTO cs.kv (k, v) VALUES (?, ?)")
    s.execute(ins, (1, b"a"))
    assert _rows(s, "SELECT ttl(v) FROM cs.kv WHERE k = 1") == [(None,)]
    s.execute("ALTER TABLE cs.kv WITH default_time_to_live = 5000")
    s.execute(ins, (2, b"b"))  # the same prepared id: options do not evict it
    (ttl,), = _rows(s, "SELECT ttl(v) FROM cs.kv WHERE k = 2")
    assert ttl is not None and 4000 < ttl <= 5000, ttl
    s.execute("ALTER TABLE cs.kv WITH default_time_to_live = 0")
    s.execute(ins, (3, b"c"))
    assert _rows(s, "SELECT ttl(v) FROM cs.kv WHERE k = 3") == [(None,)]


def test_added_column_reaches_a_prepared_point_read(session: Session) -> None:
    s = session
    s.execute("CREATE TABLE cs.wide (k int PRIMARY KEY, a int)")
    s.execute("INSERT INTO cs.wide (k, a) VALUES (1, 1)")
    get = s.prepare("SELECT * FROM cs.wide WHERE k = ?")
    assert [tuple(r) for r in s.execute(get, (1,))] == [(1, 1)]
    s.execute("ALTER TABLE cs.wide ADD b text")
    s.execute("UPDATE cs.wide SET b = 'x' WHERE k = 1")
    # the driver is told UNPREPARED, prepares again and gets the new columns
    assert [tuple(r) for r in s.execute(get, (1,))] == [(1, 1, "x")]


def test_prepared_lwts_run_and_counter_refusals_name_the_feature(session: Session) -> None:
    s = session
    ins = s.prepare("INSERT INTO cs.kv (k, v) VALUES (?, ?) IF NOT EXISTS")
    upd = s.prepare("UPDATE cs.kv SET v = ? WHERE k = ? IF EXISTS")
    assert s.execute(ins, (1001, b"x")).was_applied  # keys the other tests do not write
    assert not s.execute(ins, (1001, b"y")).was_applied
    assert s.execute(upd, (b"z", 1001)).was_applied
    assert not s.execute(upd, (b"z", 1002)).was_applied
    assert _rows(s, "SELECT v FROM cs.kv WHERE k = 1001") == [(b"z",)]
    inc = s.prepare("UPDATE cs.n SET n = n + ? WHERE k = ?")  # counters: no plan, dml's path
    s.execute(inc, (2, 1))
    s.execute(inc, (-5, 1))
    assert [tuple(r) for r in s.execute("SELECT n FROM cs.n WHERE k = 1")] == [(-3,)]
