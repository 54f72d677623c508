"""A client process of the real lab (``skewless lab real``, test_clock_nemesis): sequential
writes and reads of its own keys, through the stock driver. Run as
``python -m skewless.lab.real_client PORT CLIENT KEYS DURATION_S HISTORY_FILE``.

argv: port client-id keys duration-s history-file. For ``duration`` seconds it writes each of its
keys in turn with increasing values (QUORUM, server-side timestamps, a different coordinator
each time) and reads the key back through another coordinator; every operation is recorded as
a JSON line: {"op", "key", "value", "start", "end", "ok", "session"} with the machine's monotonic
clock (one clock for every process on the machine).
"""

from __future__ import annotations

import json
import sys
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy

NODES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def main(port: int, client: int, keys: int, duration_s: float, path: str) -> None:
    sessions = []
    clusters = []
    for address in NODES:
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                                   consistency_level=ConsistencyLevel.QUORUM,
                                   request_timeout=5.0)
        c = Cluster([address], port=port, protocol_version=4,
                    execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        s = c.connect()
        s.use_client_timestamp = False
        clusters.append(c)
        sessions.append((s, s.prepare("UPDATE nem.reg SET v = ? WHERE k = ?"),
                         s.prepare("SELECT v FROM nem.reg WHERE k = ?")))
    own = [client * 1000 + i for i in range(keys)]
    value = {k: 0 for k in own}
    end = time.monotonic() + duration_s  # allow-real-clock
    n = 0
    with open(path, "w") as out:
        while time.monotonic() < end:  # allow-real-clock
            k = own[n % keys]
            session, write, _ = sessions[n % 3]
            value[k] += 1
            record(out, client, "write", k, value[k], session.execute, write, (value[k], k))
            session, _, read = sessions[(n + 1) % 3]
            record(out, client, "read", k, None, session.execute, read, (k,))
            n += 1
    for c in clusters:
        c.shutdown()


def record(out: object, client: int, op: str, key: int, value: int | None, execute: object,
           *args: object) -> None:
    start = time.monotonic()  # allow-real-clock
    ok = True
    error = ""
    try:
        result = execute(*args)  # type: ignore[operator]
        if op == "read":
            row = result.one()
            value = None if row is None else row.v
    except Exception as e:  # a failed operation is recorded, not fatal
        ok = False
        value = value if op == "write" else None
        error = type(e).__name__
        print(f"{op} {key}: {error}: {e}", file=sys.stderr)
    line = {"op": op, "key": key, "value": value, "start": start,
            "end": time.monotonic(), "ok": ok, "session": client}  # allow-real-clock
    if error:
        line["error"] = error
    out.write(json.dumps(line) + "\n")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
