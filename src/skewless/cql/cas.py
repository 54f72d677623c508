"""Conditional statements and conditional batches as CAS plans (lightweight transactions).

Theory of operation
-------------------
A conditional statement (``INSERT ... IF NOT EXISTS``, ``UPDATE/DELETE ... IF EXISTS``,
``... IF c = v AND ...``) or a BATCH holding one is a compare-and-set on one partition: Paxos
reads the partition, the conditions decide on what it read, and if they hold the statements'
writes are proposed as one update. ``plan_statement`` / ``plan_batch`` do everything that
needs only the statement, the schema and the bound values, once, before Paxos starts, and
return a frozen ``CasPlan``:

* ``key``: the partition key, routed as every write routes it (``dml.partition_keys``);
  ``token`` its ring token;
* ``checks``: the conditions by row, as Cassandra's CQL3CasRequest keeps them: one
  ``RowCheck`` per row (``clustering`` None for the static row) that is ``exists``,
  ``not_exists`` or ``columns`` (bound ``cas_conditions.Condition``\\ s, all of which must hold);
* ``read``: what the Paxos read must return (``ReadScope``): the rows the checks are on, or, when
  only the static row has conditions, the static row and the partition's first live row; and
  which columns count (CQL3CasRequest.columnsToRead). Any superset will do: evaluation looks
  only at what the scope names;
* ``result_columns``: the columns a failed CAS returns besides ``[applied]`` (None: every
  column, after IF [NOT] EXISTS), see ``cas_results``;
* ``mutation(timestamp_us, now_s, current)``: the writes, built by ``dml.build_mutations`` from
  the statements with their IF clauses removed, merged into one ``PartitionUpdate`` and stamped
  as Paxos stamps a proposal (Cassandra's ``updateAllTimestamp``): every live cell and marker at
  ``timestamp_us``, every deletion and tombstone at ``timestamp_us - 1``, whatever USING
  TIMESTAMP the batch's unconditional statements carried. ``current`` is the partition as the
  Paxos read returned it, for list operations that need the list (``l[i] = v``).
  ``stamp_floor(current)`` is the least timestamp at which all of them take effect over what
  the read saw (deletions included).

Validation follows Cassandra's order closely enough that a statement with one fault gets its
message: ModificationStatement (custom timestamp, counter tables, IN on keys, static-only
statements), DeleteStatement (partial primary keys), BatchStatement (several tables or
partitions) and CQL3CasRequest (IF EXISTS / IF NOT EXISTS / IF conditions mixed on one row).

Pure: no I/O, no clock, no randomness (``ctx`` carries the coordinator's time and uuid source).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from skewless import errors
from skewless.cql import ast, dml
from skewless.cql.cas_conditions import Condition, bind_condition
from skewless.cql.list_ops import ListSeq
from skewless.cql.slices import clustering_prefixes, encode_prefix
from skewless.cql.terms import Env, EvalContext, evaluate
from skewless.cql.where import Restrictions, collect, column_of
from skewless.ring import token_of
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage import keys
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, RangeTombstone, Row

Modification = ast.Insert | ast.Update | ast.Delete
CheckKind = Literal["exists", "not_exists", "columns"]


@dataclass(frozen=True, slots=True)
class RowCheck:
    """The condition on one row: it exists, it does not, or every condition holds on it."""

    clustering: bytes | None  # None: the static row
    kind: CheckKind
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What the Paxos read must cover. ``first_row``: only the static row has conditions, so
    the static row and the first live row (Cassandra reads with LIMIT 1) are what count."""

    clusterings: tuple[bytes, ...]
    first_row: bool
    static_columns: frozenset[str]
    regular_columns: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Write:
    stmt: Modification  # without its IF clause
    table: TableDef


