"""LOGGED batches through the batchlog, in the deterministic simulator: all or nothing, even
when the coordinator crashes halfway (test-only crash points) or before the batchlog holds it."""

from __future__ import annotations

import hashlib

from skewless import limits
from skewless.errors import CqlError, Unavailable
from skewless.node.consistency import ONE, QUORUM
from skewless.node.membership import phi
from skewless.sim.world import World

KEYS = (1, 2, 3, 4, 5, 6)
BATCH = ("BEGIN BATCH " + " ".join(f"INSERT INTO ks.t (k, v) VALUES ({k}, {k * 10});"
                                   for k in KEYS) + " APPLY BATCH")
# Replay, and the dead coordinator convicted (phi), so that QUORUM reads leave it out.
REPLAY_WAIT_NS = int((limits.batchlog_replay_delay_ms + 2 * limits.batchlog_replay_interval_ms
                      + limits.write_timeout_ms + phi.convict_within_ms()) * 1_000_000)


def _setup(seed: int, n: int = 3) -> World:
    w = World(seed, n_nodes=n)
    assert w.stabilize()
    rf = min(n, 3)
    _q(w, "127.0.0.1", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       f"'replication_factor': {rf}}}")
    _q(w, "127.0.0.1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    return w


def _q(w: World, node: str, text: str, cl: int = QUORUM, wait_ns: int = 300_000_000,
       conn: int = 1) -> object:
    return w.query(node, text, cl, wait_ns, conn)


def _present(w: World, via: str, cl: int = QUORUM) -> set[int]:
    """The batch's keys a read at ``cl`` through ``via`` finds."""
    body = _q(w, via, "SELECT k FROM ks.t WHERE k IN (" + ", ".join(map(str, KEYS)) + ")", cl,
              wait_ns=(limits.read_timeout_ms + 1000) * 1_000_000)
    assert not isinstance(body, CqlError) and body is not None, body
    return {int.from_bytes(row[0], "big", signed=True) for row in body.rows}  # type: ignore[attr-defined]


def _batchlog_sizes(w: World) -> list[int]:
    return [sn.node.storage.batch_count() for sn in w.nodes.values() if sn.up]


def test_logged_batch_goes_through_the_batchlog_and_leaves_it_empty() -> None:
    w = _setup(21)
    body = _q(w, "127.0.0.1", BATCH)
    assert not isinstance(body, CqlError), body
    assert _present(w, "127.0.0.2") == set(KEYS)
    assert "BatchlogStore" in "\n".join(w.trace) and "BatchlogRemove" in "\n".join(w.trace)
    assert _batchlog_sizes(w) == [0, 0, 0]


def test_crash_after_batchlog_then_replay_applies_everything() -> None:
    w = _setup(22)
    w.set_crash_point("127.0.0.1", "batch-after-batchlog")
    assert _q(w, "127.0.0.1", BATCH, wait_ns=100_000_000) is None  # no answer: it crashed
    assert not w.nodes["127.0.0.1"].up
    assert _batchlog_sizes(w) == [1, 1]  # both survivors hold the batch
    # nothing applied yet (each survivor's own copy: a QUORUM read would wait for the dead node
    # until the failure detector convicts it)
    assert _present(w, "127.0.0.2", ONE) == _present(w, "127.0.0.3", ONE) == set()
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, "127.0.0.2") == set(KEYS)
    assert _batchlog_sizes(w) == [0, 0]


def test_crash_mid_mutations_then_replay_completes_the_batch() -> None:
    w = _setup(23)
    w.set_crash_point("127.0.0.1", "batch-mid-mutations")
    assert _q(w, "127.0.0.1", BATCH, wait_ns=100_000_000) is None
    assert not w.nodes["127.0.0.1"].up
    partial = _present(w, "127.0.0.2", ONE)
    assert partial and partial != set(KEYS), partial  # half applied: the state to repair
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, "127.0.0.2") == set(KEYS)
    assert _present(w, "127.0.0.3") == set(KEYS)


