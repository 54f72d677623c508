"""Where write timestamps come from: cluster time, the hybrid logical clock, and fencing.

Theory of operation
-------------------
A node reads *cluster time*: its raw real-time clock plus the correction that clock agreement
measured (``node.clockwatch``), when compensation is on and the node's clock is in bounds. That
reading feeds the timestamp source (``skewless.clock.TimestampSource``: ``hlc`` or
``wallclock``), which issues write timestamps.

* **Monotonic across restarts.** Under ``hlc`` the node keeps in its storage (metadata
  ``stamp_floor``) a ceiling above every timestamp it has issued: when a stamp would pass it,
  the ceiling moves ``stamp_ceiling_lease_ms`` further, recorded with the writes of the same
  Ready batch (durable before anything stamped above the old ceiling leaves the node; one
  metadata write per lease, not per write). After a restart the node does not stamp itself
  until its clock is past that ceiling (peers stamp for it, as when fenced), so it never stamps
  below what it stamped before, and never ahead of cluster time either.
* **Far-future timestamps.** A timestamp seen elsewhere more than ``max_offset_ms`` ahead of
  both cluster time and this node's clock is not folded into the clock: one bad clock must not
  drag every node's clock into the future (the data is still applied). Stamps within that
  bound of the clock are folded even when cluster time has moved back (a majority of clocks
  stepped back): the stamps issued before the move are real, and every node must stay above
  them.
* **Steps.** When this node's raw clock steps, every peer sample taken before the step is
  dropped (it measured the old clock) and cluster time follows the monotonic clock from the
  last reading until a majority is measured again (``physical_us``). Readings are bracketed
  (``skewless.clock.ClockReading``: real time read between two monotonic readings) and the
  step test allows for both brackets' widths, so a preemption on a starved machine is never
  taken for a step. Reading time is pure; the tick detects and acts on a step
  (``_watch_step``).
* **Once per input.** The node reads cluster time once per input (a peer's message, the tick,
  a client request or one of its continuations: ``begin_input``/``end_input``), when first
  asked for, and every later ask in that input gets the same value: the clock is read once
  per message received and sent, not once per use. An input is short (no I/O, no waiting):
  the stamps stay strictly increasing (the HLC), commit wait only waits longer on a reading
  taken earlier in the input, and the tick reads again
  after it changes the agreement, the anchor or the step state. Outside an input (a runtime
  callback no input encloses) every read is fresh. Clock agreement does not use cluster time:
  its pings and pongs carry raw readings taken when sent (``_watch_clocks``, ``on_message``).
* **Fencing.** Under ``hlc`` a node whose clock is out of bounds (no majority agrees on cluster
  time, or its offset exceeds ``max_offset_ms``) does not stamp with its clock. A write whose
  consistency level meets every quorum is ordered by restamping anyway: it gets a stamp from
  the hybrid clock's logical part alone (``node.clock.fencing`` says which levels, and why).
  For any other write ``stamp`` asks a peer
  whose clock it measured in bounds for a timestamp (``StampRequest``/``StampResponse``: one
  round trip), so the client still gets its answer; with no such peer, or no answer in time,
  the write fails with Overloaded naming the clock problem (the drivers try the next host).
  The node stamps again by itself as soon as its clock is back in bounds.

Under ``wallclock`` (Cassandra's behaviour) there is no correction, no floor and no fencing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from skewless import limits
from skewless.clock import ClockReading, TimestampSource
from skewless.node.clock.clockwatch import ClockWatch
from skewless.node.messages import ClockPing, ClockPong, StampRequest, StampResponse

if TYPE_CHECKING:
    from skewless.node.ports import StampingHost

log = logging.getLogger("skewless.stamping")

StampDone = Callable[[int | None, str], None]  # (timestamp, or None and why not)


class _Judged(NamedTuple):
    cluster_us: int  # cluster time at the reading
    direct: bool  # the raw clock's corrected reading (not extrapolated from the anchor)
    raw_step_us: int  # the raw clock's jump against the anchor (0 without one)
    new_step: bool  # a step not seen before: the tick drops the samples taken before it


@dataclass
class _Pending:
    peer: str
    deadline_ns: int
    done: StampDone


class Stamping:
    def __init__(self, node: StampingHost) -> None:
        self.node = node
        cfg = node.config
        self.hlc = cfg.timestamp_policy == "hlc"
        self.restart_floor_us = self._stamp_floor()
        # The clock does not start at the restart ceiling: the node is fenced until its clock is
        # past it, and the floors it sends peers meanwhile must be stamps, not a lease bound.
        self.ts = TimestampSource(cfg.timestamp_policy)
        self.ceiling_us = self.restart_floor_us  # durable bound above every issued stamp
        # Under `wallclock` (Cassandra's behaviour) nodes stamp with their raw clocks.
        self.clocks = ClockWatch(cfg.clock_alarm_ms, cfg.max_offset_ms,
                                 cfg.clock_compensation and self.hlc)
        self.far_future_ignored = 0  # remote timestamps too far ahead to fold into the clock
        self.remote_stamps = 0  # timestamps this node asked a peer for while fenced
        self.logical_stamps = 0  # stamps issued while fenced from the logical clock alone
        self.pending: dict[int, _Pending] = {}
        self.commit_waiters: list[tuple[int, Callable[[], None]]] = []  # bounded by ops in flight
        # cluster time, raw µs, monotonic ns (the bracket's middle), the bracket's width (µs)
        self._anchor: tuple[int, int, int, int] | None = None
        self.step_suspected = False
        self._step_at_ns = 0
        self._raw_step_us = 0  # the raw clock's jump (against the anchor) when last seen
        # Cluster time read once per input (``begin_input``): None until first asked for.
        self._now_us: int | None = None
        self._inputs = 0  # inputs open (they nest)

    def _stamp_floor(self) -> int:
        raw = self.node.storage.get_meta("stamp_floor")
        if raw is None or not self.hlc:
            return 0
        return int(raw.decode())

    # ------------------------------------------------------------------ reading time

    def physical_us(self) -> int:
        """Cluster time: the raw clock corrected by its measured offset (when trusted).

        A pure read (no state changes): a bracketed reading (``ClockReading``) judged against
        the anchor, the last trusted reading. If the raw clock looks stepped since (leap
        second, NTP step, a VM resumed) and the correction has not been re-measured since, the
        old correction no longer applies: cluster time is extrapolated from the anchor by
        monotonic time. The step itself (forgetting samples, the warning) is acted on by the
        tick (``_watch_step``)."""
        now = self._now_us
        if now is None:
            now = self._judge(self.node.clock.reading()).cluster_us
            if self._inputs:
                self._now_us = now  # the rest of this input reads the same cluster time
        return now

    def begin_input(self) -> None:
        """An input starts (a peer's message, the tick, a client request): cluster time is
        read once, when first asked for, and that reading serves the whole input. Inputs
        nest (a client request's entry inside a peer's message): the outermost one bounds
        the reading."""
        self._inputs += 1

    def end_input(self) -> None:
        self._inputs -= 1
        if not self._inputs:
            self._now_us = None  # outside an input every read is fresh

    def _reread(self) -> None:
        """The clock's state changed within the input (agreement, anchor, step): the cluster
        time read before no longer follows from it."""
        self._now_us = None

    def _judge(self, r: ClockReading) -> _Judged:
        """Cluster time at reading ``r``, and whether the raw clock stepped since the anchor.

        Both readings pair a real time with a monotonic one only within their brackets, so
        the slack allows half of each width on top of ``clock_step_us_min``: a preemption in
        the middle of a read can widen the bracket, never fake a step."""
        candidate = r.real_us + self.clocks.correction_us()
        if self._anchor is None:
            return _Judged(candidate, True, 0, False)
        at_candidate, at_raw, at_ns, at_width_us = self._anchor
        elapsed_us = (r.mono_mid_ns - at_ns) // 1000
        raw_step = r.real_us - (at_raw + elapsed_us)
        expected = at_candidate + elapsed_us
        slack = limits.clock_step_us_min + (r.width_us + at_width_us) // 2 + 1
        if abs(raw_step) <= slack or abs(candidate - expected) <= slack:
            return _Judged(candidate, True, raw_step, False)
        if not self.step_suspected or abs(raw_step - self._raw_step_us) > slack:
            # A new step (the first, or the clock moved again since the last one): only
            # samples taken after it may vouch for the raw clock.
            return _Judged(expected, False, raw_step, True)
        if (self.clocks.view().in_bounds and self.clocks.fresh
                and self.clocks.oldest_sample_ns > self._step_at_ns):
            return _Judged(candidate, True, raw_step, False)  # re-measured since the step
        return _Judged(expected, False, raw_step, False)

    def _watch_step(self, r: ClockReading) -> None:
        """The tick's step detector: a new step drops every peer sample taken before it."""
        judged = self._judge(r)
        if judged.new_step:
            # A second step before peers re-measured: the step itself is the move from the
            # first one; the anchor (the last reading peers agreed with) gives the total.
            moved_us = judged.raw_step_us - (self._raw_step_us if self.step_suspected else 0)
            self.step_suspected = True
            self._step_at_ns = r.mono_before_ns
            self._raw_step_us = judged.raw_step_us
            self.clocks.drop_before(r.mono_before_ns)
            log.warning("clock: the real-time clock stepped by %+.1f ms (%+.1f ms from the last "
                        "reading peers agreed with); following the monotonic clock until peers "
                        "measure it again", moved_us / 1000, judged.raw_step_us / 1000)
        elif self.step_suspected and abs(judged.raw_step_us) <= (
                limits.clock_step_us_min + r.width_us // 2):
            self.step_suspected = False  # the raw clock came back: a later jump is a new step

    def _reanchor(self, r: ClockReading) -> None:
        """After each agreement in bounds: the reading monotonic time extrapolates from, should
        the raw clock step (see ``physical_us``)."""
        if not self.hlc or not self.clocks.compensate or not self.clocks.view().in_bounds:
            return  # only a trusted reading may be extrapolated from
        judged = self._judge(r)
        if not judged.direct:
            return  # stepped and not yet re-measured: keep extrapolating from the old anchor
        self._anchor = (judged.cluster_us, r.real_us, r.mono_mid_ns, r.width_us)
        if self.step_suspected:
            self.step_suspected = False
            log.warning("clock: real-time clock and cluster time agree again")

    def fenced(self) -> bool:
        """Under ``hlc``: out of bounds, or restarted and not yet past its old stamps."""
        return self._fenced_at(self.physical_us())

    def _fenced_at(self, physical_us: int) -> bool:
        if not self.hlc:
            return False
        if self.restart_floor_us and physical_us > self.restart_floor_us:
            self.restart_floor_us = 0  # past it for good: the clock only moves forward here
        return not self.clocks.view().in_bounds or self.restart_floor_us > 0

    def fenced_at(self, physical_us: int) -> bool:
        """``fenced`` at cluster time already read (a write reads it once per input)."""
        return self._fenced_at(physical_us)

    def next_timestamp_at(self, physical_us: int) -> int:
        """``next_timestamp`` at cluster time already read (a write reads it once per input)."""
        return self._issue(physical_us)

    def next_timestamp(self) -> int:
        """A new timestamp from this node's own source, below the durable ceiling."""
        return self._issue(self.physical_us())

    def _issue(self, physical_us: int) -> int:
        """The source's next timestamp at ``physical_us`` (0: the logical part alone), the
        durable ceiling moved past it when needed."""
        ts = self.ts.next(physical_us)
        if self.hlc and ts >= self.ceiling_us:
            self.ceiling_us = ts + limits.stamp_ceiling_lease_ms * 1000
            self.node.storage.put_meta("stamp_floor", str(self.ceiling_us).encode())
        return ts

    def observe(self, ts_us: int) -> None:
        """Fold a timestamp seen in a message into the clock, unless it is more than
        ``max_offset_ms`` ahead of both cluster time and this clock (which already holds every
        timestamp folded in: after cluster time moved back, the stamps issued before are not
        far-future, and the clocks of the nodes that follow them must keep up with them)."""
        if ts_us <= self.ts.last_us:
            return  # already below the clock: neither far-future nor news (no reading)
        reference = max(self.physical_us(), self.ts.last_us)
        if ts_us > reference + int(self.node.config.max_offset_ms * 1000):
            self.far_future_ignored += 1
            if self.far_future_ignored & (self.far_future_ignored - 1) == 0:  # 1, 2, 4, 8...
                log.warning("ignored %d timestamps more than max_offset_ms (%g) ahead of "
                            "cluster time (latest %d)", self.far_future_ignored,
                            self.node.config.max_offset_ms, ts_us)
            return
        self.ts.observe(ts_us)

    def peek(self) -> int:
        """What this node's messages carry (peers fold it into their clocks). A fenced node's
        clock is not to be trusted: it passes on only what it was given, or peers following it
        by steps of ``max_offset_ms`` would be dragged along by its clock."""
        physical_us = self.physical_us()  # read once: this runs on every message sent
        if self._fenced_at(physical_us):
            return self.ts.last_us
        return self.ts.peek(physical_us)

    # ------------------------------------------------------------------ stamping a write

    def stamp(self, floor_us: int, done: StampDone, restamp_orders: bool = False) -> None:
        """A write timestamp above ``floor_us`` and above every stamp this node issued or was
        given: our own; when fenced, our logical clock's if restamping orders the write
        (``restamp_orders``: its level meets every quorum, see ``node.clock.fencing``), else a
        healthy peer's. The floor (an ordered write's replicas' newest timestamp, a checked
        session token, the data a restamped write must pass) is honoured whatever our clock
        says; it is folded into the clock only when it is not far ahead of it (``observe``): a
        far-future floor gets a stamp of its own just above it."""
        if not self.fenced():
            self.observe(floor_us)  # folded into the clock unless far ahead of it
            done(max(self.next_timestamp(), floor_us + 1), "")
            return
        if restamp_orders and self.restart_floor_us == 0:
            # Out of bounds, but the replicas order the write: stamp with the logical part
            # only (no physical reading), one above everything seen and above the floor.
            self.logical_stamps += 1
            self.observe(floor_us)
            done(max(self._issue(0), floor_us + 1), "")
            return
        floor_us = max(floor_us, self.ts.last_us)
        if len(self.pending) >= limits.coordinator_requests_inflight_max:
            done(None, self.fence_reason() + "; too many timestamp requests already in flight")
            return
        peer = self._healthy_peer()
        if peer is None:
            done(None, self.fence_reason() + "; no peer with a clock in bounds to stamp for it")
            return
        req_id = self.node.new_req_id()
        deadline_ns = self.node.clock.monotonic_ns() + limits.stamp_request_timeout_ms * 10**6
        self.pending[req_id] = _Pending(peer, deadline_ns, done)
        self.remote_stamps += 1
        self.node.send(peer, StampRequest(req_id, floor_us))

    def clock_trusted(self) -> bool:
        """Whether this node's cluster time may judge others' timestamps (client timestamps):
        under ``hlc`` only when its clock is in bounds; under ``wallclock`` always (as
        before: there is no agreement to judge it by)."""
        return not self.hlc or self.clocks.view().in_bounds

    def fence_reason(self) -> str:
        v = self.clocks.view()
        node = self.node
        if self.restart_floor_us and v.in_bounds:
            what = (f"it restarted, and its clock is not yet past the timestamps it issued "
                    f"before ({(self.restart_floor_us - self.physical_us()) / 1000:.1f} ms to go)")
        elif not v.agreed:
            what = (f"no majority of the cluster's clocks agree with it "
                    f"({v.sources_true} of {v.cluster_size})")
        else:
            what = (f"it is {v.offset_us / 1000:+.1f} ms from cluster time, beyond "
                    f"max_offset_ms = {node.config.max_offset_ms:g}")
        return f"The clock of node {node.address} is out of bounds: {what}"

    def _healthy_peer(self) -> str | None:
        now_ns = self.node.clock.monotonic_ns()
        bound_us = self.node.config.max_offset_ms * 1000
        best: tuple[float, str] | None = None
        for addr, p in self.node.membership.peers.items():
            offset = self.clocks.peer_offset_us(addr, now_ns) if p.up else None
            if offset is None or abs(offset) > bound_us:
                continue
            if best is None or (abs(offset), addr) < best:
                best = (abs(offset), addr)
        return best[1] if best is not None else None

    # ------------------------------------------------------------------ commit wait

    def certainly_past(self, ts_us: int) -> bool:
        """Whether cluster time is past ``ts_us`` beyond doubt: the earliest it can be now,
        our reading less the agreement's uncertainty, is above it."""
        return self.physical_us() - int(self.clocks.current.uncertainty_us) > ts_us

    def after_certainly_past(self, ts_us: int, then: Callable[[], None]) -> None:
        """Call ``then`` once cluster time is certainly past ``ts_us`` (commit wait): any
        write that starts afterwards, on any coordinator in bounds, is stamped above it."""
        if self.certainly_past(ts_us):
            then()
            return
        self.commit_waiters.append((ts_us, then))
        self._wake_for_waiters()

    def _release_waiters(self) -> None:
        if not self.commit_waiters:
            return
        waiting = []
        for ts_us, then in self.commit_waiters:
            if self.certainly_past(ts_us):
                then()
            else:
                waiting.append((ts_us, then))
        self.commit_waiters = waiting
        self._wake_for_waiters()

    def _wake_for_waiters(self) -> None:
        if not self.commit_waiters:
            return
        earliest = min(ts for ts, _ in self.commit_waiters)
        gap_us = earliest + int(self.clocks.current.uncertainty_us) - self.physical_us() + 1
        wake_ns = max(gap_us, 1) * 1000
        ready = self.node.ready
        ready.wake_after_ns = min(ready.wake_after_ns or wake_ns, wake_ns)

    # ------------------------------------------------------------------ messages and timers

    def on_message(self, sender: str, m: ClockPing | ClockPong | StampRequest | StampResponse
                   ) -> None:
        node = self.node
        if isinstance(m, ClockPing):
            node.send(sender, self.clocks.pong(m, node.clock.real_time_us()))
        elif isinstance(m, ClockPong):
            self.clocks.on_pong(sender, m, node.clock.monotonic_ns())
        elif isinstance(m, StampRequest):
            if self.fenced():
                node.send(sender, StampResponse(m.req_id, 0, self.fence_reason()))
            else:
                # The floor is honoured whatever it is (the fenced node needs a stamp above it);
                # it is folded into this node's clock only when not far ahead (``observe``).
                self.observe(m.floor_us)
                node.send(sender, StampResponse(m.req_id, max(self.next_timestamp(),
                                                              m.floor_us + 1), ""))
        else:
            pending = self.pending.pop(m.req_id, None)
            if pending is None or pending.peer != sender:
                return  # late, or not ours
            if m.error:
                pending.done(None, f"{self.fence_reason()}; {sender} could not stamp for it: "
                                   f"{m.error}")
            else:
                assert m.ts_us > 0
                self.ts.observe(m.ts_us)  # issued for us: our next stamps stay above it
                pending.done(m.ts_us, "")

    def tick(self, now_ns: int) -> None:
        self._release_waiters()
        for req_id in [r for r, p in self.pending.items() if p.deadline_ns <= now_ns]:
            p = self.pending.pop(req_id)
            p.done(None, f"{self.fence_reason()}; {p.peer} did not answer a timestamp "
                         f"request in {limits.stamp_request_timeout_ms} ms")
        self._watch_clocks(now_ns)

    def _watch_clocks(self, now_ns: int) -> None:
        node = self.node
        # A fresh bracketed reading: ``now_ns`` was read when the tick began, and the real
        # clock read now would not be paired with it on a busy machine.
        r = node.clock.reading()
        self._watch_step(r)
        self._reread()  # a step changes what the reading is judged to be
        live = [a for a, p in node.membership.peers.items() if p.up]
        if self.clocks.pings_due(now_ns):
            # Dated by the bracket's start: the real reading was taken at or after it, so the
            # round trip measured from it can only be longer (a wide bracket widens the
            # sample's error bound; it never makes the bound false).
            ping = self.clocks.ping(r.real_us, r.mono_before_ns)
            for addr in live:
                node.send(addr, ping)
        before = self.clocks.view()
        # A node that expects peers (other seeds) but knows none yet is not a cluster of one.
        size = max(len(node.membership.peers) + 1, 2 if node.membership.seeds else 1)
        self.clocks.update(size, live, now_ns)
        self._reanchor(r)
        self._reread()  # the agreement and the anchor may have moved
        after = self.clocks.view()
        if after.alarm != before.alarm or after.in_bounds != before.in_bounds:
            log.warning("clock: offset from cluster time %+.1f ms (+-%.1f ms), %d of %d clocks "
                        "agree, alarm %s, in bounds %s", after.offset_us / 1000,
                        after.uncertainty_us / 1000, after.sources_true, after.cluster_size,
                        "ON" if after.alarm else "off", after.in_bounds)
