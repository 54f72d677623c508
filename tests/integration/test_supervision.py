"""A node supervises itself (issue 15): real node processes with planted exceptions
(``--raise-at``, test only) and SIGTERM under load.

* An exception in a background task (ticker, flusher, periodic commit-log sync) stops the node:
  it exits with code 70 (``runtime.supervise.EXIT_TASK_FAILED``) and its log shows the
  traceback, instead of a process that accepts connections and never answers.
* An exception in a client request's continuation run from a peer's message (a QUORUM write's,
  once a replica acknowledges) is answered with one ServerError carrying an error id that the
  log shows beside the traceback; the node keeps serving and its in-flight count (nodetool
  tpstats' Native-Transport-Requests Active) is back to 0.
* SIGTERM drains: under a small write load, the node exits 0 within a bound and every write it
  acknowledged is there after a restart.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy
from cassandra.protocol import ServerError
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, INTERNODE_PORT, LocalCluster

from skewless.runtime.cluster import admin_port_for, start_local_cluster, stop_nodes
from skewless.runtime.supervise import EXIT_TASK_FAILED

EXIT_WAIT_S = 90  # a failed node must be gone within this (generous: a loaded machine)
DRAIN_EXIT_S = 30  # SIGTERM: the node exits 0 within this (it waits 5 s at most for requests)


@pytest.mark.parametrize("point,extra", [
    ("ticker:60", []),
    ("flusher:60", []),
    ("periodic-sync:15", ["--commitlog-sync", "periodic", "--commitlog-periodic-ms", "200"]),
])
def test_an_exception_in_a_background_task_stops_the_node(tmp_path: Path, point: str,
                                                          extra: list[str]) -> None:
    nodes = start_local_cluster(1, tmp_path, [["--raise-at", point, *extra]],
                                cql_port=CQL_PORT, internode_port=INTERNODE_PORT)
    node = nodes[0]
    try:
        assert node.popen is not None
        try:
            rc = node.popen.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the node with --raise-at {point} is still running after "
                                 f"{EXIT_WAIT_S} s (a zombie)") from None
    finally:
        stop_nodes(nodes, 10.0)
    log = node.log_path.read_text(errors="replace")
    task = point.split(":")[0]
    assert rc == EXIT_TASK_FAILED, (rc, node.log_tail())
    assert "serving CQL" in log  # it was a serving node that stopped, not one failing to start
    assert f"background task {task} failed: the node stops" in log, node.log_tail()
    assert "Traceback" in log and "PlantedError" in log, node.log_tail()


def _tpstats_active(host: str) -> int:
    out = subprocess.run([sys.executable, "-m", "skewless.nodetool.cli", "-h", host, "-p",
                          str(admin_port_for(INTERNODE_PORT)), "tpstats"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("Native-Transport-Requests"))
    return int(line.split()[1])


def test_an_exception_in_a_peer_message_continuation_is_one_server_error(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(3, extra=[["--raise-at", "peer-message-continuation"], [], []])
    n1, n2 = c.nodes[0], c.nodes[1]
    # DDL through node 2: its continuations run from peers' messages too, on node 2
    s2 = c.session_to(n2.address)
    s2.execute("CREATE KEYSPACE sup WITH replication = {'class': 'SimpleStrategy', "
               "'replication_factor': 3}")
    s2.execute("CREATE TABLE sup.t (k int PRIMARY KEY, v int)")
    s1 = c.session_to(n1.address, default_retry_policy=FallthroughRetryPolicy())
    insert = SimpleStatement("INSERT INTO sup.t (k, v) VALUES (%s, %s)",
                             consistency_level=ConsistencyLevel.QUORUM)
    deadline = time.monotonic() + 60
    while True:  # the first write whose continuation a replica's acknowledgement runs
        try:
            s1.execute(insert, (1, 1))
        except ServerError as e:
            error = str(e)
            break
        if time.monotonic() > deadline:
            raise AssertionError("no ServerError from the planted continuation")
    m = re.search(r"error id (\S+)\)", error)
    assert m is not None, error
    log = n1.log_path.read_text(errors="replace")
    at = log.find(f"internal error (error id {m.group(1)})")
    assert at >= 0, error
    assert "Traceback" in log[at:] and "PlantedError" in log[at:], log[at:at + 3000]
    # one reply: the node keeps serving, and nothing is left in flight
    for k in range(2, 12):
        s1.execute(insert, (k, k))
    assert s1.execute("SELECT v FROM sup.t WHERE k = 5").one().v == 5
    deadline = time.monotonic() + 30
    while (active := _tpstats_active(n1.address)) != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert active == 0


def test_sigterm_drains_under_load_and_loses_no_acknowledged_write(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1)
    node = c.nodes[0]
    s = c.session()
    s.execute("CREATE KEYSPACE drain WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 1}")
    s.execute("CREATE TABLE drain.t (k int PRIMARY KEY, v int)")
    prepared = s.prepare("INSERT INTO drain.t (k, v) VALUES (?, ?)")
    acked: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def writer(first: int) -> None:
        k = first
        while not stop.is_set():
            try:
                s.execute(prepared, (k, k), timeout=10)
                acked.append(k)
            except Exception as e:  # noqa: BLE001 - refused or cut off while stopping
                errors.append(type(e).__name__)
                if len(errors) > 50:
                    return
                time.sleep(0.01)
            k += 4
    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    assert acked, errors
    assert node.popen is not None
    node.popen.terminate()  # SIGTERM
    started = time.monotonic()
    try:
        rc = node.popen.wait(timeout=DRAIN_EXIT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM: still running after {DRAIN_EXIT_S} s") from None
    took = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(30)
    log = node.log_path.read_text(errors="replace")
    assert rc == 0, node.log_tail()
    assert "client requests drained" in log, node.log_tail()
    print(f"SIGTERM under load: exit 0 after {took:.2f} s, {len(acked)} writes acknowledged")
    node.start()
    node.wait_ready()
    check = Cluster([node.address], port=CQL_PORT,
                    load_balancing_policy=WhiteListRoundRobinPolicy([node.address]))
    try:
        s2 = check.connect()
        present = {r.k for r in s2.execute(SimpleStatement(
            "SELECT k FROM drain.t", fetch_size=1000))}
    finally:
        check.shutdown()
    missing = sorted(set(acked) - present)
    assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:20]}"


def test_sigterm_answers_a_request_that_cannot_finish_and_exits_in_bound(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """A TRUNCATE waits for every node; with node 2 frozen (SIGSTOP) it cannot finish. SIGTERM
    on node 1 answers it (ServerError: the node is shutting down) instead of cutting the
    connection, and the node exits 0 within the bound."""
    c = cluster_factory(2)
    n1, n2 = c.nodes
    s = c.session_to(n1.address, default_retry_policy=FallthroughRetryPolicy())
    s.execute("CREATE KEYSPACE tr WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 2}")
    s.execute("CREATE TABLE tr.t (k int PRIMARY KEY, v int)")
    s.execute("INSERT INTO tr.t (k, v) VALUES (1, 1)")
    n2.sigstop()
    try:
        outcome: list[object] = []
        future = s.execute_async("TRUNCATE tr.t", timeout=60)
        future.add_callbacks(outcome.append, outcome.append)
        time.sleep(1.0)
        assert not outcome, f"the TRUNCATE finished with node 2 frozen: {outcome}"
        assert n1.popen is not None
        n1.popen.terminate()
        started = time.monotonic()
        rc = n1.popen.wait(timeout=DRAIN_EXIT_S)
        took = time.monotonic() - started
        deadline = time.monotonic() + 30
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.1)
        assert outcome and isinstance(outcome[0], ServerError), outcome
        assert "shutting down" in str(outcome[0])
    finally:
        n2.sigcont()
    assert rc == 0, n1.log_tail()
    log = n1.log_path.read_text(errors="replace")
    assert "still in flight after" in log, n1.log_tail()
    print(f"SIGTERM with a TRUNCATE that cannot finish: answered, exit 0 after {took:.2f} s")
