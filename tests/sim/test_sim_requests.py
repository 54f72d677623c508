"""Exactly one reply per client request (node.requests), in the deterministic simulator: a
planted exception in a continuation run from a peer's message is that request's one ServerError
(with an error id the log shows beside the traceback) and leaks nothing; a lost reply is
answered at its deadline and flagged; a second reply is dropped and flagged."""

from __future__ import annotations

import logging
import re

import pytest

from skewless import limits
from skewless.cql.results import Void
from skewless.errors import CqlError, ServerError
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.node.executor import Params
from skewless.sim.world import World

N1 = "127.0.0.1"


def _setup(seed: int) -> World:
    w = World(seed, n_nodes=3, trace_enabled=False)
    assert w.stabilize()
    _q(w, N1, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}")
    _q(w, N1, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    return w


def _q(w: World, node: str, text: str, conn: int = 1) -> object:
    return w.query_once(node, text, Params(consistency=QUORUM), 10 * 10**9, conn)


def test_planted_exception_in_a_peer_message_continuation_is_one_server_error(
        caplog: pytest.LogCaptureFixture) -> None:
    w = _setup(5)
    w.set_raise_at(N1, "peer-message-continuation")
    requests = w.nodes[N1].node.requests
    with caplog.at_level(logging.ERROR, logger="skewless.requests"):
        body = _q(w, N1, "INSERT INTO ks.t (k, v) VALUES (1, 1)", conn=2)
    assert isinstance(body, ServerError), body
    m = re.search(r"error id (\S+)\)", body.message)
    assert m is not None, body.message
    logged = [r for r in caplog.records if m.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None, "the error id is not logged with a traceback"
    assert "PlantedError" in caplog.text
    assert requests.planted_errors == 1 and len(requests) == 0
    # the node goes on serving; nothing is left open, nothing answered twice
    assert isinstance(_q(w, N1, "INSERT INTO ks.t (k, v) VALUES (2, 2)", conn=3), Void)
    w.check_requests()


def test_a_lost_reply_is_answered_at_its_deadline_and_fails_the_check() -> None:
    w = World(1, n_nodes=1, trace_enabled=False)
    assert w.stabilize()
    got: list[Reply] = []
    w.replies[7] = got.append
    w.request(N1, 7, 0, lambda: None)  # a request whose processing never answers
    w.run_for((limits.request_timeout_ms + limits.client_request_deadline_slack_ms - 100)
              * 10**6)
    assert not got
    w.run_for(10**9)
    assert len(got) == 1 and isinstance(got[0].body, ServerError), got
    assert "no reply within" in got[0].body.message
    problems = w.request_problems()
    assert any("answered only at their deadline" in p for p in problems), problems


def test_a_second_reply_is_dropped_and_fails_the_check() -> None:
    w = World(2, n_nodes=1, trace_enabled=False)
    assert w.stabilize()
    ex = w.nodes[N1].executor
    got: list[Reply] = []
    w.replies[8] = got.append

    def twice() -> None:
        ex._answer(8, 0, Void())
        ex._answer(8, 0, Void())
    w.request(N1, 8, 0, twice)
    w.run_for(10**8)
    assert len(got) == 1
    problems = w.request_problems()
    assert any("second reply" in p for p in problems), problems


def test_an_internal_error_in_the_simulator_fails_at_once() -> None:
    w = World(3, n_nodes=1, trace_enabled=False)
    assert w.stabilize()
    w.replies[9] = lambda r: None
    with pytest.raises(AssertionError, match="internal error") as info:
        w.request(N1, 9, 0, lambda: 1 // 0)  # type: ignore[func-returns-value]
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_late_answer_to_a_reused_stream_is_not_taken_as_the_newer_request() -> None:
    """The client reused the stream after the first request's (internal-error) answer: the
    first request's late continuation answers again, under its own context: dropped."""
    w = World(4, n_nodes=1, trace_enabled=False)
    assert w.stabilize()
    ex = w.nodes[N1].executor
    requests = w.nodes[N1].node.requests
    got: list[Reply] = []
    w.replies[10] = got.append
    late: list[object] = []

    def first() -> None:
        late.append(requests.bind(lambda: ex._answer(10, 0, Void())))
        raise CqlError("first request refused")
    w.request(N1, 10, 0, first)
    w.request(N1, 10, 0, lambda: None)  # the newer request on the same stream, still open
    late[0]()  # type: ignore[operator]
    w._flush(w.nodes[N1])
    assert [type(r.body).__name__ for r in got] == ["CqlError"]
    assert len(requests) == 1  # the newer one is still open, waiting for its own answer
