"""Clock steps in the simulator: a node's real-time clock jumps back 1 s or forward 10 s in the
middle of sequential writes through alternating coordinators. No acknowledged write is
superseded by an earlier one, and every coordinator's stamps keep increasing."""

from __future__ import annotations

import pytest

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

NODES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def _run(policy: str, step_us: int) -> tuple[int, bool]:
    """(lost updates, whether every coordinator's stamps increased)."""
    w = World(61, n_nodes=3, timestamp_policy=policy)
    assert w.stabilize()
    w.run_for(2 * 10**9)
    out: list[Reply] = []

    def q(node: str, text: str) -> object:
        n = len(out)
        w.client_query(node, 1, text, QUORUM, out.append)
        w.run_for(5 * 10**6)
        # A DDL takes two Paxos round trips (node.metadata) before its answer: wait for it.
        assert w.run_until(lambda: len(out) > n, 10**9)
        return out[-1].body

    q(NODES[0], "CREATE KEYSPACE app WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    q(NODES[0], "CREATE TABLE app.reg (k int PRIMARY KEY, v int)")
    w.run_for(2 * 10**9)
    lost = 0
    stamps: dict[str, list[int]] = {n: [] for n in NODES}
    for j in range(120):
        if j == 40:
            w.nodes[NODES[1]].clock.offset_us += step_us
        coordinator = NODES[j % 3]
        if isinstance(q(coordinator, f"UPDATE app.reg SET v = {j} WHERE k = 1"), CqlError):
            continue  # not acknowledged: no promise made
        got = q(NODES[(j + 1) % 3], "SELECT v, writetime(v) FROM app.reg WHERE k = 1")
        v, wt = got.rows[0]  # type: ignore[attr-defined]
        lost += int.from_bytes(v, "big", signed=True) != j
        stamps[coordinator].append(int.from_bytes(wt, "big"))
    increasing = all(a < b for s in stamps.values() for a, b in zip(s, s[1:], strict=False))
    return lost, increasing


@pytest.mark.parametrize("step_us", [-1_000_000, 10_000_000])
def test_clock_step_loses_nothing_under_hlc(step_us: int) -> None:
    lost, increasing = _run("hlc", step_us)
    assert lost == 0 and increasing


def test_clock_step_back_loses_writes_under_wallclock() -> None:
    lost, _ = _run("wallclock", -1_000_000)
    assert lost > 0
