"""INSERT, UPDATE and DELETE translated to storage mutations, with Cassandra's semantics.

Theory of operation
-------------------
A modification statement names a set of partitions (= or IN on every partition key column), a
set of rows or row ranges in each (= / IN on clustering columns; DELETE also takes a prefix or
a slice), and what to write there. The same row content is written to every (partition, row)
the WHERE clause names, so it is built once (``_Content``) and copied into one
``PartitionUpdate`` per partition key.

What each statement writes, all stamped with the coordinator's ``timestamp_us``:

* INSERT: a row liveness marker (value ``b''``) and one cell per column; a null value is a cell
  tombstone and an unset bound value writes nothing. Static columns go to the static row (which
  gets no marker). With only static columns and no clustering, only the static row is written.
* UPDATE: cells only, never a marker (an UPDATE'd row disappears when its cells are deleted).
* DELETE: named columns become cell tombstones (collections: column deletions); with no
  columns, a full clustering is a row deletion, a prefix or slice a range tombstone, and no
  clustering restriction a partition deletion.
* Non-frozen collections are one cell per element: a set element's path is the element, a map
  entry's path its key, a list element's path a time-ordered 20-byte id (``list_path``); a
  non-frozen UDT field's path is its index as a short. Overwriting the whole collection writes
  a column deletion at ``timestamp_us - 1`` then the elements (as Cassandra does, so the new
  elements survive their own statement's deletion).
* TTL (``USING TTL`` or the table's default_time_to_live): live cells and the marker get
  ``ttl_s`` and ``expires_s = now_s + ttl``; tombstones get ``deleted_s = now_s``.

List operations that need the list's current content (``l[i] = v``, ``DELETE l[i]``,
``l = l - [...]``) are read before the write, as in Cassandra: ``list_reads`` names the rows to
read, the coordinator reads them (at the statement's consistency level) and passes their
contents to ``build_mutations`` (``current``), which applies them (``cql.list_ops``).

Lightweight transactions are refused (``unsupported``). A statement or batch on a counter table
is checked against Cassandra's counter rules (``cql.counter_rules``); ``c = c + v`` on a counter
column builds a *delta cell*: a live cell holding the signed 64-bit delta (the deltas of one cell
in one statement summed), which ``node.counter_write`` turns into the leader's increments. A
delta cell never reaches storage.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from skewless import errors, limits
from skewless.cql import ast, counter_rules, fixed, key_sizes
from skewless.cql.list_ops import ListOp, ListSeq, apply_list_op
from skewless.cql.slices import clustering_prefixes, clustering_slices, encode_prefix
from skewless.cql.terms import (
    Elements,
    Env,
    EvalContext,
    Shape,
    Unset,
    elements_of,
    evaluate,
    evaluate_defined,
    split_fields,
    udt_fields,
)
from skewless.cql.where import Restrictions, collect, column_of
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage import keys
from skewless.storage.counters import wrap64
from skewless.storage.dropped import skip_dropped
from skewless.storage.merge import LiveRow, LiveView, live_view, reconcile_cells
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

Modification = ast.Insert | ast.Update | ast.Delete


# ---------------------------------------------------------------- USING


def using_timestamp(stmt: Modification | ast.Batch, ctx: EvalContext) -> int | None:
    """The USING TIMESTAMP value in microseconds, or None (unset counts as absent)."""
    term = stmt.using.timestamp
    if term is None:
        return None
    v = evaluate(term, "bigint", Env(ctx, Schema(), ctx.keyspace), "[timestamp]")
    if isinstance(v, Unset):
        return None
    if not v:
        what = "null" if v is None else "empty"
        raise errors.InvalidRequest(f"Invalid {what} value of timestamp")
    ts = fixed.unpack(">q", v, "timestamp")
    if ts == -(2**63):
        raise errors.InvalidRequest("Invalid timestamp value: the minimum long is reserved")
    return ts


def using_ttl(stmt: Modification, ctx: EvalContext, table: TableDef) -> int:
    """The TTL in seconds for the statement's cells: USING TTL, else the table's default;
    0 means none (an explicit TTL 0 overrides the table default)."""
    default = int(str(table.option("default_time_to_live", 0) or 0))
    term = stmt.using.ttl
    if term is None:
        return default
    v = evaluate(term, "int", Env(ctx, Schema(), ctx.keyspace), "[ttl]")
    if isinstance(v, Unset):
        return default
    if not v:
        raise errors.InvalidRequest(f"Invalid {'null' if v is None else 'empty'} value of TTL")
    ttl = fixed.unpack(">i", v, "TTL")
    if ttl < 0:
        raise errors.InvalidRequest(f"A TTL must be greater or equal to 0, but was {ttl}")
    if ttl > limits.cql_ttl_s_max:
        raise errors.InvalidRequest(
            f"ttl is too large. requested ({ttl}) maximum ({limits.cql_ttl_s_max})")
    return ttl


# ---------------------------------------------------------------- row content


@dataclass
class _RowContent:
    marker: Cell | None = None
    deletion: Deletion | None = None
    cells: dict[tuple[str, bytes], Cell] = field(default_factory=dict)
    column_deletions: dict[str, Deletion] = field(default_factory=dict)
    list_ops: list[ListOp] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.marker or self.deletion or self.cells or self.column_deletions
                    or self.list_ops)

    def row(self, clustering: bytes) -> Row:
        return Row(
            clustering=clustering, marker=self.marker, deletion=self.deletion,
            cells=tuple(CellWrite(c, p, cell) for (c, p), cell in sorted(self.cells.items())),
            column_deletions=tuple(sorted(self.column_deletions.items())),
        )


@dataclass
class _Writer:
    """Stamps cells with the statement's timestamp, TTL and local deletion time."""

    env: Env
    ts: int
    now_s: int
    ttl: int
    regular: _RowContent = field(default_factory=_RowContent)
    static: _RowContent = field(default_factory=_RowContent)
    current: dict[bytes, LiveView] = field(default_factory=dict)  # read before the write
    seq: ListSeq = field(default_factory=ListSeq)  # list element numbers of this write

    def live(self, value: bytes) -> Cell:
        if self.ttl:
            return Cell(self.ts, value, ttl_s=self.ttl, expires_s=self.now_s + self.ttl)
        return Cell(self.ts, value)

    def tombstone(self) -> Cell:
        return Cell(self.ts, None, deleted_s=self.now_s)

    def target(self, col: ColumnDef) -> _RowContent:
        return self.static if col.kind == "static" else self.regular

    def put(self, col: ColumnDef, path: bytes, value: bytes | None) -> None:
        """Write one cell; two operations of one statement on one cell reconcile as Cassandra's
        row builder does (at one timestamp the tombstone wins, then the greater value)."""
        cell = self.tombstone() if value is None else self.live(value)
        cells = self.target(col).cells
        old = cells.get((col.name, path))
        cells[(col.name, path)] = cell if old is None else reconcile_cells(old, cell)

    def delete_column(self, col: ColumnDef, overwrite: bool) -> None:
        ts = self.ts - 1 if overwrite else self.ts
        self.target(col).column_deletions[col.name] = Deletion(ts, self.now_s)

    def row(self, content: _RowContent, key: bytes, clustering: bytes, static: bool) -> Row:
        """``content`` as the row at ``clustering`` of partition ``key``, its list operations
        applied to the list elements read before the write."""
        if not content.list_ops:
            return content.row(clustering)
        view = self.current.get(key)
        live: LiveRow | None = None
        if view is not None:
            live = view.static_row if static else next(
                (r for r in view.rows if r.clustering == clustering), None)
        out = _RowContent(content.marker, content.deletion, dict(content.cells),
                          dict(content.column_deletions))
        for op in content.list_ops:
            elements = [] if live is None else [
                (c.path, c.cell) for c in live.cells if c.column == op.column]
            for path, cell in apply_list_op(op, elements, self.live, self.tombstone).items():
                old = out.cells.get((op.column, path))
                out.cells[(op.column, path)] = cell if old is None else reconcile_cells(old,
                                                                                        cell)
        return out.row(clustering)


