"""Reconciliation of partition contents: pure functions over ``storage.model`` values.

Theory of operation
-------------------
``merge`` is the join of a semilattice, so replicas converge whatever order updates arrive in:

1. *Union.* Deletions at each level (partition, per range-tombstone bounds, row, column) combine
   by maximum ``(ts_us, deleted_s)``; cells and row markers at one address combine by
   ``reconcile_cells``, a total order over every field of a cell that follows Cassandra 5's
   ``Cells.resolveRegular``: higher ``ts_us``; at equal timestamps a cell with a local deletion
   time (a tombstone or an expiring cell) over a plain live one, a tombstone over an expiring
   cell, then the later local deletion time (``deleted_s`` of a tombstone, ``expires_s`` of an
   expiring cell), and only then the greater value bytes; the remaining fields (``ttl_s``...)
   break the ties Cassandra leaves to argument order, so that the result never depends on it.
   Row markers reconcile the same way (``LivenessInfo.supersedes``: expiring over not, later
   expiry first). Each of these is commutative, associative and idempotent. Where a counter
   cell (``Cell.counter``) meets another cell, ``storage.counters.reconcile`` decides instead:
   two counter cells merge their per-replica shards, any other cell (a tombstone) wins over a
   counter cell whatever the timestamps; that is still a semilattice join over every cell.
2. *Normalisation.* Everything a deletion shadows (``ts_us <= deletion.ts_us``: at equal
   timestamps the deletion wins, ``DeletionTime.deletes``) is removed:
   range tombstones under the partition deletion, row deletions and markers under the partition
   deletion or a covering range tombstone, column deletions and cells under any of those or
   their row deletion, cells under their column deletion. A counter cell is removed by any
   deletion covering it, whatever the timestamps, as a counter cell's own tombstone always
   wins. Removing shadowed data before a further merge never changes the outcome, because an
   address's later winner is at most as new as what was removed only if it is shadowed too (a
   removed tombstone could beat a newer counter cell, but the deletion that removed it removes
   that counter cell as well), and shadowing deletions are never removed except by a deletion
   that shadows at least as much. So ``merge(merge(a, b), c)`` equals
   ``merge(a, merge(b, c))``, and two replicas holding the same logical data hold the same
   bytes: their ``digest``s agree even if one of them once received since-deleted data.

Range tombstones are kept as a set (one per distinct bounds), not split into disjoint ranges;
``purge`` drops them with the rest of the tombstones once ``gc_grace`` has passed.

Time only enters through ``now_s`` arguments: ``live_view`` hides cells whose TTL has expired,
``purge`` drops tombstones (and expired cells) older than ``gc_grace_s``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace

from skewless.storage import codec, counters, keys
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
    Shadowed,
    value_class,
)


@value_class
class LiveRow:
    clustering: bytes  # b'' for the static row
    cells: tuple[CellWrite, ...]  # live cells only, sorted by (column, path)
    marker: Cell | None = None  # the live row marker, if any


@value_class
class LiveView:
    static_row: LiveRow | None
    rows: tuple[LiveRow, ...]  # ascending clustering order


# --- cells and deletions -----------------------------------------------------------------------
def _rank(c: Cell) -> tuple[int, int, int, bytes, int, int, int]:
    """Cassandra 5's order (Cells.resolveRegular), then every other field: greater wins."""
    if c.value is None:
        kind, local_deletion_s = 2, c.deleted_s  # tombstone
    elif c.expires_s:
        kind, local_deletion_s = 1, c.expires_s  # expiring
    else:
        kind, local_deletion_s = 0, 0  # live, no local deletion time
    return (c.ts_us, kind, local_deletion_s, c.value or b"", c.expires_s, c.deleted_s, c.ttl_s)


def reconcile_cells(a: Cell, b: Cell) -> Cell:
    """The winner of two versions of one cell (symmetric: never depends on argument order);
    counter cells merge (``storage.counters.reconcile``)."""
    if a.counter or b.counter:
        return counters.reconcile(a, b)
    return a if _rank(a) >= _rank(b) else b


