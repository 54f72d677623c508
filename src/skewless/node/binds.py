"""Bind-variable metadata of a prepared statement: what each ``?`` binds, and routing indexes.

For each bind marker (in the order the parser numbered them) the column spec the drivers encode
the value with, named and typed as Cassandra's receivers are: the column a marker is compared
with or assigned to; ``[limit]``, ``[per_partition_limit]``, ``[timestamp]`` and ``[ttl]`` for
those clauses; ``in(c)`` (a list) for ``c IN ?``; ``partition key token`` for
``token(...) > ?``; ``(a,b)`` / ``in(a,b)`` for tuple markers (Tuples.makeReceiver);
``key(m)``/``value(m)`` for a map entry and ``idx(l)``/``value(l)`` for a list element, in
WHERE, SET, DELETE and IF alike (Maps/Lists.*SpecOf); ``value(c)``/``key(m)`` for CONTAINS and
CONTAINS KEY; ``u.f`` for a UDT field (UserTypes.fieldSpecOf); a named marker (``:name``) by
its name. An unknown column is refused here, at PREPARE. ``pk_indexes`` are the markers giving
each partition-key column by equality, in partition-key order (empty if any is not bound that
way): the drivers route with them.
"""

from __future__ import annotations

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec
from skewless.cql.selection import compile_selection
from skewless.cql.terms import resolve_type
from skewless.cql.types_native import NATIVE_TYPES
from skewless.cql.where import contains_type
from skewless.node.schema.identifiers import quote_if_needed
from skewless.schema import Schema, TableDef
from skewless.storage.keys import parse_type as split_type

Modification = ast.Insert | ast.Update | ast.Delete | ast.Select


def _selector_binds(stmt: ast.Select, b: _Binds) -> None:
    """Markers in element and slice selections (``m[?]``, ``s[?..?]``): the map's key or the
    set's element type, named ``key(m)`` / ``value(s)`` as Cassandra's Maps.keySpecOf /
    Sets.valueSpecOf do."""
    if not any(isinstance(s.expr, ast.SelectorElement | ast.SelectorSlice)
               for s in stmt.selectors):
        return
    todo = list(compile_selection(stmt, b.table, b.schema))
    while todo:
        sel = todo.pop()
        if sel.inner is None:
            continue
        todo.append(sel.inner)
        kind, args = split_type(sel.inner.type)
        label = "key" if kind == "map" else "value"
        for t in sel.args:
            b.term(t, f"{label}({sel.inner.name})", args[0])


