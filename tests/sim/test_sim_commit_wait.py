"""Commit wait: an acknowledgement waits until cluster time is certainly past the write."""

from __future__ import annotations

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World


def test_waiter_released_when_cluster_time_is_certainly_past() -> None:
    w = World(71, n_nodes=3)
    assert w.stabilize()
    w.run_for(2 * 10**9)
    stamping = w.nodes["127.0.0.1"].node.stamping
    fired: list[int] = []
    target = stamping.physical_us() + 100_000  # 100 ms ahead
    stamping.after_certainly_past(target, lambda: fired.append(w.now_ns))
    w._flush(w.nodes["127.0.0.1"])  # carry out the Ready that asks for the timer
    start_ns = w.now_ns
    w.run_for(90 * 10**6)
    assert not fired
    w.run_for(20 * 10**6)
    assert fired
    waited_us = (fired[0] - start_ns) / 1000
    uncertainty = stamping.clocks.current.uncertainty_us
    assert 100_000 + uncertainty <= waited_us <= 100_000 + uncertainty + 1_000, waited_us


def test_writes_acknowledged_after_their_timestamp_is_past() -> None:
    w = World(72, n_nodes=3, node_options={"commit_wait": True})
    assert w.stabilize()
    w.run_for(2 * 10**9)
    out: list[tuple[int, Reply]] = []

    def q(node: str, text: str) -> Reply:
        w.client_query(node, 1, text, QUORUM, lambda r: out.append((w.now_ns, r)))
        w.run_for(50 * 10**6)
        return out[-1][1]

    q("127.0.0.1", "CREATE KEYSPACE app WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    q("127.0.0.1", "CREATE TABLE app.t (id int PRIMARY KEY, v int)")
    w.run_for(2 * 10**9)
    for i in range(20):
        node = f"127.0.0.{1 + i % 3}"
        reply = q(node, f"INSERT INTO app.t (id, v) VALUES ({i}, {i})")
        assert not isinstance(reply.body, CqlError), reply.body
        acked_ns = out[-1][0]
        got = q(node, f"SELECT writetime(v) FROM app.t WHERE id = {i}")
        stamp = int.from_bytes(got.body.rows[0][0], "big")  # type: ignore[attr-defined]
        # At the acknowledgement, every node's cluster time was past the stamp.
        for sn in w.nodes.values():
            earliest = sn.clock.real_time_us() - (w.now_ns - acked_ns) // 1000 \
                + sn.node.clocks.correction_us() - sn.node.clocks.current.uncertainty_us
            assert earliest > stamp - 1_000, (node, sn.address)
