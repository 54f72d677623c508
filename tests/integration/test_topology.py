"""Growing a live cluster of real node processes: a fourth node started with the same seeds
bootstraps (JOINING, streams the ranges it will own, then NORMAL), so no row becomes unreadable;
a joiner killed with kill -9 mid-stream resumes where it was (node.topology, node.streaming)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, INTERNODE_PORT, LocalCluster

from skewless.node.topology.tokens import ownership, spread_percent
from skewless.runtime.cluster import NodeProcess, admin_port_for, node_address, node_argv

ROWS = 2000


def _new_node(c: LocalCluster, tmp: Path, index: int, extra: Sequence[str] = ()) -> NodeProcess:
    data = tmp / f"node{index}"
    p = NodeProcess(index=index, address=node_address(index), cql_port=CQL_PORT, data_dir=data,
                    argv=node_argv(index, data, seeds=[node_address(1)], cql_port=CQL_PORT,
                                   internode_port=INTERNODE_PORT, extra_args=list(extra)))
    c.nodes.append(p)  # stopped by pid with the cluster
    p.start()
    return p


def _wait_log(p: NodeProcess, text: str, timeout_s: float, after: int = 0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = p.log_path.read_text(errors="replace")[after:]
        if text in log:
            return log
        if not p.running():
            raise AssertionError(f"{p.address} exited: {p.log_tail()}")
        time.sleep(0.2)
    raise AssertionError(f"{p.address} never logged {text!r}: {p.log_tail()}")


def _load(c: LocalCluster, rf: int) -> None:
    s = c.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO ks.t (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.ALL
    results = execute_concurrent_with_args(s, ins, [(k, f"value-{k:06d}" * 4)
                                                   for k in range(ROWS)], concurrency=64)
    assert all(ok for ok, _ in results)


def _check_all_readable_at_one(c: LocalCluster, via: str) -> None:
    s = c.session_to(via)
    sel = s.prepare("SELECT v FROM ks.t WHERE k = ?")
    sel.consistency_level = ConsistencyLevel.ONE
    results = execute_concurrent_with_args(s, sel, [(k,) for k in range(ROWS)], concurrency=64)
    missing = [k for k, (ok, rows) in enumerate(results) if not ok or len(list(rows)) != 1]
    assert missing == [], f"{len(missing)} rows unreadable at ONE via {via}: {missing[:10]}"
    count = s.execute(SimpleStatement("SELECT count(*) FROM ks.t",
                                      consistency_level=ConsistencyLevel.ONE)).one()[0]
    assert count == ROWS


@pytest.mark.parametrize("rf", [1, 3])
def test_fourth_node_bootstraps_and_every_row_stays_readable(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path, rf: int) -> None:
    c = cluster_factory(3)
    _load(c, rf)
    p4 = _new_node(c, tmp_path, 4)
    _wait_log(p4, "is now JOINING", 60)
    log = _wait_log(p4, "is now NORMAL", 120)
    assert "bootstrap complete" in log
    c.wait_gossip(4)
    for via in (node_address(1), node_address(4)):
        _check_all_readable_at_one(c, via)
    s1 = c.session_to(node_address(1))
    toks = {str(r.peer): tuple(int(t) for t in r.tokens)
            for r in s1.execute("SELECT peer, tokens FROM system.peers")}
    toks[node_address(1)] = tuple(int(t) for t in s1.execute(
        "SELECT tokens FROM system.local").one().tokens)
    assert len(toks) == 4
    own = ownership(toks, rf)
    assert spread_percent(own) <= 10.0, own  # balanced token allocation


def test_joiner_killed_mid_stream_resumes(cluster_factory: Callable[..., LocalCluster],
                                          tmp_path: Path) -> None:
    # Sources stream slowly (0.01 MiB/s: the ~30 KB node 4 gains take ~3 s) so that the kill
    # lands mid-stream (at 0.1 MiB/s the whole bootstrap could finish between two polls).
    c = cluster_factory(3, extra=[["--stream-throughput-outbound", "0.01"]] * 3)
    _load(c, 1)
    p4 = _new_node(c, tmp_path, 4)
    _wait_log(p4, "complete:", 120)  # at least one range streamed
    p4.kill9()
    size = p4.log_path.stat().st_size
    p4.start()
    log = _wait_log(p4, "bootstrap: streaming", 60, after=size)
    line = next(x for x in log.splitlines() if "bootstrap: streaming" in x)
    done_before = int(line.split("(")[1].split()[0])
    assert done_before > 0, line  # the restarted joiner resumed, not restarted from zero
    _wait_log(p4, "is now NORMAL", 180, after=size)
    _check_all_readable_at_one(c, node_address(4))


def _nodetool(host: str, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skewless.nodetool.cli", "-h", host,
         "-p", str(admin_port_for(INTERNODE_PORT)), *args],
        capture_output=True, text=True, timeout=timeout_s)


def test_nodetool_decommission_removenode_status_and_cleanup(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """Shrinking through nodetool: ``decommission`` on node 4 returns once it has LEFT, its
    ranges streamed to their new owners (every row still readable at ONE, count right); then
    ``status`` no longer lists it, ``removenode status`` has nothing in progress and
    ``cleanup`` runs; refusals come back as nodetool errors (exit 2)."""
    c = cluster_factory(4)
    _load(c, 2)
    r = _nodetool(node_address(4), "decommission")
    assert r.returncode == 0, r.stdout + r.stderr
    for via in (node_address(1), node_address(3)):
        _check_all_readable_at_one(c, via)
    status = _nodetool(node_address(1), "status")
    assert status.returncode == 0, status.stderr
    lines = [ln.split() for ln in status.stdout.splitlines() if ln[:2] in ("UN", "DN", "UL")]
    assert sorted(fields[1] for fields in lines) == [node_address(i) for i in (1, 2, 3)], \
        status.stdout
    r = _nodetool(node_address(1), "removenode", "status")
    assert (r.returncode, r.stdout.strip()) == (0, "RemovalStatus: No removals in process.")
    assert _nodetool(node_address(1), "cleanup", "ks").returncode == 0
    r = _nodetool(node_address(1), "removenode", "no-such-host-id")
    assert r.returncode == 2 and r.stderr.startswith("error: "), r.stdout + r.stderr
    r = _nodetool(node_address(2), "decommission")  # RF 2 of 3 nodes left: allowed, not forced
    assert r.returncode == 0, r.stdout + r.stderr
    r = _nodetool(node_address(3), "decommission")  # would leave 1 node for RF 2
    assert r.returncode == 2 and "Not enough live nodes to maintain replication factor" \
        in r.stderr, r.stdout + r.stderr
