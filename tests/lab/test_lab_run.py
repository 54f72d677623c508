"""`skewless lab run`: one seeded simulation under faults, judged by the checkers.

Same seed and options give a byte-identical trace, also across processes with different hash
seeds; a planted bug (a coordinator stamping with its raw clock, a replica acknowledging every
third mutation without applying it) is caught by the lost-write checker, where the same run
without the bug passes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from skewless.cli import main
from skewless.lab.options import FaultPlan, WorkloadSpec
from skewless.lab.runner import RunConfig, run

pytestmark = pytest.mark.timeout(300)

FAULTS = ["--clock-offset-ms", "100", "--strobe-ms", "200", "--loss-pct", "5", "--dup-pct", "5",
          "--partitions", "2", "--swizzle", "--crashes", "1", "--pauses", "2", "--delay-ms", "5"]


def _lab_run(args: list[str], hash_seed: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run([sys.executable, "-m", "skewless", "lab", "run", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_same_seed_same_trace_across_processes(tmp_path: Path) -> None:
    args = ["--seed", "5", "--policy", "wallclock", "--duration-s", "8", *FAULTS]
    traces = []
    for i, hash_seed in enumerate(["1", "2"]):
        path = tmp_path / f"trace{i}"
        out = _lab_run([*args, "--trace", str(path)], hash_seed)
        assert out.returncode in (0, 1), out.stderr
        assert "superseded_writes:" in out.stdout and "convergence:" in out.stdout
        traces.append(path.read_bytes())
    assert traces[0] == traces[1]
    assert b"nemesis crash" in traces[0] and b"nemesis swizzle clog" in traces[0]
    other = tmp_path / "other"
    _lab_run(["--seed", "6", *args[2:], "--trace", str(other)], "1")
    assert other.read_bytes() != traces[0]
    print(f"\ntrace: {len(traces[0].splitlines())} lines, identical in two processes")


def test_trace_does_not_change_the_run() -> None:
    cfg = RunConfig(3, "wallclock", duration_s=6, faults=FaultPlan(clock_offset_ms=50, pauses=1))
    with_trace, without = run(cfg, trace=True), run(cfg, trace=False)
    assert with_trace.history == without.history and with_trace.final == without.final
    assert with_trace.trace and not without.trace


def test_exit_status_and_summary() -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["lab", "run", "--seed", "1", "--duration-s", "5"])
    assert ok.exit_code == 0, ok.output
    assert "superseded_writes: ok" in ok.output and "convergence: ok" in ok.output
    bad = runner.invoke(main, ["lab", "run", "--seed", "1", "--duration-s", "5", "--policy",
                               "wallclock", "--clock-offset-ms", "100"])
    assert bad.exit_code == 1, bad.output
    assert "superseded_writes: FAIL" in bad.output
    assert "was acknowledged, then the read" in bad.output
    # the command silenced the nodes' warnings only while it ran (tests after it capture them)
    assert logging.getLogger("skewless").level == logging.NOTSET


def _lost(cfg: RunConfig) -> int:
    result = run(cfg, trace=False)
    assert result.stats["writes_acknowledged"] > 50
    (lost,) = [v for v in result.verdicts if v.checker == "superseded_writes"]
    return len(lost.details)


def test_planted_raw_clock_coordinator_is_caught() -> None:
    """Node 1 stamps with its raw clock (as under wallclock) while the others run hlc; clocks
    are 300 ms apart at most and every node waits out its clock's uncertainty (commit wait).
    Restamping is off in both runs: it would repair the planted coordinator's writes whenever
    its clock is ahead (the checker is under test here, not the safety net).
    The bug shows when node 1's clock is behind the others' (the seed draws the offsets): the
    first such seed loses writes with the bug and none without it."""
    faults = FaultPlan(clock_offset_ms=150)
    for seed in range(20):
        bugged = RunConfig(seed, "hlc", duration_s=8, faults=faults, commit_wait=True,
                           planted_bug="raw-clock", no_restamp=True)
        if _lost(bugged) > 0:
            break
    else:
        raise AssertionError("the planted raw clock lost nothing in seeds 0..19")
    assert _lost(RunConfig(seed, "hlc", duration_s=8, faults=faults, commit_wait=True,
                           no_restamp=True)) == 0


def test_planted_replica_dropping_every_third_mutation_is_caught() -> None:
    """Writes at ALL, reads at ONE: correct replicas make every acknowledged write visible to
    every later read; node 1 acknowledging without applying breaks that."""
    spec = WorkloadSpec(write_cl="ALL", read_cl="ONE")
    assert _lost(RunConfig(4, duration_s=8, workload=spec)) == 0
    assert _lost(RunConfig(4, duration_s=8, workload=spec, planted_bug="drop-mutations")) > 0


def test_periodic_commitlog_crash_loses_acknowledged_writes() -> None:
    """Two nodes crash 0.3 s apart: with the batch commitlog (synced before answering) nothing
    acknowledged is lost; with the periodic one (synced every 10 s) both lose their last
    seconds of writes, a majority of the replicas, and acknowledged writes are gone."""
    faults = FaultPlan(crashes=2)
    for seed in range(40):  # two crashes close enough together are drawn in about 1 seed of 8
        if _lost(RunConfig(seed, faults=faults, commitlog="periodic")) > 0:
            break
    else:
        raise AssertionError("no seed in 0..39 lost a write under the periodic commitlog")
    assert _lost(RunConfig(seed, faults=faults)) == 0


def test_every_fault_acts_and_the_cluster_converges_after_the_heal() -> None:
    faults = FaultPlan(clock_offset_ms=300, clock_drift_ppm=100, clock_steps=2, leap_second=True,
                       strobe_ms=200, clock_fix=True, delay_ms=20, loss_pct=5, dup_pct=5,
                       partitions=3, swizzle=True, crashes=2, pauses=2, slow_disks=2)
    result = run(RunConfig(9, duration_s=12, faults=faults))
    trace = "\n".join(result.trace)
    for action in ("nemesis clock 127.0.0.", " step ", "leap second", "strobe", "fixed",
                   "nemesis partition", "swizzle clog", "swizzle release", "nemesis crash",
                   "nemesis restart", "nemesis pause", "nemesis resume", "nemesis healed",
                   "nemesis clocks exact", "per sync", " normal"):
        assert action in trace, action
    (convergence,) = [v for v in result.verdicts if v.checker == "convergence"]
    assert convergence.ok, convergence.details
    assert len(result.final) == WorkloadSpec().keys
    assert result.stats["writes_acknowledged"] > 0


def test_deletes_batches_and_the_seed000_flow() -> None:
    """The workload's other shapes: row deletes and re-inserts, LOGGED batches of two
    registers, and the seed-000 INSERT-then-UPDATE pair through two coordinators. Clocks up to
    100 ms apart: Cassandra's stamping loses acknowledged writes, the default none."""
    spec = WorkloadSpec(delete_pct=20, batch_pct=20, seed000=True)
    faults = FaultPlan(clock_offset_ms=100)
    wall = run(RunConfig(3, "wallclock", duration_s=8, faults=faults, workload=spec))
    hlc = run(RunConfig(3, "hlc", duration_s=8, faults=faults, workload=spec))
    assert not wall.ok and hlc.ok, [v for v in hlc.verdicts if not v.ok]
    writes = [op for op in hlc.history if op["op"] == "write" and op["ok"]]
    assert sum(1 for op in writes if op.get("delete")) > 10
    assert any(line.endswith("APPLY BATCH") for line in hlc.trace)
    assert any("INSERT INTO lab.reg" in line for line in hlc.trace)  # re-inserts
    pairs = [op for op in writes if op.get("flow") == "seed000-update"]
    assert len(pairs) > 50
    by_key_value = {(op["key"], op["value"]): op for op in writes}
    for op in pairs:  # the UPDATE went through another node than the write just before it
        before = by_key_value.get((op["key"], op["value"] - 1))
        assert before is not None and before["node"] != op["node"]
        assert op["start"] - before["end"] < 0.001
    batched = [op for op in writes if sum(1 for o in writes if o["start"] == op["start"]) == 2]
    assert len(batched) > 20


