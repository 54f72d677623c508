"""CQL connection admission: who may connect, for how long, and how fast a client is served.

Theory of operation
-------------------
*File descriptors.* At start the node raises its soft ``RLIMIT_NOFILE`` to the hard limit
(``raise_fd_limit``) and keeps ``limits.fd_reserve_count`` descriptors (at most half of them)
for what is not a client: internode connections, RocksDB's files, the commit log, logs and the
listeners. What is left, less the refused connections that may wait to be told
(``limits.cql_refused_connections_pending_max``), bounds the CQL connections
(``connection_budget``); a configured ``native_transport_max_concurrent_connections`` above that
is lowered, with a warning. So a connection flood can never take the descriptors the node needs
to talk to its peers or open a file.

*Admission* (``Admission``, pure counting). A new connection is admitted while the node holds
fewer than ``native_transport_max_concurrent_connections`` admitted connections and its address
fewer than ``native_transport_max_concurrent_connections_per_ip`` (Cassandra's two limits,
``ConnectionLimitHandler``; -1 is unlimited). Over a limit, Cassandra logs "Exceeded maximum
native connection limit ..." and closes the channel, which drivers report only as a closed
connection; here the connection is kept just long enough to answer its first request (the
driver's OPTIONS) with an Overloaded error saying which limit and how to change it, then closed
(``limits.cql_refusal_answer_wait_ms`` at most). Refused connections waiting so are bounded;
beyond, they are closed at once unanswered, as Cassandra does. Refusals and closes are logged at
most once a second per kind (``_Throttled``), with a count of those not logged.

*Deadlines* (``ConnFlow``: one timer per connection). Until the connection is READY (STARTUP
answered READY, or AUTH_SUCCESS under PasswordAuthenticator) the timer is the handshake
deadline, ``limits.cql_handshake_ms`` (``limits.auth_handshake_ms`` when authentication is
required): a client that sends one byte a second is dropped at it. Then it is the idle timer,
``native_transport_idle_timeout_in_ms`` (0: off): a connection with no request read and no
answer written for that long, and nothing in flight, is closed (Cassandra measures idleness the
same way, reads and writes). The timer is re-armed lazily (it fires at the deadline of the last
activity known when it was set, and looks again), so activity costs one clock read, no timer.

*Self-throttling* (``ConnFlow.until_readable``). Requests parsed from a read wait in the
connection's ``pending`` queue and are dispatched while the answers they may produce fit the
connection's bound, ``limits.cql_connection_write_buffer_bytes_max``: the bytes already waiting
in the transport plus, for the requests in flight, an estimate of an answer's size (an average
of this connection's answers, ``limits.cql_reply_bytes_estimate_initial`` until it has some).
One request is always dispatched when none is in flight and the buffer is under the bound, so an
answer larger than the bound is still served. The next bytes are read only when ``pending`` is
empty and the transport's buffer is under the bound (asyncio's StreamReader stops reading the
socket meanwhile), so a client that pipelines requests and never reads its answers stops
itself: its requests wait in its own socket buffers, it holds a few requests of the node's
in-flight budget, not a thousand, and the node holds at most about the bound (plus the first
burst's answers) of its answers. A client that reads is never slowed: its answers leave at once
and the estimate only bounds what is in flight.

*Turns.* A connection starts requests for at most its turn of the loop (one request at least),
then yields the loop, so the requests of a client that pipelines thousands start a turn's worth
at a time, between those of the other connections and the node's peers. The turns of all the
connections that have requests left to start (``Admission.busy``) share
``limits.cql_dispatch_turn_ms`` (10 ms): one busy connection gets all of it, eight get 1.25 ms
each, so a turn of the loop starts about 10 ms of requests whoever sends them. Starting all
that fit the bound at once stalled a node for 1 to 2 s (and, on a busy machine, long enough
for its peers to convict it): 8 connections pipelining SELECTs of a 4 KB row each started
hundreds of local reads in one go (``bench_abuse``'s ``pipeline`` case). Not less than 10 ms
for one connection, because shorter turns split an ordinary busy connection's bursts and cost
CPU (``bench_load`` at 128 in flight: 2 ms turns used 10% more server CPU per row, 5 ms 5%,
10 ms none).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skewless import limits
from skewless.cql.connection import RequestReceived

log = logging.getLogger("skewless.admission")


# ------------------------------------------------------------------ file descriptors


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = limits.fd_soft_limit_max if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:  # a sandbox may refuse: keep what we have
            log.warning("cannot raise the file descriptor limit from %d to %d: %s",
                        soft, target, e)
            return soft, soft
        return soft, target
    after = limits.fd_soft_limit_max if soft == resource.RLIM_INFINITY else soft
    return after, after


@dataclass(frozen=True, slots=True)
class Budget:
    connections_max: int  # admitted connections, after the file descriptor budget
    per_ip_max: int  # -1: unlimited
    reserve: int  # descriptors kept for everything else
    lowered: bool  # the configured maximum did not fit the descriptors


def connection_budget(configured_max: int, configured_per_ip: int, fd_soft: int) -> Budget:
    """The connection limits that fit ``fd_soft`` descriptors (pure)."""
    reserve = min(limits.fd_reserve_count, fd_soft // 2)
    fits = max(1, fd_soft - reserve - limits.cql_refused_connections_pending_max)
    wanted = fits if configured_max < 0 else configured_max
    return Budget(min(wanted, fits), configured_per_ip, reserve, configured_max > fits)


# ------------------------------------------------------------------ admission (pure counting)


@dataclass(frozen=True, slots=True)
class Admitted:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    message: str  # the error the client is answered


@dataclass(frozen=True, slots=True)
class Dropped:
    pass  # refused, and too many refused connections wait already: closed unanswered


Decision = Admitted | Refused | Dropped
ADMITTED = Admitted()
DROPPED = Dropped()


class Admission:
    """Counts of admitted connections, per address, and of refused ones being answered."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.admitted = 0
        self.per_address: dict[str, int] = {}
        self.refused_pending = 0
        self.refused_total = 0
        self.closed_handshake_total = 0
        self.closed_idle_total = 0
        self.busy = 0  # connections whose last turn ended with requests still to start
        self._log = _Throttled()

    def decide(self, address: str, now: float) -> Decision:
        """Admit a new connection from ``address``, or refuse it (counted until ``release``)."""
        b = self.budget
        held = self.per_address.get(address, 0)
        if self.admitted >= b.connections_max:
            self._log.warning(now, "limit", "Exceeded maximum native connection limit of %d by "
                              "using %d connections", b.connections_max, self.admitted + 1)
            message = (f"Too many connections: this node accepts at most {b.connections_max} "
                       f"client connections (native_transport_max_concurrent_connections)")
        elif 0 < b.per_ip_max <= held:
            self._log.warning(now, "per-ip", "Exceeded maximum native connection limit per ip "
                              "of %d by using %d connections (from %s)", b.per_ip_max,
                              held + 1, address)
            message = (f"Too many connections from {address}: this node accepts at most "
                       f"{b.per_ip_max} client connections per address "
                       f"(native_transport_max_concurrent_connections_per_ip)")
        else:
            self.admitted += 1
            self.per_address[address] = held + 1
            return ADMITTED
        self.refused_total += 1
        if self.refused_pending >= limits.cql_refused_connections_pending_max:
            return DROPPED
        self.refused_pending += 1
        return Refused(message)

    def release(self, address: str, decision: Decision) -> None:
        """The connection ``decide`` answered with ``decision`` has closed."""
        if isinstance(decision, Refused):
            self.refused_pending -= 1
            assert self.refused_pending >= 0
        elif isinstance(decision, Admitted):
            self.admitted -= 1
            held = self.per_address[address] - 1
            if held:
                self.per_address[address] = held
            else:
                del self.per_address[address]
            assert self.admitted >= 0

    def closing(self, now: float, kind: str, message: str, *args: object) -> None:
        """Log (throttled) and count a connection closed by a deadline."""
        if kind == "idle":
            self.closed_idle_total += 1
        else:
            self.closed_handshake_total += 1
        self._log.info(now, kind, message, *args)


