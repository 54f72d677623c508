"""One CQL page of a scan: rounds of range reads (``node.scan``) rendered into result rows.

Theory of operation
-------------------
A SELECT planned as a token range scan (``cql.select.ReadPlan.is_scan``) starts at the plan's
lower token bound, or after the paging state's last row (the state holds the partition key and
clustering, so any node continues any page), and ends at the upper bound. ``ScanPage`` asks
``node.scan.start_round`` for the partitions from its position, renders each round's merged
partitions with the plan (``select.render``: filters, DISTINCT, PER PARTITION LIMIT, LIMIT),
and continues after what the round covered until the page holds ``page_size`` rows, LIMIT is
reached or the range is exhausted. After a round that rendered rows, the plan is resumed after
the last of them (``select.resume``) with the page size reduced by the rows already held.
Aggregates fold every round into one ``Aggregator`` and answer one row at the end; no round's
partitions are kept after it is rendered.

Each round asks replicas for at most the rows the page still needs (``scan_response_rows_max``
when filtering or aggregating, where that is unknown). A round that completes at once (every
replica is this node) is processed in the same loop rather than by recursion.

A scan without paging (no page size from the client) answers at most ``cql_page_rows_max``
rows; beyond that it is refused (Invalid), naming the fetch size as the remedy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from skewless import limits
from skewless.cql import paging, select
from skewless.cql.grouping import Grouper
from skewless.cql.results import RowsResult
from skewless.cql.select_render import aggregate_into, aggregator, group_into, grouper
from skewless.cql.selection import Types
from skewless.errors import CqlError, InvalidRequest, ServerError
from skewless.node.scan import Pos, RoundResult, RoundSpec, scan_end, scan_start, start_round
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.schema import KeyspaceDef

if TYPE_CHECKING:
    from skewless.node.ports import ScanHost

log = logging.getLogger("skewless.scan")

PageDone = Callable[[CqlError | None, RowsResult | None], None]


AGGREGATE_WARNING = "Aggregation query used without partition key"


def warnings_of(plan: select.ReadPlan) -> tuple[str, ...]:
    """Cassandra's client warning for an aggregate without a partition key or token bound."""
    whole_ring = plan.token_start == (MIN_TOKEN, False) and plan.token_end == (MAX_TOKEN, True)
    pk_filter = any(f.column.kind == "partition_key" for f in plan.filters)
    grouped = plan.aggregate or plan.grouped
    return (AGGREGATE_WARNING,) if grouped and whole_ring and not pk_filter else ()


def read_scan(node: ScanHost, ks: KeyspaceDef, plan: select.ReadPlan, cl: int, now_s: int,
              done: PageDone) -> None:
    """Answer one page of the scan ``plan`` at ``cl`` through ``done``. Raises Unavailable
    when the first round cannot be sent."""
    assert plan.is_scan
    ScanPage(node, ks, plan, cl, now_s, done).start()