def check_items_per_collection(column: str, n: int) -> None:
    """Cassandra's items_per_collection guardrail, on by default here: a write of one
    collection's items is applied in one turn of a replica's loop, so its size is bounded."""
    threshold = limits.items_per_collection_fail_threshold
    if n > threshold:
        raise errors.InvalidRequest(
            f"Guardrail items_per_collection violated: Detected collection {column} with {n} "
            f"items, this exceeds the failure threshold of {threshold}.")


def _check_bound_items(w: _Writer, col: ColumnDef, term: ast.Term) -> None:
    """items_per_collection on a bound collection from its count ([int] first), before its
    items are split and sorted (a 65,535-element set takes a while)."""
    if isinstance(term, ast.BindMarker) and term.index < len(w.env.ctx.values):
        v = w.env.ctx.values[term.index]
        if isinstance(v, bytes) and len(v) >= 4:
            check_items_per_collection(col.name, int.from_bytes(v[:4], "big", signed=True))


def list_path(ts_us: int, index: int, ctx: EvalContext, prepend: bool = False) -> bytes:
    """A list element's cell path, ordered bytewise by time: appends by (timestamp, index);
    prepends before every append, later prepends first. Node id and clock seq make it unique."""
    t = -ts_us if prepend else ts_us
    return struct.pack(">QIHHI", t + 2**63, index, ctx.clock_seq & 0xFFFF,
                       (ctx.node_id >> 32) & 0xFFFF, ctx.node_id & 0xFFFFFFFF)


