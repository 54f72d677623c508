"""Rendering read partitions into SELECT result rows (see ``select``'s theory of operation)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from skewless.cql.grouping import Grouper
from skewless.cql.paging import PagingState
from skewless.cql.selection import Aggregator, RowData, Types, column_value, evaluate_row
from skewless.cql.where import Filter
from skewless.ring import token_of
from skewless.storage import keys
from skewless.storage.merge import LiveRow, live_view
from skewless.storage.model import Cell, PartitionUpdate

if TYPE_CHECKING:  # annotations only: ``select`` imports this module
    from skewless.cql.select import ReadPlan

Position = tuple[RowData, bytes | None]  # a candidate row and its clustering (None: static)


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """Rows of serialized cells, in ``plan.columns`` order.

    ``state`` is the position after the last row counted (None if no row was), with the limits
    still remaining; ``more`` says the page stopped at ``page_size`` with rows possibly left
    (encode ``state`` as the paging state then). ``limit_reached``: LIMIT is exhausted. A
    coordinator scanning ranges that gets neither may read further partitions and render them
    with ``resume(plan, state)`` (and a page size reduced by the rows it already has)."""

    rows: tuple[tuple[bytes | None, ...], ...]
    state: PagingState | None
    more: bool
    limit_reached: bool


@dataclass
class _Page:
    plan: ReadPlan
    types: Types
    now_s: int
    remaining: int | None
    rows: list[tuple[bytes | None, ...]] = field(default_factory=list)
    state: PagingState | None = None
    more: bool = False

    def full(self) -> bool:
        size = self.plan.page_size
        return size is not None and len(self.rows) >= size

    def limit_reached(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


def render_page(plan: ReadPlan, partitions: Sequence[PartitionUpdate], now_s: int
                ) -> RenderedPage:
    types = Types(plan.schema, plan.table.keyspace)
    page = _Page(plan, types, now_s, plan.limit)
    if plan.grouped:
        return _render_groups(plan, partitions, types, now_s)
    candidates = _candidates(plan, partitions, types, now_s)
    if plan.aggregate:
        agg = Aggregator(plan.selectors, types, now_s)
        for rd, _, _ in candidates:
            agg.add(rd)
        return RenderedPage((agg.result(),), None, False, False)
    if plan.sort_across_partitions:
        candidates = iter(_sorted_across(plan, list(candidates)))
    for rd, clustering, part_left in candidates:
        if page.limit_reached():
            break
        if page.full():
            page.more = True
            break
        page.rows.append(tuple(evaluate_row(s, rd, types, now_s) for s in plan.selectors))
        if page.remaining is not None:
            page.remaining -= 1
        done_partition = clustering is None or part_left == 0
        page.state = PagingState(rd.key, None if done_partition else clustering,
                                 page.remaining, part_left)
    else:
        # A page that filled exactly may have rows after it (the replicas were asked for at most
        # page_size rows per partition): say so, and the next page finds out (perhaps empty).
        page.more = page.full() and not page.limit_reached()
    return RenderedPage(tuple(page.rows), page.state, page.more and not page.limit_reached(),
                        page.limit_reached())


def grouper(plan: ReadPlan, types: Types, now_s: int) -> Grouper:
    """An empty GROUP BY fold of ``plan`` (LIMIT, PER PARTITION LIMIT and page in groups)."""
    assert plan.group_prefix is not None
    sort = plan.sort_across_partitions
    return Grouper(plan.selectors, types, now_s, plan.group_prefix,
                   None if sort else plan.limit, plan.per_partition_limit,
                   None if sort else plan.page_size, plan.start)


def group_into(g: Grouper, plan: ReadPlan, partitions: Sequence[PartitionUpdate],
               now_s: int) -> None:
    """Feed the rows of ``partitions`` selected by ``plan`` to ``g`` (PER PARTITION LIMIT is
    the grouper's: it counts groups)."""
    rows_plan = replace(plan, per_partition_limit=None)
    for rd, clustering, _ in _candidates(rows_plan, partitions, g.types, now_s):
        if not g.feed(rd, clustering):
            return


def _render_groups(plan: ReadPlan, partitions: Sequence[PartitionUpdate], types: Types,
                   now_s: int) -> RenderedPage:
    g = grouper(plan, types, now_s)
    group_into(g, plan, partitions, now_s)
    g.finish()
    if plan.sort_across_partitions:  # groups sorted by their first row, then LIMIT
        order = sorted(range(len(g.rows)), key=lambda i: order_key(plan, g.first_clusterings[i]),
                       reverse=plan.reversed)
        rows = [g.rows[i] for i in order][:plan.limit]
        return RenderedPage(tuple(rows), None, False, plan.limit is not None)
    return RenderedPage(tuple(g.rows), g.state, g.more, g.limit_reached())


def aggregator(plan: ReadPlan, now_s: int) -> Aggregator:
    """An empty aggregation of ``plan``'s selection, fed by ``aggregate_into``."""
    return Aggregator(plan.selectors, Types(plan.schema, plan.table.keyspace), now_s)


def aggregate_into(agg: Aggregator, plan: ReadPlan, partitions: Sequence[PartitionUpdate],
                   now_s: int) -> None:
    """Fold the rows of ``partitions`` selected by ``plan`` into ``agg`` (a scan aggregates
    its partitions a round at a time)."""
    for rd, _, _ in _candidates(plan, partitions, agg.types, now_s):
        agg.add(rd)


def _sorted_across(plan: ReadPlan, rows: list[tuple[RowData, bytes | None, int | None]]
                   ) -> list[tuple[RowData, bytes | None, int | None]]:
    """Rows of several partitions sorted on the ORDER BY columns only, ties left in read order
    (Cassandra's post-query ordering: a stable sort with a comparator on those columns)."""
    return sorted(rows, key=lambda r: order_key(plan, r[0].ck), reverse=plan.reversed)


def order_key(plan: ReadPlan, ck: Sequence[bytes]) -> bytes:
    """The order-preserving encoding of a row's ORDER BY columns."""
    cols = plan.table.clustering[:plan.order_columns]
    return keys.encode_clustering([(c.type, c.clustering_order == "desc", v)
                                   for c, v in zip(cols, ck, strict=False)])


def _in_token_range(plan: ReadPlan, token: int) -> bool:
    (lo, lo_inc), (hi, hi_inc) = plan.token_start, plan.token_end
    return (token > lo or (lo_inc and token == lo)) and (token < hi or (hi_inc and token == hi))


def _partition_wanted(plan: ReadPlan, key: bytes) -> bool:
    s = plan.start
    if plan.partition_keys is not None:
        if key not in plan.partition_keys:
            return False
        return not (s is not None and s.partition_key == key and s.clustering is None)
    tok = token_of(key)
    if not _in_token_range(plan, tok):
        return False
    if s is None:
        return True
    pos, start = (tok, key), (token_of(s.partition_key), s.partition_key)
    return pos > start or (pos == start and s.clustering is not None)


def _candidates(plan: ReadPlan, partitions: Sequence[PartitionUpdate], types: Types,
                now_s: int) -> Iterator[tuple[RowData, bytes | None, int | None]]:
    """Rows passing slices and filters, with their clustering and the partition's remaining
    PER PARTITION LIMIT after them."""
    n_pk = len(plan.table.partition_key)
    for part in partitions:
        if not _partition_wanted(plan, part.key):
            continue
        pk = keys.split_partition_key(n_pk, part.key)
        left = plan.per_partition_limit
        s = plan.start
        if s is not None and s.partition_key == part.key and left is not None:
            left = s.partition_remaining
        for rd, clustering in _partition_rows(plan, part, pk, types, now_s):
            if left is not None and left <= 0:
                break
            if not all(_matches(f, rd, types) for f in plan.filters):
                continue
            if left is not None:
                left -= 1
            yield rd, clustering, left


def _cells(*rows: LiveRow | None) -> dict[str, list[tuple[bytes, Cell]]]:
    out: dict[str, list[tuple[bytes, Cell]]] = {}
    for row in rows:
        if row is not None:
            for w in row.cells:
                out.setdefault(w.column, []).append((w.path, w.cell))
    return out


def _partition_rows(plan: ReadPlan, part: PartitionUpdate, pk: list[bytes], types: Types,
                    now_s: int) -> Iterator[Position]:
    lv = live_view(part, now_s)
    static = lv.static_row
    if plan.distinct:
        if static is not None or lv.rows:
            yield RowData(pk, [], _cells(static), part.key), None
        return
    if not plan.slices:
        if static is not None:
            yield RowData(pk, [], _cells(static), part.key), None
        return
    ck_types = [(c.type, c.clustering_order == "desc") for c in plan.table.clustering]
    ranges = [rng for sl in plan.slices_for(part.key) if (rng := sl.byte_range()) is not None]
    rows = [r for r in lv.rows if any(keys.in_range(r.clustering, rng) for rng in ranges)]
    if plan.reversed:
        rows.reverse()
    s = plan.start
    resumed = s is not None and s.partition_key == part.key and s.clustering is not None
    if resumed:
        assert s is not None and s.clustering is not None
        c = s.clustering
        rows = [r for r in rows if (r.clustering < c if plan.reversed else r.clustering > c)]
    elif not rows and static is not None and plan.full_partition:
        yield RowData(pk, [], _cells(static), part.key), None
        return
    for r in rows:
        ck = keys.decode_clustering(ck_types, r.clustering) if ck_types else []
        yield RowData(pk, ck, _cells(static, r), part.key), r.clustering


def _matches(f: Filter, rd: RowData, types: Types) -> bool:
    v = column_value(f.column, rd, types)
    if v is None:
        return False
    shape = types.shape(f.column.type)
    if f.op in ("CONTAINS", "CONTAINS KEY") or f.map_key is not None:
        return _collection_matches(f, v, shape.kind, types)
    ctype = types.ctype(f.column.type)
    if f.op == "IN":
        assert isinstance(f.value, tuple)
        return any(ctype.compare(v, x) == 0 for x in f.value)
    assert isinstance(f.value, bytes)
    c = ctype.compare(v, f.value)
    return {"=": c == 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[f.op]


def _collection_matches(f: Filter, v: bytes, kind: str, types: Types) -> bool:
    from skewless.cql.terms import split_collection

    _, args = keys.parse_type(f.column.type)
    items = split_collection(v, kind)
    if kind == "map":
        ks, vs = items[::2], items[1::2]
        if f.map_key is not None:
            kt, vt = types.ctype(args[0]), types.ctype(args[1])
            assert isinstance(f.value, bytes)
            return any(kt.compare(k, f.map_key) == 0 and vt.compare(x, f.value) == 0
                       for k, x in zip(ks, vs, strict=True))
        pool, etype = (ks, args[0]) if f.op == "CONTAINS KEY" else (vs, args[1])
    else:
        pool, etype = items, args[0]
    et = types.ctype(etype)
    assert isinstance(f.value, bytes)
    return any(et.compare(x, f.value) == 0 for x in pool)
