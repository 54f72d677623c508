"""Consistent range movement in the simulator (node.topology.movement): a join while a node is
down, and a stream whose source dies, with ``consistent_range_movement`` on (the join waits,
saying why, and completes once the node is back) and off (another live replica serves)."""

from __future__ import annotations

import struct

from test_sim_topology import Cluster

from skewless.node.consistency import QUORUM

S = 10**9
NEW, DOWN = "127.0.0.4", "127.0.0.2"
REQUIRED = "A node required to move the data consistently is down (/{}). If you wish to move "


def _holds_its_rows(c: Cluster, address: str) -> list[int]:
    """Acknowledged keys ``address`` replicates (natural ring) but does not hold."""
    node = c.w.nodes[address].node
    ks = node.schema.keyspace("ks")
    table = node.schema.table("ks", "t")
    assert ks is not None and table is not None
    lacking = []
    for k in sorted(c.acked):
        key = struct.pack(">i", k)
        if address in node.replicas_for(ks, key) and \
                not node.storage.read(table.table_key, key, 0).rows:
            lacking.append(k)
    return lacking


def _with_a_node_down(seed: int, rows: int = 300, mib_s: float = 0.0) -> Cluster:
    c = Cluster(seed=seed, rf=2, mib_s=mib_s)
    for start in range(0, rows, 300):
        c.write_batch(start, 300, QUORUM)
    assert len(c.acked) == rows
    return c


def test_join_while_a_required_source_is_down_waits_for_it() -> None:
    c = _with_a_node_down(51)
    c.w.crash(DOWN)
    assert c.w.run_until(lambda: not c.w.nodes["127.0.0.1"].node.membership.is_alive(DOWN),
                         30 * S)
    c.w.add_node(NEW)
    joiner = c.w.nodes[NEW].node
    assert c.w.run_until(lambda: bool(joiner.topology.netstats()["paused"]), 60 * S)
    assert DOWN in joiner.membership.ring().owners  # learnt from a peer, though never heard
    assert str(joiner.topology.netstats()["paused"]).startswith(REQUIRED.format(DOWN))
    c.w.run_for(10 * S)
    # Nothing streamed from a possibly stale replica, and the log's one change is not held
    # by a join that cannot stream: it has not started.
    assert c.status(NEW) == "STARTING"
    assert c.w.nodes["127.0.0.1"].node.metadata.state.topology_in_progress is None
    c.w.restart(DOWN)
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 120 * S)
    assert joiner.topology.netstats()["paused"] == ""
    assert _holds_its_rows(c, NEW) == []
    assert c.missing_at_one(NEW) == []


def test_join_while_a_node_is_down_without_consistent_movement_streams_from_others() -> None:
    c = _with_a_node_down(53)
    c.w.crash(DOWN)
    assert c.w.run_until(lambda: not c.w.nodes["127.0.0.1"].node.membership.is_alive(DOWN),
                         30 * S)
    c.w.add_node(NEW, consistent_range_movement=False)
    joiner = c.w.nodes[NEW].node
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 120 * S)
    assert DOWN in joiner.membership.ring().owners
    assert not c.w.nodes[DOWN].up
    assert _holds_its_rows(c, NEW) == []


def _kill_a_source_mid_stream(c: Cluster) -> str:
    """Wait until the joiner has some range complete and others pending from one source, and
    crash that source; returns its address."""
    joiner = c.w.nodes[NEW].node

    def mid() -> str:
        inbound = joiner.topology.inbound.get("bootstrap")
        if inbound is None or not any(t.done for t in inbound.tasks):
            return ""
        pending = sorted({t.source for t in inbound.tasks if not t.done})
        return pending[0] if pending else ""

    assert c.w.run_until(lambda: bool(mid()), 120 * S)
    source = mid()
    c.w.crash(source)
    return source


def test_a_dead_stream_source_pauses_the_join_until_it_is_back() -> None:
    c = _with_a_node_down(55, rows=1500, mib_s=0.01)  # slow streams
    c.w.add_node(NEW)
    source = _kill_a_source_mid_stream(c)
    joiner = c.w.nodes[NEW].node
    assert c.w.run_until(lambda: bool(joiner.topology.netstats()["paused"]), 60 * S)
    assert str(joiner.topology.netstats()["paused"]).startswith(REQUIRED.format(source))
    c.w.run_for(5 * S)
    assert c.status(NEW) == "JOINING"
    c.w.restart(source)
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 180 * S)
    assert _holds_its_rows(c, NEW) == []


def test_a_dead_stream_source_fails_over_to_another_replica() -> None:
    c = _with_a_node_down(57, rows=1500, mib_s=0.01)
    c.w.add_node(NEW, consistent_range_movement=False)
    source = _kill_a_source_mid_stream(c)
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 180 * S)
    assert not c.w.nodes[source].up  # finished without it
    tasks = c.w.nodes[NEW].node.topology.inbound.get("bootstrap")
    assert tasks is None  # complete (its plan, moved sources and all, is done with)
    assert _holds_its_rows(c, NEW) == []


def test_a_removed_node_is_not_learnt_as_a_down_owner_by_a_later_joiner() -> None:
    """A node removed with removenode is still known to its peers; a node joining afterwards
    must not take it for a down replica it needs (it would wait for it for ever)."""
    c = _with_a_node_down(59)
    c.w.add_node(NEW)
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 60 * S)
    dead = c.w.nodes[NEW].node
    c.w.crash(NEW)
    coord = c.w.nodes["127.0.0.1"].node
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    coord.topology.removenode(str(dead.host_id))
    assert c.w.run_until(lambda: NEW in coord.membership.removed, 60 * S)
    later = "127.0.0.6"
    c.w.add_node(later)
    assert c.w.run_until(lambda: c.status(later) == "NORMAL", 60 * S)
    assert NEW not in c.w.nodes[later].node.membership.ring().owners
    assert _holds_its_rows(c, later) == []
