"""Client timestamps checked against cluster time; client clocks estimated (pure)."""

from __future__ import annotations

import pytest

from skewless.errors import InvalidRequest
from skewless.node.clock.client_clocks import ClientClocks, TimestampRules, check

NOW = 1_750_000_000_000_000
RULES = TimestampRules(max_future_ms=500, max_past_ms=10_000, past_action="warn")
DAY_US = 86_400 * 10**6


def test_future_timestamp_refused_saying_by_how_much() -> None:
    with pytest.raises(InvalidRequest) as e:
        check(NOW + DAY_US, NOW, RULES, "USING TIMESTAMP")
    assert "86400000.0 ms ahead of cluster time" in str(e.value)
    assert "max_future_timestamp_ms = 500" in str(e.value)
    assert check(NOW + 499_000, NOW, RULES, "Client timestamp") is None


def test_past_timestamp_warns_or_fails_by_setting() -> None:
    warning = check(NOW - 60 * 10**6, NOW, RULES, "Client timestamp")
    assert warning is not None and "60000.0 ms behind cluster time" in warning
    assert check(NOW - 9 * 10**6, NOW, RULES, "Client timestamp") is None
    strict = TimestampRules(500, 10_000, "fail")
    with pytest.raises(InvalidRequest, match="behind cluster time"):
        check(NOW - 60 * 10**6, NOW, strict, "Client timestamp")


def test_client_offset_is_the_least_delayed_sample() -> None:
    cc = ClientClocks()
    cc.connected(1, "127.0.0.9:5000")
    for delay_us in (3000, 800, 5000):
        cc.sample(1, NOW + 200_000 - delay_us, NOW, 10**9)  # clock 200 ms ahead
    assert cc.offset_us(1, 10**9) == 200_000 - 800
    (view,) = cc.views(10**9, alarm_ms=50)
    assert view.alarm and view.samples == 3 and view.address == "127.0.0.9:5000"
    cc.closed(1)
    assert cc.views(10**9, alarm_ms=50) == []
    cc.sample(1, NOW, NOW, 10**9)  # after close: ignored
    assert cc.offset_us(1, 10**9) is None
