"""Local secondary index entries: what a stored row contributes to an index, and their keys.

Theory of operation
-------------------
Each replica indexes its own data, as Cassandra's secondary indexes do. An index entry is one
KV key with an empty value::

    'x' | u8 len(table) | table | u8 len(index) | index | escape(term) | token (8) |
    u32 len(key) | key | ('\\x00' | '\\x01' + clustering)

``term`` is the indexed value's bytes (``terms_of_row``); ``\\x00`` marks a *partition-level*
entry (a static column, or a partition key component of a partition holding only static data):
the whole partition is the candidate. ``\\x01`` + the row's order-preserving clustering marks a
row. For one term the entries sort by token, key and clustering: the same ring order as the data
keys (``storage.engine``), so a token range of one term is a key range (``scan``).

Maintenance happens inside ``Storage.apply``, the single path every write takes (client
mutations, hints, read repair, batchlog replay): the terms of each touched row before the write
(``existing``, TTL ignored, so entries of cells that expired since are removed too) and after
it (``merged``, live at ``now_s``) are compared; entries no longer produced are deleted, the
current ones written, in the same atomic batch as the data. The entries of a replica are thus a
function of its stored data, except that cells expiring by TTL leave their entries behind until
the row is written again: readers never trust an entry. They read the candidate rows and check
the restriction against the merged live data (``node.index_read``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from skewless.ring import MAX_TOKEN, token_of
from skewless.storage import keys
from skewless.storage.kv import KV
from skewless.storage.merge import is_live
from skewless.storage.model import Cell, PartitionUpdate, Row

_INDEX = b"x"
_PARTITION_LEVEL, _ROW_LEVEL = b"\x00", b"\x01"
Target = Literal["value", "values", "keys", "entries", "full"]
Candidate = tuple[bytes, bytes | None]  # (partition key, clustering or None: whole partition)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """What one index of a table indexes, in the terms storage knows."""

    name: str
    column: str
    kind: Literal["partition_key", "clustering", "regular", "static"]
    position: int  # component index for key columns
    target: Target
    collection: str  # 'list', 'set', 'map' for a non-frozen collection, else ''
    partition_key_count: int
    clustering_types: tuple[tuple[str, bool], ...]  # (type, desc) of the clustering columns
    term_type: str = ""  # SAI on a plain column: terms order-encoded as this type (ranges)


def entry_term(map_key: bytes, value: bytes) -> bytes:
    """The term of an ENTRIES index for one map entry."""
    return struct.pack(">I", len(map_key)) + map_key + value


def _live(c: Cell | None, now_s: int, ignore_ttl: bool) -> bool:
    return c is not None and c.value is not None and (ignore_ttl or is_live(c, now_s))


def _row_live(row: Row, now_s: int, ignore_ttl: bool) -> bool:
    return _live(row.marker, now_s, ignore_ttl) or any(
        _live(w.cell, now_s, ignore_ttl) for w in row.cells)


def terms_of_row(spec: IndexSpec, key: bytes, row: Row, static: bool, now_s: int,
                 ignore_ttl: bool = False) -> set[bytes]:
    """The terms ``row`` (of partition ``key``; the static row when ``static``) holds for
    ``spec``: empty when the row is not live or holds no indexed value."""
    if spec.kind == "partition_key":
        if not _row_live(row, now_s, ignore_ttl):
            return set()
        return {keys.split_partition_key(spec.partition_key_count, key)[spec.position]}
    if spec.kind == "clustering":
        if static or not _row_live(row, now_s, ignore_ttl):
            return set()
        return {keys.decode_clustering(spec.clustering_types, row.clustering)[spec.position]}
    if static != (spec.kind == "static"):
        return set()
    out: set[bytes] = set()
    for w in row.cells:
        if w.column != spec.column or not _live(w.cell, now_s, ignore_ttl):
            continue
        value = w.cell.value
        assert value is not None
        if spec.target in ("value", "full"):
            out.add(value)
        elif spec.target == "keys" or (spec.target == "values" and spec.collection == "set"):
            out.add(w.path)
        elif spec.target == "values":
            out.add(value)
        else:
            out.add(entry_term(w.path, value))
    return out


def _partition_level(spec: IndexSpec, static: bool) -> bool:
    return static and spec.kind in ("static", "partition_key")


# ---------------------------------------------------------------- keys


def _index_prefix(table: str, name: str) -> bytes:
    t, n = table.encode(), name.encode()
    assert 0 < len(t) < 256 and 0 < len(n) < 256, (table, name)
    return _INDEX + bytes((len(t),)) + t + bytes((len(n),)) + n


def table_prefix(table: str) -> bytes:
    t = table.encode()
    return _INDEX + bytes((len(t),)) + t


def _token_bytes(token: int) -> bytes:
    return struct.pack(">Q", token + (1 << 63))


def _partition_part(key: bytes) -> bytes:
    return _token_bytes(token_of(key)) + struct.pack(">I", len(key)) + key


def _term_key(term: bytes, term_type: str) -> bytes:
    """A term as it sorts in entry keys: order-preserving for a typed (SAI) index, else
    escaped bytes; self-delimiting either way."""
    return keys.encode_component(term_type, term, False) if term_type else keys.escape(term)


def entry_key(table: str, name: str, term: bytes, key: bytes, clustering: bytes | None,
              term_type: str = "") -> bytes:
    tail = _PARTITION_LEVEL if clustering is None else _ROW_LEVEL + clustering
    return _index_prefix(table, name) + _term_key(term, term_type) + _partition_part(key) + tail


def _entry_value(term: bytes, term_type: str) -> bytes:
    """An entry's value: the length of its term in the key (range scans parse with it)."""
    return struct.pack(">I", len(_term_key(term, term_type)))


