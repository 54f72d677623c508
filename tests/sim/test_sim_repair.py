"""Repair in the deterministic simulator (node.repair): a replica that missed writes (hints off)
gets exactly what it lacks and then alone serves every row; a second repair streams nothing;
a dead neighbour fails the session; with only_purge_repaired_tombstones a tombstone a replica
missed is not purged before a repair has carried it there (no zombie row)."""

from __future__ import annotations

from skewless.errors import CqlError
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.node.membership import phi
from skewless.node.repair.ranges import node_ranges
from skewless.node.repair.status import FAILED, RUNNING, SUCCESSFUL, RepairStatus
from skewless.ring import MAX_TOKEN, MIN_TOKEN
from skewless.sim.world import World
from skewless.storage import codec

N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"
NODES = (N1, N2, N3)


def _q(w: World, node: str, text: str, cl: int = QUORUM) -> object:
    body = w.query(node, text, cl, 15 * 10**9)
    assert body is not None, f"no answer to {text}"
    assert not isinstance(body, CqlError), body
    return body


def _world(seed: int, table_options: str = "") -> World:
    w = World(seed, n_nodes=3, node_options={"hinted_handoff_enabled": False})
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))" + table_options)
    w.run_for(2 * 10**9)
    return w


def _table_key(w: World) -> str:
    t = w.nodes[N1].node.schema.table("ks", "t")
    assert t is not None
    return t.table_key


def _contents(w: World, address: str) -> dict[bytes, bytes]:
    """Every partition of ks.t on one node, as stored (encoded)."""
    storage = w.nodes[address].node.storage
    key = _table_key(w)
    return {k: codec.encode_update(storage.stored(key, k))
            for k in storage.partition_keys(key, MIN_TOKEN, MAX_TOKEN)}


def _down(w: World, address: str) -> None:
    w.crash(address)
    others = [a for a in NODES if a != address and w.nodes[a].up]
    assert w.run_until(lambda: not any(w.nodes[a].node.membership.is_alive(address)
                                       for a in others), int(phi.convict_within_ms() * 1e6))


def _up(w: World, address: str) -> None:
    w.restart(address)
    assert w.stabilize(30 * 10**9)
    # A restarted node stamps nothing until it has measured cluster time (node.clock.stamping).
    assert w.run_until(lambda: w.nodes[address].node.clocks.view().in_bounds, 10 * 10**9)


def _repair(w: World, via: str, **options: object) -> RepairStatus:
    service = w.nodes[via].node.active_repair
    number = service.repair("ks", **options)  # type: ignore[arg-type]
    w._flush(w.nodes[via])  # send what the call queued, as the runtime's admin path does
    status = service.status(number)
    assert status is not None
    assert w.run_until(lambda: status.state != RUNNING, 120 * 10**9), status.lines
    return status


def _missed_writes(w: World) -> None:
    for k in range(120):
        _q(w, N1, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, 0, 'v{k}')")
    _down(w, N3)
    for k in range(120, 150):  # N3 misses these rows,
        _q(w, N1, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, 1, 'new{k}')")
    for k in range(0, 10):  # these updates,
        _q(w, N2, f"UPDATE ks.t SET v = 'changed' WHERE k = {k} AND c = 0")
    for k in range(10, 15):  # and these deletes
        _q(w, N1, f"DELETE FROM ks.t WHERE k = {k}")
    _up(w, N3)


