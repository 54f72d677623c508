"""The lab's CAS register and counter workloads (lab.cas_workload, lab.cas_runs): clean runs
under faults pass every verdict and do real work; each planted bug of the LWT and counter paths
(lab.lab_planted) is caught within a bounded number of seeds; runs without the new options keep
their verdicts and command line."""

from __future__ import annotations

from skewless.lab.cas_workload import final_count_problems
from skewless.lab.options import FaultPlan, WorkloadSpec
from skewless.lab.runner import RunConfig, RunResult, run

BOTH = WorkloadSpec(cas_keys=3, counter_keys=3)
NEW = ("cas_linearizability", "cas_final_count", "counter_bounds", "counter_replicas")


def _run(seed: int, faults: FaultPlan, bug: str | None = None, nodes: int = 3,
         workload: WorkloadSpec = BOTH) -> RunResult:
    return run(RunConfig(seed, nodes=nodes, duration_s=8, faults=faults, workload=workload,
                         planted_bug=bug), trace=False)


def _failing(r: RunResult) -> list[str]:
    return [v.checker for v in r.verdicts if not v.ok]


def test_clean_runs_pass_under_faults_and_do_work() -> None:
    faults = FaultPlan(crashes=1, pauses=1, loss_pct=5.0, dup_pct=1.0, delay_ms=5)
    for seed in range(2):
        r = _run(seed, faults)
        names = [v.checker for v in r.verdicts]
        assert all(n in names for n in NEW), names
        assert _failing(r) == [], [(v.checker, v.details[:2]) for v in r.verdicts if not v.ok]
        assert r.stats["cas_applied"] > 50 and r.stats["counter_ops_ok"] > 100, r.stats
        kinds = {h["op"] for h in r.extra_history}
        assert kinds == {"cas", "insert_if_not_exists", "read", "increment"}, kinds


def test_runs_without_the_new_workloads_are_unchanged() -> None:
    r = _run(0, FaultPlan(), workload=WorkloadSpec())
    assert not {v.checker for v in r.verdicts} & set(NEW)
    assert r.extra_history == []
    assert "--cas-keys" not in r.config.command()
    assert "--cas-keys 3 --counter-keys 3" in RunConfig(0, workload=BOTH).command()


def _first_caught(bug: str, faults: FaultPlan, checkers: set[str], seeds: int,
                  nodes: int = 3) -> int | None:
    for seed in range(seeds):
        failing = set(_failing(_run(seed, faults, bug, nodes)))
        if failing & checkers:
            print(f"planted {bug}: caught at seed {seed} by {sorted(failing)}")
            return seed
    return None


def test_planted_skip_prepare_is_caught() -> None:
    assert _first_caught("skip-prepare", FaultPlan(), {"cas_linearizability",
                                                       "cas_final_count"}, 3) is not None


def test_planted_counter_replay_twice_is_caught() -> None:
    # 5 nodes (RF 3): coordinators often send to a remote leader; the network duplicates
    assert _first_caught("counter-replay-twice", FaultPlan(dup_pct=10.0),
                         {"counter_bounds", "counter_replicas"}, 3, nodes=5) is not None


def test_final_count_problems() -> None:
    def op(kind: str, ok: bool, applied: bool | None = None) -> dict[str, object]:
        return {"op": kind, "key": 0, "ok": ok, "applied": applied}
    history = [op("insert_if_not_exists", True, True), op("cas", True, True),
               op("cas", True, False), op("cas", False)]
    assert final_count_problems(history, {0: 1}, 1) == []
    assert final_count_problems(history, {0: 2}, 1) == []  # the unknown one applied
    assert final_count_problems(history, {0: 3}, 1) != []  # one more than possible
    assert final_count_problems(history, {0: 0}, 1) != []  # an applied increment lost
    assert final_count_problems(history, {0: None}, 1) != []  # the claim lost
    assert final_count_problems(history, {}, 1) != []  # not read
    assert final_count_problems([], {0: None}, 1) == []  # never claimed, never there


def test_planted_answer_before_sync_is_caught() -> None:
    """Node 1's acceptor answers (at once, before any sync) and never asks for a sync: with
    the periodic commitlog and many crashes, a crash forgets a promise or an acceptance that a
    proposer counted on. CAS registers only (the periodic commitlog's crashes may lose
    acknowledged plain and counter writes, which is not what this test is about)."""
    spec = WorkloadSpec(cas_keys=2, cas_sessions=6)
    caught = None
    for seed in range(4):
        r = run(RunConfig(seed, duration_s=10, faults=FaultPlan(crashes=8), workload=spec,
                          planted_bug="answer-before-sync", commitlog="periodic"), trace=False)
        failing = set(_failing(r)) & {"cas_linearizability", "cas_final_count"}
        if failing:
            print(f"planted answer-before-sync: caught at seed {seed} by {sorted(failing)}")
            caught = seed
            break
    assert caught is not None