@dataclass(frozen=True)
class CasPlan:
    keyspace: str
    table: str
    table_def: TableDef
    schema: Schema
    ctx: EvalContext
    key: bytes
    checks: tuple[RowCheck, ...]  # the static row's first, then by clustering
    read: ReadScope
    result_columns: tuple[str, ...] | None
    is_batch: bool
    writes: tuple[_Write, ...]

    @property
    def token(self) -> int:
        return token_of(self.key)

    def mutation(self, timestamp_us: int, now_s: int, current: PartitionUpdate | None = None
                 ) -> PartitionUpdate:
        """The update to propose: every write of the plan at ``timestamp_us`` (deletions at
        ``timestamp_us - 1``). Raises InvalidRequest only for list operations that find the
        list too short (as Cassandra does after its Paxos read)."""
        reads = () if current is None else (current,)
        updates: list[PartitionUpdate] = []
        seq = ListSeq()
        for w in self.writes:
            updates.extend(restamp(u, timestamp_us) for u in dml.build_mutations(
                w.stmt, w.table, self.schema, self.ctx, timestamp_us, now_s, reads, seq))
        merged = dml.merge_by_partition(updates)  # restamped first: a deletion stays below
        assert all(u.key == self.key and u.table == self.table_def.table_key for u in merged)
        if not merged:
            return PartitionUpdate(self.table_def.table_key, self.key)
        return merged[0]


# ---------------------------------------------------------------- restamping


def restamp(p: PartitionUpdate, ts: int) -> PartitionUpdate:
    """Cassandra's PartitionUpdate.updateAllTimestamp: live cells and markers at ``ts``,
    deletions and tombstones at ``ts - 1`` (so a batch's delete-then-insert keeps the insert)."""
    def cell(c: Cell) -> Cell:
        return dataclasses.replace(c, ts_us=ts - 1 if c.value is None else ts)

    def deletion(d: Deletion | None) -> Deletion | None:
        return None if d is None else Deletion(ts - 1, d.deleted_s)

    def row(r: Row | None) -> Row | None:
        if r is None:
            return None
        return Row(r.clustering, None if r.marker is None else cell(r.marker),
                   deletion(r.deletion),
                   tuple(CellWrite(w.column, w.path, cell(w.cell)) for w in r.cells),
                   tuple((name, Deletion(ts - 1, d.deleted_s))
                         for name, d in r.column_deletions))

    rts = tuple(RangeTombstone(t.start, t.start_inclusive, t.end, t.end_inclusive,
                               Deletion(ts - 1, t.deletion.deleted_s))
                for t in p.range_tombstones)
    rows = tuple(r for r in (row(x) for x in p.rows) if r is not None)
    return PartitionUpdate(p.table, p.key, deletion(p.deletion), rts, row(p.static_row), rows)


def stamp_floor(current: PartitionUpdate | None) -> int:
    """The least proposal timestamp whose writes all take effect over ``current``: its
    deletions (at ``ts - 1``) newer than every timestamp there, deletions included. The Paxos
    part proposes at ``max(stamp_floor(read), ballot-derived ts)``, so an LWT's result is
    never shadowed by what its own read saw."""
    if current is None:
        return 1
    stamps = [0]
    stamps.extend(d.ts_us for d in (current.deletion,) if d is not None)
    stamps.extend(t.deletion.ts_us for t in current.range_tombstones)
    for r in (*current.rows, *(() if current.static_row is None else (current.static_row,))):
        stamps.extend(c.ts_us for c in (r.marker,) if c is not None)
        stamps.extend(d.ts_us for d in (r.deletion,) if d is not None)
        stamps.extend(d.ts_us for _, d in r.column_deletions)
        stamps.extend(w.cell.ts_us for w in r.cells)
    return max(stamps) + 2


# ---------------------------------------------------------------- one statement


def is_conditional(stmt: Modification) -> bool:
    if isinstance(stmt, ast.Insert):
        return stmt.if_not_exists
    return stmt.if_exists or bool(stmt.conditions)


def _kind(stmt: Modification) -> str:
    return "INSERT" if isinstance(stmt, ast.Insert) else (
        "DELETE" if isinstance(stmt, ast.Delete) else "UPDATE")


def _conditional_word(stmt: Modification) -> str:
    """Cassandra's ``type.isUpdate() ? "updates" : "deletions"``."""
    return "updates" if isinstance(stmt, ast.Update) else "deletions"


