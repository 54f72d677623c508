"""writetime(), maxwritetime() and ttl() of columns, collection elements and slices, and UDT
fields, as Cassandra 5 answers them (CASSANDRA-8877; WritetimeOrTTLSelector, ColumnTimestamps).

Theory of operation
-------------------
The stamps of a selected value mirror the value: a cell written as one value (a simple column,
a frozen collection or UDT) has one stamp, which every part selected from it shares, as long as
that part is not null (an absent element, an empty slice, a null field have no stamp). A
non-frozen collection or UDT has one cell per element or field, so ``writetime(s)`` is the list
of its elements' stamps in collection order (``list<bigint>``; ``list<int>`` for ttl), a slice
the list of the elements it keeps, an element or a field the stamp of its own cell; a UDT's list
holds null for the fields without a cell. A list of no stamp, or of nulls only, is null.
``maxwritetime`` is the greatest write time of the selection.

``stamps`` computes the stamp cells of a selector chain (column, then element / slice / field
selections) over one row: one ``Cell`` (or None), or a list of them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cmp_to_key
from typing import TYPE_CHECKING

from skewless import errors
from skewless.cql.terms import Shape, pack_collection
from skewless.storage.model import Cell

if TYPE_CHECKING:
    from skewless.cql.selection import RowData, Selector, Types

Stamps = Cell | None | list[Cell | None]
Evaluate = Callable[["Selector", "RowData"], bytes | None]


def check_target(fn: str, inner: Selector) -> None:
    """writetime/maxwritetime/ttl take a regular or static column, possibly with element,
    slice or field selections on it."""
    s: Selector | None = inner
    while s is not None and s.kind in ("element", "slice", "field"):
        s = s.inner
    if s is None or s.kind != "column" or s.column is None:
        raise errors.unsupported(f"{fn}() of anything but a column, an element or a field")
    if s.column.kind in ("partition_key", "clustering"):
        raise errors.InvalidRequest(
            f"Cannot use selection function {fn} on PRIMARY KEY part {s.column.name}")


def is_multi(inner: Selector, types: Callable[[str], Shape]) -> bool:
    """Whether the selection has one stamp per element (a non-frozen collection or UDT, or a
    slice of a non-frozen collection)."""
    if inner.kind == "slice":
        assert inner.inner is not None
        return is_multi(inner.inner, types)
    return inner.kind == "column" and types(inner.type).multicell


def result_type(fn: str, multi: bool) -> str:
    base = "int" if fn == "ttl" else "bigint"
    return f"list<{base}>" if multi and fn != "maxwritetime" else base


def stamps(sel: Selector, row: RowData, types: Types, value: Evaluate) -> Stamps:
    """The stamp cell(s) of ``sel`` over ``row`` (see the module docstring)."""
    if sel.kind == "column":
        assert sel.column is not None
        cells = row.cells.get(sel.column.name)
        if not cells:
            return None
        shape = types.shape(sel.column.type)
        if not shape.multicell:
            return cells[0][1]
        return _element_cells(shape, cells, types)
    assert sel.inner is not None
    inner = stamps(sel.inner, row, types, value)
    if not isinstance(inner, list):  # one cell: shared by any non-null part
        return inner if _present(sel, value(sel, row)) else None
    shape = types.shape(sel.inner.type)
    if sel.kind == "field":
        return inner[sel.index] if sel.index < len(inner) else None
    keyed = _keyed_cells(sel.inner, row, types)
    compare = types.ctype(shape.args[0]).compare
    if sel.kind == "element":
        key = sel.bound[0]
        assert key is not None
        return next((c for k, c in keyed if compare(k, key) == 0), None)
    lo, hi = sel.bound
    return [c for k, c in keyed
            if (lo is None or compare(k, lo) >= 0) and (hi is None or compare(k, hi) <= 0)]


def _present(sel: Selector, v: bytes | None) -> bool:
    if v is None:
        return False
    return not (sel.kind == "slice" and v == pack_collection([]))


def _keyed_cells(sel: Selector, row: RowData, types: Types) -> list[tuple[bytes, Cell]]:
    """A non-frozen set's or map's cells with their keys, in key order."""
    assert sel.column is not None and sel.kind == "column"
    shape = types.shape(sel.type)
    ktype = types.ctype(shape.args[0])
    cells = row.cells.get(sel.column.name) or []
    return _by_key(cells, ktype.compare)


def _by_key(cells: list[tuple[bytes, Cell]], compare: Callable[[bytes, bytes], int]
            ) -> list[tuple[bytes, Cell]]:
    def cmp(a: tuple[bytes, Cell], b: tuple[bytes, Cell]) -> int:
        return compare(a[0], b[0])

    return sorted(cells, key=cmp_to_key(cmp))


def _element_cells(shape: Shape, cells: list[tuple[bytes, Cell]], types: Types
                   ) -> list[Cell | None]:
    if shape.kind == "udt":
        out: list[Cell | None] = [None] * len(shape.fields)
        for path, cell in cells:
            i = int(struct.unpack(">h", path)[0])
            if 0 <= i < len(out):
                out[i] = cell
        return out
    if shape.kind == "list":
        return [c for _, c in sorted(cells, key=lambda pc: pc[0])]
    ktype = types.ctype(shape.args[0])
    return [c for _, c in _by_key(cells, ktype.compare)]


def render(fn: str, st: Stamps, now_s: int) -> bytes | None:
    """The serialized writetime / maxwritetime / ttl of stamp cell(s)."""
    if isinstance(st, list):
        if fn == "maxwritetime":
            live = [c.ts_us for c in st if c is not None]
            return struct.pack(">q", max(live)) if live else None
        items = [_one(fn, c, now_s) for c in st]
        if all(x is None for x in items):
            return None
        return _pack_nullable_list(items)
    return _one(fn, st, now_s)


def _one(fn: str, cell: Cell | None, now_s: int) -> bytes | None:
    if cell is None:
        return None
    if fn == "ttl":
        if not cell.expires_s:
            return None
        return struct.pack(">i", max(cell.expires_s - now_s, 0))
    return struct.pack(">q", cell.ts_us)


def _pack_nullable_list(items: list[bytes | None]) -> bytes:
    out = [struct.pack(">i", len(items))]
    for x in items:
        out.append(struct.pack(">i", -1) if x is None else struct.pack(">i", len(x)) + x)
    return b"".join(out)

