"""Token ring and replica placement: Cassandra's SimpleStrategy and NetworkTopologyStrategy.

Theory of operation
-------------------
Each node owns ``num_tokens`` tokens (vnodes) on the Murmur3 ring, [-2**63, 2**63). A partition
with token ``t`` is replicated on the node owning the first ring token >= ``t`` (wrapping), and
then on the following distinct nodes walking clockwise:

* SimpleStrategy takes the first ``replication_factor`` distinct nodes;
* NetworkTopologyStrategy does the walk per datacenter, taking ``rf[dc]`` distinct nodes of that
  datacenter, preferring racks not yet used (as Cassandra does), then filling from skipped nodes.

The ring is a value built from (token, address) pairs; it never reads the network or a clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from skewless.errors import ConfigurationException

SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"
LOCAL = "org.apache.cassandra.locator.LocalStrategy"
TOKEN_MIN = -(2**63)
TOKEN_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    dc: str
    rack: str


class Ring:
    def __init__(self, tokens: Mapping[str, Sequence[int]], endpoints: Sequence[Endpoint]) -> None:
        pairs = sorted((t, a) for a, ts in tokens.items() for t in ts)
        self.tokens = [t for t, _ in pairs]
        self.owners = [a for _, a in pairs]
        self.endpoints = {e.address: e for e in endpoints}
        assert all(a in self.endpoints for a in self.owners)
        assert len(set(self.tokens)) == len(self.tokens), "token collision"

    def _walk(self, token: int) -> list[str]:
        """Owners clockwise from the owner of ``token``, each address once."""
        if not self.tokens:
            return []
        start = bisect.bisect_left(self.tokens, token) % len(self.tokens)
        seen: list[str] = []
        n = len(self.tokens)
        for i in range(n):
            a = self.owners[(start + i) % n]
            if a not in seen:
                seen.append(a)
                if len(seen) == len(self.endpoints):
                    break
        return seen

    def replicas(self, token: int, replication: Mapping[str, str]) -> list[str]:
        cls = replication.get("class", SIMPLE)
        walk = self._walk(token)
        if cls == SIMPLE:
            return walk[: replication_factor(replication)]
        if cls == NTS:
            return self._nts(walk, replication)
        if cls == LOCAL:
            return walk[:1]
        raise ConfigurationException(f"Unable to find replication strategy class '{cls}'")

    def _nts(self, walk: list[str], replication: Mapping[str, str]) -> list[str]:
        out: list[str] = []
        for dc, rf_text in sorted(replication.items()):
            if dc in ("class", "replication_factor"):
                continue
            rf = int(rf_text)
            in_dc = [a for a in walk if self.endpoints[a].dc == dc]
            chosen: list[str] = []
            racks: set[str] = set()
            skipped: list[str] = []
            for a in in_dc:
                if len(chosen) == rf:
                    break
                rack = self.endpoints[a].rack
                if rack in racks:
                    skipped.append(a)
                    continue
                racks.add(rack)
                chosen.append(a)
            chosen.extend(skipped[: rf - len(chosen)])
            out.extend(chosen)
        return out

    def primary_ownership(self) -> dict[str, float]:
        """The fraction of the ring each address owns as primary replica."""
        own = dict.fromkeys(self.endpoints, 0.0)
        n = len(self.tokens)
        for i in range(n):
            prev = self.tokens[i - 1] if i > 0 else self.tokens[-1] - 2**64
            own[self.owners[i]] += (self.tokens[i] - prev) / 2**64
        return own


def replication_factor(replication: Mapping[str, str]) -> int:
    """The total number of replicas a keyspace's replication map asks for."""
    cls = replication.get("class", SIMPLE)
    if cls == SIMPLE:
        return int(replication.get("replication_factor", "1"))
    if cls == LOCAL:
        return 1
    return sum(int(v) for k, v in replication.items() if k not in ("class", "replication_factor"))


def dc_factors(replication: Mapping[str, str], local_dc: str) -> dict[str, int]:
    """Replicas per datacenter (SimpleStrategy counts as all in the local one)."""
    cls = replication.get("class", SIMPLE)
    if cls == NTS:
        skip = ("class", "replication_factor")
        return {k: int(v) for k, v in replication.items() if k not in skip}
    return {local_dc: replication_factor(replication)}


def random_tokens(rng_bits: Sequence[int]) -> tuple[int, ...]:
    """Tokens from random 64-bit draws (the caller's seeded random source)."""
    return tuple(sorted(b - 2**63 for b in rng_bits))