def udt_path(index: int) -> bytes:
    return struct.pack(">h", index)


# ---------------------------------------------------------------- assignments


def _assign_whole(w: _Writer, col: ColumnDef, term: ast.Term) -> None:
    """``c = value`` (INSERT values too)."""
    shape = w.env.shape(col.type)
    if not shape.multicell:
        v = evaluate(term, col.type, w.env, col.name)
        if not isinstance(v, Unset):
            w.put(col, b"", v)
        return
    if shape.kind == "udt":
        _assign_udt(w, col, shape, term)
        return
    _check_bound_items(w, col, term)
    elems = elements_of(term, shape, w.env, col.name)
    if isinstance(elems, Unset):
        return
    w.delete_column(col, overwrite=True)
    if elems is not None:
        _add_elements(w, col, shape, elems, prepend=False)


def _assign_udt(w: _Writer, col: ColumnDef, shape: Shape, term: ast.Term) -> None:
    if isinstance(term, ast.UdtLiteral):
        fields: list[bytes | None] | None = udt_fields(term, shape, w.env, col.name)
    else:
        v = evaluate(term, f"frozen<{shape.name}>", w.env, col.name)
        if isinstance(v, Unset):
            return
        fields = None if v is None else split_fields(v, len(shape.fields))
    w.delete_column(col, overwrite=True)
    for i, f in enumerate(fields or ()):
        if f is not None:
            w.put(col, udt_path(i), f)


def _add_elements(w: _Writer, col: ColumnDef, shape: Shape, elems: Elements,
                  prepend: bool) -> None:
    check_items_per_collection(col.name, len(elems.items))
    cells = w.target(col).cells
    if elems.values is None and shape.kind == "set" and \
            not any(name == col.name for name, _ in cells):
        # The common case (a whole set written once): one shared immutable cell, no reconcile.
        cell = w.live(b"")
        cells.update(((col.name, e), cell) for e in elems.items)
        return
    if elems.values is not None:
        for k, v in zip(elems.items, elems.values, strict=True):
            w.put(col, k, v)
    elif shape.kind == "set":
        for e in elems.items:
            w.put(col, e, b"")
    else:
        first = w.seq.take(len(elems.items), prepend)
        for i, e in enumerate(elems.items):
            w.put(col, list_path(w.ts, first + i, w.env.ctx, prepend), e)


def _assign(w: _Writer, a: ast.Assignment, table: TableDef) -> None:
    col = column_of(table, a.column)
    if col.kind in ("partition_key", "clustering"):
        raise errors.InvalidRequest(f"PRIMARY KEY part {col.name} found in SET part")
    if a.op == "set":
        _assign_whole(w, col, a.value)
        return
    shape = w.env.shape(col.type)
    if a.op == "set_field":
        _set_field(w, col, shape, a)
    elif a.op == "set_key":
        _set_key(w, col, shape, a)
    else:
        _add_or_sub(w, col, shape, a)


def _set_key(w: _Writer, col: ColumnDef, shape: Shape, a: ast.Assignment) -> None:
    assert a.key is not None
    if shape.kind == "list" and shape.multicell:
        v = evaluate(a.value, shape.args[0], w.env, f"value({col.name})")
        if not isinstance(v, Unset):
            w.target(col).list_ops.append(
                ListOp(col.name, "set_index", _list_index(a.key, w, col), v))
        return
    if shape.kind != "map":
        raise errors.InvalidRequest(f"Invalid operation ({col.name}[?] = ?) for non map column "
                                    f"{col.name}")
    if not shape.multicell:
        raise errors.InvalidRequest(
            f"Invalid operation ({col.name}[?] = ?) for frozen collection column {col.name}")
    key = evaluate_defined(a.key, shape.args[0], w.env, f"key({col.name})")
    if key is None:
        raise errors.InvalidRequest("Invalid null map key")
    v = evaluate(a.value, shape.args[1], w.env, f"value({col.name})")
    if not isinstance(v, Unset):
        w.put(col, key, v)


