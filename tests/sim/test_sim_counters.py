"""Counter writes in the deterministic simulator: leaders, states replicated, reads at every
level, deletes, the refusals, and totals under crashes and duplicated messages."""

from __future__ import annotations

from skewless.errors import CqlError, InvalidRequest
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

NODES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def _setup(seed: int) -> World:
    w = World(seed, n_nodes=3)
    assert w.stabilize()
    _q(w, NODES[0], "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, NODES[0], "CREATE TABLE ks.c (k int, ck int, s counter static, n counter, "
       "m counter, PRIMARY KEY (k, ck))")
    return w


def _q(w: World, node: str, text: str, cl: int = QUORUM, wait_ns: int = 6_000_000_000,
       conn: int = 1) -> object:
    out: list[object] = []

    def on_reply(r: Reply) -> None:
        out.append(r.body)

    w.client_query(node, conn, text, cl, on_reply)
    w.run_until(lambda: bool(out), wait_ns)
    return out[0] if out else None


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
