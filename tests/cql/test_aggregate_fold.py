"""Aggregates over many rows fold min/max/sum as they go, with the same results."""

from __future__ import annotations

import pytest
from test_select import Store, T, i32, i64, rows

from skewless.cql import selection


def test_folding_min_max_sum_gives_the_unfolded_results(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Store()
    big = 2**31 - 7  # sums wrap around the int range, as in Cassandra
    for k in range(1, 4):
        for c in range(7):
            s.run(f"INSERT INTO t (k, c, w) VALUES ({k}, {c}, {big - k * 100 - c})", T)
    q = "SELECT count(*), min(w), max(w), sum(w), avg(w) FROM t"
    unfolded = rows(s, q)
    monkeypatch.setattr(selection, "AGGREGATE_FOLD_VALUES", 2)
    assert rows(s, q) == unfolded
    values = [big - k * 100 - c for k in range(1, 4) for c in range(7)]
    total = sum(values) & 0xFFFFFFFF
    total = total - 2**32 if total >= 2**31 else total
    assert unfolded == [(i64(21), i32(min(values)), i32(max(values)), i32(total),
                         i32(sum(values) // 21))]
