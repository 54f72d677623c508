"""Seeds the swarm once failed under the default policy, kept as regression runs.

* A majority of clocks stepping back at once (a leap second on two of three nodes, or on all
  three while links are clogged): cluster time moved back, some nodes followed it before the
  others, and the stamps issued before were ignored as far-future. Fixed in the clocks: samples
  from before a node's own step are dropped, far-future is judged against the node's hybrid
  clock as well as cluster time, and a fenced node's messages carry no reading of its clock.
* A strobing clock that flips which clocks make the majority, and a leap second with clogged
  links and pauses: nodes in bounds briefly read times a second apart. Only restamping keeps
  these writes (a shadowed write is stamped again above the newer data before it is
  acknowledged); with ``--no-restamp`` the same seeds lose acknowledged writes, loudly."""

from __future__ import annotations

import pytest

from skewless.lab.options import FaultPlan
from skewless.lab.runner import RunConfig, RunResult, run

CLOCK_FIXED = [
    (55, FaultPlan(clock_drift_ppm=200, leap_second=True)),
    (73, FaultPlan(leap_second=True, delay_ms=5, swizzle=True, crashes=1)),
]
NEEDS_RESTAMP = [
    (37, FaultPlan(clock_offset_ms=1000, strobe_ms=1000, clock_fix=True)),
    (104, FaultPlan(leap_second=True, clock_fix=True, delay_ms=5, swizzle=True, pauses=2)),
]


def _verdicts(result: RunResult) -> dict[str, bool]:
    return {v.checker: v.ok for v in result.verdicts}


@pytest.mark.parametrize(("seed", "plan"), CLOCK_FIXED)
def test_majority_stepping_back_loses_nothing(seed: int, plan: FaultPlan) -> None:
    for no_restamp in (False, True):
        result = run(RunConfig(seed, faults=plan, no_restamp=no_restamp), trace=False)
        assert result.ok, (no_restamp, [v for v in result.verdicts if not v.ok])


@pytest.mark.parametrize(("seed", "plan"), NEEDS_RESTAMP)
def test_restamping_keeps_what_the_clocks_cannot(seed: int, plan: FaultPlan) -> None:
    default = run(RunConfig(seed, faults=plan), trace=False)
    assert default.ok, [v for v in default.verdicts if not v.ok]
    without = run(RunConfig(seed, faults=plan, no_restamp=True), trace=False)
    verdicts = _verdicts(without)
    assert not verdicts["superseded_writes"] and not verdicts["linearizability"], verdicts
    lost = next(v for v in without.verdicts if v.checker == "superseded_writes")
    assert lost.silent == 0  # loud without restamping: every loser got a shadowing warning
    print(f"\nseed {seed}: default ok; --no-restamp: {len(lost.details)} superseded")