@dataclass
class _Analysed:
    """One statement's part of a CAS request."""

    key: bytes
    target: bytes | None  # the row its IF EXISTS / regular conditions are on (None: static)
    exists: CheckKind | None
    regular: list[Condition]
    static: list[Condition]
    write: _Write | None
    updates_regular_rows: bool
    updates_static_row: bool
    read_columns: set[str] = field(default_factory=set)  # columns list operations read


def _op_columns(stmt: Modification, table: TableDef) -> tuple[list[ColumnDef], set[str]]:
    """The columns a statement writes, and those of its operations that read first."""
    if isinstance(stmt, ast.Insert):
        cols = [column_of(table, n) for n in stmt.columns]
        return [c for c in cols if c.kind not in ("partition_key", "clustering")], set()
    if isinstance(stmt, ast.Update):
        named = [(a.column, a.op in ("set_key", "sub")) for a in stmt.assignments]
    else:
        named = [(t.column, t.key is not None) for t in stmt.targets]
    cols, reads = [], set()
    for name, may_read in named:
        col = column_of(table, name)
        cols.append(col)
        if may_read and keys.parse_type(col.type)[0] == "list" and not col.type.startswith(
                "frozen"):
            reads.add(col.name)
    return cols, reads


def _insert_restrictions(stmt: ast.Insert, table: TableDef, env: Env) -> Restrictions:
    """The primary key an INSERT names, as restrictions (dml's checks and messages)."""
    if len(stmt.columns) != len(stmt.values):
        raise errors.InvalidRequest("Unmatched column names/values")
    if len(set(stmt.columns)) != len(stmt.columns):
        raise errors.InvalidRequest("The column names contains duplicates")
    r = Restrictions()
    for name, term in zip(stmt.columns, stmt.values, strict=True):
        col = column_of(table, name)
        if col.kind in ("partition_key", "clustering"):
            v = evaluate(term, col.type, env, name)
            if v is None:
                raise errors.InvalidRequest(f"Invalid null value in condition for column {name}")
            if not isinstance(v, bytes):
                raise errors.InvalidRequest(f"Invalid unset value for column {name}")
            r.eq[name] = [v]
    return r


def _check_no_in(stmt: Modification, table: TableDef, in_batch: bool) -> None:
    where = () if isinstance(stmt, ast.Insert) else stmt.where
    for rel in where:
        if rel.op != "IN" or isinstance(rel.lhs, ast.TokenOf | ast.FieldOf):
            continue
        names = [rel.lhs] if isinstance(rel.lhs, str) else [
            n for n in rel.lhs if isinstance(n, str)]
        kinds = {c.kind for n in names if (c := table.column(n)) is not None}
        if "partition_key" in kinds:
            raise errors.InvalidRequest(
                "Batch with conditions cannot span multiple partitions (you cannot use IN on "
                "the partition key)" if in_batch else
                f"IN on the partition key is not supported with conditional "
                f"{_conditional_word(stmt)}")
    for rel in where:
        if rel.op != "IN" or isinstance(rel.lhs, ast.TokenOf | ast.FieldOf):
            continue
        names = [rel.lhs] if isinstance(rel.lhs, str) else [
            n for n in rel.lhs if isinstance(n, str)]
        if any((c := table.column(n)) is not None and c.kind == "clustering" for n in names):
            raise errors.InvalidRequest(f"IN on the clustering key columns is not supported "
                                        f"with conditional {_conditional_word(stmt)}")


def _strip(stmt: Modification, table: TableDef, drop_clustering: bool) -> Modification:
    """The statement without its IF clause (and without clustering restrictions when it
    writes only static columns although a regular condition named its row)."""
    if isinstance(stmt, ast.Insert):
        return dataclasses.replace(stmt, if_not_exists=False)
    where = stmt.where
    if drop_clustering:
        cks = {c.name for c in table.clustering}
        where = tuple(r for r in where if not (isinstance(r.lhs, str) and r.lhs in cks)
                      and not (isinstance(r.lhs, tuple) and any(n in cks for n in r.lhs
                                                                if isinstance(n, str))))
    return dataclasses.replace(stmt, where=where, if_exists=False, conditions=())


