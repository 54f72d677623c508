"""Counter writes in the deterministic simulator: leaders, states replicated, reads at every
level, deletes, the refusals, and totals under crashes and duplicated messages."""

from __future__ import annotations

from skewless.errors import CqlError, InvalidRequest
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

NODES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def _setup(seed: int, n: int = 3) -> World:
    w = World(seed, n_nodes=n)
    assert w.stabilize()
    _q(w, NODES[0], "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, NODES[0], "CREATE TABLE ks.c (k int, ck int, s counter static, n counter, "
       "m counter, PRIMARY KEY (k, ck))")
    return w


def _q(w: World, node: str, text: str, cl: int = QUORUM, wait_ns: int = 6_000_000_000,
       conn: int = 1) -> object:
    return w.query(node, text, cl, wait_ns, conn)


def _rows(body: object) -> list[tuple[int | None, ...]]:
    assert not isinstance(body, CqlError) and body is not None, body
    return [tuple(None if v is None else int.from_bytes(v, "big", signed=True) for v in row)
            for row in body.rows]  # type: ignore[attr-defined]


def test_increments_decrements_and_reads_at_every_level() -> None:
    w = _setup(1)
    for i, node in enumerate(NODES * 2):
        body = _q(w, node, f"UPDATE ks.c SET n = n + {i + 1}, m = m - 1 WHERE k = 1 AND ck = 2")
        assert not isinstance(body, CqlError), body
    assert _q(w, NODES[1], "UPDATE ks.c SET s = s + 7 WHERE k = 1") is not None
    w.run_for(500_000_000)  # every replica has every state
    for node in NODES:
        for cl in (ONE, QUORUM, ALL):
            assert _rows(_q(w, node, "SELECT s, n, m FROM ks.c WHERE k = 1", cl)) == \
                [(7, 21, -6)], (node, cl)
    # every replica holds the same contexts: digests agree at ALL, no repair needed
    contexts = {sn.node.storage.read(sn.node.schema.table("ks", "c").table_key,  # type: ignore[union-attr]
                                     (1).to_bytes(4, "big"), 10**9) for sn in w.nodes.values()}
    assert len(contexts) == 1


def test_counter_batch_sums_one_counter_twice_and_spans_partitions() -> None:
    w = _setup(2)
    body = _q(w, NODES[2], "BEGIN COUNTER BATCH UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1;"
              " UPDATE ks.c SET n = n + 2 WHERE k = 1 AND ck = 1;"
              " UPDATE ks.c SET n = n + 5 WHERE k = 2 AND ck = 1; APPLY BATCH")
    assert not isinstance(body, CqlError), body
    assert _rows(_q(w, NODES[0], "SELECT k, n FROM ks.c", ALL)) in (
        [(1, 3), (2, 5)], [(2, 5), (1, 3)])


def test_delete_beats_counters() -> None:
    w = _setup(3)
    _q(w, NODES[0], "UPDATE ks.c SET n = n + 4 WHERE k = 1 AND ck = 1")
    body = _q(w, NODES[1], "DELETE n FROM ks.c WHERE k = 1 AND ck = 1")
    assert not isinstance(body, CqlError), body
    assert _rows(_q(w, NODES[2], "SELECT n FROM ks.c WHERE k = 1 AND ck = 1", ALL)) == []
    _q(w, NODES[0], "UPDATE ks.c SET m = m + 1 WHERE k = 3 AND ck = 1")
    _q(w, NODES[0], "DELETE FROM ks.c WHERE k = 3")
    assert _rows(_q(w, NODES[2], "SELECT m FROM ks.c WHERE k = 3", ALL)) == []


def test_an_increment_of_a_deleted_counter_is_not_applied_and_says_so() -> None:
    w = _setup(5)
    _q(w, NODES[0], "UPDATE ks.c SET n = n + 4 WHERE k = 1 AND ck = 1")
    _q(w, NODES[1], "DELETE n FROM ks.c WHERE k = 1 AND ck = 1")
    replies: list[Reply] = []
    w.client_query(NODES[2], 7, "UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1", QUORUM,
                   replies.append)
    w.run_until(lambda: bool(replies), 6_000_000_000)
    assert replies and not isinstance(replies[0].body, CqlError), replies
    assert replies[0].warnings == (
        "Counter update to ks.c did not take effect on 1 cell(s), deleted (column n of "
        "partition 0x00000001 row 0x0180000001): a deleted counter stays deleted until its "
        "deletion is purged (gc_grace_seconds)",), \
        replies[0].warnings
    assert _rows(_q(w, NODES[0], "SELECT n FROM ks.c WHERE k = 1 AND ck = 1", ALL)) == []


def test_refusals_with_cassandras_messages() -> None:
    w = _setup(4)
    cases = {
        "INSERT INTO ks.c (k, ck, n) VALUES (1, 1, 1)":
            "INSERT statements are not allowed on counter tables, use UPDATE instead",
        "UPDATE ks.c SET n = 5 WHERE k = 1 AND ck = 1":
            "Cannot set the value of counter column n (counters can only be "
            "incremented/decremented, not set)",
        "UPDATE ks.c USING TIMESTAMP 5 SET n = n + 1 WHERE k = 1 AND ck = 1":
            "Cannot provide custom timestamp for counter updates",
        "BEGIN BATCH UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1; APPLY BATCH":
            "Cannot include a counter statement in a logged batch",
    }
    for text, message in cases.items():
        body = _q(w, NODES[0], text)
        assert isinstance(body, InvalidRequest) and str(body) == message, (text, body)
    _q(w, NODES[0], "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    body = _q(w, NODES[0], "BEGIN UNLOGGED BATCH UPDATE ks.c SET n = n + 1 WHERE k = 1 AND ck = 1;"
              " INSERT INTO ks.t (k, v) VALUES (1, 1); APPLY BATCH")
    assert isinstance(body, InvalidRequest) and str(body) == \
        "Counter and non-counter mutations cannot exist in the same batch", body
    w.check_requests()


def _local_value(w: World, address: str, key: int) -> int | None:
    """What ``address``'s own storage holds for counter ``n`` of row (key, 0)."""
    from skewless.storage import counters

    node = w.nodes[address].node
    table = node.schema.table("ks", "c")
    assert table is not None
    p = node.storage.read(table.table_key, key.to_bytes(4, "big", signed=True), 10**9)
    cells = [c.cell for r in p.rows for c in r.cells if c.column == "n"]
    return counters.total(cells[0]) if cells and cells[0].counter else None


def _key(k: int) -> bytes:
    return k.to_bytes(4, "big", signed=True)


def _workload(seed: int, duplicate_per_million: int, crash: bool) -> list[object]:
    """Increments through rotating coordinators (RF 3 of 4 nodes), then reads at ALL: the
    checkers' violations (``lab.counter_checks``)."""
    from skewless.errors import Unavailable
    from skewless.lab.counter_checks import counter_bounds, counter_replicas

    w = _setup(seed, 4)  # RF 3 of 4: some coordinators are not replicas and forward
    w.network.duplicate_per_million = duplicate_per_million
    everyone = (*NODES, "127.0.0.4")
    history: list[dict[str, object]] = []
    open_ops: dict[int, dict[str, object]] = {}
    keys = (0, 1, 2)

    def increment(i: int) -> None:
        key, delta, node = keys[i % 3], w.rng.randint(-3, 5), everyone[i % 4]
        conn = 100 + i
        op: dict[str, object] = {"op": "increment", "key": key, "delta": delta,
                                 "start": w.now_ns, "end": w.now_ns, "ok": False}
        open_ops[conn] = op

        def on_reply(r: Reply) -> None:
            op["end"] = w.now_ns
            op["ok"] = not isinstance(r.body, CqlError)
            if isinstance(r.body, Unavailable):
                op["applied"] = False
            history.append(open_ops.pop(conn))

        sign = "+" if delta >= 0 else "-"
        w.client_query(node, conn, f"UPDATE ks.c SET n = n {sign} {abs(delta)} "
                       f"WHERE k = {key} AND ck = 0", QUORUM, on_reply)

    for i in range(240):
        w.at(i * 10_000_000, lambda i=i: increment(i))
    if crash:
        w.at(800_000_000, lambda: w.crash(NODES[2]))
        w.at(1_600_000_000, lambda: w.restart(NODES[2]))
    w.run_for(2_400_000_000 + 6_000_000_000)  # every request answered or its node crashed
    for op in open_ops.values():  # a crashed coordinator's requests: outcome unknown
        op["end"] = w.now_ns
        history.append(op)
    assert w.stabilize()
    w.run_for(15_000_000_000)  # hints replayed to the restarted replica
    final: dict[object, int | None] = {}
    for key in keys:
        rows = _rows(_q(w, NODES[key % 3], f"SELECT n FROM ks.c WHERE k = {key} AND ck = 0",
                        ALL, conn=999))
        final[key] = rows[0][0] if rows else None
        history.append({"op": "read", "key": key, "value": final[key], "consistency": "ALL",
                        "start": w.now_ns, "end": w.now_ns, "ok": True})
    w.run_for(1_000_000_000)
    ks_def = w.nodes[NODES[0]].node.schema.keyspace("ks")
    assert ks_def is not None
    replicas = {key: {a: _local_value(w, a, key) for a in everyone
                      if a in w.nodes[a].node.replicas_for(ks_def, _key(key))} for key in keys}
    assert "CounterMutationRequest" in "\n".join(w.trace)  # leaders were forwarded to
    assert all(len(r) == 3 for r in replicas.values()), replicas
    acked = sum(1 for op in history if op["op"] == "increment" and op["ok"])
    # the workload mostly succeeded (without a crash: all of it, so the bounds are exact)
    assert acked >= (150 if crash else 240), acked
    w.check_requests()
    return [*counter_bounds(history, final), *counter_replicas(history, replicas)]


def test_totals_within_bounds_through_a_replica_crash_and_restart() -> None:
    assert _workload(11, 0, crash=True) == []


def test_duplicated_messages_never_count_twice() -> None:
    # one message in five delivered twice; no crash: every increment acknowledged, exact bounds
    assert _workload(12, 200_000, crash=False) == []


def test_a_leader_without_duplicate_detection_is_caught(monkeypatch: object) -> None:
    """The check above can fail: a leader that forgets the op ids it saw applies duplicated
    requests twice, and the exact bounds catch it."""
    import pytest

    from skewless.node import counter_write

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    original = counter_write.CounterLeader.on_request

    def forgetful(self: counter_write.CounterLeader, sender: str,
                  m: counter_write.CounterMutationRequest) -> None:
        self.seen.clear()
        original(self, sender, m)

    monkeypatch.setattr(counter_write.CounterLeader, "on_request", forgetful)
    violations = _workload(12, 200_000, crash=False)
    assert violations and all(getattr(v, "seen", 0) > getattr(v, "high", 0)
                              for v in violations), violations


def test_aggregates_json_and_filtering_see_totals() -> None:
    w = _setup(9)
    _q(w, NODES[0], "UPDATE ks.c SET n = n + 4, m = m + 2 WHERE k = 1 AND ck = 1")
    _q(w, NODES[2], "UPDATE ks.c SET n = n + 6 WHERE k = 1 AND ck = 2")
    assert _rows(_q(w, NODES[1], "SELECT sum(n), max(n), min(m), avg(n), count(n) FROM ks.c "
                    "WHERE k = 1", ALL)) == [(10, 6, 2, 5, 2)]
    body = _q(w, NODES[1], "SELECT JSON n FROM ks.c WHERE k = 1", ALL)
    assert [r[0] for r in body.rows] == [b'{"n": 4}', b'{"n": 6}']  # type: ignore[attr-defined]
    assert _rows(_q(w, NODES[1], "SELECT n FROM ks.c WHERE n > 5 ALLOW FILTERING", ALL)) == \
        [(6,)]
