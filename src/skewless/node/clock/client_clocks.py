"""Client timestamps: checked against cluster time, and each client's clock estimated.

Theory of operation
-------------------
A write's timestamp may come from the client: ``USING TIMESTAMP`` in the statement or the
BATCH, or the timestamp the drivers attach to every request by default (their clock). Neither
Cassandra nor Scylla checks them, so one client whose clock is a day ahead writes "doomstones"
that shadow every later write for a day. Here every client timestamp is compared with cluster
time when it arrives:

* further ahead than ``max_future_timestamp_ms``: refused with an Invalid error that says by
  how much it is ahead (no write with a future timestamp is ever applied);
* further behind than ``max_past_timestamp_ms``: a warning (or, with
  ``past_timestamps = fail``, an error), since it loses to every write of the last that long.

**Estimating a client's clock.** The drivers' default timestamp is their clock's reading when
the request was sent; it reaches us a network delay later, so ``timestamp - cluster time`` is
the client's offset minus that delay. The largest of the recent differences (the one with the
least delay) estimates the client's offset, as NTP keeps its best sample. ``USING TIMESTAMP``
values say nothing about a clock and are not used for the estimate.

Pure: cluster time and monotonic time are passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from skewless import limits
from skewless.errors import InvalidRequest

PastAction = Literal["warn", "fail"]
PAST_ACTIONS: tuple[PastAction, ...] = ("warn", "fail")


@dataclass(frozen=True, slots=True)
class TimestampRules:
    max_future_ms: float
    max_past_ms: float
    past_action: PastAction


def check(ts_us: int, cluster_now_us: int, rules: TimestampRules, source: str) -> str | None:
    """Refuse a timestamp too far ahead (InvalidRequest); a warning text for one too far
    behind (or InvalidRequest under ``fail``); None when it is within bounds.

    ``source`` names where it came from: "USING TIMESTAMP" or "client timestamp"."""
    ahead_ms = (ts_us - cluster_now_us) / 1000
    if ahead_ms > rules.max_future_ms:
        raise InvalidRequest(
            f"{source} {ts_us} is {ahead_ms:.1f} ms ahead of cluster time "
            f"(max_future_timestamp_ms = {rules.max_future_ms:g}): refused, since it would "
            f"shadow every later write for that long. Is the client's clock right?")
    behind_ms = -ahead_ms
    if behind_ms > rules.max_past_ms:
        text = (f"{source} {ts_us} is {behind_ms:.1f} ms behind cluster time "
                f"(max_past_timestamp_ms = {rules.max_past_ms:g}): this write loses to any "
                f"write of the last {behind_ms:.0f} ms")
        if rules.past_action == "fail":
            raise InvalidRequest(text)
        return text
    return None


@dataclass(frozen=True, slots=True)
class ClientClockView:
    conn: int
    address: str
    offset_us: int | None  # None until the client sent a default timestamp
    samples: int
    alarm: bool


class ClientClocks:
    """Per CQL connection: the address and the recent (offset, when) samples; bounded."""

    def __init__(self) -> None:
        self.addresses: OrderedDict[int, str] = OrderedDict()
        self.samples: dict[int, deque[tuple[int, int]]] = {}

    def connected(self, conn: int, address: str) -> None:
        self.addresses[conn] = address
        if len(self.addresses) > limits.cql_connections_max:
            old, _ = self.addresses.popitem(last=False)
            self.samples.pop(old, None)

    def closed(self, conn: int) -> None:
        self.addresses.pop(conn, None)
        self.samples.pop(conn, None)

    def sample(self, conn: int, client_ts_us: int, cluster_now_us: int, now_mono_ns: int) -> None:
        if conn not in self.addresses:
            return
        q = self.samples.setdefault(conn, deque(maxlen=limits.client_clock_samples_max))
        q.append((client_ts_us - cluster_now_us, now_mono_ns))

    def offset_us(self, conn: int, now_mono_ns: int) -> int | None:
        window_ns = limits.clock_sample_window_ms * 1_000_000
        recent = [o for o, at in self.samples.get(conn, ()) if now_mono_ns - at <= window_ns]
        return max(recent) if recent else None

    def views(self, now_mono_ns: int, alarm_ms: float) -> list[ClientClockView]:
        out = []
        for conn, address in self.addresses.items():
            offset = self.offset_us(conn, now_mono_ns)
            out.append(ClientClockView(conn, address, offset, len(self.samples.get(conn, ())),
                                       offset is not None and abs(offset) > alarm_ms * 1000))
        return out