def test_a_slow_disk_holds_back_the_answers_of_its_node() -> None:
    """Node 2's syncs take 500 ms for the last seconds of the window: the writes it
    coordinates are answered no sooner (persist before send), and nothing is lost."""
    faults = FaultPlan(slow_disks=3)
    result = run(RunConfig(9, duration_s=15, faults=faults))
    assert result.ok, [v for v in result.verdicts if not v.ok]
    slow = [line for line in result.trace if "slow: 500 ms per sync" in line]
    assert slow, "the seed draws a 500 ms disk"
    node = slow[0].split()[3]
    since = int(slow[0].split()[0]) / 1e9
    writes = [op for op in result.history if op["op"] == "write" and op["node"] == node
              and since + 0.01 < op["start"] < since + 1.0 and op["ok"]]
    assert writes and all(op["end"] - op["start"] >= 0.5 for op in writes), writes


def test_requests_that_find_no_node_up_end_once() -> None:
    """One node that crashes: requests sent while it is down find no node up. A batch or a
    seed-000 pair so refused ends once (one next operation per session, its values reused)."""
    spec = WorkloadSpec(batch_pct=30, seed000=True)
    result = run(RunConfig(5, nodes=1, duration_s=8, faults=FaultPlan(crashes=2), workload=spec))
    assert result.ok, [v for v in result.verdicts if not v.ok]
    assert result.stats["sessions_finished"]
    by_session: dict[int, dict[float, float]] = {}
    for op in result.history:  # a batch's registers share one interval: one operation
        by_session.setdefault(op["session"], {})[op["start"]] = op["end"]
    for session, ops in by_session.items():
        intervals = sorted(ops.items())
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, f"session {session} ran two operations at once ({start})"
