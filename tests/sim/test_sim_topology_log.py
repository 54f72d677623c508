"""Topology changes decided by the cluster metadata log, in the simulator (node.topology.decide):
concurrent joins go one after the other, of two concurrent decommissions exactly one proceeds
and the other is refused with a message naming it, a joiner killed right after its START
resumes its own change, and no change starts without a majority."""

from __future__ import annotations

import pytest
from test_sim_topology import Cluster

from skewless.node.consistency import QUORUM
from skewless.node.metadata import entries
from skewless.sim.world import World

S = 10**9
A4, A5 = "127.0.0.4", "127.0.0.5"


def _topology_log(w: World, at: str = "127.0.0.1") -> list[tuple[str, str, str]]:
    core = w.nodes[at].node.metadata.paxos
    out = []
    for slot in range(1, core.applied + 1):
        e = entries.decode_entry(core.chosen[slot])
        if isinstance(e, entries.TopologyEntry):
            out.append((e.op, e.phase, e.address))
    return out


def _watch(w: World, addresses: tuple[str, ...], statuses: list[tuple[str, ...]]) -> None:
    """Record the statuses of ``addresses`` every millisecond of simulated time."""
    def sample() -> None:
        statuses.append(tuple(w.nodes[a].node.membership.local.status if w.nodes[a].up
                              else "DOWN" for a in addresses))
        w.at(10**6, sample)
    w.at(0, sample)


