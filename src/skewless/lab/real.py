"""``skewless lab real``: the lab's workload and checkers against real node processes.

Theory of operation
-------------------
A bounded run on loopback: three node processes (``--timestamp-policy`` as asked), each under
libfaketime reading its clock offset from a file it re-reads every second; client processes
(``skewless.lab.real_client``, the stock driver, server-side timestamps, QUORUM) write their own
keys sequentially with increasing values through rotating coordinators and read them back
through another; a nemesis injects real faults for the duration:

* ``slow-node``: node 2's OS clock 200 ms slow for the whole run (seed 000);
* ``clock``: a random node's clock bumped by 4 ms to 10 s either way, strobed, or reset
  (Jepsen's clock nemesis);
* ``kill``: kill -9 of a random node, restarted a few seconds later;
* ``pause``: SIGSTOP of a random node for 1-3 s, then SIGCONT.

Then every fault is healed (clocks fixed, nodes restarted and resumed), the cluster settles,
every key is read at ALL, and the checkers run on the recorded history: lost acknowledged writes
(``checkers.superseded_writes``), read-your-writes and monotonic reads per client session
(``session_checks``), and linearizability per key (``linearizability``). The exit code is
non-zero when any finds a violation. Every process started is stopped by pid.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from skewless import limits
from skewless.lab.busy import busy_loops
from skewless.lab.checkers import superseded_writes
from skewless.lab.linearizability import linearizable
from skewless.lab.session_checks import session_violations
from skewless.runtime import faketime
from skewless.runtime.cluster import NodeProcess, start_local_cluster, stop_nodes
from skewless.runtime.faketime import FaketimeFile

FAULTS = ("slow-node", "clock", "kill", "pause")
BUMPS_S = (0.004, 0.02, 0.1, 0.3, 0.8, 2.0, 10.0)
RUN_S_MAX = 600  # one run is bounded
SETTLE_S = 6  # after the heal: libfaketime re-reads, clocks agree, hints and batchlogs replay


@dataclass
class RealRun:
    policy: str
    faults: tuple[str, ...]
    fault_log: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    final: dict[object, object] = field(default_factory=dict)


def _nemesis(faults: tuple[str, ...], nodes: list[NodeProcess], clocks: list[FaketimeFile],
             stop: threading.Event, rng: random.Random, log: list[str]) -> None:
    active = [f for f in faults if f != "slow-node"]
    while active and not stop.wait(rng.uniform(0.5, 1.5)):
        i = rng.randrange(len(nodes))
        fault = rng.choice(active)
        if fault == "clock":
            _clock_fault(clocks, i, stop, rng, log)
        elif fault == "kill" and all(n.running() for n in nodes):
            nodes[i].kill9()
            log.append(f"node{i + 1} kill -9")
            if not stop.wait(rng.uniform(2, 4)):
                nodes[i].restart()
                log.append(f"node{i + 1} restarted")
        elif fault == "pause" and all(n.running() for n in nodes):
            nodes[i].sigstop()
            log.append(f"node{i + 1} SIGSTOP")
            stop.wait(rng.uniform(1, 3))
            nodes[i].sigcont()
            log.append(f"node{i + 1} SIGCONT")


def _clock_fault(clocks: list[FaketimeFile], i: int, stop: threading.Event, rng: random.Random,
                 log: list[str]) -> None:
    """Jepsen's clock nemesis on node i: bump it by 4 ms to 10 s either way, strobe it between
    0 and such an offset (six flips, 0.4 s apart), or reset it."""
    action = rng.choice(("bump", "bump", "strobe", "reset"))
    if action == "bump":
        offset = rng.choice(BUMPS_S) * rng.choice((-1, 1))
        clocks[i].set_offset_s(offset)
        log.append(f"node{i + 1} {offset:+.3f} s")
    elif action == "strobe":
        b = rng.choice(BUMPS_S) * rng.choice((-1, 1))
        log.append(f"node{i + 1} strobe 0/{b:+.3f} s")
        for k in range(6):
            clocks[i].set_offset_s(0.0 if k % 2 == 0 else b)
            if stop.wait(0.4):
                break
    else:
        clocks[i].set_offset_s(0.0)
        log.append(f"node{i + 1} reset")


def _heal(nodes: list[NodeProcess], clocks: list[FaketimeFile]) -> None:
    for clock, n in zip(clocks, nodes, strict=True):
        clock.set_offset_s(0.0)
        n.sigcont()
        if not n.running():
            n.restart()


def _final_reads(port: int, keys: list[int]) -> dict[object, object]:
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                               request_timeout=10.0)
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        s = cluster.connect()
        out: dict[object, object] = {}
        for k in keys:
            row = s.execute(SimpleStatement(f"SELECT v FROM nem.reg WHERE k = {k}",
                                            consistency_level=ConsistencyLevel.ALL)).one()
            out[k] = None if row is None else row.v
        return out
    finally:
        cluster.shutdown()


def _schema(port: int) -> None:
    cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE nem WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE nem.reg (k int PRIMARY KEY, v int)")
    finally:
        cluster.shutdown()


def run_real(policy: str, faults: tuple[str, ...], duration_s: float, seed: int, clients: int,
             keys: int, port: int, busy: int = 0) -> RealRun:
    """One run; ``busy``: busy loops beside the cluster while the clients run (a saturated
    machine, ``lab.busy``)."""
    assert 0 < duration_s <= RUN_S_MAX and set(faults) <= set(FAULTS)
    root = Path(tempfile.mkdtemp(prefix="skewless-lab-real-"))
    run = RealRun(policy, faults)
    nodes: list[NodeProcess] = []
    try:
        library = faketime.library()
        if library is None:
            raise click.ClickException("libfaketime is not installed (apt-get install "
                                       "libfaketime): the real lab needs it for clock faults")
        clocks = [FaketimeFile(root / f"faketime-node{i}.txt", library) for i in range(1, 4)]
        if "slow-node" in faults:
            clocks[1].set_offset_s(-0.2)
            run.fault_log.append("node2 clock -0.200 s for the whole run")
        nodes = start_local_cluster(3, root / "cluster", [["--timestamp-policy", policy]] * 3,
                                    [c.env() for c in clocks], cql_port=port,
                                    internode_port=port - 2000)
        time.sleep(5)  # gossip, then clock agreement  # allow-real-clock
        _schema(port)
        stop = threading.Event()
        nemesis = threading.Thread(target=_nemesis, args=(faults, nodes, clocks, stop,
                                                          random.Random(seed), run.fault_log))
        procs = [subprocess.Popen(
            [sys.executable, "-m", "skewless.lab.real_client", str(port), str(c), str(keys),
             str(duration_s), str(root / f"history-{c}.jsonl")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in range(clients)]
        nemesis.start()
        try:
            with busy_loops(busy):
                for p in procs:
                    p.wait(timeout=duration_s + 120)
        finally:
            stop.set()
            nemesis.join()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=10)
        _heal(nodes, clocks)
        time.sleep(SETTLE_S)  # allow-real-clock
        for c in range(clients):
            path = root / f"history-{c}.jsonl"
            if path.exists():
                run.history += [json.loads(line) for line in path.read_text().splitlines()]
        run.final = _final_reads(port, sorted({op["key"] for op in run.history}))
        return run
    finally:
        stop_nodes(nodes, limits.cluster_stop_grace_ms / 1000)
        shutil.rmtree(root, ignore_errors=True)


def report(run: RealRun) -> int:
    """Print the run's summary and every checker's verdict; the number of failed checks."""
    writes = [op for op in run.history if op["op"] == "write"]
    acked = sum(1 for op in writes if op["ok"])
    click.echo(f"policy {run.policy}, faults {', '.join(run.faults) or 'none'}: "
               f"{len(run.fault_log)} fault events, {len(writes)} writes ({acked} "
               f"acknowledged), {len(run.history) - len(writes)} reads, {len(run.final)} keys")
    errors: dict[str, int] = {}
    for op in run.history:
        if not op["ok"]:
            key = f"{op['op']} {op.get('error', '?')}"
            errors[key] = errors.get(key, 0) + 1
    if errors:
        click.echo("failed operations: " + ", ".join(f"{k} x{n}" for k, n in
                                                      sorted(errors.items())))
    for line in run.fault_log[:20]:
        click.echo(f"  fault: {line}")
    lost = superseded_writes(run.history, run.final)
    sessions = session_violations(run.history)
    lin = linearizable(run.history)
    failed = 0
    for name, found in (("lost acknowledged writes", lost), ("session guarantees", sessions)):
        click.echo(f"{name}: {'PASS' if not found else f'FAIL ({len(found)})'}")
        for v in found[:5]:
            click.echo(f"  {v}")
        failed += bool(found)
    click.echo(str(lin).splitlines()[0])
    for line in str(lin).splitlines()[1:6]:
        click.echo(f"  {line}")
    failed += bool(lin.violations)
    return failed


@click.command("real")
@click.option("--policy", type=click.Choice(["hlc", "wallclock"]), default="hlc",
              show_default=True)
@click.option("--faults", default="slow-node", show_default=True,
              help=f"Comma-separated, of: {', '.join(FAULTS)}.")
@click.option("--duration-s", type=click.FloatRange(1, RUN_S_MAX), default=20,
              show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--clients", type=click.IntRange(1, 16), default=3, show_default=True)
@click.option("--keys", type=click.IntRange(1, 100), default=4, show_default=True,
              help="Keys per client.")
@click.option("--port", type=click.IntRange(3000, 60000), default=29900, show_default=True,
              help="CQL port of the cluster it starts (internode: port - 2000).")
@click.option("--busy-loops", "busy", type=click.IntRange(0, limits.busy_loops_max), default=0,
              show_default=True, help="Busy-loop processes beside the cluster while the clients "
              "run (a saturated machine).")
def real_command(policy: str, faults: str, duration_s: float, seed: int, clients: int,
                 keys: int, port: int, busy: int) -> None:
    """Run the lab's workload and checkers on a real local cluster under real faults."""
    chosen = tuple(f.strip() for f in faults.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        raise click.BadParameter(f"unknown fault {unknown[0]!r}", param_hint="--faults")
    failed = report(run_real(policy, chosen, duration_s, seed, clients, keys, port, busy))
    click.echo(f"violations: {failed} checks failed")
    sys.exit(1 if failed else 0)
