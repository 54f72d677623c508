"""Which token ranges a repair covers, and the wording of its progress lines.

A node's ranges of a keyspace are the ring ranges ``(t[i-1], t[i]]`` whose replicas include it
(``-pr``: only those whose primary replica, the owner of ``t[i]``, it is); ``-st``/``-et``
restricts them to their intersection with ``(st, et]``. A range that wraps past the maximum
token is repaired as two pieces, ``(start, MAX]`` and ``(MIN, end]`` (Merkle trees never wrap).
Ranges with this node as their only replica have nobody to compare with and are skipped.

Pure.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from skewless.errors import InvalidRequest
from skewless.node.placement import Ring
from skewless.ring import MAX_TOKEN, MIN_TOKEN


@dataclass(frozen=True, slots=True)
class RepairRange:
    start: int  # exclusive
    end: int  # inclusive; <= start when the range wraps
    replicas: tuple[str, ...]  # this node first

    def pieces(self) -> list[tuple[int, int]]:
        return pieces(self.start, self.end)

    def text(self) -> str:
        return f"({self.start},{self.end}]"


def pieces(start: int, end: int) -> list[tuple[int, int]]:
    """(start, end] as non-wrapping, non-empty pieces; start == end is the whole ring."""
    if start < end:
        return [(start, end)]
    out = [(start, MAX_TOKEN)] if start < MAX_TOKEN else []
    if MIN_TOKEN < end:
        out.append((MIN_TOKEN, end))
    return out


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo < hi else None


def node_ranges(ring: Ring, replication: Mapping[str, str], me: str, primary: bool,
                sub: tuple[int, int] | None = None) -> list[RepairRange]:
    """The ranges this node repairs (see the module doc), in ring order."""
    out: list[RepairRange] = []
    n = len(ring.tokens)
    for i, token in enumerate(ring.tokens):
        replicas = ring.replicas(token, replication)
        if me not in replicas or (primary and ring.owners[i] != me):
            continue
        start = ring.tokens[i - 1] if n > 1 else token
        ordered = (me, *sorted(a for a in replicas if a != me))
        if sub is None:
            out.append(RepairRange(start, token, ordered))
            continue
        for p in pieces(start, token):
            for q in pieces(*sub):
                cut = _intersect(p, q)
                if cut is not None:
                    out.append(RepairRange(cut[0], cut[1], ordered))
    return out


def stamp(real_us: int) -> str:
    """nodetool's line prefix: ``[2024-01-31 12:00:00,123]`` (UTC)."""
    t = datetime.datetime.fromtimestamp(real_us / 1e6, tz=datetime.UTC)
    return f"[{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d}]"


def options_text(primary: bool, tables: tuple[str, ...], ranges: int,
                 sub: tuple[int, int] | None) -> str:
    """The repair options as Cassandra's ``RepairOption.toString`` lists them."""
    text = (f"parallelism: parallel, primary range: {str(primary).lower()}, incremental: false, "
            f"job threads: 1, ColumnFamilies: [{', '.join(tables)}], dataCenters: [], "
            f"hosts: [], previewKind: NONE, # of ranges: {ranges}, pull repair: false, "
            f"force repair: false, optimise streams: false, ignore unreplicated keyspaces: "
            f"false, repairPaxos: false, paxosOnly: false")
    if sub is not None:
        text += f", ranges: [({sub[0]},{sub[1]}]]"
    return text


def sub_range(start: int | None, end: int | None) -> tuple[int, int] | None:
    """The ``-st``/``-et`` range, None without one; InvalidRequest when it is not a range."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidRequest("Both the start token (-st) and the end token (-et) are needed")
    for t in (start, end):
        if not MIN_TOKEN <= t <= MAX_TOKEN:
            raise InvalidRequest(f"Token {t} is out of the Murmur3 range")
    if start == end:
        raise InvalidRequest(f"Start and end tokens must be different, got {start} twice")
    return start, end