def test_two_nodes_started_together_join_one_after_the_other() -> None:
    c = Cluster(seed=41, rf=1, mib_s=0.05)  # slow streams: the joins last a while
    c.write_batch(0, 300, QUORUM)
    joins_before = len(_topology_log(c.w))
    c.w.add_node(A4)
    c.w.add_node(A5)  # the same simulated moment
    statuses: list[tuple[str, ...]] = []
    _watch(c.w, (A4, A5), statuses)
    k = 300
    for _ in range(300):
        if c.status(A4) == c.status(A5) == "NORMAL":
            break
        c.write_batch(k, 10, QUORUM)
        k += 10
        c.w.run_for(S // 5)
    assert c.status(A4) == c.status(A5) == "NORMAL", (c.status(A4), c.status(A5))
    assert ("JOINING", "JOINING") not in statuses  # never both at once
    assert any(s[0] == "JOINING" for s in statuses) and any(s[1] == "JOINING" for s in statuses)
    # The log decided: the second START of a node whose first was refused comes after the
    # first node's FINISH (a refused START stays in the log, applied as a no-op).
    joins = _topology_log(c.w)[joins_before:]
    first = joins[0][2]
    second = A5 if first == A4 else A4
    decided = [e for e in joins if e != ("JOIN", "START", second)] + [("JOIN", "START", second)]
    assert joins.index(("JOIN", "FINISH", first)) < len(joins) - 2, joins
    assert joins[-2:] == [("JOIN", "START", second), ("JOIN", "FINISH", second)], joins
    assert sorted(decided) == sorted([("JOIN", "START", first), ("JOIN", "FINISH", first),
                                      ("JOIN", "START", second), ("JOIN", "FINISH", second)])
    ring = c.w.nodes["127.0.0.1"].node.membership.ring()
    assert len(set(ring.tokens)) == len(ring.tokens)
    assert {a for a in ring.owners} == {"127.0.0.1", "127.0.0.2", "127.0.0.3", A4, A5}
    log_ring = dict(c.w.nodes["127.0.0.1"].node.metadata.state.ring)
    assert not set(log_ring[A4]) & set(log_ring[A5])
    assert c.missing_at_one("127.0.0.2") == []


def _five(seed: int) -> Cluster:
    c = Cluster(seed=seed, rf=1)
    for a in (A4, A5):
        c.w.add_node(a)
        assert c.w.run_until(lambda a=a: c.status(a) == "NORMAL", 60 * S)
    c.w.run_for(2 * S)
    return c


def test_two_decommissions_at_once_exactly_one_proceeds() -> None:
    c = _five(43)
    c.write_batch(0, 200, QUORUM)
    t4, t5 = (c.w.nodes[a].node.topology for a in (A4, A5))
    t4.decommission()
    t5.decommission()  # the same simulated moment: gossip cannot have told either
    c.w._flush(c.w.nodes[A4])
    c.w._flush(c.w.nodes[A5])
    assert c.w.run_until(lambda: bool(t4.decide.refused or t5.decide.refused), 20 * S)
    winner, loser = (A4, A5) if t5.decide.refused else (A5, A4)
    refused = c.w.nodes[loser].node.topology
    assert refused.decide.refused == (
        f"Other bootstrapping/leaving/moving nodes detected (LEAVE of {winner} in progress), "
        "cannot decommission while a topology change is in flight: wait until it completes "
        "(nodetool netstats), then retry")
    assert refused.netstats()["error"] == refused.decide.refused  # nodetool stops waiting
    assert c.w.run_until(lambda: c.status(winner) == "LEFT", 60 * S)
    assert c.status(loser) == "NORMAL"
    leaves = [e for e in _topology_log(c.w) if e[0] == "LEAVE"]
    assert leaves == [("LEAVE", "START", winner), ("LEAVE", "START", loser),  # refused
                      ("LEAVE", "FINISH", winner)], leaves
    c.w.run_for(3 * S)
    assert c.missing_at_one("127.0.0.1") == []
    # Once the first is over, the second may go.
    refused.decommission()
    assert c.w.run_until(lambda: c.status(loser) == "LEFT", 60 * S)


def test_no_change_without_a_majority() -> None:
    c = _five(47)
    for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        c.w.crash(a)
    t4 = c.w.nodes[A4].node.topology
    assert c.w.run_until(lambda: not any(t4.node.membership.is_alive(a) for a in (
        "127.0.0.1", "127.0.0.2", "127.0.0.3")), 30 * S)
    with pytest.raises(Exception, match="Cannot achieve consistency level SERIAL"):
        t4.decommission(force=True)
    c.w.run_for(3 * S)
    assert c.status(A4) == "NORMAL"
    assert t4.decide.in_progress() is None


def test_joiner_killed_after_its_start_resumes_its_own_change() -> None:
    c = Cluster(seed=45, rf=1)
    c.write_batch(0, 300, QUORUM)
    c.w.add_node(A4)
    joiner = c.w.nodes[A4].node
    # Killed between its JOIN START in the log and its new state: it never says JOINING.
    joiner.topology._set_status = lambda *args, **kwargs: None  # type: ignore[method-assign]
    seed = c.w.nodes["127.0.0.1"].node.metadata
    assert c.w.run_until(lambda: seed.state.topology_in_progress is not None, 30 * S)
    started = seed.state.topology_in_progress
    assert started is not None and started.address == A4
    c.w.run_for(S // 2)
    c.w.crash(A4)
    assert c.w.nodes[A4].node.membership.local.status == "STARTING"
    c.w.run_for(S)
    c.w.restart(A4)
    assert c.w.run_until(lambda: c.status(A4) == "NORMAL", 60 * S)
    assert sorted(c.w.nodes[A4].node.membership.local.tokens) == sorted(started.tokens)
    joins = [e for e in _topology_log(c.w) if e[2] == A4]
    assert joins == [("JOIN", "START", A4), ("JOIN", "FINISH", A4)]  # decided once
    assert c.missing_at_one("127.0.0.1") == []


def test_two_replacements_started_at_once_go_one_after_the_other() -> None:
    """Replacing nodes do not give way to each other in gossip: only the log can keep two
    replacements started at the same moment from running at once."""
    c = Cluster(seed=49, rf=3)
    for a in (A4, A5):
        c.w.add_node(a)
        assert c.w.run_until(lambda a=a: c.status(a) == "NORMAL", 60 * S)
    c.write_batch(0, 300, QUORUM)
    old = {a: c.w.nodes[a].node.membership.local.tokens for a in (A4, A5)}
    for a in (A4, A5):
        c.w.crash(a)
    seed = c.w.nodes["127.0.0.1"].node
    assert c.w.run_until(lambda: not any(seed.membership.is_alive(a) for a in (A4, A5)), 30 * S)
    c.w.add_node("127.0.0.6", replace_address_first_boot=A4)
    c.w.add_node("127.0.0.7", replace_address_first_boot=A5)
    statuses: list[tuple[str, ...]] = []
    _watch(c.w, ("127.0.0.6", "127.0.0.7"), statuses)
    assert c.w.run_until(lambda: c.status("127.0.0.6") == c.status("127.0.0.7") == "NORMAL",
                         120 * S)
    assert ("JOINING", "JOINING") not in statuses
    replaces = [e for e in _topology_log(c.w) if e[0] == "REPLACE"]
    assert len([e for e in replaces if e[1] == "START"]) == 3, replaces  # one refused
    c.w.run_for(3 * S)  # the new states gossiped
    ring = seed.membership.ring()
    for new, dead in (("127.0.0.6", A4), ("127.0.0.7", A5)):
        assert dead not in ring.owners
        assert sorted(t for t, a in zip(ring.tokens, ring.owners, strict=True)
                      if a == new) == sorted(old[dead])
    assert c.missing_at_one("127.0.0.1") == []


def test_a_started_join_finishes_while_a_lower_address_node_starts() -> None:
    """A fresh node whose JOIN START is chosen finishes its change though a node with a lower
    address starts meanwhile. It used to defer to that node, which waits for this change to
    finish: neither moved (a 3-node start on a loaded machine, node 3 first)."""
    w = World(47, n_nodes=1)
    assert w.stabilize()
    w.add_node("127.0.0.3")
    joiner = w.nodes["127.0.0.3"].node
    propose = joiner.topology.decide.propose

    def without_finish(op: str, phase: str, *args: object, **kw: object) -> object:
        return None if phase == "FINISH" else propose(op, phase, *args, **kw)  # type: ignore[arg-type]

    # As a slow node: its FINISH not yet proposed when the next node shows up.
    joiner.topology.decide.propose = without_finish  # type: ignore[method-assign]
    seed = w.nodes["127.0.0.1"].node.metadata
    assert w.run_until(lambda: seed.state.topology_in_progress is not None, 30 * S)
    w.add_node("127.0.0.2")
    peers = joiner.membership.peers
    assert w.run_until(lambda: "127.0.0.2" in peers and peers["127.0.0.2"].up
                       and peers["127.0.0.2"].state.status == "STARTING", 30 * S)
    joiner.topology.decide.propose = propose  # type: ignore[method-assign]

    def status(a: str) -> str:
        return w.nodes[a].node.membership.local.status
    assert w.run_until(lambda: status("127.0.0.3") == status("127.0.0.2") == "NORMAL", 60 * S), \
        (status("127.0.0.3"), status("127.0.0.2"))
    assert _topology_log(w) == [
        ("JOIN", "START", "127.0.0.3"), ("JOIN", "FINISH", "127.0.0.3"),
        ("JOIN", "START", "127.0.0.2"), ("JOIN", "FINISH", "127.0.0.2")]
