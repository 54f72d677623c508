"""Session tokens across processes (issue 4): a write through node 1, then a write through a
skewed node 2 from another process that received the token: never lost.

To make the token the only thing that can save the second write, node 2's clock is 5 s slow
with compensation off (a test-only setting) and a large max_offset_ms (so it is not fenced), and
the keyspace has RF=1 (replication cannot carry node 1's clock to node 2). The control run,
without tokens, usually loses updates (printed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cassandra import ConsistencyLevel

from skewless.session_tokens import TokenSession

HERE = Path(__file__).resolve().parent
ROWS = 20


def _lost(c, web: TokenSession, first_row: int, rows: int, with_tokens: bool) -> int:  # type: ignore[no-untyped-def]
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "session_token_worker.py"), "127.0.0.2",
         str(c.nodes[0].cql_port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"
        insert = web.prepare("INSERT INTO app.orders (id, status) VALUES (?, 'created')")
        tokens = []
        for i in range(first_row, first_row + rows):
            web.execute(insert, (i,))
            tokens.append(web.token)
            worker.stdin.write(f"{i} {web.token if with_tokens else '-'}\n")
            worker.stdin.flush()
            assert worker.stdout.readline().strip() == "ok"
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    ids = ", ".join(str(i) for i in range(first_row, first_row + rows))
    got = list(web.execute(
        f"SELECT id, status, writetime(status) AS wt FROM app.orders WHERE id IN ({ids})"))
    if with_tokens:  # the mechanism itself: each UPDATE was stamped above the token it got
        assert all(r.wt > int(tokens[r.id - first_row]) for r in got), (tokens, got)
    return sum(1 for r in got if r.status != "processed")


def test_token_handed_to_another_process_keeps_its_write(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--max-offset-ms", "60000"] for _ in range(3)]
    extra[1] += ["--clock-offset-ms", "-5000", "--no-clock-compensation", "--no-restamp"]
    c = cluster_factory(3, extra=extra)
    session = c.session_to("127.0.0.1")
    session.use_client_timestamp = False
    session.default_consistency_level = ConsistencyLevel.QUORUM
    session.execute("CREATE KEYSPACE app WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE app.orders (id int PRIMARY KEY, status text)")
    web = TokenSession(session)
    lost_without = _lost(c, web, 0, ROWS, with_tokens=False)
    lost_with = _lost(c, web, ROWS, ROWS, with_tokens=True)
    print(f"\nupdates lost through the 5 s slow node: {lost_without}/{ROWS} without tokens, "
          f"{lost_with}/{ROWS} with tokens")
    # Without tokens the loss depends on whether a clock ping reached node 2 between the INSERT
    # and the UPDATE (usually 8-17 of 20 here, fewer under load): printed, not asserted.
    assert lost_with == 0
