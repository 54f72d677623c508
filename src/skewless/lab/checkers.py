"""Consistency checkers over operation histories (from the simulator or from real clusters).

``superseded_writes``: the history of registers each written by one sequential writer with
increasing values (write v+1 starts after write v ended). An acknowledged write may never be
superseded by an earlier one: once write v has been acknowledged, every read that starts later
returns v or a later value, and the final value is at least the last acknowledged one. A read
returning less (or nothing) is a lost acknowledged write: exactly what last-write-wins on a bad
clock produces silently. Failed (unacknowledged) writes promise nothing: their value may or may
not appear.

Pure: a history is a sequence of dicts with keys op ("write"/"read"), key, value, start, end
(times from one monotonic clock per key's writer) and ok.

Deletes. A write with ``delete: true`` deletes the row: its value orders it among the key's
writes, and a read returns ``None`` for it. ``resolve_deletes`` gives the value-ordered checkers
(this one and ``session_checks``) what such a read saw: the newest delete of the key that started
before the read ended (the writes of a key are sequential, so that is the only delete the read
can have seen, or one as old as anything older it could have seen); ``None`` if there is none.
``as_register_writes`` gives the linearizability checker the deletes as writes of ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Violation:
    key: object
    acknowledged: int  # the value whose acknowledgement came before the read started
    seen: object  # what the read (or the final state) returned
    at: float  # when the read started (the final check: inf)

    def __str__(self) -> str:
        when = "final state" if self.at == float("inf") else f"read at {self.at:.3f}"
        return (f"key {self.key}: write {self.acknowledged} was acknowledged, then the "
                f"{when} returned {self.seen}")


def superseded_writes(history: Iterable[Mapping[str, Any]],
                      final: Mapping[object, object] | None = None) -> list[Violation]:
    """Reads (and ``final`` values per key) older than an earlier acknowledged write."""
    acks: dict[object, list[tuple[float, int]]] = {}
    reads: list[Mapping[str, Any]] = []
    for op in history:
        if op["op"] == "write" and op["ok"]:
            acks.setdefault(op["key"], []).append((op["end"], int(op["value"])))
        elif op["op"] == "read" and op["ok"]:
            reads.append(op)
    for a in acks.values():
        a.sort()
    out: list[Violation] = []
    for r in reads:
        floor = _acked_before(acks.get(r["key"], []), r["start"])
        if floor is not None and (r["value"] is None or r["value"] < floor):
            out.append(Violation(r["key"], floor, r["value"], r["start"]))
    for key, value in (final or {}).items():
        floor = _acked_before(acks.get(key, []), float("inf"))
        if floor is not None and (value is None or value < floor):  # type: ignore[operator]
            out.append(Violation(key, floor, value, float("inf")))
    return out


def _acked_before(acks: list[tuple[float, int]], t: float) -> int | None:
    best = None
    for end, value in acks:
        if end >= t:
            break
        best = value if best is None else max(best, value)
    return best


def resolve_deletes(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The history with each read of ``None`` given the value of the newest delete of its key
    that started before the read ended (or left ``None``): see the module docstring."""
    ops = list(history)
    deletes: dict[object, list[tuple[float, int]]] = {}
    for op in ops:
        if op["op"] == "write" and op.get("delete"):
            deletes.setdefault(op["key"], []).append((op["start"], int(op["value"])))
    if not deletes:
        return ops
    out: list[Mapping[str, Any]] = []
    for op in ops:
        if op["op"] == "read" and op["ok"] and op["value"] is None:
            end = op["end"] if op["end"] is not None else float("inf")
            seen = [v for start, v in deletes.get(op["key"], []) if start < end]
            if seen:
                op = {**op, "value": max(seen)}
        out.append(op)
    return out


def as_register_writes(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The history with each delete as a write of ``None`` (what a read of it returns)."""
    return [{**op, "value": None} if op["op"] == "write" and op.get("delete") else op
            for op in history]