def _analyse(stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext,
             in_batch: bool) -> _Analysed:
    original = stmt
    env = Env(ctx, schema, table.keyspace)
    if isinstance(stmt, ast.Insert) and stmt.json is not None:
        from skewless.cql.insert_json import as_insert

        stmt, ctx = as_insert(stmt, table, env)
        env = Env(ctx, schema, table.keyspace)
    conds = () if isinstance(stmt, ast.Insert) else tuple(
        bind_condition(rel, table, env) for rel in stmt.conditions)
    op_cols, reads = _op_columns(stmt, table)
    regular = [c for c in conds if c.column.kind != "static"]
    static = [c for c in conds if c.column.kind == "static"]
    ops_static = any(c.kind == "static" for c in op_cols)
    ops_regular = any(c.kind != "static" for c in op_cols)
    r = _insert_restrictions(stmt, table, env) if isinstance(stmt, ast.Insert) else collect(
        stmt.where, table, env)
    kind = _kind(stmt)
    pkeys = dml.partition_keys(r, table, kind)
    _check_no_in(stmt, table, in_batch)
    assert len(pkeys) == 1, pkeys  # no IN on the partition key (refused above)
    ck_restricted = any(r.restricted(c.name) for c in table.clustering)
    only_static = not ops_regular and not regular and (ops_static or bool(static)) and not (
        isinstance(stmt, ast.Insert) and ck_restricted)
    deletes_rows = isinstance(stmt, ast.Delete) and not stmt.targets  # a row, range, partition
    target = _target(stmt, r, table, kind, only_static, ck_restricted,
                     ops_regular or deletes_rows, bool(regular))
    exists: CheckKind | None = None
    if isinstance(stmt, ast.Insert):
        exists = "not_exists" if stmt.if_not_exists else None
    elif stmt.if_exists:
        exists = "exists"
    drop_ck = not isinstance(stmt, ast.Insert) and ops_static and not ops_regular and (
        ck_restricted and not only_static)
    return _Analysed(
        key=pkeys[0], target=target, exists=exists, regular=regular, static=static,
        write=_Write(_strip(original, table, drop_ck), table),
        updates_regular_rows=not table.clustering or ck_restricted,
        updates_static_row=ops_static, read_columns=reads)


def _target(stmt: Modification, r: Restrictions, table: TableDef, kind: str, only_static: bool,
            ck_restricted: bool, ops_regular: bool, cond_regular: bool) -> bytes | None:
    """The clustering of the row the statement's row conditions are on (None: static row)."""
    cols = table.clustering
    if only_static:
        if ck_restricted and not isinstance(stmt, ast.Insert):
            raise errors.InvalidRequest(f"Invalid restrictions on clustering columns since the "
                                        f"{kind} statement modifies only static columns")
        if ops_regular:  # a partition deletion with static conditions only
            raise errors.InvalidRequest(
                "DELETE statements must restrict all PRIMARY KEY columns with equality "
                "relations in order to delete non static columns")
        return None
    sliced = any(c.name in r.lower or c.name in r.upper for c in cols) or bool(
        r.multi_lower or r.multi_upper)
    prefixes, n = clustering_prefixes(r, table)
    if not isinstance(stmt, ast.Delete):
        if sliced:
            raise errors.InvalidRequest(f"Slice restrictions are not supported on the "
                                        f"clustering columns in {kind} statements")
        if n < len(cols):
            raise errors.InvalidRequest("Some clustering keys are missing: "
                                        + ", ".join(c.name for c in cols[n:]))
    elif sliced or n < len(cols):  # (DeleteStatement: a whole-row deletion counts as regular)
        if ops_regular:
            raise errors.InvalidRequest(
                "DELETE statements must restrict all PRIMARY KEY columns with equality "
                "relations in order to delete non static columns")
        if cond_regular or sliced:
            raise errors.InvalidRequest(
                "DELETE statements must restrict all PRIMARY KEY columns with equality "
                "relations in order to use IF condition on non static columns")
        raise AssertionError("a DELETE of static columns only has no clustering to check")
    assert len(prefixes) == 1, prefixes  # no IN on clustering columns (refused before)
    return encode_prefix(table, prefixes[0])


# ---------------------------------------------------------------- row checks


