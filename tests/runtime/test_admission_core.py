"""runtime.admission's pure parts: the file-descriptor budget, the connection counts, and the
node options that set them (the real connections are in tests/integration/test_admission.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from skewless import limits
from skewless.config import NodeConfig
from skewless.runtime.admission import (
    ADMITTED,
    DROPPED,
    Admission,
    Budget,
    ConnFlow,
    Refused,
    connection_budget,
)


def test_budget_keeps_a_reserve_and_lowers_a_limit_that_does_not_fit() -> None:
    b = connection_budget(16_384, 1024, 20_000)
    assert (b.connections_max, b.per_ip_max, b.reserve, b.lowered) == (16_384, 1024, 2048, False)
    fits = 20_000 - limits.fd_reserve_count - limits.cql_refused_connections_pending_max
    assert connection_budget(-1, -1, 20_000).connections_max == fits  # -1: what fits
    low = connection_budget(16_384, 1024, 4096)
    assert low.lowered and low.connections_max == 4096 - 2048 - 256
    tiny = connection_budget(-1, -1, 1024)  # half the descriptors at most are reserved
    assert tiny.reserve == 512 and tiny.connections_max == 1024 - 512 - 256


def test_per_address_and_node_limits_refuse_then_drop() -> None:
    a = Admission(Budget(connections_max=3, per_ip_max=2, reserve=0, lowered=False))
    assert a.decide("10.0.0.1", 0.0) is ADMITTED
    assert a.decide("10.0.0.1", 0.0) is ADMITTED
    third = a.decide("10.0.0.1", 0.0)
    assert isinstance(third, Refused)
    assert third.message == ("Too many connections from 10.0.0.1: this node accepts at most 2 "
                             "client connections per address "
                             "(native_transport_max_concurrent_connections_per_ip)")
    assert a.decide("10.0.0.2", 0.0) is ADMITTED  # another address still gets in
    full = a.decide("10.0.0.3", 0.0)
    assert isinstance(full, Refused) and "native_transport_max_concurrent_connections)" in \
        full.message
    a.release("10.0.0.1", ADMITTED)
    assert a.decide("10.0.0.3", 0.0) is ADMITTED  # a slot given back is taken again
    a.release("10.0.0.1", third)
    a.release("10.0.0.3", full)
    assert a.refused_pending == 0 and a.refused_total == 2
    assert a.admitted == 3 and a.per_address == {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1}


def test_refused_connections_waiting_for_their_answer_are_bounded() -> None:
    a = Admission(Budget(connections_max=1, per_ip_max=-1, reserve=0, lowered=False))
    assert a.decide("10.0.0.1", 0.0) is ADMITTED
    refused = [a.decide("10.0.0.2", 0.0)
               for _ in range(limits.cql_refused_connections_pending_max)]
    assert all(isinstance(d, Refused) for d in refused)
    assert a.decide("10.0.0.2", 0.0) is DROPPED  # closed at once, unanswered
    a.release("10.0.0.2", refused[0])
    assert isinstance(a.decide("10.0.0.2", 0.0), Refused)


def test_unlimited_per_address() -> None:
    a = Admission(Budget(connections_max=100, per_ip_max=-1, reserve=0, lowered=False))
    assert all(a.decide("10.0.0.1", 0.0) is ADMITTED for _ in range(100))
    assert isinstance(a.decide("10.0.0.1", 0.0), Refused)


def test_node_options() -> None:
    c = NodeConfig()
    assert (c.native_transport_max_concurrent_connections,
            c.native_transport_max_concurrent_connections_per_ip,
            c.native_transport_idle_timeout_in_ms) == (16_384, 1024, 300_000)
    NodeConfig(native_transport_max_concurrent_connections=-1,
               native_transport_max_concurrent_connections_per_ip=-1,
               native_transport_idle_timeout_in_ms=0)
    with pytest.raises(ValueError, match="-1 .unlimited. or at least 1, got 0"):
        NodeConfig(native_transport_max_concurrent_connections_per_ip=0)
    with pytest.raises(ValueError, match="native_transport_max_concurrent_connections: must be"):
        NodeConfig(native_transport_max_concurrent_connections=limits.cql_connections_max + 1)
    with pytest.raises(ValueError, match="native_transport_idle_timeout_in_ms"):
        NodeConfig(native_transport_idle_timeout_in_ms=-5)


class _Transport(asyncio.WriteTransport):
    """What ConnFlow asks of a transport; ``buffered`` bytes wait to be sent."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0
        self.aborted = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class _Writer:
    def __init__(self) -> None:
        self.transport = _Transport()

    async def drain(self) -> None:
        """As asyncio's: wait while over the bound; raise once the connection is lost."""
        while not self.transport.aborted:
            await asyncio.sleep(0.001)
        raise ConnectionResetError("Connection lost")


