"""Clustering restrictions turned into slices over order-preserving clustering prefixes.

A slice is ``(start, start_inclusive, end, end_inclusive)`` over encoded clustering prefixes
(``skewless.storage.keys``; ``b''`` unbounded), the shape of ``RangeTombstone`` and of the
storage engine's read slices. = / IN restrictions on leading clustering columns give one
prefix per combination; a bound on the next column(s) narrows each prefix to a range. A DESC
column's encoding runs backwards, so its lower value bound is an upper byte bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless import errors
from skewless.cql.where import Bound, Restrictions
from skewless.schema import ColumnDef, TableDef
from skewless.storage import keys

SliceBounds = tuple[bytes, bool, bytes, bool]


def clustering_prefixes(r: Restrictions, table: TableDef) -> tuple[list[list[bytes]], int]:
    """Cartesian product of the = / IN values over the leading clustering columns (a
    multi-column = / IN covers its columns), and how many columns that prefix spans."""
    cols = table.clustering
    if r.multi_eq is not None:
        n = len(r.multi_columns)
        combos = [list(t) for t in r.multi_eq]
    else:
        n, combos = 0, [[]]
    while n < len(cols) and cols[n].name in r.eq:
        combos = [c + [v] for c in combos for v in r.eq[cols[n].name]]
        n += 1
    return combos, n


def encode_prefix(table: TableDef, values: Sequence[bytes]) -> bytes:
    cols = table.clustering
    return keys.encode_clustering(
        [(c.type, c.clustering_order == "desc", v) for c, v in zip(cols, values, strict=False)])


def _check_order(r: Restrictions, cols: Sequence[ColumnDef], n: int) -> None:
    """Refuse restrictions on a clustering column after an unrestricted or sliced one."""
    sliced = n < len(cols) and (cols[n].name in r.lower or cols[n].name in r.upper)
    if (r.multi_lower or r.multi_upper) and n:
        raise errors.InvalidRequest("Mixing single column relations and multi column relations "
                                    "on clustering columns is not allowed")
    for c in cols[n + 1:]:
        if r.restricted(c.name) and c.name not in r.multi_columns:
            if sliced:
                raise errors.InvalidRequest(
                    f'Clustering column "{c.name}" cannot be restricted (preceding column '
                    f'"{cols[n].name}" is restricted by a non-EQ relation)')
            raise errors.InvalidRequest(f'PRIMARY KEY column "{c.name}" cannot be restricted as '
                                        f'preceding column "{cols[n].name}" is not restricted')


def _bounds(r: Restrictions, cols: Sequence[ColumnDef], n: int
            ) -> tuple[Bound | None, Bound | None, bool]:
    """The lower and upper bound values after the prefix, and whether they run DESC."""
    if r.multi_lower or r.multi_upper:
        lo, hi = r.multi_lower, r.multi_upper
        width = max(len(b[0]) for b in (lo, hi) if b is not None)
        orders = {c.clustering_order for c in cols[:width]}
        if len(orders) > 1:
            raise errors.unsupported("multi-column slices over clustering columns of mixed order")
        return lo, hi, orders == {"desc"}
    if n == len(cols):
        return None, None, False
    name = cols[n].name
    return r.lower.get(name), r.upper.get(name), cols[n].clustering_order == "desc"


def clustering_slices(r: Restrictions, table: TableDef) -> list[SliceBounds] | None:
    """The slices a WHERE clause selects within a partition, in clustering (byte) order; None
    when it restricts no clustering column."""
    cols = table.clustering
    prefixes, n = clustering_prefixes(r, table)
    _check_order(r, cols, n)
    lo, hi, desc = _bounds(r, cols, n)
    if n == 0 and lo is None and hi is None:
        return None
    if desc:
        lo, hi = hi, lo
    out: set[SliceBounds] = set()
    for p in prefixes:
        start = (encode_prefix(table, [*p, *lo[0]]), lo[1]) if lo else (encode_prefix(table, p),
                                                                          True)
        end = (encode_prefix(table, [*p, *hi[0]]), hi[1]) if hi else (encode_prefix(table, p),
                                                                      True)
        out.add((start[0], start[1], end[0], end[1]))
    return sorted(out)
