"""One client process of ``test_cas_soak``: runs one workload for a bounded time or count
through rotating coordinators (the stock driver's RoundRobinPolicy) and writes one JSON line per
operation, in the history format of ``skewless.lab.cas_linearizability`` (registers) or
``skewless.lab.counter_checks`` (counters). Times are ``time.monotonic()``, one clock for every
process of the machine.

* ``registers``: CAS increments. Pick a register, read it at SERIAL, then
  ``UPDATE ... SET v = n + 1 IF v = n``. A not-applied answer records the value it returned.
* ``counters``: ``UPDATE ... SET n = n + 1`` at QUORUM, ``COUNT`` times.

An operation's outcome is unknown (ok false) when it failed (a timeout, a lost connection) and
also when the driver tried it on more than one coordinator: the stock driver's default retry
policy resends a request whose connection broke to the next host, even a conditional one or a
counter, so the first send may have been applied too.

Usage: python cas_soak_worker.py registers WORKER HOSTS PORT KEYS DURATION_S OUT_FILE
       python cas_soak_worker.py counters WORKER HOSTS PORT KEYS COUNT OUT_FILE
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import IO, Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from cassandra.policies import RoundRobinPolicy

REQUEST_TIMEOUT_S = 15.0  # above the server's own timeouts: it answers first when alive


def main(argv: list[str]) -> int:
    mode, worker, hosts, port, keys, bound, out_file = argv
    cluster = Cluster(hosts.split(","), port=int(port), load_balancing_policy=RoundRobinPolicy(),
                      connect_timeout=30)
    session = cluster.connect()
    with open(out_file, "w") as out:
        if mode == "registers":
            registers(session, int(worker), int(keys), float(bound), out)
        else:
            assert mode == "counters", mode
            counters(session, int(worker), int(keys), int(bound), out)
    cluster.shutdown()
    return 0


def registers(session: Session, worker: int, keys: int, duration_s: float, out: IO[str]) -> None:
    read = session.prepare("SELECT v FROM soak.regs WHERE k = ?")
    read.consistency_level = ConsistencyLevel.SERIAL
    cas = session.prepare("UPDATE soak.regs SET v = ? WHERE k = ? IF v = ?")
    cas.consistency_level = ConsistencyLevel.QUORUM
    cas.serial_consistency_level = ConsistencyLevel.SERIAL
    rng = random.Random(worker)
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        key = rng.randrange(keys)
        op = _op("read", key, worker, value=None)
        try:
            rs = session.execute(read, (key,), timeout=REQUEST_TIMEOUT_S)
            row = rs.one()
            op.update(value=row.v if row else None, ok=True)
        except Exception as e:  # a failed read is dropped by the checker
            op.update(ok=False, error=type(e).__name__)
        _write(out, op)
        if not op["ok"] or op["value"] is None:
            continue
        n = int(op["value"])
        op = _op("cas", key, worker, expected=n, value=n + 1)
        try:
            rs = session.execute(cas, (n + 1, key, n), timeout=REQUEST_TIMEOUT_S)
            retried = len(rs.response_future.attempted_hosts) > 1
            op.update(ok=not retried, applied=bool(rs.was_applied), retried=retried)
            if not rs.was_applied:
                op["seen"] = rs.one().v
        except Exception as e:  # the outcome is unknown: the checker allows either
            op.update(ok=False, error=type(e).__name__)
        _write(out, op)


def counters(session: Session, worker: int, keys: int, count: int, out: IO[str]) -> None:
    inc = session.prepare("UPDATE soak.counts SET n = n + 1 WHERE k = ?")
    inc.consistency_level = ConsistencyLevel.QUORUM
    for i in range(count):
        key = (worker + i) % keys
        op = _op("increment", key, worker, delta=1)
        try:
            rs = session.execute(inc, (key,), timeout=REQUEST_TIMEOUT_S)
            if len(rs.response_future.attempted_hosts) > 1:
                # acknowledged, but the driver resent it after a broken connection: the first
                # send's outcome is unknown (this one's is known)
                _write(out, {**op, "ok": False, "retry": True, "end": time.monotonic()})
            op["ok"] = True
        except Exception as e:  # a timeout, a lost connection: outcome unknown
            op.update(ok=False, error=type(e).__name__)
        _write(out, op)


def _op(kind: str, key: int, worker: int, **kw: Any) -> dict[str, Any]:
    return {"op": kind, "key": key, "worker": worker, "ok": False, "start": time.monotonic(),
            **kw}


def _write(out: IO[str], op: dict[str, Any]) -> None:
    op.setdefault("end", time.monotonic())
    out.write(json.dumps(op) + "\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