class AdmissionCollector(Collector):
    """Prometheus metrics of ``Admission`` (registered on the node's metrics endpoint)."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def collect(self) -> Iterator[Metric]:
        a = self.admission
        yield GaugeMetricFamily("skewless_cql_connections", "Admitted CQL connections",
                                value=a.admitted)
        yield GaugeMetricFamily("skewless_cql_connections_max", "CQL connections admitted at "
                                "most (native_transport_max_concurrent_connections, fitted to "
                                "the file descriptors)", value=a.budget.connections_max)
        yield CounterMetricFamily("skewless_cql_connections_refused", "CQL connections refused "
                                  "over native_transport_max_concurrent_connections(_per_ip)",
                                  value=a.refused_total)
        closed = CounterMetricFamily("skewless_cql_connections_closed", "CQL connections closed "
                                     "by the node: not READY in time (handshake) or idle",
                                     labels=["reason"])
        closed.add_metric(["handshake"], a.closed_handshake_total)
        closed.add_metric(["idle"], a.closed_idle_total)
        yield closed


class _Throttled:
    """A log line per kind at most once per ``limits.cql_admission_log_interval_ms``; the next
    one says how many were not logged meanwhile (a flood must not flood the log)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, now: float, kind: str, message: str, *args: object) -> None:
        self._emit(logging.WARNING, now, kind, message, args)

    def info(self, now: float, kind: str, message: str, *args: object) -> None:
        self._emit(logging.INFO, now, kind, message, args)

    def _emit(self, level: int, now: float, kind: str, message: str,
              args: tuple[object, ...]) -> None:
        last = self._last.get(kind)
        if last is not None and now - last < limits.cql_admission_log_interval_ms / 1000:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (and %d more like it not logged)"
            args = (*args, skipped)
        log.log(level, message, *args)


