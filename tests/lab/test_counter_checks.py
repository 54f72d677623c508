"""Counter bounds: runs of a real counter never cross them; a replay applied twice and a lost
acknowledged increment do; reads are bounded by what was acknowledged before and what was
concurrent; replicas must agree after repair."""

from __future__ import annotations

import heapq
import random
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.lab.checkers import Violation
from skewless.lab.counter_checks import counter_bounds, counter_replicas, final_bounds

History = list[dict[str, Any]]


def inc(key: object, delta: int, start: float, end: float, ok: bool = True,
        applied: bool | None = None) -> dict[str, Any]:
    op = {"op": "increment", "key": key, "delta": delta, "start": start, "end": end, "ok": ok}
    return op if applied is None else op | {"applied": applied}


def rd(key: object, value: int | None, start: float, end: float,
       consistency: str = "QUORUM", ok: bool = True) -> dict[str, Any]:
    return {"op": "read", "key": key, "value": value, "start": start, "end": end, "ok": ok,
            "consistency": consistency}


def counter_run(rng: random.Random, ops: int, keys: int, clients: int, width: float = 2.0,
                positive: bool = False, unknown_applied: float = 0.5
                ) -> tuple[History, dict[int, int], list[tuple[int, int]]]:
    """A real counter's run: each operation happens at an instant inside its interval; an
    increment with an unknown outcome is applied (with probability ``unknown_applied``) at its
    instant or later, or never; one proved unapplied never is. A QUORUM read returns the value
    at its instant; a ONE read misses a random subset of the applied increments. Returns the
    history, the final values and the acknowledged increments as (key, delta)."""
    total = [0] * keys  # the value now, per key
    recent: list[list[int]] = [[] for _ in range(keys)]  # the last deltas applied, per key
    late: list[tuple[float, int, int]] = []  # (instant, key, delta): applied later
    free_at = [-1e9] * clients
    out: History = []
    acked: list[tuple[int, int]] = []
    point = 0.0
    for _ in range(ops):
        c = min(range(clients), key=lambda j: free_at[j])
        key = rng.randrange(keys)
        point = max(point + rng.uniform(0.01, 0.5), free_at[c] + 1e-3)
        start = max(free_at[c] + 1e-3, point - rng.uniform(0, width))
        end = point + rng.uniform(0, width)
        free_at[c] = end
        while late and late[0][0] <= point:
            _, k, d = heapq.heappop(late)
            total[k] += d
            recent[k] = [*recent[k][-19:], d]
        if rng.random() < 0.6:
            delta = rng.randint(1, 5) if positive else rng.choice([-3, -1, 1, 1, 2, 5])
            fate = rng.random()
            if fate < 0.8:
                out.append(inc(key, delta, start, end))
                heapq.heappush(late, (point, key, delta))
                acked.append((key, delta))
            elif fate < 0.9:
                out.append(inc(key, delta, start, end, ok=False, applied=False))
            else:
                out.append(inc(key, delta, start, end, ok=False))
                if rng.random() < unknown_applied:
                    heapq.heappush(late, (point + rng.choice([0, 0, 50]), key, delta))
            continue
        strong = rng.random() < 0.7
        value = total[key] - (0 if strong else  # ONE: some of the latest ones missed
                              sum(d for d in recent[key] if rng.random() < 0.5))
        out.append(rd(key, value if recent[key] or value else None, start, end,
                      "QUORUM" if strong else "ONE"))
    for _, k, d in late:
        total[k] += d
    return out, dict(enumerate(total)), acked


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 150), st.integers(1, 3), st.integers(1, 6),
       st.floats(0.0, 4.0))
def test_runs_of_a_real_counter_stay_within_bounds(seed: int, ops: int, keys: int,
                                                   clients: int, width: float) -> None:
    h, final, _ = counter_run(random.Random(seed), ops, keys, clients, width)
    assert counter_bounds(h, final) == []
    replicas = {k: {"127.0.0.1": v, "127.0.0.2": v} for k, v in final.items()}
    assert counter_replicas(h, replicas) == []


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 150), st.integers(1, 6))
def test_a_replay_applied_twice_exceeds_the_upper_bound(seed: int, ops: int,
                                                        clients: int) -> None:
    """Positive deltas, every unknown increment applied: the total is at its upper bound, so
    one acknowledged increment counted twice (a replica applying a replay twice) crosses it."""
    rng = random.Random(seed)
    h, final, acked = counter_run(rng, ops, 1, clients, positive=True, unknown_applied=1.0)
    assert counter_bounds(h, final) == []
    if not acked:
        return
    _, delta = rng.choice(acked)
    (v,) = counter_bounds(h, {0: final[0] + delta})
    assert isinstance(v, Violation) and v.seen == v.high + delta
    (v,) = counter_replicas(h, {0: {"a": final[0] + delta}})
    assert "replica a" in str(v)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 150), st.integers(1, 6))
