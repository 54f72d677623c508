"""Pending ranges: what a topology change moves, computed from the natural and the future ring.

A token sub-range between two consecutive tokens of the union of both rings has one replica set
in each ring. A node in the future set but not in the natural one *gains* the sub-range (it is a
pending replica: it gets every write, counted as Cassandra counts pending replicas, and streams
the data). Its source is, with ``consistent_range_movement``, the natural replica that gives the
range up (the one leaving, or whose range a joiner splits), as Cassandra's strict range
movement; otherwise any live natural replica. When the giver is down (a removed or replaced
node, or a join with the rule off), no one surviving replica is known to hold every acknowledged
write (a QUORUM write may have reached the dead node and one other only), so the range is
streamed from every live natural replica, merged by timestamp.
Pure functions of the rings: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from skewless.node.placement import Ring
from skewless.ring import MIN_TOKEN

Gain = tuple[int, int, str]  # (start exclusive, end inclusive, source address)


def boundaries(natural: Ring, future: Ring) -> list[int]:
    return sorted(set(natural.tokens) | set(future.tokens))


def sub_ranges(natural: Ring, future: Ring) -> list[tuple[int, int]]:
    """(start, end] sub-ranges with one replica set in each ring; one wrapping range covers
    the ring's end and start."""
    b = boundaries(natural, future)
    if not b:
        return []
    return [(b[i - 1] if i > 0 else b[-1], t) for i, t in enumerate(b)]


def gains(natural: Ring, future: Ring, replication: Mapping[str, str], me: str,
          alive: Callable[[str], bool], strict: bool) -> tuple[list[Gain], list[tuple[int, int]]]:
    """The sub-ranges ``me`` gains with a source each, and those it gains with no live source."""
    out: list[Gain] = []
    unsourced: list[tuple[int, int]] = []
    if not natural.tokens:
        return out, unsourced
    for start, end in sub_ranges(natural, future):
        now = natural.replicas(end, replication)
        then = future.replicas(end, replication)
        if me not in then or me in now:
            continue
        giving = [a for a in now if a not in then and alive(a) and a != me]
        others = [a for a in now if alive(a) and a != me]
        candidates = giving if (strict and giving) else (giving + [a for a in others
                                                                    if a not in giving])
        if not candidates:
            unsourced.append((start, end))
            continue
        if giving:
            out.append((start, end, candidates[0]))
        else:  # the giver is dead: no one replica is known complete, so stream from each
            out.extend((start, end, a) for a in others)
    return _merged(out), unsourced


def required_down(natural: Ring, future: Ring, replication: Mapping[str, str], me: str,
                  alive: Callable[[str], bool]) -> list[Gain]:
    """Under ``consistent_range_movement``: the sub-ranges ``me`` gains whose giving replicas
    (in the natural set, not in the future one) are all down, with one of them; Cassandra then
    refuses the movement rather than copy a possibly stale replica."""
    out: list[Gain] = []
    if not natural.tokens:
        return out
    for start, end in sub_ranges(natural, future):
        now = natural.replicas(end, replication)
        then = future.replicas(end, replication)
        if me not in then or me in now:
            continue
        giving = [a for a in now if a not in then and a != me]
        if giving and not any(alive(a) for a in giving):
            out.append((start, end, giving[0]))
    return out


def holders(ring: Ring, start: int, end: int, replication: Mapping[str, str]) -> list[str]:
    """The replicas of ``ring`` that hold every token of (start, end]: the replicas of each
    ring token inside the range and of the one that ends it, in the order of the last."""
    inside = [t for t in ring.tokens if _within(t, start, end)]
    sets = [ring.replicas(t, replication) for t in inside] + [ring.replicas(end, replication)]
    return [a for a in sets[-1] if all(a in s for s in sets)]


def _within(t: int, start: int, end: int) -> bool:
    return start < t <= end if start < end else (t > start or t <= end)


def _merged(gs: list[Gain]) -> list[Gain]:
    """Adjacent sub-ranges from the same source as one range."""
    out: list[Gain] = []
    last: dict[str, int] = {}  # source -> index in out of its last range
    for g in gs:
        i = last.get(g[2])
        if i is not None and out[i][1] == g[0]:
            out[i] = (out[i][0], g[1], g[2])
        else:
            last[g[2]] = len(out)
            out.append(g)
    return out


def gainers(natural: Ring, future: Ring, replication: Mapping[str, str]) -> set[str]:
    """Every node that gains some sub-range."""
    out: set[str] = set()
    for _, end in sub_ranges(natural, future):
        now = natural.replicas(end, replication)
        out.update(a for a in future.replicas(end, replication) if a not in now)
    return out


def pending_for(natural: Ring, future: Ring, token: int, replication: Mapping[str, str],
                natural_replicas: list[str]) -> list[str]:
    """The pending replicas of ``token``: in the future ring's replicas, not in the natural."""
    if not future.tokens:
        return []
    return [a for a in future.replicas(token, replication) if a not in natural_replicas]


def whole_ring() -> tuple[int, int]:
    return (MIN_TOKEN, MIN_TOKEN)
