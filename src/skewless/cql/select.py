"""SELECT planned as a read (which partitions, which rows) and rendered into result rows.

Theory of operation
-------------------
``plan_select`` turns a SELECT and its bound values into a frozen ``ReadPlan``:

* **Partitions.** = / IN on every partition key column gives a list of routed keys. Their order
  is Cassandra's: each column's IN values sorted by the column type and de-duplicated, combined
  in lexicographic order (Cassandra builds them into a sorted set with the partition key's
  comparator, then reads the partitions in that order). Otherwise the plan is a token range
  scan, bounded by ``token(pk) >, >=, <, <=, =`` restrictions (exclusive of the ring's minimum
  token by default); partitions come back in (token, key) order.
* **Rows.** = / IN on leading clustering columns and a bound on the next column(s) (single- or
  multi-column) become slices over the order-preserving clustering encoding, ascending. ORDER
  BY against the clustering order sets ``reversed``. A query selecting only partition key and
  static columns reads no rows (one result row per partition with static data).
* **Filtering.** Restrictions that select no key range (regular or static columns, CONTAINS,
  partial partition keys, clustering columns out of order) are ``Filter``s evaluated on each
  read row; they need ALLOW FILTERING, as in Cassandra, unless a secondary index serves them
  (``cql.index_plan``): a scan then reads the index's candidates (``ReadPlan.index``,
  ``node.index_read``) and the filters check every candidate row.
* **Paging.** A decoded ``PagingState`` drops partitions before the last one returned and rows
  up to the last row returned; LIMIT and PER PARTITION LIMIT continue from the counts it holds.

``render`` takes the partitions a coordinator read (already merged across replicas, in plan
order), applies ``live_view`` at ``now_s``, the slices, filters, the selection, aggregates and
the limits, and stops at ``page_size`` rows, reporting where the next page starts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key

from skewless import errors
from skewless.cql import ast, fixed, in_guardrails, index_plan, key_sizes
from skewless.cql.grouping import group_prefix
from skewless.cql.paging import PagingState
from skewless.cql.results import ColumnSpec
from skewless.cql.select_render import RenderedPage as RenderedPage  # re-exported
from skewless.cql.select_render import render_page
from skewless.cql.selection import (
    Selector,
    bind_selectors,
    compile_selection,
    result_columns,
)
from skewless.cql.slices import clustering_slices
from skewless.cql.terms import Env, EvalContext, Unset, evaluate
from skewless.cql.types import CqlType
from skewless.cql.where import Filter, Restrictions, collect
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.schema import Schema, TableDef
from skewless.storage import keys
from skewless.storage.model import PartitionUpdate

FILTERING_MSG = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING")
AGGREGATE_IN_WARNING = "Aggregation query used on multiple partition keys (IN restriction)"
INDEX_WITH_IN_MSG = (
    "Select on indexed columns and with IN clause for the PRIMARY KEY are not supported")
ORDER_BY_IN_PAGING_MSG = (
    "Cannot page queries with both ORDER BY and a IN restriction on the partition key; you must "
    "either remove the ORDER BY or the IN and sort client side, or disable paging for this query")


@dataclass(frozen=True, slots=True)
class ClusteringSlice:
    """Rows whose clustering lies between two encoded prefixes (``b''``: unbounded), the same
    fields as storage.engine's Slice (defined here because that module did not exist yet)."""

    start: bytes
    start_inclusive: bool
    end: bytes
    end_inclusive: bool

    def byte_range(self) -> tuple[bytes, bytes | None] | None:
        return keys.clustering_range(self.start, self.start_inclusive, self.end,
                                     self.end_inclusive)


FULL_SLICE = ClusteringSlice(b"", True, b"", True)


