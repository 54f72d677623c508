"""One client process of ``test_lwt_claims``: claims names with ``INSERT ... IF NOT EXISTS``
through rotating coordinators (the stock driver's RoundRobinPolicy) and writes one JSON line per
attempt: name, worker, applied (true / false / null when the outcome is unknown: a timeout, a
lost connection), the owner a not-applied answer returned, how many coordinators the driver
tried (its default retry policy sends a request whose connection broke to the next host, even a
conditional one), and the error's name.

Usage: python lwt_claim_worker.py WORKER HOSTS PORT NAMES_FILE OUT_FILE
"""

from __future__ import annotations

import json
import sys
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.policies import RoundRobinPolicy

REQUEST_TIMEOUT_S = 15.0  # above the server's own timeouts: it answers first when alive


def main(argv: list[str]) -> int:
    worker, hosts, port, names_file, out_file = argv
    me = int(worker)
    names = json.loads(open(names_file).read())
    cluster = Cluster(hosts.split(","), port=int(port), load_balancing_policy=RoundRobinPolicy(),
                      connect_timeout=30)
    session = cluster.connect()
    claim = session.prepare("INSERT INTO claims.names (name, owner) VALUES (?, ?) IF NOT EXISTS")
    claim.consistency_level = ConsistencyLevel.QUORUM
    claim.serial_consistency_level = ConsistencyLevel.SERIAL
    with open(out_file, "w") as out:
        for name in names:
            record: dict[str, object] = {"name": name, "worker": me, "applied": None,
                                         "owner": None, "error": None,
                                         "start": time.monotonic()}
            try:
                rs = session.execute(claim, (name, me), timeout=REQUEST_TIMEOUT_S)
                row = rs.one()
                record["applied"] = bool(rs.was_applied)
                record["hosts"] = len(rs.response_future.attempted_hosts)
                if not rs.was_applied:
                    record["owner"] = row.owner
            except Exception as e:  # the outcome is unknown: the checker allows either
                record["error"] = type(e).__name__
            record["end"] = time.monotonic()
            out.write(json.dumps(record) + "\n")
            out.flush()
    cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
