"""The pure parts of tracing: the clock offset estimator, traced messages, session rows."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skewless.clock import ClockReading
from skewless.cql.terms import timeuuid_ms
from skewless.errors import RemoteProtocolError
from skewless.node.clock.offsets import OffsetEstimate, best, estimate_offset, format_offset
from skewless.node.messages import (
    Envelope,
    MutationRequest,
    ReadResponse,
    TracedRequest,
    TracedResponse,
    decode,
    encode,
    pack,
    unpack,
)
from skewless.node.tracing.records import TRACE_TTL_S, Trace
from skewless.node.tracing.trace_store import trace_mutations, traces_table

# ---------------------------------------------------------------- offsets


def test_symmetric_exchange_gives_the_exact_offset() -> None:
    # coordinator sends at 1000 (its clock); 300 µs each way; the peer is 200 ms behind and
    # takes 50 µs to answer.
    t1 = 1_000
    t2 = t1 + 300 - 200_000
    t3 = t2 + 50
    t4 = t1 + 300 + 50 + 300
    e = estimate_offset(t1, t2, t3, t4)
    assert e == OffsetEstimate(-200_000.0, 300.0)
    assert estimate_offset(t1, t2, t2 - 1, t4) is None  # the peer answered before receiving
    assert estimate_offset(t1, t2, t2 + 10_000, t4) is None  # held longer than the round trip
    assert format_offset(e) == "-200.0 ms (+-0.3 ms)"
    assert format_offset(OffsetEstimate(1_250.0, 40.0)) == "1.2 ms (+-0.0 ms)"


@given(st.integers(-10**9, 10**9), st.integers(0, 10**6), st.integers(0, 10**6),
       st.integers(0, 10**5), st.integers(0, 10**12))
def test_true_offset_always_within_the_bound(theta: int, out_us: int, back_us: int,
                                             work_us: int, t1: int) -> None:
    """Whatever the asymmetry of the two one-way delays, the bound holds."""
    t2 = t1 + out_us + theta
    t3 = t2 + work_us
    t4 = t3 - theta + back_us
    e = estimate_offset(t1, t2, t3, t4)
    assert e is not None and e.low_us <= theta <= e.high_us
    assert e.error_us == (out_us + back_us) / 2


def test_best_keeps_the_tighter_estimate() -> None:
    a, b = OffsetEstimate(10.0, 5.0), OffsetEstimate(12.0, 1.0)
    assert best(None, a) is a
    assert best(a, b) is b
    assert best(b, a) is b


# ---------------------------------------------------------------- messages


def test_traced_messages_round_trip() -> None:
    inner = MutationRequest(7, b"\x01\x02", False)
    req = TracedRequest(uuid.uuid1().bytes, 123, 456_000, pack(inner))
    assert decode(encode(Envelope(5, req))) == Envelope(5, req)
    assert unpack(req.request) == inner
    resp = TracedResponse(req.session_id, 123, 456_000, 99, 101,
                          ((100, 0, "received", "Messaging-EventLoop-1"),),
                          pack(ReadResponse(7, "", b"d", b"")))
    assert decode(encode(Envelope(6, resp))) == Envelope(6, resp)
    with pytest.raises(RemoteProtocolError):
        unpack(b"\xc1")
    with pytest.raises(RemoteProtocolError):
        unpack(pack(inner)[:1] + b"\x90")


# ---------------------------------------------------------------- sessions


class FixedClock:
    def __init__(self) -> None:
        self.mono_ns = 5_000_000
        self.real_us = 1_732_540_800_000_000

    def monotonic_ns(self) -> int:
        return self.mono_ns

    def real_time_us(self) -> int:
        return self.real_us

    def reading(self) -> ClockReading:
        return ClockReading(self.mono_ns, self.real_us, self.mono_ns)


def _trace(clock: FixedClock) -> Trace:
    return Trace(uuid.UUID(int=1, version=1), clock, "127.0.0.1", 7000, "10.0.0.1",
                 "Execute CQL3 query", clock.real_us, clock.mono_ns, {"query": "UPDATE"})


def test_replica_events_move_onto_the_coordinator_clock_and_ids_are_ordered() -> None:
    clock = FixedClock()
    t = _trace(clock)
    t.event("Parsing")
    t.write_timestamp(1_732_540_800_123_456, "hlc")
    t.write_timestamp(1_732_540_800_123_456, "hlc")  # recorded once
    est = OffsetEstimate(-200_000.0, 400.0)
    replica_real = clock.real_us - 200_000 + 700  # the replica's clock, 700 µs later
    t.replica_events("127.0.0.2", est, ((replica_real, 3, "received", "X"),
                                        (replica_real, 9, "applied", "X")))
    clock.mono_ns += 2_000_000
    clock.real_us += 2_000
    t.clock_offset("127.0.0.2", est)
    t.clock_offset("127.0.0.3", None)
    t.finish()
    rows = t.event_rows()
    assert [e.activity for _, e in rows] == [
        "Parsing", "Assigned write timestamp 1732540800123456 (hlc) on 127.0.0.1",
        "received", "applied",
        "Clock offset of 127.0.0.2 relative to coordinator: -200.0 ms (+-0.4 ms)",
        "Clock offset of 127.0.0.3 not measured: inconsistent timestamps (a clock stepped "
        "during the exchange)"]
    assert rows[2][1].at_us == clock.real_us - 2_000 + 700
    ids = [i for i, _ in rows]
    assert len(set(ids)) == len(ids) and all(i.version == 1 for i in ids)
    times = [i.time for i in ids]
    assert times == sorted(times)
    assert timeuuid_ms(ids[0].bytes) == (clock.real_us - 2_000) // 1000
    assert t.duration_us == 2_000
    p = t.session_parameters()
    assert p["write_timestamp"] == "1732540800123456" and p["write_timestamp_source"] == "hlc"
    assert p["clock_offset 127.0.0.2"] == "-200.0 ms (+-0.4 ms)"


def test_trace_rows_are_inserts_with_a_one_day_ttl() -> None:
    clock = FixedClock()
    t = _trace(clock)
    t.event("one")
    t.event("two")
    t.finish()
    now_s = clock.real_us // 1_000_000
    events, session = trace_mutations(t, 42, now_s, random.Random(0).randbytes)
    sessions_table, events_table = traces_table("sessions"), traces_table("events")
    assert sessions_table is not None and events_table is not None
    assert events is not None and events.table == events_table.table_key
    assert session.table == sessions_table.table_key
    assert events.key == session.key == t.session_id.bytes
    assert len(events.rows) == 2
    cells = [c.cell for r in (*events.rows, *session.rows) for c in r.cells]
    assert cells and all(c.ts_us == 42 and c.ttl_s == TRACE_TTL_S
                         and c.expires_s == now_s + TRACE_TTL_S for c in cells)
    names = {c.column for c in session.rows[0].cells}
    assert {"duration", "started_at", "coordinator", "parameters", "request"} <= names


def test_event_count_is_bounded() -> None:
    from skewless import limits
    t = _trace(FixedClock())
    for i in range(limits.trace_events_per_session_max + 5):
        t.event(str(i))
    assert len(t.events) == limits.trace_events_per_session_max and t.dropped == 5
    assert t.session_parameters()["events_dropped"] == "5"
