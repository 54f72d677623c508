"""Token choice: evenly spaced tokens for a fresh cluster's seeds, balanced tokens for a joiner.

Theory of operation
-------------------
Ownership here is what ``nodetool status`` calls "Owns (effective)": the fraction of the ring a
node holds a replica of, walking clockwise ``rf`` distinct nodes from each range's end token
(SimpleStrategy placement, which is what Cassandra 4's
``allocate_tokens_for_local_replication_factor`` models too).

``allocate`` is a greedy version of Cassandra's allocator: it adds the new node's tokens one at a
time; each token is put where it lowers the spread of ownership most, measured as the sum of the
squared distances of every node's ownership from the mean it will have once the new node is in.
The candidate positions are a few fractions of every current range (the new token takes the
range's lower part from the range's owner), so the new node takes load from the most loaded
replicas first. A small seeded jitter keeps two nodes allocating against the same ring at the
same moment from choosing the same tokens. Nothing here reads a clock or the network.

``even_tokens`` gives seed ``index`` of ``count`` seeds interleaved, evenly spaced tokens: the
first nodes of a fresh cluster then own equal shares without having to see each other first.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence

from skewless.ring import MAX_TOKEN, MIN_TOKEN

RING_SIZE = 2**64
# Fractions of a range a candidate token takes (its lower part, from the range's owner).
_REFINE_PASSES = 1  # coordinate-descent passes over the new tokens after the greedy one
_FRACTIONS = (1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 7 / 8)


def even_tokens(index: int, count: int, num_tokens: int) -> tuple[int, ...]:
    """Seed ``index`` (0-based) of ``count`` seeds: evenly spaced tokens, interleaved with the
    other seeds' so that the ``count * num_tokens`` tokens split the ring into equal parts."""
    assert 0 <= index < count and num_tokens > 0
    step = RING_SIZE // (count * num_tokens)
    return tuple(MIN_TOKEN + step // 2 + (i * count + index) * step for i in range(num_tokens))


def ownership(tokens: Mapping[str, Sequence[int]], rf: int) -> dict[str, float]:
    """Each node's effective ownership (a fraction of the ring, summing to min(rf, nodes))."""
    pairs = sorted((t, a) for a, ts in tokens.items() for t in ts)
    own = dict.fromkeys(tokens, 0.0)
    if not pairs:
        return own
    replicas = _replica_sets([a for _, a in pairs], min(rf, len([a for a in tokens if tokens[a]])))
    n = len(pairs)
    for i, (t, _) in enumerate(pairs):
        prev = pairs[i - 1][0] if i > 0 else pairs[-1][0] - RING_SIZE
        size = (t - prev) / RING_SIZE if n > 1 else 1.0
        for a in replicas[i]:
            own[a] += size
    return own


def _replica_sets(owners: list[str], rf: int) -> list[tuple[str, ...]]:
    """For each ring position, the first ``rf`` distinct owners walking clockwise from it."""
    n = len(owners)
    out: list[tuple[str, ...]] = []
    for i in range(n):
        seen: list[str] = []
        for j in range(n):
            a = owners[(i + j) % n]
            if a not in seen:
                seen.append(a)
                if len(seen) == rf:
                    break
        out.append(tuple(seen))
    return out


def _spread(tokens: Mapping[str, Sequence[int]], rf: int) -> float:
    """Squared relative distances from the mean ownership at ``rf`` and, as a tie-break that
    keeps the layout good for the nodes that join later, at rf 1 (primary ranges)."""
    total = 0.0
    for r in sorted({rf, 1}):
        own = ownership(tokens, r)
        mean = min(r, len(own)) / len(own)
        total += sum(((o - mean) / mean) ** 2 for o in own.values())
    return total


def allocate(existing: Mapping[str, Sequence[int]], new: str, num_tokens: int, rf: int,
             rng: random.Random) -> tuple[int, ...]:
    """``num_tokens`` tokens for node ``new`` that balance effective ownership at ``rf``."""
    assert new not in existing and num_tokens > 0 and rf > 0
    nodes = [a for a, ts in existing.items() if ts]
    if not nodes:
        return even_tokens(0, 1, num_tokens)
    current: dict[str, list[int]] = {a: list(existing[a]) for a in nodes}
    current[new] = []
    taken = {t for ts in current.values() for t in ts}
    for _ in range(num_tokens):
        ring = sorted(taken)
        best: tuple[float, int] | None = None
        for t in _candidates(ring, rng):
            if t in taken:
                continue
            current[new].append(t)
            score = _spread(current, rf)
            current[new].pop()
            if best is None or score < best[0]:
                best = (score, t)
        assert best is not None, "no free token: the ring is full"
        current[new].append(best[1])
        taken.add(best[1])
    for _ in range(_REFINE_PASSES):
        _refine(current, new, rf, rng)
    return tuple(sorted(current[new]))


def _refine(current: dict[str, list[int]], new: str, rf: int, rng: random.Random) -> None:
    """Move each of the new node's tokens, one at a time, to its best candidate position."""
    for i in range(len(current[new])):
        old = current[new][i]
        best = (_spread(current, rf), old)
        taken = {t for ts in current.values() for t in ts}
        taken.discard(old)
        for t in _candidates(sorted(taken), rng):
            if t in taken:
                continue
            current[new][i] = t
            score = _spread(current, rf)
            if score < best[0]:
                best = (score, t)
        current[new][i] = best[1]


def _candidates(ring: list[int], rng: random.Random) -> list[int]:
    out: list[int] = []
    n = len(ring)
    for i, end in enumerate(ring):
        start = ring[i - 1] if i > 0 else ring[-1] - RING_SIZE
        width = end - start if n > 1 else RING_SIZE
        for f in _FRACTIONS:
            jitter = rng.uniform(-0.01, 0.01)
            t = start + int(width * (f + jitter))
            t = (t - MIN_TOKEN) % RING_SIZE + MIN_TOKEN
            if t != MIN_TOKEN and t <= MAX_TOKEN:
                out.append(t)
    return out


def spread_percent(own: Mapping[str, float]) -> float:
    """The largest distance of a node's ownership from the mean, in percent of the mean."""
    mean = sum(own.values()) / len(own)
    return max(abs(o - mean) for o in own.values()) / mean * 100


def has_collision(tokens: Sequence[int], others: Sequence[int]) -> bool:
    s = set(others)
    return any(t in s for t in tokens)


def owner_index(ring: list[int], token: int) -> int:
    return bisect.bisect_left(ring, token) % len(ring)
