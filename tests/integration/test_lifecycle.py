"""Issue 11's must-show on real node processes: 3 -> 5 nodes one at a time, a node killed with
kill -9 and replaced (``replace_address_first_boot``), 5 -> 3 by ``nodetool decommission``, all
under a QUORUM load from a client process; then ``nodetool repair`` on each node. Every
acknowledged write and every loaded row is readable at QUORUM and at ONE from each replica
alone; loaded rows are on every replica even before the repair (streaming lost nothing). The
flow is ``skewless.bench_lifecycle`` at a small size; its report is printed.

The second test shrinks 4 -> 3 by kill -9 and ``nodetool removenode <host id>`` instead: every
node's ``nodetool status`` stops listing the removed node and the surviving replicas hold every
loaded row before any repair (its ranges were re-replicated)."""

from __future__ import annotations

from pathlib import Path

from conftest import CQL_PORT, INTERNODE_PORT

from skewless.bench_lifecycle import print_report, run

ROWS = 2000
PHASE_TIMEOUT_S = 180


def _run(tmp_path: Path, removenode: bool) -> None:
    report = run(tmp_path, ROWS, 3, 1, CQL_PORT, INTERNODE_PORT, PHASE_TIMEOUT_S,
                 removenode=removenode, echo=print,
                 node_args=["--phi-convict-threshold", "5"])  # the kills are seen sooner
    print_report(report, print)
    assert not report.failure, report.failure
    assert report.acked > 0 and sum(report.reads.values()) > 0  # the load ran
    assert [ph.name for ph in report.phases][-2:] == ["repair (load stopped)", "verify"]
    for ph in report.phases:
        if ph.name.startswith(("join", "replace", "decommission", "kill -9 node 4")):
            assert ph.streamed_partitions > 0, ph  # each change moved data
    assert len(report.pre_repair_invisible) == 3
    assert all(loaded == 0 for loaded, _ in report.pre_repair_invisible.values()), \
        report.pre_repair_invisible
    assert report.lost_quorum == 0 and not report.quorum_read_errors
    assert report.replicated_by == {a: ROWS + report.acked
                                    for a in ("127.0.0.1", "127.0.0.2", "127.0.0.6")}
    assert report.invisible_at_one == {a: 0 for a in report.replicated_by}, \
        report.invisible_at_one
    assert report.one_read_errors == {}
    assert report.ok


def test_grow_kill_replace_decommission_under_load_then_repair(tmp_path: Path) -> None:
    _run(tmp_path, removenode=False)


def test_removenode_of_a_killed_node_under_load(tmp_path: Path) -> None:
    _run(tmp_path, removenode=True)