@dataclass(frozen=True)
class ReadPlan:
    table: TableDef
    schema: Schema
    selectors: tuple[Selector, ...]
    columns: tuple[ColumnSpec, ...]
    partition_keys: tuple[bytes, ...] | None  # None: a token range scan
    token_start: tuple[int, bool] = (MIN_TOKEN, False)  # (token, inclusive)
    token_end: tuple[int, bool] = (MAX_TOKEN, True)
    slices: tuple[ClusteringSlice, ...] = (FULL_SLICE,)  # ascending; () = static row only
    full_partition: bool = True  # no clustering/regular restriction: static-only rows count
    reversed: bool = False
    filters: tuple[Filter, ...] = ()
    limit: int | None = None  # rows still allowed (after paging)
    per_partition_limit: int | None = None
    page_size: int | None = None
    distinct: bool = False
    aggregate: bool = False
    sort_across_partitions: bool = False  # IN on the partition key with ORDER BY
    order_columns: int = 0  # the clustering columns ORDER BY names (the sort key across)
    key_in: bool = False  # the partition key is restricted by IN
    start: PagingState | None = None  # resume after this position
    json: bool = False  # SELECT JSON: each row rendered as one JSON object
    group_prefix: int | None = None  # GROUP BY: clustering columns in a group (grouping.py)

    @property
    def grouped(self) -> bool:
        return self.group_prefix is not None
    index: index_plan.IndexQuery | None = None  # a scan answered from a secondary index

    @property
    def is_scan(self) -> bool:
        return self.partition_keys is None

    def slices_for(self, partition_key: bytes) -> tuple[ClusteringSlice, ...]:
        """The slices to read in one partition, narrowed after the paging position."""
        s = self.start
        if s is None or s.partition_key != partition_key or s.clustering is None:
            return self.slices
        return tuple(n for sl in self.slices if (n := _after(sl, s.clustering, self.reversed)))

    def row_limit_hint(self) -> int | None:
        """At most this many rows per partition are needed (None: unknown or unbounded)."""
        if self.filters or self.aggregate or self.sort_across_partitions or self.grouped:
            return None
        bounds = [n for n in (self.limit, self.per_partition_limit, self.page_size) if n]
        if self.distinct:
            return 1
        return min(bounds) if bounds else None


def _after(sl: ClusteringSlice, c: bytes, reverse: bool) -> ClusteringSlice | None:
    rng = sl.byte_range()
    if rng is None:
        return None
    lo, hi = rng
    if not reverse:
        if c < lo:
            return sl
        if hi is not None and c >= hi:
            return None
        return ClusteringSlice(c, False, sl.end, sl.end_inclusive)
    if hi is not None and c >= hi:
        return sl
    if c < lo:
        return None
    return ClusteringSlice(sl.start, sl.start_inclusive, c, False)


def key_warnings(plan: ReadPlan) -> tuple[str, ...]:
    """Cassandra's client warning for an aggregate or GROUP BY over an IN on the partition key
    (SelectStatement.execute)."""
    grouped = plan.aggregate or plan.grouped
    return (AGGREGATE_IN_WARNING,) if grouped and plan.key_in else ()


def column_specs(plan: ReadPlan) -> tuple[ColumnSpec, ...]:
    return plan.columns


def select_result_columns(stmt: ast.Select, table: TableDef, schema: Schema
                          ) -> tuple[ColumnSpec, ...]:
    """The result metadata of a SELECT, known without bound values (PREPARE)."""
    if stmt.json:
        return (json_column(table),)
    return result_columns(compile_selection(stmt, table, schema), table)


def json_column(table: TableDef) -> ColumnSpec:
    """SELECT JSON answers one text column, ``[json]``."""
    return ColumnSpec(table.keyspace, table.name, "[json]", "text")


# ---------------------------------------------------------------- planning


