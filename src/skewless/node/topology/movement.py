"""Consistent range movement: whose data a change may copy, and what to do when a source dies.

Theory of operation
-------------------
Cassandra's ``consistent_range_movement`` (default on) streams a range a node gains only from
the replica giving it up, the one whose data is known complete for it; a copy from another
replica might miss writes that replica missed. This module applies that rule to the plans and
streams of ``topology.changes``; it only reads the node's rings and failure detector.

* A new node must know the whole ring, dead nodes included, before it chooses tokens and plans:
  ``learn_unheard`` asks a live peer (``ReplaceQuery``) for the state of every node its peers
  know and it never heard, and ``on_info`` adds a dead one to the membership as down.
* ``blocked`` (before a new node proposes its JOIN START, with the ring its tokens would make,
  and again before it plans its streams): with the rule on, a gained range whose giving
  replica is down holds the join back with Cassandra's message ("A node required to move the
  data consistently is down ..."); with it off, or for removenode and replace (whose giver is
  the dead node), any live replica serves, and a range with no live replica at all holds the
  join back too (Cassandra's "unable to find sufficient sources"). Nothing is planned or
  streamed while held back: the join waits, re-checking each tick, and resumes when the source
  is back, so no range is ever half-owned.
* ``fail_over`` (while streaming): a task whose source is down and silent for
  ``stream_source_silence_ms`` moves, resume point kept, to another live replica holding the
  whole range (``pending.holders``) when the rule is off; with it on (or with no other holder)
  the change is paused, the reason logged and shown by ``nodetool netstats``, until the source
  is back (``Inbound.requests`` asks no down source).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from skewless import limits
from skewless.node.messages import Heartbeat, ReplaceInfo, ReplaceQuery, unpack
from skewless.node.placement import Ring
from skewless.node.topology.pending import gains, holders, required_down
from skewless.node.topology.streaming import Inbound, Task

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.topology")


def consistency_down(address: str) -> str:
    return (f"A node required to move the data consistently is down (/{address}). If you wish "
            "to move the data from a potentially inconsistent replica, restart the node with "
            "consistent_range_movement=false")


class Movement:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.paused = ""  # why the change this node receives is held back ('' : it is not)
        self.held = ""  # why the bootstrap cannot be planned yet (``blocked``)
        self._asked_ns = -(10**18)

    def pause(self, why: str) -> None:
        if why and why != self.paused:
            log.warning("topology change paused: %s", why)
        elif not why and self.paused:
            log.info("topology change resumed (was: %s)", self.paused)
        self.paused = why

    # ------------------------------------------------------------------ a new node's ring

    def learn_unheard(self, now_ns: int, skip: str = "") -> None:
        """Ask a live peer about nodes our peers know and we never heard (dead ones)."""
        node = self.node
        mem = node.membership
        known = {a for p in mem.peers.values() for a in p.state.known}
        unheard = sorted(a for a in known if a not in mem.peers and a not in (node.address, skip))
        live = sorted(a for a, p in mem.peers.items() if p.up)
        if not unheard or not live or \
                now_ns - self._asked_ns < limits.gossip_interval_ms * 1_000_000:
            return
        self._asked_ns = now_ns
        for i, a in enumerate(unheard):
            node.send(live[i % len(live)], ReplaceQuery(a))

    def on_info(self, m: ReplaceInfo) -> None:
        """A peer's answer about a node we never heard: a dead one joins our ring as down."""
        mem = self.node.membership
        if not m.known or m.alive or m.address in mem.peers:
            return
        hb = unpack(m.state)
        assert isinstance(hb, Heartbeat) and hb.address == m.address
        log.info("learnt of down node %s (%s, %d tokens) from a peer", hb.address, hb.status,
                 len(hb.tokens))
        mem.add_dead(hb, self.node.clock.monotonic_ns())

    # ------------------------------------------------------------------ planning

    def blocked(self, strict: bool, removed: str = "", future: Ring | None = None) -> str:
        """Why a bootstrap cannot stream now ('' : it can); ``future``: the ring it would make
        (before its START: a join that cannot stream does not hold the log's one change)."""
        node = self.node
        m = node.membership
        natural = m.ring()
        future = future if future is not None else m.future_ring()
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            if not any(t.keyspace == ks.name for t in node.schema.tables):
                continue
            repl = ks.replication_map()
            if strict:
                down = required_down(natural, future, repl, node.address, m.is_alive)
                if down:
                    return consistency_down(down[0][2])
            _, unsourced = gains(natural, future, repl, node.address,
                                 lambda a: m.is_alive(a) and a != removed, strict)
            if unsourced:
                start, end = unsourced[0]
                return (f"unable to find sufficient sources for streaming range ({start},{end}] "
                        f"in keyspace {ks.name}: waiting for a replica to come back")
        return ""

    # ------------------------------------------------------------------ streaming

    def fail_over(self, inbounds: list[Inbound], now_ns: int) -> bool:
        """Move or pause the tasks of dead sources; True when a plan changed (persist it)."""
        node = self.node
        m = node.membership
        moved = False
        why = ""
        for inbound in inbounds:
            for t in inbound.stalled(now_ns, m.is_alive):
                other = "" if node.config.consistent_range_movement else self._other(t)
                if not other:
                    why = why or (consistency_down(t.source)
                                  if node.config.consistent_range_movement else
                                  f"stream source /{t.source} is down and no other live "
                                  f"replica holds ({t.start},{t.end}]: waiting for it")
                    continue
                log.warning("%s: source %s of (%d, %d] of %s is down and silent; the rest "
                            "from %s", inbound.change, t.source, t.start, t.end, t.table, other)
                t.source, t.req_id, t.heard_ns = other, 0, now_ns
                moved = True
        self.pause(self.held or why)
        return moved

    def _other(self, t: Task) -> str:
        """A live replica other than the task's source holding the whole range."""
        node = self.node
        m = node.membership
        table = node.table_by_key(t.table)
        ks = node.schema.keyspace(table.keyspace) if table is not None else None
        if ks is None:
            return ""
        for a in holders(m.ring(), t.start, t.end, ks.replication_map()):
            if a not in (t.source, node.address) and m.is_alive(a):
                return a
        return ""
