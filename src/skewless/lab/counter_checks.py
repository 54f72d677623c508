"""Counter bounds: what reads of a counter may return, given the increments and their outcomes.

History format. A sequence of dicts, as the other checkers take them (op, key, start, end, ok):

* ``increment``: ``UPDATE ... SET c = c + delta`` with ``delta`` (an int, negative for a
  decrement). ok true: acknowledged. ok false with ``applied: false``: failed with an error that
  proves it was not applied (Unavailable: the coordinator sent nothing). ok false otherwise
  (a timeout, WriteFailure, a lost connection): the outcome is unknown; it may be applied at any
  later time (a hint, a replay) or never. Cassandra does not make a counter retry idempotent, so
  a client retry is a new increment.
* ``read``: ``value`` is the counter read (``None``: no row, i.e. 0) at the level in
  ``consistency`` (a name such as "QUORUM"; absent: treated as strong). Failed reads say nothing.

The counter is 0 at first. A read sees, of each increment, either all of it or nothing:

* a *strong* read (a level in ``STRONG_LEVELS``; writes are taken to be at a level that
  overlaps it, as QUORUM with QUORUM) sees every increment acknowledged before it started
  (ended strictly before its start): those count exactly;
* any read may see any subset of the other increments that started before it ended and were not
  proved unapplied: concurrent ones, unknown ones, and (for a weak read such as ONE) the
  acknowledged ones too;
* it sees nothing that started after it ended.

So the value lies in [exact + the negative maybe-deltas, exact + the positive maybe-deltas]:
the bounds. They are exact for increments of +1 only (every value between is the sum of some
subset); with mixed signs they are the interval around the subset sums, which is what is cheap
to check for long histories (a subset-sum check is exponential). The final value (after the
workload and repair: every increment has ended) is bounded likewise by the acknowledged total
plus the unknown ones' negative and positive sums, and the replicas' values must then be equal
(``counter_replicas``). A replica applying a replay twice, or losing an acknowledged increment,
crosses a bound as soon as the unknown increments are too few to hide it.

Reads are checked in O(log n) each against prefix sums over the increments sorted by end and by
start. Violations are ``checkers.Violation``s (``CounterViolation`` adds the bounds), so the
lab's verdicts list them like lost writes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skewless.lab.checkers import Violation

CHECKERS = ("counter_bounds", "counter_replicas")  # the lab verdicts' names, one per function
STRONG_LEVELS = frozenset({"QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL", "SERIAL",
                           "LOCAL_SERIAL"})
INF = float("inf")


@dataclass(frozen=True, slots=True)
class CounterViolation(Violation):
    """``acknowledged``: the sum of the increments the read must see (the final check: all the
    acknowledged ones); ``seen``: what it returned; [low, high]: what it could have returned."""

    low: int
    high: int
    what: str  # "read", "final value", "replica <address>", "replicas differ"

    def __str__(self) -> str:
        if self.what == "replicas differ":
            return f"key {self.key}: the replicas differ after repair: {self.seen}"
        when = f"read at {self.at:.3f}" if self.what == "read" else self.what
        return (f"key {self.key}: {when} is {self.seen}, outside [{self.low}, {self.high}] "
                f"(acknowledged and certainly seen: {self.acknowledged:+d}; unknown or "
                f"concurrent: {self.low - self.acknowledged:+d} .. "
                f"{self.high - self.acknowledged:+d})")


@dataclass(frozen=True, slots=True)
class Bounds:
    exact: int  # the acknowledged increments the read must see
    low: int
    high: int

    def __contains__(self, value: int) -> bool:
        return self.low <= value <= self.high


class _Key:
    """One counter's increments, indexed for bounds at any instant."""

    def __init__(self, increments: list[Mapping[str, Any]]) -> None:
        acked = sorted((op["end"], int(op["delta"])) for op in increments if op["ok"])
        self.ends = [end for end, _ in acked]
        self.acked = _prefix(d for _, d in acked)
        maybe = sorted((op["start"], int(op["delta"])) for op in increments
                       if op["ok"] or op.get("applied") is not False)
        self.starts = [start for start, _ in maybe]
        self.maybe = _prefix(d for _, d in maybe)

    def bounds(self, start: float, end: float, strong: bool) -> Bounds:
        """What a read over [start, end] may return (``strong``: at an overlapping level)."""
        done = bisect.bisect_left(self.ends, start) if strong else 0
        exact, exact_pos, exact_neg = self.acked[done]
        _, pos, neg = self.maybe[bisect.bisect_right(self.starts, end)]
        return Bounds(exact, exact + neg - exact_neg, exact + pos - exact_pos)

    def final(self) -> Bounds:
        """The value once every increment has ended (and, unknown ones, may still apply)."""
        exact, acked_pos, acked_neg = self.acked[-1]
        _, pos, neg = self.maybe[-1]
        return Bounds(exact, exact + neg - acked_neg, exact + pos - acked_pos)


