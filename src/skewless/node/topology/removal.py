"""Removenode: re-replicating a dead node's ranges, decided by the cluster metadata log.

Theory of operation
-------------------
The node the operator asks (the coordinator) proposes REMOVE START for the dead node
(``topology.decide``); the log refuses it while another change is in progress, and without a
live majority it is refused at once (Unavailable). Once the START is in the log the coordinator
tells every node (``RemoveNode``, again every ``stream_retry_ms`` to the gainers that have not
reported: a lost message or a restarted gainer; a gainer that no longer knows the dead node asks
the coordinator for its state): the dead node leaves the future ring; every node gaining one of
its ranges streams it from a surviving replica (``topology.changes``) and reports ``StreamDone``
to the coordinator. When every gainer has, the coordinator proposes REMOVE FINISH, and once that
is in the log makes the removal final everywhere (``RemoveNode`` final: out of every ring,
durably). ``status`` is ``nodetool removenode status`` in Cassandra's words.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import CqlError, InvalidRequest
from skewless.node.messages import RemoveNode, ReplaceQuery
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
        # address being removed -> its coordinator, and that node's gossip generation when it
        # told us (a coordinator that restarted since has forgotten the removal: not on disk)
        self.coordinator: dict[str, tuple[str, int]] = {}
        self.told_ns = 0  # when we last told the gainers (monotonic)
        self.orphan_ns: int | None = None  # when we first saw a REMOVE nobody coordinates

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
        self._out_by_the_log()
        if self.removal is None:
            self._adopt()
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
                self.told_ns = self.node.clock.monotonic_ns()
            return
        if cur is None and d.state.last_finished == ("REMOVE", address):
            self.removal, self.started = None, False
            self._broadcast(RemoveNode(address, "", self.node.address, True))
            return
        expected = self._gainers_without(address)
        done = self.topology.done_from.get(change, set())
        now_ns = self.node.clock.monotonic_ns()
        if expected <= done and d.ready(now_ns):
            d.propose("REMOVE", "FINISH", address, "", (), lambda e: None)
        elif now_ns - self.told_ns >= limits.stream_retry_ms * 1_000_000:
            # Told again until it completes: a RemoveNode lost, or a gainer restarted since
            # (``removing`` is not on disk), would otherwise never stream nor report.
            self.told_ns = now_ns
            m = RemoveNode(address, cur.host_id if cur is not None else "", self.node.address,
                           False)
            for a in sorted(expected - done - {self.node.address}):
                self.node.send(a, m)

    def _out_by_the_log(self) -> None:
        """A node the log took out of the cluster (a finished REMOVE, LEAVE or REPLACE) that we
        still know as a peer and do not count as removed: the final ``RemoveNode`` was lost
        (its coordinator crashed after the FINISH), or we were down then and loaded the node
        from disk (``peers_store``). The log's decision is final here too."""
        mem, me = self.node.membership, self.node.address
        cur = self.topology.decide.in_progress()
        for address in self.node.metadata.gone():
            if address in mem.peers and address not in mem.removed and address != me and \
                    (cur is None or cur.address != address) and not mem.is_alive(address):
                self.on_remove_node(me, RemoveNode(address, "", me, True))

    def _adopt(self) -> None:
        """Carry on a removal the log has in progress that no live node coordinates (its
        coordinator crashed, or restarted and forgot it: ``removal`` is not on disk), as
        Cassandra's ``removenode force`` from another node: the lowest live NORMAL node takes
        it over after ``stream_retry_ms`` (its START and FINISH are idempotent in the log)."""
        d, mem, me = self.topology.decide, self.node.membership, self.node.address
        cur = d.in_progress()
        known, generation = self.coordinator.get(cur.address, ("", 0)) if cur is not None \
            else ("", 0)
        if cur is None or cur.op != "REMOVE" or d.behind() or \
                (known and known != me and mem.is_alive(known)
                 and self._generation(known) == generation):
            self.orphan_ns = None
            return
        live = [a for a, p in mem.peers.items() if p.up and p.state.status == "NORMAL"]
        if self.topology.status != "NORMAL" or min(live, default=me) < me:
            return
        now_ns = self.node.clock.monotonic_ns()
        if self.orphan_ns is None:
            self.orphan_ns = now_ns
        elif now_ns - self.orphan_ns >= limits.stream_retry_ms * 1_000_000:
            log.info("removenode %s: in progress in the log with no live coordinator; "
                     "carrying it on", cur.address)
            self.orphan_ns, self.removal, self.started = None, (cur.address,
                                                                f"remove {cur.address}"), False

    def _generation(self, address: str) -> int:
        """The gossip generation we know of ``address`` (ours for this node; 0 unknown)."""
        mem = self.node.membership
        if address == self.node.address:
            return mem.local.generation
        peer = mem.peers.get(address)
        return 0 if peer is None else peer.state.generation

    def _broadcast(self, m: RemoveNode) -> None:
        for a in self.node.membership.gossip_targets():
            if a != m.address:
                self.node.send(a, m)
        self.on_remove_node(self.node.address, m)

    def on_remove_node(self, sender: str, m: RemoveNode) -> None:
        mem = self.node.membership
        self.coordinator[m.address] = (m.coordinator, self._generation(m.coordinator))
        if m.final:
            mem.removing.discard(m.address)
            mem.removed.add(m.address)
            self.node.storage.put_meta("removed", ",".join(sorted(mem.removed)).encode())
            log.info("removenode: %s is removed", m.address)
        else:
            mem.removing.add(m.address)
            if m.address not in mem.peers and sender != self.node.address:
                self.node.send(sender, ReplaceQuery(m.address))  # its tokens, to plan gains
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
