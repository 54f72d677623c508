"""Client timestamps are checked (issue 4): a client whose clock is a day ahead (libfaketime on
the client process) and an explicit USING TIMESTAMP a day ahead are refused with errors that
say so; no row is poisoned; the node shows the client's clock offset with an alarm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cassandra import InvalidRequest

HERE = Path(__file__).resolve().parent
DAY_S = 86_400


def test_future_client_timestamps_refused(cluster_factory, faketime) -> None:  # type: ignore[no-untyped-def]
    ft = faketime("client", DAY_S)
    c = cluster_factory(3)
    s = c.session_to("127.0.0.1")
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE app.t (id int PRIMARY KEY, v text)")
    env = dict(os.environ, **ft.env(),
               PYTHONPATH=os.pathsep.join([str(HERE / "faketime_site"),
                                           os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run(
        [sys.executable, str(HERE / "client_timestamps_client.py"), "127.0.0.1",
         str(c.nodes[0].cql_port)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"\nclient a day ahead: {out}")
    assert "ahead of cluster time" in out["insert"], out
    assert any(abs(x["offset_ms"] - DAY_S * 1000) < 5000 and x["alarm"]
               for x in out["clients"]), out
    # Explicit USING TIMESTAMP a day ahead, from a client with a correct clock.
    future_us = int((time.time() + DAY_S) * 1e6)  # allow-real-clock
    with pytest.raises(InvalidRequest, match=r"USING TIMESTAMP \d+ is 86\d{6}\.\d ms ahead"):
        s.execute(f"INSERT INTO app.t (id, v) VALUES (2, 'doom') USING TIMESTAMP {future_us}")
    with pytest.raises(InvalidRequest, match="ahead of cluster time"):
        s.execute(f"DELETE FROM app.t USING TIMESTAMP {future_us} WHERE id = 3")
    # Nothing was poisoned: ordinary writes to the same rows take effect.
    for i in (1, 2, 3):
        s.execute(f"INSERT INTO app.t (id, v) VALUES ({i}, 'now')")
    assert {r.id: r.v for r in s.execute("SELECT * FROM app.t WHERE id IN (1, 2, 3)")} == \
        {1: "now", 2: "now", 3: "now"}
    # A timestamp an hour behind is applied with a warning the application can see.
    past_us = int((time.time() - 3600) * 1e6)  # allow-real-clock
    f = s.execute_async(f"INSERT INTO app.t (id, v) VALUES (4, 'old') USING TIMESTAMP {past_us}")
    f.result()
    assert f.warnings and "behind cluster time" in f.warnings[0], f.warnings