def test_crash_before_batchlog_applies_nothing() -> None:
    w = _setup(24)
    w.set_crash_point("127.0.0.1", "batch-before-batchlog")
    assert _q(w, "127.0.0.1", BATCH, wait_ns=100_000_000) is None
    assert not w.nodes["127.0.0.1"].up
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, "127.0.0.2") == set()
    assert _batchlog_sizes(w) == [0, 0]


def test_batchlog_on_one_endpoint_only_still_applies_everything() -> None:
    """The store reaches node 2 but not node 3, then the coordinator dies: node 2 replays."""
    w = _setup(25)
    w.network.partition("127.0.0.1", "127.0.0.3", both_ways=False)
    _q(w, "127.0.0.1", BATCH, wait_ns=50_000_000)
    w.crash("127.0.0.1")
    w.network.heal()
    assert _batchlog_sizes(w) == [1, 0]
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, "127.0.0.3") == set(KEYS)


def test_batchlog_timeout_answers_batch_log_write_timeout_and_applies_nothing() -> None:
    """No endpoint acknowledges: WriteTimeout(BATCH_LOG), the entry is dropped, no mutation."""
    w = _setup(26)
    w.network.partition("127.0.0.2", "127.0.0.1", both_ways=False)
    w.network.partition("127.0.0.3", "127.0.0.1", both_ways=False)
    body = _q(w, "127.0.0.1", BATCH, wait_ns=(limits.write_timeout_ms + 200) * 1_000_000)
    assert isinstance(body, CqlError) and getattr(body, "write_type", "") == "BATCH_LOG", body
    w.network.heal()
    w.run_for(REPLAY_WAIT_NS)
    assert _present(w, "127.0.0.1") == set()


def test_no_live_batchlog_endpoint_is_unavailable() -> None:
    w = _setup(27)
    w.crash("127.0.0.2")
    w.crash("127.0.0.3")
    w.run_for(int(phi.convict_within_ms() * 1_000_000))
    body = _q(w, "127.0.0.1", BATCH, cl=ONE)
    assert isinstance(body, Unavailable), body
    assert "Cannot achieve consistency level ONE" in str(body)
    assert _present(w, "127.0.0.1", ONE) == set()
    unlogged = BATCH.replace("BEGIN BATCH", "BEGIN UNLOGGED BATCH")
    assert not isinstance(_q(w, "127.0.0.1", unlogged, cl=ONE), CqlError)
    assert _present(w, "127.0.0.1", ONE) == set(KEYS)


def test_single_node_keeps_its_own_batchlog() -> None:
    w = _setup(28, n=1)
    assert not isinstance(_q(w, "127.0.0.1", BATCH), CqlError)
    assert _present(w, "127.0.0.1") == set(KEYS)
    assert _batchlog_sizes(w) == [0]


def test_crash_and_replay_trace_is_deterministic() -> None:
    traces = []
    for _ in range(2):
        w = _setup(29)
        w.set_crash_point("127.0.0.1", "batch-mid-mutations")
        _q(w, "127.0.0.1", BATCH, wait_ns=100_000_000)
        w.run_for(REPLAY_WAIT_NS)
        assert _present(w, "127.0.0.2") == set(KEYS)
        traces.append(hashlib.sha256("\n".join(w.trace).encode()).hexdigest())
    assert traces[0] == traces[1]


def test_batchlog_survives_its_endpoint_restart() -> None:
    """Only node 2 holds the batch; the coordinator dies, node 2 crashes and restarts (its
    synced batchlog kept) and replays to every replica once it knows the ring again."""
    w = _setup(30)
    w.network.partition("127.0.0.1", "127.0.0.3", both_ways=False)
    _q(w, "127.0.0.1", BATCH, wait_ns=50_000_000)
    w.crash("127.0.0.1")
    w.network.heal()
    w.crash("127.0.0.2")
    w.run_for(REPLAY_WAIT_NS)  # down past the replay delay: due at once when it restarts
    w.restart("127.0.0.2")
    assert w.nodes["127.0.0.2"].node.storage.batch_count() == 1
    w.run_for(REPLAY_WAIT_NS + limits.batchlog_replay_startup_delay_ms * 1_000_000)
    assert _present(w, "127.0.0.3", ONE) == set(KEYS)
    assert _batchlog_sizes(w) == [0, 0]
