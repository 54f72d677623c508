"""Joins and decommissions in the simulator, under a write workload: no acknowledged write is
lost and every row is readable at ONE once the change completes (node.topology)."""

from __future__ import annotations

import struct

import pytest

from skewless.cql.results import RowsResult
from skewless.node.consistency import ONE, QUORUM
from skewless.node.executor import Params
from skewless.sim.world import World

NEW = "127.0.0.4"
S = 10**9


class Cluster:
    def __init__(self, seed: int, rf: int, mib_s: float = 0.0) -> None:
        self.w = World(seed, n_nodes=3, node_options={"stream_throughput_outbound": mib_s})
        assert self.w.stabilize()
        self.w.run_for(5 * S)  # clock measurements settle (node.stamping)
        self.conn = 0
        self.acked: set[int] = set()
        self.ask("127.0.0.1", "CREATE KEYSPACE ks WITH replication = "
                 f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
        self.ask("127.0.0.1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")

    def send(self, node: str, q: str, cl: int, out: list[object]) -> None:
        self.conn += 1
        self.w.client_execute(node, self.conn, q, Params(consistency=cl),
                              lambda r: out.append(r.body))

    def ask(self, node: str, q: str, cl: int = QUORUM) -> object:
        out: list[object] = []
        self.send(node, q, cl, out)
        assert self.w.run_until(lambda: bool(out), 30 * S), q
        return out[0]

    def write_batch(self, start: int, count: int, cl: int) -> None:
        """``count`` inserts in flight at once through the three first nodes."""
        results: list[tuple[int, list[object]]] = []
        for k in range(start, start + count):
            out: list[object] = []
            self.send(f"127.0.0.{1 + k % 3}", f"INSERT INTO ks.t (k, v) VALUES ({k}, {k})",
                      cl, out)
            results.append((k, out))
        self.w.run_until(lambda: all(out for _, out in results), 30 * S)
        for k, out in results:
            if out and isinstance(out[0], RowsResult) or (out and out[0] is None):
                self.acked.add(k)
            elif out and not _is_error(out[0]):
                self.acked.add(k)

    def status(self, node: str) -> str:
        return self.w.nodes[node].node.membership.local.status

    def missing_at_one(self, via: str) -> list[int]:
        missing = []
        for k in sorted(self.acked):
            r = self.ask(via, f"SELECT v FROM ks.t WHERE k = {k}", ONE)
            if not isinstance(r, RowsResult) or len(r.rows) != 1:
                missing.append(k)
        return missing


def _is_error(body: object) -> bool:
    return isinstance(body, Exception)


def _settle(c: Cluster, node: str, status: str, writes_from: int) -> int:
    """Write batches while ``node`` is not ``status``; returns the next key."""
    k = writes_from
    for _ in range(200):
        if c.status(node) == status:
            return k
        c.write_batch(k, 10, QUORUM)
        k += 10
        c.w.run_for(S // 5)
    raise AssertionError(f"{node} did not become {status}: {c.status(node)}")


@pytest.mark.parametrize("rf", [1, 3])
def test_join_then_decommission_under_writes_loses_nothing(rf: int) -> None:
    c = Cluster(seed=11 + rf, rf=rf, mib_s=0.01)  # slow streams: writes land mid-stream
    c.write_batch(0, 300, QUORUM)
    assert len(c.acked) == 300
    c.w.add_node(NEW)
    k = _settle(c, NEW, "JOINING", 300)
    k = _settle(c, NEW, "NORMAL", k)
    joiner = c.w.nodes[NEW].node
    assert joiner.topology.netstats()["mode"] == "NORMAL"
    owned = joiner.membership.ring().primary_ownership()
    assert owned[NEW] > 0.15, owned
    for via in ("127.0.0.1", NEW):
        assert c.missing_at_one(via) == []
    # cleanup drops what the old owners no longer replicate, and nothing readable goes
    # (the joiner's tokens split some of the old nodes' ranges, not necessarily all's)
    old = [c.w.nodes[a].node.topology for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
    dropped = [t.cleanup("ks") for t in old]
    assert all(set(d) == {"ks.t"} for d in dropped), dropped
    assert sum(d["ks.t"] for d in dropped) > 0, dropped
    assert [t.cleanup("ks") for t in old] == [{"ks.t": 0}] * 3
    assert c.missing_at_one("127.0.0.2") == []
    # Back to three: the fourth node leaves, its ranges handed over first.
    joiner.topology.decommission()
    with pytest.raises(Exception, match="Not safe to run cleanup"):
        joiner.topology.cleanup()
    k = _settle(c, NEW, "LEFT", k)
    c.w.run_for(2 * S)  # the LEFT state gossiped
    assert NEW not in c.w.nodes["127.0.0.1"].node.membership.ring().owners
    assert c.missing_at_one("127.0.0.2") == []


def test_joiner_crashed_mid_stream_resumes_and_completes() -> None:
    c = Cluster(seed=5, rf=1)
    for start in range(0, 1500, 300):
        c.write_batch(start, 300, QUORUM)
    c.w.add_node(NEW, stream_throughput_outbound=0.05)  # slow: ~50 KiB/s
    _settle(c, NEW, "JOINING", 1500)
    joiner = c.w.nodes[NEW].node
    assert c.w.run_until(lambda: any(
        t.partitions for i in joiner.topology.inbound.values() for t in i.tasks), 30 * S)
    c.w.crash(NEW)
    c.w.run_for(2 * S)
    c.w.restart(NEW)
    restarted = c.w.nodes[NEW].node
    assert restarted.membership.local.status == "JOINING"
    assert c.w.run_until(lambda: "bootstrap" in restarted.topology.inbound, 30 * S)
    resumed = restarted.topology.inbound["bootstrap"]
    assert sum(t.partitions for t in resumed.tasks) > 0  # progress kept across the crash
    assert c.w.run_until(lambda: c.status(NEW) == "NORMAL", 120 * S)
    assert c.missing_at_one("127.0.0.1") == []


def test_decommission_refused_when_it_would_break_replication() -> None:
    c = Cluster(seed=3, rf=3)
    with pytest.raises(Exception, match=r"Not enough live nodes to maintain replication "
                                        r"factor in keyspace ks \(RF = 3, N = 3\)"):
        c.w.nodes["127.0.0.2"].node.topology.decommission()


def _replicas_hold_every_row(c: Cluster) -> list[tuple[int, str]]:
    """(key, replica) pairs where a replica of the natural ring lacks an acknowledged row."""
    sn = c.w.nodes["127.0.0.1"].node
    ks = sn.schema.keyspace("ks")
    table = sn.schema.table("ks", "t")
    assert ks is not None and table is not None
    lacking = []
    for k in sorted(c.acked):
        key = struct.pack(">i", k)
        for a in sn.replicas_for(ks, key):
            p = c.w.nodes[a].node.storage.read(table.table_key, key, 0)
            if not p.rows:
                lacking.append((k, a))
    return lacking


def test_removenode_re_replicates_a_dead_nodes_ranges() -> None:
    c = Cluster(seed=21, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 300, QUORUM)
    c.w.run_for(2 * S)
    dead = c.w.nodes[NEW].node
    host_id = str(dead.host_id)
    coord = c.w.nodes["127.0.0.1"].node
    with pytest.raises(Exception, match="is alive and owns this ID"):
        coord.topology.removenode(host_id)
    with pytest.raises(Exception, match="Host ID not found"):
        coord.topology.removenode("00000000-0000-4000-8000-000000000000")
    c.w.crash(NEW)
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    coord.topology.removenode(host_id)
    assert coord.topology.removal_status().startswith("RemovalStatus: Removing node /127.0.0.4")
    assert c.w.run_until(lambda: all(NEW in c.w.nodes[a].node.membership.removed
                                     for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")), 60 * S)
    assert NEW not in coord.membership.ring().owners
    assert coord.topology.removal_status() == "RemovalStatus: No removals in process."
    assert _replicas_hold_every_row(c) == []


def test_replace_a_dead_node_takes_its_tokens_and_data() -> None:
    c = Cluster(seed=31, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 300, QUORUM)
    c.w.run_for(2 * S)
    old_tokens = c.w.nodes[NEW].node.membership.local.tokens
    c.w.add_node("127.0.0.6", replace_address_first_boot=NEW)  # the old node is alive
    assert c.w.run_until(lambda: bool(c.w.nodes["127.0.0.6"].node.topology.error), 30 * S)
    assert "Cannot replace a live node /127.0.0.4" in c.w.nodes["127.0.0.6"].node.topology.error
    c.w.crash("127.0.0.6")
    c.w.crash(NEW)
    coord = c.w.nodes["127.0.0.1"].node
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    c.w.add_node("127.0.0.5", replace_address_first_boot=NEW)
    _settle(c, "127.0.0.5", "NORMAL", 2000)
    c.w.run_for(2 * S)
    ring = coord.membership.ring()
    assert NEW not in ring.owners
    assert sorted(t for t, a in zip(ring.tokens, ring.owners, strict=True)
                  if a == "127.0.0.5") == sorted(old_tokens)
    assert _replicas_hold_every_row(c) == []


def test_replacement_waits_for_the_schema_before_joining() -> None:
    """A replacement that has heard the dead node but not yet the schema (the metadata log's
    catch-up is slower than gossip) must not become JOINING: as a pending replica without the
    tables it fails every write sent to it, and the streams it plans after ring_delay cover no
    table, so it would be NORMAL holding nothing."""
    c = Cluster(seed=41, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 300, QUORUM)
    c.w.run_for(2 * S)
    c.w.crash(NEW)
    coord = c.w.nodes["127.0.0.1"].node
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    late = "127.0.0.5"
    c.w.network.withheld |= {(late, "MetaEntries"), (late, "MetaCommit")}
    c.w.add_node(late, replace_address_first_boot=NEW)
    c.w.run_for(10 * S)
    assert c.w.nodes[late].node.topology.replace_info is not None  # it heard the dead node
    assert c.status(late) == "STARTING"
    c.w.network.withheld.clear()
    _settle(c, late, "NORMAL", 2000)
    c.w.run_for(2 * S)
    assert _replicas_hold_every_row(c) == []


def test_the_replacement_of_a_replacement_takes_the_same_tokens() -> None:
    """127.0.0.3 is replaced by .4, then .4 by .5: the tokens .5 claims are also those of .3,
    which is out of the cluster (replaced); .5 must not be refused for them (found by the lab
    swarm, seed 14 of the topology profile)."""
    c = Cluster(seed=41, rf=2)
    c.write_batch(1000, 100, QUORUM)
    coord = c.w.nodes["127.0.0.1"].node
    for dead, new in (("127.0.0.3", NEW), (NEW, "127.0.0.5")):
        c.w.stop(dead)
        assert c.w.run_until(lambda d=dead: not coord.membership.is_alive(d), 30 * S)
        c.w.add_node(new, replace_address_first_boot=dead)
        _settle(c, new, "NORMAL", 2000)
        assert c.w.run_until(lambda n=new: all(  # type: ignore[misc]
            c.w.nodes[a].node.membership.status_of(n) == "NORMAL"
            for a in ("127.0.0.1", "127.0.0.2")), 30 * S)
    assert not any(c.w.nodes[a].node.membership.refused for a in ("127.0.0.1", "127.0.0.2"))
    ring = coord.membership.ring()
    assert sorted(set(ring.owners)) == ["127.0.0.1", "127.0.0.2", "127.0.0.5"]
    assert _replicas_hold_every_row(c) == []


def test_removenode_completes_when_a_gainer_restarts_and_forgets_it() -> None:
    """A node restarted right after hearing RemoveNode no longer knows of the removal (it is
    not on disk): the coordinator tells it again, so it streams, reports, and the removal
    completes (found by the lab swarm, seed 67 of the topology profile)."""
    c = Cluster(seed=21, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 100, QUORUM)
    c.w.stop(NEW)
    coord = c.w.nodes["127.0.0.3"].node
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    coord.topology.removenode(str(c.w.nodes[NEW].node.host_id))
    c.w._flush(c.w.nodes["127.0.0.3"])
    other = c.w.nodes["127.0.0.1"]
    assert c.w.run_until(lambda: NEW in other.node.membership.removing, 5 * S)
    c.w.crash("127.0.0.1")
    c.w.restart("127.0.0.1")
    assert NEW not in c.w.nodes["127.0.0.1"].node.membership.removing
    assert c.w.run_until(lambda: all(NEW in c.w.nodes[a].node.membership.removed
                                     for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")), 60 * S)
    assert _replicas_hold_every_row(c) == []


def test_a_dead_node_is_remembered_across_restarts_and_can_be_replaced() -> None:
    """Peers' states are on disk (Cassandra's ``system.peers``): once .4 has died, every live
    node restarts; they still know .4 (its tokens stay in the ring, down), so reads count its
    replicas and its replacement is accepted (found by the lab swarm, seed 126 of the topology
    profile: the whole cluster forgot the dead node, refused its replacement as unknown, and
    the ring was short of the replication factor)."""
    c = Cluster(seed=43, rf=3)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 100, QUORUM)
    c.w.run_for(2 * S)
    c.w.crash(NEW)
    for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        c.w.crash(a)
        c.w.restart(a)
        assert c.w.nodes[a].node.membership.peers[NEW].heard is False  # from disk, down
    coord = c.w.nodes["127.0.0.1"].node
    assert c.w.run_until(lambda: all(c.w.nodes[a].node.metadata.behind() is False
                                     for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")), 30 * S)
    assert NEW in coord.membership.ring().owners  # its ranges still counted
    assert c.w.run_until(lambda: not any(  # (a beat of .4 still in flight made it up again)
        c.w.nodes[a].node.membership.is_alive(NEW)
        for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")), 60 * S)
    c.w.add_node("127.0.0.5", replace_address_first_boot=NEW)
    _settle(c, "127.0.0.5", "NORMAL", 2000)
    assert c.w.nodes["127.0.0.5"].node.topology.error == ""
    c.w.run_for(2 * S)
    assert _replicas_hold_every_row(c) == []


@pytest.mark.parametrize("coordinator", ["127.0.0.1", "127.0.0.2"])
def test_removenode_completes_when_its_coordinator_restarts_and_forgets_it(
        coordinator: str) -> None:
    """The coordinator crashes once REMOVE START is in the log but before anyone heard its
    RemoveNode, and restarts: the removal it coordinated was in memory only, so nobody carried
    it on and the log's REMOVE stayed in progress for ever, blocking every later change. The
    lowest live node takes it over (found by the lab swarm, seed 283 of the topology
    profile)."""
    c = Cluster(seed=21, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 100, QUORUM)
    c.w.stop(NEW)
    others = [a for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3") if a != coordinator]
    coord = c.w.nodes[coordinator].node
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    c.w.network.withheld |= {(a, "RemoveNode") for a in others}  # the broadcast is lost
    coord.topology.removenode(str(c.w.nodes[NEW].node.host_id))
    assert c.w.run_until(lambda: coord.topology.removals.started, 5 * S)
    c.w.crash(coordinator)
    c.w.network.withheld.clear()
    c.w.restart(coordinator)
    assert not any(NEW in c.w.nodes[a].node.membership.removing for a in others)
    assert c.w.run_until(lambda: all(NEW in c.w.nodes[a].node.membership.removed
                                     for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3")), 60 * S)
    assert all(c.w.nodes[a].node.metadata.state.topology_in_progress is None
               for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    assert _replicas_hold_every_row(c) == []


def test_a_removal_the_log_finished_is_final_everywhere_without_its_last_message() -> None:
    """The coordinator's final RemoveNode is lost (it crashes right after REMOVE FINISH is in
    the log): every node still takes the removed node out of its rings, from the log's
    decision (``Removals._out_by_the_log``), not only from the message."""
    c = Cluster(seed=23, rf=2)
    c.w.add_node(NEW)
    _settle(c, NEW, "NORMAL", 0)
    c.write_batch(1000, 100, QUORUM)
    c.w.stop(NEW)
    coord = c.w.nodes["127.0.0.1"].node
    others = ("127.0.0.2", "127.0.0.3")
    assert c.w.run_until(lambda: not coord.membership.is_alive(NEW), 30 * S)
    coord.topology.removenode(str(c.w.nodes[NEW].node.host_id))
    assert c.w.run_until(lambda: coord.topology.decide.inflight == ("REMOVE", "FINISH"), 60 * S)
    c.w.network.withheld |= {(a, "RemoveNode") for a in others}  # the final one is lost
    assert c.w.run_until(lambda: all(
        c.w.nodes[a].node.metadata.state.last_finished == ("REMOVE", NEW) for a in others),
        10 * S)
    c.w.crash("127.0.0.1")
    c.w.network.withheld.clear()
    assert c.w.run_until(lambda: all(NEW in c.w.nodes[a].node.membership.removed
                                     for a in others), 10 * S)
    assert all(NEW not in c.w.nodes[a].node.membership.ring().owners for a in others)
    c.w.restart("127.0.0.1")
    assert c.w.run_until(lambda: NEW in c.w.nodes["127.0.0.1"].node.membership.removed, 10 * S)
    assert _replicas_hold_every_row(c) == []


def test_a_node_restarted_during_a_decommission_learns_from_the_log_that_it_left() -> None:
    """.2 goes down while .4 is LEAVING (its peers on disk say so) and misses .4's LEFT; .4 is
    then shut down for good, so no heartbeat of it will ever say LEFT. Restarted, .2 applies
    LEAVE FINISH from the metadata log: .4 is LEFT there too, out of its rings, no change in
    flight (found by the lab swarm, seed 163 of the topology profile: .2 saw .4 LEAVING for
    ever, streamed its ranges again, and the next join never looked complete)."""
    c = Cluster(seed=29, rf=3)
    c.w.add_node(NEW)
    k = _settle(c, NEW, "NORMAL", 0)
    c.write_batch(k, 50, QUORUM)
    leaving = c.w.nodes[NEW].node
    leaving.topology.decommission()
    two = c.w.nodes["127.0.0.2"]
    assert c.w.run_until(lambda: two.node.membership.status_of(NEW) == "LEAVING", 30 * S)
    change = f"leave {NEW} {leaving.membership.local.generation}"
    assert c.w.run_until(lambda: "127.0.0.2" in leaving.topology.done_from.get(change, set())
                         or "127.0.0.2" not in leaving.topology.gainers(), 60 * S)
    c.w.crash("127.0.0.2")  # LEAVING on its disk; LEAVE FINISH not yet chosen
    assert c.w.run_until(lambda: c.status(NEW) == "LEFT" and all(
        c.w.nodes[a].node.membership.out_of_cluster(NEW) for a in ("127.0.0.1", "127.0.0.3")),
        60 * S)
    c.w.stop(NEW)  # a decommissioned node is shut down: it never gossips LEFT again
    c.w.run_for(S)
    c.w.restart("127.0.0.2")
    two = c.w.nodes["127.0.0.2"]
    assert two.node.membership.status_of(NEW) == "LEAVING"  # from disk
    assert c.w.run_until(lambda: two.node.membership.out_of_cluster(NEW)
                         and not two.node.membership.changing(), 30 * S)
    assert NEW not in two.node.membership.ring().owners
    c.w.run_for(5 * S)
    assert not two.node.topology.inbound  # no stream for a leave that is over
