"""Merkle trees over a token range: what the replicas of a range compare during repair.

Theory of operation
-------------------
A tree covers one token range ``(lo, hi]`` with ``lo < hi`` (never wrapping: a ring range that
wraps past the maximum token is repaired as two pieces). At depth ``d`` it has ``2**d`` leaves;
leaf ``i`` covers ``(b(i), b(i+1)]`` with ``b(i) = lo + ((hi - lo) * i) >> d``. The boundaries of
depth ``d`` are every other boundary of depth ``d + 1``, so a leaf is exactly the union of its
two children one level down.

A partition's hash is a 64-bit blake2b of its key and its canonical encoding (the storage
codec's, of the partition as stored: every cell, marker and tombstone with its timestamp and
deletion time), so two replicas hash a partition alike exactly when they hold the same data for
it. A leaf's hash is the XOR of the hashes of the partitions in it (0 when empty) and an inner
node's the XOR of its children's, as Cassandra's ``MerkleTree`` combines hashes. With XOR a
node's hash does not depend on the depth it was computed at, so each replica may choose its own
depth (from its own partition count, ``depth_for``) and the coordinator compares two trees at
the shallower depth by folding the deeper one (``at_depth``).

``differing_leaves`` descends from the root: a subtree whose hash is equal in every tree is
skipped, and the leaves reached with unequal hashes are the only ones whose partitions the
replicas then exchange. Equal data gives equal trees; one partition that differs makes exactly
the leaf that holds it differ.

Trees travel as their leaf level, 8 bytes a leaf (``encode_leaves``); the inner levels are
recomputed where they are compared. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from skewless import limits

HASH_BYTES = 8  # a differing leaf goes unseen with probability 2^-64
Leaves = list[int]  # 64-bit hashes, leaf order


def partition_hash(key: bytes, encoded: bytes) -> int:
    """The hash of one partition: its key and its canonical encoding."""
    h = hashlib.blake2b(digest_size=HASH_BYTES)
    h.update(len(key).to_bytes(4, "big"))
    h.update(key)
    h.update(encoded)
    return int.from_bytes(h.digest(), "big")


def depth_for(partitions: int) -> int:
    """One to two partitions a leaf, at most ``limits.merkle_depth_max`` levels."""
    return min(max(partitions.bit_length() - 1, 0), limits.merkle_depth_max)


def boundary(lo: int, hi: int, depth: int, i: int) -> int:
    """The start (exclusive) of leaf ``i``; ``boundary(.., 2**depth) == hi``."""
    assert lo < hi and 0 <= i <= 1 << depth
    return lo + (((hi - lo) * i) >> depth)


def leaf_range(lo: int, hi: int, depth: int, i: int) -> tuple[int, int]:
    """The token range ``(start, end]`` of leaf ``i``."""
    return boundary(lo, hi, depth, i), boundary(lo, hi, depth, i + 1)


def leaf_of(lo: int, hi: int, depth: int, token: int) -> int:
    """The leaf holding ``token`` (``lo < token <= hi``)."""
    assert lo < token <= hi, (lo, token, hi)
    a, b = 0, (1 << depth) - 1
    while a < b:  # the first leaf whose end is >= token
        mid = (a + b) // 2
        if boundary(lo, hi, depth, mid + 1) >= token:
            b = mid
        else:
            a = mid + 1
    return a


def build(lo: int, hi: int, depth: int, hashes: Iterable[tuple[int, int]]) -> Leaves:
    """The leaves of a tree over ``(lo, hi]`` from (token, partition hash) pairs in any order."""
    leaves = [0] * (1 << depth)
    for token, h in hashes:
        leaves[leaf_of(lo, hi, depth, token)] ^= h
    return leaves


def depth_of(leaves: Sequence[int]) -> int:
    depth = len(leaves).bit_length() - 1
    assert len(leaves) == 1 << depth, len(leaves)
    return depth


def fold(leaves: Sequence[int]) -> Leaves:
    """The level above ``leaves``: each node the XOR of its two children."""
    assert len(leaves) >= 2
    return [leaves[i] ^ leaves[i + 1] for i in range(0, len(leaves), 2)]


def at_depth(leaves: Sequence[int], depth: int) -> Leaves:
    """The tree's level ``depth`` (at most its own depth)."""
    assert depth <= depth_of(leaves)
    level = list(leaves)
    while len(level) > 1 << depth:
        level = fold(level)
    return level


def levels(leaves: Sequence[int]) -> list[Leaves]:
    """Every level, root first, leaves last."""
    out = [list(leaves)]
    while len(out[0]) > 1:
        out.insert(0, fold(out[0]))
    return out


def differing_leaves(trees: Sequence[Sequence[int]]) -> list[int]:
    """Indices of the leaves not equal in every tree (all of one depth), by descent from the
    root: subtrees equal everywhere are not looked into."""
    assert trees
    depth = depth_of(trees[0])
    assert all(len(t) == len(trees[0]) for t in trees)
    all_levels = [levels(t) for t in trees]
    frontier = [0]
    for level in range(depth + 1):
        unequal = [i for i in frontier if len({lv[level][i] for lv in all_levels}) > 1]
        if level == depth:
            return unequal
        frontier = [c for i in unequal for c in (2 * i, 2 * i + 1)]
    raise AssertionError("unreachable")


def under(leaves: Sequence[int], level: int, depth: int, nodes: Sequence[int]) -> Leaves:
    """The tree's nodes at ``depth`` under each of ``nodes`` (indices at ``level``), in order."""
    assert level <= depth
    folded = at_depth(leaves, depth)
    width = 1 << (depth - level)
    return [h for i in nodes for h in folded[i * width:(i + 1) * width]]


def encode_leaves(leaves: Sequence[int]) -> bytes:
    return b"".join(h.to_bytes(HASH_BYTES, "big") for h in leaves)


def decode_leaves(data: bytes) -> Leaves:
    """Leaves from the wire; ValueError when the size is not a whole tree."""
    n, rest = divmod(len(data), HASH_BYTES)
    if rest or n == 0 or n & (n - 1) or n > 1 << limits.merkle_depth_max:
        raise ValueError(f"a Merkle tree of {len(data)} bytes is not 2^k leaves of "
                         f"{HASH_BYTES} bytes")
    return [int.from_bytes(data[i:i + HASH_BYTES], "big") for i in range(0, len(data), HASH_BYTES)]


def decode_hashes(data: bytes, count: int) -> Leaves:
    """``count`` hashes from the wire; ValueError when the size is not that."""
    if len(data) != count * HASH_BYTES:
        raise ValueError(f"{len(data)} bytes are not {count} hashes of {HASH_BYTES} bytes")
    return [int.from_bytes(data[i:i + HASH_BYTES], "big") for i in range(0, len(data), HASH_BYTES)]
