"""TRUNCATE in the deterministic simulator: every node drops the table's data, a node down
refuses it (TRUNCATE_ERROR, as Cassandra's TruncateException), the truncation survives a
restart, and hints or batchlog entries written before it do not bring rows back."""

from __future__ import annotations

from skewless import limits
from skewless.errors import CqlError, TruncateError
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.sim.world import World

KEYS = (1, 2, 3, 4, 5, 6)
BATCH = ("BEGIN BATCH " + " ".join(f"INSERT INTO ks.t (k, v) VALUES ({k}, {k * 10});"
                                   for k in KEYS) + " APPLY BATCH")
N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"
REPLAY_WAIT_NS = (limits.batchlog_replay_delay_ms + 2 * limits.batchlog_replay_interval_ms
                  + limits.write_timeout_ms) * 1_000_000
HINT_WAIT_NS = (3 * limits.hint_replay_interval_ms + limits.write_timeout_ms) * 1_000_000


def _q(w: World, node: str, text: str, cl: int = QUORUM, wait_ns: int = 300_000_000) -> object:
    return w.query(node, text, cl, wait_ns)


def _setup(seed: int) -> World:
    w = World(seed, n_nodes=3)
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    return w


def _present(w: World, via: str, cl: int = ALL) -> set[int]:
    body = _q(w, via, "SELECT k FROM ks.t WHERE k IN (" + ", ".join(map(str, KEYS)) + ")", cl,
              wait_ns=(limits.read_timeout_ms + 1000) * 1_000_000)
    assert not isinstance(body, CqlError) and body is not None, body
    return {int.from_bytes(row[0], "big", signed=True) for row in body.rows}  # type: ignore[attr-defined]


def _write_all(w: World, via: str, cl: int = QUORUM) -> None:
    for k in KEYS:
        body = _q(w, via, f"INSERT INTO ks.t (k, v) VALUES ({k}, {k})", cl)
        assert not isinstance(body, CqlError) and body is not None, body


def test_truncate_empties_the_table_on_every_node_and_survives_restart() -> None:
    w = _setup(31)
    _write_all(w, N1)
    assert _present(w, N2) == set(KEYS)
    body = _q(w, N2, "TRUNCATE ks.t")
    assert not isinstance(body, CqlError) and body is not None, body
    for via in (N1, N2, N3):
        assert _present(w, via, ONE) == set()
    w.crash(N3)
    w.restart(N3)
    assert w.stabilize()
    assert _present(w, N3, ALL) == set()
    table_key = w.nodes[N3].node.schema.table("ks", "t").table_key  # type: ignore[union-attr]
    assert table_key in w.nodes[N3].node.truncations.truncated_at


def test_truncate_with_a_node_down_is_refused_as_cassandra_does() -> None:
    w = _setup(32)
    _write_all(w, N1)
    w.crash(N3)
    assert w.run_until(lambda: not w.nodes[N1].node.membership.is_alive(N3), 30 * 10**9)
    body = _q(w, N1, "TRUNCATE ks.t")
    assert isinstance(body, TruncateError), body
    assert body.message == "Error during truncate: Cannot achieve consistency level ALL"
    assert _present(w, N1, QUORUM) == set(KEYS)  # nothing was truncated


def test_hints_written_before_truncate_do_not_resurrect_rows() -> None:
    w = _setup(33)
    w.crash(N3)
    assert w.run_until(lambda: not w.nodes[N1].node.membership.is_alive(N3), 30 * 10**9)
    _write_all(w, N1, ONE)  # N1 keeps hints for N3
    assert w.nodes[N1].node.storage.hint_targets()
    w.network.partition(N1, N3, both_ways=False)  # N1's hint replays cannot reach N3 yet
    w.restart(N3)
    assert w.run_until(lambda: w.nodes[N2].node.membership.is_alive(N3)
                       and w.nodes[N3].node.membership.is_alive(N2), 30 * 10**9)
    body = _q(w, N2, "TRUNCATE ks.t")
    assert not isinstance(body, CqlError) and body is not None, body
    w.network.heal()
    w.run_for(HINT_WAIT_NS)
    assert not w.nodes[N1].node.storage.hint_targets()  # replayed (and dropped by N3)
    assert _present(w, N3, ONE) == set()
    assert _present(w, N2, ALL) == set()


def test_batchlog_entries_written_before_truncate_do_not_resurrect_rows() -> None:
    w = _setup(34)
    w.set_crash_point(N1, "batch-after-batchlog")
    assert _q(w, N1, BATCH, wait_ns=100_000_000) is None  # it crashed: survivors hold the batch
    w.restart(N1)
    assert w.stabilize()
    body = _q(w, N2, "TRUNCATE ks.t")
    assert not isinstance(body, CqlError) and body is not None, body
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, N2, ALL) == set()
    assert [sn.node.storage.batch_count() for sn in w.nodes.values()] == [0, 0, 0]


def test_truncate_without_every_answer_times_out_as_cassandra_does() -> None:
    w = _setup(35)
    _write_all(w, N1)
    w.network.partition(N1, N3)  # N3 is still seen up when the TRUNCATE starts
    body = _q(w, N1, "TRUNCATE ks.t", wait_ns=(limits.truncate_timeout_ms + 1000) * 1_000_000)
    assert isinstance(body, TruncateError), body
    assert body.message == ("Error during truncate: Truncate timed out - received only 2 "
                            "responses")
    assert not w.nodes[N1].node.truncations.pending
