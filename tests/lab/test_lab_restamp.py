"""Seeds the swarm once failed on under the default policy, kept as regression runs (the
workload's draws have changed since, so they now exercise the same faults on other histories).

* A majority of clocks stepping back at once (a leap second on two of three nodes, or on all
  three while links are clogged): cluster time moved back, some nodes followed it before the
  others, and the stamps issued before were ignored as far-future. Fixed in the clocks: samples
  from before a node's own step are dropped, far-future is judged against the node's hybrid
  clock as well as cluster time, and a fenced node's messages carry no reading of its clock.
* Clock steps, strobes and leap seconds with crashes, clogged links or pauses: nodes in bounds
  briefly read times apart by more than a write's round trip. Only restamping keeps these
  writes (a shadowed write is stamped again above the newer data before it is acknowledged);
  with ``--no-restamp`` seeds like these lose acknowledged writes, loudly."""

from __future__ import annotations

import pytest

from skewless.lab.options import FaultPlan
from skewless.lab.runner import RunConfig, run

CLOCK_FIXED = [
    (55, FaultPlan(clock_drift_ppm=200, leap_second=True)),
    (73, FaultPlan(leap_second=True, delay_ms=5, swizzle=True, crashes=1)),
]
NEEDS_RESTAMP = [  # plans a 300-seed swarm with --no-restamp found (10 of 300); seeds redrawn
    # when node.topology changed the token layout (evenly spaced and allocated tokens)
    (144, FaultPlan(clock_offset_ms=3000, clock_steps=1, clock_step_ms=300, leap_second=True,
                   strobe_ms=200, clock_fix=True, delay_ms=100, dup_pct=1, crashes=2)),
    (167, FaultPlan(clock_drift_ppm=10000, clock_steps=1, clock_step_ms=300, delay_ms=20)),
    (44, FaultPlan(clock_offset_ms=1000, leap_second=True, delay_ms=20, loss_pct=1, crashes=1)),
    (68, FaultPlan(clock_steps=3, clock_step_ms=300, delay_ms=20, partitions=3, crashes=1)),
    (733, FaultPlan(leap_second=True, clock_fix=True, delay_ms=5, swizzle=True, pauses=2)),
    (1435, FaultPlan(clock_steps=3, clock_step_ms=300, leap_second=True, clock_fix=True,
                    crashes=1)),
    # Found again (seeds 0-11 per plan above, --no-restamp) after DDL went through the
    # metadata log's Paxos rounds, which shifted every history after the setup:
    (9, FaultPlan(clock_offset_ms=3000, clock_steps=1, clock_step_ms=300, leap_second=True,
                  strobe_ms=200, clock_fix=True, delay_ms=100, dup_pct=1, crashes=2)),
    (4, FaultPlan(leap_second=True, clock_fix=True, delay_ms=5, swizzle=True, pauses=2)),
]


@pytest.mark.parametrize(("seed", "plan"), CLOCK_FIXED)
def test_majority_stepping_back_loses_nothing(seed: int, plan: FaultPlan) -> None:
    for no_restamp in (False, True):
        result = run(RunConfig(seed, faults=plan, no_restamp=no_restamp), trace=False)
        assert result.ok, (no_restamp, [v for v in result.verdicts if not v.ok])


def test_restamping_keeps_what_the_clocks_cannot() -> None:
    """Every one of these seeds passes by default; without restamping some lose acknowledged
    writes (all of them loud). Seeds follow the workload's draws: if it changes, some of them
    may pass without restamping too, but not all (each is a severe clock fault)."""
    lost = {}
    for seed, plan in NEEDS_RESTAMP:
        default = run(RunConfig(seed, faults=plan), trace=False)
        assert default.ok, (seed, [v for v in default.verdicts if not v.ok])
        without = run(RunConfig(seed, faults=plan, no_restamp=True), trace=False)
        verdict = next(v for v in without.verdicts if v.checker == "superseded_writes")
        assert verdict.silent == 0  # loud without restamping: each loser was warned
        lost[seed] = len(verdict.details)
    print(f"\nsuperseded acknowledged writes without restamping, per seed: {lost}")
    assert sum(1 for n in lost.values() if n) >= 2, lost