def test_repair_brings_a_replica_that_missed_writes_up_to_date_and_streams_only_that() -> None:
    w = _world(71)
    _missed_writes(w)
    before = _contents(w, N3)
    assert before != _contents(w, N1)
    status = _repair(w, N3)
    assert status.state == SUCCESSFUL, status.lines
    assert "Repair completed successfully" in status.lines[-3]
    assert status.lines[0].split("] ", 1)[1].startswith("Starting repair command #1 (")
    assert any("for range [(" in line and "finished (progress:" in line
               for line in status.lines)
    full = _contents(w, N1)
    assert _contents(w, N2) == full and _contents(w, N3) == full
    # only what N3 lacked moved: 30 new partitions, 10 updates, 5 partition deletions
    assert status.partitions_streamed == 45, status.summary()
    assert status.bytes_streamed < sum(len(v) for v in full.values()) // 2
    assert status.ranges_differing > 0 and status.ranges_compared >= status.ranges_differing
    # N3 alone serves every row: its peers are gone
    _down(w, N1)
    _down(w, N2)
    body = _q(w, N3, "SELECT k, v FROM ks.t", ONE)
    rows = {int.from_bytes(r[0], "big", signed=True): r[1] for r in body.rows}  # type: ignore[attr-defined]
    assert len(rows) == 145
    assert rows[3] == b"changed" and rows[130] == b"new130" and 12 not in rows


def test_a_second_repair_streams_nothing_and_primary_ranges_cover_the_ring() -> None:
    w = _world(72)
    _missed_writes(w)
    streamed = sum(_repair(w, a, primary_range=True).partitions_streamed for a in NODES)
    assert streamed == 45
    for a in NODES:
        again = _repair(w, a)
        assert again.state == SUCCESSFUL
        assert again.partitions_streamed == 0 and again.bytes_streamed == 0
        assert again.ranges_differing == 0 and again.ranges_compared > 0


def test_a_repair_with_a_neighbour_down_fails_its_sessions() -> None:
    w = _world(73)
    _q(w, N1, "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'x')")
    _down(w, N3)
    status = _repair(w, N1)
    assert status.state == FAILED
    assert any("Cannot proceed on repair because a neighbor (/127.0.0.3) is dead: session "
               "failed" in line for line in status.lines), status.lines
    assert status.lines[-1].endswith("finished with error in 0 seconds") or \
        "finished with error" in status.lines[-1]


def _rows(w: World, via: str) -> set[int]:
    body = _q(w, via, "SELECT k FROM ks.t", ALL)
    return {int.from_bytes(r[0], "big", signed=True) for r in body.rows}  # type: ignore[attr-defined]


def _missed_delete(w: World) -> None:
    for k in (1, 2):
        _q(w, N1, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, 1, 'x')", ALL)
    _down(w, N3)
    _q(w, N1, "DELETE FROM ks.t WHERE k = 1")  # N3 never hears of it
    _up(w, N3)
    w.run_for(12 * 10**9)  # gc_grace_seconds = 10 has passed


def test_without_the_option_a_purged_tombstone_lets_the_row_come_back() -> None:
    """The hazard only_purge_repaired_tombstones exists for (this test fails if it is gone)."""
    w = _world(74, " WITH gc_grace_seconds = 10")
    _missed_delete(w)
    for a in (N1, N2):
        assert w.nodes[a].node.active_repair.purge("ks") > 0
    assert _rows(w, N1) == {1, 2}  # the zombie: N3's copy of k=1 is back


def test_only_purge_repaired_tombstones_keeps_the_tombstone_until_repair() -> None:
    w = _world(75, " WITH gc_grace_seconds = 10 AND compaction = {'class': "
               "'SizeTieredCompactionStrategy', 'only_purge_repaired_tombstones': 'true'}")
    _missed_delete(w)
    for a in (N1, N2):
        assert w.nodes[a].node.active_repair.purge("ks") == 0  # never repaired: kept
    assert _rows(w, N1) == {2}
    assert _repair(w, N1).state == SUCCESSFUL
    w.run_for(2 * 10**9)
    for a in NODES:  # repaired after the delete: now it may go, on every replica
        assert w.nodes[a].node.active_repair.purge("ks") > 0
    assert _rows(w, N1) == {2} and _rows(w, N3) == {2}
    assert _contents(w, N1) == _contents(w, N3)


