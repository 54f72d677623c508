"""Partition Paxos (node.paxos) under faults, in memory and seeded: clients run CAS-register
workloads through rotating coordinators while the network delays, reorders, drops and
duplicates messages and nodes crash (losing what they had not synced) and restart. Every run is
checked for linearizability (skewless.lab.linearizability, CAS mapped to register operations)
and for the lost updates a register checker cannot see (lwt_harness.forks). The planted bugs
(a proposer that skips the prepare phase; an acceptor that answers before syncing) must be
caught within a bounded number of seeds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lwt_harness import Cluster, Faults, cas_workload

from skewless.node.paxos.acceptor import ANSWER_BEFORE_SYNC
from skewless.node.paxos.proposer import SKIP_PREPARE

# Crashes often and briefly, and syncs rarely (as a periodic commitlog): what makes an answer
# sent before its sync matter.
HARSH = Faults(crash_every_ms=25, down_ms=(1, 15), sync_every_ms=1000)


def run(seed: int, faults: Faults | None = None, planted: frozenset[str] = frozenset(),
        keys: int = 3, clients: int = 4, duration_ms: int = 2000, **cluster: Any) -> Cluster:
    c = Cluster(seed, faults=faults or Faults(crash_every_ms=300), planted=planted, **cluster)
    c.start_ticks()
    cas_workload(c, clients, keys, duration_ms)
    c.run_until(duration_ms + 1000)
    return c


def verdict(c: Cluster) -> list[str]:
    lin, forks = c.check()
    return ([str(lin)] if lin.verdict != "linearizable" else []) + forks


# (faults, keys, Cluster options): RF 3; crashes every 25 ms; RF 5 (the three-round-trip
# path); LOCAL_SERIAL (Paxos among 3 of 5 replicas); commits at ANY and at ALL
SETUPS: dict[str, tuple[Faults | None, int, dict[str, int]]] = {
    "rf3": (None, 3, {}),
    "harsh": (HARSH, 2, {}),
    "rf5": (None, 2, {"n": 5}),
    "local-serial": (Faults(crash_every_ms=100, down_ms=(1, 30)), 2, {"n": 5,
                                                                      "participants": 3}),
    "commit-any": (None, 2, {"commit_required": 0}),
    "commit-all": (Faults(crash_every_ms=1000), 2, {"commit_required": 3}),
}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(sorted(SETUPS)))
def test_cas_registers_stay_linearizable_under_faults(seed: int, setup: str) -> None:
    faults, keys, options = SETUPS[setup]
    c = run(seed, faults, keys=keys, **options)
    assert verdict(c) == []
    # the run did something (commits at ALL with a node down wait out their timeout: few)
    assert len(c.history) >= 8, len(c.history)


def test_runs_are_deterministic() -> None:
    a, b = run(7), run(7)
    assert a.history == b.history and a.messages == b.messages


def test_progress_once_faults_stop() -> None:
    c = run(3, Faults(drop=0, duplicate=0, crash_every_ms=0))
    assert not c.ops  # no fault: every operation answered
    ok = [o for o in c.outcomes.values() if o.error is None]
    # contention alone leaves few outcomes unknown (WriteTimeout CAS)
    assert len(ok) > 0.9 * len(c.outcomes) > 90


def _first_caught(bug: str, faults: Faults | None, keys: int, seeds: int) -> int | None:
    for seed in range(seeds):
        problems = verdict(run(seed, faults, frozenset({bug}), keys=keys))
        if problems:
            print(f"planted {bug}: caught at seed {seed}: {problems[0][:300]}")
            return seed
    return None


def test_a_proposer_that_skips_the_prepare_phase_is_caught() -> None:
    assert _first_caught(SKIP_PREPARE, None, 3, seeds=5) is not None


def test_an_acceptor_that_answers_before_syncing_is_caught() -> None:
    assert _first_caught(ANSWER_BEFORE_SYNC, HARSH, 2, seeds=20) is not None