class _Checks:
    """CQL3CasRequest's conditions by row, with its refusals of contradictory ones."""

    def __init__(self) -> None:
        self.rows: dict[bytes | None, RowCheck] = {}

    def add_exists(self, clustering: bytes | None, kind: CheckKind) -> None:
        prev = self.rows.get(clustering)
        if prev is not None:
            if prev.kind == kind:
                return  # two statements of a batch with one IF [NOT] EXISTS on one row
            if prev.kind in ("exists", "not_exists"):
                raise errors.InvalidRequest(
                    "Cannot mix IF EXISTS and IF NOT EXISTS conditions for the same row")
            neg = "NOT " if kind == "not_exists" else ""
            raise errors.InvalidRequest(f"Cannot mix IF conditions and IF {neg}EXISTS for the "
                                        f"same row")
        self.rows[clustering] = RowCheck(clustering, kind)

    def add_columns(self, clustering: bytes | None, conds: Sequence[Condition]) -> None:
        prev = self.rows.get(clustering)
        if prev is not None and prev.kind != "columns":
            raise errors.InvalidRequest(
                "Cannot mix IF conditions and IF NOT EXISTS for the same row")
        before = () if prev is None else prev.conditions
        self.rows[clustering] = RowCheck(clustering, "columns", before + tuple(conds))

    def add(self, a: _Analysed) -> None:
        if a.exists is not None:
            self.add_exists(a.target, a.exists)
        if a.regular:
            self.add_columns(a.target, a.regular)
        if a.static:
            self.add_columns(None, a.static)

    def ordered(self) -> tuple[RowCheck, ...]:
        static = [self.rows[None]] if None in self.rows else []
        return tuple(static + [self.rows[c] for c in sorted(k for k in self.rows
                                                              if k is not None)])


def _read_scope(table: TableDef, checks: tuple[RowCheck, ...], cond_columns: set[str],
                updates_regular: bool, updates_static: bool) -> ReadScope:
    """CQL3CasRequest.readCommand and columnsToRead."""
    statics = {c.name for c in table.regular if c.kind == "static"}
    regulars = {c.name for c in table.regular if c.kind != "static"}
    rows = tuple(c.clustering for c in checks if c.clustering is not None)
    return ReadScope(
        clusterings=rows, first_row=not rows,
        static_columns=frozenset(statics if updates_static else statics & cond_columns),
        regular_columns=frozenset(regulars if updates_regular else regulars & cond_columns))


def _condition_columns(analysed: Sequence[_Analysed]) -> set[str]:
    out: set[str] = set()
    for a in analysed:
        out.update(c.column.name for c in a.regular + a.static)
        out.update(a.read_columns)
    return out


def _check_table(table: TableDef, stmt: Modification) -> None:
    if any(keys.parse_type(c.type)[0] == "counter" for c in table.columns):
        raise errors.InvalidRequest("Conditional updates are not supported on counter tables")
    if stmt.using.timestamp is not None:
        raise errors.InvalidRequest("Cannot provide custom timestamp for conditional updates")


def plan_statement(stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext
                   ) -> CasPlan:
    """The CAS plan of one conditional INSERT/UPDATE/DELETE (``is_conditional(stmt)``) on
    ``table`` with the bound values of ``ctx``. Raises InvalidRequest with Cassandra's
    message for anything Cassandra refuses."""
    assert is_conditional(stmt), stmt
    if stmt.using.timestamp is not None:
        raise errors.InvalidRequest("Cannot provide custom timestamp for conditional updates")
    a = _analyse(stmt, table, schema, ctx, in_batch=False)
    _check_table(table, stmt)
    checks = _Checks()
    checks.add(a)
    ordered = checks.ordered()
    cols: tuple[str, ...] | None = None
    if a.exists is None:
        cols = tuple(dict.fromkeys(c.column.name for c in a.regular + a.static))
    _validate_write(a, schema, ctx)
    return CasPlan(table.keyspace, table.name, table, schema, ctx, a.key, ordered,
                   _read_scope(table, ordered, _condition_columns([a]), a.updates_regular_rows,
                               a.updates_static_row),
                   cols, False, () if a.write is None else (a.write,))


