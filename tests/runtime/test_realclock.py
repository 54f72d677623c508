"""RealClock.reading: real time bracketed by monotonic time (issue 15)."""

from __future__ import annotations

import time

from skewless import limits
from skewless.runtime.realclock import RealClock


def test_reading_brackets_the_real_time_read() -> None:
    clock = RealClock()
    for _ in range(1000):
        mono0 = time.monotonic_ns()
        real0 = time.time_ns() // 1000
        r = clock.reading()
        real1 = time.time_ns() // 1000
        mono1 = time.monotonic_ns()
        assert mono0 <= r.mono_before_ns <= r.mono_after_ns <= mono1
        assert real0 <= r.real_us <= real1
        assert r.width_us >= 0
        # A wide bracket is retried; only when every attempt was wide is one returned.
        assert r.width_us <= limits.clock_read_bracket_us_max or clock.wide_reads > 0


def test_reading_is_skewed_like_real_time_us() -> None:
    clock = RealClock(offset_ms=1000.0)
    before = time.time_ns() // 1000
    r = clock.reading()
    after = time.time_ns() // 1000
    assert before + 1_000_000 <= r.real_us <= after + 1_000_000
