"""Read-your-writes and monotonic reads per session: planted bugs caught, correct runs pass."""

from __future__ import annotations

from typing import Any

from skewless.lab.session_checks import (
    monotonic_reads,
    older,
    read_your_writes,
    session_violations,
)


def w(s: str, key: int, value: int, start: float, end: float,
      ok: bool = True) -> dict[str, Any]:
    return {"op": "write", "session": s, "key": key, "value": value, "start": start, "end": end,
            "ok": ok}


def r(s: str | None, key: int, value: int | None, start: float, end: float,
      ok: bool = True) -> dict[str, Any]:
    return {"op": "read", "session": s, "key": key, "value": value, "start": start, "end": end,
            "ok": ok}


def test_correct_sessions_pass() -> None:
    h = [w("a", 1, 1, 0, 1), r("a", 1, 1, 1.5, 2), w("b", 1, 2, 2.5, 3), r("a", 1, 2, 3.5, 4),
         r("b", 1, 2, 4.5, 5), r("c", 1, None, -1, -0.5), r("c", 1, 2, 5.5, 6)]
    assert session_violations(h) == []


def test_planted_stale_read_after_own_acknowledged_write_is_caught() -> None:
    """A replica that dropped the session's write: the session's next read sees the old value."""
    h = [w("a", 1, 1, 0, 1), w("b", 1, 2, 1.5, 2), w("a", 1, 3, 2.5, 3), r("a", 1, 2, 3.5, 4)]
    (v,) = read_your_writes(h)
    assert (v.session, v.key, v.floor, v.seen, v.at) == ("a", 1, 3, 2, 3.5)
    assert str(v) == ("read-your-writes: session a, key 1: its write 3 was acknowledged, then "
                      "its read at 3.500 returned 2")
    assert monotonic_reads(h) == []


def test_reading_nothing_after_own_write_is_caught() -> None:
    (v,) = read_your_writes([w("a", 1, 1, 0, 1), r("a", 1, None, 2, 3)])
    assert v.seen is None and v.floor == 1


def test_other_sessions_and_failed_or_concurrent_writes_promise_nothing() -> None:
    h = [w("a", 1, 5, 0, 1), r("b", 1, None, 2, 3),  # another session's write
         w("c", 1, 6, 0, 1, ok=False), r("c", 1, 5, 2, 3),  # failed write
         w("d", 2, 1, 0, 5), r("d", 2, None, 4, 6),  # read started before the ack
         w("e", 3, 1, 0, 1), r("e", 4, None, 2, 3), r(None, 1, None, 9, 10)]  # other key, none
    assert session_violations(h) == []


def test_planted_session_going_backwards_is_caught() -> None:
    """A session's reads served by a replica that has 3, then by one still at 2."""
    h = [w("x", 1, 2, 0, 1), w("x", 1, 3, 1.5, 2), r("a", 1, 3, 3, 4), r("a", 1, 3, 5, 6),
         r("a", 1, 2, 7, 8), r("a", 1, None, 9, 10), r("b", 1, 2, 9, 10)]
    vs = monotonic_reads(h)
    assert [(v.floor, v.seen, v.at) for v in vs] == [(3, 2, 7), (3, None, 9)]
    assert str(vs[0]) == ("monotonic-reads: session a, key 1: it read 3, then its read at "
                          "7.000 returned 2")
    assert read_your_writes(h) == []


def test_overlapping_reads_of_one_session_are_not_ordered() -> None:
    h = [r("a", 1, 3, 0, 5), r("a", 1, 2, 1, 2), r("a", 1, 3, 4, 6),
         r("a", 1, 1, 5, 7, ok=False)]
    assert monotonic_reads(h) == []
    assert [v.seen for v in monotonic_reads(h + [r("a", 1, 2, 6.5, 7)])] == [2]


def test_older_orders_none_first() -> None:
    assert older(None, 1) and older(1, 2) and not older(2, 2) and not older(None, None)
    assert not older(2, None)
