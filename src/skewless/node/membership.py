"""Membership and failure detection, driven by heartbeats and ticks.

Theory of operation
-------------------
Every ``gossip_interval_ms`` a node sends a ``Heartbeat`` with its whole state (address, host id,
datacenter, rack, tokens, schema version, the addresses it knows) to every node it knows and to
its seeds. With the handful of nodes of a Skewless cluster, this full fan-out is gossip's
steady state reached in one round: each node hears every other node directly, so a node is *up*
exactly when we heard it within ``failure_detector_convict_ms`` (a fixed-timeout detector,
roughly Cassandra's phi 8 at one-second heartbeats). A heartbeat with a newer generation is a
restarted node. Nothing here reads a clock: ``now_ns`` (monotonic) is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from skewless import limits
from skewless.node.messages import Heartbeat
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


class Membership:
    def __init__(self, local: Heartbeat, seeds: tuple[str, ...]) -> None:
        self.local = local
        self.seeds = tuple(s for s in seeds if s != local.address)
        self.peers: dict[str, Peer] = {}
        self._ring: Ring | None = None

    def update_local(self, local: Heartbeat) -> None:
        if local.tokens != self.local.tokens:
            self._ring = None
        self.local = local

    def on_heartbeat(self, hb: Heartbeat, now_ns: int) -> list[Change]:
        assert hb.address != self.local.address
        old = self.peers.get(hb.address)
        changes: list[Change] = []
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
            if hb.tokens != old.state.tokens or hb.dc != old.state.dc or hb.rack != old.state.rack:
                self._ring = None
            if not old.up:
                changes.append(Change(hb.address, "UP"))
        down_since = old.down_since_ns if old is not None else 0
        self.peers[hb.address] = Peer(hb, now_ns, True, down_since)
        return changes

    def tick(self, now_ns: int) -> list[Change]:
        convict_ns = limits.failure_detector_convict_ms * 1_000_000
        changes = []
        for addr, p in self.peers.items():
            if p.up and now_ns - p.last_heard_ns > convict_ns:
                self.peers[addr] = replace(p, up=False, down_since_ns=now_ns)
                changes.append(Change(addr, "DOWN"))
        return changes

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
