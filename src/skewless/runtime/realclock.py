"""The real clock a node process runs on, with an optional configured offset and drift.

Everything outside ``skewless.runtime`` receives a clock object instead of reading time itself,
so the simulator can substitute its own. This is the only implementation that reads the machine's
clocks. ``real_time_us`` models a skewed node: ``offset_ms`` shifts it, and ``drift_ppm`` makes it
gain (or lose) that many microseconds per second of monotonic time elapsed since construction.

It works under libfaketime with ``FAKETIME_DONT_FAKE_MONOTONIC=1``: the monotonic clock stays
real (timers and timeouts keep working) while the faked wall clock feeds ``real_time_us``.
"""

from __future__ import annotations

import time


class RealClock:
    def __init__(self, offset_ms: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.offset_ms = float(offset_ms)
        self.drift_ppm = float(drift_ppm)
        self._mono0_ns = time.monotonic_ns()  # allow-real-clock

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()  # allow-real-clock

    def monotonic_ms(self) -> float:
        return time.monotonic_ns() / 1e6  # allow-real-clock

    def real_time_us(self) -> int:
        """Microseconds since the epoch, as this (possibly skewed) node sees them."""
        real_us = time.time_ns() // 1000  # allow-real-clock
        elapsed_us = (time.monotonic_ns() - self._mono0_ns) / 1000  # allow-real-clock
        return int(real_us + self.offset_ms * 1000 + elapsed_us * self.drift_ppm / 1e6)
