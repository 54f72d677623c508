"""The storage engine: partitions, meta and hints over an ordered key-value store.

Theory of operation
-------------------
Every piece of a partition is one KV entry, so a single-cell write touches one key and a
partition is one contiguous key range. Data keys are::

    'd' | u8 len(table) | table | token (8 bytes, sign bit flipped) | u32 len(key) | key | suffix

so partitions of a table sort by token (Murmur3, ``ring.token_of``) and a token range is a key
range. The suffix addresses a piece of the partition:

* ``00``: the partition header, ``[partition deletion, [range tombstones]]``;
* ``02`` + row entry: the static row;
* ``03`` + escape(clustering) + row entry: a row. ``keys.escape`` is order-preserving and
  prefix-free, so rows sort by clustering and a clustering range is a key range;

and a row entry is ``00`` (row header: ``[None, row deletion]``), ``02`` (the row's liveness
marker, a cell), ``01`` + escape(column) + ``00`` (a column deletion) or ``01`` +
escape(column) + ``01`` + path (a cell). The marker and the row deletion have keys of their
own so that writing a marker without reading (below) can never overwrite a deletion. A store
written before the split may still hold headers ``[marker, row deletion]``: reading takes that
marker too, reconciled with a ``02`` one (a blind write leaves the old header beside its newer
marker), and the next read-merge of the row rewrites it in the split form.

``apply`` is a read-modify-write over the entries an update touches: it reads them (the whole
partition when the update carries a partition deletion or range tombstones), merges with
``merge.merge`` and writes back the entries that changed, deleting those the merge removed
(data a new deletion shadows). An update newer than everything stored in its partition that
deletes nothing is written without the read (``storage.newest`` says when; the result and the
shadowing report are the same). Stored partitions therefore stay *normalised* (``merge.normalize``)
and equal on replicas that saw the same writes in any order. ``apply`` never syncs: the caller
applies a group of mutations, calls ``sync`` once (one WAL fsync), then acknowledges them all.
Every write marks the storage unsynced; ``take_unsynced`` tells the node whether the Ready
batch it hands over must sync (``Ready.must_sync`` is derived from it, never set by hand).

``read`` returns a partition's contents including tombstones, restricted to slices, with TTL'd
cells past ``now_s`` turned into tombstones; ``row_limit`` counts live rows only.

Meta entries are ``'m' | name``; hints are ``'h' | u8 len(target) | target | hint id`` with
hint id = created_us (8 bytes, sign-flipped) + a sequence number (8 bytes), so a target's hints
sort oldest first. A per-target counter (``'c' | target``) and the sequence (``'s'``) are written
in the same batch as the hints they count.

Batchlog entries (LOGGED batches this node keeps for their coordinator, ``node.batchlog``) are
``'b' | created_us (8 bytes, sign-flipped) | batch id`` -> the batch's mutations, so the oldest
sort first, with an index ``'B' | batch id`` -> created_us to remove one by id.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import msgpack

from skewless import limits
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.storage import codec, keys
from skewless.storage import index as sindex
from skewless.storage import newest as newest_ts
from skewless.storage.dropped import Dropped, skip_dropped, skip_dropped_row
from skewless.storage.kv import KV
from skewless.storage.merge import (
    expired_as_tombstone,
    is_live,
    merge,
    normalize,
    purge,
    reconcile_cells,
)
from skewless.storage.merge import shadowed_by as find_shadowed
from skewless.storage.model import (
    ApplyReport,
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
    Shadowed,
)

_DATA, _META, _HINT, _HINT_COUNT, _HINT_SEQ = b"d", b"m", b"h", b"c", b"s"
_BATCH, _BATCH_INDEX = b"b", b"B"
_HEADER, _STATIC, _ROWS, _ROWS_END = b"\x00", b"\x02", b"\x03", b"\x04"
_ROW_HEADER, _COLUMN, _ROW_MARKER = b"\x00", b"\x01", b"\x02"
_PARTITION_END = b"\x05"  # above every suffix
_HIGH_WATER = _META + b"timestamp_high_water"  # bounds every stored timestamp (storage.newest)


@dataclass(frozen=True, slots=True)
class Slice:
    """Clustering prefixes; ``b''`` is unbounded on its side."""

    start: bytes
    start_inclusive: bool
    end: bytes
    end_inclusive: bool


# --- keys --------------------------------------------------------------------------------------
def _table_prefix(table: str) -> bytes:
    prefix = _TABLE_PREFIXES.get(table)
    if prefix is None:
        name = table.encode()
        assert 0 < len(name) < 256, table
        prefix = _DATA + bytes((len(name),)) + name
        if len(_TABLE_PREFIXES) < limits.storage_table_prefixes_cached_max:
            _TABLE_PREFIXES[table] = prefix
    return prefix


_TABLE_PREFIXES: dict[str, bytes] = {}  # table id -> its data prefix (computed per write)
_TOKEN_AND_LENGTH = struct.Struct(">QI")


def _token_bytes(token: int) -> bytes:
    return struct.pack(">Q", token + (1 << 63))


def partition_prefix(table: str, key: bytes) -> bytes:
    return _prefix_at(table, token_of(key), key)


def _prefix_at(table: str, token: int, key: bytes) -> bytes:
    return _table_prefix(table) + _TOKEN_AND_LENGTH.pack(token + (1 << 63), len(key)) + key


def _stored_partition(stored_key: bytes, table_prefix_len: int) -> tuple[bytes, bytes]:
    """(the partition's prefix, its key) of a stored entry's key (``partition_prefix``'s
    layout: table prefix, 8-byte token, 4-byte key length, key)."""
    n = table_prefix_len
    (length,) = struct.unpack_from(">I", stored_key, n + 8)
    return stored_key[: n + 12 + length], stored_key[n + 12 : n + 12 + length]


def _row_prefix(ck: bytes) -> bytes:
    return _ROWS + keys.escape(ck)


def _row_entries(prefix: bytes, row: Row) -> Iterator[tuple[bytes, bytes]]:
    if row.deletion is not None:
        yield prefix + _ROW_HEADER, codec.pack([None, codec.deletion_fields(row.deletion)])
    if row.marker is not None:
        yield prefix + _ROW_MARKER, codec.encode_cell(row.marker)
    for col, d in row.column_deletions:
        yield prefix + _COLUMN + keys.escape(col.encode()) + b"\x00", codec.encode_deletion(d)
    for w in row.cells:
        col_key = prefix + _COLUMN + keys.escape(w.column.encode()) + b"\x01" + w.path
        yield col_key, codec.encode_cell(w.cell)


def entries_of(p: PartitionUpdate) -> dict[bytes, bytes]:
    """The KV entries (suffix -> value) holding ``p``."""
    out: dict[bytes, bytes] = {}
    if p.deletion is not None or p.range_tombstones:
        rts = [
            [t.start, t.start_inclusive, t.end, t.end_inclusive, codec.deletion_fields(t.deletion)]
            for t in p.range_tombstones
        ]
        header = [codec.deletion_fields(p.deletion), rts]
        out[_HEADER] = codec.pack(header)
    if p.static_row is not None:
        out.update(_row_entries(_STATIC, p.static_row))
    for r in p.rows:
        out.update(_row_entries(_row_prefix(r.clustering), r))
    return out


@dataclass
class _RowAcc:
    marker: Cell | None = None
    deletion: Deletion | None = None
    cells: list[CellWrite] = field(default_factory=list)
    column_deletions: list[tuple[str, Deletion]] = field(default_factory=list)

    def add(self, entry: bytes, value: bytes) -> None:
        kind = entry[:1]
        if kind == _ROW_MARKER:
            self._add_marker(codec.decode_cell(value))
            return
        if kind == _ROW_HEADER:
            marker, deletion = msgpack.unpackb(value, raw=False)
            if marker is not None:  # a header written before the marker had a key of its own
                self._add_marker(codec.cell_from(marker))
            self.deletion = codec.deletion_from(deletion)
            return
        assert kind == _COLUMN, entry
        col, pos = keys.unescape(entry, 1)
        if entry[pos] == 0:
            self.column_deletions.append((col.decode(), codec.decode_deletion(value)))
        else:
            self.cells.append(CellWrite(col.decode(), entry[pos + 1 :], codec.decode_cell(value)))

    def _add_marker(self, marker: Cell) -> None:
        self.marker = marker if self.marker is None else reconcile_cells(self.marker, marker)

    def row(self, ck: bytes) -> Row:
        return Row(
            ck, self.marker, self.deletion, tuple(sorted(self.cells, key=_address)),
            tuple(sorted(self.column_deletions)),
        )


def _address(w: CellWrite) -> tuple[str, bytes]:
    return w.column, w.path


def _header_from(value: bytes) -> tuple[Deletion | None, tuple[RangeTombstone, ...]]:
    deletion, rts = msgpack.unpackb(value, raw=False)
    return codec.deletion_from(deletion), tuple(
        RangeTombstone(s, si, e, ei, codec.required_deletion(d)) for s, si, e, ei, d in rts
    )


def decode_entries(
    table: str, key: bytes, items: Iterable[tuple[bytes, bytes]]
) -> PartitionUpdate:
    """The PartitionUpdate stored in entries (suffix, value), in any order."""
    deletion: Deletion | None = None
    rts: tuple[RangeTombstone, ...] = ()
    static: _RowAcc | None = None
    rows: dict[bytes, _RowAcc] = {}
    for suffix, value in items:
        kind = suffix[:1]
        if kind == _HEADER:
            deletion, rts = _header_from(value)
        elif kind == _STATIC:
            static = static or _RowAcc()
            static.add(suffix[1:], value)
        else:
            assert kind == _ROWS, suffix
            ck, pos = keys.unescape(suffix, 1)
            rows.setdefault(ck, _RowAcc()).add(suffix[pos:], value)
    return PartitionUpdate(
        table, key, deletion, rts, None if static is None else static.row(b""),
        tuple(rows[ck].row(ck) for ck in sorted(rows)),
    )


def _expire(row: Row, now_s: int) -> Row:
    """Cells and marker whose TTL has passed read as tombstones."""
    if not any(w.cell.expires_s for w in row.cells) \
            and (row.marker is None or not row.marker.expires_s):
        return row  # no TTL: nothing to turn (expired_as_tombstone keeps every such cell)
    cells = tuple(
        CellWrite(w.column, w.path, expired_as_tombstone(w.cell, now_s)) for w in row.cells
    )
    marker = None if row.marker is None else expired_as_tombstone(row.marker, now_s)
    return Row(row.clustering, marker, row.deletion, cells, row.column_deletions)


def _row_is_live(row: Row, now_s: int) -> bool:
    marker_live = row.marker is not None and is_live(row.marker, now_s)
    return marker_live or any(is_live(w.cell, now_s) for w in row.cells)


def _slice_ranges(slices: Sequence[Slice] | None) -> list[tuple[bytes, bytes | None]]:
    """Disjoint, ascending clustering byte ranges covering the slices."""
    if slices is None or (len(slices) == 1 and not slices[0].start and not slices[0].end):
        return [(b"", None)]  # every row (the one slice of a table without clustering)
    ranges = sorted(
        (r for s in slices
         if (r := keys.clustering_range(s.start, s.start_inclusive, s.end, s.end_inclusive))),
        key=lambda r: (r[0], r[1] is None, r[1] or b""),
    )
    out: list[tuple[bytes, bytes | None]] = []
    for lo, hi in ranges:
        prev_hi = out[-1][1] if out else b""
        if out and (prev_hi is None or lo <= prev_hi):
            out[-1] = (out[-1][0], None if hi is None or prev_hi is None else max(prev_hi, hi))
        else:
            out.append((lo, hi))
    return out


_WHOLE: list[tuple[bytes, bytes | None]] = [(b"", None)]  # _slice_ranges(None): every row


def _keep_row(row: Row, rows: list[Row], now_s: int, dropped: Dropped) -> int:
    """Append ``row`` as read (dropped columns skipped, TTL past turned into tombstones) to
    ``rows`` unless nothing is left of it; 1 when it is live."""
    kept = skip_dropped_row(row, dropped)
    if kept is None:
        return 0
    row = _expire(kept, now_s)
    rows.append(row)
    return int(_row_is_live(row, now_s))


def _rt_overlaps(t: RangeTombstone, ranges: list[tuple[bytes, bytes | None]]) -> bool:
    rng = keys.clustering_range(t.start, t.start_inclusive, t.end, t.end_inclusive)
    if rng is None:
        return False
    lo, hi = rng
    return any((hi is None or s_lo < hi) and (s_hi is None or lo < s_hi) for s_lo, s_hi in ranges)


class Storage:
    """Partitions, meta and hints of one node over a ``KV``."""

    def __init__(self, kv: KV, newest_buckets: int = limits.storage_newest_buckets_count) -> None:
        self._kv = kv
        self._newest_buckets = newest_buckets
        seq = kv.get(_HINT_SEQ)
        self._hint_seq = 0 if seq is None else struct.unpack(">Q", seq)[0]
        self._hint_counts: dict[str, int] = {}
        self._batch_count: int | None = None
        # table id -> its dropped columns' drop times, set by the node from its schema: their
        # cells are skipped by reads, applied updates and purges (``storage.dropped``)
        self.dropped: Mapping[str, Dropped] = {}
        # table id -> its secondary indexes, maintained by ``apply`` (set by the node from the
        # schema; see ``storage.index``)
        self.index_specs: dict[str, tuple[sindex.IndexSpec, ...]] = {}
        self._newest: newest_ts.NewestTimestamps | None = None  # at the first apply
        self._unsynced = False  # written since the last take_unsynced or sync

    def _write(self, batch: Sequence[tuple[bytes, bytes | None]]) -> None:
        self._unsynced = True
        self._kv.write(batch)

    def _delete_range(self, start: bytes, end: bytes) -> None:
        self._unsynced = True
        self._kv.delete_range(start, end)

    def take_unsynced(self) -> bool:
        """Whether anything was written since the last call (or ``sync``): the Ready batch
        taken now must sync before it acknowledges (``Node.take_ready``)."""
        unsynced, self._unsynced = self._unsynced, False
        return unsynced

    # --- writes ------------------------------------------------------------------------------
    def _stored(self, prefix: bytes, update: PartitionUpdate) -> dict[bytes, bytes]:
        """The stored entries ``update`` may change (suffix -> value)."""
        if update.deletion is not None or update.range_tombstones:
            return self._entries(prefix, b"", _PARTITION_END)
        out: dict[bytes, bytes] = {}
        header = self._kv.get(prefix + _HEADER)
        if header is not None:
            out[_HEADER] = header
        if update.static_row is not None:
            out.update(self._entries(prefix, _STATIC, _ROWS))
        for r in update.rows:
            start = _row_prefix(r.clustering)
            out.update(self._entries(prefix, start, keys.prefix_successor(start)))
        return out

    def _entries(self, prefix: bytes, lo: bytes, hi: bytes | None) -> dict[bytes, bytes]:
        end = prefix + (_PARTITION_END if hi is None else hi)
        n = len(prefix)
        return {k[n:]: v for k, v in self._kv.iter_from(prefix + lo, end)}

    def apply(self, update: PartitionUpdate, now_s: int,
              bounds: tuple[int, int, bool] | None = None) -> ApplyReport:
        """Merge ``update`` into the stored partition; report what did not take effect. No fsync.
        ``bounds``: ``storage.newest.bounds(update)`` when the caller has it already."""
        token = token_of(update.key)
        prefix = _prefix_at(update.table, token, update.key)
        newest = self._newest_index()
        oldest_us, newest_us, deletes = newest_ts.bounds(update) if bounds is None else bounds
        shadowed: tuple[Shadowed, ...] = ()
        batch: list[tuple[bytes, bytes | None]]
        if not deletes and self._may_write_blind(update, token, oldest_us):
            batch = [(prefix + s, v) for s, v in entries_of(update).items()]  # blind
        else:
            batch, shadowed = self._merged(prefix, update, now_s)
        newest.raise_to(token, newest_us)
        if batch:
            mark = newest.mark_needed(newest_us)
            if mark is not None:
                batch.append((_HIGH_WATER, newest_ts.encode_high_water(mark)))
            self._write(batch)
            if mark is not None:
                newest.marked(mark)
        return ApplyReport(shadowed)

    def blind_apply_possible(self, update: PartitionUpdate) -> bool:
        """Whether ``apply`` would write ``update`` without reading (tests)."""
        oldest_us, _, deletes = newest_ts.bounds(update)
        return not deletes and self._may_write_blind(update, token_of(update.key), oldest_us)

    def _may_write_blind(self, update: PartitionUpdate, token: int, oldest_us: int) -> bool:
        """An update that deletes nothing is written without reading (``storage.newest``)."""
        return self._newest_index().blind(token, oldest_us) \
            and not self.index_specs.get(update.table) and not self.dropped.get(update.table)

    def _newest_index(self) -> newest_ts.NewestTimestamps:
        if self._newest is None:
            raw = self._kv.get(_HIGH_WATER)
            if raw is not None:
                self._newest = newest_ts.NewestTimestamps(newest_ts.decode_high_water(raw), True,
                                                          self._newest_buckets)
            else:  # a new store, or one from before the mark: read every data entry once
                end = keys.prefix_successor(_DATA)
                values = (v for _, v in self._kv.iter_from(_DATA, end))
                self._newest = newest_ts.NewestTimestamps(newest_ts.newest_of_values(values),
                                                          False, self._newest_buckets)
        return self._newest

    def _merged(
        self, prefix: bytes, update: PartitionUpdate, now_s: int
    ) -> tuple[list[tuple[bytes, bytes | None]], tuple[Shadowed, ...]]:
        """The read-merge path: the batch that makes the stored partition ``merge(stored,
        update)``, and what the update could not overwrite."""
        stored = self._stored(prefix, update)
        dropped = self.dropped.get(update.table, {})
        update = skip_dropped(update, dropped)
        existing = skip_dropped(decode_entries(update.table, update.key, stored.items()),
                                dropped)
        shadowed = find_shadowed(existing, update)
        merged_update = merge(existing, update)
        merged = entries_of(merged_update)
        batch: list[tuple[bytes, bytes | None]] = [
            (prefix + s, v) for s, v in merged.items() if stored.get(s) != v
        ]
        batch.extend((prefix + s, None) for s in stored if s not in merged)
        specs = self.index_specs.get(update.table)
        if specs and batch:
            batch.extend(sindex.maintenance(specs, existing, merged_update, now_s))
        return batch, shadowed

    # --- reads -------------------------------------------------------------------------------
    def read(
        self, table: str, key: bytes, now_s: int, slices: Sequence[Slice] | None = None,
        reverse: bool = False, row_limit: int | None = None,
    ) -> PartitionUpdate:
        """Partition contents with tombstones, within ``slices``, up to ``row_limit`` live rows.

        With ``reverse`` the *last* rows are selected when limited; rows are always returned in
        ascending clustering order."""
        assert row_limit is None or row_limit > 0
        prefix = partition_prefix(table, key)
        ranges = _slice_ranges(slices)
        dropped = self.dropped.get(table, {})
        if not reverse and ranges == _WHOLE:
            return self._read_whole(table, key, prefix, now_s, row_limit, dropped)
        header = self._kv.get(prefix + _HEADER)
        deletion, rts = (None, ()) if header is None else _header_from(header)
        static = skip_dropped(
            decode_entries(table, key, self._entries(prefix, _STATIC, _ROWS).items()), dropped)
        rows = self._read_rows(prefix, ranges, reverse, row_limit, now_s, dropped)
        p = PartitionUpdate(
            table, key, deletion, tuple(t for t in rts if _rt_overlaps(t, ranges)),
            None if static.static_row is None else _expire(static.static_row, now_s),
            tuple(sorted(rows, key=lambda r: r.clustering)),
        )
        return normalize(p)

    def _read_whole(
        self, table: str, key: bytes, prefix: bytes, now_s: int, row_limit: int | None,
        dropped: Dropped,
    ) -> PartitionUpdate:
        """``read`` of every row in ascending order: header, static row and rows in one
        ascending scan of the partition (they sort in that order), stopping after the row that
        makes ``row_limit`` live rows."""
        n = len(prefix)
        header: bytes | None = None
        static: _RowAcc | None = None
        rows: list[Row] = []
        live = 0
        current: tuple[bytes, _RowAcc] | None = None
        for k, v in self._kv.iter_from(prefix, prefix + _PARTITION_END):
            kind = k[n : n + 1]
            if kind == _ROWS:
                ck, pos = keys.unescape(k, n + 1)
                if current is None or current[0] != ck:
                    if current is not None:
                        live += _keep_row(current[1].row(current[0]), rows, now_s, dropped)
                        current = None
                        if row_limit is not None and live >= row_limit:
                            break
                    current = (ck, _RowAcc())
                current[1].add(k[pos:], v)
            elif kind == _HEADER:
                header = v
            else:
                assert kind == _STATIC, k
                static = static or _RowAcc()
                static.add(k[n + 1 :], v)
        if current is not None:
            _keep_row(current[1].row(current[0]), rows, now_s, dropped)
        deletion, rts = (None, ()) if header is None else _header_from(header)
        static_row = None
        if static is not None:
            static_row = skip_dropped(
                PartitionUpdate(table, key, None, (), static.row(b""), ()), dropped).static_row
        p = PartitionUpdate(
            table, key, deletion, tuple(t for t in rts if _rt_overlaps(t, _WHOLE)),
            None if static_row is None else _expire(static_row, now_s), tuple(rows),
        )
        return normalize(p)

    def _read_rows(
        self, prefix: bytes, ranges: list[tuple[bytes, bytes | None]], reverse: bool,
        row_limit: int | None, now_s: int, dropped: Dropped,
    ) -> list[Row]:
        rows: list[Row] = []
        live = 0
        for ck, acc in self._row_stream(prefix, ranges, reverse):
            kept = skip_dropped_row(acc.row(ck), dropped)
            if kept is None:
                continue
            row = _expire(kept, now_s)
            rows.append(row)
            live += _row_is_live(row, now_s)
            if row_limit is not None and live >= row_limit:
                break
        return rows

    def _row_stream(
        self, prefix: bytes, ranges: list[tuple[bytes, bytes | None]], reverse: bool
    ) -> Iterator[tuple[bytes, _RowAcc]]:
        """Rows (clustering, entries) in the ranges, grouped, in (reverse) clustering order."""
        n = len(prefix)
        for lo, hi in reversed(ranges) if reverse else ranges:
            end = prefix + (_ROWS_END if hi is None else _row_prefix(hi))
            current: tuple[bytes, _RowAcc] | None = None
            for k, v in self._kv.iter_from(prefix + _row_prefix(lo), end, reverse):
                ck, pos = keys.unescape(k, n + 1)
                if current is None or current[0] != ck:
                    if current is not None:
                        yield current
                    current = (ck, _RowAcc())
                current[1].add(k[pos:], v)
            if current is not None:
                yield current

    def stored(self, table: str, key: bytes) -> PartitionUpdate:
        """A partition exactly as stored (tombstones and TTL'd cells as written, none turned
        into tombstones by the clock): what repair hashes and exchanges."""
        prefix = partition_prefix(table, key)
        items = self._entries(prefix, b"", _PARTITION_END).items()
        return skip_dropped(decode_entries(table, key, items), self.dropped.get(table, {}))

    def scan(
        self, table: str, token_start_exclusive: int, token_end_inclusive: int, now_s: int,
        partition_limit: int, row_limit: int, start_after_key: bytes | None = None,
    ) -> list[PartitionUpdate]:
        """Partitions of the token range (start, end] in ring order; wraps when start >= end.

        ``partition_limit`` counts partitions with live rows, ``row_limit`` live rows in all;
        partitions holding only tombstones are returned but not counted."""
        assert partition_limit > 0 and row_limit > 0
        out: list[PartitionUpdate] = []
        rows_left, partitions_left = row_limit, partition_limit
        for key in self._partition_keys(table, token_start_exclusive, token_end_inclusive,
                                        start_after_key):
            p = self.read(table, key, now_s, row_limit=rows_left)
            out.append(p)
            live_rows = sum(_row_is_live(r, now_s) for r in p.rows)
            has_static = p.static_row is not None and _row_is_live(p.static_row, now_s)
            rows_left -= live_rows
            partitions_left -= 1 if live_rows or has_static else 0
            if rows_left <= 0 or partitions_left <= 0:
                break
        return out

    def partition_keys(
        self, table: str, start: int, end: int, start_after_key: bytes | None = None
    ) -> Iterator[bytes]:
        """Keys of the stored partitions in the token range (start, end], lazily, in ring order
        (wrapping when start >= end), after ``start_after_key`` if given."""
        return self._partition_keys(table, start, end, start_after_key)

    def _partition_keys(
        self, table: str, start: int, end: int, start_after_key: bytes | None
    ) -> Iterator[bytes]:
        tp = _table_prefix(table)
        segments = [(start, end)] if start < end else [(start, MAX_TOKEN), (MIN_TOKEN, end)]
        resume = None
        if start_after_key is not None:
            resume = partition_prefix(table, start_after_key) + _PARTITION_END
        for lo, hi in segments:
            if lo >= hi:
                continue
            lo_key = tp + _token_bytes(lo + 1)
            hi_key = tp + _token_bytes(hi + 1) if hi < MAX_TOKEN else keys.prefix_successor(tp)
            if resume is not None and lo_key <= resume and (hi_key is None or resume < hi_key):
                lo_key, resume = resume, None
            elif resume is not None:
                continue  # the resume point lies in a later segment
            yield from self._keys_between(len(tp), lo_key, hi_key)

    def _keys_between(self, n: int, lo: bytes, hi: bytes | None) -> Iterator[bytes]:
        while True:
            first = next(self._kv.iter_from(lo, hi), None)
            if first is None:
                return
            prefix, key = _stored_partition(first[0], n)
            yield key
            lo = prefix + _PARTITION_END

    # --- maintenance ---------------------------------------------------------------------------
    def partition_stats(self, table: str, limit: int) -> list[tuple[int, int]]:
        """(stored bytes, stored entries) of each of the table's first ``limit`` partitions in
        ring order, tombstones included (nodetool tablestats and tablehistograms)."""
        tp = _table_prefix(table)
        n = len(tp)
        out: list[tuple[int, int]] = []
        current = b""
        for k, v in self._kv.iter_from(tp, keys.prefix_successor(tp)):
            partition, _ = _stored_partition(k, n)
            if partition != current:
                if len(out) == limit:
                    break
                current = partition
                out.append((0, 0))
            size, entries = out[-1]
            out[-1] = (size + len(k) + len(v), entries + 1)
        return out

    def purge_tombstones(self, table: str, gc_grace_s: int, now_s: int,
                         purge_now_s: Callable[[int], int] | None = None) -> int:
        """Drop tombstones older than gc_grace and what they shadow; returns entries removed.

        ``purge_now_s``, given a partition's token, returns the time to purge it as of instead
        of ``now_s`` (earlier: fewer tombstones go; ``node.repaired``)."""
        removed = 0
        tp = _table_prefix(table)
        for key in list(self._keys_between(len(tp), tp, keys.prefix_successor(tp))):
            prefix = partition_prefix(table, key)
            stored = self._entries(prefix, b"", _PARTITION_END)
            p = skip_dropped(decode_entries(table, key, stored.items()),
                             self.dropped.get(table, {}))
            as_of = now_s if purge_now_s is None else min(now_s, purge_now_s(token_of(key)))
            kept = entries_of(purge(p, as_of, gc_grace_s))
            batch: list[tuple[bytes, bytes | None]] = [
                (prefix + s, v) for s, v in kept.items() if stored.get(s) != v
            ]
            gone = [s for s in stored if s not in kept]
            batch.extend((prefix + s, None) for s in gone)
            removed += len(gone)
            if batch:
                self._write(batch)
        return removed

    def truncate(self, table: str) -> None:
        tp = _table_prefix(table)
        end = keys.prefix_successor(tp)
        assert end is not None
        self._delete_range(tp, end)
        ip = sindex.table_prefix(table)
        ip_end = keys.prefix_successor(ip)
        assert ip_end is not None
        self._delete_range(ip, ip_end)

    def build_index_entries(self, table: str, key: bytes, specs: Sequence[sindex.IndexSpec],
                            now_s: int) -> None:
        """Write the entries the stored partition ``key`` holds for ``specs`` (index build)."""
        prefix = partition_prefix(table, key)
        p = decode_entries(table, key, self._entries(prefix, b"", _PARTITION_END).items())
        batch = sindex.entries_for_build(specs, p, now_s)
        if batch:
            self._write(batch)

    @property
    def kv(self) -> KV:
        """The underlying store (``storage.index`` reads and writes its entries there)."""
        return self._kv

    def drop_partition(self, table: str, key: bytes, now_s: int) -> None:
        """Remove a partition outright, tombstones included (cleanup of data not owned), and
        its secondary index entries with it."""
        prefix = partition_prefix(table, key)
        specs = self.index_specs.get(table)
        if specs:
            stored = decode_entries(table, key, self._entries(prefix, b"", _PARTITION_END).items())
            gone = sindex.maintenance(specs, stored, PartitionUpdate(table, key), now_s)
            if gone:
                self._write(gone)
        self._delete_range(prefix, prefix + _PARTITION_END)

    def drop_table(self, table: str) -> None:
        self.truncate(table)

    def sync(self) -> None:
        self._kv.sync()
        self._unsynced = False

    def forget_cached_counts(self) -> None:
        """Count hints and batches from the store again (it was reopened after a failed
        write, which may have left the cached counts ahead of it)."""
        self._hint_counts.clear()
        self._batch_count = None

    def close(self) -> None:
        self._kv.close()

    def size_bytes(self) -> int:
        return self._kv.size_bytes()

    # --- meta ----------------------------------------------------------------------------------
    def get_meta(self, name: str) -> bytes | None:
        return self._kv.get(_META + name.encode())

    def put_meta(self, name: str, value: bytes) -> None:
        self._write([(_META + name.encode(), value)])

    def delete_meta(self, name: str) -> None:
        self._write([(_META + name.encode(), None)])

    def meta_after(self, prefix: str, after: str, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` meta entries whose names start with ``prefix`` (ASCII), in name
        order, from the first name above ``after`` (a sweep's cursor; "" from the start)."""
        lo = _META + (after.encode() + b"\x00" if after else prefix.encode())
        hi = _META + prefix.encode() + b"\xff"
        out: list[tuple[str, bytes]] = []
        for k, v in self._kv.iter_from(lo, hi):
            out.append((k[len(_META):].decode(), v))
            if len(out) >= limit:
                break
        return out

    # --- hints ---------------------------------------------------------------------------------
    @staticmethod
    def _hint_prefix(target: str) -> bytes:
        name = target.encode()
        assert 0 < len(name) < 256, target
        return _HINT + bytes((len(name),)) + name

    def hint_count(self, target: str) -> int:
        if target not in self._hint_counts:
            raw = self._kv.get(_HINT_COUNT + target.encode())
            self._hint_counts[target] = 0 if raw is None else struct.unpack(">Q", raw)[0]
        return self._hint_counts[target]

    def _count_batch(self, target: str, count: int) -> tuple[bytes, bytes | None]:
        self._hint_counts[target] = count
        return _HINT_COUNT + target.encode(), struct.pack(">Q", count) if count else None

    def add_hint(self, target: str, created_us: int, payload: bytes) -> bool:
        """Store a hint for ``target``; False (nothing stored) when its hint log is full."""
        count = self.hint_count(target)
        if count >= limits.hints_per_target_max:
            return False
        self._hint_seq += 1
        hint_id = _token_bytes(created_us) + struct.pack(">Q", self._hint_seq)
        self._write([
            (self._hint_prefix(target) + hint_id, payload),
            (_HINT_SEQ, struct.pack(">Q", self._hint_seq)),
            self._count_batch(target, count + 1),
        ])
        return True

    def hints(self, target: str, limit: int) -> list[tuple[bytes, int, bytes]]:
        """Up to ``limit`` (hint id, created_us, payload), oldest first."""
        prefix = self._hint_prefix(target)
        out = []
        for k, v in self._kv.iter_from(prefix, keys.prefix_successor(prefix)):
            hint_id = k[len(prefix) :]
            out.append((hint_id, struct.unpack(">Q", hint_id[:8])[0] - (1 << 63), v))
            if len(out) >= limit:
                break
        return out

    def remove_hints(self, target: str, ids: Sequence[bytes]) -> None:
        prefix = self._hint_prefix(target)
        present = [i for i in set(ids) if self._kv.get(prefix + i) is not None]
        if not present:
            return
        batch: list[tuple[bytes, bytes | None]] = [(prefix + i, None) for i in present]
        batch.append(self._count_batch(target, self.hint_count(target) - len(present)))
        self._write(batch)

    def hint_targets(self) -> list[str]:
        end = keys.prefix_successor(_HINT_COUNT)
        return [k[1:].decode() for k, _ in self._kv.iter_from(_HINT_COUNT, end)]

    # --- batchlog ------------------------------------------------------------------------------
    def batch_count(self) -> int:
        if self._batch_count is None:  # counted once: at most batchlog_entries_max keys
            end = keys.prefix_successor(_BATCH_INDEX)
            self._batch_count = sum(1 for _ in self._kv.iter_from(_BATCH_INDEX, end))
        return self._batch_count

    def add_batch(self, batch_id: bytes, created_us: int, payload: bytes) -> bool:
        """Keep a LOGGED batch; False (nothing stored) when the batchlog is full. No fsync."""
        if self._kv.get(_BATCH_INDEX + batch_id) is not None:
            return True  # a duplicated store
        count = self.batch_count()
        if count >= limits.batchlog_entries_max:
            return False
        created = _token_bytes(created_us)
        self._write([(_BATCH + created + batch_id, payload),
                        (_BATCH_INDEX + batch_id, created)])
        self._batch_count = count + 1
        return True

    def batches_before(self, cutoff_us: int, limit: int) -> list[tuple[bytes, int, bytes]]:
        """Up to ``limit`` (batch id, created_us, payload) created before ``cutoff_us``, oldest
        first."""
        out: list[tuple[bytes, int, bytes]] = []
        for k, v in self._kv.iter_from(_BATCH, _BATCH + _token_bytes(cutoff_us)):
            if len(out) >= limit:
                break
            created_us = struct.unpack(">Q", k[1:9])[0] - (1 << 63)
            out.append((k[9:], created_us, v))
        return out

    def remove_batch(self, batch_id: bytes) -> None:
        created = self._kv.get(_BATCH_INDEX + batch_id)
        if created is None:
            return
        count = self.batch_count()
        self._write([(_BATCH + created + batch_id, None), (_BATCH_INDEX + batch_id, None)])
        self._batch_count = count - 1
