"""Clocks: the injected clock interface and the hybrid logical clock that stamps writes.

Theory of operation
-------------------
A node reads two different times, kept apart as TigerBeetle keeps them:

* **monotonic time** (``monotonic_ns``) drives timeouts, failure detection and every other
  "how long has it been" question. It never jumps and is never skewed, even in fault tests;
* **real time** (``real_time_us``) is the wall clock, in CQL's unit: microseconds since the
  epoch. Only real time is ever skewed (``--clock-offset-ms``, libfaketime, the simulator).

The runtime supplies a real clock (``skewless.runtime.realclock``), the simulator a virtual one;
protocol code only ever sees this interface.

**Bracketed readings.** Comparing the two clocks (is the wall clock where the monotonic clock
says it should be, or did it step?) needs them read at the same moment, and a process can be
preempted for hundreds of milliseconds between any two instructions on a busy machine. So such
comparisons use ``reading()``: a ``ClockReading`` of real time taken *between* two monotonic
readings. The real reading happened somewhere in ``[mono_before_ns, mono_after_ns]``; every
conclusion drawn from it allows for the bracket's width, and the runtime retries a read whose
bracket is wider than ``limits.clock_read_bracket_us_max`` (a preemption in the middle), so a
preemption is never mistaken for a step of the wall clock.

Write timestamps come from ``TimestampSource``. Under the default policy ``hlc`` it is a hybrid
logical clock in microseconds: every timestamp it issues is greater than the physical clock
reading *and* greater than every timestamp the node has issued or observed (``observe`` is fed
from every internode message, every mutation applied and every read result). Because the unit is
the microsecond and the logical part is folded into it (``max(physical, last + 1)``), the stamp is
still a plausible wall time (so ``writetime()`` stays meaningful), strictly increasing per node
even if the OS clock steps back, and any write a node has seen is stamped below the node's next.

Under ``wallclock`` it is exactly Cassandra's behaviour: the raw physical clock, made strictly
monotonic per node (``ClientState.getTimestamp``: last + 1), and nothing observed from others.
It exists only to reproduce and measure the failure of seed 000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from skewless.frozen import fast_init

TimestampPolicy = Literal["hlc", "wallclock"]
TIMESTAMP_POLICIES: tuple[TimestampPolicy, ...] = ("hlc", "wallclock")


@fast_init  # one per input (node.clock.stamping)
@dataclass(frozen=True, slots=True)
class ClockReading:
    """Real time (µs) read between two monotonic readings (ns): the real clock read
    ``real_us`` at some moment of ``[mono_before_ns, mono_after_ns]``."""

    mono_before_ns: int
    real_us: int
    mono_after_ns: int

    def __post_init__(self) -> None:
        assert self.mono_before_ns <= self.mono_after_ns, self

    @property
    def width_us(self) -> int:
        """How uncertain the moment of the real reading is (the bracket's width)."""
        return (self.mono_after_ns - self.mono_before_ns) // 1000

    @property
    def mono_mid_ns(self) -> int:
        return (self.mono_before_ns + self.mono_after_ns) // 2


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def real_time_us(self) -> int: ...

    def reading(self) -> ClockReading:
        """Real time bracketed by monotonic time (see the module docstring)."""
        ...


class TimestampSource:
    """Issues write timestamps (µs) under a policy; pure: physical time is passed in."""

    def __init__(self, policy: TimestampPolicy, floor_us: int = 0) -> None:
        assert policy in TIMESTAMP_POLICIES, policy
        assert floor_us >= 0
        self.policy: TimestampPolicy = policy
        self.last_us = floor_us  # the highest timestamp issued or (under hlc) observed

    def next(self, physical_us: int) -> int:
        """A new timestamp, strictly above every one issued before."""
        ts = max(physical_us, self.last_us + 1)
        assert ts > self.last_us
        self.last_us = ts
        return ts

    def observe(self, remote_us: int) -> None:
        """Fold a timestamp seen elsewhere into the clock (no effect under ``wallclock``)."""
        if self.policy == "hlc" and remote_us > self.last_us:
            self.last_us = remote_us

    def peek(self, physical_us: int) -> int:
        """The clock's current reading without issuing: what messages carry."""
        if self.policy == "wallclock":
            return physical_us
        return max(physical_us, self.last_us)
