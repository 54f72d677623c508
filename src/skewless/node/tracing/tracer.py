"""A node's tracing sessions: traced messages, replica events, clock offsets, persistence.

Theory of operation
-------------------
``Tracer.begin`` opens a session for a traced CQL request (the executor asks). The coordinator
sends the request's replica messages with ``send``: a traced session wraps them in a
``TracedRequest`` carrying the coordinator's physical clock (t1); an untraced one sends them bare,
so untraced requests pay nothing. A replica answers a ``TracedRequest`` (``on_request``) with a
``TracedResponse`` holding the inner response, its events and its physical clock at receipt (t2)
and send (t3); the coordinator (``on_response``) reads its own clock (t4), estimates the
replica's offset (``node.offsets``), adds the events, and hands the inner response back to the
node to be processed as usual.

When the executor answers the request (``finish``), the session has its duration. It is written
once no traced message is outstanding, or ``limits.trace_replica_wait_ms`` after the answer
(checked on ``tick`` and after each traced response), so the events of replicas answering after
the consistency level was met are included.

Persistence: traces are ordinary replicated data in ``system_traces`` (SimpleStrategy, RF 2, as
Cassandra's), written through the normal write path with a one-day TTL, so any node can serve
them. The events are written first, at ALL (ONE if a replica is down), and only then the session
row: the drivers poll ``sessions`` until ``duration`` is set and then read ``events`` once, and
this order makes a visible session imply events on every live replica.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import CqlError, RemoteProtocolError
from skewless.node import consistency as cl_mod
from skewless.node import replica
from skewless.node.clock.offsets import OffsetEstimate, estimate_offset
from skewless.node.messages import (
    Message,
    MutationRequest,
    MutationResponse,
    ReadRequest,
    ReadResponse,
    TracedRequest,
    TracedResponse,
    pack,
    unpack,
)
from skewless.node.shadowing import ShadowReport
from skewless.node.tracing.records import (
    THREAD_MESSAGING,
    THREAD_MUTATION,
    THREAD_READ,
    ReplicaTrace,
    Trace,
    time_uuid,
)
from skewless.node.tracing.trace_store import trace_mutations, traces_keyspace
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.ports import TracerHost

log = logging.getLogger("skewless.tracer")

_VERB = {MutationRequest: "MUTATION_REQ", ReadRequest: "READ_REQ",
         MutationResponse: "MUTATION_RSP", ReadResponse: "READ_RSP"}


class Tracer:
    def __init__(self, node: TracerHost) -> None:
        self.node = node
        self.sessions: dict[bytes, Trace] = {}  # open, or answered and not yet written
        self._seq = 0
        self.probability = 0.0  # untraced requests traced anyway (nodetool settraceprobability)

    def _peer(self, address: str) -> str:
        return f"/{address}:{self.node.config.internode_port}"

    # ------------------------------------------------------------------ coordinator

    def begin(self, client: str, request: str, parameters: dict[str, str]) -> Trace | None:
        """A new session, or None when too many are open (the request then runs untraced)."""
        if len(self.sessions) >= limits.trace_sessions_open_max:
            log.warning("%d tracing sessions open; running a request untraced",
                        len(self.sessions))
            return None
        node = self.node
        self._seq += 1
        started_us = node.clock.real_time_us()
        session_id = time_uuid(started_us * 10, self._seq, node.host_id.int)
        trace = Trace(session_id, node.clock, node.address, node.config.internode_port, client,
                      request, started_us, node.clock.monotonic_ns(), parameters)
        self.sessions[session_id.bytes] = trace
        return trace

    def send(self, address: str, message: MutationRequest | ReadRequest,
             trace: Trace | None) -> None:
        """Send a replica request, wrapped when ``trace`` is a session."""
        if trace is None or trace.persisted:
            self.node.send(address, message)
            return
        inner = pack(message)
        trace.event(f"Sending {_VERB[type(message)]} message to {self._peer(address)} "
                    f"message size {len(inner)} bytes", THREAD_MESSAGING)
        trace.pending += 1
        clock = self.node.clock
        self.node.send(address, TracedRequest(trace.session_id.bytes, clock.real_time_us(),
                                              clock.monotonic_ns(), inner))

    def on_response(self, sender: str, m: TracedResponse) -> Message | None:
        """Record a replica's part of a session; the inner response, for the node to process."""
        # t4 from t1 and the monotonic time elapsed: a step of our wall clock meanwhile
        # cannot fake a round trip.
        elapsed_ns = max(self.node.clock.monotonic_ns() - m.coordinator_send_mono_ns, 0)
        t4 = m.coordinator_send_us + elapsed_ns // 1000
        try:
            inner = unpack(m.response)
        except RemoteProtocolError as e:
            log.warning("bad traced response from %s: %s", sender, e)
            return None
        trace = self.sessions.get(m.session_id)
        if trace is not None and not trace.persisted:
            est = estimate_offset(m.coordinator_send_us, m.replica_recv_us, m.replica_send_us, t4)
            trace.pending -= 1
            trace.replica_events(sender, est or OffsetEstimate(0.0, 0.0), m.events)
            verb = _VERB.get(type(inner), type(inner).__name__)
            trace.event(f"{verb} message received from {self._peer(sender)}", THREAD_MESSAGING)
            trace.clock_offset(sender, est)
        return inner

    def finish(self, trace: Trace) -> None:
        """The request is answered (written at the next ``settle``)."""
        trace.finish()

    def settle(self, now_ns: int) -> None:
        """Write every answered session whose replicas all responded or whose wait is over."""
        wait_ns = limits.trace_replica_wait_ms * 1_000_000
        stale_ns = (limits.read_timeout_ms + limits.trace_replica_wait_ms) * 1_000_000
        for key, trace in list(self.sessions.items()):
            if trace.duration_us is None:
                if now_ns - trace.start_ns > stale_ns:  # never answered: a bug, not a hang
                    log.warning("tracing session %s never finished; dropped", trace.session_id)
                    del self.sessions[key]
                continue
            if trace.pending <= 0 or now_ns - trace.finished_ns >= wait_ns:
                del self.sessions[key]
                self._persist(trace)

    def _persist(self, trace: Trace) -> None:
        trace.persisted = True
        node = self.node
        ks = traces_keyspace()
        ts = node.next_timestamp()  # trace rows: this node's own stamp even when fenced
        now_s = node.physical_us() // 1_000_000
        events, session = trace_mutations(trace, ts, now_s, node.rng.randbytes)

        def write(updates: list[PartitionUpdate], then: Callable[[], None] | None) -> None:
            def done(error: CqlError | None, _sh: tuple[ShadowReport, ...]) -> None:
                if error is not None:
                    log.info("tracing session %s: %s", trace.session_id, error)
                if then is not None:
                    then()
            for cl in (cl_mod.ALL, cl_mod.ONE):
                try:
                    node.write(ks, updates, cl, "SIMPLE", done)
                    return
                except CqlError as e:  # Unavailable at ALL: try ONE; Overloaded: give up
                    log.info("writing tracing session %s at %s: %s", trace.session_id,
                             cl_mod.NAMES[cl], e)
            done(None, ())

        if events is None:
            write([session], None)
        else:
            write([events], lambda: write([session], None))

    # ------------------------------------------------------------------ replica

    def on_request(self, sender: str, m: TracedRequest) -> None:
        node = self.node
        clock = node.clock
        rt = ReplicaTrace(clock, node.address, clock.real_time_us(), clock.monotonic_ns())
        try:
            inner = unpack(m.request)
        except RemoteProtocolError as e:
            log.warning("bad traced request from %s: %s", sender, e)
            return
        peer = self._peer(sender)
        rt.event(f"{_VERB.get(type(inner), '?')} message received from {peer}", THREAD_MESSAGING)
        response: MutationResponse | ReadResponse
        if isinstance(inner, MutationRequest):
            response, stage = replica.mutation_reply(node, inner, rt), THREAD_MUTATION
        elif isinstance(inner, ReadRequest):
            response, stage = replica.read_reply(node, inner, rt), THREAD_READ
        else:
            log.warning("traced message from %s wraps a %s; dropped", sender,
                        type(inner).__name__)
            return
        rt.event(f"Enqueuing response to {peer}", stage)
        rt.event(f"Sending {_VERB[type(response)]} message to {peer}", THREAD_MESSAGING)
        node.send(sender, TracedResponse(m.session_id, m.coordinator_send_us,
                                         m.coordinator_send_mono_ns, rt.recv_us,
                                         clock.real_time_us(), tuple(rt.events), pack(response)))