def _insert_many(w: World, keys: range, value: str) -> None:
    for start in range(keys.start, keys.stop, 50):
        rows = " ".join(f"INSERT INTO ks.t (k, c, v) VALUES ({k}, 0, '{value}{k}');"
                        for k in range(start, min(start + 50, keys.stop)))
        _q(w, N1, f"BEGIN UNLOGGED BATCH {rows} APPLY BATCH")


def test_deep_trees_are_compared_top_first_then_under_the_unequal_nodes() -> None:
    """One token a node: ranges of ~700 partitions, trees 2^9 leaves deep, deeper than the
    top (2^8 nodes) sent first: the second round carries only the subtrees that differ."""
    w = World(76, n_nodes=3, node_options={"hinted_handoff_enabled": False, "num_tokens": 1})
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))")
    w.run_for(2 * 10**9)
    _insert_many(w, range(2100), "v")
    clean = _repair(w, N1)
    assert clean.partitions_streamed == 0 and clean.ranges_compared == 3
    # the tops only: nothing differs (the range that wraps past the ring's end is two trees,
    # its small piece adds a small top: how small depends on the token layout)
    assert 3 * 2 * 256 * 8 <= clean.tree_bytes <= 3 * 2 * (256 + 16) * 8
    _down(w, N3)
    _insert_many(w, range(5000, 5020), "late")
    _up(w, N3)
    status = _repair(w, N1)
    assert status.state == SUCCESSFUL, status.lines
    assert status.partitions_streamed == 20
    assert any("of 512 leaves of" in line for line in status.lines), status.lines
    assert status.tree_bytes < 3 * 2 * (256 + 512) * 8 // 2  # well below the whole trees
    full = _contents(w, N1)
    assert _contents(w, N2) == full and _contents(w, N3) == full


def test_background_anti_entropy_repairs_every_range_within_its_budget() -> None:
    """repair_background_bytes_per_s > 0: each node keeps repairing its primary ranges, so the
    replica that missed writes catches up without any repair command."""
    rate = 2000
    w = World(77, n_nodes=3, node_options={"hinted_handoff_enabled": False, "num_tokens": 4,
                                           "repair_background_bytes_per_s": rate})
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))")
    _missed_writes(w)
    assert _contents(w, N3) != _contents(w, N1)
    assert w.run_until(lambda: _contents(w, N3) == _contents(w, N1) == _contents(w, N2),
                       400 * 10**9)
    streamed = 0
    for a in NODES:
        node = w.nodes[a].node
        assert node.anti_entropy.commands > 0
        statuses = [s for n in range(1, node.anti_entropy.commands + 1)
                    if (s := node.active_repair.status(n)) is not None]
        moved = [s.tree_bytes + s.bytes_fetched + s.bytes_streamed for s in statuses]
        streamed += sum(s.partitions_streamed for s in statuses)
        # within the budget: every repair but the last one waited moved/rate after it
        elapsed_s = w.now_ns / 1e9
        assert sum(moved[:-1]) <= rate * elapsed_s, (a, moved, elapsed_s)
    assert streamed >= 45


