"""GROUP BY: rows folded into one result row per group of primary key prefix values.

Theory of operation
-------------------
``group_prefix`` validates a GROUP BY clause as Cassandra's SelectStatement does
(AggregationSpecification): the columns must be primary key columns, in their declared order,
where a primary key column may be skipped only if the WHERE clause restricts it by ``=``; the
whole partition key is always part of a group (grouping on a part of it is refused), so groups
never span partitions. The group of a row is its partition key and its first ``prefix``
clustering values (``prefix`` counts the clustering columns up to the last one named).

``Grouper`` consumes the selected rows in read order (a group's rows are contiguous) and folds
each group with an ``Aggregator``: aggregates over the group, a plain selector takes the group's
first row (with no aggregate in the selection, a group answers its first row). A group is only
known to be complete when the first row of the next group (or the end of the data) is seen.

Limits and paging count groups, as Cassandra's DataLimits.groupByLimits does: LIMIT is the
number of groups, PER PARTITION LIMIT the number of groups per partition, and a page holds
``page_size`` groups. A page ends just before the first row of the group after its last one,
and its paging state is the position of the last row of its last group (with the groups LIMIT
and PER PARTITION LIMIT still allow), so the next page starts with the next group. A scan feeds
the grouper one round at a time; a group cut by a round boundary continues in the next round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from skewless import errors
from skewless.cql.paging import PagingState
from skewless.cql.selection import Aggregator, RowData, Selector, Types
from skewless.schema import TableDef

ORDER_MSG = ("Group by currently only support groups of columns following their declared "
             "order in the PRIMARY KEY")


def group_prefix(group_by: Sequence[str], table: TableDef, eq_columns: Iterable[str],
                 distinct: bool) -> int | None:
    """The number of clustering columns in a group (None: no GROUP BY)."""
    if not group_by:
        return None
    eq = set(eq_columns)
    pk_columns = [*table.partition_key, *table.clustering]
    i = 0
    prefix = 0
    for name in group_by:
        col = table.column(name)
        if col is None:
            raise errors.InvalidRequest(f"Undefined column name {name}")
        if col.kind not in ("partition_key", "clustering"):
            raise errors.InvalidRequest(f"Group by is currently only supported on the columns "
                                        f"of the PRIMARY KEY, got {name}")
        while True:
            if i >= len(pk_columns):
                raise errors.InvalidRequest(ORDER_MSG)
            pk_col = pk_columns[i]
            i += 1
            if pk_col.kind == "clustering":
                prefix += 1
            if pk_col.name == name:
                break
            if pk_col.name not in eq:
                raise errors.InvalidRequest(ORDER_MSG)
    if i < len(pk_columns) and pk_columns[i].kind == "partition_key":
        raise errors.InvalidRequest("Group by is not supported on only a part of the "
                                    "partition key")
    if prefix > 0 and distinct:
        raise errors.InvalidRequest("Grouping on clustering columns is not allowed for SELECT "
                                    "DISTINCT queries")
    return prefix


Row = tuple[bytes | None, ...]


@dataclass
class Grouper:
    """Folds rows into one result row per group (see the module docstring).

    ``remaining``: groups LIMIT still allows (None: no LIMIT); ``page_size``: groups a page
    holds (None: unbounded); ``start``: the paging state the read resumed after, whose
    partition continues with its PER PARTITION LIMIT count."""

    selectors: Sequence[Selector]
    types: Types
    now_s: int
    prefix: int
    remaining: int | None
    per_partition_limit: int | None
    page_size: int | None
    start: PagingState | None = None
    rows: list[Row] = field(default_factory=list)
    first_clusterings: list[Sequence[bytes]] = field(default_factory=list)  # of groups' 1st rows
    state: PagingState | None = None  # after the last row of the last group answered
    stopped: bool = False  # the page is full or LIMIT reached: no more rows wanted
    more: bool = False  # stopped at a full page with a further group seen
    _key: tuple[bytes, tuple[bytes, ...]] | None = None
    _agg: Aggregator | None = None
    _first: Sequence[bytes] = ()
    _last: tuple[bytes, bytes | None] = (b"", None)
    _partition: bytes | None = None
    _partition_left: int | None = None

    def feed(self, rd: RowData, clustering: bytes | None) -> bool:
        """Add one selected row; False once no more rows are wanted."""
        if self.stopped:
            return False
        key = (rd.key, tuple(rd.ck[:self.prefix]))
        if key != self._key:
            if self._agg is not None:
                self._close()
                self._agg = None
                if self._stop_before_next():
                    return False
            if not self._new_partition_allows(rd.key):
                return True  # the rows of a group PER PARTITION LIMIT leaves out
            if self._partition_left is not None:
                self._partition_left -= 1
            self._key = key
            self._agg = Aggregator(self.selectors, self.types, self.now_s)
            self._first = rd.ck
        assert self._agg is not None
        self._agg.add(rd)
        self._last = (rd.key, clustering)
        return True

    def finish(self) -> None:
        """The end of the data: the open group is complete."""
        if self._agg is not None and not self.stopped:
            self._close()
            self._agg = None
            self.stopped = self.limit_reached()

    def limit_reached(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def _new_partition_allows(self, key: bytes) -> bool:
        """Whether PER PARTITION LIMIT allows a new group in partition ``key``."""
        if key != self._partition:
            self._partition = key
            self._partition_left = self.per_partition_limit
            s = self.start
            if s is not None and s.partition_key == key and self.per_partition_limit is not None:
                self._partition_left = s.partition_remaining
        return self._partition_left is None or self._partition_left > 0

    def _close(self) -> None:
        assert self._agg is not None
        self.rows.append(self._agg.result())
        self.first_clusterings.append(self._first)
        if self.remaining is not None:
            self.remaining -= 1
        key, clustering = self._last
        self.state = PagingState(key, clustering, self.remaining, self._partition_left)

    def _stop_before_next(self) -> bool:
        """After closing a group, at the first row of the next: stop if the page is full."""
        if self.limit_reached():
            self.stopped = True
            return True
        if self.page_size is not None and len(self.rows) >= self.page_size:
            self.stopped = self.more = True
            return True
        return False