def _list_index(term: ast.Term, w: _Writer, col: ColumnDef) -> int:
    v = evaluate_defined(term, "int", w.env, f"idx({col.name})")
    if v is None:
        raise errors.InvalidRequest("Invalid null value for list index")
    return fixed.unpack(">i", v, "list index")


def _set_field(w: _Writer, col: ColumnDef, shape: Shape, a: ast.Assignment) -> None:
    if shape.kind != "udt":
        raise errors.InvalidRequest(f"Invalid field selection: {col.name} of type {col.type} "
                                    f"is not a user type")
    if not shape.multicell:
        raise errors.InvalidRequest(
            f"Invalid operation ({col.name}.{a.field} = ?) for frozen UDT column {col.name}")
    if a.field not in shape.fields:
        raise errors.InvalidRequest(f"UDT column {col.name} does not have a field named "
                                    f"{a.field}")
    i = shape.fields.index(a.field)
    v = evaluate(a.value, shape.args[i], w.env, f"{col.name}.{a.field}")
    if not isinstance(v, Unset):
        w.put(col, udt_path(i), v)


def _add_or_sub(w: _Writer, col: ColumnDef, shape: Shape, a: ast.Assignment) -> None:
    sign = "-" if a.op == "sub" else "+"
    if a.op in ("add", "sub") and _is_counter(col.type):
        _count(w, col, a)
        return
    if shape.kind == "native" or shape.kind in ("tuple", "udt"):
        raise errors.InvalidRequest(
            f"Invalid operation ({col.name} = {col.name} {sign} ?) for non counter column "
            f"{col.name}")
    if not shape.multicell:
        raise errors.InvalidRequest(f"Invalid operation ({col.name} = {col.name} {sign} ?) for "
                                    f"frozen collection column {col.name}")
    if a.op == "prepend" and shape.kind != "list":
        raise errors.InvalidRequest(f"Invalid operation ({col.name} = ? + {col.name}) for non "
                                    f"list column {col.name}")
    if a.op == "sub":
        _subtract(w, col, shape, a.value)
        return
    elems = elements_of(a.value, shape, w.env, col.name)
    if elems is not None and not isinstance(elems, Unset):
        _add_elements(w, col, shape, elems, prepend=a.op == "prepend")


def _count(w: _Writer, col: ColumnDef, a: ast.Assignment) -> None:
    """``c = c + v`` / ``c = c - v`` on a counter: a delta cell (see the module docstring);
    two increments of one counter in one statement add up."""
    assert a.op in ("add", "sub")
    delta = counter_rules.counter_delta(a.op, evaluate(a.value, col.type, w.env, col.name))
    if delta is None:
        return
    cells = w.target(col).cells
    old = cells.get((col.name, b""))
    if old is not None and old.value is not None:
        delta = wrap64(delta + int.from_bytes(old.value, "big", signed=True))
    cells[(col.name, b"")] = Cell(w.ts, delta.to_bytes(8, "big", signed=True))


def _subtract(w: _Writer, col: ColumnDef, shape: Shape, term: ast.Term) -> None:
    if shape.kind == "list":
        elems = elements_of(term, shape, w.env, col.name)
        if elems is not None and not isinstance(elems, Unset):
            w.target(col).list_ops.append(ListOp(col.name, "discard",
                                                 values=tuple(elems.items)))
        return
    key_shape = Shape("set", "set", shape.args[:1])
    elems = elements_of(term, key_shape, w.env, col.name)
    if elems is None or isinstance(elems, Unset):
        return
    for e in elems.items:
        w.put(col, e, None)


