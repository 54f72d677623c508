"""The phi-accrual failure detector's arithmetic, as Cassandra computes it (pure, time passed in).

Theory of operation
-------------------
Hayashibara's phi is ``-log10(P(no heartbeat for t))``, the suspicion that a peer silent for
``t`` has failed. Cassandra (``gms.FailureDetector``/``ArrivalWindow``) models the heartbeat
inter-arrival times as exponentially distributed with the mean of the last 1000 intervals, so
``P = e^(-t/mean)`` and ``phi = t / mean * PHI_FACTOR`` with ``PHI_FACTOR = 1 / ln 10``
(``log10(e)``). A peer is convicted when that phi exceeds ``phi_convict_threshold`` (default 8):
at one heartbeat a second, about 18.4 s of silence.

Cassandra's choices, kept here:

* The first arrival records no interval but a large initial one (``fd_initial_value_ms``, two
  gossip intervals): the right mean depends on the cluster, and erring high gives slower
  detection rather than flapping.
* An interval longer than ``fd_max_interval_ms`` (the same two gossip intervals) is not
  recorded: a peer that was partitioned or paused should not teach us that long silences are
  normal (it would then take minutes to convict it the next time).
* A restarted peer (newer generation) starts a fresh window.

Skewless adds ``refute``: a SWIM indirect probe answered by the suspect (``node.swim``) is
evidence that it lives, so the silence is counted from the acknowledgement, but no interval is
recorded (the acknowledgement is not a heartbeat and says nothing about their rhythm).
"""

from __future__ import annotations

import math
from collections import deque

from skewless import limits

PHI_FACTOR = 1.0 / math.log(10.0)  # Cassandra's FailureDetector.PHI_FACTOR, log10(e)


class ArrivalWindow:
    """Heartbeat arrival times of one peer: the last arrival and a bounded window of
    inter-arrival intervals (ns) with their running sum."""

    __slots__ = ("intervals", "last_ns", "_sum_ns", "_size")

    def __init__(self, size: int = limits.failure_detector_window_samples) -> None:
        assert size > 0
        self._size = size
        self.intervals: deque[int] = deque()
        self._sum_ns = 0
        self.last_ns: int | None = None

    def add(self, now_ns: int) -> None:
        """A heartbeat arrived at ``now_ns``."""
        if self.last_ns is None:
            self._record(limits.failure_detector_initial_interval_ms * 1_000_000)
        else:
            interval = now_ns - self.last_ns
            if interval < limits.failure_detector_min_interval_ms * 1_000_000:
                return  # an out-of-round beat (sent early, gossip_now): not a gossip round;
                # counted, such beats shortened the learnt mean and convicted too soon
            if interval <= limits.failure_detector_max_interval_ms * 1_000_000:
                self._record(interval)
        self.last_ns = now_ns if self.last_ns is None else max(self.last_ns, now_ns)

    def refute(self, now_ns: int) -> None:
        """The peer proved alive (an indirect probe's ack): count its silence from now."""
        if self.last_ns is not None:
            self.last_ns = max(self.last_ns, now_ns)

    def _record(self, interval_ns: int) -> None:
        self.intervals.append(interval_ns)
        self._sum_ns += interval_ns
        if len(self.intervals) > self._size:
            self._sum_ns -= self.intervals.popleft()

    def mean_ns(self) -> float:
        return self._sum_ns / len(self.intervals) if self.intervals else 0.0

    def phi(self, now_ns: int) -> float:
        """Cassandra's scaled phi (the value compared with ``phi_convict_threshold``); 0 before
        the first arrival."""
        if self.last_ns is None or not self.intervals:
            return 0.0
        return PHI_FACTOR * max(0, now_ns - self.last_ns) / self.mean_ns()


def silence_to_convict_ns(threshold: float, mean_ns: float) -> float:
    """How long a peer with this mean interval must be silent before phi exceeds ``threshold``."""
    return threshold * mean_ns / PHI_FACTOR


def convict_within_ms(threshold: float = limits.phi_convict_threshold_default,
                      mean_ms: float = limits.failure_detector_max_interval_ms) -> float:
    """An upper bound on the time from a peer's death to its conviction: the silence phi needs
    (the mean interval is at most ``failure_detector_max_interval_ms``), the unanswered probes'
    deadline, and a gossip interval and a tick of phase (tests wait this long)."""
    return (silence_to_convict_ns(threshold, mean_ms * 1e6) / 1e6 + limits.swim_probe_timeout_ms
            + limits.gossip_interval_ms + limits.tick_interval_ms)