class ScanPage:
    def __init__(self, node: ScanHost, ks: KeyspaceDef, plan: select.ReadPlan, cl: int,
                 now_s: int, done: PageDone) -> None:
        if plan.token_end[0] == MIN_TOKEN:  # Cassandra: the minimum token as an end = ring end
            plan = replace(plan, token_end=(MAX_TOKEN, True))
        self.node, self.ks, self.cl, self.now_s, self.done = node, ks, cl, now_s, done
        self.unpaged = plan.page_size is None and not plan.aggregate
        if self.unpaged:
            plan = replace(plan, page_size=limits.cql_page_rows_max + 1)  # one more: refuse
        self.page_size = plan.page_size
        self.plan = plan
        self.end = scan_end(*plan.token_end)
        self.pos = scan_start(*plan.token_start)
        s = plan.start
        if s is not None:
            resumed = Pos(token_of(s.partition_key), s.partition_key, s.clustering)
            self.pos = max(self.pos, resumed, key=Pos.order)
        self.rows: list[tuple[bytes | None, ...]] = []
        self.agg = aggregator(plan, now_s) if plan.aggregate else None
        self.groups = grouper(plan, Types(plan.schema, plan.table.keyspace), now_s) \
            if plan.grouped else None
        self.finished = False
        self._starting = False
        self._sync: tuple[CqlError | None, RoundResult | None] | None = None

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        """The first round's Unavailable propagates to the caller (the executor answers it)."""
        if self.pos.order() >= self.end.order():  # an empty token range
            if self.agg is not None:
                self.rows.append(self.agg.result())
            self._answer(None)
            return
        self._loop(first=True)

    def _loop(self, first: bool = False) -> None:
        while not self.finished:
            self._sync = None
            self._starting = True
            try:
                self._start_round()
            except CqlError as e:
                if first:
                    raise
                self._fail(e)
                return
            finally:
                self._starting = False
            first = False
            if self._sync is None:
                return  # the round answers later, through _on_round
            if not self._process(*self._sync):
                return

    def _start_round(self) -> None:
        """Start the next round from ``pos``; it answers through ``_on_round``."""
        start_round(self.node, self.ks, self._spec(), self.pos, self.end, self.cl,
                    self._on_round)

    def _on_round(self, error: CqlError | None, result: RoundResult | None) -> None:
        if self._starting:
            self._sync = (error, result)
        elif self._process(error, result):
            self._loop()

    def _spec(self) -> RoundSpec:
        plan = self.plan
        rows = limits.scan_response_rows_max
        if not plan.filters and not plan.aggregate and not plan.grouped:
            for bound in (plan.limit, self._page_left()):
                if bound is not None:
                    rows = min(rows, max(bound, 1))
        per = 0
        if plan.distinct or not plan.slices:
            per = 1
        elif plan.per_partition_limit is not None and not plan.filters and not plan.grouped:
            per = plan.per_partition_limit
        slices = tuple((x.start, x.start_inclusive, x.end, x.end_inclusive)
                       for x in plan.slices)
        return RoundSpec(plan.table.table_key, slices, rows, per)

    def _page_left(self) -> int | None:
        return None if self.page_size is None else self.page_size - len(self.rows)

    # ------------------------------------------------------------------ one round's result

    def _process(self, error: CqlError | None, result: RoundResult | None) -> bool:
        """Render a round; True when another round is needed."""
        if self.finished:
            return False
        if error is not None or result is None:
            self._fail(error or ServerError("range read ended without a result"))
            return False
        try:
            return self._render(result)
        except CqlError as e:
            self._fail(e)
        except Exception as e:  # a bug in one scan must not take the node down
            log.exception("internal error rendering a scan")
            self._fail(ServerError(f"Internal error: {type(e).__name__}: {e}"))
        return False

    def _render(self, result: RoundResult) -> bool:
        self.pos = result.covered
        if self.agg is not None:
            aggregate_into(self.agg, self.plan, result.partitions, self.now_s)
            if result.done:
                self.rows.extend(select.json_rows(self.plan, (self.agg.result(),)))
                self._answer(None)
            return not result.done
        if self.groups is not None:
            return self._render_groups(self.groups, result)
        page = select.render(self.plan, result.partitions, self.now_s)
        self.rows.extend(page.rows)
        if page.more or page.limit_reached:
            self._answer(page.state if page.more else None)
            return False
        if page.state is not None:
            self.plan = replace(select.resume(self.plan, page.state),
                                page_size=self._page_left())
        if result.done:
            self._answer(None)
            return False
        return True

    def _render_groups(self, g: Grouper, result: RoundResult) -> bool:
        """Feed a round to the GROUP BY fold; a group cut by the round continues in the next."""
        group_into(g, self.plan, result.partitions, self.now_s)
        if not g.stopped and result.done:
            g.finish()
        if g.stopped or result.done:
            self.rows.extend(select.json_rows(self.plan, g.rows))
            self._answer(g.state if g.more else None)
            return False
        if result.partitions:  # the next round's rows follow the last row of this one
            last = result.partitions[-1].key
            cut = result.covered.clustering if result.covered.key == last else None
            self.plan = replace(self.plan, start=paging.PagingState(last, cut, None, None))
        return True

    def _answer(self, state: paging.PagingState | None) -> None:
        self.finished = True
        if self.unpaged and (state is not None or len(self.rows) > limits.cql_page_rows_max):
            self.done(InvalidRequest(
                f"A scan without paging returns at most {limits.cql_page_rows_max} rows; "
                "set a fetch size (page size) to read more"), None)
            return
        encoded = None if state is None else paging.encode_paging_state(state)
        self.done(None, RowsResult(self.plan.columns, tuple(self.rows), encoded))

    def _fail(self, error: CqlError) -> None:
        self.finished = True
        self.done(error, None)
