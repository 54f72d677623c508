"""The lost-acknowledged-write checker catches planted bugs and passes correct histories."""

from __future__ import annotations

from typing import Any

from skewless.lab.checkers import as_register_writes, resolve_deletes, superseded_writes
from skewless.lab.linearizability import linearizable


def w(key: int, value: int, start: float, end: float, ok: bool = True) -> dict[str, Any]:
    return {"op": "write", "key": key, "value": value, "start": start, "end": end, "ok": ok}


def r(key: int, value: int | None, start: float, end: float) -> dict[str, Any]:
    return {"op": "read", "key": key, "value": value, "start": start, "end": end, "ok": True}


def test_correct_history_passes() -> None:
    h = [w(1, 1, 0, 1), r(1, 1, 1.1, 1.2), w(1, 2, 1.3, 1.4), r(1, 2, 1.5, 1.6)]
    assert superseded_writes(h, {1: 2}) == []


def test_read_concurrent_with_a_write_may_see_either() -> None:
    h = [w(1, 1, 0, 1), w(1, 2, 1.1, 2.0), r(1, 1, 1.5, 1.6)]
    assert superseded_writes(h) == []


def test_planted_lost_write_is_caught() -> None:
    """What a slow coordinator does: write 2 acknowledged, then the read still sees 1."""
    h = [w(1, 1, 0, 1), w(1, 2, 1.1, 1.2), r(1, 1, 1.3, 1.4)]
    (v,) = superseded_writes(h)
    assert (v.key, v.acknowledged, v.seen) == (1, 2, 1)
    assert "write 2 was acknowledged" in str(v)


def test_final_state_older_than_an_acknowledged_write_is_caught() -> None:
    h = [w(7, 1, 0, 1), w(7, 2, 1.1, 1.2)]
    (v,) = superseded_writes(h, {7: 1})
    assert v.at == float("inf")
    assert superseded_writes(h, {7: None})[0].seen is None


def test_failed_writes_promise_nothing() -> None:
    h = [w(1, 1, 0, 1), w(1, 2, 1.1, 1.2, ok=False), r(1, 1, 1.3, 1.4), r(1, 2, 1.5, 1.6)]
    assert superseded_writes(h, {1: 1}) == []


def d(key: int, value: int, start: float, end: float, ok: bool = True) -> dict[str, Any]:
    return {**w(key, value, start, end, ok), "delete": True}


def test_deletes_resolve_reads_of_nothing() -> None:
    """A read of nothing is the newest delete that started before it ended: after a delete
    (acknowledged or in progress) it is fine; after a re-insert acknowledged with no later
    delete it is the doomstone (a delete stamped above the re-insert) and is caught."""
    h = [w(1, 1, 0, 1), d(1, 2, 1.1, 1.2), r(1, None, 1.3, 1.4), w(1, 3, 1.5, 1.6),
         r(1, 3, 1.7, 1.8), d(1, 4, 1.9, 2.5), r(1, None, 2.0, 2.1)]
    resolved = resolve_deletes(h)
    assert [op["value"] for op in resolved if op["op"] == "read"] == [2, 3, 4]
    assert superseded_writes(resolved) == []
    doomstone = [w(1, 1, 0, 1), d(1, 2, 1.1, 1.2), w(1, 3, 1.3, 1.4), r(1, None, 1.5, 1.6)]
    (v,) = superseded_writes(resolve_deletes(doomstone))
    assert (v.acknowledged, v.seen) == (3, 2)
    assert superseded_writes(resolve_deletes([w(1, 1, 0, 1), r(1, None, 1.1, 1.2)]))


def test_deletes_are_writes_of_nothing_for_linearizability() -> None:
    h = [w(1, 1, 0, 1), d(1, 2, 1.1, 1.2), r(1, None, 1.3, 1.4)]
    assert linearizable(as_register_writes(h)).verdict == "linearizable"
    assert linearizable(as_register_writes(h + [r(1, 1, 1.5, 1.6)])).violations
