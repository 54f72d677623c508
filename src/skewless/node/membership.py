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
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from skewless.node.messages import Heartbeat
from skewless.node.phi import ArrivalWindow
from skewless.node.placement import Endpoint, Ring


@dataclass(frozen=True, slots=True)
class Peer:
    state: Heartbeat
    last_heard_ns: int
    up: bool
    down_since_ns: int  # when it was last convicted (0 if never)


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

    def update_local(self, local: Heartbeat) -> None:
        if local.tokens != self.local.tokens:
            self._ring = None
        self.local = local

    def on_heartbeat(self, hb: Heartbeat, now_ns: int) -> list[Change]:
        assert hb.address != self.local.address
        old = self.peers.get(hb.address)
        changes: list[Change] = []
        if self.shut_down.get(hb.address) == hb.generation:
            return []  # sent before its Shutdown, or while stopping: it is down until restarted
        if old is None:
            changes.append(Change(hb.address, "NEW_NODE"))
            self._ring = None
        elif hb.generation < old.state.generation or (
            hb.generation == old.state.generation and hb.beat <= old.state.beat
        ):
            return []  # stale or duplicated
        else:
            if hb.generation > old.state.generation:
                changes.append(Change(hb.address, "RESTARTED"))
                self.windows.pop(hb.address, None)
            if hb.tokens != old.state.tokens or hb.dc != old.state.dc or hb.rack != old.state.rack:
                self._ring = None
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

    def ring(self) -> Ring:
        if self._ring is None:
            states = self.states()
            self._ring = Ring(
                {s.address: s.tokens for s in states},
                [Endpoint(s.address, s.dc, s.rack) for s in states],
            )
        return self._ring
