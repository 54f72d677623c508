"""Register workloads on a simulated cluster, recorded as histories for the checkers.

Theory of operation
-------------------
The table ``lab.reg (k int PRIMARY KEY, v int)`` holds ``keys`` registers. ``sessions`` client
sessions run at once, each sequential (one request at a time, a think time of 0..2 x
``think_ms`` between them), each request sent to a coordinator drawn at random among the nodes
that are up (a driver does not send on a refused connection; a paused node is only found out by
the client's timeout).

* A write takes a register no other session is writing and sets it to that register's next
  value: the writes of one register are sequential in real time across sessions, with
  increasing values, as ``checkers.superseded_writes`` requires, and consecutive writes of a
  register usually come from different sessions through different coordinators.
* A read reads a random register.
* A request the client gives up on (no answer in ``client_timeout_ms``: its coordinator crashed
  or paused) is indeterminate: it may still take effect at any later time. A register with such
  a write is written no more (reads continue), so no later write can be superseded by it and
  be mistaken for a lost one. A write answered with an error was either never stamped or was
  stamped before the answer, so its register stays in use.
* Options: consistency levels, client-side timestamps from each session's own skewed clock
  (``client_skew_ms``; the drivers' monotonic generator: last + 1 at least), and session tokens
  (each session sends the highest ``skewless-token`` it has received).
* Deletes and re-inserts (``delete_pct``): a write may DELETE the row (recorded as a write with
  ``delete: true``, its value ordering it; reads of it return None) and the register's next
  write INSERTs it again: a delete stamped ahead of the re-insert is seed 001's doomstone.
* Multi-row batches (``batch_pct``): a LOGGED BATCH sets two free registers to their next
  values, recorded as one write per register over the same interval.
* The seed-000 flow (``seed000``): a session's write is followed at once (no think time) by the
  register's next write through a different coordinator, as the post's INSERT then UPDATE.

Every operation is one dict in ``history``: op ("write"/"read"), key, value, start, end (virtual
seconds), ok, session, node (the coordinator), error (the error's name, "timeout", or None). A
failed read has value None. ``final_reads`` then reads every register at ALL (retrying while
the cluster recovers), and ``replica_divergence`` compares the replicas' stored data directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from skewless.errors import CqlError
from skewless.lab.options import WorkloadSpec
from skewless.node import consistency as cl_mod
from skewless.node.clock import session_token
from skewless.node.effects import Reply
from skewless.sim.world import EPOCH_US, World
from skewless.storage.engine import Storage

KEYSPACE, TABLE = "lab", "reg"
NS_PER_MS = 1_000_000
client_timeout_ms = 6000  # above the server's own timeouts (read 5 s): it answers first if alive
final_read_retry_ms = 500  # between attempts of a final ALL read while the cluster recovers
pair_turnaround_ns = 100_000  # seed000: the client sends the UPDATE this soon after the INSERT
SERVING = ("NORMAL", "LEAVING")  # a node's own status when it answers clients


@dataclass
class _Session:
    index: int
    clock_offset_us: int
    token_us: int = 0
    last_ts_us: int = 0
    follow: tuple[int, str] | None = None  # seed000: the register to write next, and not where
    generation: dict[str, int] = field(default_factory=dict)  # node -> connection generation

    def conn(self, node_index: int, address: str) -> int:
        return 1 + self.index * 64 + node_index + 4096 * self.generation.get(address, 0)


@dataclass
class _Request:
    op: dict[str, Any]
    session: _Session
    done: bool = False
    also: list[dict[str, Any]] = field(default_factory=list)  # a batch's other registers


class Workload:
    def __init__(self, world: World, spec: WorkloadSpec, rng: random.Random) -> None:
        self.world = world
        self.spec = spec
        self.rng = rng
        self.write_cl = cl_mod.named(spec.write_cl)
        self.read_cl = cl_mod.named(spec.read_cl)
        self.history: list[dict[str, Any]] = []
        self.next_value = dict.fromkeys(range(spec.keys), 0)
        self.writing: set[int] = set()
        self.frozen: set[int] = set()  # registers with an indeterminate write
        self.deleted: set[int] = set()  # registers whose last write was a DELETE
        self.sessions = [_Session(i, rng.randint(-spec.client_skew_ms, spec.client_skew_ms) * 1000)
                         for i in range(spec.sessions)]
        self.stop_ns = 0
        self.active = 0  # sessions still running

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        """Create the keyspace and table through node 1 and wait for every node to have it."""
        rf = min(3, len(self.world.nodes))
        first = sorted(self.world.nodes)[0]
        for ddl in (f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': "
                    f"'SimpleStrategy', 'replication_factor': {rf}}}",
                    f"CREATE TABLE {KEYSPACE}.{TABLE} (k int PRIMARY KEY, v int)"
                    + (" WITH ordered_writes = true" if self.spec.ordered_writes else "")):
            answers: list[Reply] = []
            self.world.client_query(first, 0, ddl, cl_mod.QUORUM, answers.append)
            ok = self.world.run_until(lambda a=answers: bool(a), 10 * 10**9)  # type: ignore[misc]
            assert ok and not isinstance(answers[0].body, CqlError), (ddl, answers)

        def everywhere() -> bool:
            return all(sn.node.schema.table(KEYSPACE, TABLE) is not None
                       for sn in self.world.nodes.values())
        assert self.world.run_until(everywhere, 10 * 10**9), "schema did not reach every node"

    # ------------------------------------------------------------------ the run

    def start(self, duration_ns: int) -> None:
        self.stop_ns = self.world.now_ns + duration_ns
        for s in self.sessions:
            self.active += 1
            self.world.at(self.rng.randrange(self.spec.think_ms * NS_PER_MS + 1),
                          lambda s=s: self._next(s))  # type: ignore[misc]

    def finished(self) -> bool:
        return self.active == 0

    def _next(self, s: _Session) -> None:
        if s.follow is not None:  # seed000: the second write of the pair, elsewhere
            key, avoid = s.follow
            s.follow = None
            self._write(s, [key], avoid, flow="seed000-update")
            return
        if self.world.now_ns >= self.stop_ns:
            self.active -= 1
            return
        free = [k for k in range(self.spec.keys) if k not in self.writing and k not in self.frozen]
        if free and self.rng.randrange(100) >= self.spec.read_pct:
            keys = [self.rng.choice(free)]
            if len(free) >= 2 and self.rng.randrange(100) < self.spec.batch_pct:
                keys = self.rng.sample(free, 2)
            self.writing.update(keys)
            self._write(s, keys, None)
        else:
            key = self.rng.randrange(self.spec.keys)
            self._send(s, {"op": "read", "key": key, "value": None},
                       f"SELECT v, writetime(v) FROM {KEYSPACE}.{TABLE} WHERE k = {key}",
                       self.read_cl)

    def _write(self, s: _Session, keys: list[int], avoid: str | None, flow: str = "") -> None:
        """Write the next value of each of ``keys`` (reserved already): an UPDATE, a DELETE,
        an INSERT after a DELETE, or a LOGGED BATCH of two UPDATEs."""
        ops, statements = [], []
        for key in keys:
            self.next_value[key] += 1
            value = self.next_value[key]
            op: dict[str, Any] = {"op": "write", "key": key, "value": value}
            if flow:
                op["flow"] = flow
            if len(keys) == 1 and not flow and self.rng.randrange(100) < self.spec.delete_pct:
                op["delete"] = True
                statements.append(f"DELETE FROM {KEYSPACE}.{TABLE} WHERE k = {key}")
            elif key in self.deleted:
                statements.append(f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES ({key}, {value})")
            else:
                statements.append(f"UPDATE {KEYSPACE}.{TABLE} SET v = {value} WHERE k = {key}")
            ops.append(op)
        query = statements[0] if len(statements) == 1 else (
            "BEGIN BATCH " + " ".join(q + ";" for q in statements) + " APPLY BATCH")
        self._send(s, ops[0], query, self.write_cl, ops[1:], avoid)

    def _send(self, s: _Session, op: dict[str, Any], query: str, cl: int,
              also: list[dict[str, Any]] | None = None, avoid: str | None = None) -> None:
        w = self.world
        nodes = sorted(w.nodes)
        up = serving(w)
        if avoid in up and len(up) > 1:
            up.remove(avoid)
        if not up:  # every node down: try again later
            self._done(s, [op, *(also or [])], "no node up")
            return
        address = self.rng.choice(up)
        for o in [op, *(also or [])]:
            o.update(start=w.now_ns / 1e9, end=None, ok=False, session=s.index, node=address,
                     error=None, ts=None, shadowed=False)
        ts = None
        if self.spec.client_timestamps and op["op"] == "write":
            ts = max(EPOCH_US + w.now_ns // 1000 + s.clock_offset_us, s.last_ts_us + 1)
            s.last_ts_us = ts
        req = _Request(op, s, also=list(also or []))
        conn = s.conn(nodes.index(address), address)
        w.client_query(address, conn, query, cl, lambda r: self._on_reply(req, r),
                       timestamp_us=ts, token_us=s.token_us or None if self.spec.tokens else None)
        if not req.done:
            w.at(client_timeout_ms * NS_PER_MS, lambda: self._on_timeout(req, address))

    def _on_reply(self, req: _Request, r: Reply) -> None:
        if req.done:
            return  # the answer to a request the client gave up on
        req.done = True
        ops = [req.op, *req.also]
        if isinstance(r.body, CqlError):
            error: str | None = type(r.body).__name__
        else:
            error = None
            token = session_token.decode(dict(r.custom_payload))
            if token is not None:
                req.session.token_us = max(req.session.token_us, token)
            for op in ops:
                op["ok"] = True
                if op["op"] == "read":
                    op["value"], op["ts"] = _register_value(r.body), _writetime(r.body)
                else:
                    op["shadowed"] = any("shadow" in x.lower() for x in r.warnings)
                    op["ts"] = token  # the write's timestamp
        self._finish(req, error)

    def _on_timeout(self, req: _Request, address: str) -> None:
        if req.done:
            return
        req.done = True
        s = req.session
        s.generation[address] = s.generation.get(address, 0) + 1  # a driver drops the connection
        for op in [req.op, *req.also]:
            if op["op"] == "write":
                self.frozen.add(op["key"])
        self._finish(req, "timeout")

    def _finish(self, req: _Request, error: str | None) -> None:
        ops = [req.op, *req.also]
        for op in ops:
            op["end"] = self.world.now_ns / 1e9
            op["error"] = error
            self.history.append(op)
            what = "delete" if op.get("delete") else op["op"]
            self.world.log(f"lab session{op['session']} via {op['node']} {what} k={op['key']} "
                           f"v={op['value']} ts={op['ts']} ok={op['ok']}"
                           f"{' shadowed' if op['shadowed'] else ''} {error or ''}".rstrip())
        self._done(req.session, ops, None)

    def _done(self, s: _Session, ops: list[dict[str, Any]], skipped: str | None) -> None:
        """Release the registers written (unless a seed-000 pair goes on) and schedule the
        session's next operation."""
        first = ops[0]
        pair = (self.spec.seed000 and len(ops) == 1 and first["op"] == "write" and first.get("ok")
                and not first.get("flow"))
        for op in ops:
            if op["op"] != "write":
                continue
            if skipped:
                self.next_value[op["key"]] -= 1  # never sent: the value is free again
            elif op.get("delete"):
                self.deleted.add(op["key"])
            else:
                self.deleted.discard(op["key"])
            if not pair:
                self.writing.discard(op["key"])
        if pair:  # the UPDATE right after the INSERT, through another coordinator
            s.follow = (first["key"], first["node"])
            self.world.at(pair_turnaround_ns, lambda: self._next(s))
            return
        think_ns = self.rng.randrange(2 * self.spec.think_ms * NS_PER_MS + 1)
        self.world.at(max(think_ns, 1000), lambda: self._next(s))

    # ------------------------------------------------------------------ final phase

    def final_reads(self, timeout_ns: int) -> dict[int, object]:
        """Every register read at ALL, retried until it answers or ``timeout_ns`` passes; the
        registers that never answered are left out."""
        w = self.world
        deadline = w.now_ns + timeout_ns
        final: dict[int, object] = {}
        attempt = 0
        for key in range(self.spec.keys):
            while w.now_ns < deadline:
                attempt += 1
                answers: list[Reply] = []
                nodes = serving(w) or sorted(w.nodes)
                address = nodes[attempt % len(nodes)]
                w.client_query(address, 100_000 + attempt, f"SELECT v FROM {KEYSPACE}.{TABLE} "
                               f"WHERE k = {key}", cl_mod.ALL, answers.append)
                w.run_until(lambda a=answers: bool(a), client_timeout_ms * NS_PER_MS)  # type: ignore[misc]
                if answers and not isinstance(answers[0].body, CqlError):
                    final[key] = _register_value(answers[0].body)
                    w.log(f"lab final k={key} v={final[key]}")
                    break
                w.run_for(final_read_retry_ms * NS_PER_MS)
        return final

    def replica_contents(self) -> tuple[dict[str, dict[int, str]], dict[int, list[str]]]:
        """What each node stores for each register (its partition with cell timestamps, as
        text) and each register's replicas."""
        w = self.world
        any_node = w.nodes[(serving(w) or sorted(w.nodes))[0]].node
        ks = any_node.schema.keyspace(KEYSPACE)
        table = any_node.schema.table(KEYSPACE, TABLE)
        assert ks is not None and table is not None
        members = [a for a in sorted(w.nodes) if not any_node.membership.out_of_cluster(a)
                   and a in any_node.membership.known_addresses()]
        contents: dict[str, dict[int, str]] = {a: {} for a in members}
        owners: dict[int, list[str]] = {}
        for key in range(self.spec.keys):
            pk = key.to_bytes(4, "big", signed=True)
            owners[key] = any_node.replicas_for(ks, pk)
            for address in members:
                sn = w.nodes[address]  # a killed node's data is what it synced
                storage = sn.node.storage if sn.up else Storage(sn.kv)
                part = storage.read(table.table_key, pk, 0)
                if part.rows or part.deletion is not None:
                    contents[address][key] = repr(part)
        return contents, owners


def serving(world: World) -> list[str]:
    """The nodes a client may send to: up, and in the ring by their own account (a node opens
    its CQL port once NORMAL; a LEAVING node still serves, a LEFT one no more)."""
    return [a for a in sorted(world.nodes) if world.nodes[a].up
            and world.nodes[a].node.membership.local.status in SERVING]


def _register_value(body: object) -> int | None:
    rows = getattr(body, "rows", None)
    if not rows or rows[0][0] is None:
        return None
    return int.from_bytes(rows[0][0], "big", signed=True)


def _writetime(body: object) -> int | None:
    rows = getattr(body, "rows", None)
    if not rows or rows[0][1] is None:
        return None
    return int.from_bytes(rows[0][1], "big", signed=True)
