"""A seeded, deterministic in-memory cluster for the partition Paxos core (node.paxos.core):
N nodes, a network that delays, reorders, drops and duplicates messages, crashes that lose
whatever was not synced, and clients running CAS-register workloads. The history it records is
checked with the project's linearizability checker (skewless.lab.linearizability) after a CAS
is mapped to register operations, plus the fork check a register checker cannot make.

Mapping (values written are unique): an applied CAS(e -> n) is a write of n; a CAS whose
condition was false answers the current value: a read of it; a SERIAL read is a read; a CAS
that failed (timeout, unavailable, its coordinator crashed) is a write of n whose outcome is
unknown (ok False). A register checker does not see that an applied CAS read e atomically with
its write, so ``forks`` adds: no two applied CASes expect the same value (that would be a lost
update), and every applied CAS expects a value some CAS wrote (or the initial None). Both are
necessary for a linearizable CAS register, so together they never accuse a correct run.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skewless.lab.linearizability import Linearizability, linearizable
from skewless.node.messages import Envelope, Message, decode, encode
from skewless.node.paxos.core import Effects, LwtMessage, PaxosCore
from skewless.node.paxos.proposer import CasRequest, Outcome
from skewless.storage.merge import merge
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

TABLE = "7" * 32
_DELETED = object()


class DictDurable:
    """Durable bytes with a synced boundary: a crash keeps ``synced`` only."""

    def __init__(self) -> None:
        self.synced: dict[bytes, bytes] = {}
        self.pending: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.pending:
            return self.pending[key]
        return self.synced.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def delete(self, key: bytes) -> None:
        self.pending[key] = None

    def sync(self) -> None:
        for k, v in self.pending.items():
            if v is None:
                self.synced.pop(k, None)
            else:
                self.synced[k] = v
        self.pending.clear()

    def crash(self) -> None:
        self.pending.clear()


class DictData:
    """Partitions with the same synced boundary."""

    def __init__(self) -> None:
        self.synced: dict[tuple[str, bytes], PartitionUpdate] = {}
        self.pending: dict[tuple[str, bytes], PartitionUpdate] = {}

    def read(self, table: str, key: bytes) -> PartitionUpdate:
        k = (table, key)
        return self.pending.get(k) or self.synced.get(k) or PartitionUpdate(table, key)

    def apply(self, update: PartitionUpdate) -> None:
        k = (update.table, update.key)
        self.pending[k] = merge(self.read(*k), update)

    def sync(self) -> None:
        self.synced.update(self.pending)
        self.pending.clear()

    def crash(self) -> None:
        self.pending.clear()


def row_value(p: PartitionUpdate) -> int | None:
    """The register held by a partition: cell 'v' of the row at clustering b''."""
    for r in p.rows:
        if r.clustering == b"":
            for w in r.cells:
                if w.column == "v" and w.cell.value is not None:
                    return int(w.cell.value.decode())
    return None


def register_update(key: bytes, value: int) -> PartitionUpdate:
    cell = CellWrite("v", b"", Cell(0, str(value).encode()))  # the core stamps it
    return PartitionUpdate(TABLE, key, rows=(Row(b"", cells=(cell,)),))


def cas_decide(key: bytes, expected: int | None, new: int
               ) -> Callable[[PartitionUpdate], tuple[bool, PartitionUpdate | None, object]]:
    def decide(current: PartitionUpdate) -> tuple[bool, PartitionUpdate | None, object]:
        cur = row_value(current)
        if cur != expected:
            return False, None, cur
        return True, register_update(key, new), cur
    return decide


def read_decide(current: PartitionUpdate) -> tuple[bool, PartitionUpdate | None, object]:
    return False, None, row_value(current)


@dataclass
class Faults:
    drop: float = 0.03
    duplicate: float = 0.03
    delay_ms: tuple[int, int] = (1, 12)
    crash_every_ms: int = 0  # mean gap between crashes (0: none)
    down_ms: tuple[int, int] = (5, 120)
    sync_every_ms: int = 20  # periodic sync (what the planted answer-before-sync relies on)
    skew_ms: int = 30  # clocks differ by up to this


@dataclass
class SimNode:
    address: str
    index: int
    seed: int
    planted: frozenset[str]
    skew_us: int
    durable: DictDurable = field(default_factory=DictDurable)
    data: DictData = field(default_factory=DictData)
    core: PaxosCore | None = None
    up: bool = True
    hlc_us: int = 0
    incarnation: int = 0

    def boot(self) -> None:
        self.incarnation += 1
        rng = random.Random(self.seed * 1000 + self.index * 100 + self.incarnation)
        self.core = PaxosCore(self.address, self.durable, self.data, rng, self.planted)

    def clock(self, now_ms: int) -> int:
        self.hlc_us = max(now_ms * 1000 + self.skew_us, self.hlc_us + 1)
        return self.hlc_us


@dataclass
class Op:
    client: int
    key: bytes
    kind: str  # 'cas' | 'read'
    expected: int | None
    new: int
    start: int
    node: str


class Cluster:
    def __init__(self, seed: int, n: int = 3, faults: Faults | None = None,
                 planted: frozenset[str] = frozenset(), planted_on: int | None = None,
                 participants: int | None = None, commit_required: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.now = 0
        self._seq = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self.nodes: dict[str, SimNode] = {}
        for i in range(n):
            addr = f"10.0.0.{i + 1}"
            bugs = planted if planted_on in (None, i) else frozenset()
            node = SimNode(addr, i, seed, bugs, self.rng.randint(0, self.faults.skew_ms * 1000))
            node.boot()
            self.nodes[addr] = node
        self.addresses = tuple(self.nodes)
        # Paxos among the first ``participants`` nodes (LOCAL_SERIAL's local DC), all replicas
        self.participants = self.addresses[:participants or n]
        self.commit_required = commit_required
        self.ops: dict[int, Op] = {}
        self.history: list[dict[str, Any]] = []
        self.applied: list[Op] = []
        self.messages = 0
        self.sent: Counter[str] = Counter()  # messages sent, by type
        self.outcomes: dict[int, Outcome] = {}
        self._next_op = 0
        self.on_done: Callable[[Op, Outcome | None], None] | None = None

    # ------------------------------------------------------------------ events

    def at(self, t: int, f: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, f))

    def run_until(self, t_end: int) -> None:
        while self._events and self._events[0][0] <= t_end:
            t, _, f = heapq.heappop(self._events)
            self.now = t
            f()
        self.now = t_end

    def start_ticks(self, every_ms: int = 10) -> None:
        for addr in self.addresses:
            self.at(every_ms, self._ticker(addr, every_ms))
            self.at(self.faults.sync_every_ms, self._syncer(addr))
        if self.faults.crash_every_ms:
            self.at(self.rng.randint(1, 2 * self.faults.crash_every_ms), self._crasher)

    def _ticker(self, addr: str, every_ms: int) -> Callable[[], None]:
        def tick() -> None:
            node = self.nodes[addr]
            if node.up:
                assert node.core is not None
                self._effects(node, node.core.tick(self.now, node.clock(self.now)))
            self.at(self.now + every_ms, tick)
        return tick

    def _syncer(self, addr: str) -> Callable[[], None]:
        def sync() -> None:
            node = self.nodes[addr]
            if node.up:
                node.durable.sync()
                node.data.sync()
            self.at(self.now + self.faults.sync_every_ms, sync)
        return sync

    def _crasher(self) -> None:
        node = self.nodes[self.rng.choice(self.addresses)]
        if node.up:
            self.crash(node.address)
            lo, hi = self.faults.down_ms
            self.at(self.now + self.rng.randint(lo, hi), lambda: self.restart(node.address))
        self.at(self.now + self.rng.randint(1, 2 * self.faults.crash_every_ms), self._crasher)

    def crash(self, addr: str) -> None:
        node = self.nodes[addr]
        node.up = False
        node.durable.crash()
        node.data.crash()
        assert node.core is not None
        for op_id in list(node.core.proposers):
            self._finish(op_id, None)  # the client's connection drops: outcome unknown
        node.core = None

    def restart(self, addr: str) -> None:
        node = self.nodes[addr]
        node.up = True
        node.boot()

    # ------------------------------------------------------------------ network

    def _effects(self, node: SimNode, fx: Effects) -> None:
        node.hlc_us = max(node.hlc_us, fx.observed_us)
        for to, m in fx.early_sends:
            self._send(node, to, m)
        if fx.sync:
            node.durable.sync()
            node.data.sync()
        for to, m in fx.sends:
            self._send(node, to, m)
        for op_id, outcome in fx.answers:
            self._finish(op_id, outcome)

    def _send(self, node: SimNode, to: str, m: LwtMessage) -> None:
        self.messages += 1
        self.sent[type(m).__name__] += 1
        wire = encode(Envelope(node.hlc_us, m))  # every message survives its wire form
        f = self.faults
        copies = 0 if self.rng.random() < f.drop else 1
        if copies and self.rng.random() < f.duplicate:
            copies = 2
        for _ in range(copies):
            self.at(self.now + self.rng.randint(*f.delay_ms), self._deliver(node.address, to,
                                                                             wire))

    def _deliver(self, sender: str, to: str, wire: bytes) -> Callable[[], None]:
        def deliver() -> None:
            node = self.nodes.get(to)
            if node is None or not node.up:  # down, or not a node (a test's rival)
                return
            env = decode(wire)
            node.hlc_us = max(node.hlc_us, env.sender_ts_us)
            m: Message = env.message
            assert node.core is not None
            self._effects(node, node.core.on_message(sender, m, self.now,  # type: ignore[arg-type]
                                                     node.clock(self.now)))
        return deliver

    # ------------------------------------------------------------------ clients

    def submit(self, client: int, addr: str, key: bytes, kind: str, expected: int | None,
               new: int, **options: Any) -> int:
        node = self.nodes[addr]
        self._next_op += 1
        op_id = self._next_op
        op = Op(client, key, kind, expected, new, self.now, addr)
        self.ops[op_id] = op
        if not node.up:
            self._finish(op_id, None)
            return op_id
        decide = read_decide if kind == "read" else cas_decide(key, expected, new)
        alive = frozenset(a for a, n in self.nodes.items() if n.up)
        req = CasRequest(TABLE, key, decide, self.participants, self.addresses, alive,
                         commit_required=self.commit_required, read_only=kind == "read",
                         **options)
        assert node.core is not None
        self._effects(node, node.core.cas(op_id, req, self.now, node.clock(self.now)))
        return op_id

    def _finish(self, op_id: int, outcome: Outcome | None) -> None:
        op = self.ops.pop(op_id, None)
        if op is None:
            return
        if outcome is not None:
            self.outcomes[op_id] = outcome
        ok = outcome is not None and outcome.error is None
        base = {"key": op.key, "start": op.start, "end": self.now}
        if op.kind == "read":
            if ok:
                assert outcome is not None
                self.history.append({**base, "op": "read", "value": outcome.result, "ok": True})
        elif ok and outcome is not None and outcome.applied:
            self.applied.append(op)
            self.history.append({**base, "op": "write", "value": op.new, "ok": True})
        elif ok and outcome is not None:
            self.history.append({**base, "op": "read", "value": outcome.result, "ok": True})
        else:
            self.history.append({**base, "op": "write", "value": op.new, "ok": False})
        if self.on_done is not None:
            self.on_done(op, outcome)

    # ------------------------------------------------------------------ checks

    def check(self) -> tuple[Linearizability, list[str]]:
        for op_id in list(self.ops):
            self._finish(op_id, None)  # still in flight at the end: outcome unknown
        return linearizable(self.history), forks(self.applied, self.history)


def forks(applied: list[Op], history: list[dict[str, Any]]) -> list[str]:
    """What a CAS register forbids and a register checker does not see (module docstring)."""
    problems = []
    written = {(h["key"], h["value"]) for h in history if h["op"] == "write"}
    seen: dict[tuple[bytes, int | None], Op] = {}
    for op in applied:
        k = (op.key, op.expected)
        if k in seen:
            problems.append(f"key {op.key!r}: CAS {op.expected}->{op.new} and "
                            f"{seen[k].expected}->{seen[k].new} both applied (lost update)")
        seen[k] = op
        if op.expected is not None and (op.key, op.expected) not in written:
            problems.append(f"key {op.key!r}: CAS expected {op.expected}, never written")
    return problems


def cas_workload(c: Cluster, clients: int, keys: int, duration_ms: int,
                 read_share: float = 0.2) -> None:
    """Clients loop: on a random key and a random coordinator, a CAS from the value they last
    saw (a failed CAS tells the current one) or a SERIAL read; values written are unique."""
    rng = c.rng
    known: dict[tuple[int, bytes], int | None] = {}
    counter = [0]
    key_list = [b"k%d" % i for i in range(keys)]

    def issue(client: int) -> None:
        if c.now >= duration_ms:
            return
        key = rng.choice(key_list)
        addr = rng.choice(c.addresses)
        counter[0] += 1
        kind = "read" if rng.random() < read_share else "cas"
        c.submit(client, addr, key, kind, known.get((client, key)), counter[0])

    def done(op: Op, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.error is None:
            known[(op.client, op.key)] = op.new if outcome.applied else outcome.result  # type: ignore[assignment]
        c.at(c.now + rng.randint(0, 5), lambda: issue(op.client))

    c.on_done = done
    for client in range(clients):
        c.at(rng.randint(0, 5), lambda client=client: issue(client))  # type: ignore[misc]
