"""Admin operations (nodetool's) on real Node cores in the deterministic simulator: ownership,
replicas and schema versions computed from the ring and gossip, a down node seen as such, bad
arguments refused with Cassandra's messages, and settraceprobability tracing requests that did
not ask for it (their answers carry no tracing id)."""

from __future__ import annotations

import uuid

import pytest

from skewless.admin.registry import AdminError
from skewless.node.consistency import ONE, QUORUM
from skewless.node.effects import Reply
from skewless.node.membership import phi
from skewless.node.schema.system_tables import stored_keyspace
from skewless.nodetool.formats_cluster import format_status
from skewless.nodetool.parse import parse_status
from skewless.ring import token_of
from skewless.sim.admin import admin_call
from skewless.sim.world import World

N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"


def _q(w: World, node: str, text: str, cl: int = QUORUM) -> Reply:
    out: list[Reply] = []
    w.client_query(node, 1, text, cl, out.append)
    w.run_until(lambda: bool(out), 2_000_000_000)
    assert out, text
    return out[0]


def _world(seed: int) -> World:
    w = World(seed, n_nodes=3)
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 2}")
    _q(w, N1, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    _q(w, N1, "CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    w.run_for(2_000_000_000)
    return w


def test_effective_ownership_replicas_and_ranges_agree_with_the_ring() -> None:
    w = _world(71)
    status = admin_call(w, N2, "status", {"keyspace": "ks"})
    assert status["effective"] and status["note"] == ""
    owns = {e["address"]: e["owns"] for e in status["endpoints"]}
    assert sum(owns.values()) == pytest.approx(2.0)  # RF 2
    assert sum(admin_call(w, N2, "status", {"keyspace": "other"})["endpoints"][i]["owns"]
               for i in range(3)) == pytest.approx(3.0)
    # the ranges of describering, weighted by size, give the same ownership
    ring = admin_call(w, N3, "describering", {"keyspace": "ks"})
    share = dict.fromkeys(owns, 0.0)
    for r in ring["ranges"]:
        size = (int(r["end"]) - int(r["start"])) % 2**64 or 2**64
        for a in r["endpoints"]:
            share[a] += size / 2**64
    assert share == pytest.approx(owns)
    node = w.nodes[N1].node
    ks = node.schema.keyspace("ks")
    assert ks is not None
    for k in range(20):
        got = admin_call(w, N1, "getendpoints", {"keyspace": "ks", "table": "t", "key": str(k)})
        key = k.to_bytes(4, "big", signed=True)
        assert got["endpoints"] == node.replicas_for(ks, key)
        assert got["token"] == str(token_of(key))
    # the stored system keyspaces too, at their replication (system_auth RF 1, traces RF 2)
    for ks_name, table, rf in (("system_auth", "roles", 1), ("system_traces", "sessions", 2)):
        stored = stored_keyspace(node.schema, ks_name)
        assert stored is not None
        key_text = "cassandra" if table == "roles" else "9a4f2e1c-0000-4000-8000-000000000001"
        got = admin_call(w, N1, "getendpoints", {"keyspace": ks_name, "table": table,
                                                 "key": key_text})
        assert len(got["endpoints"]) == rf, got
        routing = key_text.encode() if table == "roles" else uuid.UUID(key_text).bytes
        assert got["endpoints"] == node.replicas_for(stored, routing)


def test_different_replication_means_no_effective_ownership_as_cassandra_says() -> None:
    w = _world(72)
    status = admin_call(w, N1, "status")
    assert not status["effective"]
    assert status["note"] == ("Non-system keyspaces don't have the same replication settings, "
                              "effective ownership information is meaningless")
    assert sum(e["owns"] for e in status["endpoints"]) == pytest.approx(1.0)  # primary
    text = format_status(status)
    assert [p.owns for p in parse_status(text)] == [None, None, None]


def test_a_crashed_node_is_down_and_unreachable() -> None:
    w = _world(73)
    w.crash(N3)
    assert w.run_until(lambda: not any(w.nodes[a].node.membership.is_alive(N3) for a in (N1, N2)),
                       int(phi.convict_within_ms() * 1_000_000))
    status = admin_call(w, N1, "status", {"keyspace": "ks"})
    assert [(e["address"], e["up"]) for e in status["endpoints"]] == [
        (N1, True), (N2, True), (N3, False)]
    cluster = admin_call(w, N2, "describecluster")
    version = str(w.nodes[N2].node.schema.version)
    assert cluster["schema_versions"] == {version: [N1, N2], "UNREACHABLE": [N3]}
    assert (cluster["live"], cluster["unreachable"]) == (2, 1)
    assert cluster["datacenters"] == {"datacenter1": {"nodes": 3, "down": 1}}
    assert cluster["keyspaces"]["ks"] == "SimpleStrategy {replication_factor=2}"


def test_bad_arguments_are_refused_with_cassandras_messages() -> None:
    w = _world(74)
    with pytest.raises(AdminError, match="^The keyspace nope, does not exist$"):
        admin_call(w, N1, "status", {"keyspace": "nope"})
    with pytest.raises(AdminError, match="Table 'x' does not exist in keyspace 'ks'"):
        admin_call(w, N1, "getendpoints", {"keyspace": "ks", "table": "x", "key": "1"})
    with pytest.raises(AdminError, match="is not a int"):
        admin_call(w, N1, "getendpoints", {"keyspace": "ks", "table": "t", "key": "abc"})
    with pytest.raises(AdminError, match="unknown operation 'bogus'"):
        admin_call(w, N1, "bogus")
    with pytest.raises(AdminError, match="between 0 and 1"):
        admin_call(w, N1, "settraceprobability", {"probability": 1.5})
    with pytest.raises(AdminError, match="needs a node process"):
        admin_call(w, N1, "flush")


def test_trace_probability_traces_unflagged_requests_without_telling_the_client() -> None:
    w = _world(75)
    executor = w.nodes[N1].executor
    assert _q(w, N1, "INSERT INTO ks.t (k, v) VALUES (1, 1)").tracing_id is None
    assert not w.nodes[N1].node.tracer.sessions
    admin_call(w, N1, "settraceprobability", {"probability": 1.0})
    assert admin_call(w, N1, "gettraceprobability") == {"probability": 1.0}
    reply = _q(w, N1, "SELECT v FROM ks.t WHERE k = 1", ONE)
    assert reply.tracing_id is None and not executor.sampled
    w.run_for(3_000_000_000)  # the session is written to system_traces
    rows = _q(w, N2, "SELECT session_id FROM system_traces.sessions", ONE)
    assert len(rows.body.rows) == 1  # type: ignore[attr-defined]  # the SELECT, not the INSERT
