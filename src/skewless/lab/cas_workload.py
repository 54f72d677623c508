"""CAS registers and counters as lab workloads, beside the register workload (``lab.workloads``).

Theory of operation
-------------------
Both run in the same simulated world as the register workload, on their own tables, with their
own sessions (each sequential: one request at a time, a think time of 0..2 x ``think_ms``), each
request sent to a coordinator drawn at random among the nodes that serve clients. A request the
client gives up on (no answer in ``workloads.client_timeout_ms``) has an unknown outcome.

``CasWorkload`` (``lab.cas (k int PRIMARY KEY, v int)``, ``cas_keys`` registers,
``cas_sessions`` sessions). Each session keeps what it last learnt of each register:

* nothing yet: it claims the register, ``INSERT ... (k, v) VALUES (k, 0) IF NOT EXISTS``;
* a value v: ``UPDATE ... SET v = v+1 WHERE k = ? IF v = v`` (an increment);
* lost track (its last LWT on the register had an unknown outcome): a SERIAL read;
* and, 20% of the time, a SERIAL read of a random register.

A not-applied answer gives the current value (the failure result set's ``v``): the session's
next increment expects it. Every LWT goes at serial consistency SERIAL with the commit at
QUORUM. History entries are ``lab.cas_linearizability``'s format (``cas``,
``insert_if_not_exists``, ``read``); an error answer (WriteTimeout CAS, Unavailable, ...) or a
client timeout is recorded ok false (unknown; an Unavailable is certainly not applied, but
unknown is the weaker claim and still sound). Each register's value after the run, read at
SERIAL, must be its number of applied increments, give or take the unknown ones
(``final_count_verdict``): the claim writes 0, each increment adds 1.

``CounterWorkload`` (``lab.ctr (k int PRIMARY KEY, c counter)``, ``counter_keys`` counters,
``counter_sessions`` sessions): increments of a delta in [-3, 5] (never 0) at the workload's
write level, and 20% reads at its read level, in ``lab.counter_checks``'s format (an
Unavailable answer is ``applied: false``: the coordinator sent nothing). After the run every
counter is read at ALL, and each replica's stored value is read from its storage directly
(``replica_values``), for ``counter_bounds`` and ``counter_replicas``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skewless.cql.results import RowsResult
from skewless.errors import CqlError
from skewless.lab.options import WorkloadSpec
from skewless.lab.workloads import (
    KEYSPACE,
    NS_PER_MS,
    client_timeout_ms,
    final_read_retry_ms,
    serving,
)
from skewless.node import consistency as cl_mod
from skewless.node.effects import Reply
from skewless.node.params import Params
from skewless.sim.world import World
from skewless.storage import counters
from skewless.storage.engine import Storage

CAS_TABLE, CTR_TABLE = "cas", "ctr"
serial_read_pct = 20  # share of a CAS session's operations that are SERIAL reads
counter_read_pct = 20  # share of a counter session's operations that are reads
conn_base = 200_000  # client connection ids of these workloads (the register one's are lower)
LOST = object()  # a session's knowledge of a register after an unknown outcome


@dataclass
class _Session:
    index: int
    known: dict[int, object] = field(default_factory=dict)  # key -> value, None, or LOST
    generation: dict[str, int] = field(default_factory=dict)

    def conn(self, base: int, node_index: int, address: str) -> int:
        return base + self.index * 64 + node_index + 4096 * self.generation.get(address, 0)


class _Base:
    """Sessions, coordinators, timeouts and the history: what both workloads share."""

    table = ""
    ddl = ""
    base = conn_base

    def __init__(self, world: World, spec: WorkloadSpec, rng: random.Random, keys: int,
                 sessions: int) -> None:
        self.world, self.spec, self.rng, self.keys = world, spec, rng, keys
        self.sessions = [_Session(i) for i in range(sessions)]
        self.history: list[dict[str, Any]] = []
        self.stop_ns = 0
        self.active = 0

    def setup(self) -> None:
        """Create the table (the register workload created the keyspace) everywhere."""
        w = self.world
        answers: list[Reply] = []
        w.client_query(sorted(w.nodes)[0], self.base - 1, self.ddl, cl_mod.QUORUM,
                       answers.append)
        ok = w.run_until(lambda: bool(answers), 10 * 10**9)
        assert ok and not isinstance(answers[0].body, CqlError), (self.ddl, answers)
        assert w.run_until(lambda: all(sn.node.schema.table(KEYSPACE, self.table) is not None
                                       for sn in w.nodes.values()), 10 * 10**9)

    def start(self, duration_ns: int) -> None:
        self.stop_ns = self.world.now_ns + duration_ns
        for s in self.sessions:
            self.active += 1
            self._later(s, self.rng.randrange(self.spec.think_ms * NS_PER_MS + 1))

    def finished(self) -> bool:
        return self.active == 0

    def _later(self, s: _Session, delay_ns: int) -> None:
        self.world.at(max(delay_ns, 1000), lambda: self._tick(s))

    def _tick(self, s: _Session) -> None:
        if self.world.now_ns >= self.stop_ns:
            self.active -= 1
            return
        self._next(s)

    def _next(self, s: _Session) -> None:
        raise NotImplementedError

    def _send(self, s: _Session, op: dict[str, Any], query: str, params: Params,
              on_answer: Callable[[dict[str, Any], object], None]) -> None:
        """Send ``query`` through a random serving node; ``on_answer(op, body)`` fills the op
        on an answer that is no error; the op is recorded and the session goes on."""
        w = self.world
        nodes = serving(w)
        if not nodes:
            self._later(s, 100 * NS_PER_MS)
            return
        address = self.rng.choice(nodes)
        op.update(session=s.index, node=address, start=w.now_ns / 1e9, ok=False)
        done = [False]

        def answer(r: Reply) -> None:
            if done[0]:
                return
            done[0] = True
            if isinstance(r.body, CqlError):
                self._record(s, op, type(r.body).__name__)
            else:
                op["ok"] = True
                on_answer(op, r.body)
                self._record(s, op, None)

        def timeout() -> None:
            if done[0]:
                return
            done[0] = True
            s.generation[address] = s.generation.get(address, 0) + 1
            self._record(s, op, "timeout")
        w.client_execute(address, s.conn(self.base, sorted(w.nodes).index(address), address),
                         query, params, answer)
        if not done[0]:
            w.at(client_timeout_ms * NS_PER_MS, timeout)

    def _record(self, s: _Session, op: dict[str, Any], error: str | None) -> None:
        op["end"] = self.world.now_ns / 1e9
        op["error"] = error
        self.history.append(op)
        self.world.log(f"lab {self.table} session{s.index} via {op['node']} {op['op']} "
                       f"k={op['key']} {_brief(op)} ok={op['ok']} {error or ''}".rstrip())
        self._after(s, op)
        self._later(s, self.rng.randrange(2 * self.spec.think_ms * NS_PER_MS + 1))

    def _after(self, s: _Session, op: dict[str, Any]) -> None:
        """What the session learnt from ``op`` (recorded already)."""

    def _final_read(self, key: int, query: str, params: Params, deadline_ns: int
                    ) -> RowsResult | None:
        """One read retried through the serving nodes until it answers or the deadline."""
        w = self.world
        attempt = 0
        while w.now_ns < deadline_ns:
            attempt += 1
            nodes = serving(w) or sorted(w.nodes)
            answers: list[Reply] = []
            w.client_execute(nodes[attempt % len(nodes)], self.base - 2 - attempt % 1000,
                             query, params, answers.append)
            w.run_until(lambda a=answers: bool(a), client_timeout_ms * NS_PER_MS)  # type: ignore[misc]
            if answers and isinstance(answers[0].body, RowsResult):
                return answers[0].body
            w.run_for(final_read_retry_ms * NS_PER_MS)
        return None


def _brief(op: dict[str, Any]) -> str:
    return " ".join(f"{k}={op[k]}" for k in ("value", "expected", "delta", "applied", "seen")
                    if k in op)


def _int(raw: bytes | None) -> int | None:
    return None if raw is None else int.from_bytes(raw, "big", signed=True)


def _column(body: object, name: str) -> bytes | None:
    """Column ``name`` of the first row (None if absent or no row)."""
    if not isinstance(body, RowsResult) or not body.rows:
        return None
    for i, c in enumerate(body.columns):
        if c.name == name:
            return body.rows[0][i]
    return None


class CasWorkload(_Base):
    table = CAS_TABLE
    ddl = f"CREATE TABLE {KEYSPACE}.{CAS_TABLE} (k int PRIMARY KEY, v int)"
    base = conn_base

    def __init__(self, world: World, spec: WorkloadSpec, rng: random.Random) -> None:
        super().__init__(world, spec, rng, spec.cas_keys, spec.cas_sessions)
        self.params = Params(consistency=cl_mod.QUORUM, serial_consistency=cl_mod.SERIAL)
        self.read_params = Params(consistency=cl_mod.SERIAL)

    def _next(self, s: _Session) -> None:
        key = self.rng.randrange(self.keys)
        known = s.known.get(key)
        if known is LOST or (key in s.known and self.rng.randrange(100) < serial_read_pct):
            self._send(s, {"op": "read", "key": key, "value": None},
                       f"SELECT v FROM {KEYSPACE}.{CAS_TABLE} WHERE k = {key}",
                       self.read_params, _on_read)
        elif key not in s.known or known is None:
            self._send(s, {"op": "insert_if_not_exists", "key": key, "value": 0},
                       f"INSERT INTO {KEYSPACE}.{CAS_TABLE} (k, v) VALUES ({key}, 0) "
                       "IF NOT EXISTS", self.params, _on_cas)
        else:
            assert isinstance(known, int), known
            self._send(s, {"op": "cas", "key": key, "value": known + 1, "expected": known},
                       f"UPDATE {KEYSPACE}.{CAS_TABLE} SET v = {known + 1} WHERE k = {key} "
                       f"IF v = {known}", self.params, _on_cas)

    def _after(self, s: _Session, op: dict[str, Any]) -> None:
        if not op["ok"]:
            if op["op"] != "read":
                s.known[op["key"]] = LOST
        elif op["op"] == "read":
            s.known[op["key"]] = op["value"]
        else:
            s.known[op["key"]] = op["value"] if op["applied"] else op["seen"]

    def final_reads(self, timeout_ns: int) -> dict[int, object]:
        """Every register read at SERIAL (retried until ``timeout_ns``); unanswered left out."""
        deadline = self.world.now_ns + timeout_ns
        final: dict[int, object] = {}
        for key in range(self.keys):
            body = self._final_read(key, f"SELECT v FROM {KEYSPACE}.{CAS_TABLE} WHERE k = {key}",
                                    self.read_params, deadline)
            if body is not None:
                final[key] = _int(_column(body, "v"))
                self.world.log(f"lab cas final k={key} v={final[key]}")
        return final


def _on_read(op: dict[str, Any], body: object) -> None:
    op["value"] = _int(_column(body, "v"))


def _on_cas(op: dict[str, Any], body: object) -> None:
    op["applied"] = _column(body, "[applied]") == b"\x01"
    if not op["applied"]:
        op["seen"] = _int(_column(body, "v"))


def final_count_problems(history: list[dict[str, Any]], final: dict[int, object],
                         keys: int) -> list[str]:
    """Each register's final value (SERIAL) against its applied increments: with a applied
    and u unknown, a claimed register holds a value in [a, a + u]; one never claimed (no
    applied or unknown claim) holds nothing."""
    out = []
    for key in range(keys):
        ops = [h for h in history if h["key"] == key and h["op"] != "read"]
        applied = sum(1 for h in ops if h["op"] == "cas" and h["ok"] and h["applied"])
        unknown = sum(1 for h in ops if h["op"] == "cas" and not h["ok"])
        claimed = any(h["op"] == "insert_if_not_exists" and (h.get("applied") or not h["ok"])
                      for h in ops)
        if key not in final:
            out.append(f"register {key}: not readable at SERIAL after the run")
            continue
        value = final[key]
        if value is None:
            if applied or any(h["op"] == "insert_if_not_exists" and h["ok"] and h["applied"]
                              for h in ops):
                out.append(f"register {key}: absent after {applied} applied increments")
        elif not claimed or not isinstance(value, int) or not applied <= value <= applied \
                + unknown:
            out.append(f"register {key}: final value {value}, but {applied} increments were "
                       f"applied and {unknown} unknown")
    return out


class CounterWorkload(_Base):
    table = CTR_TABLE
    ddl = f"CREATE TABLE {KEYSPACE}.{CTR_TABLE} (k int PRIMARY KEY, c counter)"
    base = conn_base + 100_000

    def __init__(self, world: World, spec: WorkloadSpec, rng: random.Random) -> None:
        super().__init__(world, spec, rng, spec.counter_keys, spec.counter_sessions)
        self.write_cl, self.read_cl = spec.write_cl, spec.read_cl

    def _next(self, s: _Session) -> None:
        key = self.rng.randrange(self.keys)
        if self.rng.randrange(100) < counter_read_pct:
            self._send(s, {"op": "read", "key": key, "value": None,
                           "consistency": self.read_cl.upper()},
                       f"SELECT c FROM {KEYSPACE}.{CTR_TABLE} WHERE k = {key}",
                       Params(consistency=cl_mod.named(self.read_cl)), _on_counter_read)
            return
        delta = self.rng.choice([-3, -2, -1, 1, 2, 3, 4, 5])
        self._send(s, {"op": "increment", "key": key, "delta": delta},
                   f"UPDATE {KEYSPACE}.{CTR_TABLE} SET c = c + {delta} WHERE k = {key}",
                   Params(consistency=cl_mod.named(self.write_cl)), lambda op, body: None)

    def _record(self, s: _Session, op: dict[str, Any], error: str | None) -> None:
        if op["op"] == "increment" and not op["ok"]:
            op["applied"] = False if error == "Unavailable" else None
        super()._record(s, op, error)

    def final_reads(self, timeout_ns: int) -> dict[int, object]:
        """Every counter read at ALL (retried until ``timeout_ns``); unanswered left out."""
        deadline = self.world.now_ns + timeout_ns
        final: dict[int, object] = {}
        for key in range(self.keys):
            body = self._final_read(key, f"SELECT c FROM {KEYSPACE}.{CTR_TABLE} WHERE k = {key}",
                                    Params(consistency=cl_mod.ALL), deadline)
            if body is not None:
                final[key] = _int(_column(body, "c"))
                self.world.log(f"lab counter final k={key} c={final[key]}")
        return final

    def replica_values(self) -> dict[object, dict[str, int | None]]:
        """Each counter's value as each of its replicas stores it (a killed node's: what it
        synced)."""
        w = self.world
        any_node = w.nodes[(serving(w) or sorted(w.nodes))[0]].node
        ks = any_node.schema.keyspace(KEYSPACE)
        table = any_node.schema.table(KEYSPACE, CTR_TABLE)
        assert ks is not None and table is not None
        out: dict[object, dict[str, int | None]] = {}
        for key in range(self.keys):
            pk = key.to_bytes(4, "big", signed=True)
            out[key] = {}
            for address in any_node.replicas_for(ks, pk):
                sn = w.nodes[address]
                storage = sn.node.storage if sn.up else Storage(sn.kv)
                part = storage.read(table.table_key, pk, 0)
                out[key][address] = _stored_total(part.rows)
        return out


def _on_counter_read(op: dict[str, Any], body: object) -> None:
    raw = _column(body, "c")
    op["value"] = None if raw is None else struct.unpack(">q", raw)[0]


def _stored_total(rows: Any) -> int | None:
    for row in rows:
        for cw in row.cells:
            if cw.column == "c" and cw.cell.counter:
                return counters.total(cw.cell)
    return None
