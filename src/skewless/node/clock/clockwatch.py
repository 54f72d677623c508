"""A node's watch over clocks: ping peers, measure their offsets, agree on cluster time.

Theory of operation
-------------------
Every ``clock_ping_interval_ms`` the node sends each live peer a ``ClockPing`` holding its raw
real time and its monotonic time; the peer answers at once with a ``ClockPong`` that echoes
both and adds its own raw real time. On the pong the node has the four timestamps of
``clocksync.measure`` (receive and send at the peer coincide: the core answers in the same
step) and files the sample under the peer. The ping's two readings come from one bracketed
read (``skewless.clock.ClockReading``) and the ping is dated by the bracket's start: the real
time was read at or after it, so a preemption in the middle of the read lengthens the measured
round trip (a wider error bound, which the best-round-trip choice then passes over) and can
never shorten it into a false bound.

All measurements compare *raw* clocks (what the OS says, with no correction), so every node
measures the same thing; ``ClusterTime`` then says what this node must add to its raw clock to
read cluster time (``correction_us``), and ``offset_us`` (raw minus cluster time) is what
operators see: -200 ms for a node whose clock is 200 ms slow. A node alarms when its offset
exceeds ``alarm_ms``; it is *out of bounds* when no majority agrees on cluster time or when its
offset exceeds ``max_offset_ms``: such a node must not stamp writes. A node that agreed once and
then cannot measure a majority (peers down) keeps its last agreement while the drift bound
allows (see ``update``): losing peers is not evidence against its clock.

Pure: every time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from skewless import limits
from skewless.node.clock.clocksync import ClusterTime, PeerClock, cluster_time, measure
from skewless.node.messages import ClockPing, ClockPong


@dataclass(frozen=True, slots=True)
class ClockView:
    """What ``skewless status``/``skewless clocks`` show about one node's clock."""

    offset_us: float  # this clock minus cluster time
    uncertainty_us: float
    sources_true: int
    cluster_size: int
    agreed: bool
    alarm: bool
    in_bounds: bool