def _loses(incoming: Cell, existing: Cell) -> bool:
    """Whether ``incoming`` does not take effect against ``existing`` at one address. Two
    counter cells merge (neither loses); a counter cell loses to any other cell."""
    if incoming.counter or existing.counter:
        return incoming.counter and not existing.counter
    return _rank(existing) > _rank(incoming)


def _max_deletion(a: Deletion | None, b: Deletion | None) -> Deletion | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if (a.ts_us, a.deleted_s) >= (b.ts_us, b.deleted_s) else b


def _strongest(a: Deletion, b: Deletion) -> Deletion:
    return a if (a.ts_us, a.deleted_s) >= (b.ts_us, b.deleted_s) else b


def _max_cell(a: Cell | None, b: Cell | None) -> Cell | None:
    if a is None:
        return b
    return a if b is None else reconcile_cells(a, b)


_NO_DELETION_TS = -(1 << 63) - 1  # below every timestamp: what no deletion shadows


def _ts(d: Deletion | None) -> int:
    return _NO_DELETION_TS if d is None else d.ts_us


def _outlives(c: Cell, floor_ts: int) -> bool:
    """Whether a cell survives the deletions covering it (the newest at ``floor_ts``): a
    regular cell when newer, a counter cell only when nothing covers it."""
    return floor_ts == _NO_DELETION_TS if c.counter else c.ts_us > floor_ts


def is_live(c: Cell, now_s: int) -> bool:
    return c.value is not None and (c.expires_s == 0 or now_s < c.expires_s)


def _rt_range(t: RangeTombstone) -> tuple[bytes, bytes | None] | None:
    return keys.clustering_range(t.start, t.start_inclusive, t.end, t.end_inclusive)


def covering_deletion(rts: Iterable[RangeTombstone], clustering: bytes) -> Deletion | None:
    """The strongest range tombstone deletion covering a clustering."""
    best: Deletion | None = None
    for t in rts:
        rng = _rt_range(t)
        if rng is not None and keys.in_range(clustering, rng):
            best = _max_deletion(best, t.deletion)
    return best


# --- union -------------------------------------------------------------------------------------
def _union_rows(a: Row | None, b: Row | None) -> Row | None:
    if a is None or b is None:
        return a if b is None else b
    return _union_row_pair(a, b)


def _union_row_pair(a: Row, b: Row) -> Row:
    cells: dict[tuple[str, bytes], Cell] = {(w.column, w.path): w.cell for w in a.cells}
    for w in b.cells:
        prev = cells.get((w.column, w.path))
        cells[(w.column, w.path)] = w.cell if prev is None else reconcile_cells(prev, w.cell)
    col_dels: dict[str, Deletion] = dict(a.column_deletions)
    for col, d in b.column_deletions:
        col_dels[col] = d if col not in col_dels else _strongest(col_dels[col], d)
    return Row(
        clustering=a.clustering,
        marker=_max_cell(a.marker, b.marker),
        deletion=_max_deletion(a.deletion, b.deletion),
        cells=tuple(CellWrite(c, p, cells[(c, p)]) for c, p in sorted(cells)),
        column_deletions=tuple(sorted(col_dels.items())),
    )


def _union(a: PartitionUpdate, b: PartitionUpdate) -> PartitionUpdate:
    assert a.table == b.table, (a.table, b.table)
    assert a.key == b.key
    rows = {r.clustering: r for r in a.rows}
    for r in b.rows:
        prev = rows.get(r.clustering)
        rows[r.clustering] = r if prev is None else _union_row_pair(prev, r)
    return PartitionUpdate(
        table=a.table,
        key=a.key,
        deletion=_max_deletion(a.deletion, b.deletion),
        range_tombstones=a.range_tombstones + b.range_tombstones,
        static_row=_union_rows(a.static_row, b.static_row),
        rows=tuple(rows[c] for c in sorted(rows)),
    )


# --- normalisation -----------------------------------------------------------------------------
def _canonical_rts(
    rts: Iterable[RangeTombstone], partition: Deletion | None
) -> tuple[RangeTombstone, ...]:
    best: dict[tuple[bytes, bool, bytes, bool], Deletion] = {}
    for t in rts:
        bounds = (t.start, t.start_inclusive, t.end, t.end_inclusive)
        d = _max_deletion(best.get(bounds), t.deletion)
        assert d is not None
        best[bounds] = d
    return tuple(
        RangeTombstone(s, si, e, ei, d)
        for (s, si, e, ei), d in sorted(best.items(), key=lambda kv: kv[0])
        if d.ts_us > _ts(partition) and _rt_range(RangeTombstone(s, si, e, ei, d)) is not None
    )


