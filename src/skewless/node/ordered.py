"""Ordered writes (a table option): stamp above what the replicas already hold.

Theory of operation
-------------------
With ``ordered_writes = true`` on a table, a coordinator about to stamp a write (one that
carries no client timestamp) first asks the partition's replicas for the newest timestamp they
hold in it (``FloorQuery``/``FloorReply``), waits for a quorum of them (or the write's own
consistency level, if larger), and stamps above the largest answer. Any write acknowledged at
QUORUM before this one started is on at least one replica of that quorum, so this write is
stamped above it and supersedes it, whatever any clock says: the price is one round trip before
the write, instead of the four of a Paxos lightweight transaction.

The floor covers the whole partition (a superset of the cells being written: simpler, and
never weaker). Writes with a client timestamp are not reordered: the client chose.

Pure: the node sends and receives; this module keeps the per-request state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import Overloaded, Unavailable
from skewless.node import consistency as cl_mod
from skewless.node.clock.stamps import max_timestamp
from skewless.node.messages import FloorQuery, FloorReply
from skewless.node.placement import dc_factors
from skewless.schema import KeyspaceDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.ports import OrderedHost

FloorDone = Callable[[int | None, str], None]  # (newest timestamp seen, or None and why)


@dataclass
class FloorOp:
    """One partition's query: done once ``need`` replicas answered, or at the deadline."""

    targets: tuple[str, ...]
    need: int
    deadline_ns: int
    done: Callable[[int | None, str], None]
    answers: dict[str, int] = field(default_factory=dict)
    finished: bool = False

    def on_reply(self, sender: str, m: FloorReply) -> None:
        if self.finished or sender not in self.targets or m.error:
            return
        self.answers[sender] = m.max_ts_us
        if len(self.answers) >= self.need:
            self.finished = True
            self.done(max(self.answers.values()), "")

    def expire(self) -> None:
        if not self.finished:
            self.finished = True
            self.done(None, f"ordered write: only {len(self.answers)} of the {self.need} "
                            f"replicas needed answered the timestamp query in time")


@dataclass
class FloorJoin:
    """The floor of a whole write: the largest over its partitions."""

    parts: int
    done: FloorDone
    floor_us: int = 0
    error: str = ""

    def part_done(self, ts: int | None, why: str) -> None:
        assert self.parts > 0
        if ts is None:
            self.error = self.error or why
        else:
            self.floor_us = max(self.floor_us, ts)
        self.parts -= 1
        if self.parts == 0:
            self.done(None if self.error else self.floor_us, self.error)


def floor_need(replicas: Sequence[str], block_for: int) -> int:
    """Answers needed: a quorum of the replicas, or the write's own requirement if larger."""
    return max(len(replicas) // 2 + 1, block_for)


class OrderedWrites:
    """The node's side of ordered writes: coordinator queries and replica answers."""

    def __init__(self, node: OrderedHost) -> None:
        self.node = node
        self.ops: dict[int, FloorOp] = {}

    def floor(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int,
              done: FloorDone) -> None:
        """The newest timestamp a quorum of each partition's replicas holds.

        Raises Unavailable (before anything is sent) when too few replicas are alive."""
        node = self.node
        if len(self.ops) >= limits.coordinator_requests_inflight_max:
            raise Overloaded("Too many ordered-write timestamp queries in flight")
        factors = dc_factors(ks.replication_map(), node.config.dc)
        block_for = cl_mod.requirement(cl, factors, node.config.dc, write=True).block_for
        plans = []
        for u in updates:
            replicas = node.replicas_for(ks, u.key)
            alive = tuple(a for a in replicas if node.membership.is_alive(a))
            need = floor_need(replicas, block_for)
            if len(alive) < need:
                raise Unavailable("Cannot achieve consistency level QUORUM for an ordered write",
                                  cl_mod.QUORUM, need, len(alive))
            plans.append((u, alive, need))
        join = FloorJoin(len(plans), done)
        deadline_ns = node.clock.monotonic_ns() + limits.write_timeout_ms * 1_000_000
        for u, alive, need in plans:
            req_id = node.new_req_id()
            op = FloorOp(alive, need, deadline_ns, join.part_done)
            self.ops[req_id] = op
            for a in alive:
                if a == node.address:
                    op.on_reply(a, self._answer(FloorQuery(req_id, u.table, u.key)))
                else:
                    node.send(a, FloorQuery(req_id, u.table, u.key))
            if op.finished:
                del self.ops[req_id]

    def _answer(self, q: FloorQuery) -> FloorReply:
        node = self.node
        if node.schema.table_by_key(q.table) is None:
            return FloorReply(q.req_id, 0, f"unknown table {q.table}")
        data = node.storage.read(q.table, q.key, node.physical_us() // 1_000_000)
        return FloorReply(q.req_id, max_timestamp(data), "")

    def on_message(self, sender: str, m: FloorQuery | FloorReply) -> None:
        if isinstance(m, FloorQuery):
            self.node.send(sender, self._answer(m))
            return
        op = self.ops.get(m.req_id)
        if op is not None:
            op.on_reply(sender, m)
            if op.finished:
                del self.ops[m.req_id]

    def tick(self, now_ns: int) -> None:
        for req_id in [r for r, op in self.ops.items() if op.deadline_ns <= now_ns]:
            self.ops.pop(req_id).expire()
