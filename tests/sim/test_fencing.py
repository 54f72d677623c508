"""Fencing in the simulator: a node 2 s slow or 3 s fast (beyond max_offset_ms) stamps nothing
itself."""

from __future__ import annotations

import pytest

from skewless.errors import CqlError, Overloaded
from skewless.node.consistency import ONE, QUORUM
from skewless.node.effects import Reply
from skewless.node.membership import phi
from skewless.sim.world import World

SLOW = "127.0.0.2"


def _setup(seed: int, offset_us: int = -2_000_000) -> tuple[World, list[Reply]]:
    w = World(seed, n_nodes=3)
    w.nodes[SLOW].clock.offset_us = offset_us
    assert w.stabilize()
    w.run_for(3 * 10**9)
    out: list[Reply] = []
    for text in ("CREATE KEYSPACE app WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                 "CREATE TABLE app.t (id int PRIMARY KEY, status text)"):
        w.client_query("127.0.0.1", 1, text, QUORUM, out.append)
        w.run_for(2 * 10**9)
    return w, out


@pytest.mark.parametrize(("offset_us", "cl"), [(-2_000_000, QUORUM), (3_000_000, QUORUM),
                                               (-2_000_000, ONE), (3_000_000, ONE)])
def test_fenced_node_writes_are_ordered(offset_us: int, cl: int) -> None:
    """2 s behind, or 3 s ahead (seed 003, quiz 2): node 2's clock stamps nothing. At QUORUM
    its writes take its logical clock's stamp and restamping orders them; at ONE (whose
    replica may not hold the previous write) a peer stamps them. Either way neither its
    writes nor the later writes of others are lost."""
    w, out = _setup(41, offset_us)
    slow = w.nodes[SLOW].node
    assert slow.stamping.fenced() and not w.nodes["127.0.0.1"].node.stamping.fenced()
    lost = 0
    for i in range(20):
        w.client_query("127.0.0.1", 1, f"INSERT INTO app.t (id, status) VALUES ({i}, 'a')",
                       QUORUM, out.append)
        w.run_for(20 * 10**6)
        w.client_query(SLOW, 2, f"UPDATE app.t SET status = 'b' WHERE id = {i}", cl,
                       out.append)
        w.run_for(20 * 10**6)
        assert not isinstance(out[-1].body, CqlError), out[-1].body
        w.client_query("127.0.0.3", 3, f"SELECT status FROM app.t WHERE id = {i}", QUORUM,
                       out.append)
        w.run_for(20 * 10**6)
        lost += out[-1].body.rows[0][0] != b"b"  # type: ignore[attr-defined]
        w.client_query("127.0.0.1", 1, f"UPDATE app.t SET status = 'c' WHERE id = {i}",
                       QUORUM, out.append)
        w.run_for(20 * 10**6)
        w.client_query("127.0.0.3", 3, f"SELECT status FROM app.t WHERE id = {i}", QUORUM,
                       out.append)
        w.run_for(20 * 10**6)
        lost += out[-1].body.rows[0][0] != b"c"  # type: ignore[attr-defined]
    assert lost == 0
    stamped = (slow.stamping.logical_stamps, slow.stamping.remote_stamps)
    if cl == QUORUM:  # 20 writes, some stamped again above the healthy node's 'a'
        assert stamped[0] >= 20 and stamped[1] == 0, stamped
    else:
        assert stamped == (0, 20), stamped
    # The clock comes back: the node stamps by itself again.
    w.nodes[SLOW].clock.offset_us = 0
    w.run_for(3 * 10**9)
    assert not slow.stamping.fenced()
    w.client_query(SLOW, 2, "UPDATE app.t SET status = 'c' WHERE id = 0", QUORUM, out.append)
    w.run_for(50 * 10**6)
    assert not isinstance(out[-1].body, CqlError)
    assert (slow.stamping.logical_stamps, slow.stamping.remote_stamps) == stamped


def test_fenced_node_alone_fails_naming_its_clock() -> None:
    w, out = _setup(42)
    w.crash("127.0.0.1")
    w.crash("127.0.0.3")
    w.run_for(int(phi.convict_within_ms() * 10**6))  # both convicted
    w.client_query(SLOW, 2, "INSERT INTO app.t (id, status) VALUES (1, 'x')", ONE, out.append)
    w.run_for(50 * 10**6)
    err = out[-1].body
    assert isinstance(err, Overloaded), err
    assert "The clock of node 127.0.0.2 is out of bounds" in str(err)


def test_no_clock_in_bounds_quorum_writes_stay_ordered_one_writes_refused() -> None:
    """Three clocks that no two agree on (0, +2 s, -2 s: no majority, every node fenced, no
    healthy peer to stamp): sequential QUORUM writes through rotating coordinators are stamped
    by logical clocks and ordered by restamping (none lost, none refused); a write at ONE,
    which restamping cannot order, is refused naming the clock problem."""
    w, out = _setup(43, 2_000_000)
    w.nodes["127.0.0.3"].clock.offset_us = -2_000_000
    w.run_for(3 * 10**9)
    nodes = sorted(w.nodes)
    assert all(w.nodes[a].node.stamping.fenced() for a in nodes)
    lost = 0
    for i in range(30):
        w.client_query(nodes[i % 3], 1, f"UPDATE app.t SET status = 'v{i}' WHERE id = 7",
                       QUORUM, out.append)
        w.run_for(20 * 10**6)
        assert not isinstance(out[-1].body, CqlError), out[-1].body
        w.client_query(nodes[(i + 1) % 3], 1, "SELECT status FROM app.t WHERE id = 7", QUORUM,
                       out.append)
        w.run_for(20 * 10**6)
        lost += out[-1].body.rows[0][0] != f"v{i}".encode()  # type: ignore[attr-defined]
    assert lost == 0
    assert sum(w.nodes[a].node.stamping.logical_stamps for a in nodes) >= 30
    assert sum(w.nodes[a].node.stamping.remote_stamps for a in nodes) == 0
    w.client_query(nodes[0], 1, "UPDATE app.t SET status = 'one' WHERE id = 7", ONE, out.append)
    w.run_for(50 * 10**6)
    err = out[-1].body
    assert isinstance(err, Overloaded), err
    assert "no peer with a clock in bounds" in str(err)