def normalize_row(row: Row, outer: Deletion | None) -> Row | None:
    """``row`` without what ``outer`` (partition/range deletion) or its own deletions shadow."""
    deletion = row.deletion if _ts(row.deletion) > _ts(outer) else None
    floor = max(_ts(outer), _ts(deletion))
    col_dels = tuple((c, d) for c, d in row.column_deletions if d.ts_us > floor)
    col_floor = dict(col_dels)
    cells = tuple(
        w for w in row.cells if _outlives(w.cell, max(floor, _ts(col_floor.get(w.column))))
    )
    marker = row.marker if row.marker is not None and row.marker.ts_us > floor else None
    if marker is None and deletion is None and not cells and not col_dels:
        return None
    return Row(row.clustering, marker, deletion, cells, col_dels)


def _plain(r: Row) -> bool:
    """A row ``normalize_row`` returns as it is when nothing outside it deletes."""
    return r.deletion is None and not r.column_deletions and (r.marker is not None or
                                                               bool(r.cells))


def normalize(p: PartitionUpdate) -> PartitionUpdate:
    """``p`` without shadowed data: the canonical form ``merge`` returns."""
    if p.deletion is None and not p.range_tombstones \
            and (p.static_row is None or _plain(p.static_row)) and all(map(_plain, p.rows)):
        return p  # nothing deletes: already canonical (the common read)
    rts = _canonical_rts(p.range_tombstones, p.deletion)
    rows = []
    for r in p.rows:
        outer = _max_deletion(p.deletion, covering_deletion(rts, r.clustering))
        n = normalize_row(r, outer)
        if n is not None:
            rows.append(n)
    static = None if p.static_row is None else normalize_row(p.static_row, p.deletion)
    return replace(p, range_tombstones=rts, static_row=static, rows=tuple(rows))


def merge(a: PartitionUpdate, b: PartitionUpdate) -> PartitionUpdate:
    """The reconciled contents of two versions of one partition (commutative, associative,
    idempotent; the result is normalised)."""
    return normalize(_union(a, b))


def merge_many(updates: Sequence[PartitionUpdate]) -> PartitionUpdate:
    """``merge`` of every update of one partition in one pass (the same result: the union is
    associative and normalising once removes what normalising each step would): linear, where
    folding ``merge`` over a 10,000-row batch rebuilt the growing partition at every step."""
    assert updates
    first = updates[0]
    rows: dict[bytes, Row] = {}
    static: Row | None = None
    deletion: Deletion | None = None
    rts: list[RangeTombstone] = []
    for u in updates:
        assert u.table == first.table and u.key == first.key, (u.table, first.table)
        for r in u.rows:
            prev = rows.get(r.clustering)
            rows[r.clustering] = r if prev is None else _union_row_pair(prev, r)
        static = _union_rows(static, u.static_row)
        deletion = _max_deletion(deletion, u.deletion)
        rts.extend(u.range_tombstones)
    return normalize(PartitionUpdate(
        table=first.table, key=first.key, deletion=deletion, range_tombstones=tuple(rts),
        static_row=static, rows=tuple(rows[c] for c in sorted(rows))))


# --- time-dependent views ----------------------------------------------------------------------
def _live_row(row: Row, now_s: int) -> LiveRow | None:
    cells = tuple(w for w in row.cells if is_live(w.cell, now_s))
    marker = row.marker if row.marker is not None and is_live(row.marker, now_s) else None
    if not cells and marker is None:
        return None
    return LiveRow(row.clustering, cells, marker)


def live_view(p: PartitionUpdate, now_s: int) -> LiveView:
    """The live rows (marker or a cell live) with their live cells, after every deletion."""
    n = normalize(p)
    static = None if n.static_row is None else _live_row(n.static_row, now_s)
    if static is not None and not static.cells:
        static = None
    rows = tuple(lr for r in n.rows if (lr := _live_row(r, now_s)) is not None)
    return LiveView(static, rows)