def _delete_target(w: _Writer, t: ast.DeleteTarget, table: TableDef) -> None:
    col = column_of(table, t.column)
    if col.kind in ("partition_key", "clustering"):
        raise errors.InvalidRequest(
            f"Invalid identifier {col.name} for deletion (should not be a PRIMARY KEY part)")
    shape = w.env.shape(col.type)
    if t.key is None:
        if shape.multicell:
            w.delete_column(col, overwrite=False)
        else:
            w.put(col, b"", None)
        return
    if not shape.multicell or shape.kind == "udt":
        raise errors.InvalidRequest(
            f"Invalid deletion operation for non collection column {col.name}" if
            shape.kind != "list" else f"Invalid deletion operation for frozen collection "
            f"column {col.name}")
    if shape.kind == "list":
        w.target(col).list_ops.append(
            ListOp(col.name, "delete_index", _list_index(t.key, w, col)))
        return
    key = evaluate_defined(t.key, shape.args[0], w.env, f"key({col.name})")
    if key is None:
        raise errors.InvalidRequest(f"Invalid null value for {col.name} element")
    w.put(col, key, None)


# ---------------------------------------------------------------- keys


def _missing(prefix: str, cols: Sequence[ColumnDef]) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"{prefix}: {', '.join(c.name for c in cols)}")


def partition_keys(r: Restrictions, table: TableDef, kind: str = "UPDATE") -> list[bytes]:
    """The routed keys named by = / IN on every partition key column, in IN order, distinct."""
    pk = table.partition_key
    for c in pk:
        if c.name in r.lower or c.name in r.upper:
            raise errors.InvalidRequest("Only EQ and IN relation are supported on the partition "
                                        f"key (unless you use the token() function) for {kind} "
                                        "statements")
    missing = [c for c in pk if c.name not in r.eq]
    if missing:
        raise _missing("Some partition key parts are missing", missing)
    out: dict[bytes, None] = {}
    for parts in itertools.product(*(r.eq[c.name] for c in pk)):
        if len(parts) == 1 and not parts[0]:
            raise errors.InvalidRequest("Key may not be empty")
        out[key_sizes.routed_key(parts)] = None
    return list(out)


def _check_key_columns_only(r: Restrictions, kind: str) -> None:
    if r.filters:
        names = sorted({f.column.name for f in r.filters})
        raise errors.InvalidRequest(f"Non PRIMARY KEY columns found in where clause: "
                                    f"{', '.join(names)}")
    if r.token_columns:
        raise errors.InvalidRequest("The token function cannot be used in WHERE clauses for "
                                    f"{kind} statements")


# ---------------------------------------------------------------- statements


def build_mutations(stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext,
                    timestamp_us: int, now_s: int,
                    current: Sequence[PartitionUpdate] = (), seq: ListSeq | None = None
                    ) -> list[PartitionUpdate]:
    """The partition updates one INSERT/UPDATE/DELETE writes, one per partition, stamped with
    ``timestamp_us`` (the coordinator's choice, USING TIMESTAMP already applied). ``current``:
    the partitions ``list_reads`` named, as read (list operations apply to their elements).
    ``seq``: shared by the statements of one batch, so their list elements get distinct paths."""
    _refuse_unsupported(stmt, table)
    if isinstance(stmt, ast.Insert) and stmt.json is not None:
        from skewless.cql.insert_json import as_insert

        stmt, ctx = as_insert(stmt, table, Env(ctx, schema, table.keyspace))
    ttl = using_ttl(stmt, ctx, table) if not isinstance(stmt, ast.Delete) else 0
    w = _Writer(Env(ctx, schema, table.keyspace), timestamp_us, now_s, ttl,
                seq=ListSeq() if seq is None else seq)
    dropped = table.dropped_times()  # a replica read may not have skipped them yet
    w.current = {p.key: live_view(skip_dropped(p, dropped), now_s) for p in current}
    if isinstance(stmt, ast.Insert):
        return _insert(stmt, table, w)
    r = collect(stmt.where, table, w.env)
    kind = "DELETE" if isinstance(stmt, ast.Delete) else "UPDATE"
    _check_key_columns_only(r, kind)
    pkeys = partition_keys(r, table, kind)
    if isinstance(stmt, ast.Update):
        for a in stmt.assignments:
            _assign(w, a, table)
        return _rows_update(r, table, w, pkeys, "UPDATE", bool(stmt.assignments) and all(
            column_of(table, a.column).kind == "static" for a in stmt.assignments))
    return _delete(stmt, r, table, w, pkeys)


def _refuse_unsupported(stmt: Modification, table: TableDef) -> None:
    if any(_is_counter(c.type) for c in table.columns):
        counter_rules.check_modification(stmt, table)  # Cassandra's refusals first
    # IF clauses are not refused here: a conditional statement runs as a CAS plan
    # (``cql.cas``, ``node.lwt_path``), which builds its writes here with the clause removed;
    # PREPARE checks a conditional statement's writes here too.