def test_writes_racing_with_a_repair_are_kept_everywhere() -> None:
    """Repair merges by timestamp through the apply path: writes acknowledged while it runs
    are neither lost nor overwritten by the older data it streams."""
    w = _world(78)
    _missed_writes(w)
    service = w.nodes[N3].node.active_repair
    number = service.repair("ks")
    w._flush(w.nodes[N3])
    acked: dict[int, str] = {}
    for i, k in enumerate(range(0, 150, 3)):  # overwrite every third row, N3's stale ones too

        def on_reply(r: Reply, k: int = k) -> None:
            if not isinstance(r.body, CqlError):
                acked[k] = f"racing{k}"

        w.client_query((N1, N2, N3)[i % 3], 100 + i,
                       f"UPDATE ks.t SET v = 'racing{k}' WHERE k = {k} AND c = {int(k >= 120)}",
                       QUORUM, on_reply)
        w.run_for(3_000_000)
    status = service.status(number)
    assert status is not None
    assert w.run_until(lambda: status.state != RUNNING, 120 * 10**9)
    assert status.state == SUCCESSFUL, status.lines
    w.run_for(2 * 10**9)
    assert len(acked) == 50
    assert _repair(w, N1).state == SUCCESSFUL
    full = _contents(w, N1)
    assert _contents(w, N2) == full and _contents(w, N3) == full
    body = _q(w, N3, "SELECT k, v FROM ks.t", ALL)
    rows = {int.from_bytes(r[0], "big", signed=True): r[1].decode() for r in body.rows}  # type: ignore[attr-defined]
    for k, v in acked.items():
        assert rows[k] == v, (k, rows.get(k))


def test_the_admin_operations_start_follow_and_refuse_repairs() -> None:
    """nodetool's operations (admin.ops_repair) on a simulated node: one command per keyspace,
    its status as nodetool prints it, bad input refused with Cassandra's messages."""
    import pytest

    from skewless.admin.registry import AdminError
    from skewless.sim.admin import admin_call

    w = _world(79)
    _missed_writes(w)
    started = admin_call(w, N2, "repair", {"keyspace": "ks", "tables": ["t"],
                                           "primary_range": True})
    (number,) = started["commands"]
    assert w.run_until(lambda: admin_call(w, N2, "repair_status", {"command": number})["state"]
                       != RUNNING, 60 * 10**9)
    status = admin_call(w, N2, "repair_status", {"command": number})
    assert status["state"] == SUCCESSFUL and status["summary"]["ranges_compared"] == 16
    assert "primary range: true" in status["lines"][0] and "ColumnFamilies: [t]" in \
        status["lines"][0]
    assert admin_call(w, N1, "repair", {})["commands"] == [1]  # every non-system keyspace
    for args, message in (({"keyspace": "nosuch"}, "Keyspace [nosuch] does not exist."),
                          ({"keyspace": "ks", "tables": ["x"]}, "Unknown keyspace/cf pair (ks.x)"),
                          ({"keyspace": "ks", "start_token": "1"}, "Both the start token"),
                          ({"keyspace": "ks", "start_token": "a", "end_token": "2"},
                           "start_token: not a Murmur3 token")):
        with pytest.raises(AdminError, match=message.replace("[", r"\[").replace("(", r"\(")
                           .replace(")", r"\)").replace(".", r"\.")):
            admin_call(w, N1, "repair", args)
    assert admin_call(w, N1, "garbagecollect", {"keyspace": "ks"}) == {"removed": 0}


def test_a_failed_session_does_not_stop_the_next_ones_nor_end_the_command_early() -> None:
    """RF=2: the ranges N1 shares with the dead N3 fail, those it shares with N2 are repaired,
    and the command stays RUNNING until its last session, then ends FAILED."""
    w = World(80, n_nodes=3, node_options={"hinted_handoff_enabled": False})
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 2}")
    _q(w, N1, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))")
    for k in range(40):
        _q(w, N1, f"INSERT INTO ks.t (k, c, v) VALUES ({k}, 0, 'v')")
    _down(w, N3)
    status = _repair(w, N1)
    assert status.finished_us > 0, status.lines[-3:]  # the command ran to its end
    assert status.state == FAILED
    assert status.lines[-1].split("] ", 1)[1].startswith("Repair command #1 finished with error")
    failed = sum("is dead: session failed" in line for line in status.lines)
    assert failed > 0 and status.ranges_compared > 0
    node = w.nodes[N1].node
    ks = node.schema.keyspace("ks")
    assert ks is not None
    ranges = node_ranges(node.membership.ring(), ks.replication_map(), N1, False)
    assert failed + status.ranges_compared == len(ranges)  # every range of N1 was tried
