"""Clock faults on real node processes (issue 4), through libfaketime and the stock driver.

* RF=1 on 5 nodes (replication cannot carry a clock): node 2's OS clock 200 ms slow, then 400 ms
  fast; sequential INSERT-then-UPDATE through every ordered pair of coordinators: 0 lost.
* Node 2's OS clock 2 s slow: it stamps nothing itself (peers stamp for it), clients get their
  answers, nothing is lost; when its clock returns it stamps by itself again.
* Node 2's clock steps back 1 s under load, then forward again: 0 lost acknowledged writes, and
  each coordinator's timestamps stay strictly increasing.
"""

from __future__ import annotations

import itertools
import time
import urllib.request

from cassandra import ConsistencyLevel

from skewless.runtime.cluster import suite_port_offset

METRICS_PORT = 19900 + suite_port_offset()


def _sessions(c):  # type: ignore[no-untyped-def]
    out = {}
    for n in c.nodes:
        s = c.session_to(n.address)
        s.use_client_timestamp = False  # server-side timestamps, as in seed 000
        s.default_consistency_level = ConsistencyLevel.QUORUM
        out[n.address] = s
    return out


def _pairs_flow(sessions, first_id: int, rounds: int) -> int:  # type: ignore[no-untyped-def]
    """INSERT through x, UPDATE through y, for every ordered pair (x, y); the lost UPDATEs."""
    pairs = list(itertools.permutations(sorted(sessions), 2))
    inserts = {a: s.prepare("INSERT INTO app.t (id, status) VALUES (?, 'created')")
               for a, s in sessions.items()}
    updates = {a: s.prepare("UPDATE app.t SET status = 'processed' WHERE id = ?")
               for a, s in sessions.items()}
    reads = {a: s.prepare("SELECT status FROM app.t WHERE id = ?") for a, s in sessions.items()}
    lost = 0
    for r in range(rounds):
        for j, (x, y) in enumerate(pairs):
            i = first_id + r * len(pairs) + j
            sessions[x].execute(inserts[x], (i,))
            sessions[y].execute(updates[y], (i,))
            if sessions[x].execute(reads[x], (i,)).one().status != "processed":
                lost += 1
                wt = sessions[x].execute(
                    f"SELECT writetime(status) AS w FROM app.t WHERE id = {i}").one().w
                print(f"lost: id {i}, insert via {x}, update via {y}, writetime {wt}")
    return lost


def test_rf1_five_nodes_slow_then_fast_clock(cluster_factory, faketime) -> None:  # type: ignore[no-untyped-def]
    ft = faketime("node2", -0.2)
    c = cluster_factory(5, env=[{}, ft.env(), {}, {}, {}])
    sessions = _sessions(c)
    s = sessions["127.0.0.1"]
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE app.t (id int PRIMARY KEY, status text)")
    time.sleep(1.5)
    slow = _pairs_flow(sessions, 0, 5)  # 100 INSERT/UPDATE pairs
    ft.set_offset_s(0.4)
    time.sleep(3)  # libfaketime re-reads its file each second; then a few ping rounds
    row = {r.address: r for r in s.execute("SELECT * FROM system.skewless_status")}["127.0.0.2"]
    fast = _pairs_flow(sessions, 1000, 5)
    print(f"\nRF=1, 5 nodes: lost {slow}/100 with node 2 at -200 ms, {fast}/100 at +400 ms "
          f"(measured {row.clock_offset_ms:+.1f} ms)")
    assert abs(row.clock_offset_ms - 400) < 30, row
    assert slow == 0 and fast == 0


