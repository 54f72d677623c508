"""The order of ``node.effects`` in the simulator: a coordinator's MutationRequests leave while
its own sync runs (the replicas write and sync meanwhile), unless the batch moved the stamp
ceiling past the durable one; a replica's MutationResponse and every client answer wait for the
sync."""

from __future__ import annotations

from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

MS = 1_000_000


def _world() -> World:
    w = World(7, n_nodes=3)
    assert w.stabilize()
    got: list[Reply] = []
    for text in ("CREATE KEYSPACE ks WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                 "CREATE TABLE ks.t (k int PRIMARY KEY, v int)"):
        n = len(got)
        w.client_query(sorted(w.nodes)[0], 1, text, QUORUM, got.append)
        assert w.run_until(lambda n=n: len(got) > n, 10 * 10**9)  # type: ignore[misc]
    return w


def _sent_at(w: World, since_ns: int, src: str, kind: str) -> list[int]:
    """When ``src``'s messages of ``kind`` were delivered (trace times, ns), after since_ns."""
    out = []
    for line in w.trace:
        at, _, rest = line.strip().partition(" ")
        if int(at) >= since_ns and rest.startswith(f"{src}->") and f" {kind} " in rest:
            out.append(int(at))
    return out


def test_mutation_requests_leave_during_the_coordinators_slow_sync() -> None:
    w = _world()
    a1, a2, _ = sorted(w.nodes)
    sync_ns = 500 * MS
    w.nodes[a1].disk_sync_ns = sync_ns
    w.run_for(2000 * MS)  # past the stamp ceiling's lease: the next write moves it
    writes: list[Reply] = []

    # 1. The first write moves the ceiling: its requests wait for the sync that makes it durable.
    start = w.now_ns
    w.client_query(a1, 2, "UPDATE ks.t SET v = 1 WHERE k = 1", QUORUM, writes.append)
    assert w.run_until(lambda: len(writes) == 1, 10 * 10**9)
    held = _sent_at(w, start, a1, "MutationRequest")
    assert len(held) == 2 and min(held) >= start + sync_ns, held

    # 2. The next write, within the lease: its requests leave at once, the replicas answer while
    # the coordinator still syncs, and the client's answer waits for that sync.
    start = w.now_ns
    w.client_query(a1, 2, "UPDATE ks.t SET v = 2 WHERE k = 1", QUORUM, writes.append)
    w.run_for(sync_ns // 2)
    early = _sent_at(w, start, a1, "MutationRequest")
    assert len(early) == 2 and max(early) < start + sync_ns // 2, early
    assert len(_sent_at(w, start, a2, "MutationResponse")) == 1  # a2's fast disk: answered
    assert len(writes) == 1  # the client's answer waits for a1's sync
    assert w.run_until(lambda: len(writes) == 2, 10 * 10**9)
    assert w.now_ns >= start + sync_ns
    assert all(type(r.body).__name__ == "Void" for r in writes), writes


def test_a_replicas_acknowledgement_waits_for_its_sync() -> None:
    w = _world()
    a1, a2, _ = sorted(w.nodes)
    sync_ns = 500 * MS
    w.nodes[a2].disk_sync_ns = sync_ns
    w.run_for(100 * MS)
    start = w.now_ns
    writes: list[Reply] = []
    w.client_query(a1, 2, "UPDATE ks.t SET v = 3 WHERE k = 1", QUORUM, writes.append)
    assert w.run_until(lambda: len(writes) == 1, 10 * 10**9)  # a1 and the third node: a quorum
    w.run_for(sync_ns)
    acks = _sent_at(w, start, a2, "MutationResponse")
    requests = _sent_at(w, start, a1, "MutationRequest")
    assert len(acks) == 1 and len(requests) == 2
    assert acks[0] >= min(requests) + sync_ns, (acks, requests)
