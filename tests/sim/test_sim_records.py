"""Each client write and read is one record (node.write_record, node.read_record) that ends
answered, exactly once, in the deterministic simulator: the phases a write goes through for a
plain write, a list operation that reads first, a LOGGED batch, an ordered write, a restamped
write and commit wait, and a read's for a partition and for a scan page; the
transition table's shape; and the registry's check that flags a reply a request's record did
not give (``ClientRequests.problems``, run by ``World.check_requests`` and by the lab's
``exactly_one_reply`` verdict)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from skewless.cql.results import RowsResult, Void
from skewless.node import read_record
from skewless.node.consistency import QUORUM
from skewless.node.executor import Params
from skewless.node.record import Record
from skewless.node.requests import Record as RequestRecord
from skewless.node.write_record import TRANSITIONS, Phase, WriteRecord
from skewless.sim.world import World

N1 = "127.0.0.1"
P = Phase


def _world(seed: int, **options: object) -> tuple[World, list[Record]]:
    w = World(seed, n_nodes=3, trace_enabled=False, node_options=dict(options))
    assert w.stabilize()
    records: list[Record] = []
    requests = w.nodes[N1].node.requests
    attach = requests.attach

    def spy(conn: int, stream: int, record: RequestRecord) -> None:  # the real attach, observed
        assert isinstance(record, Record)
        records.append(record)
        attach(conn, stream, record)
    requests.attach = spy  # type: ignore[method-assign]
    _q(w, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 3}")
    _q(w, "CREATE TABLE ks.t (k int PRIMARY KEY, v int, l list<int>)")
    _q(w, "CREATE TABLE ks.o (k int PRIMARY KEY, v int) WITH ordered_writes = true")
    return w, records


def _q(w: World, text: str, conn: int = 1) -> object:
    return w.query_once(N1, text, Params(consistency=QUORUM), 10 * 10**9, conn)


def _trail(w: World, records: list[Record], text: str) -> list[object]:
    before = len(records)
    body = _q(w, text)
    assert isinstance(body, Void | RowsResult), body
    assert len(records) == before + 1, "not one record for the request"
    record = records[-1]
    assert isinstance(record, WriteRecord if isinstance(body, Void) else read_record.ReadRecord)
    assert record.answered
    return list(record.trail)


def test_each_write_is_one_record_through_its_phases() -> None:
    w, records = _world(81)
    assert _trail(w, records, "INSERT INTO ks.t (k, v) VALUES (1, 1)") == [
        P.START, P.REPLICATION, P.ANSWERED]
    _q(w, "UPDATE ks.t SET l = [1, 2, 3] WHERE k = 2")
    assert _trail(w, records, "UPDATE ks.t SET l[1] = 7 WHERE k = 2") == [
        P.START, P.LIST_READS, P.REPLICATION, P.ANSWERED]
    assert _trail(w, records, "BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (3, 3); "
                              "INSERT INTO ks.t (k, v) VALUES (4, 4); APPLY BATCH") == [
        P.START, P.REPLICATION, P.ANSWERED]
    assert _trail(w, records, "INSERT INTO ks.o (k, v) VALUES (1, 1)") == [
        P.START, P.FLOOR_QUERY, P.STAMPING, P.REPLICATION, P.ANSWERED]
    w.check_requests()


def test_each_read_is_one_record() -> None:
    w, records = _world(85)
    _q(w, "INSERT INTO ks.t (k, v) VALUES (1, 1)")
    R = read_record.Phase
    assert _trail(w, records, "SELECT v FROM ks.t WHERE k = 1") == [
        R.START, R.READING, R.ANSWERED]
    assert _trail(w, records, "SELECT v FROM ks.t WHERE k IN ()") == [R.START, R.ANSWERED]
    assert _trail(w, records, "SELECT v FROM ks.t") == [R.START, R.SCANNING, R.ANSWERED]
    w.check_requests()


def test_a_shadowed_write_goes_round_again() -> None:
    w, records = _world(82, max_future_timestamp_ms=5000.0)
    # data 2 s ahead of every clock (beyond max_offset_ms: no node folds it into its clock)
    ahead_us = w.nodes[N1].node.physical_us() + 2_000_000
    assert isinstance(_q(w, f"INSERT INTO ks.t (k, v) VALUES (1, 0) USING TIMESTAMP {ahead_us}"),
                      Void)
    assert _trail(w, records, "INSERT INTO ks.t (k, v) VALUES (1, 1)") == [
        P.START, P.REPLICATION, P.RESTAMP, P.REPLICATION, P.ANSWERED]
    w.check_requests()


def test_commit_wait_comes_last() -> None:
    w, records = _world(84, commit_wait=True)
    assert _trail(w, records, "INSERT INTO ks.t (k, v) VALUES (1, 1)") == [
        P.START, P.REPLICATION, P.COMMIT_WAIT, P.ANSWERED]
    w.check_requests()


@pytest.mark.parametrize("table", [TRANSITIONS, read_record.TRANSITIONS])
def test_every_phase_can_end_answered_and_answered_is_final(
        table: Mapping[Any, frozenset[Any]]) -> None:
    phases = set(table)
    start, answered = next(iter(table)), next(p for p in table if p.name == "ANSWERED")
    assert phases == set(start.__class__.__members__.values())
    assert table[answered] == frozenset()

    def reach(p: object) -> Iterator[object]:
        seen, todo = {p}, [p]
        while todo:
            for q in table[todo.pop()]:
                if q not in seen:
                    seen.add(q)
                    todo.append(q)
        yield from seen
    for phase in phases:
        assert answered in set(reach(phase)), phase
    assert set(reach(start)) == phases


class _Unanswered:
    answered = False

    def __repr__(self) -> str:
        return "write record (SIMPLE, replication)"


def test_a_reply_its_record_did_not_give_fails_the_check(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    # the lab's commands run in-process by other tests raise the "skewless" logger to CRITICAL
    caplog.set_level(logging.WARNING, logger="skewless.requests")
    w = World(83, n_nodes=1, trace_enabled=False)
    assert w.stabilize()
    node = w.nodes[N1]
    w.replies[8] = lambda r: None

    def bypass() -> None:
        node.node.requests.attach(8, 0, _Unanswered())
        node.executor._answer(8, 0, Void())
    w.request(N1, 8, 0, bypass, kind="write")
    w.run_for(10**8)
    problems = w.request_problems()
    assert any("not given by its record" in p for p in problems), problems
    assert "not given by its write record (SIMPLE, replication)" in caplog.text
