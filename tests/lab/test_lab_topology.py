"""The lab's topology fault (``lab.topology``): joins, decommissions, removenodes and
replacements drawn from the seed, under the workload and the checkers.

Seeds with every kind of change run clean, and the clients use the new nodes; the same seed
gives the same trace; a join that takes its ranges without streaming them (the planted
``join-without-streaming``: auto_bootstrap off) is caught by the lost-write checker, where the
same run with a real bootstrap passes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from skewless.lab.options import FaultPlan, draw_plan
from skewless.lab.runner import RunConfig, RunResult, run

pytestmark = pytest.mark.timeout(300)


def _changes(result: RunResult) -> list[str]:
    return [line.split("nemesis topology ", 1)[1] for line in result.trace
            if "nemesis topology " in line]


def _assert_clean(result: RunResult) -> None:
    bad = [(v.checker, v.details[:3]) for v in result.verdicts if not v.ok]
    assert not bad, (result.config.command(), bad, _changes(result))


@pytest.mark.parametrize(("seed", "kinds"), [
    (1, {"join", "removenode"}),
    (2, {"join", "replace", "decommission"}),
])
def test_seeds_with_topology_changes_run_clean(seed: int, kinds: set[str]) -> None:
    result = run(RunConfig(seed, faults=FaultPlan(topology=3)))
    _assert_clean(result)
    done = {k for k, n in result.stats["topology"].items() if n and k != "refused"}
    assert done == kinds, (done, _changes(result))
    assert any(h["node"] == "127.0.0.4" and h["ok"] for h in result.history), \
        "the clients never used the node that joined"
    print(f"\nseed {seed}: {'; '.join(_changes(result))}")


def test_drawn_topology_and_other_faults_run_clean() -> None:
    for seed in (3, 8):
        plan = draw_plan(seed, "topology")
        assert plan.topology and plan.repairs
        result = run(RunConfig(seed, duration_s=10, faults=plan), trace=True)
        _assert_clean(result)
        assert _changes(result), plan.describe()


def test_same_seed_same_trace_with_topology_changes() -> None:
    cfg = RunConfig(2, duration_s=10, faults=FaultPlan(topology=3, crashes=1, loss_pct=5.0,
                                                       repairs=1, delay_ms=5))
    first, second = run(cfg), run(cfg)
    assert first.trace == second.trace
    assert "join 127.0.0.4 complete" in _changes(first)
    other = run(replace(cfg, seed=5))
    assert other.trace != first.trace


def test_a_join_without_streaming_is_caught() -> None:
    """One node (RF 1), then a second joins: with auto_bootstrap off it owns ranges whose data
    stayed behind, and reads of those registers return older values or nothing."""
    # The loss depends on which reads meet the new owner: seed 1 meets one (as most do).
    cfg = RunConfig(1, nodes=1, duration_s=8, faults=FaultPlan(topology=1))
    good = run(cfg)
    _assert_clean(good)
    assert good.stats["topology"]["join"] == 1
    bad = run(replace(cfg, planted_bug="join-without-streaming"))
    assert bad.stats["topology"]["join"] == 1
    (lost,) = [v for v in bad.verdicts if v.checker == "superseded_writes"]
    assert not lost.ok and lost.details, bad.verdicts
    assert "was acknowledged, then the" in lost.details[0]


def test_topology_is_drawn_in_the_default_mix_and_always_in_its_profile() -> None:
    plans = [draw_plan(s) for s in range(200)]
    assert 30 < sum(1 for p in plans if p.topology) < 100
    for s in range(200):
        p, t = plans[s], draw_plan(s, "topology")
        assert t.topology and t.repairs
        assert replace(t, topology=p.topology, repairs=p.repairs) == p  # the rest as in "all"
    assert FaultPlan(topology=2).options() == ["--topology", "2"]


def test_removenode_whose_coordinator_restarted_is_carried_on() -> None:
    """Seed 5456 of the swarm: the node coordinating a removenode crashes during it and
    restarts, having forgotten it (a removal is not on disk). Its peers still saw it alive
    and left the removal to it, so the removed node stayed "removing" forever. A coordinator
    whose gossip generation changed since it told us no longer counts as coordinating: the
    lowest live node carries the removal on."""
    plan = FaultPlan(delay_ms=5, dup_pct=10.0, crashes=2, pauses=1, topology=2)
    result = run(RunConfig(5456, faults=plan), trace=True)
    changes = _changes(result)
    assert "removenode 127.0.0.4 by 127.0.0.3" in changes, changes
    assert any("127.0.0.3 crash" in line for line in result.trace)
    _assert_clean(result)