def plan_select(stmt: ast.Select, table: TableDef, schema: Schema, ctx: EvalContext,
                paging: PagingState | None = None, page_size: int | None = None) -> ReadPlan:
    """The read plan of a SELECT; ``paging`` resumes after a previous page's last row."""
    env = Env(ctx, schema, table.keyspace)
    selectors = bind_selectors(compile_selection(stmt, table, schema), env)
    aggregate = any(s.is_aggregate for s in selectors)
    in_guardrails.check_literal_lists(stmt.where, table)  # before evaluating 100,000 values
    in_guardrails.check_bound_lists(stmt.where, table, ctx.values)  # before decoding them
    r = collect(stmt.where, table, env)
    for c in table.clustering:
        if c.name in r.eq_is_in:
            in_guardrails.check_cartesian("clustering keys", len(r.eq[c.name]))
    filters = list(r.filters)
    choice = index_plan.choose(table, schema, r)
    _check_filtering(stmt, filters, choice)
    pkeys = _partition_keys(stmt, table, r, filters, env, choice)
    _check_static_only(selectors, table, r)
    slices, filters = _slices(stmt, table, r, filters, choice)
    if slices == []:  # an empty IN on a clustering column: ReadQuery.empty, as in Cassandra
        pkeys = []
    ck_filtered = any(f.column.kind == "clustering" for f in filters)
    if choice is not None and choice.used(pkeys is not None and not ck_filtered):
        if any(c.name in r.eq_is_in for c in table.partition_key):
            raise errors.InvalidRequest(INDEX_WITH_IN_MSG)
        if stmt.order_by:
            raise errors.InvalidRequest("ORDER BY with 2ndary indexes is not supported.")
    if stmt.distinct:
        if stmt.per_partition_limit is not None:
            raise errors.InvalidRequest(
                "PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries")
        _check_distinct(stmt, table, selectors, slices, filters)
    reverse = _reversed(stmt, table, pkeys)
    group = group_prefix(stmt.group_by, table, _eq_columns(r), stmt.distinct)
    limit = _limit(stmt.limit, "limit", env)
    pplimit = _limit(stmt.per_partition_limit, "per partition limit", env)
    sort_across = pkeys is not None and len(pkeys) > 1 and bool(stmt.order_by)
    if sort_across and page_size and (
            aggregate or group is not None or limit is None or limit > page_size):
        # Cassandra pages GROUP BY and aggregates internally whatever the LIMIT, and refuses to
        # page with post-query ordering (SelectStatement.execute)
        raise errors.InvalidRequest(ORDER_BY_IN_PAGING_MSG)
    plan = ReadPlan(
        table=table, schema=schema, selectors=selectors,
        columns=(json_column(table),) if stmt.json else result_columns(selectors, table),
        partition_keys=None if pkeys is None else tuple(pkeys),
        token_start=r.token_lower or (MIN_TOKEN, False),
        token_end=r.token_upper or (MAX_TOKEN, True),
        slices=tuple(ClusteringSlice(*s) for s in slices or [(b"", True, b"", True)]),
        full_partition=slices is None and not any(
            f.column.kind in ("regular", "clustering") for f in filters),
        reversed=reverse, filters=tuple(filters), limit=limit, per_partition_limit=pplimit,
        page_size=None if aggregate and group is None else page_size, distinct=stmt.distinct,
        aggregate=aggregate and group is None, sort_across_partitions=sort_across,
        order_columns=len(stmt.order_by),
        key_in=any(c.name in r.eq_is_in for c in table.partition_key),
        json=stmt.json, group_prefix=group,
        index=choice.query if choice is not None and pkeys is None else None,
    )
    return plan if paging is None else resume(plan, paging)


def resume(plan: ReadPlan, state: PagingState) -> ReadPlan:
    """``plan`` continued after ``state``'s position, with its remaining limits."""
    from dataclasses import replace

    pkeys = plan.partition_keys
    token_start = plan.token_start
    if pkeys is not None:
        if state.partition_key in pkeys:
            i = pkeys.index(state.partition_key)
            pkeys = pkeys[i + (1 if state.clustering is None else 0):]
    else:
        token_start = max(token_start, (token_of(state.partition_key), True))
    return replace(plan, partition_keys=pkeys, token_start=token_start, start=state,
                   limit=state.remaining if plan.limit is not None else None)


def _check_filtering(stmt: ast.Select, filters: list[Filter],
                     choice: index_plan.IndexChoice | None) -> None:
    """Restrictions no index serves need ALLOW FILTERING (``cql.index_plan``)."""
    if stmt.allow_filtering:
        return
    for f in filters:
        if choice is None or not choice.serves(f):
            raise errors.InvalidRequest(FILTERING_MSG)


