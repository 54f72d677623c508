"""Token choice: evenly spaced tokens for a fresh cluster's seeds, balanced tokens for a joiner.

Theory of operation
-------------------
Ownership here is what ``nodetool status`` calls "Owns (effective)": the fraction of the ring a
node holds a replica of, walking clockwise ``rf`` distinct nodes from each range's end token
(SimpleStrategy placement, which is what Cassandra 4's
``allocate_tokens_for_local_replication_factor`` models too).

``allocate`` is a greedy version of Cassandra's allocator: it adds the new node's tokens one at
a time; each token is put where it lowers the spread of ownership most, measured as the sum of
the squared relative distances of every node's ownership from the mean, at every replication
factor from 1 to ``rf``, ``rf`` itself weighted ``_TARGET_WEIGHT`` times (at ``rf`` >= nodes
every layout looks alike: the lower factors keep it good for the nodes that join later). The
candidate positions are a few fractions of every current range (the new token takes the range's
lower part from the range's owner); ``_Layout`` scores a candidate from the few ranges whose
replicas it changes. Then ``_REFINE_PASSES`` passes move each new token, one at a time, to its
best position given the others. A small seeded jitter keeps two nodes allocating against the
same ring at the same moment from choosing the same tokens. Nothing here reads a clock or the
network.

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
_REFINE_PASSES = 2  # coordinate-descent passes over the new tokens after the greedy one
_FRACTIONS = (1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 7 / 8)
# The spread at the keyspaces' own factor weighs this much more than the lower factors'. Worst
# node of 1 seed + 4 joiners at RF 3 (n seeded layouts): equal weights 10.6% (40), 3: 10.0%
# (100), 10: 9.0% (200; mean 2.6%); at RF 2 with 10: 7.9% (100).
_TARGET_WEIGHT = 10.0


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


class _Layout:
    """A ring's effective ownership at ``r`` replicas, with the change one more token of
    node ``new`` would make computed locally: only the split range and the ranges before it
    whose replica walk reaches it change replicas."""

    def __init__(self, current: Mapping[str, Sequence[int]], r: int) -> None:
        pairs = sorted((t, a) for a, ts in current.items() for t in ts)
        self.tokens = [t for t, _ in pairs]
        self.owners = [a for _, a in pairs]
        self.r = r
        walks = [_walk(self.owners, j, r) for j in range(len(pairs))]
        self.sets = [w[0] for w in walks]
        self.steps = [w[1] for w in walks]
        self.own = dict.fromkeys(current, 0.0)
        for j in range(len(self.owners)):
            w = self._width(j)
            for b in self.sets[j]:
                self.own[b] += w

    def _width(self, j: int) -> float:
        n = len(self.tokens)
        if n == 1:
            return 1.0
        return ((self.tokens[j] - self.tokens[j - 1]) % RING_SIZE) / RING_SIZE

    def score(self, t: int, new: str) -> float:
        """The spread (``_score``) once token ``t`` of ``new`` is in."""
        n = len(self.tokens)
        i = bisect.bisect_left(self.tokens, t) % n
        w1 = ((t - self.tokens[i - 1]) % RING_SIZE) / RING_SIZE if n > 1 else \
            ((t - self.tokens[0]) % RING_SIZE) / RING_SIZE
        d: dict[str, float] = {}
        owners = self.owners[:i] + [new] + self.owners[i:]
        for a in self.sets[i]:
            d[a] = d.get(a, 0.0) - w1
        for a in _walk(owners, i, self.r)[0]:
            d[a] = d.get(a, 0.0) + w1
        for back in range(1, n + 1):  # back == n: the split range's own end, walking around
            j = (i - back) % n
            if self.steps[j] < back and len(self.sets[j]) == self.r:
                break  # its walk ends before the split range; so do those of earlier ones
            jn = j if j < i else j + 1
            after = _walk(owners, jn, self.r)[0]
            if after != self.sets[j]:
                w = self._width(j) - (w1 if j == i else 0.0)  # what is left of a split range
                for a in self.sets[j]:
                    d[a] = d.get(a, 0.0) - w
                for a in after:
                    d[a] = d.get(a, 0.0) + w
        own = {a: o + d.get(a, 0.0) for a, o in self.own.items()}
        return _score(own)


def _walk(owners: list[str], j: int, r: int) -> tuple[tuple[str, ...], int]:
    """The first ``r`` distinct owners from position ``j`` and the steps the walk took."""
    n = len(owners)
    seen: list[str] = []
    for k in range(n):
        a = owners[(j + k) % n]
        if a not in seen:
            seen.append(a)
            if len(seen) == r:
                return tuple(seen), k
    return tuple(seen), n - 1


def _score(own: Mapping[str, float]) -> float:
    """Squared relative distances from the mean ownership."""
    mean = sum(own.values()) / len(own)
    return sum(((o - mean) / mean) ** 2 for o in own.values())


def allocate(existing: Mapping[str, Sequence[int]], new: str, num_tokens: int, rf: int,
             rng: random.Random) -> tuple[int, ...]:
    """``num_tokens`` tokens for node ``new`` that balance effective ownership at ``rf``."""
    assert new not in existing and num_tokens > 0 and rf > 0
    nodes = [a for a, ts in existing.items() if ts]
    if not nodes:
        return even_tokens(0, 1, num_tokens)
    r = min(rf, len(nodes) + 1)
    current: dict[str, list[int]] = {a: list(existing[a]) for a in nodes}
    current[new] = []
    for _ in range(num_tokens):
        current[new].append(_best(current, new, r, rng))
    for _ in range(_REFINE_PASSES):
        for i in range(num_tokens):
            current[new].pop(i)
            current[new].insert(i, _best(current, new, r, rng))
    return tuple(sorted(current[new]))


def _best(current: dict[str, list[int]], new: str, r: int, rng: random.Random) -> int:
    """The candidate token that minimises the spread at every replication factor up to ``r``
    (the lower ones keep the layout good for the nodes that join later: at ``r`` >= nodes
    every layout looks alike)."""
    layouts = [_Layout(current, k) for k in range(1, r + 1)]
    taken = set(layouts[0].tokens)
    best: tuple[float, int] | None = None
    for t in _candidates(layouts[0].tokens, rng):
        if t in taken:
            continue
        score = sum(layout.score(t, new) * (_TARGET_WEIGHT if layout.r == r else 1.0)
                    for layout in layouts)
        if best is None or score < best[0]:
            best = (score, t)
    assert best is not None, "no free token: the ring is full"
    return best[1]


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
