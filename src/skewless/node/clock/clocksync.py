"""Cluster time: measuring peers' clocks and agreeing on one time by interval intersection.

Theory of operation
-------------------
**Measuring one peer.** A node pings a peer with its own real time ``t1``; the peer answers with
``t1`` echoed, its receive time ``t2`` and its send time ``t3``; the node notes ``t4`` on
receipt. With ``t4`` derived from ``t1`` plus the *monotonic* time that elapsed (so a step of
the local wall clock in between cannot fake a round trip), the peer's clock minus ours is::

    offset = ((t2 - t1) + (t3 - t4)) / 2        round trip = (t4 - t1) - (t3 - t2)

and the true offset lies within ``offset +- round_trip / 2`` whatever the split of the round
trip between the two directions (NTP's reasoning). ``PeerClock`` keeps the samples of a recent
window and uses the one with the smallest round trip, its error bound widened by the drift two
clocks may accumulate since it was taken (``clock_drift_ppm_max``). A sample that contradicts
the best one (no overlap) means a clock stepped: the older samples are forgotten.

**Agreeing (Marzullo).** Each measured peer gives an interval ``[offset - error, offset +
error]`` that holds the peer's clock relative to ours; our own clock is the interval ``[0, 0]``.
Widened by half the tolerance (clocks within ``max_offset_ms`` of each other agree, as in
CockroachDB), ``smallest_interval`` finds the region where the most sources agree, as NTP and
TigerBeetle do. If those sources are a majority of the cluster, cluster time is our clock plus
the median of their offsets: a node whose clock is 200 ms slow finds its two peers at +200 ms
and corrects by +200 ms, while its peers find it the outlier and keep their own time. Without a
majority there is no agreement.

This module is pure: times are passed in (``real_us``: wall clock, µs; ``mono_ns``: monotonic).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skewless import limits


@dataclass(frozen=True, slots=True)
class Sample:
    """One ping/pong exchange: the peer's clock minus ours, and the exchange's round trip."""

    offset_us: float
    round_trip_us: int
    taken_mono_ns: int


def measure(t1_real_us: int, t2_peer_us: int, t3_peer_us: int, elapsed_mono_ns: int,
            taken_mono_ns: int) -> Sample | None:
    """A sample from the four timestamps of one exchange (``t4 = t1 + elapsed``).

    ``None`` when the exchange is impossible (the peer claims to have held the ping longer than
    the whole round trip): a broken peer clock or a reordered message, not a measurement."""
    assert elapsed_mono_ns >= 0, elapsed_mono_ns
    t4_real_us = t1_real_us + elapsed_mono_ns // 1000
    held_us = t3_peer_us - t2_peer_us
    round_trip_us = (t4_real_us - t1_real_us) - held_us
    if held_us < 0 or round_trip_us < 0:
        return None
    offset_us = ((t2_peer_us - t1_real_us) + (t3_peer_us - t4_real_us)) / 2
    return Sample(offset_us, round_trip_us, taken_mono_ns)


@dataclass(frozen=True, slots=True)
class Interval:
    """A peer clock relative to ours, ``[lower_us, upper_us]``."""

    lower_us: float
    upper_us: float
    taken_mono_ns: int = 0  # when the sample it comes from was taken

    @property
    def midpoint_us(self) -> float:
        return (self.lower_us + self.upper_us) / 2

    @property
    def error_us(self) -> float:
        return (self.upper_us - self.lower_us) / 2


class PeerClock:
    """The recent samples of one peer's clock, bounded in count and age."""

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque(maxlen=limits.clock_samples_per_peer_max)

    def add(self, sample: Sample) -> None:
        """File a sample. One that contradicts the current best (their intervals do not
        overlap) means the peer's clock or ours stepped: the older samples describe a clock
        that no longer exists and are dropped."""
        best = self.best(sample.taken_mono_ns)
        half = sample.round_trip_us / 2
        if best is not None and (sample.offset_us + half < best.lower_us
                                 or sample.offset_us - half > best.upper_us):
            self.samples.clear()
        self.samples.append(sample)

    def best(self, now_mono_ns: int) -> Interval | None:
        """The interval from the sample with the smallest error bound now, or None if every
        sample is older than the window."""
        window_ns = limits.clock_sample_window_ms * 1_000_000
        best: Interval | None = None
        for s in self.samples:
            # Samples are dated by when their ping left; a reordered pong may file one dated
            # after the reference time: it is then as fresh as can be.
            age_ns = max(0, now_mono_ns - s.taken_mono_ns)
            if age_ns > window_ns:
                continue
            drift_us = age_ns / 1000 * limits.clock_drift_ppm_max / 1_000_000
            error_us = s.round_trip_us / 2 + drift_us
            if best is None or error_us < best.error_us:
                best = Interval(s.offset_us - error_us, s.offset_us + error_us, s.taken_mono_ns)
        return best