def _partition_keys(stmt: ast.Select, table: TableDef, r: Restrictions, filters: list[Filter],
                    env: Env, choice: index_plan.IndexChoice | None) -> list[bytes] | None:
    pk = table.partition_key
    restricted = [c for c in pk if r.restricted(c.name)]
    if r.token_columns and restricted:
        names = ", ".join(c.name for c in restricted)
        raise errors.InvalidRequest(
            f'Columns "{names}" cannot be restricted by both a normal relation and a token '
            f'relation')
    full_eq = all(c.name in r.eq for c in pk)
    if restricted and full_eq:
        ctypes = [env.ctype(c.type) for c in pk]
        values = [_sorted_distinct(r.eq[c.name], t) for c, t in zip(pk, ctypes, strict=True)]
        in_guardrails.check_partition_keys(table, math.prod(len(v) for v in values))
        return [key_sizes.routed_key(p) for p in itertools.product(*values)]
    if not restricted:
        return None
    slice_cols = [c for c in restricted if c.name not in r.eq]
    pk_filters = [f for c in restricted for f in _column_filters(r, c.name, table)]
    if choice is not None and all(choice.serves(f) for f in pk_filters):
        filters.extend(pk_filters)  # an indexed partition key component
        return None
    if not stmt.allow_filtering:
        if slice_cols:
            raise errors.InvalidRequest(
                "Only EQ and IN relation are supported on the partition key (unless you use the "
                "token() function or allow filtering)")
        raise errors.InvalidRequest(FILTERING_MSG)
    for c in restricted:
        filters.extend(_column_filters(r, c.name, table))
    return None


def _eq_columns(r: Restrictions) -> list[str]:
    """Columns restricted by = (not IN), for GROUP BY's rule on skipped key columns."""
    eq = [name for name in r.eq if name not in r.eq_is_in]
    if r.multi_eq is not None and len(r.multi_eq) == 1:
        eq.extend(r.multi_columns)
    return eq


def _sorted_distinct(values: Sequence[bytes], t: CqlType) -> list[bytes]:
    compare = t.compare
    out: list[bytes] = []
    for v in sorted(values, key=cmp_to_key(compare)):
        if not out or compare(out[-1], v) != 0:
            out.append(v)
    return out


def _column_filters(r: Restrictions, name: str, table: TableDef) -> list[Filter]:
    col = table.column(name)
    assert col is not None
    out = []
    if name in r.eq:
        vals = tuple(r.eq[name])
        out.append(Filter(col, "IN", vals) if name in r.eq_is_in else Filter(col, "=", vals[0]))
    if name in r.lower:
        out.append(Filter(col, ">=" if r.lower[name][1] else ">", r.lower[name][0][0]))
    if name in r.upper:
        out.append(Filter(col, "<=" if r.upper[name][1] else "<", r.upper[name][0][0]))
    return out


SliceBounds = tuple[bytes, bool, bytes, bool]


def _slices(stmt: ast.Select, table: TableDef, r: Restrictions, filters: list[Filter],
            choice: index_plan.IndexChoice | None) -> tuple[list[SliceBounds] | None, list[Filter]]:
    ck_restricted = any(r.restricted(c.name) for c in table.clustering)
    if not ck_restricted:
        return None, filters
    indexed = choice is not None and choice.query is not None
    if not all(r.restricted(c.name) and c.name in r.eq for c in table.partition_key) and (
            not stmt.allow_filtering) and not indexed:
        raise errors.InvalidRequest(FILTERING_MSG)
    try:
        return clustering_slices(r, table), filters
    except errors.InvalidRequest:
        if not (stmt.allow_filtering or indexed) or r.multi_columns:
            raise
    extra = [f for c in table.clustering for f in _column_filters(r, c.name, table)]
    if not stmt.allow_filtering:
        _check_filtering(stmt, extra, choice)
    return None, filters + extra


def _check_distinct(stmt: ast.Select, table: TableDef, selectors: Sequence[Selector],
                    slices: object, filters: Sequence[Filter]) -> None:
    cols = [s.column for s in selectors if s.kind == "column"]
    for c in cols:
        assert c is not None
        if c.kind not in ("partition_key", "static"):
            raise errors.InvalidRequest(f"SELECT DISTINCT queries must only request partition "
                                        f"key columns and/or static columns (not {c.name})")
    missing = [c.name for c in table.partition_key if c not in cols]
    if missing and not all(s.is_aggregate for s in selectors):
        raise errors.InvalidRequest(f"SELECT DISTINCT queries must request all the partition "
                                    f"key columns (missing {', '.join(missing)})")
    if slices is not None or any(f.column.kind in ("clustering", "regular") for f in filters):
        raise errors.InvalidRequest("SELECT DISTINCT with WHERE clause only supports "
                                    "restriction by partition key and/or static columns.")