def expired_as_tombstone(c: Cell, now_s: int) -> Cell:
    """A TTL'd cell past its expiry reads as a tombstone deleted at its expiry time."""
    if c.value is None or c.expires_s == 0 or now_s < c.expires_s:
        return c
    return Cell(c.ts_us, None, deleted_s=c.expires_s)


def _purgeable(deleted_s: int, now_s: int, gc_grace_s: int) -> bool:
    return deleted_s + gc_grace_s < now_s


def _purge_cell(c: Cell | None, now_s: int, gc_grace_s: int) -> Cell | None:
    if c is None:
        return None
    c = expired_as_tombstone(c, now_s)
    return None if c.value is None and _purgeable(c.deleted_s, now_s, gc_grace_s) else c


def _purge_deletion(d: Deletion | None, now_s: int, gc_grace_s: int) -> Deletion | None:
    return None if d is None or _purgeable(d.deleted_s, now_s, gc_grace_s) else d


def purge_row(row: Row, now_s: int, gc_grace_s: int) -> Row | None:
    """A normalised row without tombstones older than gc_grace (expired cells become tombstones)."""
    cells = []
    for w in row.cells:
        c = _purge_cell(w.cell, now_s, gc_grace_s)
        if c is not None:
            cells.append(CellWrite(w.column, w.path, c))
    col_dels = tuple(
        (col, d) for col, d in row.column_deletions if _purge_deletion(d, now_s, gc_grace_s)
    )
    marker = _purge_cell(row.marker, now_s, gc_grace_s)
    deletion = _purge_deletion(row.deletion, now_s, gc_grace_s)
    if marker is None and deletion is None and not cells and not col_dels:
        return None
    return Row(row.clustering, marker, deletion, tuple(cells), col_dels)


def purge(p: PartitionUpdate, now_s: int, gc_grace_s: int) -> PartitionUpdate:
    """Drop shadowed data, then tombstones (and expired cells) deleted over gc_grace ago."""
    n = normalize(p)
    rows = tuple(r for x in n.rows if (r := purge_row(x, now_s, gc_grace_s)) is not None)
    static = None if n.static_row is None else purge_row(n.static_row, now_s, gc_grace_s)
    rts = tuple(
        t for t in n.range_tombstones if not _purgeable(t.deletion.deleted_s, now_s, gc_grace_s)
    )
    deletion = _purge_deletion(n.deletion, now_s, gc_grace_s)
    return replace(n, deletion=deletion, range_tombstones=rts, static_row=static, rows=rows)


# --- comparison --------------------------------------------------------------------------------
def digest(p: PartitionUpdate) -> bytes:
    """16-byte hash of the canonical encoding of ``p`` (callers digest normalised contents,
    as ``Storage.read`` returns them)."""
    return hashlib.blake2b(codec.encode_update(p), digest_size=16).digest()


def _row_diff(merged: Row, replica: Row | None) -> Row | None:
    if replica is None:
        return merged
    have = {(w.column, w.path): w.cell for w in replica.cells}
    have_dels = dict(replica.column_deletions)
    cells = tuple(w for w in merged.cells if have.get((w.column, w.path)) != w.cell)
    col_dels = tuple((c, d) for c, d in merged.column_deletions if have_dels.get(c) != d)
    marker = merged.marker if merged.marker != replica.marker else None
    deletion = merged.deletion if merged.deletion != replica.deletion else None
    if marker is None and deletion is None and not cells and not col_dels:
        return None
    return Row(merged.clustering, marker, deletion, cells, col_dels)


def diff(merged: PartitionUpdate, replica: PartitionUpdate) -> PartitionUpdate | None:
    """What ``replica`` lacks of ``merged`` (= merge of it and others): the read-repair mutation.

    ``merge(replica, diff(merged, replica)) == merged``; None when the replica is up to date."""
    have = {r.clustering: r for r in replica.rows}
    rows = tuple(d for r in merged.rows if (d := _row_diff(r, have.get(r.clustering))))
    static = None
    if merged.static_row is not None:
        static = _row_diff(merged.static_row, replica.static_row)
    have_rts = set(replica.range_tombstones)
    rts = tuple(t for t in merged.range_tombstones if t not in have_rts)
    deletion = merged.deletion if merged.deletion != replica.deletion else None
    if deletion is None and not rts and static is None and not rows:
        return None
    return PartitionUpdate(merged.table, merged.key, deletion, rts, static, rows)