@dataclass(frozen=True, slots=True)
class Agreement:
    """The interval most sources agree on, and how many do."""

    interval: Interval
    sources_true: int
    sources_false: int


def smallest_interval(intervals: Sequence[Interval]) -> Agreement:
    """Marzullo's algorithm: the smallest interval consistent with the most sources."""
    assert intervals, "at least our own clock is a source"
    edges: list[tuple[float, int]] = []
    for iv in intervals:
        assert iv.lower_us <= iv.upper_us, iv
        edges.append((iv.lower_us, -1))  # opening edges sort first at equal offsets
        edges.append((iv.upper_us, +1))
    edges.sort()
    best_count = 0
    best = Interval(0.0, 0.0)
    count = 0
    for i, (offset, kind) in enumerate(edges):
        count -= kind
        if kind == -1 and count >= best_count:
            upper = edges[i + 1][0]  # the next edge closes this region
            if count > best_count or upper - offset < best.upper_us - best.lower_us:
                best_count, best = count, Interval(offset, upper)
    assert 1 <= best_count <= len(intervals)
    return Agreement(best, best_count, len(intervals) - best_count)


@dataclass(frozen=True, slots=True)
class ClusterTime:
    """A node's view of cluster time: what to add to its own clock, and whether to trust it."""

    offset_us: float  # cluster time minus this node's clock
    uncertainty_us: float  # half the width of the agreed interval
    sources_true: int  # clocks (ours included) inside the agreed interval
    cluster_size: int  # nodes in the cluster, measured or not
    agreed: bool  # a majority of the cluster's nodes agree



def cluster_time(peers: Iterable[Interval | None], cluster_size: int,
                 tolerance_us: float = 0.0) -> ClusterTime:
    """Agree on cluster time from the peers' current intervals (None: no recent sample).

    Clocks agree when they are within ``tolerance_us`` of each other (each interval is widened
    by half of it: two healthy clocks a millisecond apart must agree, or every node would be
    fenced); the agreeing clocks are those Marzullo finds around the best region of the widened
    intervals, and cluster time is their median (robust to one outlier among them), with that
    source's own measurement error."""
    assert cluster_size >= 1 and tolerance_us >= 0
    intervals = [Interval(0.0, 0.0)] + [iv for iv in peers if iv is not None]
    half = tolerance_us / 2
    widened = [Interval(iv.lower_us - half, iv.upper_us + half) for iv in intervals]
    a = smallest_interval(widened)
    agreeing = sorted((iv for iv, w in zip(intervals, widened, strict=True)
                       if w.lower_us <= a.interval.lower_us
                       and a.interval.upper_us <= w.upper_us), key=lambda iv: iv.midpoint_us)
    assert len(agreeing) == a.sources_true
    median = agreeing[len(agreeing) // 2]
    agreed = a.sources_true > cluster_size // 2
    return ClusterTime(median.midpoint_us, median.error_us, a.sources_true, cluster_size, agreed)
