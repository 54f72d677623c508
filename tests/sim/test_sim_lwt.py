"""Lightweight transactions through the node's partition Paxos (node.lwt, node.lwt_path) in the
deterministic simulator: conditional statements on a 3-node cluster answer Cassandra's
``[applied]`` result sets, an uncontended LWT costs two round trips of internode messages,
a SERIAL read sees the committed value, and a node crash (kill -9) and restart neither loses a
committed LWT nor applies one twice; every request ends in exactly one reply."""

from __future__ import annotations

from collections import Counter

from skewless.cql.results import RowsResult, Void
from skewless.errors import CqlError, InvalidRequest
from skewless.node import lwt_path
from skewless.node.consistency import QUORUM, SERIAL
from skewless.node.messages import Envelope
from skewless.node.params import Params
from skewless.sim.world import SimNode, World

N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"
LWT_KINDS = {"LwtPrepare", "LwtPromise", "LwtPropose", "LwtAccepted", "LwtCommit",
             "LwtCommitAck"}


def _world(seed: int) -> tuple[World, Counter[str]]:
    w = World(seed, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    sent: Counter[str] = Counter()
    send = w._send

    def counting(sn: SimNode, sends: list[tuple[str, Envelope]]) -> None:
        for _, env in sends:
            sent[type(env.message).__name__] += 1
        send(sn, sends)
    w._send = counting  # type: ignore[method-assign]
    _q(w, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 3}")
    _q(w, "CREATE TABLE ks.t (k int PRIMARY KEY, v int, w text)")
    return w, sent


def _q(w: World, text: str, node: str = N1, cl: int = QUORUM, serial: int | None = None
       ) -> object:
    return w.query_once(node, text, Params(consistency=cl, serial_consistency=serial),
                        20 * 10**9)


def _rows(body: object) -> list[tuple[bytes | None, ...]]:
    assert isinstance(body, RowsResult), body
    return [tuple(r) for r in body.rows]


def _applied(body: object) -> bool:
    assert isinstance(body, RowsResult), body
    assert body.columns[0].name == "[applied]", body.columns
    return body.rows[0][0] == b"\x01"


def _int(v: int) -> bytes:
    return v.to_bytes(4, "big", signed=True)


def test_conditional_statements_answer_applied_and_the_current_row() -> None:
    w, _ = _world(1401)
    assert _applied(_q(w, "INSERT INTO ks.t (k, v, w) VALUES (1, 10, 'a') IF NOT EXISTS"))
    second = _q(w, "INSERT INTO ks.t (k, v, w) VALUES (1, 11, 'b') IF NOT EXISTS", node=N2)
    assert not _applied(second)
    assert _rows(second) == [(b"\x00", _int(1), _int(10), b"a")]  # [applied], k, v, w
    assert _applied(_q(w, "UPDATE ks.t SET v = 20 WHERE k = 1 IF v = 10", node=N3))
    failed = _q(w, "UPDATE ks.t SET v = 30 WHERE k = 1 IF v = 10")
    assert _rows(failed) == [(b"\x00", _int(20))]
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 1", cl=SERIAL)) == [(_int(20),)]
    assert _applied(_q(w, "BEGIN BATCH UPDATE ks.t SET w = 'z' WHERE k = 1 IF v = 20; "
                          "UPDATE ks.t SET v = 21 WHERE k = 1; APPLY BATCH", node=N2))
    assert _rows(_q(w, "SELECT v, w FROM ks.t WHERE k = 1")) == [(_int(21), b"z")]
    assert _applied(_q(w, "DELETE FROM ks.t WHERE k = 1 IF EXISTS"))
    assert not _applied(_q(w, "DELETE FROM ks.t WHERE k = 1 IF EXISTS"))
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 1")) == []
    # nodetool proxyhistograms' CAS columns: what each node coordinated, in virtual time
    latency = {a: w.nodes[a].node.latency for a in (N1, N2, N3)}
    assert [latency[a].coordinator_cas_write.count for a in (N1, N2, N3)] == [4, 2, 1]
    assert [latency[a].coordinator_cas_read.count for a in (N1, N2, N3)] == [1, 0, 0]
    assert latency[N1].coordinator_cas_write.percentiles_us()[0] > 0
    w.check_requests()


def test_bad_input_is_answered_with_cassandras_messages() -> None:
    w, _ = _world(1402)
    cases = {
        "UPDATE ks.t SET v = 1 WHERE k = 1 IF nope = 1": "Undefined column name nope",
        "INSERT INTO ks.t (k, v) VALUES (1, 1) IF NOT EXISTS USING TIMESTAMP 5":
            "Cannot provide custom timestamp for conditional updates",
        "BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (1, 1) IF NOT EXISTS; "
        "INSERT INTO ks.t (k, v) VALUES (2, 1); APPLY BATCH":
            "Batch with conditions cannot span multiple partitions",
        "SELECT * FROM ks.t WHERE k IN (1, 2)": lwt_path.ONE_PARTITION,
    }
    for text, message in cases.items():
        body = _q(w, text, cl=SERIAL if text.startswith("SELECT") else QUORUM)
        assert isinstance(body, InvalidRequest), (text, body)
        assert message in str(body), (text, str(body))
    body = _q(w, "INSERT INTO ks.t (k, v) VALUES (1, 1) IF NOT EXISTS", serial=QUORUM)
    assert isinstance(body, InvalidRequest)
    assert str(body) == ("Invalid consistency for conditional update. Must be one of SERIAL "
                         "or LOCAL_SERIAL")
    w.check_requests()


def test_an_uncontended_lwt_takes_two_round_trips() -> None:
    w, sent = _world(1403)
    _q(w, "INSERT INTO ks.t (k, v) VALUES (7, 0) IF NOT EXISTS")  # warm up nothing: cold
    for i in range(5):
        before = Counter({k: v for k, v in sent.items() if k in LWT_KINDS})
        assert _applied(_q(w, f"UPDATE ks.t SET v = {i + 1} WHERE k = 7 IF v = {i}",
                           node=(N1, N2, N3)[i % 3]))
        after = Counter({k: v for k, v in sent.items() if k in LWT_KINDS})
        delta = after - before
        # two round trips to the two other replicas: prepare/promise, propose/accepted (the
        # commit rides on the propose); no separate commit round
        assert delta == Counter({"LwtPrepare": 2, "LwtPromise": 2, "LwtPropose": 2,
                                 "LwtAccepted": 2}), delta
    assert sum(w.nodes[a].node.lwt.contentions for a in (N1, N2, N3)) == 0
    assert [w.nodes[a].node.lwt.started for a in (N1, N2, N3)] == [3, 2, 1]
    from skewless.runtime.metrics import NodeCollector

    exported = {m.name: m.samples[0].value for m in NodeCollector(w.nodes[N1].node).collect()
                if m.name.startswith("skewless_cas_")}
    assert exported == {"skewless_cas_requests": 3.0, "skewless_cas_contentions": 0.0}
    w.check_requests()


def test_a_crashed_replica_neither_loses_nor_repeats_a_committed_lwt() -> None:
    w, _ = _world(1404)
    assert _applied(_q(w, "INSERT INTO ks.t (k, v) VALUES (3, 0) IF NOT EXISTS"))
    w.crash(N3)
    for i in range(3):  # a quorum is still up: every increment applies once
        assert _applied(_q(w, f"UPDATE ks.t SET v = {i + 1} WHERE k = 3 IF v = {i}",
                           node=(N1, N2)[i % 2]))
    w.restart(N3)
    assert w.stabilize()
    w.crash(N1)
    assert _applied(_q(w, "UPDATE ks.t SET v = 4 WHERE k = 3 IF v = 3", node=N3))
    assert not _applied(_q(w, "UPDATE ks.t SET v = 4 WHERE k = 3 IF v = 3", node=N2))
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 3", node=N3, cl=SERIAL)) == [(_int(4),)]
    w.restart(N1)
    assert w.stabilize()
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 3", node=N1, cl=SERIAL)) == [(_int(4),)]
    w.check_requests()


def test_no_quorum_is_unavailable_never_a_wrong_applied() -> None:
    w, _ = _world(1405)
    assert _applied(_q(w, "INSERT INTO ks.t (k, v) VALUES (5, 0) IF NOT EXISTS"))
    w.crash(N2)
    w.crash(N3)
    w.run_for(30 * 10**9)  # the failure detector convicts them
    body = _q(w, "UPDATE ks.t SET v = 1 WHERE k = 5 IF v = 0")
    assert isinstance(body, CqlError) and not isinstance(body, Void), body
    assert type(body).__name__ in ("Unavailable", "WriteTimeout"), body
    w.check_requests()


def _paxos_states(sn: SimNode, table: str) -> list[str]:
    """The partitions of ``table`` (ks.<table>) with Paxos state on ``sn``."""
    from skewless.node.lwt import META_PREFIX
    from skewless.node.paxos.acceptor import state_key

    tdef = sn.node.schema.table("ks", table)
    assert tdef is not None
    prefix = META_PREFIX + state_key(tdef.table_key, b"").hex()
    return [n for n, _ in sn.node.storage.meta_after(prefix, "", 1000)]


def test_paxos_state_is_durable_meta_and_swept_after_gc_grace() -> None:
    w, _ = _world(1406)
    _q(w, "CREATE TABLE ks.g (k int PRIMARY KEY, v int) WITH gc_grace_seconds = 1")
    for k in range(3):
        assert _applied(_q(w, f"INSERT INTO ks.g (k, v) VALUES ({k}, 0) IF NOT EXISTS"))
        assert _applied(_q(w, f"INSERT INTO ks.t (k, v) VALUES ({k}, 0) IF NOT EXISTS"))
    for a in (N1, N2, N3):  # every replica accepted and committed each partition
        assert len(_paxos_states(w.nodes[a], "t")) == 3, a
        assert 0 < len(_paxos_states(w.nodes[a], "g")) <= 3, a  # a sweep may have come
    w.run_for(25 * 10**9)  # past gc_grace (1 s) and a purge sweep (every 10 s)
    for a in (N1, N2, N3):  # ks.t keeps its 10 days of gc_grace
        assert len(_paxos_states(w.nodes[a], "t")) == 3, a
        assert _paxos_states(w.nodes[a], "g") == [], a
    assert not _applied(_q(w, "INSERT INTO ks.g (k, v) VALUES (1, 5) IF NOT EXISTS"))
    w.check_requests()


def test_concurrent_cas_on_one_partition_applies_once() -> None:
    w, _ = _world(1407)
    assert _applied(_q(w, "INSERT INTO ks.t (k, v) VALUES (9, 0) IF NOT EXISTS"))
    out: dict[int, object] = {}
    for round_ in range(4):
        out.clear()
        for conn, node in ((11, N1), (12, N2), (13, N3)):  # three proposers at once
            w.client_execute(node, conn, f"UPDATE ks.t SET v = {round_ + 1}, w = '{node}' "
                                         f"WHERE k = 9 IF v = {round_}",
                             Params(consistency=QUORUM),
                             lambda r, conn=conn: out.__setitem__(conn, r.body))
        assert w.run_until(lambda: len(out) == 3, 30 * 10**9)
        applied = [c for c, body in out.items()
                   if isinstance(body, RowsResult) and _applied(body)]
        assert len(applied) == 1, out  # this seed: no timeout, exactly one winner per round
        for c, body in out.items():
            if c not in applied:  # the losers see the winner's value
                assert _rows(body) == [(b"\x00", _int(round_ + 1))], body
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 9", cl=SERIAL)) == [(_int(4),)]
    assert sum(w.nodes[a].node.lwt.contentions for a in (N1, N2, N3)) > 0  # they did contend
    w.check_requests()


def test_session_tokens_order_an_lwt_after_the_write_they_cover() -> None:
    from skewless.node.clock.session_token import PAYLOAD_KEY
    from skewless.node.effects import Reply

    w, _ = _world(1408)

    def token_of(text: str, token_us: int | None, node: str, cl: int = QUORUM) -> int:
        got: list[Reply] = []
        w.client_execute(node, 2, text, Params(consistency=cl, token_us=token_us), got.append)
        assert w.run_until(lambda: bool(got), 20 * 10**9), text
        payload = dict(got[0].custom_payload)
        assert not isinstance(got[0].body, CqlError), got[0].body
        return int.from_bytes(payload[PAYLOAD_KEY], "big", signed=True)

    far = w.nodes[N1].node.physical_us() + 300_000  # a token 300 ms ahead of N2's clock
    lwt = token_of("INSERT INTO ks.t (k, v) VALUES (8, 1) IF NOT EXISTS", far, N2)
    assert lwt > far  # the LWT's commit is stamped above the token it was given
    read = token_of("SELECT v FROM ks.t WHERE k = 8", lwt, N3, cl=SERIAL)
    assert read == lwt  # the SERIAL read's token: the newest timestamp it returned
    plain = token_of("UPDATE ks.t SET v = 2 WHERE k = 8", read, N1)
    assert plain > lwt  # an ordinary write after it is stamped above the LWT
    assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 8")) == [(_int(2),)]


def test_plain_writes_and_lwts_mix_with_a_clock_500ms_behind() -> None:
    """Sequential per key, through different coordinators, N2's clock 500 ms behind: every
    acknowledged plain write and LWT result is what the next one sees (nothing lost)."""
    w, _ = _world(1409)
    w.nodes[N2].clock.offset_us -= 500_000
    w.run_for(3 * 10**9)
    expected = 0
    for i in range(6):
        plain_via, lwt_via = (N1, N2, N3)[i % 3], (N2, N3, N1)[i % 3]
        _q(w, f"UPDATE ks.t SET v = {expected + 1} WHERE k = 20", node=plain_via)
        expected += 1
        body = _q(w, f"UPDATE ks.t SET v = {expected + 1} WHERE k = 20 IF v = {expected}",
                  node=lwt_via)
        assert _applied(body), (i, body)  # it saw the plain write acknowledged before it
        expected += 1
        assert _rows(_q(w, "SELECT v FROM ks.t WHERE k = 20", node=plain_via)) == [
            (_int(expected),)], i
    w.check_requests()