class _Binds:
    def __init__(self, table: TableDef, schema: Schema) -> None:
        self.table = table
        self.schema = schema
        self.specs: dict[int, ColumnSpec] = {}
        self.eq: dict[str, int] = {}

    def spec(self, name: str, type_text: str) -> ColumnSpec:
        return ColumnSpec(self.table.keyspace, self.table.name, name, type_text)

    def term(self, t: object, name: str, type_text: str) -> None:
        if isinstance(t, ast.BindMarker):
            # a named marker (:name) is described by its own name (VariableSpecifications)
            self.specs[t.index] = self.spec(t.name or name, self._normal(type_text))
        elif isinstance(t, ast.TypeHint):
            self.term(t.term, name, t.type)
        elif isinstance(t, ast.CollectionLiteral):
            kind, args = split_type(type_text)
            for item in t.items:
                if isinstance(item, tuple):
                    self.term(item[0], name, args[0] if args else type_text)
                    self.term(item[1], name, args[-1] if args else type_text)
                else:
                    self.term(item, name, args[0] if args else type_text)
        elif isinstance(t, ast.FunctionCall):
            fn = t.name.lower().removeprefix("system.")
            for i, a in enumerate(t.args):
                # FunctionResolver.makeArgSpec: argN(system.f), typed by the signature
                self.term(a, f"arg{i}(system.{fn})", self._arg_type(fn, i))

    def receiver_is_column(self, t: object, column: str, condition: bool) -> None:
        """A marker bound to the column itself: for a partition key column, the drivers route
        with the last such marker (VariableSpecifications.getPartitionKeyBindVariableIndexes)."""
        if isinstance(t, ast.BindMarker) and not condition:
            self.eq[column] = t.index

    def _arg_type(self, fn: str, i: int) -> str:
        """The type of argument ``i`` of the native function ``fn`` (blob when unknown)."""
        if fn == "token":
            pk = self.table.partition_key
            return pk[i].type if i < len(pk) else "blob"
        if fn.endswith("asblob") and fn[:-len("asblob")] in NATIVE_TYPES:
            return fn[:-len("asblob")]
        fixed = {"mintimeuuid": "timestamp", "maxtimeuuid": "timestamp", "fromjson": "text",
                 "dateof": "timeuuid", "unixtimestampof": "timeuuid", "totimestamp": "timeuuid",
                 "tounixtimestamp": "timeuuid", "todate": "timeuuid"}
        return fixed.get(fn, "blob")

    def _normal(self, type_text: str) -> str:
        """Cassandra's text of a type (user types resolved in the table's keyspace)."""
        return resolve_type(type_text, self.schema, self.table.keyspace).name

    def column_type(self, name: str) -> str:
        col = self.table.column(name)
        if col is None:  # TableMetadata.getExistingColumn, checked at PREPARE
            raise errors.InvalidRequest(f"Undefined column name {quote_if_needed(name)} in "
                                        f"table {self.table.keyspace}.{self.table.name}")
        return col.type

    def element(self, column: str, key: ast.Term, value: ast.Term | None) -> None:
        """``c[key]`` (= ``value``): a list index (``idx(c)``, int) or a map key (``key(c)``),
        and the element value (``value(c)``): Lists/Maps.*SpecOf."""
        kind, args = split_type(self.column_type(column))
        if kind == "list":
            self.term(key, f"idx({column})", "int")
        else:
            self.term(key, f"key({column})", args[0] if args else "blob")
        if value is not None:
            self.term(value, f"value({column})", args[-1] if args else "blob")

    def using(self, u: ast.Using) -> None:
        if u.timestamp is not None:
            self.term(u.timestamp, "[timestamp]", "bigint")
        if u.ttl is not None:
            self.term(u.ttl, "[ttl]", "int")

    def relation(self, r: ast.Relation, condition: bool = False) -> None:
        lhs = r.lhs
        if isinstance(lhs, ast.FieldOf):  # IF u.f = ? / IN (...) / IN ?
            ftype = self._field_type(self.column_type(lhs.column), lhs.field)
            label = f"{lhs.column}.{lhs.field}"
            if r.op == "IN" and not isinstance(r.rhs, tuple):
                self.term(r.rhs, f"in({label})", f"list<{ftype}>")
            else:
                for x in r.rhs if isinstance(r.rhs, tuple) else (r.rhs,):
                    self.term(x, label, ftype)
        elif isinstance(lhs, ast.TokenOf):
            self.term(r.rhs, "partition key token", "bigint")
        elif isinstance(lhs, tuple) and len(lhs) == 2 and not isinstance(lhs[1], str):
            assert not isinstance(r.rhs, tuple)
            self.element(str(lhs[0]), lhs[1], r.rhs)
        elif isinstance(lhs, str):
            t = self.column_type(lhs)
            if r.op == "IN":
                if isinstance(r.rhs, tuple):
                    for x in r.rhs:
                        self.term(x, lhs, t)
                        self.receiver_is_column(x, lhs, condition)
                else:
                    self.term(r.rhs, f"in({lhs})", f"list<{t}>")
            elif r.op in ("CONTAINS", "CONTAINS KEY"):
                key = r.op == "CONTAINS KEY"
                self.term(r.rhs, f"{'key' if key else 'value'}({lhs})",
                          contains_type(lhs, t, r.op))
            else:
                self.term(r.rhs, lhs, t)
                self.receiver_is_column(r.rhs, lhs, condition)
        elif isinstance(lhs, tuple) and lhs and all(isinstance(x, str) for x in lhs):
            names = [str(x) for x in lhs]
            types = [self.column_type(n) for n in names]
            tuple_type = "tuple<" + ", ".join(types) + ">"
            rhs = r.rhs
            items = rhs if isinstance(rhs, tuple) else (rhs,)
            for item in items:
                if isinstance(item, ast.TupleLiteral):
                    for n, ty, x in zip(names, types, item.items, strict=False):
                        self.term(x, n, ty)
                else:
                    # Tuples.makeReceiver / makeInReceiver
                    label = ("in(" if r.op == "IN" else "(") + ",".join(names) + ")"
                    self.term(item, label,
                              f"list<frozen<{tuple_type}>>" if r.op == "IN" else tuple_type)

    def assignment(self, a: ast.Assignment) -> None:
        t = self.column_type(a.column)
        kind, args = split_type(t)
        if a.op == "set_key" and a.key is not None:
            self.element(a.column, a.key, a.value)
        elif a.op == "set_field" and a.field is not None:
            self.term(a.value, f"{a.column}.{a.field}", self._field_type(t, a.field))
        elif a.op == "sub" and kind == "map":
            self.term(a.value, a.column, f"set<{args[0]}>")
        else:
            self.term(a.value, a.column, t)


    def _field_type(self, type_text: str, field: str) -> str:
        """The type of a UDT field (UserTypes.fieldSpecOf); the column's when unknown."""
        t = resolve_type(type_text, self.schema, self.table.keyspace)
        for name, ft in getattr(t, "fields", ()):
            if name == field:
                return str(ft.name)
        return type_text


