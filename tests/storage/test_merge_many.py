"""``merge_many`` (one pass over a partition's updates, used to merge a BATCH's mutations) gives
what folding ``merge`` gives, on random updates with rows, cells, deletions and static rows."""

from __future__ import annotations

import random
import struct

import pytest

from skewless.storage.merge import merge, merge_many
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row


def _row(rng: random.Random, clustering: bytes) -> Row:
    cells = tuple(CellWrite(col, b"", Cell(rng.randint(1, 5), rng.choice([b"x", b"y"])))
                  for col in sorted(rng.sample(["a", "b", "c"], rng.randint(0, 3))))
    marker = Cell(rng.randint(1, 5), b"") if rng.random() < 0.5 else None
    deletion = Deletion(rng.randint(1, 5), 0) if rng.random() < 0.2 else None
    col_dels = (("b", Deletion(rng.randint(1, 5), 0)),) if rng.random() < 0.2 else ()
    return Row(clustering, marker, deletion, cells, col_dels)


def _update(rng: random.Random) -> PartitionUpdate:
    clusterings = rng.sample(range(6), rng.randint(0, 4))
    rows = sorted((_row(rng, struct.pack(">i", c)) for c in clusterings),
                  key=lambda r: r.clustering)
    deletion = Deletion(rng.randint(1, 5), 0) if rng.random() < 0.1 else None
    static = _row(rng, b"") if rng.random() < 0.3 else None
    return PartitionUpdate("t", b"k", deletion, (), static, tuple(rows))


@pytest.mark.parametrize("seed", range(4))
def test_merge_many_equals_folded_merge(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        updates = [_update(rng) for _ in range(rng.randint(1, 6))]
        folded = updates[0] if len(updates) > 1 else merge(updates[0], updates[0])
        for u in updates[1:]:
            folded = merge(folded, u)
        assert merge_many(updates) == folded


def test_merge_many_of_10000_rows_is_linear() -> None:
    updates = [PartitionUpdate("t", b"k", None, (), None, (
        Row(struct.pack(">i", i), Cell(1, b""), None,
            (CellWrite("a", b"", Cell(1, struct.pack(">i", i))),), ()),)) for i in range(10_000)]
    merged = merge_many(updates)
    assert [r.clustering for r in merged.rows] == [struct.pack(">i", i) for i in range(10_000)]
