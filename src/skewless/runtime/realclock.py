"""The real clock a node process runs on, with an optional configured offset and drift.

Everything outside ``skewless.runtime`` receives a clock object instead of reading time itself,
so the simulator can substitute its own. This is the only implementation that reads the machine's
clocks. ``real_time_us`` models a skewed node: ``offset_ms`` shifts it, and ``drift_ppm`` makes it
gain (or lose) that many microseconds per second of monotonic time elapsed since construction.

``reading`` reads real time between two monotonic readings (``skewless.clock.ClockReading``)
and tries again, up to ``limits.clock_read_attempts_max`` times, while the bracket is wider than
``limits.clock_read_bracket_us_max``: the process was preempted in the middle. On a starved
machine every attempt may be wide; the narrowest is returned, and its width tells the reader
how uncertain the pairing is.

It works under libfaketime with ``FAKETIME_DONT_FAKE_MONOTONIC=1``: the monotonic clock stays
real (timers and timeouts keep working) while the faked wall clock feeds ``real_time_us``.
"""

from __future__ import annotations

import time

from skewless import limits
from skewless.clock import ClockReading


class RealClock:
    def __init__(self, offset_ms: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.offset_ms = float(offset_ms)
        self.drift_ppm = float(drift_ppm)
        self._mono0_ns = time.monotonic_ns()  # allow-real-clock
        self.wide_reads = 0  # bracketed reads that needed another attempt (a preemption)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()  # allow-real-clock

    def monotonic_ms(self) -> float:
        return time.monotonic_ns() / 1e6  # allow-real-clock

    def real_time_us(self) -> int:
        """Microseconds since the epoch, as this (possibly skewed) node sees them."""
        return self._skewed(time.time_ns() // 1000, time.monotonic_ns())  # allow-real-clock

    def _skewed(self, real_us: int, mono_ns: int) -> int:
        elapsed_us = (mono_ns - self._mono0_ns) / 1000
        return int(real_us + self.offset_ms * 1000 + elapsed_us * self.drift_ppm / 1e6)

    def reading(self) -> ClockReading:
        """Real time bracketed by monotonic time, retried while the bracket is wide."""
        best: ClockReading | None = None
        for _ in range(limits.clock_read_attempts_max):
            before = time.monotonic_ns()  # allow-real-clock
            real_us = time.time_ns() // 1000  # allow-real-clock
            after = time.monotonic_ns()  # allow-real-clock
            r = ClockReading(before, self._skewed(real_us, before), after)
            if best is None or r.width_us < best.width_us:
                best = r
            if r.width_us <= limits.clock_read_bracket_us_max:
                break
            self.wide_reads += 1
        assert best is not None
        return best
