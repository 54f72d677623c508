"""The pure parts of `skewless stress`: options, the operation mix, keys, values and reports."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from skewless import cli, limits
from skewless.stress.options import build_options, parse_duration, parse_ratio
from skewless.stress.report import (
    LATENCY_US_MAX,
    OTHER_KIND,
    OpTally,
    document,
    heading,
    latency_stats,
    notes,
    summary_table,
)
from skewless.stress.workload import KeyChooser, OperationMix, value_for


def _options(workload: str = "write", **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        ops=None, duration=None, keys=None, ratio=None, concurrency=64, consistency="quorum",
        value_size=100, replication_factor=3, hosts="127.0.0.1", port=9042, key_dist=None,
        seed=0, token_aware=True)
    args.update(kw)
    return build_options(workload, **args)


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30.0), ("30", 30.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), (" 1.5s ", 1.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "10x", "-5s", "0s", "1h1m", "2h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_ratios() -> None:
    assert parse_ratio("write=1,read=3") == (("write", 1), ("read", 3))
    assert parse_ratio(" READ = 2 , write=5") == (("write", 5), ("read", 2))
    assert parse_ratio("write=0,read=1") == (("read", 1),)


@pytest.mark.parametrize("text, message", [
    ("write=1,read=x", "integer"), ("write", "OP=WEIGHT"), ("scan=1", "OP=WEIGHT"),
    ("write=1,write=2", "twice"), ("write=0,read=0", "above zero"), ("read=-1", "0..1000"),
    (f"read={limits.stress_ratio_weight_max + 1}", "weights are"),
])
def test_bad_ratios(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ratio(text)


def test_defaults_bound_every_run_in_count_and_time() -> None:
    o = _options()
    assert (o.ops, o.duration_s, o.keys, o.key_dist, o.consistency) == (
        10_000, None, 10_000, "seq", "QUORUM")
    assert o.ratio == (("write", 1),)
    timed = _options("read", duration="30s")
    assert timed.ops == limits.stress_ops_max and timed.duration_s == 30.0
    assert timed.keys == limits.stress_keys_default_max and timed.key_dist == "uniform"
    assert _options("mixed").ratio == (("write", 1), ("read", 1))
    assert _options("mixed", ratio="read=3,write=1").ratio == (("write", 1), ("read", 3))
    assert _options(ops=50, keys=7).keys == 7
    assert _options(hosts="127.0.0.1, 127.0.0.2,").hosts == ("127.0.0.1", "127.0.0.2")


@pytest.mark.parametrize("workload, kw, message", [
    ("write", {"ratio": "write=1"}, "--ratio: only the mixed"),
    ("mixed", {"ratio": "write=x"}, "--ratio: "),
    ("read", {"consistency": "any"}, "--consistency: ANY is for writes only"),
    ("mixed", {"consistency": "each_quorum"}, "--consistency: EACH_QUORUM"),
    ("write", {"consistency": "serial"}, "--consistency: expected one of"),
    ("write", {"duration": "3h"}, "--duration: "),
    ("write", {"hosts": " , "}, "--hosts: "),
    ("scan", {}, "workload"),
])
def test_option_errors_name_the_option(workload: str, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _options(workload, **kw)


def test_options_as_json_round_trip() -> None:
    o = _options("mixed", ratio="write=1,read=3", ops=20, hosts="a,b")
    d = json.loads(json.dumps(o.to_json()))
    assert d["ratio"] == {"write": 1, "read": 3} and d["hosts"] == ["a", "b"]
    assert d["keyspace"] == "skewless_stress" and d["ops"] == 20


def test_cli_refuses_bad_options_before_connecting() -> None:
    runner = CliRunner()
    r = runner.invoke(cli.main, ["stress", "mixed", "--ratio", "write=1,scan=2"])
    assert r.exit_code == 2 and "--ratio" in r.output and "scan=2" in r.output
    r = runner.invoke(cli.main, ["stress", "write", "--concurrency", "0"])
    assert r.exit_code == 2 and "--concurrency" in r.output
    r = runner.invoke(cli.main, ["stress", "read", "--duration", "forever"])
    assert r.exit_code == 2 and "--duration" in r.output


def test_cli_reports_an_unreachable_cluster() -> None:
    # Nothing listens on this port of the loopback (the stress helper's own range).
    r = CliRunner().invoke(cli.main, ["stress", "write", "--ops", "1", "--port", "29699"])
    assert r.exit_code == 1 and "cannot reach a node at 127.0.0.1:29699" in r.output


# --- workload --------------------------------------------------------------------------------


def test_mix_is_spread_out_and_exact_per_cycle() -> None:
    mix = OperationMix((("write", 1), ("read", 3)))
    picks = [mix.next() for _ in range(8)]
    assert picks == ["read", "write", "read", "read"] * 2


@given(st.lists(st.integers(1, 20), min_size=1, max_size=2), st.integers(1, 5))
def test_mix_meets_the_ratio_over_whole_cycles(weights: list[int], cycles: int) -> None:
    names = ["write", "read"][: len(weights)]
    mix = OperationMix(tuple(zip(names, weights, strict=True)))
    counts = Counter(mix.next() for _ in range(sum(weights) * cycles))
    assert counts == {n: w * cycles for n, w in zip(names, weights, strict=True)}


def test_keys_sequential_wrap_and_uniform_is_seeded() -> None:
    seq = KeyChooser(3, "seq", 0)
    assert [seq.key(i) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    a, b, c = (KeyChooser(1000, "uniform", s) for s in (1, 1, 2))
    ka, kb, kc = ([k.key(i) for i in range(50)] for k in (a, b, c))
    assert ka == kb and ka != kc and all(0 <= k < 1000 for k in ka)


def test_values_are_a_function_of_the_key() -> None:
    assert value_for(1, 10) == b"\0\0\0\0\0\0\0\x01\0\0"
    assert len(value_for(12345, 100)) == 100 and value_for(7, 0) == b""
    assert value_for(2, 64) != value_for(3, 64)
    assert value_for(-1, 4) == b"\xff" * 4


# --- report ----------------------------------------------------------------------------------


def _tally(latencies_us: list[int], errors: list[str] = ()) -> OpTally:  # type: ignore[assignment]
    t = OpTally()
    for v in latencies_us:
        t.record_ok(v)
    for kind in errors:
        t.record_error(kind)
    return t


def test_latency_stats_in_ms_and_ordered() -> None:
    t = _tally(list(range(1000, 101_000, 100)) + [5_000_000])
    s = latency_stats(t.histogram)
    assert s["p50_ms"] is not None and abs(s["p50_ms"] - 51.0) < 0.1
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["p999_ms"] <= s["max_ms"]  # type: ignore[operator]
    assert abs(s["max_ms"] - 5000) < 5  # type: ignore[operator]
    assert latency_stats(OpTally().histogram) == dict.fromkeys(
        ["mean_ms", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"], None)


def test_out_of_range_latencies_are_clamped() -> None:
    t = _tally([0, LATENCY_US_MAX * 10])
    assert t.ops == 2 and t.histogram.get_total_count() == 2
    assert t.histogram.get_max_value() >= LATENCY_US_MAX


def test_error_kinds_are_bounded() -> None:
    kinds = [f"E{i}" for i in range(limits.stress_error_kinds_max + 5)]
    t = _tally([], kinds)
    assert t.errors == t.ops == len(kinds)
    assert len(t.error_kinds) == limits.stress_error_kinds_max + 1
    assert t.error_kinds[OTHER_KIND] == 5


def test_document_and_summary_agree() -> None:
    writes = _tally([2000] * 30, ["WriteTimeout"])
    reads = _tally([1000] * 90)
    reads.not_found = 4
    options = _options("mixed", ratio="write=1,read=3", ops=121).to_json()
    doc = json.loads(json.dumps(document(options, {"write": writes, "read": reads}, 2.0, "ops",
                                         0, "0.1.0")))
    assert doc["operations"]["write"]["ops"] == 31 and doc["operations"]["write"]["errors"] == 1
    assert doc["operations"]["write"]["error_kinds"] == {"WriteTimeout": 1}
    assert "not_found" not in doc["operations"]["write"]
    assert doc["operations"]["read"]["not_found"] == 4
    assert doc["total"]["ops"] == 121 and doc["total"]["ops_per_s"] == 60.5
    assert doc["total"]["p50_ms"] == 1.0 and doc["total"]["max_ms"] == 2.0
    console = Console(record=True, width=120)
    console.print(summary_table(doc))
    text = console.export_text()
    text += heading(doc)
    for word in ("write", "read", "total", "60", "121", "mixed: QUORUM, RF=3"):
        assert word in text
    assert notes(doc) == ["write errors: WriteTimeout 1",
                          "read: 4 keys not found (write them first, with the same --keys)"]