# ------------------------------------------------------------------ one connection (runtime)


class ConnFlow:
    """A connection's deadlines and self-throttling (see the module's docstring)."""

    def __init__(self, admission: Admission, address: str, decision: Decision,
                 writer: asyncio.StreamWriter, *, is_ready: Callable[[], bool],
                 inflight: Callable[[], int], kick: Callable[[], None],
                 handshake_ms: int, auth_required: bool, idle_timeout_ms: int) -> None:
        self.admission = admission
        self.address = address
        self.decision = decision
        self.refusal = decision.message if isinstance(decision, Refused) else None
        self.writer = writer
        self.pending: deque[RequestReceived] = deque()
        self.reply_bytes_estimate = float(limits.cql_reply_bytes_estimate_initial)
        self.wake = asyncio.Event()
        self.closed = False
        self._busy = False  # counted in ``admission.busy``
        self._is_ready = is_ready
        self._inflight = inflight
        self._kick = kick
        self._handshake_ms = handshake_ms
        self._auth_required = auth_required
        self._idle_s = idle_timeout_ms / 1000
        self._handshake_done = False
        self._loop = asyncio.get_running_loop()
        self.last_active = self._loop.time()
        bound = limits.cql_connection_write_buffer_bytes_max
        writer.transport.set_write_buffer_limits(high=bound, low=bound // 4)
        first_ms = limits.cql_refusal_answer_wait_ms if self.refusal is not None \
            else handshake_ms
        self._handshake_due = self.last_active + first_ms / 1000
        if self._idle_s > 0 and self.refusal is None:
            first_ms = min(first_ms, idle_timeout_ms)  # a READY connection may idle out first
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(first_ms / 1000,
                                                                        self._on_timer)

    # -- activity

    def touch(self) -> None:
        """Bytes were read from the client."""
        self.last_active = self._loop.time()

    def replied(self, answers: list[bytes]) -> None:
        """``answers`` to dispatched requests were written (one write for all of them)."""
        self.last_active = self._loop.time()
        estimate = self.reply_bytes_estimate
        for data in answers:
            estimate += (len(data) - estimate) / limits.cql_reply_bytes_estimate_weight
        self.reply_bytes_estimate = estimate
        self.wake.set()

    # -- throttling

    async def until_readable(self, dispatch: Callable[[RequestReceived], None]) -> bool:
        """Dispatch the pending requests as the bound allows; return when the next bytes may be
        read (False: the connection is closing)."""
        transport = self.writer.transport
        bound = limits.cql_connection_write_buffer_bytes_max
        while True:
            if self.closed or transport.is_closing():
                return False
            self.wake.clear()
            if self._dispatch(dispatch, bound):
                self._set_busy(True)
                await asyncio.sleep(0)  # its turn is used: the others go first
                continue
            self._set_busy(False)
            buffered = transport.get_write_buffer_size()
            if not self.pending and buffered <= bound:
                return True
            if buffered > bound:
                await self.writer.drain()  # under the low mark again (raises once lost)
            else:
                await self.wake.wait()  # an answer of ours left: room for another request

    def _dispatch(self, dispatch: Callable[[RequestReceived], None], bound: int) -> bool:
        """Dispatch pending requests while their answers fit ``bound``, for at most a turn's
        time; True when the turn ended it (more could go once the others had a turn)."""
        transport = self.writer.transport
        dispatched = False
        turn_ends = self._loop.time() + limits.cql_dispatch_turn_ms / 1000 / max(
            1, self.admission.busy)
        while self.pending:
            inflight = self._inflight()
            buffered = transport.get_write_buffer_size()
            if buffered > bound or buffered + inflight * self.reply_bytes_estimate > bound \
                    and inflight > 0:
                break
            if dispatched and self._loop.time() >= turn_ends:
                self._kick()  # what this turn started goes out while the others have theirs
                return True
            dispatch(self.pending.popleft())
            dispatched = True
        if dispatched:
            self._kick()
        return False

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.admission.busy += 1 if busy else -1
            assert self.admission.busy >= 0

    # -- deadlines

    def _on_timer(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = self._loop.time()
        if not self._handshake_done:
            if self.refusal is not None:
                self.abort()
                return
            if not self._is_ready() and now < self._handshake_due:
                self._timer = self._loop.call_at(self._handshake_due, self._on_timer)
                return
            if not self._is_ready():
                if self._auth_required:
                    self.admission.closing(now, "handshake", "closing client connection from "
                                           "%s: not authenticated within %d ms", self.address,
                                           self._handshake_ms)
                else:
                    self.admission.closing(now, "handshake", "closing client connection from "
                                           "%s: not READY (STARTUP) within %d ms", self.address,
                                           self._handshake_ms)
                self.abort()
                return
            self._handshake_done = True
        if self._idle_s <= 0:
            return
        busy = self.pending or self._inflight() > 0
        due = now + self._idle_s if busy else self.last_active + self._idle_s
        if due <= now:
            self.admission.closing(now, "idle", "closing client connection from %s: idle for "
                                   "%d ms (native_transport_idle_timeout_in_ms)", self.address,
                                   int(self._idle_s * 1000))
            self.abort()
            return
        self._timer = self._loop.call_at(due, self._on_timer)

    def abort(self) -> None:
        """Close now, whatever the client left unread."""
        self.writer.transport.abort()
        self.wake.set()

    def release(self) -> None:
        """The connection has closed: cancel the timer, give its slot back (once)."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.pending.clear()
        self._set_busy(False)
        self.admission.release(self.address, self.decision)