@functools.lru_cache(maxsize=1024)  # distinct column type texts: far fewer in practice
def _is_counter(type_text: str) -> bool:
    """Whether a column of ``type_text`` is a counter (parsed once per type text)."""
    return keys.parse_type(type_text)[0] == "counter"


def _insert(stmt: ast.Insert, table: TableDef, w: _Writer) -> list[PartitionUpdate]:
    if len(stmt.columns) != len(stmt.values):
        raise errors.InvalidRequest("Unmatched column names/values")
    if len(set(stmt.columns)) != len(stmt.columns):
        raise errors.InvalidRequest("The column names contains duplicates")
    given = {name: term for name, term in zip(stmt.columns, stmt.values, strict=True)}
    r = Restrictions()
    others: list[ColumnDef] = []
    for name, term in given.items():
        col = column_of(table, name)
        if col.kind in ("partition_key", "clustering"):
            v = evaluate(term, col.type, w.env, name)
            if v is None:
                raise errors.InvalidRequest(f"Invalid null value in condition for column {name}")
            if isinstance(v, Unset):
                raise errors.InvalidRequest(f"Invalid unset value for column {name}")
            r.eq[name] = [v]
        else:
            others.append(col)
            _assign_whole(w, col, term)
    pkeys = partition_keys(r, table)
    static_only = bool(others) and all(c.kind == "static" for c in others)
    clustering_given = any(c.name in given for c in table.clustering)
    if not (static_only and not clustering_given):
        w.regular.marker = w.live(b"")
    return _rows_update(r, table, w, pkeys, "INSERT", static_only and not clustering_given,
                        insert=True)


def _rows_update(r: Restrictions, table: TableDef, w: _Writer, pkeys: list[bytes], kind: str,
                 static_only: bool, insert: bool = False) -> list[PartitionUpdate]:
    """INSERT/UPDATE: the content goes to every named row (or just the static row)."""
    cols = table.clustering
    if any(c.name in r.lower or c.name in r.upper for c in cols) or (
            r.multi_lower or r.multi_upper):
        raise errors.InvalidRequest(
            f"Slice restrictions are not supported on the clustering columns in {kind} statements")
    prefixes, n = clustering_prefixes(r, table)
    if static_only:
        if n and not insert:
            raise errors.InvalidRequest(f"Invalid restrictions on clustering columns since the "
                                        f"{kind} statement modifies only static columns")
        clusterings: list[bytes] = []
    elif n < len(cols):
        raise _missing("Some clustering keys are missing", cols[n:])
    else:
        for p in prefixes:
            key_sizes.check_clustering(p)
        clusterings = sorted({encode_prefix(table, p) for p in prefixes})
        if not clusterings:  # an empty IN: nothing to do (ModificationStatement.addUpdates)
            return []
    out = []
    for k in pkeys:
        rows = () if w.regular.empty() else tuple(w.row(w.regular, k, c, False)
                                                  for c in clusterings)
        static = None if w.static.empty() else w.row(w.static, k, b"", True)
        out.append(PartitionUpdate(table.table_key, k, static_row=static, rows=rows))
    return out


def _delete(stmt: ast.Delete, r: Restrictions, table: TableDef, w: _Writer,
            pkeys: list[bytes]) -> list[PartitionUpdate]:
    for t in stmt.targets:
        _delete_target(w, t, table)
    slices = clustering_slices(r, table)
    full = slices is not None and all(
        s[0] == s[2] and s[1] and s[3] for s in slices) and _restricts_all(r, table)
    static_only = bool(stmt.targets) and w.regular.empty()
    if slices == [] and not static_only:  # an empty IN on a clustering column: no-op
        return []
    if stmt.targets:
        if static_only:
            if slices is not None:
                raise errors.InvalidRequest("Invalid restrictions on clustering columns since "
                                            "the DELETE statement modifies only static columns")
            return _rows_update(r, table, w, pkeys, "DELETE", True)
        if not table.clustering:
            return _rows_update(r, table, w, pkeys, "DELETE", False)
        if slices is None or not full:
            raise errors.InvalidRequest("Range deletions are not supported for specific columns")
        return _rows_update(r, table, w, pkeys, "DELETE", False)
    d = Deletion(w.ts, w.now_s)
    if slices is None:
        return [PartitionUpdate(table.table_key, k, deletion=d) for k in pkeys]
    if full:
        rows = tuple(Row(c, deletion=d) for c in sorted({s[0] for s in slices}))
        return [PartitionUpdate(table.table_key, k, rows=rows) for k in pkeys]
    rts = tuple(RangeTombstone(*s, deletion=d) for s in slices)
    return [PartitionUpdate(table.table_key, k, range_tombstones=rts) for k in pkeys]


