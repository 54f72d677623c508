"""Scenarios where a node's clock is wrong: seed 000 (a coordinator 200 ms slow), the leap
second (seed 001), a server 3 s ahead (seed 003, quiz 2) and "the slower clock always loses"
(seed 002). See ``scenarios`` for how a scenario runs."""

from __future__ import annotations

from dataclasses import replace

from skewless.lab.scenarios import REGISTRY, Replay, Run, Scenario

A, B, C = "127.0.0.1", "127.0.0.2", "127.0.0.3"
SELECT = "SELECT v, writetime(v) FROM app.t WHERE id = {k}"


def _lost_verdict(policy: str, write: str, stamped: int | None, other: int | None,
                  kept: bool, loud: bool) -> str:
    if kept:
        return (f"{write} kept: stamped {stamped:,}, above {other:,}; the later write wins."
                if stamped is not None and other is not None else f"{write} kept")
    told = (" Cassandra says nothing; Skewless's wallclock mode at least warns the client."
            if policy == "wallclock" and loud else "" if loud else " No error, no warning.")
    return (f"{write} LOST: acknowledged, stamped {stamped or 0:,} below {other or 0:,}, "
            f"discarded by last-write-wins.{told}")


# ---------------------------------------------------------------------- seed000

def _seed000(seed: int, policy: str) -> list[Run]:
    runs = []
    for title, skew_us in (("Scenario 1: Healthy Cluster (Expected Flow)", 0),
                           ("Scenario 2: Node B is 200ms Slow (Actual Flow)", -200_000)):
        r = Replay(seed, policy, {B: skew_us})
        wa = r.write(0, "client", A, "WRITE A", "INSERT INTO app.t (id, v) VALUES (1, 'A')")
        r.read(50, "client", A, SELECT.format(k=1), "READ A")
        wb = r.write(150, "client", B, "WRITE B", "UPDATE app.t SET v = 'B' WHERE id = 1")
        end = r.read(200, "client", A, SELECT.format(k=1), "READ B")
        kept = end.value == "B"
        loud = bool(wb.warnings or wb.error)
        runs.append(r.run(title, end.value or "", not kept, loud,
                          _lost_verdict(policy, "Write B", wb.stamped_us, wa.stamped_us, kept,
                                        loud)))
    return runs


# ---------------------------------------------------------------------- leap second

def _leap_second(seed: int, policy: str) -> list[Run]:
    """A coordinator's own stamps never go backwards even in Cassandra (it keeps its last one),
    so w1 goes through node B and w2, after node A's clock stepped back, through node A (the
    drivers spread requests over coordinators)."""
    r = Replay(seed, policy)
    w1 = r.write(0, "client", B, "w1", "INSERT INTO app.t (id, v) VALUES (1, 'w1')")
    r.world.nodes[A].clock.offset_us -= 1_000_000
    r.note(100, "leap second", "node A", "clock steps back 1 s", "node A's clock is now 1 s behind")
    w2 = r.write(200, "client", A, "w2", "UPDATE app.t SET v = 'w2' WHERE id = 1")
    end = r.read(300, "client", C, SELECT.format(k=1))
    kept = end.value == "w2"
    loud = bool(w2.warnings or w2.error)
    return [r.run("One client; node A's clock steps back 1 s between w1 (via B) and w2 (via A)",
                  end.value or "", not kept, loud,
                  _lost_verdict(policy, "w2", w2.stamped_us, w1.stamped_us, kept, loud))]


# ---------------------------------------------------------------------- server ahead

def _server_ahead(seed: int, policy: str) -> list[Run]:
    r = Replay(seed, policy, {A: 3_000_000})
    r.write(0, "client", B, "create the account",
            "INSERT INTO app.t (id, v) VALUES (1, 'old@x.com')")
    stale = r.write(100, "mobile sync", A, "stale sync writes old@x.com",
                    "UPDATE app.t SET v = 'old@x.com' WHERE id = 1")
    node_a = r.world.nodes[A].node
    if policy == "hlc" and node_a.stamping.remote_stamps:
        r.steps[-1] = replace(r.steps[-1], result=r.steps[-1].result + " (node A is fenced: "
                              "a peer stamped it)")
    elif policy == "hlc" and node_a.stamping.logical_stamps:
        r.steps[-1] = replace(r.steps[-1], result=r.steps[-1].result + " (node A is fenced: "
                              "stamped by its logical clock, ordered by restamping)")
    new = r.write(200, "user", B, "user sets new@x.com",
                  "UPDATE app.t SET v = 'new@x.com' WHERE id = 1")
    end = r.read(300, "user", C, SELECT.format(k=1))
    kept = end.value == "new@x.com"
    loud = bool(new.warnings or new.error)
    verdict = _lost_verdict(policy, "The user's new@x.com", new.stamped_us, stale.stamped_us,
                            kept, loud)
    if policy == "hlc" and node_a.stamping.fenced():
        verdict += (f" Node A (+3 s) is fenced: its clock stamped nothing "
                    f"({node_a.stamping.remote_stamps} remote stamp(s), "
                    f"{node_a.stamping.logical_stamps} from its logical clock alone).")
    return [r.run("Server A's clock 3 s ahead; a stale sync through A, then the user through B",
                  end.value or "", not kept, loud, verdict)]


# ---------------------------------------------------------------------- slower clock

def _slower_clock(seed: int, policy: str) -> list[Run]:
    r = Replay(seed, policy, {B: -100_000})
    lost = []
    loud = False
    prev: int | None = None
    last = ""
    t = 0
    for i in range(1, 7):
        address = A if i % 2 else B
        w = r.write(t, "client", address, f"w{i}", f"UPDATE app.t SET v = 'w{i}' WHERE id = 1")
        loud = loud or bool(w.warnings or w.error)
        got = r.read(t + 10, "client", C, SELECT.format(k=1))
        if got.value != f"w{i}":
            lost.append((f"w{i}", w.stamped_us, prev))
        prev, last = got.stamped_us, got.value or ""
        t += 30
    if not lost:
        verdict = "All 6 sequential writes kept: node B's writes are stamped in cluster time."
    else:
        names = ", ".join(n for n, _, _ in lost)
        verdict = (f"{len(lost)} of 6 acknowledged writes LOST ({names}): every write through "
                   f"node B (100 ms slow) is stamped below the write before it.")
        if loud:
            verdict += " (Cassandra says nothing; Skewless's wallclock mode warns the client.)"
    return [r.run("Nodes A and B 100 ms apart; writes 30 ms apart, each acknowledged before "
                  "the next", last, bool(lost), loud, verdict)]


REGISTRY.add(Scenario("seed000", "The post's Scenarios 1 and 2: an UPDATE through a node 200 ms "
                      "slow is stamped 950,000 < 1,000,000 and lost", "seed 000", _seed000))
REGISTRY.add(Scenario("leap-second", "A node's clock steps back 1 s between w1 and w2: w2 gets "
                      "the lower timestamp", "seed 001", _leap_second))
REGISTRY.add(Scenario("server-ahead", "Server A 3 s ahead: a stale sync through A beats the "
                      "user's later update through B", "seed 003, quiz 2", _server_ahead))
REGISTRY.add(Scenario("slower-clock-loses", "Two nodes 100 ms apart: every write through the "
                      "slower one loses to the write before it", "seed 002", _slower_clock))
