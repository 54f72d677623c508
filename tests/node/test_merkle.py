"""Merkle trees of repair (node.merkle): equal data gives equal trees, one differing partition
makes exactly its leaf differ, depths fold, the wire form round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import limits
from skewless.node.repair import merkle
from skewless.ring import MAX_TOKEN, MIN_TOKEN

tokens = st.integers(MIN_TOKEN + 1, MAX_TOKEN)
partitions = st.dictionaries(tokens, st.binary(min_size=1, max_size=8), max_size=60)
ranges = st.tuples(st.integers(MIN_TOKEN, MAX_TOKEN - 1), st.integers(1, 2**64 - 1)).map(
    lambda p: (p[0], min(MAX_TOKEN, p[0] + p[1])))


def _hashes(data: dict[int, bytes], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(t, merkle.partition_hash(t.to_bytes(8, "big", signed=True), v))
            for t, v in data.items() if lo < t <= hi]


@settings(max_examples=200, deadline=None)
@given(partitions, ranges, st.integers(0, 8), st.randoms())
def test_equal_data_equal_trees_in_any_order(data: dict[int, bytes], rng: tuple[int, int],
                                             depth: int, rnd: object) -> None:
    lo, hi = rng
    items = _hashes(data, lo, hi)
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = merkle.build(lo, hi, depth, items)
    b = merkle.build(lo, hi, depth, shuffled)
    assert a == b
    assert merkle.differing_leaves([a, b]) == []


@settings(max_examples=200, deadline=None)
@given(partitions, ranges, st.integers(0, 10), st.data())
def test_one_differing_partition_makes_exactly_its_leaf_differ(
        data: dict[int, bytes], rng: tuple[int, int], depth: int, draw: st.DataObject) -> None:
    lo, hi = rng
    token = draw.draw(st.integers(lo + 1, hi))
    mode = draw.draw(st.sampled_from(["missing", "changed"]))
    ours = dict(data)
    ours[token] = b"value"
    theirs = dict(ours)
    if mode == "missing":
        del theirs[token]
    else:
        theirs[token] = b"other value"
    a = merkle.build(lo, hi, depth, _hashes(ours, lo, hi))
    b = merkle.build(lo, hi, depth, _hashes(theirs, lo, hi))
    leaf = merkle.leaf_of(lo, hi, depth, token)
    assert merkle.differing_leaves([a, b]) == [leaf]
    start, end = merkle.leaf_range(lo, hi, depth, leaf)
    assert start < token <= end


@settings(max_examples=100, deadline=None)
@given(partitions, ranges, st.integers(0, 9), st.integers(0, 9))
def test_a_tree_folded_to_a_shallower_depth_is_the_tree_built_there(
        data: dict[int, bytes], rng: tuple[int, int], d1: int, d2: int) -> None:
    lo, hi = rng
    shallow, deep = sorted((d1, d2))
    items = _hashes(data, lo, hi)
    assert merkle.at_depth(merkle.build(lo, hi, deep, items), shallow) == \
        merkle.build(lo, hi, shallow, items)


@settings(max_examples=100, deadline=None)
@given(ranges, st.integers(0, 12))
def test_leaves_partition_the_range(rng: tuple[int, int], depth: int) -> None:
    lo, hi = rng
    n = 1 << depth
    bounds = [merkle.leaf_range(lo, hi, depth, i) for i in range(n)]
    assert bounds[0][0] == lo and bounds[-1][1] == hi
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(n - 1))
    for i, (s, e) in enumerate(bounds):
        if s < e:
            assert merkle.leaf_of(lo, hi, depth, e) == i
            assert merkle.leaf_of(lo, hi, depth, s + 1) == i


def test_three_trees_differ_where_any_one_differs() -> None:
    lo, hi = -1000, 1000
    base = {t: b"x" for t in range(-900, 900, 37)}
    other = dict(base)
    other[-900] = b"y"
    third = dict(base)
    del third[876]
    trees = [merkle.build(lo, hi, 6, _hashes(d, lo, hi)) for d in (base, other, third)]
    assert merkle.differing_leaves(trees) == sorted(
        {merkle.leaf_of(lo, hi, 6, -900), merkle.leaf_of(lo, hi, 6, 876)})


def test_depth_for_is_about_one_partition_a_leaf_and_bounded() -> None:
    assert merkle.depth_for(0) == 0
    assert merkle.depth_for(1) == 0
    assert merkle.depth_for(2) == 1
    assert merkle.depth_for(2000) == 10
    assert merkle.depth_for(3) == 1 and merkle.depth_for(4) == 2
    assert merkle.depth_for(10**9) == limits.merkle_depth_max


def test_wire_form_round_trips_and_rejects_bad_sizes() -> None:
    leaves = merkle.build(0, 100, 3, [(5, 123), (99, 2**63 + 1)])
    assert merkle.decode_leaves(merkle.encode_leaves(leaves)) == leaves
    for bad in (b"", b"x" * 7, b"x" * 24):
        with pytest.raises(ValueError):
            merkle.decode_leaves(bad)
