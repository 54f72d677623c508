"""Scenarios where a client's timestamp or a client's pause is the problem: two clients on
different machines and doomstones (seed 001), and the zombie writer with a stale lease (seed
003). See ``scenarios`` for how a scenario runs."""

from __future__ import annotations

from skewless.lab.scenarios import BASE_US, NOT_APPLIED, REGISTRY, Replay, Run, Scenario

A, B, C = "127.0.0.1", "127.0.0.2", "127.0.0.3"
SELECT = "SELECT v, writetime(v) FROM app.t WHERE id = {k}"
FENCED_TABLE = ("CREATE TABLE app.fenced (k int, token bigint, v text, PRIMARY KEY (k, token)) "
                "WITH CLUSTERING ORDER BY (token DESC)")
LEASE_TABLE = "CREATE TABLE app.lease (id int PRIMARY KEY, token bigint, v text)"
LEASE_WRITE = ("UPDATE app.lease SET token = {token}, v = '{v}' WHERE id = 1 "
               "IF token <= {token}")
FENCED_SELECT = "SELECT v, writetime(v) FROM app.fenced WHERE k = 1 LIMIT 1"
CLIENT_B_SKEW_US = -1_000_000  # client B's machine clock is 1 s behind


def _client_clock(t_ms: int, skew_us: int = 0) -> int:
    return BASE_US + t_ms * 1000 + skew_us


# ---------------------------------------------------------------------- two clients

def two_clients(seed: int, policy: str) -> list[Run]:
    runs = []
    r = Replay(seed, policy)
    w1 = r.write(0, "client A", A, "w1 (client timestamp)",
                 "INSERT INTO app.t (id, v) VALUES (1, 'w1')", timestamp_us=_client_clock(0))
    r.read(50, "client B", B, SELECT.format(k=1), "B reads w1")
    w2 = r.write(100, "client B", B, "w2 (client timestamp, B's clock 1 s behind)",
                 "UPDATE app.t SET v = 'w2' WHERE id = 1",
                 timestamp_us=_client_clock(100, CLIENT_B_SKEW_US))
    end = r.read(150, "client B", C, SELECT.format(k=1))
    kept = end.value == "w2"
    loud = bool(w2.warnings or w2.error)
    if kept:
        verdict = "w2 kept"
    else:
        verdict = (f"w2 LOST: B's clock put it at {w2.stamped_us or 0:,}, below w1's "
                   f"{w1.stamped_us or 0:,}.")
        verdict += (" Cassandra says nothing; Skewless (either policy) warns B that its write "
                    "was shadowed." if loud else " No warning.")
        if policy == "hlc":
            verdict += (" Within the client bounds a client timestamp is trusted: use the next "
                        "table.")
    runs.append(r.run("Client-side timestamps (the drivers' default), B's clock 1 s behind",
                      end.value or "", not kept, loud, verdict))

    r = Replay(seed, policy)
    r.write(0, "client A", A, "w1 (server-side timestamp)",
            "INSERT INTO app.t (id, v) VALUES (2, 'w1')")
    seen = r.read(50, "client B", B, SELECT.format(k=2), "B reads w1")
    token = seen.token_us if policy == "hlc" else None
    w2 = r.write(100, "client B", B, "w2 (server-side" + (", session token)" if token else ")"),
                 "UPDATE app.t SET v = 'w2' WHERE id = 2", token_us=token)
    end = r.read(150, "client B", C, SELECT.format(k=2))
    kept = end.value == "w2"
    how = "server-side timestamps and B's session token" if token else "server-side timestamps"
    verdict = (f"w2 kept with {how}: stamped {w2.stamped_us or 0:,}, above what B read"
               if kept else f"w2 LOST even with {how}")
    title = ("Recommended: server-side timestamps + session token (TokenSession)" if token
             else "Server-side timestamps (Cassandra has no session token)")
    runs.append(r.run(title, end.value or "", not kept, bool(w2.warnings or w2.error), verdict))
    return runs


# ---------------------------------------------------------------------- doomstone

def doomstone(seed: int, policy: str) -> list[Run]:
    r = Replay(seed, policy)
    r.write(0, "process A", A, "create the row", "INSERT INTO app.t (id, v) VALUES (1, 'w0')")
    dele = r.write(100, "process A", A, "DELETE with t=100,000,000 (99 s ahead)",
                   "DELETE FROM app.t USING TIMESTAMP 100000000 WHERE id = 1")
    w1 = r.write(200, "process B", B, "w1 (server-side timestamp)",
                 "INSERT INTO app.t (id, v) VALUES (1, 'w1')")
    end = r.read(300, "process B", C, SELECT.format(k=1))
    kept = end.value == "w1"
    if kept:
        verdict = ("The future DELETE is refused (max_future_timestamp_ms); w1 kept: no row "
                   "is poisoned." if dele.error else "w1 kept")
    else:
        verdict = (f"Doomstone: the DELETE at 100,000,000 was accepted; w1 (stamped "
                   f"{w1.stamped_us or 0:,}) LOST, as is every write to this row until real time "
                   f"passes 100,000,000 (a day-ahead timestamp poisons it for a day).")
    return [r.run("Process A deletes with a timestamp far in the future; process B writes",
                  end.value or "", not kept, bool(dele.error or w1.warnings), verdict)]


# ---------------------------------------------------------------------- zombie writer

ZOMBIE_SKEW_US = {B: -200_000}  # node B 200 ms slow, as in seed 000


