"""Query tracing in the simulator: sessions and events as replicated data, clock offsets."""

from __future__ import annotations

import re
import uuid

from skewless.cql.results import RowsResult
from skewless.cql.types import parse_type
from skewless.node.consistency import ALL, ONE, QUORUM
from skewless.node.effects import Reply
from skewless.sim.world import World

SLOW = "127.0.0.2"
OFFSET_RE = re.compile(r"Clock offset of (\S+) relative to coordinator: (\S+) ms \(\+-(\S+) ms\)")


def _rows(r: Reply) -> list[dict[str, object]]:
    body = r.body
    assert isinstance(body, RowsResult), body
    return [{c.name: None if v is None else parse_type(c.type).deserialize(v)
             for c, v in zip(body.columns, row, strict=True)} for row in body.rows]


def _world(seed: int) -> tuple[World, list[Reply]]:
    w = World(seed, n_nodes=3)
    assert w.stabilize()
    w.nodes[SLOW].clock.offset_us = -200_000
    replies: list[Reply] = []
    w.client_query("127.0.0.1", 1, "CREATE KEYSPACE ks WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}", QUORUM, replies.append)
    w.run_for(10**9)
    w.client_query("127.0.0.1", 1, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)", QUORUM,
                   replies.append)
    w.run_for(2 * 10**9)
    return w, replies


def _ask(w: World, replies: list[Reply], node: str, query: str, cl: int = ONE,
         tracing: bool = False) -> Reply:
    w.client_query(node, 9, query, cl, replies.append, tracing=tracing)
    w.run_for(10**9)
    return replies[-1]


def _trace(w: World, replies: list[Reply], session: uuid.UUID, via: str
           ) -> tuple[dict[str, object], list[dict[str, object]]]:
    sessions = _rows(_ask(w, replies, via,
                          f"SELECT * FROM system_traces.sessions WHERE session_id = {session}"))
    events = _rows(_ask(w, replies, via,
                        f"SELECT * FROM system_traces.events WHERE session_id = {session}"))
    assert len(sessions) == 1
    return sessions[0], events


def test_traced_update_records_replicas_timestamp_and_offsets() -> None:
    w, replies = _world(11)
    r = _ask(w, replies, "127.0.0.1", "UPDATE ks.t SET v = 1 WHERE k = 1", QUORUM, tracing=True)
    assert r.tracing_id is not None and r.tracing_id.version == 1
    writetime = _rows(_ask(w, replies, "127.0.0.3", "SELECT writetime(v) FROM ks.t WHERE k = 1"))
    for via in sorted(w.nodes):  # replicated data: every coordinator can read the trace
        session, events = _trace(w, replies, r.tracing_id, via)
        assert session["coordinator"] == "127.0.0.1" and session["client"] == "10.0.0.9"
        assert session["request"] == "Execute CQL3 query" and session["command"] == "QUERY"
        assert isinstance(session["duration"], int) and session["started_at"] is not None
        params = session["parameters"]
        assert isinstance(params, dict)
        assert params["write_timestamp"] == str(writetime[0]["writetime(v)"])
        assert params["write_timestamp_source"] == "hlc"
        assert {e["source"] for e in events} == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
        activities = [str(e["activity"]) for e in events]
        assert f"Assigned write timestamp {params['write_timestamp']} (hlc) on 127.0.0.1" \
            in activities
        offsets = {m[1]: (float(m[2]), float(m[3]))
                   for m in (OFFSET_RE.match(a) for a in activities) if m}
        assert set(offsets) == {"127.0.0.2", "127.0.0.3"}
        for node, (ms, err) in offsets.items():
            true_ms = -200.0 if node == SLOW else 0.0
            assert abs(ms - true_ms) <= err + 0.05, (node, ms, err)  # ±0.05: printed rounding
        ids = [e["event_id"] for e in events]
        assert len(set(ids)) == len(ids) and all(isinstance(i, uuid.UUID) and i.version == 1
                                                 for i in ids)


def test_traced_read_shows_replicas_and_read_repair() -> None:
    w, replies = _world(12)
    w.network.partition("127.0.0.1", "127.0.0.3")  # node 3 misses the write
    _ask(w, replies, "127.0.0.1", "INSERT INTO ks.t (k, v) VALUES (5, 50)", ONE)
    w.network.heal()
    w.run_for(10**9)
    r = _ask(w, replies, "127.0.0.3", "SELECT v FROM ks.t WHERE k = 5", ALL, tracing=True)
    assert _rows(r) == [{"v": 50}]
    assert r.tracing_id is not None
    _, events = _trace(w, replies, r.tracing_id, "127.0.0.2")
    activities = [str(e["activity"]) for e in events]
    assert any(a.startswith("Digest mismatch") for a in activities), activities
    assert any(a.startswith("Read repair: sending the missing data to") for a in activities)
    for node in ("127.0.0.1", "127.0.0.2"):
        assert any(e["source"] == node and str(e["activity"]).startswith("Executing single")
                   for e in events)


def test_untraced_requests_have_no_session() -> None:
    w, replies = _world(13)
    r = _ask(w, replies, "127.0.0.1", "UPDATE ks.t SET v = 1 WHERE k = 1", QUORUM)
    assert r.tracing_id is None
    assert not any("Traced" in line for line in w.trace)


def test_same_seed_same_trace() -> None:
    def run() -> list[str]:
        w, replies = _world(14)
        _ask(w, replies, "127.0.0.2", "UPDATE ks.t SET v = 2 WHERE k = 2", QUORUM, tracing=True)
        _ask(w, replies, "127.0.0.3", "SELECT v FROM ks.t WHERE k = 2", ALL, tracing=True)
        return w.trace
    assert run() == run()
