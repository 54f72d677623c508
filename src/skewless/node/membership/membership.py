"""Membership and failure detection, driven by heartbeats and ticks.

Theory of operation
-------------------
Every ``gossip_interval_ms`` a node sends a ``Heartbeat`` with its whole state (address, host id,
datacenter, rack, tokens, schema version, the addresses it knows) to every node it knows and to
its seeds. With the handful of nodes of a Skewless cluster, this full fan-out is gossip's
steady state reached in one round: each node hears every other node directly. Each new beat of
a peer is an arrival in its phi-accrual window (``node.phi``, Cassandra's detector); a peer is
*up* from its first beat (or its first beat after a conviction) until ``convict``, which
``node.swim`` calls once its phi is past ``phi_convict_threshold`` and no indirect probe got an
answer. A heartbeat with a newer generation is a restarted node (a fresh window, as Cassandra
``remove``s and re-``report``s it). Nothing here reads a clock: ``now_ns`` (monotonic) is passed
in.

Rings (``node.topology`` drives the states): ``ring`` is the natural ring, the nodes that serve
reads: NORMAL and LEAVING nodes, less a node a NORMAL node replaced and a node being removed
once its removal is final. ``future_ring`` is the ring once the change in flight is done:
NORMAL and JOINING nodes, less LEAVING and removed ones and a node whose replacement joins.
Writes go to both (the replicas the future ring adds are the pending ones). A heartbeat of
another cluster, or whose tokens collide with another node's, is refused (logged, ignored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from skewless.node.membership.phi import ArrivalWindow
from skewless.node.messages import Heartbeat
from skewless.node.placement import Endpoint, Ring

log = logging.getLogger("skewless.membership")
IN_NATURAL = ("NORMAL", "LEAVING")
IN_FUTURE = ("NORMAL", "JOINING")


@dataclass(frozen=True, slots=True)
class Peer:
    state: Heartbeat
    last_heard_ns: int
    up: bool
    down_since_ns: int  # when it was last convicted (0 if never)
    heard: bool = True  # False: known from disk or from a peer, not heard since we started


@dataclass(frozen=True, slots=True)
class Change:
    address: str
    kind: str  # NEW_NODE | UP | DOWN | RESTARTED
    down_for_ns: int = 0  # UP: how long the peer had been down


class Membership:
    def __init__(self, local: Heartbeat, seeds: tuple[str, ...]) -> None:
        self.local = local
        self.seeds = tuple(s for s in seeds if s != local.address)
        self.peers: dict[str, Peer] = {}
        self.windows: dict[str, ArrivalWindow] = {}  # heartbeat arrivals, per peer
        self.shut_down: dict[str, int] = {}  # peer -> generation it announced stopping
        self._ring: Ring | None = None
        self._future: Ring | None = None
        self._changing: bool | None = None
        self.removing: set[str] = set()  # removenode in flight: out of the future ring
        self.removed: set[str] = set()  # removenode done: out of every ring
        self.refused: dict[str, str] = {}  # address -> why its heartbeats are ignored

    def invalidate(self) -> None:
        self._ring = None
        self._future = None
        self._changing = None

    def update_local(self, local: Heartbeat) -> None:
        if (local.tokens, local.status) != (self.local.tokens, self.local.status):
            self.invalidate()
        self.local = local

    def _refusal(self, hb: Heartbeat) -> str:
        mine_name, theirs = self.local.cluster_name, hb.cluster_name
        if theirs and mine_name and theirs != mine_name:
            return (f"node {hb.address} belongs to cluster '{hb.cluster_name}', this node to "
                    f"'{self.local.cluster_name}': start it with cluster_name "
                    f"'{self.local.cluster_name}' or with the seeds of its own cluster")
        known = self.peers.get(hb.address)
        if known is not None and known.state.host_id != hb.host_id and \
                known.state.status != "LEFT" and hb.address not in self.removed:
            return (f"A node with address /{hb.address} already exists (host id "
                    f"{known.state.host_id}), cancelling join of host id {hb.host_id}: start "
                    "the new node on another address (with replace_address_first_boot="
                    f"{hb.address} to replace it), or removenode {known.state.host_id} first")
        mine = set(hb.tokens)
        for s in self.states():
            if s.address in (hb.address, hb.replacing) or s.status == "LEFT" or not mine:
                continue
            if s.address in self.removed or s.replacing == hb.address:
                continue
            if self.out_of_cluster(s.address):
                continue  # replaced by a NORMAL node: its tokens are its replacement's
            both = mine.intersection(s.tokens)
            if both:
                return (f"node {hb.address} claims token {min(both)} already owned by "
                        f"{s.address}: wipe its data directory and start it again to choose "
                        f"new tokens, or start it with replace_address_first_boot="
                        f"{s.address} if it replaces that dead node")
        return ""

    def on_heartbeat(self, hb: Heartbeat, now_ns: int) -> list[Change]:
        assert hb.address != self.local.address
        why = self._refusal(hb)
        if why:
            if self.refused.get(hb.address) != why:
                log.error("refusing gossip from %s: %s", hb.address, why)
            self.refused[hb.address] = why
            return []
        self.refused.pop(hb.address, None)
        old = self.peers.get(hb.address)
        if hb.address in self.removed and (old is None or old.state.host_id != hb.host_id):
            self.removed.discard(hb.address)  # a new node on a removed node's address
            self.invalidate()
        changes: list[Change] = []
        if self.shut_down.get(hb.address) == hb.generation:
            return []  # sent before its Shutdown, or while stopping: it is down until restarted
        if old is None:
            changes.append(Change(hb.address, "NEW_NODE"))
            self.invalidate()
        elif hb.generation < old.state.generation or (
            hb.generation == old.state.generation and hb.beat <= old.state.beat
        ):
            return []  # stale or duplicated
        else:
            if hb.generation > old.state.generation:
                changes.append(Change(hb.address, "RESTARTED"))
                self.windows.pop(hb.address, None)
            if (hb.tokens, hb.dc, hb.rack, hb.status, hb.replacing) != (
                    old.state.tokens, old.state.dc, old.state.rack, old.state.status,
                    old.state.replacing):
                self.invalidate()
            if not old.up:
                changes.append(Change(hb.address, "UP", now_ns - old.down_since_ns))
        down_since = old.down_since_ns if old is not None else 0
        self.peers[hb.address] = Peer(hb, now_ns, True, down_since)
        self.windows.setdefault(hb.address, ArrivalWindow()).add(now_ns)
        return changes

    def phi(self, address: str, now_ns: int) -> float:
        """The peer's phi now (Cassandra's scale, compared with ``phi_convict_threshold``)."""
        w = self.windows.get(address)
        return w.phi(now_ns) if w is not None else 0.0

    def suspects(self, now_ns: int, threshold: float) -> list[tuple[str, float]]:
        """Peers seen up whose phi is past ``threshold``, with their phi."""
        found = []
        for addr in sorted(self.peers):
            if self.peers[addr].up:
                phi = self.phi(addr, now_ns)
                if phi > threshold:
                    found.append((addr, phi))
        return found

    def convict(self, address: str, now_ns: int) -> Change | None:
        """Mark an up peer down (the failure detector's verdict)."""
        p = self.peers.get(address)
        if p is None or not p.up:
            return None
        self.peers[address] = replace(p, up=False, down_since_ns=now_ns)
        return Change(address, "DOWN")

    def on_shutdown(self, address: str, generation: int, now_ns: int) -> Change | None:
        """The peer announced it is stopping (this generation of it): down at once."""
        p = self.peers.get(address)
        if p is None or p.state.generation != generation:
            return None
        self.shut_down[address] = generation
        return self.convict(address, now_ns)

    def refute(self, address: str, now_ns: int) -> None:
        """The peer answered an indirect probe: count its silence from now."""
        w = self.windows.get(address)
        if w is not None:
            w.refute(now_ns)

    def is_alive(self, address: str) -> bool:
        if address == self.local.address:
            return True
        p = self.peers.get(address)
        return p is not None and p.up

    def down_for_ns(self, address: str, now_ns: int) -> int:
        p = self.peers.get(address)
        if p is None or p.up:
            return 0
        return now_ns - p.down_since_ns

    def gossip_targets(self) -> list[str]:
        known = set(self.peers) | set(self.seeds)
        for p in self.peers.values():
            known.update(p.state.known)
        known.discard(self.local.address)
        return sorted(known)

    def known_addresses(self) -> tuple[str, ...]:
        return tuple(sorted({self.local.address, *self.peers}))

    def states(self) -> list[Heartbeat]:
        return [self.local] + [self.peers[a].state for a in sorted(self.peers)]

    def dc_of(self, address: str) -> str:
        if address == self.local.address:
            return self.local.dc
        return self.peers[address].state.dc

    def status_of(self, address: str) -> str:
        if address == self.local.address:
            return self.local.status
        p = self.peers.get(address)
        return "" if p is None else p.state.status

    def add_dead(self, hb: Heartbeat, now_ns: int) -> None:
        """A down node we have not heard: from disk (``peers_store``), or learnt from a peer
        (the node this one replaces, a dead owner, a node being removed)."""
        if hb.address not in self.peers:
            self.peers[hb.address] = Peer(hb, now_ns, False, now_ns, heard=False)
            self.invalidate()

    def out_of_cluster(self, address: str) -> bool:
        """LEFT, removed, or replaced by a NORMAL node: no longer a peer."""
        if address in self.removed or self.status_of(address) == "LEFT":
            return True
        return any(s.replacing == address and s.status == "NORMAL" for s in self.states())

    def ring(self) -> Ring:
        """The natural ring: the nodes that serve reads."""
        if self._ring is None:
            states = self.states()
            replaced = {s.replacing for s in states if s.status == "NORMAL" and s.replacing}
            self._ring = _ring_of([
                s for s in states if s.status in IN_NATURAL and s.tokens
                and s.address not in self.removed and s.address not in replaced])
        return self._ring

    def future_ring(self) -> Ring:
        """The ring once the topology change in flight completes."""
        if self._future is None:
            states = self.states()
            replaced = {s.replacing for s in states if s.status in IN_FUTURE and s.replacing}
            gone = self.removed | self.removing | replaced
            self._future = _ring_of([
                s for s in states if s.status in IN_FUTURE and s.tokens
                and s.address not in gone])
        return self._future

    def future_ring_with(self, joiner: Heartbeat) -> Ring:
        """The future ring if ``joiner`` (a new node with its chosen tokens) were joining."""
        ring = self.future_ring()
        states = [s for s in self.states() if s.address in ring.owners
                  and s.address != joiner.address]
        return _ring_of(states + [joiner])

    def changing(self) -> bool:
        """A topology change is in flight (the future ring differs from the natural one)."""
        if self._changing is None:
            now, then = self.ring(), self.future_ring()
            self._changing = now.tokens != then.tokens or now.owners != then.owners
        return self._changing


def _ring_of(states: list[Heartbeat]) -> Ring:
    return Ring({s.address: s.tokens for s in states},
                [Endpoint(s.address, s.dc, s.rack) for s in states])
