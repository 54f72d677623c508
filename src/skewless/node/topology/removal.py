"""Removenode: re-replicating a dead node's ranges, decided by the cluster metadata log.

Theory of operation
-------------------
The node the operator asks (the coordinator) proposes REMOVE START for the dead node
(``topology.decide``); the log refuses it while another change is in progress, and without a
live majority it is refused at once (Unavailable). Once the START is in the log the coordinator
tells every node (``RemoveNode``): the dead node leaves the future ring; every node gaining one
of its ranges streams it from a surviving replica (``topology.changes``) and reports
``StreamDone`` to the coordinator. When every gainer has, the coordinator proposes REMOVE
FINISH, and once that is in the log makes the removal final everywhere (``RemoveNode`` final:
out of every ring, durably). ``status`` is ``nodetool removenode status`` in Cassandra's words.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from skewless.errors import CqlError, InvalidRequest
from skewless.node.messages import RemoveNode
from skewless.node.topology.decide import busy

if TYPE_CHECKING:
    from skewless.node.topology.changes import Topology

log = logging.getLogger("skewless.topology")


class Removals:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.node = topology.node
        self.removal: tuple[str, str] | None = None  # (address, change id) we coordinate
        self.started = False  # our REMOVE START is in the log (the rings know)
        self.coordinator: dict[str, str] = {}  # address being removed -> its coordinator

    def removenode(self, host_id: str) -> None:
        """Remove a dead node by host id (``nodetool removenode``); raises when refused."""
        node, d = self.node, self.topology.decide
        if host_id == str(node.host_id):
            raise InvalidRequest("Cannot remove self")
        target = [a for a, p in node.membership.peers.items() if p.state.host_id == host_id]
        if not target or target[0] in node.membership.removed:
            raise InvalidRequest("Host ID not found.")
        address = target[0]
        if node.membership.is_alive(address):
            raise InvalidRequest(f"Node /{address} is alive and owns this ID. Use "
                                 "decommission command to remove it from the ring")
        cur = d.in_progress()
        if cur is not None:
            raise InvalidRequest(busy("removenode", cur))
        if d.inflight is not None or self.removal is not None:
            raise InvalidRequest("A topology change of this node is being decided: wait until "
                                 "it completes (nodetool netstats), then retry")
        d.refused = ""
        self.removal, self.started = (address, f"remove {address}"), False
        log.info("removenode %s (%s): proposing REMOVE START", host_id, address)
        refused = d.operator_refused("removenode")

        def on_error(e: CqlError) -> None:
            if not self.started:
                self.removal = None
            refused(e)
        tokens = node.membership.peers[address].state.tokens
        error = d.propose("REMOVE", "START", address, host_id, tokens, on_error)
        if error is not None:
            raise error

    def tick(self) -> None:
        if self.removal is None:
            return
        d = self.topology.decide
        address, change = self.removal
        cur = d.in_progress()
        if not self.started:
            if cur is not None and (cur.op, cur.address) == ("REMOVE", address):
                self.started = True
                log.info("removenode %s: REMOVE START is in the log, re-replicating its ranges",
                         address)
                self._broadcast(RemoveNode(address, cur.host_id, self.node.address, False))
            return
        if cur is None and d.state.last_finished == ("REMOVE", address):
            self.removal, self.started = None, False
            self._broadcast(RemoveNode(address, "", self.node.address, True))
            return
        expected = self._gainers_without(address)
        if expected <= self.topology.done_from.get(change, set()) and \
                d.ready(self.node.clock.monotonic_ns()):
            d.propose("REMOVE", "FINISH", address, "", (), lambda e: None)

    def _broadcast(self, m: RemoveNode) -> None:
        for a in self.node.membership.gossip_targets():
            if a != m.address:
                self.node.send(a, m)
        self.on_remove_node(self.node.address, m)

    def on_remove_node(self, sender: str, m: RemoveNode) -> None:
        mem = self.node.membership
        self.coordinator[m.address] = m.coordinator
        if m.final:
            mem.removing.discard(m.address)
            mem.removed.add(m.address)
            self.node.storage.put_meta("removed", ",".join(sorted(mem.removed)).encode())
            self.node.ready.must_sync = True
            log.info("removenode: %s is removed", m.address)
        else:
            mem.removing.add(m.address)
        mem.invalidate()

    def _gainers_without(self, address: str) -> set[str]:
        return {a for a in self.topology.gainers() if a != address}

    def status(self) -> str:
        """``nodetool removenode status``, in Cassandra's words."""
        if self.removal is None:
            return "RemovalStatus: No removals in process."
        address, change = self.removal
        if not self.started:
            return (f"RemovalStatus: Removing node /{address}. Waiting for the cluster "
                    "metadata log to start the removal.")
        waiting = sorted(self._gainers_without(address)
                         - self.topology.done_from.get(change, set()))
        return (f"RemovalStatus: Removing node /{address}. Waiting for replication "
                f"confirmation from [{', '.join('/' + a for a in waiting)}].")

    def load_removed(self) -> None:
        raw = self.node.storage.get_meta("removed")
        if raw:
            self.node.membership.removed.update(raw.decode().split(","))