def _validate_write(a: _Analysed, schema: Schema, ctx: EvalContext) -> None:
    """Build the write once, so that a bad value or an invalid operation is refused before
    Paxos starts; list operations that need the list are built after the read instead."""
    if a.write is None or a.read_columns:
        return
    dml.build_mutations(a.write.stmt, a.write.table, schema, ctx, 0, 0)


# ---------------------------------------------------------------- batches


def plan_batch(batch: ast.Batch, schema: Schema, ctx: EvalContext) -> CasPlan:
    """The CAS plan of a BATCH holding at least one conditional statement: one partition of
    one table, the conditions of every statement together, the writes of every statement."""
    assert any(is_conditional(s) for s in batch.statements), batch
    tables = [dml.statement_table(s, schema, ctx) for s in batch.statements]
    for stmt, table in zip(batch.statements, tables, strict=True):
        if is_conditional(stmt):
            if stmt.using.timestamp is not None:
                raise errors.InvalidRequest(
                    "Cannot provide custom timestamp for conditional updates")
            _check_table(table, stmt)
    if batch.using.ttl is not None:
        raise errors.InvalidRequest("Global TTL on the BATCH statement is not supported.")
    if batch.using.timestamp is not None:
        raise errors.InvalidRequest("Cannot provide custom timestamp for conditional BATCH")
    if batch.kind == "COUNTER":  # its conditional statements are on non-counter tables
        raise errors.InvalidRequest("Cannot include non-counter statement in a counter batch")
    if len({(t.keyspace, t.name) for t in tables}) > 1:
        raise errors.InvalidRequest("Batch with conditions cannot span multiple tables")
    table = tables[0]
    analysed: list[_Analysed] = []
    checks = _Checks()
    cols: list[str] | None = [c.name for c in (*table.partition_key, *table.clustering)]
    for stmt in batch.statements:
        a = _analyse_in_batch(stmt, table, schema, ctx)
        if analysed and a.key != analysed[0].key:
            raise errors.InvalidRequest("Batch with conditions cannot span multiple partitions")
        analysed.append(a)
        if not is_conditional(stmt):
            continue
        checks.add(a)
        if a.exists is not None:
            cols = None
        elif cols is not None:
            cols.extend(c.column.name for c in a.regular + a.static)
    for a in analysed:
        _validate_write(a, schema, ctx)
    conditional = [a for a, s in zip(analysed, batch.statements, strict=True)
                   if is_conditional(s)]
    ordered = checks.ordered()
    scope = _read_scope(table, ordered, _condition_columns(conditional),
                        any(a.updates_regular_rows for a in analysed),
                        any(a.updates_static_row for a in conditional))
    return CasPlan(table.keyspace, table.name, table, schema, ctx, analysed[0].key, ordered,
                   scope, None if cols is None else tuple(dict.fromkeys(cols)), True,
                   tuple(a.write for a in analysed if a.write is not None))


def _analyse_in_batch(stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext
                      ) -> _Analysed:
    """A batch statement's part; an unconditional one only needs its key (it may delete a
    range of rows) and its write."""
    if is_conditional(stmt):
        return _analyse(stmt, table, schema, ctx, in_batch=True)
    original = stmt
    env = Env(ctx, schema, table.keyspace)
    if isinstance(stmt, ast.Insert) and stmt.json is not None:
        from skewless.cql.insert_json import as_insert

        stmt, ctx = as_insert(stmt, table, env)
        env = Env(ctx, schema, table.keyspace)
    r = _insert_restrictions(stmt, table, env) if isinstance(stmt, ast.Insert) else collect(
        stmt.where, table, env)
    pkeys = dml.partition_keys(r, table, _kind(stmt))
    _check_no_in(stmt, table, in_batch=True)
    op_cols, reads = _op_columns(stmt, table)
    ck_restricted = any(r.restricted(c.name) for c in table.clustering)
    return _Analysed(pkeys[0], None, None, [], [], _Write(_strip(original, table, False), table),
                     not table.clustering or ck_restricted,
                     any(c.kind == "static" for c in op_cols), reads)
