"""Bracketed clock readings (issue 15): a preemption in the middle of a read is not a step.

On a starved machine a node can be preempted between reading its monotonic clock and its
real-time clock; paired as if read together, the two looked like a step of the real-time clock
of the preemption's length, and the node dropped its peers' samples. Readings are brackets now
(``skewless.clock.ClockReading``: real time read somewhere between two monotonic readings).
Here one node's every reading is a wide bracket (up to 200 ms, the real time read at a random
moment inside it, as a preempted read would be): it must see no step, stay in bounds and keep
stamping; a true step of 300 ms in the middle of such readings is still seen.
"""

from __future__ import annotations

import logging
import random

import pytest

from skewless.clock import ClockReading
from skewless.sim.world import SimClock, World

NODE = "127.0.0.2"
WIDTH_US_MAX = 200_000


def _preempted(clock: SimClock, rng: random.Random) -> None:
    """Make every reading of ``clock`` a wide bracket with the real time read inside it."""

    def reading() -> ClockReading:
        now_ns = clock.world.now_ns
        width_ns = rng.randrange(WIDTH_US_MAX) * 1000
        before_ns = now_ns - width_ns
        read_at_ns = before_ns + rng.randrange(width_ns + 1)  # the moment real time was read
        real_us = clock.real_time_us() - (now_ns - read_at_ns) // 1000
        return ClockReading(before_ns, real_us, now_ns)

    clock.reading = reading  # type: ignore[method-assign]


@pytest.mark.parametrize("step_us", [0, 300_000])
def test_wide_brackets_are_not_steps(step_us: int, caplog: pytest.LogCaptureFixture) -> None:
    w = World(71, n_nodes=3)
    assert w.stabilize()
    w.run_for(3 * 10**9)
    stamping = w.nodes[NODE].node.stamping
    assert not stamping.fenced() and not stamping.step_suspected
    _preempted(w.nodes[NODE].clock, random.Random(5))
    with caplog.at_level(logging.WARNING, logger="skewless.stamping"):
        w.run_for(10 * 10**9)
        if step_us:
            w.nodes[NODE].clock.offset_us += step_us
        w.run_for(10 * 10**9)
    steps = [r.getMessage() for r in caplog.records if "clock stepped" in r.getMessage()]
    if not step_us:
        assert steps == []
        assert not stamping.fenced() and not stamping.step_suspected
        assert stamping.clocks.view().sources_true == 3
    else:  # the true step is seen, within the brackets' uncertainty
        assert len(steps) == 1, steps
        ms = float(steps[0].split("stepped by ")[1].split(" ms")[0])
        assert abs(ms - step_us / 1000) <= WIDTH_US_MAX / 1000, steps


def test_a_second_step_is_logged_as_its_own_move(caplog: pytest.LogCaptureFixture) -> None:
    """+3 s, then -5 s before peers re-measured (a clock set ahead, then 2 s behind): the
    second warning names the -5 s move, and -2 s from the last agreed reading."""
    w = World(72, n_nodes=3)
    assert w.stabilize()
    w.run_for(3 * 10**9)
    clock = w.nodes[NODE].clock
    with caplog.at_level(logging.WARNING, logger="skewless.stamping"):
        clock.offset_us += 3_000_000
        w.run_for(1 * 10**9)
        clock.offset_us -= 5_000_000
        w.run_for(1 * 10**9)
    steps = [r.getMessage() for r in caplog.records if "clock stepped" in r.getMessage()]
    assert len(steps) == 2, steps
    assert "stepped by +3000.0 ms (+3000.0 ms from the last reading" in steps[0], steps
    assert "stepped by -5000.0 ms (-2000.0 ms from the last reading" in steps[1], steps
