"""Bind-variable metadata of a prepared statement: what each ``?`` binds, and routing indexes.

For each bind marker (in the order the parser numbered them) the column spec the drivers encode
the value with: the column a marker is compared with or assigned to; ``[limit]``,
``[per_partition_limit]``, ``[timestamp]`` and ``[ttl]`` for those clauses; ``in(c)`` (a list)
for ``c IN ?``; ``partition key token`` for ``token(...) > ?``; the element types for
``c[?] = ?``. ``pk_indexes`` are the markers giving each partition-key column by equality, in
partition-key order (empty if any is not bound that way): the drivers route with them.
"""

from __future__ import annotations

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec
from skewless.cql.terms import resolve_type
from skewless.cql.where import contains_type
from skewless.schema import Schema, TableDef
from skewless.storage.keys import parse_type as split_type

Modification = ast.Insert | ast.Update | ast.Delete | ast.Select


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
            self.specs[t.index] = self.spec(name, self._normal(type_text))
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
            for a in t.args:
                self.term(a, name, "text")

    def _normal(self, type_text: str) -> str:
        """Cassandra's text of a type (user types resolved in the table's keyspace)."""
        return resolve_type(type_text, self.schema, self.table.keyspace).name

    def column_type(self, name: str) -> str:
        col = self.table.column(name)
        return col.type if col is not None else "blob"

    def using(self, u: ast.Using) -> None:
        if u.timestamp is not None:
            self.term(u.timestamp, "[timestamp]", "bigint")
        if u.ttl is not None:
            self.term(u.ttl, "[ttl]", "int")

    def relation(self, r: ast.Relation) -> None:
        lhs = r.lhs
        if isinstance(lhs, ast.TokenOf):
            self.term(r.rhs, "partition key token", "bigint")
        elif isinstance(lhs, str):
            t = self.column_type(lhs)
            if r.op == "IN":
                if isinstance(r.rhs, tuple):
                    for x in r.rhs:
                        self.term(x, lhs, t)
                else:
                    self.term(r.rhs, f"in({lhs})", f"list<{t}>")
            elif r.op in ("CONTAINS", "CONTAINS KEY"):
                self.term(r.rhs, lhs, contains_type(lhs, t, r.op))
            else:
                self.term(r.rhs, lhs, t)
                if r.op == "=" and isinstance(r.rhs, ast.BindMarker):
                    self.eq[lhs] = r.rhs.index
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
                    label = "in(" + ",".join(names) + ")" if r.op == "IN" else ",".join(names)
                    self.term(item, label,
                              f"list<frozen<{tuple_type}>>" if r.op == "IN" else tuple_type)

    def assignment(self, a: ast.Assignment) -> None:
        t = self.column_type(a.column)
        kind, args = split_type(t)
        if a.op == "set_key" and a.key is not None:
            if kind == "list":
                self.term(a.key, f"idx({a.column})", "int")
            elif kind == "map":
                self.term(a.key, f"key({a.column})", args[0])
            else:
                raise errors.InvalidRequest(
                    f"Invalid operation ({a.column}[?] = ?) for non map column {a.column}")
            self.term(a.value, f"value({a.column})", args[-1])
        elif a.op == "sub" and kind == "map":
            self.term(a.value, a.column, f"set<{args[0]}>")
        else:
            self.term(a.value, a.column, t)


def bind_metadata(stmt: Modification, parsed: ast.Parsed, table: TableDef, schema: Schema
                  ) -> tuple[tuple[ColumnSpec, ...], tuple[int, ...]]:
    b = _Binds(table, schema)
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
                    kind, args = split_type(b.column_type(t.column))
                    if kind == "list":
                        b.term(t.key, f"idx({t.column})", "int")
                    else:
                        b.term(t.key, f"key({t.column})", args[0] if args else "text")
        for r in stmt.where:
            b.relation(r)
        if isinstance(stmt, ast.Select):
            if stmt.per_partition_limit is not None:
                b.term(stmt.per_partition_limit, "[per_partition_limit]", "int")
            if stmt.limit is not None:
                b.term(stmt.limit, "[limit]", "int")
    specs = tuple(b.specs.get(i, b.spec(f"[bind{i}]", "blob")) for i in range(parsed.bind_count))
    pk = [b.eq.get(c.name) for c in table.partition_key]
    pk_indexes = tuple(i for i in pk if i is not None) if None not in pk else ()
    return specs, pk_indexes
