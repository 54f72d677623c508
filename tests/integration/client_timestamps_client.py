"""A driver client for test_client_timestamps: run under libfaketime with its clock a day ahead.

Writes with the driver's default (client-side) timestamps, then reports what happened and
what the node says about this client's clock, as JSON on stdout."""

from __future__ import annotations

import json
import sys

from cassandra import InvalidRequest
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy


def main(address: str, port: int) -> None:
    cluster = Cluster([address], port=port, protocol_version=4,
                      load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    session = cluster.connect()
    out: dict[str, object] = {}
    try:
        session.execute("INSERT INTO app.t (id, v) VALUES (1, 'from the future')")
        out["insert"] = "applied"
    except InvalidRequest as e:
        out["insert"] = f"InvalidRequest: {e}"
    rows = session.execute("SELECT * FROM system.skewless_clients")
    out["clients"] = [{"offset_ms": r.clock_offset_ms, "alarm": r.clock_alarm} for r in rows
                      if r.clock_offset_ms is not None]
    cluster.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
