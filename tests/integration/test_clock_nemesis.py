"""A Jepsen-style clock nemesis on a live cluster (issue 4).

Three nodes, each under libfaketime reading its offset from a file it re-reads; for the run, a
nemesis picks a random node every 0.5-1.5 s and bumps its clock by 4 ms to 10 s (either way),
strobes it (alternating between two offsets), or resets it. Meanwhile three client processes
write their own keys sequentially with increasing values (QUORUM, server-side timestamps, a
different coordinator each time) and read them back through another. Then every clock is fixed,
and after the cluster settles each key is read at ALL. The checker
(``skewless.lab.checkers.superseded_writes``) must find no acknowledged write superseded by an
earlier one, under the default settings.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from skewless.lab.checkers import superseded_writes
from skewless.lab.linearizability import linearizable
from skewless.lab.session_checks import session_violations

RUN_S = 20.0
CLIENTS = 3
KEYS_PER_CLIENT = 4
BUMPS_S = (0.004, 0.02, 0.1, 0.3, 0.8, 2.0, 10.0)


def _nemesis(fts: list, stop: threading.Event, rng: random.Random, log: list[str]) -> None:  # type: ignore[type-arg]
    while not stop.is_set():
        i = rng.randrange(len(fts))
        action = rng.choice(("bump", "bump", "strobe", "reset"))
        if action == "bump":
            offset = rng.choice(BUMPS_S) * rng.choice((-1, 1))
            fts[i].set_offset_s(offset)
            log.append(f"node{i + 1} {offset:+.3f} s")
        elif action == "strobe":
            a, b = 0.0, rng.choice(BUMPS_S) * rng.choice((-1, 1))
            log.append(f"node{i + 1} strobe 0/{b:+.3f} s")
            for k in range(6):
                fts[i].set_offset_s(a if k % 2 == 0 else b)
                if stop.wait(0.4):
                    break
        else:
            fts[i].set_offset_s(0.0)
            log.append(f"node{i + 1} reset")
        stop.wait(rng.uniform(0.5, 1.5))


def test_no_acknowledged_write_superseded_under_clock_nemesis(  # type: ignore[no-untyped-def]
        cluster_factory, faketime, tmp_path: Path) -> None:
    fts = [faketime(f"node{i}", 0.0) for i in range(1, 4)]
    c = cluster_factory(3, env=[ft.env() for ft in fts])
    s = c.session_to("127.0.0.1")
    s.execute("CREATE KEYSPACE nem WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE nem.reg (k int PRIMARY KEY, v int)")
    time.sleep(1.5)
    stop = threading.Event()
    log: list[str] = []
    nemesis = threading.Thread(target=_nemesis, args=(fts, stop, random.Random(7), log))
    clients = [subprocess.Popen(
        [sys.executable, "-m", "skewless.lab.real_client", str(c.nodes[0].cql_port), str(i),
         str(KEYS_PER_CLIENT), str(RUN_S), str(tmp_path / f"history-{i}.jsonl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(CLIENTS)]
    nemesis.start()
    try:
        errors = [p.communicate(timeout=RUN_S + 120)[1] for p in clients]
    finally:
        stop.set()
        nemesis.join()
        for p in clients:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert all(p.returncode == 0 for p in clients), errors
    for ft in fts:
        ft.set_offset_s(0.0)
    time.sleep(5)  # libfaketime re-reads; clocks agree again; hints replay
    history = [json.loads(line) for i in range(CLIENTS)
               for line in (tmp_path / f"history-{i}.jsonl").read_text().splitlines()]
    final = {}
    for key in sorted({op["key"] for op in history}):
        row = s.execute(SimpleStatement(f"SELECT v FROM nem.reg WHERE k = {key}",
                                        consistency_level=ConsistencyLevel.ALL)).one()
        final[key] = None if row is None else row.v
    violations = superseded_writes(history, final)
    sessions = session_violations(history)
    lin = linearizable(history)
    writes = [op for op in history if op["op"] == "write"]
    acked = sum(1 for op in writes if op["ok"])
    print(f"\nclock nemesis, {RUN_S:.0f} s: {len(log)} clock faults ({', '.join(log[:12])}...); "
          f"{len(writes)} writes ({acked} acknowledged), "
          f"{len(history) - len(writes)} reads; violations: {len(violations)}")
    print(f"session guarantees: {len(sessions)} violations; {str(lin).splitlines()[0]}")
    for v in violations[:10]:
        print(f"  {v}")
    assert not violations and not sessions and not lin.violations
