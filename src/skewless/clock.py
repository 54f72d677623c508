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

from typing import Literal, Protocol

TimestampPolicy = Literal["hlc", "wallclock"]
TIMESTAMP_POLICIES: tuple[TimestampPolicy, ...] = ("hlc", "wallclock")


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def real_time_us(self) -> int: ...


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
