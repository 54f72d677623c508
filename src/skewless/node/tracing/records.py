"""Query tracing records: a coordinator's session and a replica's part of it.

Theory of operation
-------------------
A CQL request with the tracing flag gets a ``Trace`` on its coordinator (``node.tracer`` makes
and keeps them). Each step appends an event: what happened (Cassandra's activity strings where
Cassandra has one), where (``source``), µs since the session began on that node
(``source_elapsed``, as Cassandra counts it) and a stage name in ``thread`` (Skewless runs one
event loop; the names say which stage Cassandra would use).

A replica that receives a traced request records its own steps in a ``ReplicaTrace`` (elapsed
counted from its receipt of the message) and returns them in the response; the coordinator adds
them to the session together with the replica's clock offset, estimated from the exchange's
four timestamps (``node.offsets``). Every event's time (the time in its ``event_id``) is on the
coordinator's clock: a replica's event is its own clock reading minus the measured offset, so
events sort in causal order even when a replica's clock is far off; the raw offset is shown as
its own event and in the session's ``parameters``.

Beyond Cassandra, a traced write records the write timestamp the coordinator assigned and where
it came from (the client, USING TIMESTAMP, or the node's ``hlc``/``wallclock`` source).

Bounds: at most ``limits.trace_events_per_session_max`` events per session (later ones are
counted in ``dropped`` and reported in the parameters).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from skewless import limits
from skewless.clock import Clock
from skewless.cql.terms import UUID_EPOCH_TICKS, timeuuid
from skewless.node.clock.offsets import OffsetEstimate, best, format_offset

THREAD_NATIVE = "Native-Transport-Requests-1"
THREAD_MESSAGING = "Messaging-EventLoop-1"
THREAD_MUTATION = "MutationStage-1"
THREAD_READ = "ReadStage-1"
THREAD_RESPONSE = "RequestResponseStage-1"

TRACE_TTL_S = 86400  # Cassandra keeps traces one day (TraceKeyspace's default TTL)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    at_us: int  # when, on the coordinator's clock (the time of the event id)
    source: str
    elapsed_us: int
    activity: str
    thread: str


def node_bits(address: str) -> int:
    """A 48-bit timeuuid node field naming an address (events of different sources differ)."""
    n = 0
    for part in address.replace(":", ".").split("."):
        n = (n * 1009 + (int(part) if part.isdigit() else len(part))) & 0xFFFFFFFFFFFF
    return n


def time_uuid(ticks: int, clock_seq: int, node: int) -> uuid.UUID:
    """A version-1 uuid at ``ticks`` (100 ns units since the Unix epoch)."""
    return uuid.UUID(bytes=timeuuid(ticks + UUID_EPOCH_TICKS, clock_seq, node))


@dataclass
class ReplicaTrace:
    """A replica's events for one traced message; elapsed counts from its receipt."""

    clock: Clock
    source: str
    recv_us: int
    start_ns: int
    events: list[tuple[int, int, str, str]] = field(default_factory=list)

    def event(self, activity: str, thread: str) -> None:
        if len(self.events) >= limits.trace_events_per_session_max:
            return
        elapsed_us = (self.clock.monotonic_ns() - self.start_ns) // 1000
        self.events.append((self.clock.real_time_us(), elapsed_us, activity, thread))


@dataclass
class Trace:
    """One tracing session on its coordinator."""

    session_id: uuid.UUID
    clock: Clock
    coordinator: str
    coordinator_port: int
    client: str
    request: str  # sessions.request: "Execute CQL3 query", ...
    started_us: int
    start_ns: int
    parameters: dict[str, str]
    events: list[TraceEvent] = field(default_factory=list)
    offsets: dict[str, OffsetEstimate] = field(default_factory=dict)
    write_timestamps: list[tuple[int, str]] = field(default_factory=list)
    pending: int = 0  # traced messages sent whose response has not come back
    dropped: int = 0
    duration_us: int | None = None
    finished_ns: int = 0
    persisted: bool = False
    noted: set[str] = field(default_factory=set)

    def event(self, activity: str, thread: str = THREAD_NATIVE) -> None:
        elapsed_us = (self.clock.monotonic_ns() - self.start_ns) // 1000
        self._add(TraceEvent(self.clock.real_time_us(), self.coordinator, elapsed_us,
                             activity, thread))

    def note_once(self, key: str, activity: str) -> None:
        """An event recorded only the first time ``key`` is noted in this session."""
        if key not in self.noted:
            self.noted.add(key)
            self.event(activity)

    def _add(self, e: TraceEvent) -> None:
        if len(self.events) >= limits.trace_events_per_session_max:
            self.dropped += 1
            return
        self.events.append(e)

    def replica_events(self, source: str, estimate: OffsetEstimate,
                       events: tuple[tuple[int, int, str, str], ...]) -> None:
        """Add a replica's events, their times moved onto this clock by ``estimate``."""
        for real_us, elapsed_us, activity, thread in events:
            self._add(TraceEvent(round(real_us - estimate.offset_us), source, elapsed_us,
                                 activity, thread))

    def clock_offset(self, source: str, estimate: OffsetEstimate | None) -> None:
        if estimate is None:
            self.event(f"Clock offset of {source} not measured: inconsistent timestamps "
                       "(a clock stepped during the exchange)", THREAD_RESPONSE)
            return
        self.offsets[source] = best(self.offsets.get(source), estimate)
        self.event(f"Clock offset of {source} relative to coordinator: "
                   f"{format_offset(estimate)}", THREAD_RESPONSE)

    def write_timestamp(self, ts_us: int, source: str) -> None:
        if (ts_us, source) in self.write_timestamps:
            return
        self.write_timestamps.append((ts_us, source))
        self.event(f"Assigned write timestamp {ts_us} ({source}) on {self.coordinator}")

    def finish(self) -> None:
        """The request is answered: the session's duration is known."""
        now_ns = self.clock.monotonic_ns()
        self.duration_us = (now_ns - self.start_ns) // 1000
        self.finished_ns = now_ns

    def session_parameters(self) -> dict[str, str]:
        """``parameters``: the request's, then the write timestamp(s) and the clock offsets."""
        p = dict(self.parameters)
        if self.write_timestamps:
            p["write_timestamp"] = ",".join(str(ts) for ts, _ in self.write_timestamps)
            p["write_timestamp_source"] = ",".join(src for _, src in self.write_timestamps)
        for source, e in sorted(self.offsets.items()):
            p[f"clock_offset {source}"] = format_offset(e)
        if self.dropped:
            p["events_dropped"] = str(self.dropped)
        return p

    def event_rows(self) -> list[tuple[uuid.UUID, TraceEvent]]:
        """The events with distinct version-1 event ids, ordered as the events (events in one
        µs get successive 100 ns ticks)."""
        out = []
        ticks = 0
        for seq, e in enumerate(sorted(self.events, key=lambda e: e.at_us)):
            ticks = max(e.at_us * 10, ticks + 1)
            out.append((time_uuid(ticks, seq, node_bits(e.source)), e))
        return out