def test_a_connection_that_does_not_read_gets_few_requests_dispatched() -> None:
    """The first requests are dispatched while their estimated answers fit the bound; once
    answers are measured (200 KB each) and wait unread, no more are dispatched."""
    async def run() -> None:
        a = Admission(Budget(10, -1, 0, False))
        inflight = [0]
        dispatched: list[object] = []

        def dispatch(ev: object) -> None:
            dispatched.append(ev)
            inflight[0] += 1

        writer = _Writer()
        flow = ConnFlow(a, "10.0.0.1", a.decide("10.0.0.1", 0.0), writer,  # type: ignore[arg-type]
                        is_ready=lambda: True, inflight=lambda: inflight[0], kick=lambda: None,
                        handshake_ms=5000, auth_required=False, idle_timeout_ms=0)
        flow.pending.extend(range(1000))  # type: ignore[arg-type]
        waiting = asyncio.ensure_future(flow.until_readable(dispatch))
        for _ in range(10):  # a share per turn (test below): enough turns to fill the bound
            await asyncio.sleep(0)
        first = len(dispatched)
        bound = limits.cql_connection_write_buffer_bytes_max
        assert first == bound // limits.cql_reply_bytes_estimate_initial + 1  # 1 with none out
        for _ in range(first):  # answered, 200 KB each, never read by the client
            inflight[0] -= 1
            writer.transport.buffered += 200_000
            flow.replied([bytes(200_000)])
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(dispatched) == first  # 6.4 MB wait: nothing more until the client reads
        assert not waiting.done()
        flow.abort()
        with pytest.raises(ConnectionResetError):
            await waiting
        flow.release()
        assert a.admitted == 0
    asyncio.run(run())



class _SteppedLoop(asyncio.SelectorEventLoop):
    """A loop whose clock moves only when a test says: a turn's length is then exact."""

    now = 0.0

    def time(self) -> float:
        return self.now


def _run_stepped(test: Callable[[_SteppedLoop], Awaitable[None]]) -> None:
    loop = _SteppedLoop()
    try:
        loop.run_until_complete(test(loop))
    finally:
        loop.close()


def _pipelining(a: Admission, requests: int) -> ConnFlow:
    flow = ConnFlow(a, "10.0.0.1", a.decide("10.0.0.1", 0.0), _Writer(),  # type: ignore[arg-type]
                    is_ready=lambda: True, inflight=lambda: 0, kick=lambda: None,
                    handshake_ms=5000, auth_required=False, idle_timeout_ms=0)
    flow.pending.extend(range(requests))  # type: ignore[arg-type]
    return flow


Pipelining = tuple[list[ConnFlow], list["asyncio.Task[bool]"]]


def _pipeline(loop: _SteppedLoop, a: Admission, names: str, requests: int, cost_s: float,
              started: list[str]) -> Pipelining:
    """A connection per letter of ``names`` with ``requests`` waiting, each taking ``cost_s``
    of the loop's clock to start; each start is logged in ``started`` by its letter."""
    def dispatcher(name: str) -> Callable[[object], None]:
        def dispatch(ev: object) -> None:
            started.append(name)
            loop.now += cost_s
        return dispatch

    flows = [_pipelining(a, requests) for _ in names]
    return flows, [asyncio.ensure_future(f.until_readable(dispatcher(n)))
                   for n, f in zip(names, flows, strict=True)]


def _close(pipelining: Pipelining) -> None:
    for flow, w in zip(*pipelining, strict=True):
        flow.abort()
        w.cancel()
        flow.release()


def test_connections_whose_requests_take_long_to_start_take_turns() -> None:
    """Two connections with 100 requests each waiting, each request taking a turn's time to
    start (as a local read of a big row): one request of a, then one of b, and so on; before
    turns, a started all 100 (the bound allows any number: nothing is in flight)."""
    async def run(loop: _SteppedLoop) -> None:
        a = Admission(Budget(10, -1, 0, False))
        order: list[str] = []
        pipelining = _pipeline(loop, a, "ab", 100, limits.cql_dispatch_turn_ms / 1000, order)
        for _ in range(3):
            await asyncio.sleep(0)
        assert order[:6] == ["a", "b"] * 3
        _close(pipelining)
    _run_stepped(run)


def test_cheap_requests_start_many_to_a_turn() -> None:
    """Requests that start in no time all start in one turn; one that takes just under a turn
    is followed by the next in the same turn."""
    async def run(loop: _SteppedLoop) -> None:
        a = Admission(Budget(10, -1, 0, False))
        started: list[object] = []

        def dispatch(ev: object) -> None:
            started.append(ev)
            if ev == 0:
                loop.now += limits.cql_dispatch_turn_ms / 1000 * 0.9

        flow = _pipelining(a, 100)
        waiting = asyncio.ensure_future(flow.until_readable(dispatch))
        await asyncio.sleep(0)
        assert len(started) == 100 and waiting.done() and waiting.result() is True
        flow.release()
    _run_stepped(run)


def test_busy_connections_share_a_turn() -> None:
    """Requests taking 1 ms to start: a connection alone starts a whole turn of them (10 ms);
    once three connections have requests left, each starts a third of that per loop turn, so
    a loop turn starts about 10 ms of requests however many connections pipeline."""
    async def run(loop: _SteppedLoop) -> None:
        a = Admission(Budget(10, -1, 0, False))
        started: list[str] = []
        pipelining = _pipeline(loop, a, "abc", 1000, 0.001, started)
        await asyncio.sleep(0)
        turn = limits.cql_dispatch_turn_ms
        assert started.count("a") in (turn, turn + 1) and a.busy == 3
        before = len(started)
        await asyncio.sleep(0)
        second = started[before:]
        assert [second.count(n) for n in "abc"] == [turn // 3 + 1] * 3, second
        _close(pipelining)
        assert a.busy == 0
    _run_stepped(run)
