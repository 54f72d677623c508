"""Compare-and-set through faults on real node processes (issue 14's CAS soak).

8 client processes (``cas_soak_worker.py registers``) read one of 10 registers at SERIAL and
increment it with ``UPDATE ... SET v = n + 1 IF v = n`` through rotating coordinators for
``CAS_RUN_S``, while one node is killed with kill -9 and restarted, another is frozen with
SIGSTOP, and the third's clock (under libfaketime) jumps seconds ahead and then seconds behind.
The whole history must be linearizable (``skewless.lab.cas_linearizability``), and each
register's final value, read at SERIAL through every coordinator, must equal its number of
applied increments: each value 1..final set by exactly one increment, an acknowledged one or one
whose outcome was unknown, and no acknowledged increment setting a value above it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, LocalCluster

from skewless.lab.cas_linearizability import cas_linearizable
from skewless.runtime.faketime import FaketimeFile

WORKER = Path(__file__).with_name("cas_soak_worker.py")
CAS_WORKERS, REGISTERS, CAS_RUN_S = 8, 10, 60.0
PAUSE_S = 5.0  # how long the frozen node stays frozen
CLOCK_AHEAD_S, CLOCK_BEHIND_S = 3.0, -2.0  # the bumped clock's offsets, one after the other
WORKERS_WAIT_S = 600  # every worker must end by then (a hung worker fails the test)


def test_cas_increments_linearizable_through_kill9_sigstop_and_clock_jumps(
        cluster_factory: Callable[..., LocalCluster],
        faketime: Callable[[str, float], FaketimeFile], tmp_path: Path) -> None:
    clock = faketime("node1", 0.0)
    c = cluster_factory(3, env=[clock.env(), {}, {}])
    s = c.session()
    s.execute("CREATE KEYSPACE soak WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE soak.regs (k int PRIMARY KEY, v int)")
    history: list[dict[str, Any]] = []
    for k in range(REGISTERS):
        start = time.monotonic()
        s.execute(SimpleStatement("INSERT INTO soak.regs (k, v) VALUES (%s, 0)",
                                  consistency_level=ConsistencyLevel.QUORUM), (k,))
        history.append({"op": "write", "key": k, "value": 0, "ok": True, "start": start,
                        "end": time.monotonic()})
    outs = _start(c, tmp_path, "registers", CAS_WORKERS, REGISTERS, CAS_RUN_S)
    procs = [p for p, _ in outs]
    try:
        _wait_lines([o for _, o in outs], CAS_WORKERS * 20)
        t0 = time.monotonic()
        _at(t0 + 8)
        c.nodes[1].kill9()
        time.sleep(1)
        c.nodes[1].start()
        c.nodes[1].wait_ready()
        _at(t0 + 22)
        c.nodes[2].sigstop()
        time.sleep(PAUSE_S)
        c.nodes[2].sigcont()
        _at(t0 + 32)
        clock.set_offset_s(CLOCK_AHEAD_S)
        _at(t0 + 42)
        clock.set_offset_s(CLOCK_BEHIND_S)
        _join(procs)
    finally:
        _stop(procs)
        c.nodes[2].sigcont()
        clock.set_offset_s(0.0)
    history += _read([o for _, o in outs])
    final = _serial_finals(c)
    verdict = cas_linearizable(history)
    cas = [op for op in history if op["op"] == "cas"]
    applied = sum(1 for op in cas if op["ok"] and op["applied"])
    unknown = sum(1 for op in cas if not op["ok"])
    reads = sum(1 for op in history if op["op"] == "read" and op["ok"])
    print(f"\n{len(cas)} CAS increments: {applied} applied, "
          f"{sum(1 for op in cas if op['ok'] and not op['applied'])} not applied, {unknown} "
          f"unknown ({sum(1 for op in cas if op.get('retried'))} resent by the driver); "
          f"{reads} SERIAL reads; final values {final}\n{verdict}")
    assert verdict.ok, str(verdict)
    assert verdict.unknown == [], str(verdict)  # every key was searched to the end
    problems = [p for k in range(REGISTERS) for p in _chain(k, cas, final[k])]
    assert problems == [], problems[:10]
    assert applied >= REGISTERS * 10  # the faults are brief: the registers did move
    assert unknown < len(cas) // 4


def _chain(key: int, cas: list[dict[str, Any]], final: int | None) -> list[str]:
    """A register's final value against its increments (each sets n + 1 where it found n):
    every value 1..final was set by exactly one increment (so the final value is the number
    applied), an acknowledged one, or one whose outcome was unknown; none acknowledged above
    the final value."""
    if final is None:
        return [f"register {key}: no value"]
    acked: dict[int, int] = defaultdict(int)
    maybe: set[int] = set()
    for op in cas:
        if op["key"] == key and op["ok"] and op["applied"]:
            acked[op["value"]] += 1
        elif op["key"] == key and not op["ok"]:
            maybe.add(op["value"])
    problems = [f"register {key}: {acked[v]} increments applied setting {v}"
                for v in acked if acked[v] > 1]
    problems += [f"register {key}: value {v} of final {final} set by no increment"
                 for v in range(1, final + 1) if not acked[v] and v not in maybe]
    problems += [f"register {key}: increment to {v} applied, final value {final}"
                 for v in acked if v > final]
    return problems


def _serial_finals(c: LocalCluster) -> dict[int, int | None]:
    """Each register's value read at SERIAL through every coordinator: they must agree."""
    final: dict[int, int | None] = {}
    for node in c.nodes:
        session = c.session_to(node.address)
        for k in range(REGISTERS):
            row = session.execute(SimpleStatement(
                "SELECT v FROM soak.regs WHERE k = %s",
                consistency_level=ConsistencyLevel.SERIAL), (k,), timeout=30).one()
            v = row.v if row else None
            assert final.setdefault(k, v) == v, f"register {k}: SERIAL reads {final[k]}, {v}"
    return final


def _start(c: LocalCluster, tmp: Path, mode: str, workers: int, keys: int,
           bound: float) -> list[tuple[subprocess.Popen[bytes], Path]]:
    hosts = ",".join(n.address for n in c.nodes)
    outs = []
    for w in range(workers):
        out = tmp / f"{mode}-{w}.jsonl"
        outs.append((subprocess.Popen([sys.executable, str(WORKER), mode, str(w), hosts,
                                       str(CQL_PORT), str(keys), str(bound), str(out)]), out))
    return outs


def _wait_lines(outs: list[Path], lines: int, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(len(o.read_text().splitlines()) for o in outs if o.exists()) >= lines:
            return
        time.sleep(0.1)
    raise AssertionError(f"the workers did not reach {lines} operations in {timeout_s} s")


def _at(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _join(procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + WORKERS_WAIT_S
    for p in procs:
        assert p.wait(timeout=max(1.0, deadline - time.monotonic())) == 0


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:  # only the processes this test started, by their handles
        if p.poll() is None:
            p.kill()
            p.wait()


def _read(outs: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for o in outs for line in o.read_text().splitlines()]
