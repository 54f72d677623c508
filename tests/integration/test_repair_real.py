"""Repair on real node processes (node.repair through nodetool's admin operations,
admin.ops_repair, and the nodetool command): 3 nodes, RF=3, hinted handoff off; node 3 is
stopped while rows are written, so it alone lacks them (checked: alone it serves fewer rows); a
repair streams exactly the rows it missed, a second repair streams nothing, and node 3 alone
then serves every row."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from conftest import INTERNODE_PORT

from skewless.nodetool.client import AdminClient, OperationFailed
from skewless.runtime.cluster import admin_port_for

ROWS, MISSED = 4000, 400
N1, N3 = "127.0.0.1", "127.0.0.3"


def nodetool(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skewless.nodetool.cli", "-h", host, "-p",
                           str(admin_port_for(INTERNODE_PORT)), *args],
                          capture_output=True, text=True, timeout=300)


def _client(address: str) -> AdminClient:
    return AdminClient(address, admin_port_for(INTERNODE_PORT))


def _refused(address: str, operation: str, args: dict[str, object]) -> str:
    with pytest.raises(OperationFailed) as e:
        _client(address).call(operation, args)
    return str(e.value)


def _repair(address: str, keyspace: str) -> dict[str, Any]:
    (number,) = _client(address).call("repair", {"keyspace": keyspace})["commands"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = _client(address).call("repair_status", {"command": number})
        if status["state"] != "RUNNING":
            print("\n" + "\n".join(status["lines"][-4:]))
            return status
        time.sleep(0.5)
    raise AssertionError("repair did not finish in 3 minutes")


def _alone_count(cluster, address: str) -> int:  # type: ignore[no-untyped-def]
    s = cluster.session_to(address)
    s.default_timeout = 60
    row = s.execute("SELECT count(*) FROM rp.t", timeout=60).one()
    return int(row[0])


def _wait_down(cluster, address: str, seen_by: str) -> None:  # type: ignore[no-untyped-def]
    s = cluster.session_to(seen_by)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = {r.address: r.up for r in s.execute("SELECT * FROM system.skewless_status")}
        if not rows.get(address, True):
            return
        time.sleep(0.2)
    raise AssertionError(f"{seen_by} did not see {address} down")


def test_repair_makes_a_replica_that_missed_writes_serve_every_row(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--no-hints"] for _ in range(3)]
    c = cluster_factory(3, extra=extra)
    s = c.session_to(N1)
    s.default_consistency_level = ConsistencyLevel.QUORUM
    s.execute("CREATE KEYSPACE rp WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE rp.t (k int PRIMARY KEY, v text)")
    insert = s.prepare("INSERT INTO rp.t (k, v) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.QUORUM
    execute_concurrent_with_args(s, insert, [(k, f"value {k}") for k in range(ROWS - MISSED)],
                                 concurrency=64, raise_on_first_error=True)
    node1, node2, node3 = c.nodes
    node3.terminate()
    _wait_down(c, N3, N1)
    execute_concurrent_with_args(s, insert, [(k, f"value {k}") for k in
                                             range(ROWS - MISSED, ROWS)],
                                 concurrency=64, raise_on_first_error=True)
    assert _refused(N1, "repair", {"keyspace": "nosuch"}) == "Keyspace [nosuch] does not exist."
    assert _refused(N1, "repair", {"keyspace": "rp", "tables": ["nosuch"]}) == \
        "Unknown keyspace/cf pair (rp.nosuch)"
    assert "-et" in _refused(N1, "repair", {"keyspace": "rp", "start_token": "5"})
    assert _client(N1).call("garbagecollect", {"keyspace": "rp", "tables": ["t"]}) == \
        {"removed": 0}
    assert _refused(N1, "repair_status", {"command": 99}) == "unknown repair command #99"
    # node 3 alone lacks the rows written while it was down (no hints)
    node1.terminate()
    node2.terminate()
    node3.restart()
    assert _alone_count(c, N3) == ROWS - MISSED
    node1.restart()
    node2.restart()
    for n in c.nodes:
        c.wait_gossip(3, via=n.address)

    first = _repair(N1, "rp")
    assert first["state"] == "SUCCESSFUL", first["lines"]
    summary = first["summary"]
    assert isinstance(summary, dict)
    print(f"first repair: {summary}")
    assert summary["partitions_streamed"] == MISSED
    assert summary["ranges_compared"] == 48 and summary["ranges_differing"] > 0
    # what moved (the merged leaves fetched plus the differences streamed) is a small part of
    # what streaming the whole table would move (ROWS rows of the size the missed ones had)
    whole_table = ROWS * summary["bytes_streamed"] / MISSED
    assert summary["bytes_streamed"] + summary["bytes_fetched"] < 0.25 * whole_table
    assert "Repair completed successfully" in " ".join(first["lines"])
    second = _repair(N3, "rp")
    print(f"second repair: {second['summary']}")
    assert second["state"] == "SUCCESSFUL"
    assert second["summary"]["partitions_streamed"] == 0  # type: ignore[index]
    assert second["summary"]["bytes_streamed"] == 0  # type: ignore[index]

    # nodetool repair, as an operator runs it: Cassandra's lines, nothing left to stream
    r = nodetool(N3, "repair", "-full", "rp", "t")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("] ", 1)[1].startswith("Starting repair command #2 (")
    assert "ColumnFamilies: [t]" in lines[0]
    assert sum("Repair session " in ln and "finished (progress: " in ln for ln in lines) == 48
    assert lines[-3].endswith("] Repair completed successfully")
    assert " 0 partitions (0 bytes) streamed" in lines[-2]
    assert "Repair command #2 finished in " in lines[-1]
    r = nodetool(N3, "repair", "nosuch")
    assert (r.returncode, r.stderr) == (2, "error: Keyspace [nosuch] does not exist.\n")
    assert nodetool(N3, "garbagecollect", "rp").returncode == 0

    node1.terminate()
    node2.terminate()
    _wait_down(c, "127.0.0.1", N3)
    r = nodetool(N3, "repair", "-pr", "rp")
    assert r.returncode == 2 and "is dead: session failed" in r.stdout
    assert r.stderr.startswith("error: Repair job has failed with the error message: "), r.stderr
    s3 = c.session_to(N3)
    s3.default_consistency_level = ConsistencyLevel.ONE
    assert _alone_count(c, N3) == ROWS
    got = {r.k: r.v for r in s3.execute("SELECT k, v FROM rp.t", timeout=60)}
    assert got == {k: f"value {k}" for k in range(ROWS)}