def batch_bind_metadata(batch: ast.Batch, parsed: ast.Parsed, tables: list[TableDef],
                        schema: Schema) -> tuple[ColumnSpec, ...]:
    """The bind specs of a prepared BATCH: each marker described by the statement holding it
    (markers are numbered across the whole batch). No routing indexes: a batch may span
    partitions."""
    specs: dict[int, ColumnSpec] = {}
    for stmt, table in zip(batch.statements, tables, strict=True):
        b = _Binds(table, schema)
        _describe(b, stmt)
        specs.update(b.specs)
    if tables:
        b = _Binds(tables[0], schema)
        b.using(batch.using)
        specs.update(b.specs)
    fallback = _Binds(tables[0], schema) if tables else None
    return tuple(specs[i] if i in specs or fallback is None else fallback.spec(f"[bind{i}]", "blob")
                 for i in range(parsed.bind_count))


def bind_metadata(stmt: Modification, parsed: ast.Parsed, table: TableDef, schema: Schema
                  ) -> tuple[tuple[ColumnSpec, ...], tuple[int, ...]]:
    b = _Binds(table, schema)
    _describe(b, stmt)
    specs = tuple(b.specs.get(i, b.spec(f"[bind{i}]", "blob")) for i in range(parsed.bind_count))
    pk = [b.eq.get(c.name) for c in table.partition_key]
    pk_indexes = tuple(i for i in pk if i is not None) if None not in pk else ()
    return specs, pk_indexes


def _describe(b: _Binds, stmt: Modification) -> None:
    if isinstance(stmt, ast.Insert):
        for name, value in zip(stmt.columns, stmt.values, strict=True):
            b.term(value, name, b.column_type(name))
            if isinstance(value, ast.BindMarker):
                b.eq[name] = value.index
        if stmt.json is not None:
            b.term(stmt.json, "[json]", "text")
        b.using(stmt.using)
    else:
        if isinstance(stmt, ast.Update | ast.Delete):
            b.using(stmt.using)
        if isinstance(stmt, ast.Update):
            for a in stmt.assignments:
                b.assignment(a)
        if isinstance(stmt, ast.Delete):
            for t in stmt.targets:
                if t.key is not None:
                    b.element(t.column, t.key, None)
                else:
                    b.column_type(t.column)
        for r in stmt.where:
            b.relation(r)
        if isinstance(stmt, ast.Update | ast.Delete):
            for r in stmt.conditions:
                b.relation(r, condition=True)
        if isinstance(stmt, ast.Select):
            _selector_binds(stmt, b)
            if stmt.per_partition_limit is not None:
                b.term(stmt.per_partition_limit, "[per_partition_limit]", "int")
            if stmt.limit is not None:
                b.term(stmt.limit, "[limit]", "int")
