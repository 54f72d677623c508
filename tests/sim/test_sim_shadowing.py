"""No silent shadowing: the seed-000 UPDATE through a slow coordinator, in the simulator."""

from __future__ import annotations

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

SLOW = "127.0.0.2"


def _ask(w: World, node: str, text: str) -> Reply:
    """One QUORUM request through ``node``; its reply, given 20 ms of simulated time."""
    out: list[Reply] = []
    w.client_query(node, 1, text, QUORUM, out.append)
    w.run_for(20 * 10**6)
    return out[-1]


def _create_table(w: World, table_options: str = "") -> None:
    """app.t at RF=3, through node 1, then 2 s for the schema to reach every node."""
    for text in ("CREATE KEYSPACE app WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 3}",
                 f"CREATE TABLE app.t (id int PRIMARY KEY, status text) {table_options}"):
        reply = _ask(w, "127.0.0.1", text)
        assert not isinstance(reply.body, CqlError), reply.body
    w.run_for(2 * 10**9)


def _update_after_insert(policy: str, table_options: str = "") -> tuple[Reply, World]:
    w = World(31, n_nodes=3, timestamp_policy=policy)
    w.nodes[SLOW].clock.offset_us = -200_000
    assert w.stabilize()
    _create_table(w, table_options)
    _ask(w, "127.0.0.1", "INSERT INTO app.t (id, status) VALUES (1, 'created')")
    return _ask(w, SLOW, "UPDATE app.t SET status = 'processed' WHERE id = 1"), w


def test_shadowed_update_warns_under_wallclock() -> None:
    reply, w = _update_after_insert("wallclock")
    assert not isinstance(reply.body, CqlError)
    assert len(reply.warnings) == 1, reply.warnings
    text = reply.warnings[0]
    assert text.startswith("Write to app.t was shadowed: 1 cell(s) did not take effect")
    assert "column status" in text and "ms newer" in text
    table = w.nodes[SLOW].node.schema.table("app", "t")
    assert table is not None
    assert w.nodes[SLOW].node.shadowed_writes[table.table_key] == 1


def test_shadowed_update_fails_with_table_option() -> None:
    reply, _ = _update_after_insert("wallclock", "WITH shadowed_writes = 'fail'")
    assert isinstance(reply.body, CqlError)
    assert "was shadowed" in str(reply.body) and "shadowed_writes = fail" in str(reply.body)


def test_no_shadowing_under_hlc() -> None:
    reply, _ = _update_after_insert("hlc", "WITH shadowed_writes = 'fail'")
    assert not isinstance(reply.body, CqlError) and reply.warnings == ()


def _after_data_ahead(coordinator: str, restamp: bool, offset_us: int) -> tuple[Reply, World]:
    """Node 1 writes a row with USING TIMESTAMP 2 s ahead of cluster time (accepted: the
    nodes allow client timestamps 5 s ahead here; no node folds it into its clock, it is beyond
    max_offset_ms); then an UPDATE without a timestamp goes through ``coordinator``, whose
    clock is ``offset_us`` off (-2 s: fenced, a peer stamps for it)."""
    w = World(32, n_nodes=3, node_options={"restamp_shadowed_writes": restamp,
                                           "max_future_timestamp_ms": 5000.0})
    w.nodes[SLOW].clock.offset_us = offset_us
    assert w.stabilize()
    w.run_for(3 * 10**9)
    _create_table(w)
    ahead = w.nodes["127.0.0.1"].node.physical_us() + 2_000_000
    for node, text in (("127.0.0.1", "INSERT INTO app.t (id, status) VALUES (1, 'created') "
                                     f"USING TIMESTAMP {ahead}"),
                       (coordinator, "UPDATE app.t SET status = 'processed' WHERE id = 1")):
        reply = _ask(w, node, text)
        assert not isinstance(reply.body, CqlError), reply.body
    return reply, w


def test_shadowed_write_is_restamped_above_the_newer_data() -> None:
    """Under hlc a node-stamped write that newer data shadowed is stamped again above it and
    kept, without a warning; the node counts it. On a healthy coordinator and on a fenced one
    (a peer stamps it, honouring a floor 2 s ahead of that peer's clock)."""
    for coordinator, offset_us in (("127.0.0.2", 0), (SLOW, -2_000_000)):
        reply, w = _after_data_ahead(coordinator, True, offset_us)
        assert not isinstance(reply.body, CqlError) and reply.warnings == (), reply
        read = _ask(w, "127.0.0.3", "SELECT status FROM app.t WHERE id = 1")
        assert read.body.rows == ((b"processed",),), (coordinator, read.body)  # type: ignore[union-attr]
        table = w.nodes[coordinator].node.schema.table("app", "t")
        assert table is not None
        assert w.nodes[coordinator].node.restamped_writes[table.table_key] == 1
        assert w.nodes[coordinator].node.shadowed_writes[table.table_key] == 0


def test_without_restamping_the_write_is_only_reported() -> None:
    reply, w = _after_data_ahead("127.0.0.2", False, 0)
    assert len(reply.warnings) == 1 and "was shadowed" in reply.warnings[0], reply.warnings