def _zombie_steps(r: Replay, write: str) -> None:
    """``write`` is a CQL INSERT with ``{token}`` and ``{v}`` to fill in."""
    r.note(0, "lock service", "-", "lease to writer 1, fencing token 42", "writer 1 leads")
    r.note(100, "writer 1", "-", "GC pause, longer than its lease",
           "writer 1 stops; its lease expires")
    r.note(200, "lock service", "-", "lease to writer 2, fencing token 43", "writer 2 leads")
    r.write(300, "writer 2", A, "write #1 as token 43", write.format(token=43, v="writer 2 #1"))
    r.write(350, "writer 2", B, "write #2 as token 43", write.format(token=43, v="writer 2 #2"))
    r.note(400, "writer 1", "-", "GC pause ends", "writer 1 still believes it leads")
    r.write(500, "writer 1", A, "write as token 42 (zombie)", write.format(token=42, v="zombie"))


def zombie_writer(seed: int, policy: str) -> list[Run]:
    """Writer 2's two writes go through node A, then node B (200 ms slow): the fencing token
    stops the zombie under any clock; the clock decides whether writer 2's own second write
    survives."""
    r = Replay(seed, policy, ZOMBIE_SKEW_US)
    _zombie_steps(r, "INSERT INTO app.t (id, v) VALUES (1, '{v}')")
    lwt = r.write(600, "writer 1", A, "check-and-set (LWT) instead?",
                  "UPDATE app.t SET v = 'zombie' WHERE id = 1 IF v = 'writer 2 #2'")
    end = r.read(700, "reader", C, SELECT.format(k=1))
    lost = end.value != "writer 2 #2"
    verdict = (f"LOST: the reader gets {end.value!r}, not writer 2's last write. The zombie's "
               "write came later in real time, so last-write-wins keeps it under any clock. "
               if lost else "writer 2's last write kept. ")
    verdict += ("The check-and-set (IF v = writer 2's value) answers [applied] = False: it sees "
                "the zombie's write but cannot undo it; plain writes need the fencing token, next "
                "table." if lwt.value == NOT_APPLIED else "The check-and-set was applied.")
    runs = [r.run("Plain writes, no fencing: last write wins", end.value or "", lost, False,
                  verdict)]  # the refused check-and-set tells nobody about the loss

    r = Replay(seed, policy, ZOMBIE_SKEW_US, tables=(FENCED_TABLE,))
    _zombie_steps(r, "INSERT INTO app.fenced (k, token, v) VALUES (1, {token}, '{v}')")
    end = r.read(700, "reader", C, FENCED_SELECT, "read the highest token")
    fenced = "zombie's token-42 write is never current (each write lands in its token's row; " \
             "readers take the highest token: clustering order DESC, LIMIT 1)"
    if end.value == "writer 2 #2":
        verdict = f"Kept, and the {fenced}."
    elif end.value == "writer 2 #1":
        verdict = (f"The {fenced}; but writer 2's write #2, through node B (200 ms slow), LOST "
                   "to its own write #1: a clock anomaly the token cannot stop.")
    else:
        verdict = "The fencing token pattern failed: the zombie's write is current."
    runs.append(r.run("Fencing token as a clustering column, compared by value",
                      end.value or "", end.value != "writer 2 #2", False, verdict))
    runs.append(_zombie_fenced_by_lwt(seed, policy))
    return runs


def _zombie_fenced_by_lwt(seed: int, policy: str) -> Run:
    """The token kept in the row and every write conditional on it (``IF token <= mine``): the
    zombie's write is refused, and Paxos orders writer 2's two writes whatever node B's clock."""
    r = Replay(seed, policy, ZOMBIE_SKEW_US, tables=(LEASE_TABLE,))
    r.write(50, "writer 1", A, "write as token 42", "INSERT INTO app.lease (id, token, v) "
            "VALUES (1, 42, 'writer 1') IF NOT EXISTS")
    r.note(100, "writer 1", "-", "GC pause, longer than its lease",
           "writer 1 stops; its lease expires")
    r.note(200, "lock service", "-", "lease to writer 2, fencing token 43", "writer 2 leads")
    for t_ms, node, v in ((300, A, "writer 2 #1"), (350, B, "writer 2 #2")):
        r.write(t_ms, "writer 2", node, f"write #{v[-1]} as token 43, IF token <= 43",
                LEASE_WRITE.format(token=43, v=v))
    r.note(400, "writer 1", "-", "GC pause ends", "writer 1 still believes it leads")
    zombie = r.write(500, "writer 1", A, "write as token 42, IF token <= 42 (zombie)",
                     LEASE_WRITE.format(token=42, v="zombie"))
    end = r.read(700, "reader", C, "SELECT v, writetime(v) FROM app.lease WHERE id = 1")
    kept = end.value == "writer 2 #2"
    verdict = ("Kept: the zombie's conditional write answers [applied] = False (the row holds "
               "token 43), and writer 2's second write, through node B (200 ms slow), is "
               "ordered after its first by Paxos, not by B's clock." if kept and
               zombie.value == NOT_APPLIED else
               f"The LWT fencing failed: the reader gets {end.value!r}.")
    return r.run("Fencing token checked by a lightweight transaction (IF token <= ?)",
                 end.value or "", not kept, zombie.value == NOT_APPLIED, verdict)


REGISTRY.add(Scenario("two-clients", "Client B, its clock 1 s behind, overwrites what it read "
                      "with a client-side timestamp", "seed 001", two_clients))
REGISTRY.add(Scenario("doomstone", "A DELETE with a timestamp far in the future poisons the row "
                      "for every later write", "seed 001", doomstone))
REGISTRY.add(Scenario("zombie-writer", "A paused writer resumes with an old lease: what a "
                      "fencing token stops", "seed 003", zombie_writer))