def _reversed(stmt: ast.Select, table: TableDef, pkeys: list[bytes] | None) -> bool:
    if not stmt.order_by:
        return False
    if pkeys is None:
        raise errors.InvalidRequest(
            "ORDER BY is only supported when the partition key is restricted by an EQ or an IN.")
    clustering = table.clustering
    flips = set()
    for i, (name, direction) in enumerate(stmt.order_by):
        col = table.column(name)
        if col is None:
            raise errors.InvalidRequest(f"Order by on unknown column {name}")
        if col.kind != "clustering":
            raise errors.InvalidRequest(f"Order by is currently only supported on the clustered "
                                        f"columns of the PRIMARY KEY, got {name}")
        if i >= len(clustering) or clustering[i].name != name:
            raise errors.InvalidRequest("Order by currently only supports the ordering of "
                                        "columns following their declared order in the "
                                        "PRIMARY KEY")
        declared_desc = col.clustering_order == "desc"
        flips.add(declared_desc != (direction == "DESC"))
    if len(flips) > 1:
        raise errors.InvalidRequest("Unsupported order by relation")
    return flips == {True}


def _check_static_only(selectors: Sequence[Selector], table: TableDef, r: Restrictions) -> None:
    """A selection of static (and partition key) columns only may not restrict clustering
    columns (StatementRestrictions). Without such a restriction it reads whole partitions like
    any SELECT: one result row per live row, the static values repeated, and the static row
    alone only for a partition without rows (SelectStatement.processPartition); only DISTINCT
    returns one row per partition."""
    cols = []
    for s in selectors:
        node: Selector | None = s
        while node is not None:
            if node.column is not None:
                cols.append(node.column)
            node = node.inner
    static_only = any(c.kind == "static" for c in cols) and all(
        c.kind in ("partition_key", "static") for c in cols)
    if static_only and any(r.restricted(c.name) for c in table.clustering):
        raise errors.InvalidRequest(
            "Cannot restrict clustering columns when selecting only static columns")


def _limit(term: ast.Term | None, what: str, env: Env) -> int | None:
    if term is None:
        return None
    v = evaluate(term, "int", env, f"[{what.replace(' ', '_')}]")
    if isinstance(v, Unset):
        return None
    if v is None:
        raise errors.InvalidRequest(f"Invalid null value of {what}")
    n = fixed.unpack(">i", v, what)
    if n <= 0:
        raise errors.InvalidRequest(f"{what.upper()} must be strictly positive")
    return n


# ---------------------------------------------------------------- rendering


def render(plan: ReadPlan, partitions: Sequence[PartitionUpdate], now_s: int
           ) -> RenderedPage:
    """The result rows of ``partitions`` (merged, in plan order) under ``plan``; counter cells
    are rendered as their totals (``storage.counters.read_view``)."""
    from skewless.storage.counters import read_view
    from skewless.storage.dropped import skip_dropped

    dropped = plan.table.dropped_times()  # a replica may not have the drop yet
    page = render_page(plan, [read_view(skip_dropped(p, dropped)) for p in partitions], now_s)
    if not plan.json:
        return page
    from dataclasses import replace

    return replace(page, rows=json_rows(plan, page.rows))


def json_rows(plan: ReadPlan, rows: Sequence[tuple[bytes | None, ...]]
              ) -> tuple[tuple[bytes | None, ...], ...]:
    """SELECT JSON: each rendered row as one ``[json]`` text value (unchanged otherwise)."""
    if not plan.json:
        return tuple(rows)
    from skewless.cql.json_codec import row_json
    from skewless.cql.selection import Types
    from skewless.cql.types_collections import quote_identifier

    types = Types(plan.schema, plan.table.keyspace)
    names = [quote_identifier(s.name) if s.kind == "column" else s.name
             for s in plan.selectors]
    ctypes = [types.ctype(s.type) for s in plan.selectors]
    return tuple((row_json(names, ctypes, r).encode(),) for r in rows)
