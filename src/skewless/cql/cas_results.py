"""A CAS plan decided on the partition a Paxos read returned, and the result set Cassandra sends.

Theory of operation
-------------------
``evaluate(plan, current, now_s)`` looks at ``current`` (the partition as read, tombstones and
all; None when the partition is empty) at ``now_s``: TTL-expired cells and everything a
deletion shadows are gone (``storage.merge.live_view``), dropped columns too. Of what is left it
keeps what Cassandra's CAS read returns (``plan.read``): the static row and the rows the checks
name (or the partition's first live row when only the static row has conditions), each with the
columns the read selects. A row exists when its marker or one of those cells is live; the
static row when one of its selected cells is. Then every ``RowCheck`` must hold (CQL3CasRequest
.appliesTo): ``exists`` / ``not_exists`` on the row's existence, ``columns`` by
``cas_conditions.applies`` on the row (None when missing). The outcome carries the rows read,
with the static row's cells on each (a partition with only static content gives one row).

``result_set(plan, outcome)`` is ModificationStatement.buildCasResultSet: one column
``[applied]`` (boolean, in the statement's keyspace and table) and one row. On success that is
all. On failure the read rows follow as Cassandra's SELECT over them would render them: every
column in ``SELECT *`` order after IF [NOT] EXISTS, otherwise the columns of the conditions
(regular conditions' columns then static ones, in IF order, each once), and for a batch the
primary key columns first; one result row per row read, ``[applied]`` false on each. With no
row read the failure is ``[applied]`` alone. Columns the read did not select are null.

Pure: no I/O, no clock (``now_s`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass

from skewless.cql.cas import CasPlan, RowCheck
from skewless.cql.cas_conditions import applies
from skewless.cql.results import ColumnSpec, RowsResult
from skewless.cql.selection import RowData, Types, column_value, star_columns
from skewless.schema import ColumnDef
from skewless.storage import keys
from skewless.storage.dropped import skip_dropped
from skewless.storage.merge import LiveRow, live_view
from skewless.storage.model import Cell, PartitionUpdate

APPLIED = "[applied]"
TRUE, FALSE = b"\x01", b"\x00"


@dataclass(frozen=True, slots=True)
class CasOutcome:
    """Whether the conditions held, and the rows the read returned (for a failure's result)."""

    applied: bool
    rows: tuple[RowData, ...]


def _restrict(row: LiveRow | None, columns: frozenset[str], static: bool) -> LiveRow | None:
    """``row`` with only the selected columns' cells; None when it no longer exists."""
    if row is None:
        return None
    cells = tuple(w for w in row.cells if w.column in columns)
    if not cells and (static or row.marker is None):
        return None
    return LiveRow(row.clustering, cells, None if static else row.marker)


def _cells(*rows: LiveRow | None) -> dict[str, list[tuple[bytes, Cell]]]:
    out: dict[str, list[tuple[bytes, Cell]]] = {}
    for row in rows:
        if row is not None:
            for w in row.cells:
                out.setdefault(w.column, []).append((w.path, w.cell))
    return out


@dataclass(frozen=True, slots=True)
class _Read:
    """What the CAS read returned: the static row and the live rows by clustering."""

    pk: list[bytes]
    static: LiveRow | None
    rows: dict[bytes, LiveRow]


def _read(plan: CasPlan, current: PartitionUpdate | None, now_s: int) -> _Read:
    table = plan.table_def
    pk = keys.split_partition_key(len(table.partition_key), plan.key)
    if current is None:
        return _Read(pk, None, {})
    assert current.key == plan.key, "the read is of another partition"
    view = live_view(skip_dropped(current, table.dropped_times()), now_s)
    static = _restrict(view.static_row, plan.read.static_columns, True)
    rows: dict[bytes, LiveRow] = {}
    for r in view.rows:
        kept = _restrict(r, plan.read.regular_columns, False)
        if kept is not None:
            rows[r.clustering] = kept
    return _Read(pk, static, rows)


def _row_data(plan: CasPlan, read: _Read, row: LiveRow | None) -> RowData:
    ck_types = [(c.type, c.clustering_order == "desc") for c in plan.table_def.clustering]
    ck = [] if row is None or not ck_types else keys.decode_clustering(ck_types, row.clustering)
    return RowData(read.pk, ck, _cells(read.static, row), plan.key)


def _holds(check: RowCheck, plan: CasPlan, read: _Read, types: Types) -> bool:
    if check.clustering is None:
        row = None if read.static is None else RowData(read.pk, [], _cells(read.static),
                                                       plan.key)
    else:
        live = read.rows.get(check.clustering)
        row = None if live is None else _row_data(plan, read, live)
    if check.kind == "exists":
        return row is not None
    if check.kind == "not_exists":
        return row is None
    return all(applies(c, row, types) for c in check.conditions)


def evaluate(plan: CasPlan, current: PartitionUpdate | None, now_s: int) -> CasOutcome:
    """Whether ``plan``'s conditions hold on ``current`` (the partition as read, any superset
    of ``plan.read``; None: nothing there) at ``now_s``, and the rows the CAS read returns."""
    types = Types(plan.schema, plan.keyspace)
    read = _read(plan, current, now_s)
    applied = all(_holds(c, plan, read, types) for c in plan.checks)
    if plan.read.first_row:
        first = [read.rows[c] for c in sorted(read.rows)][:1]
    else:
        first = [read.rows[c] for c in plan.read.clusterings if c in read.rows]
    if first:
        rows = tuple(_row_data(plan, read, r) for r in first)
    elif read.static is not None:
        rows = (_row_data(plan, read, None),)
    else:
        rows = ()
    return CasOutcome(applied, rows)


# ---------------------------------------------------------------- result sets


def applied_column(plan: CasPlan) -> ColumnSpec:
    return ColumnSpec(plan.keyspace, plan.table, APPLIED, "boolean")


def result_columns(plan: CasPlan) -> list[ColumnDef]:
    """The columns a failed CAS returns after ``[applied]`` (when a row was read)."""
    table = plan.table_def
    if plan.result_columns is None:
        return star_columns(table)
    out = []
    for name in plan.result_columns:
        col = table.column(name)
        assert col is not None, name
        out.append(col)
    return out


def result_set(plan: CasPlan, outcome: CasOutcome) -> RowsResult:
    """The ROWS result Cassandra answers a conditional statement or batch with."""
    applied = applied_column(plan)
    if outcome.applied:
        return RowsResult((applied,), ((TRUE,),))
    if not outcome.rows:
        return RowsResult((applied,), ((FALSE,),))
    cols = result_columns(plan)
    types = Types(plan.schema, plan.keyspace)
    specs = (applied, *(ColumnSpec(plan.keyspace, plan.table, c.name, c.type) for c in cols))
    rows = tuple((FALSE, *(column_value(c, rd, types) for c in cols)) for rd in outcome.rows)
    return RowsResult(specs, rows)
