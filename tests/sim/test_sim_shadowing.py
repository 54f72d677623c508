"""No silent shadowing: the seed-000 UPDATE through a slow coordinator, in the simulator."""

from __future__ import annotations

from skewless.errors import CqlError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

SLOW = "127.0.0.2"


def _update_after_insert(policy: str, table_options: str = "") -> tuple[Reply, World]:
    w = World(31, n_nodes=3, timestamp_policy=policy)
    w.nodes[SLOW].clock.offset_us = -200_000
    assert w.stabilize()
    out: list[Reply] = []

    def q(node: str, text: str) -> None:
        w.client_query(node, 1, text, QUORUM, out.append)
        w.run_for(20 * 10**6)

    q("127.0.0.1", "CREATE KEYSPACE app WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    q("127.0.0.1", f"CREATE TABLE app.t (id int PRIMARY KEY, status text) {table_options}")
    w.run_for(2 * 10**9)
    q("127.0.0.1", "INSERT INTO app.t (id, status) VALUES (1, 'created')")
    q(SLOW, "UPDATE app.t SET status = 'processed' WHERE id = 1")
    return out[-1], w


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
