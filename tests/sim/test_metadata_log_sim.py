"""The metadata log in the simulator: concurrent DDL from different nodes of a 5-node cluster
while nodes are partitioned away and crashed (kill -9: only synced state survives) and
messages are lost and duplicated. Afterwards every node holds the same log (the same entries
in the same order) and the same schema version, and every acknowledged DDL is in that log
exactly once and in every node's schema."""

from __future__ import annotations

import random

import pytest

from skewless.cql.results import SchemaChange
from skewless.errors import CqlError, Unavailable
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.node.metadata import entries
from skewless.sim.world import World

SECOND = 10**9


def _log(w: World, address: str) -> list[str]:
    core = w.nodes[address].node.metadata.paxos
    out = []
    for slot in range(1, core.applied + 1):
        e = entries.decode_entry(core.chosen[slot])
        if isinstance(e, entries.DdlEntry):  # (the non-seed nodes' JOIN entries too)
            out.append(e.cql)
    return out


def _run(seed: int) -> None:
    w = World(seed, n_nodes=5, trace_enabled=False)
    w.network.drop_per_million = 50_000
    w.network.duplicate_per_million = 50_000
    rng = random.Random(seed)
    addresses = sorted(w.nodes)
    assert w.stabilize()
    replies: dict[int, list[Reply]] = {}
    texts: dict[int, str] = {}
    conn = 0

    def ddl(address: str, text: str, delay_us: int = 0) -> None:
        """Send ``text`` to ``address`` after ``delay_us`` (staggered proposers)."""
        nonlocal conn
        conn += 1
        c = conn
        replies[c] = []
        texts[c] = text
        w.at(delay_us * 1000, lambda: w.client_query(address, c, text, QUORUM,
                                                     replies[c].append))

    ddl(addresses[0], "CREATE KEYSPACE ks WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    w.run_for(SECOND)
    ddl(addresses[1], "CREATE TABLE ks.base (k int PRIMARY KEY, v int)")
    w.run_for(SECOND)
    down: set[str] = set()
    for r in range(25):
        for a in rng.sample(addresses, rng.randint(2, 5)):
            kind, delay_us = rng.random(), rng.randint(0, 5000)
            if kind < 0.4:
                ddl(a, f"CREATE TABLE ks.t{r}_{a[-1]} (k int PRIMARY KEY, v int)", delay_us)
            elif kind < 0.8:
                ddl(a, f"ALTER TABLE ks.base ADD c{r}_{a[-1]} int", delay_us)
            else:
                ddl(a, f"CREATE TABLE ks.same{r} (k int PRIMARY KEY, x{a[-1]} int)", delay_us)
        w.run_for(rng.randint(1, 400) * 10**6)
        fault = rng.random()
        if fault < 0.2 and len(down) < 2:
            victim = rng.choice([a for a in addresses if a not in down])
            w.crash(victim)
            down.add(victim)
        elif fault < 0.35 and down:
            back = rng.choice(sorted(down))
            w.restart(back)
            down.discard(back)
        elif fault < 0.5:
            w.network.isolate(rng.choice(addresses), addresses)
        elif fault < 0.65:
            w.network.heal()
        w.run_for(rng.randint(1, 2000) * 10**6)
    for a in sorted(down):
        w.restart(a)
    w.network.heal()
    w.network.drop_per_million = w.network.duplicate_per_million = 0
    assert w.stabilize(30 * SECOND)

    def settled() -> bool:
        cores = [w.nodes[a].node.metadata for a in addresses]
        return len({c.index for c in cores}) == 1 and not any(
            c.paxos.queue or c.waiters for c in cores)
    assert w.run_until(settled, 60 * SECOND)
    w.run_for(3 * SECOND)

    logs = {a: _log(w, a) for a in addresses}
    assert all(log == logs[addresses[0]] for log in logs.values())
    log = logs[addresses[0]]
    versions = {w.nodes[a].node.schema.version for a in addresses}
    assert len(versions) == 1
    acknowledged = 0
    for c, got in replies.items():
        if got and isinstance(got[0].body, SchemaChange):
            acknowledged += 1
            assert log.count(texts[c]) == 1, texts[c]
        elif got:
            assert isinstance(got[0].body, CqlError), got[0].body
    assert acknowledged >= 10  # the schedule let a good part through
    schema = w.nodes[addresses[0]].node.schema
    base = schema.table("ks", "base")
    assert base is not None
    names = {col.name for col in base.columns}
    for c, got in replies.items():
        if got and isinstance(got[0].body, SchemaChange):
            text = texts[c]
            if text.startswith("ALTER"):
                assert text.split()[-2] in names
            elif ".t" in text:
                assert schema.table("ks", text.split()[2].split(".")[1]) is not None


@pytest.mark.parametrize("seed", range(6))
def test_concurrent_ddl_with_partitions_and_crashes(seed: int) -> None:
    _run(seed)


def test_two_concurrent_topology_starts_one_wins_everywhere() -> None:
    """Two nodes start a topology change at once through ``propose_topology``: the log
    decides one, the other is refused (one change in flight), and every node's apply hook
    sees the same outcome; FINISH ends it."""
    w = World(9, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    addresses = sorted(w.nodes)
    seen: dict[str, list[tuple[str, str, bool]]] = {a: [] for a in addresses}
    for a in addresses:
        w.nodes[a].node.metadata.on_topology(
            lambda e, outcome, state, a=a: seen[a].append(
                (e.op, e.phase, outcome.error is None)))
    outcomes: dict[str, entries.Outcome] = {}

    def start(at: str, op: str, target: str) -> None:
        node = w.nodes[at].node
        node.metadata.propose_topology(
            op, "START", target, "host", (1, 2, 3),
            lambda o, index: outcomes.__setitem__(op, o))
        w._flush(w.nodes[at])

    start(addresses[0], "LEAVE", addresses[2])
    start(addresses[1], "REMOVE", addresses[2])
    assert w.run_until(lambda: len(outcomes) == 2, 10 * SECOND)
    winners = [op for op, o in outcomes.items() if o.error is None]
    assert len(winners) == 1, outcomes
    loser = ({"LEAVE", "REMOVE"} - set(winners)).pop()
    assert "Another topology change is in progress" in str(outcomes[loser].error)
    assert w.run_until(lambda: all(len(s) == 2 for s in seen.values()), 10 * SECOND)
    assert len({tuple(s) for s in seen.values()}) == 1
    for a in addresses:
        change = w.nodes[a].node.metadata.state.topology_in_progress
        assert change is not None and change.op == winners[0]
    done: list[entries.Outcome] = []
    w.nodes[addresses[1]].node.metadata.propose_topology(
        winners[0], "FINISH", addresses[2], "host", (1, 2, 3), lambda o, i: done.append(o))
    w._flush(w.nodes[addresses[1]])
    assert w.run_until(lambda: bool(done), 10 * SECOND) and done[0].error is None
    assert w.run_until(lambda: all(
        w.nodes[a].node.metadata.state.topology_in_progress is None for a in addresses),
        10 * SECOND)


def test_a_restarted_node_serves_ddl_on_entries_it_missed() -> None:
    """Node 3 is down while a table is created; as soon as it hears from a peer after its
    restart, an ALTER of that table sent to it succeeds: it has pulled the entry it missed,
    or (still behind its peers' gossiped position) it proposes rather than refusing the
    statement on its stale schema."""
    w = World(11, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    a1, _, a3 = sorted(w.nodes)
    got: list[Reply] = []

    def q(address: str, text: str) -> object:
        n = len(got)
        w.client_query(address, 1, text, QUORUM, got.append)
        assert w.run_until(lambda: len(got) > n, 20 * SECOND)
        return got[-1].body

    assert isinstance(q(a1, "CREATE KEYSPACE ks WITH replication = "
                            "{'class': 'SimpleStrategy', 'replication_factor': 3}"), SchemaChange)
    w.crash(a3)
    assert w.run_until(lambda: not w.nodes[a1].node.membership.is_alive(a3), 60 * SECOND)
    assert isinstance(q(a1, "CREATE TABLE ks.t (k int PRIMARY KEY)"), SchemaChange)
    w.restart(a3)
    assert w.nodes[a3].node.schema.table("ks", "t") is None  # it missed the entry
    # Before it hears from anyone its schema cannot refuse the ALTER ("unconfigured table"):
    # it proposes, and without a live majority that is Unavailable.
    assert isinstance(q(a3, "ALTER TABLE ks.t ADD v int"), Unavailable)
    assert w.run_until(lambda: w.nodes[a3].node.membership.is_alive(a1), 20 * SECOND)
    assert isinstance(q(a3, "ALTER TABLE ks.t ADD v int"), SchemaChange)
    table = w.nodes[a3].node.schema.table("ks", "t")
    assert table is not None and "v" in {c.name for c in table.columns}
    assert w.run_until(lambda: len({w.nodes[a].node.schema.version for a in w.nodes}) == 1,
                       10 * SECOND)


def test_removing_a_dead_node_shrinks_the_majority() -> None:
    """A dead node removed through REMOVE START and FINISH entries leaves the metadata group
    on every node (the majority is then 2 of 2); its heartbeats after a restart do not bring
    it back, a JOIN START entry for it does."""
    w = World(12, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    a1, a2, a3 = sorted(w.nodes)
    done: list[entries.Outcome] = []

    def topo(op: str, phase: str, address: str) -> entries.Outcome:
        n = len(done)
        w.nodes[a1].node.metadata.propose_topology(op, phase, address, "h", (1,),
                                                   lambda o, i: done.append(o))
        w._flush(w.nodes[a1])
        assert w.run_until(lambda: len(done) > n, 20 * SECOND)
        return done[-1]

    w.crash(a3)
    assert w.run_until(lambda: not w.nodes[a1].node.membership.is_alive(a3), 60 * SECOND)
    assert topo("REMOVE", "START", a3).error is None
    assert topo("REMOVE", "FINISH", a3).error is None
    assert w.run_until(lambda: all(
        w.nodes[a].node.metadata.members() == [a1, a2] for a in (a1, a2)), 10 * SECOND)
    assert w.nodes[a1].node.metadata.paxos.quorum() == 2
    w.restart(a3)  # its heartbeats do not make it a member again
    w.run_for(3 * SECOND)
    assert w.nodes[a1].node.metadata.members() == [a1, a2]
    assert topo("JOIN", "START", a3).error is None
    assert w.nodes[a1].node.metadata.members() == [a1, a2, a3]
