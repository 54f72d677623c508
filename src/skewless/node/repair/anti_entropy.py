"""Background anti-entropy (Riak's active anti-entropy, in Cassandra's repair terms): with the
node option ``repair_background_bytes_per_s`` above 0, the node keeps repairing its primary
ranges of every replicated keyspace, one range at a time, round robin, for ever.

Budget: after each range's repair the node waits until the bytes that repair moved (Merkle
trees, leaves fetched, differences streamed: ``RepairStatus``) divided by the budget have
passed, so that on average it moves at most ``repair_background_bytes_per_s``; a repair that
moved nothing still waits ``limits.repair_background_idle_ms``. Each range is a repair command
of ``node.repair`` like any other (its status is queryable, its progress logged), so the
repaired-at records that ``only_purge_repaired_tombstones`` reads advance by themselves.

Pure: driven by ``tick``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skewless import limits
from skewless.node.placement import replication_factor
from skewless.node.repair.ranges import node_ranges
from skewless.node.repair.status import RUNNING

if TYPE_CHECKING:
    from skewless.node.node import Node

SYSTEM_KEYSPACES = frozenset({"system", "system_schema", "system_auth", "system_distributed",
                              "system_traces", "system_views", "system_virtual_schema"})


class AntiEntropy:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.current: int | None = None  # the repair command running now
        self.next_ns = 0
        self.position = 0  # round robin over (keyspace, range)
        self.commands = 0  # background repair commands started

    def _work(self) -> list[tuple[str, int, int]]:
        """(keyspace, start, end) of every primary range of every replicated keyspace."""
        node = self.node
        ring = node.membership.ring()
        out = []
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            replication = ks.replication_map()
            if ks.name in SYSTEM_KEYSPACES or replication_factor(replication) <= 1:
                continue
            for r in node_ranges(ring, replication, node.address, primary=True):
                out.append((ks.name, r.start, r.end))
        return out

    def tick(self, now_ns: int) -> None:
        rate = self.node.config.repair_background_bytes_per_s
        if rate <= 0:
            return
        service = self.node.active_repair
        if self.current is not None:
            status = service.status(self.current)
            if status is not None and status.state == RUNNING:
                return
            moved = 0 if status is None else (
                status.tree_bytes + status.bytes_fetched + status.bytes_streamed)
            wait_ns = max(moved * 1_000_000_000 // rate,
                          limits.repair_background_idle_ms * 1_000_000)
            self.next_ns = now_ns + wait_ns
            self.current = None
        if now_ns < self.next_ns:
            return
        work = self._work()
        if not work:
            self.next_ns = now_ns + limits.repair_background_idle_ms * 1_000_000
            return
        keyspace, start, end = work[self.position % len(work)]
        self.position += 1
        whole_ring = start == end  # one token: the primary range is the ring
        self.current = service.repair(keyspace, primary_range=True,
                                      start_token=None if whole_ring else start,
                                      end_token=None if whole_ring else end)
        self.commands += 1