def _entries_of(spec: IndexSpec, table: str, p: PartitionUpdate, now_s: int,
                ignore_ttl: bool) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    rows: list[tuple[Row, bool]] = [(r, False) for r in p.rows]
    if p.static_row is not None:
        rows.append((p.static_row, True))
    for row, static in rows:
        ck = None if _partition_level(spec, static) else row.clustering
        if static and ck is not None:
            continue  # a static row contributes only partition-level entries
        for term in terms_of_row(spec, p.key, row, static, now_s, ignore_ttl):
            k = entry_key(table, spec.name, term, p.key, ck, spec.term_type)
            out[k] = _entry_value(term, spec.term_type)
    return out


def maintenance(specs: Iterable[IndexSpec], before: PartitionUpdate, after: PartitionUpdate,
                now_s: int) -> list[tuple[bytes, bytes | None]]:
    """The index writes turning the entries of ``before``'s rows into those of ``after``'s
    (both the stored state of the same rows, before and after a write)."""
    batch: list[tuple[bytes, bytes | None]] = []
    for spec in specs:
        old = _entries_of(spec, before.table, before, now_s, ignore_ttl=True)
        new = _entries_of(spec, after.table, after, now_s, ignore_ttl=False)
        batch.extend((k, None) for k in sorted(old.keys() - new.keys()))
        batch.extend(sorted(new.items()))
    return batch


def entries_for_build(specs: Iterable[IndexSpec], p: PartitionUpdate, now_s: int
                      ) -> list[tuple[bytes, bytes | None]]:
    """The entries of a stored partition, written when an index is built over existing data."""
    return [kv for spec in specs for kv in sorted(_entries_of(spec, p.table, p, now_s,
                                                              False).items())]


# ---------------------------------------------------------------- reads


