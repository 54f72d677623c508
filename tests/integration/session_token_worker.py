"""The "Celery worker" of test_session_tokens: another process, another coordinator.

argv: address port. Reads lines "ROW TOKEN" (TOKEN "-" for none) from stdin, updates that row
through ``address`` with the token the "web request" handed over, and answers "ok" per line, so
the update follows the web request's insert within milliseconds."""

from __future__ import annotations

import sys

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy

from skewless.session_tokens import TokenSession


def main(address: str, port: int) -> None:
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               consistency_level=ConsistencyLevel.QUORUM)
    cluster = Cluster([address], port=port, protocol_version=4,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    session = cluster.connect()
    session.use_client_timestamp = False
    update = session.prepare("UPDATE app.orders SET status = 'processed' WHERE id = ?")
    print("ready", flush=True)
    for line in sys.stdin:
        row, token = line.split()
        worker = TokenSession(session, token=None if token == "-" else token)
        worker.execute(update, (int(row),))
        print("ok", flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
