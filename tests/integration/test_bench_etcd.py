"""The throughput benchmarks at a tiny scale, so that the commands do not rot: ``bench_etcd``
(one round of one second per kind, against etcd and against wallclock) and ``bench load`` (a
few thousand rows). Their numbers are not checked (performance is never asserted by timing),
only that every round and decile ran, answered without errors and printed its figures. When
etcd or its client cannot be installed here, the etcd run is skipped with the command's reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import PORT_OFFSET

from skewless.bench_etcd import AETCD_REQUIREMENTS, EXIT_MISSING

pytestmark = pytest.mark.timeout(600)

ETCD_BASE_PORT = 23600 + PORT_OFFSET  # apart from the tests' clusters and the other benches'
LOAD_BASE_PORT = 23900 + PORT_OFFSET
ROUND = re.compile(r"^round 1 (writes|reads|one-at-a-time writes)\s+(\S+)\s+([\d,]+)/s\s+"
                   r"p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms\s+server CPU\s+([\d,]+) µs/op\s+"
                   r"client CPU\s+([\d,]+) µs/op$")


def _run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                         timeout=timeout_s)
    print(out.stdout, out.stderr[-3000:])
    return out


def _rounds(stdout: str) -> dict[tuple[str, str], re.Match[str]]:
    found = {}
    for line in stdout.splitlines():
        m = ROUND.match(line)
        if m:
            found[(m.group(1), m.group(2))] = m
    return found


def _check_round(m: re.Match[str]) -> None:
    assert int(m.group(3).replace(",", "")) > 0, m.group(0)
    p50, p99 = float(m.group(4)), float(m.group(5))
    assert 0 < p50 <= p99, m.group(0)


def test_pins_of_the_bench_extra_are_the_commands() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert tuple(pyproject["project"]["optional-dependencies"]["bench"]) == AETCD_REQUIREMENTS


def test_bench_etcd_small() -> None:
    out = _run(["-m", "skewless.bench_etcd", "--rounds", "1", "--seconds", "1", "--warmup",
                "0.2", "--read-keys", "200", "--base-port", str(ETCD_BASE_PORT)], 540)
    if out.returncode == EXIT_MISSING:
        pytest.skip(f"etcd or aetcd unavailable: {out.stderr.strip()[-500:]}")
    assert out.returncode == 0, out.stderr
    rounds = _rounds(out.stdout)
    for kind in ("writes", "reads", "one-at-a-time writes"):
        for side in ("skewless/hlc", "etcd"):
            assert (kind, side) in rounds, (kind, side)
            _check_round(rounds[(kind, side)])
    # (a round with errors or unanswered requests says so at its end, and ROUND did not match)
    assert out.stdout.count("ratio skewless/hlc ÷ etcd: throughput ") == 3
    for side in ("skewless/hlc", "etcd"):
        assert f"preloaded 200 keys into {side}: " in out.stdout
    assert out.stdout.count("/s, 0 errors") == 2


def test_bench_etcd_against_wallclock_small() -> None:
    out = _run(["-m", "skewless", "bench", "etcd", "--against", "wallclock", "--kinds", "writes",
                "--rounds", "1", "--seconds", "1", "--warmup", "0.2",
                "--base-port", str(ETCD_BASE_PORT)], 540)
    assert out.returncode == 0, out.stderr
    rounds = _rounds(out.stdout)
    assert set(rounds) == {("writes", "skewless/hlc"), ("writes", "skewless/wallclock")}
    for m in rounds.values():
        _check_round(m)
    assert "ratio skewless/hlc ÷ skewless/wallclock: throughput " in out.stdout


def test_bench_load_small() -> None:
    out = _run(["-m", "skewless", "bench", "load", "--rows", "2000", "--max-seconds", "300",
                "--base-port", str(LOAD_BASE_PORT)], 540)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    deciles = [x for x in lines if x.startswith("decile ")]
    assert [int(x.split()[1].rstrip(":")) for x in deciles] == list(range(1, 11)), deciles
    assert any(x.startswith("2,000 rows in ") and ", 0 errors" in x for x in lines), lines
    assert any(re.match(r"last decile / first decile throughput: \d+\.\d\d ", x) for x in lines)
    for i in (1, 2, 3):
        node = next(x for x in lines if x.startswith(f"node{i} "))
        assert re.search(r"data on disk [\d.]+ (KiB|MiB|GiB), RSS [\d.]+ (MiB|GiB)$", node), node
