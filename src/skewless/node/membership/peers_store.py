"""Peers kept on disk, as Cassandra's ``system.peers``: a restarted node knows every node it knew.

Theory of operation
-------------------
Gossip state lives in memory. Without a copy on disk, a node restarted after a peer died no
longer knows that peer: not its tokens (its ring is short of a replica, a QUORUM or ALL read
counts the wrong nodes), not that it exists (its replacement is refused as unknown). When every
live node has restarted since the death, the whole cluster forgets it (found by the lab swarm,
seed 126 of the topology profile).

So each peer's last state that matters to the ring (address, host id, datacenter, rack, tokens,
status, the node it replaces) is kept in one storage meta value, rewritten only when one of
those changes (a new node, a join, a leave), and synced with the next Ready. At start the node
loads them as *down, never heard* peers (``Membership.add_dead``): in the rings, gossiped to,
failure-detected only once heard, as Cassandra marks the peers of ``system.peers`` down until
gossip says otherwise. A stored state is decoded defensively: an unreadable value is logged and
ignored (the node then learns its peers by gossip, as before).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgpack

from skewless.errors import RemoteProtocolError
from skewless.node.messages import Heartbeat, pack, unpack

if TYPE_CHECKING:
    from skewless.storage.engine import Storage

log = logging.getLogger("skewless.membership")
_KEY = "peers"


def _ring_facts(hb: Heartbeat) -> tuple[object, ...]:
    return (hb.host_id, hb.dc, hb.rack, hb.tokens, hb.status, hb.replacing)


class PeerStore:
    def __init__(self, storage: Storage, must_sync: Callable[[], None]) -> None:
        self.storage = storage
        self.must_sync = must_sync  # the next Ready syncs (metadata: in any commit-log mode)
        self.saved: dict[str, Heartbeat] = {}

    def load(self) -> list[Heartbeat]:
        raw = self.storage.get_meta(_KEY)
        if raw is None:
            return []
        try:
            items = msgpack.unpackb(raw, raw=False)
            states = [unpack(b) for b in items] if isinstance(items, list) else []
        except (ValueError, TypeError, RemoteProtocolError, msgpack.ExtraData) as e:
            log.error("the stored peer states are unreadable (%s): learning peers by gossip", e)
            return []
        self.saved = {hb.address: hb for hb in states if isinstance(hb, Heartbeat)}
        return list(self.saved.values())

    def note(self, hb: Heartbeat) -> None:
        """A peer's current state: stored if what the ring needs of it changed."""
        old = self.saved.get(hb.address)
        if old is not None and _ring_facts(old) == _ring_facts(hb):
            return
        self.saved[hb.address] = hb
        value = msgpack.packb([pack(s) for _, s in sorted(self.saved.items())],
                              use_bin_type=True)
        self.storage.put_meta(_KEY, value)
        self.must_sync()
