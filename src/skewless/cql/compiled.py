"""Modification statements compiled once into plans that map bound values to mutations.

Theory of operation
-------------------
``dml.build_mutations`` interprets a statement's syntax tree on every execution: it resolves
each column by name, works out each type's shape, collects the WHERE clause into restrictions
and builds the rows in mutable builders. For the statements a workload repeats (prepared, or
unprepared and held by the parser's cache) that is the same work every time, so the common
forms are compiled once into a plan:

* ``INSERT INTO t (c, ...) VALUES (...)`` naming every primary key column, without JSON or IF;
* ``UPDATE t SET c = ..., ... WHERE pk = ... AND ck = ...`` with each primary key column
  restricted by exactly one ``=`` and only whole-value assignments to regular columns;

where every value is a bind marker or a constant, and every column written is a simple value
(a native type, a frozen collection or tuple, a vector: no non-frozen collection, no user type,
whose meaning a schema change could move without changing the table). A plan holds, per value,
the resolved type that validates it and where it goes (a partition key part, a clustering part,
a cell of the regular or static row), the cells' order, and the table's default TTL. Executing
it validates the bound values in the order ``dml`` evaluates them, so the first bad value gives
the same error, and builds the same ``PartitionUpdate``\\ s ``dml`` builds.

Everything else (collections, UDTs, DELETE, IN, list operations, INSERT JSON, LWT and counter
refusals, ...) has no plan and goes to ``dml.build_mutations``, which remains the reference.

``Plans`` is a node's cache, keyed by the statement object (the prepared cache and the parser's
cache keep those alive and identical across executions). An entry remembers the ``TableDef`` it
was compiled against; table definitions are immutable, so a schema change that touches the table
(ALTER, DROP and re-CREATE, a new default TTL) gives a new object and the plan is compiled again.
Bounded by ``limits.cql_compiled_plans_max`` (oldest first out).
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless import errors, limits
from skewless.cql import ast, dml, key_sizes
from skewless.cql import types as cqltypes
from skewless.cql.list_ops import ListSeq
from skewless.cql.terms import EvalContext, Unset, resolve_type
from skewless.cql.types_native import BlobType, IntType
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage import keys
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

Modification = ast.Insert | ast.Update | ast.Delete

# Where a value goes (``Step.place``).
PK, CK, _REGULAR, _STATIC = 0, 1, 2, 3
_SKIP = object()  # an unset value: no cell


class Step:
    """One value of the statement: its source (a bind marker's index, or the constant's bytes)
    and where it goes."""

    __slots__ = ("name", "place", "slot", "index", "const", "ctype", "width")

    def __init__(self, name: str, place: int, slot: int, term: ast.Term,
                 ctype: cqltypes.CqlType) -> None:
        self.name = name
        self.place = place
        self.slot = slot  # position among the partition key / clustering columns / cells
        self.ctype = ctype
        # A value whose check is its size alone (the integers) or nothing (a blob) skips the
        # type's validate when it passes: -1 validates, 0 accepts, n > 0 wants n bytes.
        self.width = -1
        if isinstance(ctype, IntType) and not ctype.is_counter:
            self.width = ctype.width
        elif isinstance(ctype, BlobType):
            self.width = 0
        self.index = -1
        self.const: bytes | None = None
        if isinstance(term, ast.BindMarker):
            self.index = term.index
        else:
            assert isinstance(term, ast.Constant)
            if term.kind != "null":
                self.const = ctype.serialize(ctype.from_constant(term, name))


class WritePlan:
    """A compiled INSERT or UPDATE (see the module docstring)."""

    __slots__ = ("stmt", "table", "table_key", "steps", "late_steps", "n_pk", "clustering",
                 "n_cells", "cell_order", "marker", "ttl_default", "ttl_term", "max_index")

    def __init__(self, stmt: ast.Insert | ast.Update, table: TableDef, steps: list[Step],
                 n_cells: int, marker: bool) -> None:
        self.stmt = stmt
        self.table = table
        self.table_key = table.table_key
        # INSERT evaluates every value before checking the key; UPDATE checks the key after
        # its WHERE clause and before its assignments (``dml``'s order, hence its first error).
        split = len(steps) if marker else sum(s.place < _REGULAR for s in steps)
        self.steps = tuple(steps[:split])
        self.late_steps = tuple(steps[split:])
        self.n_pk = len(table.partition_key)
        self.clustering = tuple((c.type, c.clustering_order == "desc") for c in table.clustering)
        self.n_cells = n_cells
        cells = [s for s in steps if s.place in (_REGULAR, _STATIC)]
        # Cells sorted by (column, path); every path is b'' and the columns are distinct.
        self.cell_order = tuple((s.slot, s.name, s.place == _STATIC)
                                for s in sorted(cells, key=lambda s: s.name))
        self.marker = marker
        self.ttl_default = int(str(table.option("default_time_to_live", 0) or 0))
        self.ttl_term = stmt.using.ttl is not None
        self.max_index = max((s.index for s in steps), default=-1)

    def mutations(self, ctx: EvalContext, timestamp_us: int, now_s: int
                  ) -> list[PartitionUpdate]:
        """What ``dml.build_mutations`` returns for this statement, values and times."""
        ttl = dml.using_ttl(self.stmt, ctx, self.table) if self.ttl_term else self.ttl_default
        values = ctx.values
        if self.max_index >= len(values):
            raise errors.InvalidRequest(f"There were {len(values)} markers(?) in CQL but "
                                        f"{self.max_index + 1} or more needed")
        pk: list[bytes] = [b""] * self.n_pk
        ck: list[bytes] = [b""] * len(self.clustering)
        cells: list[object] = [_SKIP] * self.n_cells
        self._values(self.steps, values, pk, ck, cells)
        if len(pk) == 1 and not pk[0]:
            raise errors.InvalidRequest("Key may not be empty")
        key = key_sizes.routed_key(pk)
        if self.late_steps:
            self._values(self.late_steps, values, pk, ck, cells)
        if ck:
            key_sizes.check_clustering(ck)
            clustering = keys.encode_clustering(
                [(t, desc, v) for (t, desc), v in zip(self.clustering, ck, strict=True)])
        else:
            clustering = b""
        if ttl:
            expires = now_s + ttl
            live = Cell(timestamp_us, b"", ttl_s=ttl, expires_s=expires)
        regular: list[CellWrite] = []
        static: list[CellWrite] = []
        tombstone: Cell | None = None
        for slot, name, is_static in self.cell_order:
            v = cells[slot]
            if v is _SKIP:
                continue
            if v is None:
                if tombstone is None:
                    tombstone = Cell(timestamp_us, None, deleted_s=now_s)
                cell = tombstone
            elif ttl:
                assert isinstance(v, bytes)
                cell = Cell(timestamp_us, v, ttl_s=ttl, expires_s=expires)
            else:
                assert isinstance(v, bytes)
                cell = Cell(timestamp_us, v)
            (static if is_static else regular).append(CellWrite(name, b"", cell))
        marker = None
        if self.marker:
            marker = live if ttl else Cell(timestamp_us, b"")
        rows: tuple[Row, ...] = ()
        if marker is not None or regular:
            rows = (Row(clustering, marker, None, tuple(regular)),)
        static_row = Row(b"", None, None, tuple(static)) if static else None
        return [PartitionUpdate(self.table_key, key, static_row=static_row, rows=rows)]

    @staticmethod
    def _values(steps: tuple[Step, ...], values: Sequence[object], pk: list[bytes],
                ck: list[bytes], cells: list[object]) -> None:
        """Validate the values of ``steps`` in order and put each where it goes."""
        for s in steps:
            if s.index >= 0:
                v = values[s.index]
                if isinstance(v, bytes) and v and s.width and len(v) != s.width:
                    validate(s, v)
            else:
                v = s.const
            place = s.place
            if place >= _REGULAR:
                if not isinstance(v, Unset):
                    cells[s.slot] = v
                continue
            if v is None:
                raise errors.InvalidRequest(
                    f"Invalid null value in condition for column {s.name}")
            if isinstance(v, Unset):
                raise errors.InvalidRequest(f"Invalid unset value for column {s.name}")
            assert isinstance(v, bytes)
            if place == PK:
                pk[s.slot] = v
            else:
                ck[s.slot] = v


def validate(s: Step, v: bytes) -> None:
    """``terms.bound_value``'s check of a bound value against its receiver's type."""
    try:
        s.ctype.validate(v)
    except errors.InvalidRequest as e:
        raise errors.InvalidRequest(f"Invalid value for {s.name}: {e.message}") from None
    except Exception as e:  # a type's decoder rejecting malformed bytes
        raise errors.InvalidRequest(f"Invalid value for {s.name}: {e}") from None


# ---------------------------------------------------------------- compiling


class NoPlan(Exception):
    """The statement is outside the compiled forms: ``dml`` interprets it."""


def simple_type(col: ColumnDef) -> cqltypes.CqlType:
    """The column's type if it is a simple value naming no user type (a schema change could
    move a user type without a new TableDef)."""
    try:
        t = resolve_type(col.type, Schema(), None)
    except errors.CqlError:
        raise NoPlan from None
    if t.is_multicell or keys.parse_type(col.type)[0] == "counter":
        raise NoPlan
    return t


def plain_term(term: ast.Term) -> ast.Term:
    if isinstance(term, ast.BindMarker) or (
            isinstance(term, ast.Constant) and term.kind in _PLAIN_CONSTANTS):
        return term
    raise NoPlan


_PLAIN_CONSTANTS = ("string", "integer", "float", "boolean", "uuid", "hex", "duration", "null")


def key_steps(where: Sequence[ast.Relation], table: TableDef) -> tuple[list[Step], set[str]]:
    """The steps of a WHERE clause made only of ``key column = term`` relations, in order, and
    the key columns it restricts; ``NoPlan`` for anything else (or a column restricted twice)."""
    steps: list[Step] = []
    restricted: set[str] = set()
    for rel in where:
        if rel.op != "=" or not isinstance(rel.lhs, str) or isinstance(rel.rhs, tuple):
            raise NoPlan
        col = table.column(rel.lhs)
        if col is None or col.kind not in ("partition_key", "clustering") \
                or col.name in restricted:
            raise NoPlan
        restricted.add(col.name)
        steps.append(key_step(col, rel.rhs, table))
    return steps, restricted


def key_step(col: ColumnDef, term: ast.Term, table: TableDef) -> Step:
    if col.kind == "partition_key":
        return Step(col.name, PK, table.partition_key.index(col), plain_term(term),
                     simple_type(col))
    return Step(col.name, CK, table.clustering.index(col), plain_term(term), simple_type(col))


def compile_write(stmt: Modification, table: TableDef) -> WritePlan | None:
    """The plan of ``stmt`` on ``table``, or None when ``dml`` must interpret it."""
    try:
        if isinstance(stmt, ast.Insert):
            return _compile_insert(stmt, table)
        if isinstance(stmt, ast.Update):
            return _compile_update(stmt, table)
    except (NoPlan, errors.CqlError, ValueError, TypeError, OverflowError):
        return None  # a bad constant: dml gives its error (or exception) at execution
    return None


def _compile_insert(stmt: ast.Insert, table: TableDef) -> WritePlan:
    if stmt.json is not None or stmt.if_not_exists or len(stmt.columns) != len(stmt.values) \
            or len(set(stmt.columns)) != len(stmt.columns):
        raise NoPlan
    _check_table(table)
    given = set(stmt.columns)
    if any(c.name not in given for c in table.partition_key + table.clustering):
        raise NoPlan
    steps: list[Step] = []
    n_cells = 0
    for name, term in zip(stmt.columns, stmt.values, strict=True):
        col = table.column(name)
        if col is None:
            raise NoPlan
        if col.kind in ("partition_key", "clustering"):
            steps.append(key_step(col, term, table))
        else:
            place = _STATIC if col.kind == "static" else _REGULAR
            steps.append(Step(col.name, place, n_cells, plain_term(term), simple_type(col)))
            n_cells += 1
    return WritePlan(stmt, table, steps, n_cells, marker=True)


def _compile_update(stmt: ast.Update, table: TableDef) -> WritePlan:
    if stmt.if_exists or stmt.conditions or not stmt.assignments:
        raise NoPlan
    _check_table(table)
    steps, restricted = key_steps(stmt.where, table)  # dml evaluates the WHERE clause first
    if restricted != {c.name for c in table.partition_key + table.clustering}:
        raise NoPlan
    assigned: set[str] = set()
    n_cells = 0
    for a in stmt.assignments:
        col = table.column(a.column)
        if a.op != "set" or col is None or col.kind != "regular" or col.name in assigned:
            raise NoPlan
        assigned.add(col.name)
        steps.append(Step(col.name, _REGULAR, n_cells, plain_term(a.value), simple_type(col)))
        n_cells += 1
    return WritePlan(stmt, table, steps, n_cells, marker=False)


def _check_table(table: TableDef) -> None:
    """A table with a counter column: ``dml`` refuses its statements (by name)."""
    if any(keys.parse_type(c.type)[0] == "counter" for c in table.columns):
        raise NoPlan


# ---------------------------------------------------------------- the cache


class Plans:
    """A node's compiled statements (see the module docstring)."""

    def __init__(self) -> None:
        self._plans: dict[int, tuple[Modification, TableDef, WritePlan | None]] = {}

    def compile(self, stmt: Modification, table: TableDef) -> WritePlan | None:
        """The plan of ``stmt`` on ``table``, compiled now unless it already is."""
        entry = self._plans.get(id(stmt))
        if entry is not None and entry[0] is stmt and entry[1] is table:
            return entry[2]
        plan = compile_write(stmt, table)
        self._plans.pop(id(stmt), None)
        self._plans[id(stmt)] = (stmt, table, plan)  # holds stmt: its id stays its own
        if len(self._plans) > limits.cql_compiled_plans_max:
            del self._plans[next(iter(self._plans))]
        return plan

    def mutations(self, stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext,
                  timestamp_us: int, now_s: int, current: Sequence[PartitionUpdate] = (),
                  seq: ListSeq | None = None) -> list[PartitionUpdate]:
        """``dml.build_mutations``, by the statement's plan when it has one."""
        entry = self._plans.get(id(stmt))
        if entry is not None and entry[0] is stmt and entry[1] is table:
            plan = entry[2]
        else:
            plan = self.compile(stmt, table)
        if plan is None or current:
            return dml.build_mutations(stmt, table, schema, ctx, timestamp_us, now_s, current,
                                       seq)
        return plan.mutations(ctx, timestamp_us, now_s)
