"""Clock offset of a peer, estimated from one request/response exchange (NTP's method).

Theory of operation
-------------------
Four real-clock readings (µs since the epoch) describe one exchange: the coordinator sends at
``t1`` (its clock), the peer receives at ``t2`` and answers at ``t3`` (the peer's clock), the
coordinator receives the answer at ``t4`` (its clock). If the peer's clock reads ``theta`` more
than the coordinator's, then, whatever the two one-way delays are,

    t2 - theta >= t1   and   t4 >= t3 - theta,

so ``theta`` lies in ``[t3 - t4, t2 - t1]``. The estimate is that interval's middle,
``((t2 - t1) + (t3 - t4)) / 2``, and its half-width, half of the round trip minus the peer's
own processing time ``((t4 - t1) - (t3 - t2)) / 2``, is a hard error bound (it holds for any
asymmetry of the path). Anything the runtime does between a reading and the bytes leaving
(an fsync before a send) only widens the interval; it never makes the bound false.

The caller should derive ``t4`` from ``t1`` plus the *monotonic* time elapsed, so that a step of
its own wall clock during the exchange cannot fake a round trip. These must be the nodes'
*physical* clock readings: an envelope's ``sender_ts_us`` under the
``hlc`` policy is the hybrid clock (which follows the fastest clock it has seen), not the
node's own clock, so it cannot measure an offset.

Pure functions, so that continuous cluster-time measurement can reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OffsetEstimate:
    """``offset_us``: peer clock minus local clock; the true value is within ± ``error_us``."""

    offset_us: float
    error_us: float

    @property
    def low_us(self) -> float:
        return self.offset_us - self.error_us

    @property
    def high_us(self) -> float:
        return self.offset_us + self.error_us


def estimate_offset(t1_us: int, t2_us: int, t3_us: int, t4_us: int) -> OffsetEstimate | None:
    """The peer's offset from one exchange: local send ``t1``, peer receive ``t2``, peer send
    ``t3``, local receive ``t4`` (see the module docstring). None for an impossible exchange
    (the peer held the message for longer than the round trip, or for negative time): a clock
    stepped during it, so it measures nothing."""
    held = t3_us - t2_us
    delay = (t4_us - t1_us) - held  # the round trip minus the peer's processing
    if held < 0 or delay < 0:
        return None
    return OffsetEstimate(((t2_us - t1_us) + (t3_us - t4_us)) / 2, delay / 2)


def best(a: OffsetEstimate | None, b: OffsetEstimate) -> OffsetEstimate:
    """The tighter of two estimates of one peer's offset (``a`` may be absent)."""
    if a is None or b.error_us < a.error_us:
        return b
    return a


def format_offset(e: OffsetEstimate) -> str:
    """``-201.3 ms (+-0.4 ms)``."""
    return f"{e.offset_us / 1000:+.1f} ms (+-{e.error_us / 1000:.1f} ms)".lstrip("+")
