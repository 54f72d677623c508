"""Plain writes and LWTs on the same rows with one node's clock 500 ms behind (issue 14's mix),
on real node processes.

Cassandra's documentation warns that mixing lightweight transactions and ordinary writes on the
same data is unsafe: the LWT's timestamp comes from its ballot, the write's from a coordinator's
(or the client's) clock, and a write stamped below an LWT's result is silently lost. Here node 2
runs under libfaketime 500 ms behind the others. Client threads each own a few rows and run on
each of them, one operation after the other, a random mix of plain QUORUM writes (``UPDATE ...
SET v = ?``), LWTs (``UPDATE ... SET v = ? IF v = <the last value written>``) and QUORUM reads,
every operation of a row through the next coordinator (one session per node). Every value is
fresh. Then every row is read at ALL. The whole history must be linearizable
(``skewless.lab.cas_linearizability``): no acknowledged write or LWT result lost, no LWT told
"not applied" by a stale value. Half the threads use server-side timestamps (as in seed 000),
half the stock driver's client-side ones. The run is repeated as a control with Cassandra's
stamping (``--timestamp-policy wallclock``): there server-stamped writes through the slow node
are lost behind the LWTs, and the checker must say so."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from conftest import LocalCluster

from skewless.lab.cas_linearizability import cas_linearizable
from skewless.runtime.faketime import FaketimeFile

THREADS, ROWS_PER_THREAD, OPS_PER_THREAD = 4, 3, 300
BEHIND_S = -0.5
RUN_WAIT_S = 300  # every thread must end by then
REQUEST_TIMEOUT_S = 15.0


@pytest.mark.parametrize("policy", ["hlc", "wallclock"])
def test_plain_writes_and_lwts_on_the_same_rows_with_a_clock_500ms_behind(
        cluster_factory: Callable[..., LocalCluster],
        faketime: Callable[[str, float], FaketimeFile], policy: str) -> None:
    clock = faketime("node2", BEHIND_S)
    c = cluster_factory(3, extra=[["--timestamp-policy", policy]] * 3,
                        env=[{}, clock.env(), {}])
    s = c.session()
    s.execute("CREATE KEYSPACE mix WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE mix.r (k int PRIMARY KEY, v int)")
    # one session per node with server-side timestamps, one with the driver's client-side ones
    sessions = {ts: [c.session_to(n.address) for n in c.nodes] for ts in (False, True)}
    for ts, per_node in sessions.items():
        for session in per_node:
            session.use_client_timestamp = ts
    history: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(t: int) -> None:  # even threads: server-side timestamps; odd: client-side
        ops = _run_rows(sessions[t % 2 == 1],
                        [t * ROWS_PER_THREAD + i for i in range(ROWS_PER_THREAD)],
                        random.Random(t))
        with lock:
            history.extend(ops)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=RUN_WAIT_S)
        assert not th.is_alive(), "a client thread did not end"
    for k in range(THREADS * ROWS_PER_THREAD):
        history.append(_read(sessions[False][0], k, ConsistencyLevel.ALL))
    verdict = cas_linearizable(history)
    kinds = {kind: sum(1 for op in history if op["op"] == kind) for kind in ("write", "cas",
                                                                             "read")}
    failed = sum(1 for op in history if not op["ok"])
    not_applied = sum(1 for op in history if op["op"] == "cas" and op["ok"]
                      and not op["applied"])
    print(f"\n{policy}: {kinds}, {failed} failed, {not_applied} LWTs not applied\n{verdict}")
    if policy == "wallclock":  # the control: Cassandra's stamping loses writes here
        assert not verdict.ok, "wallclock stamping lost nothing: the test cannot tell"
        return
    assert verdict.ok, str(verdict)
    assert verdict.unknown == []
    assert sum(1 for op in history if op["op"] == "cas") > OPS_PER_THREAD  # the mix did mix
    assert failed == 0  # no fault but the clock: every operation answers


def _run_rows(sessions: list[Session], rows: list[int], rng: random.Random
              ) -> list[dict[str, Any]]:
    """One thread's operations: round-robin over its rows, each row's coordinator rotating."""
    last: dict[int, int | None] = {k: None for k in rows}
    turn = {k: rng.randrange(len(sessions)) for k in rows}
    history = []
    for i in range(OPS_PER_THREAD):
        k = rows[i % len(rows)]
        turn[k] += 1
        session = sessions[turn[k] % len(sessions)]
        value = i + 1  # fresh: a row's values are distinct
        pick = rng.random() if last[k] is not None else 0.0
        if pick < 0.4:
            op = _write(session, k, value)
        elif pick < 0.8:
            op = _cas(session, k, last[k], value)
        else:
            op = _read(session, k, ConsistencyLevel.QUORUM)
        history.append(op)
        if op["op"] != "read":
            last[k] = value
    return history


def _write(session: Session, k: int, value: int) -> dict[str, Any]:
    op = {"op": "write", "key": k, "value": value, "start": time.monotonic()}
    return _finish(op, lambda: session.execute(
        _statement("UPDATE mix.r SET v = %s WHERE k = %s", ConsistencyLevel.QUORUM),
        (value, k), timeout=REQUEST_TIMEOUT_S))


def _cas(session: Session, k: int, expected: int | None, value: int) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "cas", "key": k, "value": value, "expected": expected,
                          "start": time.monotonic()}

    def run() -> None:
        stmt = _statement("UPDATE mix.r SET v = %s WHERE k = %s IF v = %s",
                          ConsistencyLevel.QUORUM)
        rs = session.execute(stmt, (value, k, expected), timeout=REQUEST_TIMEOUT_S)
        op["applied"] = bool(rs.was_applied)
        if not rs.was_applied:
            op["seen"] = rs.one().v
    return _finish(op, run)


def _read(session: Session, k: int, level: int) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "read", "key": k, "value": None, "start": time.monotonic()}

    def run() -> None:
        row = session.execute(_statement("SELECT v FROM mix.r WHERE k = %s", level),
                              (k,), timeout=REQUEST_TIMEOUT_S).one()
        op["value"] = row.v if row else None
    return _finish(op, run)


def _statement(cql: str, level: int) -> SimpleStatement:
    return SimpleStatement(cql, consistency_level=level,
                           serial_consistency_level=ConsistencyLevel.SERIAL)


def _finish(op: dict[str, Any], run: Callable[[], object]) -> dict[str, Any]:
    try:
        run()
        op["ok"] = True
    except Exception as e:  # a timeout, an error: the outcome is unknown
        op.update(ok=False, error=type(e).__name__)
    op["end"] = time.monotonic()
    return op