def _prefix(deltas: Iterable[int]) -> list[tuple[int, int, int]]:
    """Prefix sums (sum, sum of the positive, sum of the negative): entry i covers the first i."""
    out = [(0, 0, 0)]
    for d in deltas:
        s, p, n = out[-1]
        out.append((s + d, p + max(d, 0), n + min(d, 0)))
    return out


def _index(history: Iterable[Mapping[str, Any]]
           ) -> tuple[dict[object, _Key], list[Mapping[str, Any]]]:
    increments: dict[object, list[Mapping[str, Any]]] = {}
    reads: list[Mapping[str, Any]] = []
    for op in history:
        assert op["op"] in ("increment", "read"), f"unknown op {op['op']!r}"
        assert op["end"] >= op["start"], f"op {op} ends before it starts"
        if op["op"] == "increment":
            increments.setdefault(op["key"], []).append(op)
        elif op["ok"]:
            reads.append(op)
    keys = {k: _Key(ops) for k, ops in increments.items()}
    for op in reads:
        keys.setdefault(op["key"], _Key([]))
    return keys, reads


def final_bounds(history: Iterable[Mapping[str, Any]]) -> dict[object, Bounds]:
    """Per key, the bounds of its value after the workload (every increment ended)."""
    keys, _ = _index(history)
    return {k: key.final() for k, key in keys.items()}


def counter_bounds(history: Iterable[Mapping[str, Any]],
                   final: Mapping[object, int | None] | None = None,
                   strong_levels: frozenset[str] = STRONG_LEVELS) -> list[CounterViolation]:
    """Reads, and ``final`` values per key (read after the workload and repair), outside the
    bounds the increments allow."""
    keys, reads = _index(history)
    out: list[CounterViolation] = []
    for r in reads:
        strong = r.get("consistency", "QUORUM").upper() in strong_levels
        b = keys[r["key"]].bounds(r["start"], r["end"], strong)
        seen = r["value"] or 0
        if seen not in b:
            out.append(CounterViolation(r["key"], b.exact, seen, r["start"], b.low, b.high,
                                        "read"))
    for k, value in (final or {}).items():
        b = keys.get(k, _Key([])).final()
        if (value or 0) not in b:
            out.append(CounterViolation(k, b.exact, value or 0, INF, b.low, b.high,
                                        "final value"))
    return out


def counter_replicas(history: Iterable[Mapping[str, Any]],
                     replicas: Mapping[object, Mapping[str, int | None]]
                     ) -> list[CounterViolation]:
    """After repair, per key, its replicas' values (address -> value): all equal, and each
    within the final bounds."""
    keys, _ = _index(history)
    out: list[CounterViolation] = []
    for k, values in replicas.items():
        b = keys.get(k, _Key([])).final()
        got = {address: v or 0 for address, v in sorted(values.items())}
        if len(set(got.values())) > 1:
            out.append(CounterViolation(k, b.exact, got, INF, b.low, b.high, "replicas differ"))
        for address, v in got.items():
            if v not in b:
                out.append(CounterViolation(k, b.exact, v, INF, b.low, b.high,
                                            f"replica {address}"))
    return out

