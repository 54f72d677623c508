"""Consistency levels: how many acknowledgements, from which datacenters, a request needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from skewless.errors import InvalidRequest

ANY, ONE, TWO, THREE, QUORUM, ALL = 0, 1, 2, 3, 4, 5
LOCAL_QUORUM, EACH_QUORUM, SERIAL, LOCAL_SERIAL, LOCAL_ONE = 6, 7, 8, 9, 10
NAMES = {
    ANY: "ANY", ONE: "ONE", TWO: "TWO", THREE: "THREE", QUORUM: "QUORUM", ALL: "ALL",
    LOCAL_QUORUM: "LOCAL_QUORUM", EACH_QUORUM: "EACH_QUORUM", SERIAL: "SERIAL",
    LOCAL_SERIAL: "LOCAL_SERIAL", LOCAL_ONE: "LOCAL_ONE",
}


def named(name: str) -> int:
    """The level called ``name`` (any case), as cassandra.yaml and the lab's options spell it."""
    for code, n in NAMES.items():
        if n == name.upper():
            return code
    raise ValueError(f"unknown consistency level {name!r}")


@dataclass(frozen=True, slots=True)
class Requirement:
    """Acks needed: ``total`` from any datacenter, plus ``per_dc[dc]`` from each listed one."""

    total: int
    per_dc: Mapping[str, int] = field(default_factory=dict)

    @property
    def block_for(self) -> int:
        return self.total + sum(self.per_dc.values())

    def satisfied(self, responders: Iterable[str], dc_of: Mapping[str, str]) -> bool:
        got = list(responders)
        if len(got) < self.total:
            return False
        for dc, n in self.per_dc.items():
            if sum(1 for a in got if dc_of[a] == dc) < n:
                return False
        return True


def requirement(cl: int, factors: Mapping[str, int], local_dc: str, write: bool) -> Requirement:
    """What ``cl`` needs given replicas per datacenter (``factors``)."""
    rf = sum(factors.values())
    if cl == ANY:
        if not write:
            raise InvalidRequest("ANY ConsistencyLevel is only supported for writes")
        return Requirement(1)
    if cl in (ONE, TWO, THREE):
        return Requirement(cl)
    if cl in (QUORUM, SERIAL):
        return Requirement(rf // 2 + 1)
    if cl == ALL:
        return Requirement(rf)
    if cl in (LOCAL_ONE, LOCAL_QUORUM, LOCAL_SERIAL):
        local = factors.get(local_dc, 0)
        n = 1 if cl == LOCAL_ONE else local // 2 + 1
        return Requirement(0, {local_dc: n})
    if cl == EACH_QUORUM:
        if not write:
            raise InvalidRequest("EACH_QUORUM ConsistencyLevel is only supported for writes")
        return Requirement(0, {dc: n // 2 + 1 for dc, n in factors.items() if n > 0})
    raise InvalidRequest(f"Unknown consistency level {cl}")


def with_pending(need: Requirement, pending: Iterable[str], dc_of: Mapping[str, str]
                 ) -> Requirement:
    """Cassandra's blockFor with pending replicas (a node joining or gaining a leaving node's
    range): one more acknowledgement per pending replica, in its datacenter for the local and
    per-datacenter levels (ConsistencyLevel.blockForWrite)."""
    extra = list(pending)
    if not need.per_dc:
        return Requirement(need.total + len(extra))
    per_dc = dict(need.per_dc)
    for a in extra:
        if dc_of[a] in per_dc:
            per_dc[dc_of[a]] += 1
    return Requirement(need.total, per_dc)


def check_cl(cl: int) -> None:
    if cl not in NAMES:
        raise InvalidRequest(f"Unknown consistency level {cl}")
    if cl in (SERIAL, LOCAL_SERIAL):
        # SERIAL reads go through Paxos before this check (node.lwt_path); this is a write's
        raise InvalidRequest("You must use conditional updates for serializable writes")
