"""Ordered writes in the simulator: clocks 5 s apart, compensation off (test-only), RF=1.

The INSERT goes through node 1 to the key's one replica; the UPDATE right after goes through
node 2, whose clock is 5 s slow and whose hybrid logical clock has only seen node 1's last
ping. Without ordered writes (and with restamping off, test only) the UPDATE is stamped below
the INSERT and lost; with them node 2 first asks the replica for its newest timestamp and stamps
above it. ``test_restamping_keeps_sequential_updates``: restamping alone also keeps them."""

from __future__ import annotations

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

SLOW = "127.0.0.2"
NO_COMPENSATION = {"clock_compensation": False, "max_offset_ms": 60_000.0,
                   "clock_alarm_ms": 50.0, "restamp_shadowed_writes": False}


def _lost_updates(ordered: bool, rounds: int = 20, restamp: bool = False) -> int:
    w = World(51, n_nodes=3,
              node_options={**NO_COMPENSATION, "restamp_shadowed_writes": restamp})
    w.nodes[SLOW].clock.offset_us = -5_000_000
    assert w.stabilize()
    out: list[Reply] = []

    def q(node: str, text: str) -> object:
        w.client_query(node, 1, text, QUORUM, out.append)
        w.run_for(20 * 10**6)
        assert not isinstance(out[-1].body, CqlError), out[-1].body
        return out[-1].body

    q("127.0.0.1", "CREATE KEYSPACE app WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    q("127.0.0.1", "CREATE TABLE app.t (id int PRIMARY KEY, status text) "
      f"WITH ordered_writes = {'true' if ordered else 'false'}")
    w.run_for(2 * 10**9)
    lost = 0
    for i in range(rounds):
        q("127.0.0.1", f"INSERT INTO app.t (id, status) VALUES ({i}, 'created')")
        q(SLOW, f"UPDATE app.t SET status = 'processed' WHERE id = {i}")
        rows = q("127.0.0.3", f"SELECT status FROM app.t WHERE id = {i}")
        lost += rows.rows[0][0] != b"processed"  # type: ignore[attr-defined]
    return lost


def test_ordered_writes_keep_sequential_updates() -> None:
    assert _lost_updates(ordered=False) > 0  # the anomaly, with this table option off
    assert _lost_updates(ordered=True) == 0


def test_restamping_keeps_sequential_updates() -> None:
    """The same flow on a plain table with restamping on (the default): node 2's UPDATE is
    shadowed by the INSERT on its first round, stamped again above it, and kept."""
    assert _lost_updates(ordered=False, restamp=True) == 0