def _metric(address: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{address}:{METRICS_PORT}/metrics", timeout=5) as r:  # noqa: S310
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(name)


def test_node_two_seconds_slow_is_fenced_then_rejoins(cluster_factory, faketime) -> None:  # type: ignore[no-untyped-def]
    ft = faketime("node2", -2.0)
    extra = [["--metrics-port", str(METRICS_PORT)] for _ in range(3)]
    c = cluster_factory(3, extra=extra, env=[{}, ft.env(), {}])
    sessions = _sessions(c)
    s = sessions["127.0.0.1"]
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE app.t (id int PRIMARY KEY, status text)")
    time.sleep(1.5)
    assert _metric("127.0.0.2", "skewless_clock_fenced") == 1.0
    own = {r.address: r for r in sessions["127.0.0.2"].execute(
        "SELECT * FROM system.skewless_status")}["127.0.0.2"]
    assert not own.clock_in_bounds and own.clock_alarm, own
    lost = _pairs_flow(sessions, 0, 5)  # 30 pairs; node 2 coordinates 20 statements each round
    # At QUORUM its clock stamps nothing: its logical clock does, and restamping orders the
    # writes (node.clock.fencing); a write at ONE is stamped by a peer.
    logical = _metric("127.0.0.2", "skewless_logical_stamps_total")
    one = sessions["127.0.0.2"].prepare("UPDATE app.t SET status = 'one' WHERE id = ?")
    one.consistency_level = ConsistencyLevel.ONE
    sessions["127.0.0.2"].execute(one, (999,))
    stamped_by_peers = _metric("127.0.0.2", "skewless_remote_stamps_total")
    ft.set_offset_s(0.0)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _metric("127.0.0.2", "skewless_clock_fenced") == 1.0:
        time.sleep(0.25)
    recovered_s = 15 - (deadline - time.monotonic())
    after = _pairs_flow(sessions, 1000, 1)
    print(f"\nnode 2 at -2 s: {lost}/30 lost, {logical:.0f} of its stamps from its logical "
          f"clock (QUORUM), {stamped_by_peers:.0f} by a peer (ONE); back in bounds "
          f"{recovered_s:.1f} s after its clock was fixed; {after}/6 lost after")
    assert lost == 0 and logical >= 10 and stamped_by_peers == 1
    assert _metric("127.0.0.2", "skewless_clock_fenced") == 0.0
    assert _metric("127.0.0.2", "skewless_remote_stamps_total") == stamped_by_peers
    assert _metric("127.0.0.2", "skewless_logical_stamps_total") == logical
    assert after == 0


def test_clock_steps_back_one_second_under_load(cluster_factory, faketime) -> None:  # type: ignore[no-untyped-def]
    ft = faketime("node2", 0.0)
    c = cluster_factory(3, env=[{}, ft.env(), {}])
    sessions = _sessions(c)
    s = sessions["127.0.0.1"]
    s.execute("CREATE KEYSPACE app WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE app.reg (k int PRIMARY KEY, v int)")
    time.sleep(1.5)
    nodes = sorted(sessions)
    upd = {a: x.prepare("UPDATE app.reg SET v = ? WHERE k = 1") for a, x in sessions.items()}
    rd = {a: x.prepare("SELECT v, writetime(v) AS wt FROM app.reg WHERE k = 1")
          for a, x in sessions.items()}
    stamps: dict[str, list[int]] = {a: [] for a in nodes}
    lost = 0
    j = 0
    started = time.monotonic()
    phases = ((2.0, None), (4.0, -1.0), (4.0, 0.0))  # seconds of load, then set the offset
    for duration_s, offset in phases:
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            coordinator = nodes[j % 3]
            sessions[coordinator].execute(upd[coordinator], (j,))
            row = sessions[nodes[(j + 1) % 3]].execute(rd[nodes[(j + 1) % 3]]).one()
            lost += row.v != j
            stamps[coordinator].append(row.wt)
            j += 1
        if offset is not None:
            ft.set_offset_s(offset)
    increasing = all(a < b for st in stamps.values() for a, b in itertools.pairwise(st))
    print(f"\nclock step back 1 s and forward under load: {j} sequential updates in "
          f"{time.monotonic() - started:.1f} s, {lost} lost; stamps strictly increasing per "
          f"coordinator: {increasing}")
    assert lost == 0 and increasing