def test_a_lost_acknowledged_increment_falls_below_the_lower_bound(seed: int, ops: int,
                                                                   clients: int) -> None:
    """Positive deltas, no unknown increment applied: the total is at its lower bound."""
    rng = random.Random(seed)
    h, final, acked = counter_run(rng, ops, 1, clients, positive=True, unknown_applied=0.0)
    assert counter_bounds(h, final) == []
    if not acked:
        return
    _, delta = rng.choice(acked)
    (v,) = counter_bounds(h, {0: final[0] - delta})
    assert v.seen == v.low - delta and v.at == float("inf")


def test_final_bounds_count_unknown_increments_by_sign() -> None:
    h = [inc(1, 10, 0, 1), inc(1, -2, 0, 1), inc(1, 3, 2, 3, ok=False),
         inc(1, -4, 2, 3, ok=False), inc(1, 100, 2, 3, ok=False, applied=False)]
    b = final_bounds(h)[1]
    assert (b.exact, b.low, b.high) == (8, 4, 11)
    assert counter_bounds(h, {1: 4}) == counter_bounds(h, {1: 11}) == []
    (low,) = counter_bounds(h, {1: 3})
    (high,) = counter_bounds(h, {1: 12})
    assert (low.low, low.high, high.seen) == (4, 11, 12)
    assert "final value is 3, outside [4, 11] (acknowledged and certainly seen: +8; " \
           "unknown or concurrent: -4 .. +3)" in str(low)


def test_quorum_read_must_see_what_was_acknowledged_before_it() -> None:
    h = [inc(1, 1, 0, 1), inc(1, 1, 2, 3), rd(1, 1, 4, 5)]
    (v,) = counter_bounds(h)
    assert (v.acknowledged, v.seen, v.low, v.high, v.at) == (2, 1, 2, 2, 4)
    assert "read at 4.000 is 1, outside [2, 2]" in str(v)
    assert counter_bounds([*h[:2], rd(1, 1, 4, 5, "ONE")]) == []  # ONE may miss it
    assert counter_bounds([*h[:2], rd(1, 0, 4, 5, "ONE")]) == []
    assert len(counter_bounds([*h[:2], rd(1, 3, 4, 5, "ONE")])) == 1  # but never invents


def test_read_may_see_concurrent_and_unknown_increments_but_not_later_ones() -> None:
    h = [inc(1, 5, 0, 1), inc(1, 2, 1.5, 10), inc(1, -1, 0, 2, ok=False),
         inc(1, 7, 0, 1, ok=False, applied=False), inc(1, 100, 6, 7)]
    for value in (4, 5, 6, 7):  # 5, plus any of +2 (concurrent) and -1 (unknown)
        assert counter_bounds([*h, rd(1, value, 3, 5)]) == []
    for value in (3, 8, 12, 105):  # the proved-unapplied +7 and the later +100 are not seen
        assert len(counter_bounds([*h, rd(1, value, 3, 5)])) == 1
    assert counter_bounds([*h, rd(1, 104, 3, 6)]) == []  # equal times are concurrent
    assert counter_bounds([*h, rd(1, None, -2, -1)]) == []  # no row: 0


def test_failed_reads_say_nothing_and_unknown_keys_are_zero() -> None:
    assert counter_bounds([rd(1, 99, 0, 1, ok=False)]) == []
    (v, final) = counter_bounds([rd(2, 1, 0, 1)], {3: 1})
    assert v.key == 2
    assert (final.key, final.low, final.high) == (3, 0, 0)


def test_replicas_must_agree_after_repair() -> None:
    h = [inc(1, 1, 0, 1), inc(1, 1, 2, 3, ok=False)]
    assert counter_replicas(h, {1: {"a": 2, "b": 2, "c": 2}}) == []
    (v,) = counter_replicas(h, {1: {"a": 1, "b": 2, "c": 2}})
    assert str(v) == "key 1: the replicas differ after repair: {'a': 1, 'b': 2, 'c': 2}"
    out = counter_replicas(h, {1: {"a": 3, "b": 3}})
    assert [x.what for x in out] == ["replica a", "replica b"]


def test_thirty_thousand_increments_check_fast() -> None:
    """The issue's run: 3 clients x 10,000 increments with reads in between."""
    h, final, _ = counter_run(random.Random(3), 50_000, 1, 3)
    began = time.perf_counter()
    assert counter_bounds(h, final) == []
    took = time.perf_counter() - began
    print(f"\n{len(h)} counter operations checked in {took:.3f} s")
