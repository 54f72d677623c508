"""What a stress run does next: the operation, its key and the value that key holds.

The operation mix is a smooth weighted round robin (as nginx balances upstreams): each step adds
every operation's weight to its credit and picks the operation with the most credit, which then
pays the total weight back. Over any whole cycle (the sum of the weights) every operation runs
exactly its weight's share, and the picks are spread out rather than bunched (write=1,read=3
gives read, write, read, read, ...), so the counts in a report are exactly the ratio asked.

Keys are either sequential (operation i uses key i mod K, so K writes fill the population) or
drawn uniformly from ``random.Random(seed)`` (the same seed gives the same keys). A key's value
is a function of the key and the value size, so a read can check what it got.
"""

from __future__ import annotations

import random


class OperationMix:
    """The next operation of a weighted mix; not thread-safe (the runner calls it under a lock)."""

    def __init__(self, ratio: tuple[tuple[str, int], ...]) -> None:
        assert ratio, "a mix needs at least one operation"
        assert all(w > 0 for _, w in ratio), ratio
        self._names = [name for name, _ in ratio]
        self._weights = [w for _, w in ratio]
        self._total = sum(self._weights)
        self._credit = [0] * len(ratio)

    def next(self) -> str:
        best = 0
        for i, w in enumerate(self._weights):
            self._credit[i] += w
            if self._credit[i] > self._credit[best]:
                best = i
        self._credit[best] -= self._total
        return self._names[best]


class KeyChooser:
    """Key of the i-th operation of a run, over the population 0..keys-1."""

    def __init__(self, keys: int, distribution: str, seed: int) -> None:
        assert keys > 0, keys
        assert distribution in ("seq", "uniform"), distribution
        self._keys = keys
        self._uniform = distribution == "uniform"
        self._rng = random.Random(seed)

    def key(self, i: int) -> int:
        if self._uniform:
            return self._rng.randrange(self._keys)
        return i % self._keys


def value_for(key: int, size: int) -> bytes:
    """The ``size`` bytes key ``key`` holds: its 8-byte big-endian form, repeated."""
    assert size >= 0, size
    unit = key.to_bytes(8, "big", signed=True)
    return (unit * (size // 8 + 1))[:size]