def list_reads(stmt: Modification, table: TableDef, schema: Schema, ctx: EvalContext
               ) -> list[tuple[bytes, tuple[bytes, ...]]]:
    """The (partition key, clusterings) to read before ``stmt`` can be written: non-empty
    only for list operations that need the list's current elements. Clusterings ``()``: read
    the whole partition (a table without clustering columns, or a static list)."""
    if isinstance(stmt, ast.Insert):
        return []
    env = Env(ctx, schema, table.keyspace)
    if isinstance(stmt, ast.Update):
        named = [a.column for a in stmt.assignments if a.op in ("set_key", "sub")]
    else:
        named = [t.column for t in stmt.targets if t.key is not None]
    cols = [c for n in named if (c := table.column(n)) is not None]
    lists = [c for c in cols if (sh := env.shape(c.type)).kind == "list" and sh.multicell]
    if not lists:
        return []
    r = collect(stmt.where, table, env)
    pkeys = partition_keys(r, table)
    prefixes, n = clustering_prefixes(r, table)
    if not table.clustering or any(c.kind == "static" for c in lists) or n < len(
            table.clustering):
        return [(k, ()) for k in pkeys]
    clusterings = tuple(sorted({encode_prefix(table, p) for p in prefixes}))
    return [(k, clusterings) for k in pkeys]


def _restricts_all(r: Restrictions, table: TableDef) -> bool:
    _, n = clustering_prefixes(r, table)
    return n == len(table.clustering)


# ---------------------------------------------------------------- batches


def batch_mutations(batch: ast.Batch, schema: Schema, ctx: EvalContext, timestamp_us: int,
                    now_s: int) -> list[PartitionUpdate]:
    """All updates of a BATCH, those of one partition merged into one ``PartitionUpdate``
    (in order of first appearance). A statement's own USING TIMESTAMP overrides
    ``timestamp_us``; tables are looked up in the statement's keyspace or ``ctx.keyspace``."""
    tables = [statement_table(stmt, schema, ctx) for stmt in batch.statements]
    if batch.kind == "COUNTER" or any(map(counter_rules.is_counter_table, tables)):
        counter_rules.check_batch(batch, tables)
    if batch.using.ttl is not None:
        raise errors.InvalidRequest("Global TTL on the BATCH statement is not supported.")
    batch_ts = batch.using.timestamp is not None
    updates: list[PartitionUpdate] = []
    seq = ListSeq()
    for stmt, table in zip(batch.statements, tables, strict=True):
        own_ts = using_timestamp(stmt, ctx)
        if batch_ts and stmt.using.timestamp is not None:
            raise errors.InvalidRequest(
                "Timestamp must be set either on BATCH or individual statements")
        ts = timestamp_us if own_ts is None else own_ts
        updates.extend(build_mutations(stmt, table, schema, ctx, ts, now_s, seq=seq))
    return merge_by_partition(updates)


def merge_by_partition(updates: Sequence[PartitionUpdate]) -> list[PartitionUpdate]:
    """One update per (table, partition key), in order of first appearance: a batch that
    touches a partition twice sends one mutation, merged by Cassandra's rules."""
    from skewless.storage.merge import merge_many

    groups: dict[tuple[str, bytes], list[PartitionUpdate]] = {}
    for u in updates:
        groups.setdefault((u.table, u.key), []).append(u)
    return [g[0] if len(g) == 1 else merge_many(g) for g in groups.values()]


def statement_table(stmt: Modification, schema: Schema, ctx: EvalContext) -> TableDef:
    """The statement's table (its keyspace or the session's), with Cassandra's messages."""
    ks = stmt.keyspace or ctx.keyspace
    if ks is None:
        raise errors.InvalidRequest("No keyspace has been specified. USE a keyspace, or "
                                    "explicitly specify keyspace.tablename")
    table = schema.table(ks, stmt.table)
    if table is None:
        raise errors.InvalidRequest(f"unconfigured table {stmt.table}")
    return table
