"""Session guarantees per client session: read-your-writes and monotonic reads.

A history is a sequence of dicts with keys op ("write"/"read"), key, value, start, end, ok (the
format of ``skewless.lab.checkers``) plus ``session``: the id of the client session that issued
the operation. Operations without a session (``None`` or absent) belong to no session and are
ignored here.

"Newer" and "older": every key is written with increasing values (one counter shared by all the
writers of the key, or values that sort by the order the workload issued them), so the writes of
a key are ordered by their values, and a value is newer than another when it is greater. ``None``
(a read of nothing: the initial state or a deleted row) is older than every written value.

``read_your_writes``: once a session's write of v to a key has been acknowledged, a read of the
key by the same session that starts after the acknowledgement returns v or a newer value. Failed
writes (ok false) promise nothing.

``monotonic_reads``: once a session has read v from a key, a read of the key by the same session
that starts after that read ended returns v or a newer value. A session's reads that overlap in
time (a session issuing concurrent requests) are not ordered and not compared.

Failed reads (ok false) are ignored by both checks. "After" is strict: an operation that starts
at the instant another ends is concurrent with it. Each check is one sweep per (session, key)
over the reads in start order, O(n log n).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Check = Literal["read-your-writes", "monotonic-reads"]


@dataclass(frozen=True, slots=True)
class SessionViolation:
    check: Check
    session: object
    key: object
    floor: object  # the value the session wrote (read-your-writes) or read (monotonic reads)
    seen: object  # what the later read returned
    at: float  # when the later read started

    def __str__(self) -> str:
        if self.check == "read-your-writes":
            before = f"its write {self.floor} was acknowledged"
        else:
            before = f"it read {self.floor}"
        return (f"{self.check}: session {self.session}, key {self.key}: {before}, then its read "
                f"at {self.at:.3f} returned {self.seen}")


def read_your_writes(history: Iterable[Mapping[str, Any]]) -> list[SessionViolation]:
    """Reads returning a value older than one their own session wrote and had acknowledged."""
    floors, reads = _by_session_key(history, "write")
    return _sweep("read-your-writes", floors, reads)


def monotonic_reads(history: Iterable[Mapping[str, Any]]) -> list[SessionViolation]:
    """Reads returning a value older than one their own session had read before."""
    floors, reads = _by_session_key(history, "read")
    return _sweep("monotonic-reads", floors, reads)


def session_violations(history: Iterable[Mapping[str, Any]]) -> list[SessionViolation]:
    """Both session checks over one history."""
    ops = list(history)
    return read_your_writes(ops) + monotonic_reads(ops)


def older(a: object, b: object) -> bool:
    """Whether value ``a`` is older than value ``b`` (``None`` is older than every value)."""
    if a is None:
        return b is not None
    return b is not None and a < b  # type: ignore[operator]


_Group = tuple[object, object]  # (session, key)
_Timed = tuple[float, int, object]  # (time, position in the history, value)


def _by_session_key(
    history: Iterable[Mapping[str, Any]], floor_op: str,
) -> tuple[dict[_Group, list[_Timed]], dict[_Group, list[_Timed]]]:
    """Per (session, key): the acknowledged ``floor_op`` ops by end, and the reads by start."""
    floors: dict[_Group, list[_Timed]] = {}
    reads: dict[_Group, list[_Timed]] = {}
    for i, op in enumerate(history):
        session = op.get("session")
        if session is None or not op["ok"]:
            continue
        group = (session, op["key"])
        if op["op"] == floor_op:
            floors.setdefault(group, []).append((op["end"], i, op["value"]))
        if op["op"] == "read":
            reads.setdefault(group, []).append((op["start"], i, op["value"]))
    return floors, reads


def _sweep(check: Check, floors: dict[_Group, list[_Timed]],
           reads: dict[_Group, list[_Timed]]) -> list[SessionViolation]:
    out: list[SessionViolation] = []
    for group in reads:
        before = sorted(floors.get(group, []), key=lambda e: (e[0], e[1]))
        best: object = None
        have = False
        j = 0
        for start, _, seen in sorted(reads[group], key=lambda e: (e[0], e[1])):
            while j < len(before) and before[j][0] < start:
                value = before[j][2]
                if not have or older(best, value):
                    best, have = value, True
                j += 1
            if have and older(seen, best):
                out.append(SessionViolation(check, group[0], group[1], best, seen, start))
    out.sort(key=lambda v: v.at)
    return out