class ClockWatch:
    def __init__(self, alarm_ms: float, max_offset_ms: float, compensate: bool) -> None:
        assert 0 < alarm_ms <= max_offset_ms, (alarm_ms, max_offset_ms)
        self.alarm_ms = alarm_ms
        self.max_offset_ms = max_offset_ms
        self.compensate = compensate
        self.peers: dict[str, PeerClock] = {}
        self.current = ClusterTime(0.0, 0.0, 1, 1, True)
        self._agreed_at: tuple[ClusterTime, int] | None = None  # last agreement and when
        self.oldest_sample_ns = 0  # the oldest peer sample the current agreement rests on
        self.fresh = False  # the current agreement was measured (not held from an earlier one)
        self._valid_after_ns = -(10**18)  # samples taken before this describe an old clock
        self._last_ping_ns = -(10**18)

    # ------------------------------------------------------------------ messages

    def pings_due(self, now_mono_ns: int) -> bool:
        if now_mono_ns - self._last_ping_ns < limits.clock_ping_interval_ms * 1_000_000:
            return False
        self._last_ping_ns = now_mono_ns
        return True

    @staticmethod
    def ping(raw_real_us: int, now_mono_ns: int) -> ClockPing:
        return ClockPing(raw_real_us, now_mono_ns)

    @staticmethod
    def pong(m: ClockPing, raw_real_us: int) -> ClockPong:
        return ClockPong(m.t1_real_us, m.t1_mono_ns, raw_real_us)

    def on_pong(self, sender: str, m: ClockPong, now_mono_ns: int) -> None:
        elapsed_ns = now_mono_ns - m.t1_mono_ns
        if elapsed_ns < 0 or elapsed_ns > limits.clock_sample_window_ms * 1_000_000:
            return  # not a pong to one of our pings of this process (or a very late one)
        if m.t1_mono_ns < self._valid_after_ns:
            return  # its ping left before our clock stepped: it measured the old clock
        # The sample describes our raw clock as read when the ping left (t1): a step of our
        # clock while the ping was out must not make a pre-step reading look fresh.
        sample = measure(m.t1_real_us, m.t2_real_us, m.t2_real_us, elapsed_ns, m.t1_mono_ns)
        if sample is not None:
            self.peers.setdefault(sender, PeerClock()).add(sample)

    # ------------------------------------------------------------------ agreement

    def update(self, cluster_size: int, live_peers: Iterable[str], now_mono_ns: int) -> None:
        """Recompute cluster time from the live peers' recent samples.

        When too few peers are measurable to make a majority (they are down or unreachable:
        not a disagreement), the last agreement holds, its error bound widened by the drift
        two clocks may accumulate since; it lapses once that bound reaches ``max_offset_ms``."""
        intervals = [self.peers[a].best(now_mono_ns) if a in self.peers else None
                     for a in live_peers]
        measured = 1 + sum(1 for iv in intervals if iv is not None)
        self.oldest_sample_ns = min((iv.taken_mono_ns for iv in intervals if iv is not None),
                                    default=now_mono_ns)
        fresh = cluster_time(intervals, cluster_size, self.max_offset_ms * 1000)
        self.fresh = fresh.agreed
        if fresh.agreed:
            self.current = fresh
            self._agreed_at = (fresh, now_mono_ns)
            return
        held = self._hold(now_mono_ns) if measured <= cluster_size // 2 else None
        self.current = held if held is not None else fresh

    def _hold(self, now_mono_ns: int) -> ClusterTime | None:
        if self._agreed_at is None:
            return None
        last, at_ns = self._agreed_at
        drift_us = (now_mono_ns - at_ns) / 1000 * limits.clock_drift_ppm_max / 1_000_000
        uncertainty_us = last.uncertainty_us + drift_us
        if abs(last.offset_us) + uncertainty_us > self.max_offset_ms * 1000:
            return None
        return ClusterTime(last.offset_us, uncertainty_us, last.sources_true, last.cluster_size,
                           True)

    def drop_before(self, mono_ns: int) -> None:
        """Our own raw clock stepped at about ``mono_ns``: every sample taken before it (and
        every pong to a ping sent before it) measured the clock as it was, whatever the peer.
        Until a majority is measured again the last agreement holds (``update``)."""
        self._valid_after_ns = mono_ns
        for pc in self.peers.values():
            kept = [s for s in pc.samples if s.taken_mono_ns >= mono_ns]
            pc.samples.clear()
            pc.samples.extend(kept)

    def forget(self, address: str) -> None:
        """A restarted peer's clock is a new clock."""
        self.peers.pop(address, None)

    @property
    def current(self) -> ClusterTime:
        return self._current

    @current.setter
    def current(self, ct: ClusterTime) -> None:
        """Set the agreement, and what is derived from it (read on every timestamp)."""
        self._current = ct
        offset_us = -ct.offset_us if ct.agreed else 0.0
        alarm = abs(offset_us) > self.alarm_ms * 1000 or not ct.agreed
        in_bounds = ct.agreed and abs(offset_us) <= self.max_offset_ms * 1000
        self._view = ClockView(offset_us, ct.uncertainty_us, ct.sources_true, ct.cluster_size,
                               ct.agreed, alarm, in_bounds)
        self._correction_us = round(ct.offset_us) if self.compensate and in_bounds else 0

    def correction_us(self) -> int:
        """What to add to the raw clock to read cluster time: 0 without compensation, without
        agreement, or when the correction would exceed ``max_offset_ms`` (a correction that
        large is not trusted: such a node is out of bounds)."""
        return self._correction_us

    def view(self) -> ClockView:
        return self._view

    def peer_error_us(self, address: str, now_mono_ns: int) -> float | None:
        pc = self.peers.get(address)
        best = pc.best(now_mono_ns) if pc is not None else None
        return None if best is None else best.error_us + self.current.uncertainty_us

    def peer_offset_us(self, address: str, now_mono_ns: int) -> float | None:
        """A peer's clock minus cluster time, as this node measures it (None: no sample)."""
        pc = self.peers.get(address)
        best = pc.best(now_mono_ns) if pc is not None else None
        if best is None:
            return None
        return best.midpoint_us - self.current.offset_us