def scan(kv: KV, table: str, name: str, term: bytes, start_token: int, end_token: int,
         start_key: bytes, resume_clustering: bytes | None, limit: int, term_type: str = ""
         ) -> tuple[list[Candidate], bool]:
    """Up to ``limit`` candidates of ``term`` in the token range (start, end] (start < end), in
    ring order, after partition ``start_key`` (b'': from the range start) or, with
    ``resume_clustering``, after that row of it (its partition-level entry is kept: the reader
    narrows it). Returns the candidates and whether the range was exhausted."""
    assert start_token < end_token and limit > 0
    base = _index_prefix(table, name) + _term_key(term, term_type)
    lo = base + _token_bytes(start_token + 1)
    if start_key:
        resume = base + _partition_part(start_key)
        if resume_clustering is None:
            lo = max(lo, resume + b"\x02")
        else:
            lo = max(lo, resume)
    hi = base + _token_bytes(end_token + 1) if end_token < MAX_TOKEN else keys.prefix_successor(
        base)
    out: list[Candidate] = []
    n = len(base) + 8
    for k, _ in kv.iter_from(lo, hi):
        (length,) = struct.unpack_from(">I", k, n)
        key = k[n + 4 : n + 4 + length]
        tail = k[n + 4 + length :]
        ck = None if tail[:1] == _PARTITION_LEVEL else tail[1:]
        if start_key and key == start_key and resume_clustering is not None and ck is not None \
                and ck <= resume_clustering:
            continue
        out.append((key, ck))
        if len(out) >= limit:
            return out, False
    return out, True


Bound = tuple[bytes, bool]  # (term, inclusive)


def order(c: Candidate) -> tuple[int, int, bytes, int, bytes]:
    """A candidate's place in ring order (``node.scan.Pos`` order: a partition-level candidate
    covers its whole partition, so it sorts after the partition's rows)."""
    key, ck = c
    return (token_of(key), len(key), key, 1 if ck is None else 0, ck or b"")


def _after_resume(c: Candidate, start_key: bytes, resume_clustering: bytes | None) -> bool:
    key, ck = c
    at = (token_of(start_key), len(start_key), start_key)
    here = (token_of(key), len(key), key)
    if here != at:
        return here > at
    return resume_clustering is not None and (ck is None or ck > resume_clustering)


def scan_range(kv: KV, table: str, name: str, term_type: str, lower: Bound | None,
               upper: Bound | None, start_token: int, end_token: int, start_key: bytes,
               resume_clustering: bytes | None, limit: int) -> tuple[list[Candidate], bool]:
    """As ``scan``, for the terms between ``lower`` and ``upper`` (None: unbounded) of an index
    with ordered terms. Entries are sorted by term, not by ring position, so every call reads
    all the entries of the term range and keeps the first ``limit`` after the resume point."""
    assert term_type and start_token < end_token and limit > 0
    prefix = _index_prefix(table, name)
    lo = prefix
    if lower is not None:
        enc = prefix + _term_key(lower[0], term_type)
        lo = enc if lower[1] else (keys.prefix_successor(enc) or enc)
    hi = keys.prefix_successor(prefix)
    if upper is not None:
        enc = prefix + _term_key(upper[0], term_type)
        hi = keys.prefix_successor(enc) if upper[1] else enc
    found: set[Candidate] = set()
    for k, v in kv.iter_from(lo, hi):
        (term_len,) = struct.unpack(">I", v)
        n = len(prefix) + term_len
        token = struct.unpack_from(">Q", k, n)[0] - (1 << 63)
        if not start_token < token <= end_token:
            continue
        (length,) = struct.unpack_from(">I", k, n + 8)
        key = k[n + 12 : n + 12 + length]
        tail = k[n + 12 + length :]
        c = (key, None if tail[:1] == _PARTITION_LEVEL else tail[1:])
        if not start_key or _after_resume(c, start_key, resume_clustering):
            found.add(c)
    ordered = sorted(found, key=order)
    return ordered[:limit], len(ordered) <= limit


def drop(kv: KV, table: str, name: str) -> None:
    prefix = _index_prefix(table, name)
    end = keys.prefix_successor(prefix)
    assert end is not None
    kv.delete_range(prefix, end)


def entry_keys(kv: KV, table: str, name: str) -> Iterator[bytes]:
    """Every entry key of one index (tests and diagnostics)."""
    prefix = _index_prefix(table, name)
    for k, _ in kv.iter_from(prefix, keys.prefix_successor(prefix)):
        yield k