# --- shadowing ---------------------------------------------------------------------------------
def _row_shadowed(
    old: Row | None, new: Row, outer_old: Deletion | None, outer_new: Deletion | None
) -> list[Shadowed]:
    """Shadowed parts where ``new`` (incoming) meets ``old`` (existing) at one clustering."""
    out: list[Shadowed] = []
    ck = new.clustering
    old_floor = outer_old if old is None else _max_deletion(outer_old, old.deletion)
    old_cells: dict[tuple[str, bytes], Cell] = {}
    old_cols: dict[str, Deletion] = {}
    if old is not None:
        old_cells = {(w.column, w.path): w.cell for w in old.cells}
        old_cols = dict(old.column_deletions)
        if old.marker is not None:
            old_cells[("", b"")] = old.marker
    incoming = [(w.column, w.path, w.cell) for w in new.cells]
    if new.marker is not None:
        incoming.append(("", b"", new.marker))
    for col, path, cell in incoming:
        existing = old_cells.get((col, path))
        if existing is not None and _loses(cell, existing):
            out.append(Shadowed(ck, col, path, cell.ts_us, existing.ts_us))
            continue
        d = _max_deletion(old_floor, old_cols.get(col) if col else None)
        if d is not None and (cell.counter or d.ts_us >= cell.ts_us):
            out.append(Shadowed(ck, col, path, cell.ts_us, d.ts_us))
    new_floor = _max_deletion(outer_new, new.deletion)
    if old is not None and new_floor is not None:
        out.extend(_survivors(old, new_floor, dict(new.column_deletions)))
    elif old is not None and new.column_deletions:
        out.extend(_survivors(old, None, dict(new.column_deletions)))
    return out


def _survivors(old: Row, floor: Deletion | None, col_dels: dict[str, Deletion]) -> list[Shadowed]:
    """Existing cells newer than an incoming deletion covering them: the deletion missed them."""
    out = []
    if floor is not None and old.marker is not None and old.marker.ts_us > floor.ts_us:
        out.append(Shadowed(old.clustering, "", b"", floor.ts_us, old.marker.ts_us))
    for w in old.cells:
        d = _max_deletion(floor, col_dels.get(w.column))
        if d is not None and w.cell.ts_us > d.ts_us and not w.cell.counter:
            out.append(Shadowed(old.clustering, w.column, w.path, d.ts_us, w.cell.ts_us))
    return out


def shadowed_by(existing: PartitionUpdate, incoming: PartitionUpdate) -> tuple[Shadowed, ...]:
    """Parts of ``incoming`` that do not take effect against ``existing``.

    * an incoming cell or row marker (column ``''``) that loses to a different existing version
      at its address (a counter cell merges with a counter cell, so it loses only to a
      tombstone), or that an existing deletion with ``ts_us >=`` its own shadows;
    * an existing cell or marker that an incoming deletion covers but does not delete because it
      is newer (reported with the deletion's ts as ``incoming_ts_us``).

    Only what ``existing`` holds is compared: callers pass every stored row an incoming deletion
    covers."""
    old = normalize(existing)
    old_rows = {r.clustering: r for r in old.rows}
    new_rows = {r.clustering: r for r in incoming.rows}
    out: list[Shadowed] = []
    for ck in sorted(old_rows.keys() | new_rows.keys()):
        outer_old = _max_deletion(old.deletion, covering_deletion(old.range_tombstones, ck))
        outer_new = _max_deletion(
            incoming.deletion, covering_deletion(incoming.range_tombstones, ck)
        )
        new = new_rows.get(ck, Row(ck))
        out.extend(_row_shadowed(old_rows.get(ck), new, outer_old, outer_new))
    if incoming.static_row is not None or incoming.deletion is not None:
        new_static = incoming.static_row or Row(b"")
        out.extend(_row_shadowed(old.static_row, new_static, old.deletion, incoming.deletion))
    return tuple(out)
