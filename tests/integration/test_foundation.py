"""The foundation's must-shows on real node processes with the stock cassandra-driver."""

from __future__ import annotations

import time

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
TABLE = "CREATE TABLE ks.kv (k int PRIMARY KEY, v text)"


def _prepared(session, query, cl=ConsistencyLevel.QUORUM):  # type: ignore[no-untyped-def]
    p = session.prepare(query)
    p.consistency_level = cl
    return p


def test_quorum_writes_then_reads_with_default_driver(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3)
    s = c.session()
    s.execute(KS)
    s.execute(TABLE)
    n = 10_000
    ins = _prepared(s, "INSERT INTO ks.kv (k, v) VALUES (?, ?)")
    started = time.monotonic()
    results = execute_concurrent_with_args(s, ins, [(i, f"v{i}") for i in range(n)],
                                           concurrency=64, raise_on_first_error=True)
    assert all(ok for ok, _ in results)
    write_s = time.monotonic() - started
    sel = _prepared(s, "SELECT v, writetime(v) FROM ks.kv WHERE k = ?")
    started = time.monotonic()
    rows = execute_concurrent_with_args(s, sel, [(i,) for i in range(n)], concurrency=64,
                                        raise_on_first_error=True)
    read_s = time.monotonic() - started
    for i, (ok, rs) in enumerate(rows):
        row = rs.one()
        assert ok and row is not None, i
        assert row.v == f"v{i}"
    print(f"\n{n} QUORUM writes in {write_s:.1f} s ({n / write_s:.0f}/s); "
          f"{n} QUORUM reads in {read_s:.1f} s ({n / read_s:.0f}/s)")
    # writetime() agrees with the timestamp used
    for i in range(20):
        ts = 1_700_000_000_000_000 + i
        s.execute(SimpleStatement(f"INSERT INTO ks.kv (k, v) VALUES ({n + i}, 'x') "
                                  f"USING TIMESTAMP {ts}",
                                  consistency_level=ConsistencyLevel.QUORUM))
        row = s.execute(SimpleStatement(f"SELECT writetime(v) AS w FROM ks.kv WHERE k = {n + i}",
                                        consistency_level=ConsistencyLevel.QUORUM)).one()
        assert row.w == ts
    # and a client-side timestamp (the driver's default) is what writetime() reports
    before = int(time.time() * 1e6)  # allow-real-clock
    s.execute(SimpleStatement("INSERT INTO ks.kv (k, v) VALUES (-1, 'c')",
                              consistency_level=ConsistencyLevel.QUORUM))
    after = int(time.time() * 1e6)  # allow-real-clock
    w = s.execute("SELECT writetime(v) AS w FROM ks.kv WHERE k = -1").one().w
    assert before <= w <= after


def test_kill9_during_load_then_hints_replayed(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3)
    s = c.session()
    s.execute(KS)
    s.execute(TABLE)
    ins = _prepared(s, "INSERT INTO ks.kv (k, v) VALUES (?, ?)")
    acked: list[int] = []
    failed = 0
    victim = c.nodes[2]
    for i in range(3000):
        if i == 1000:
            victim.kill9()
        try:
            s.execute(ins, (i, f"v{i}"))
            acked.append(i)
        except Exception as e:
            failed += 1
            if failed <= 3:
                print(f"write {i} failed: {e!r}")
    written_while_down = [i for i in acked if i >= 1000]
    print(f"\nacked {len(acked)} of 3000 writes, {failed} failed; "
          f"{len(written_while_down)} acked while node 3 was down")
    assert len(written_while_down) >= 1900  # writes keep succeeding while it is down
    sel = _prepared(s, "SELECT v FROM ks.kv WHERE k = ?")
    for i in acked:
        assert s.execute(sel, (i,)).one().v == f"v{i}", i
    victim.restart()
    c.wait_gossip(3)
    only3 = c.session_to(victim.address)
    one = _prepared(only3, "SELECT v FROM ks.kv WHERE k = ?", ConsistencyLevel.ONE)
    deadline = time.monotonic() + 60  # hints replay once gossip sees the node up
    missing = list(written_while_down)
    while missing and time.monotonic() < deadline:
        time.sleep(1)
        missing = [i for i in missing if only3.execute(one, (i,)).one() is None]
    c.nodes[0].terminate()
    c.nodes[1].terminate()
    missing = [i for i in written_while_down if only3.execute(one, (i,)).one() is None]
    print(f"node 3 alone serves {len(written_while_down) - len(missing)} of "
          f"{len(written_while_down)} writes it missed")
    assert not missing


def test_blocking_read_repair_without_hints(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3, extra=[["--no-hints"]] * 3)
    s = c.session()
    s.execute(KS)
    s.execute(TABLE)
    victim = c.nodes[2]
    victim.kill9()
    c.wait_gossip(2)
    ins = _prepared(s, "INSERT INTO ks.kv (k, v) VALUES (?, ?)")
    for i in range(200):
        s.execute(ins, (i, f"v{i}"))
    victim.restart()
    c.wait_gossip(3)
    c.wait_gossip(3, via=victim.address)
    via3 = c.session_to(victim.address)
    q = _prepared(via3, "SELECT v FROM ks.kv WHERE k = ?")
    for i in range(200):
        assert via3.execute(q, (i,)).one().v == f"v{i}"
    c.nodes[0].terminate()
    c.nodes[1].terminate()
    one = _prepared(via3, "SELECT v FROM ks.kv WHERE k = ?", ConsistencyLevel.ONE)
    repaired = sum(1 for i in range(200) if via3.execute(one, (i,)).one() is not None)
    print(f"\nnode 3 holds {repaired} of 200 rows after QUORUM reads repaired it")
    assert repaired == 200
