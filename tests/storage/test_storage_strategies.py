"""Hypothesis strategies for storage model values over small domains (so values collide)."""

from __future__ import annotations

from hypothesis import strategies as st

from skewless.storage import counters
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

TABLE = "0" * 32
KEY = b"pk"
CLUSTERINGS = [b"", b"\x01", b"\x01\x05", b"\x02", b"\x02\x00", b"\x03"]

ts = st.integers(0, 6)
deletions = st.builds(Deletion, ts, st.integers(0, 3))
values = st.sampled_from([None, b"", b"a", b"b", "counter"])
HOSTS = [bytes([i]) * 16 for i in (1, 2, 3)]
shard_maps = st.dictionaries(st.sampled_from(HOSTS), st.tuples(st.integers(0, 3),
                                                                st.integers(-2, 2)),
                             min_size=1)


@st.composite
def counter_cells(draw: st.DrawFn) -> Cell:
    """Live counter cells over three hosts with small clocks and counts (so shards collide)."""
    return counters.cell(draw(ts), draw(shard_maps))


@st.composite
def cells(draw: st.DrawFn, counter: bool = True) -> Cell:
    """Any cell, counter cells among them (unless ``counter`` is False: row markers are never
    counter cells): merge laws must hold however cells meet."""
    value = draw(values)
    if value == "counter":
        if counter:
            return draw(counter_cells())
        value = b"c"
    assert not isinstance(value, str)
    if value is None:
        return Cell(draw(ts), None, deleted_s=draw(st.integers(0, 3)))
    if draw(st.booleans()):
        ttl = draw(st.integers(1, 3))
        return Cell(draw(ts), value, ttl, draw(st.integers(1, 6)))
    return Cell(draw(ts), value)


@st.composite
def rows(draw: st.DrawFn, clustering: bytes, static: bool = False) -> Row:
    addresses = draw(st.sets(st.sampled_from([("a", b""), ("b", b""), ("m", b"x"), ("m", b"y")])))
    cols = draw(st.sets(st.sampled_from(["a", "m"])))
    return Row(
        clustering=clustering,
        marker=None if static else draw(st.none() | cells(counter=False)),
        deletion=None if static else draw(st.none() | deletions),
        cells=tuple(CellWrite(c, p, draw(cells())) for c, p in sorted(addresses)),
        column_deletions=tuple((c, draw(deletions)) for c in sorted(cols)),
    )


range_tombstones = st.builds(
    RangeTombstone,
    st.sampled_from(CLUSTERINGS), st.booleans(), st.sampled_from(CLUSTERINGS), st.booleans(),
    deletions,
)


@st.composite
def updates(draw: st.DrawFn, key: bytes = KEY) -> PartitionUpdate:
    cks = draw(st.sets(st.sampled_from(CLUSTERINGS[1:]), max_size=4))
    return PartitionUpdate(
        table=TABLE,
        key=key,
        deletion=draw(st.none() | deletions),
        range_tombstones=tuple(draw(st.lists(range_tombstones, max_size=2))),
        static_row=draw(st.none() | rows(b"", static=True)),
        rows=tuple(draw(rows(ck)) for ck in sorted(cks)),
    )
