"""Paging state: where the next page of a SELECT starts, as opaque self-contained bytes.

The paging state may come back on another connection or to another node, so it carries all it
needs: the last partition key and clustering returned (clustering None once that partition is
finished), the rows still allowed by LIMIT and by PER PARTITION LIMIT in that partition, behind
a version byte. Anything that does not decode is Cassandra's "Invalid value for the paging
state". Also here: ``bind_metadata``, the bind variables' metadata for PREPARED results.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec
from skewless.schema import Schema, TableDef
from skewless.storage import keys

VERSION = 1


@dataclass(frozen=True, slots=True)
class PagingState:
    partition_key: bytes
    clustering: bytes | None  # the last row returned; None: the partition was finished
    remaining: int | None  # rows LIMIT still allows (None: no LIMIT)
    partition_remaining: int | None  # rows PER PARTITION LIMIT still allows in that partition


def encode_paging_state(state: PagingState) -> bytes:
    body = msgpack.packb([state.partition_key, state.clustering, state.remaining,
                          state.partition_remaining], use_bin_type=True)
    assert isinstance(body, bytes)
    return bytes((VERSION,)) + body


def _invalid() -> errors.InvalidRequest:
    return errors.InvalidRequest("Invalid value for the paging state")


def decode_paging_state(data: bytes) -> PagingState:
    if not data or data[0] != VERSION:
        raise _invalid()
    try:
        items = msgpack.unpackb(data[1:], raw=False)
    except Exception:  # msgpack raises several unrelated types on garbage
        raise _invalid() from None
    if not isinstance(items, list) or len(items) != 4:
        raise _invalid()
    key, clustering, remaining, part_remaining = items
    if not isinstance(key, bytes) or not (clustering is None or isinstance(clustering, bytes)):
        raise _invalid()
    for n in (remaining, part_remaining):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise _invalid()
    return PagingState(key, clustering, remaining, part_remaining)


# ---------------------------------------------------------------- bind variables metadata


class _Binds:
    """Collects a ColumnSpec per bind marker while walking a statement."""

    def __init__(self, table: TableDef, schema: Schema) -> None:
        self.table, self.schema = table, schema
        self.specs: dict[int, ColumnSpec] = {}

    def spec(self, name: str, type_text: str) -> ColumnSpec:
        return ColumnSpec(self.table.keyspace, self.table.name, name, type_text)

    def term(self, term: ast.Term | None, name: str, type_text: str) -> None:
        if term is None:
            return
        if isinstance(term, ast.BindMarker):
            self.specs.setdefault(term.index, self.spec(name, type_text))
        elif isinstance(term, ast.TypeHint):
            self.term(term.term, name, term.type)
        elif isinstance(term, ast.CollectionLiteral):
            self._collection(term, name, type_text)
        elif isinstance(term, ast.TupleLiteral):
            _, args = keys.parse_type(type_text)
            for t, a in zip(term.items, args, strict=False):
                self.term(t, name, a)
        elif isinstance(term, ast.UdtLiteral):
            self._udt(term, name, type_text)
        elif isinstance(term, ast.FunctionCall):
            self._function(term, name)

    def _collection(self, term: ast.CollectionLiteral, name: str, type_text: str) -> None:
        kind, args = keys.parse_type(type_text)
        for item in term.items:
            if isinstance(item, tuple):
                self.term(item[0], f"key({name})", args[0] if args else "blob")
                self.term(item[1], f"value({name})", args[-1] if args else "blob")
            else:
                self.term(item, name, args[0] if args else "blob")

    def _udt(self, term: ast.UdtLiteral, name: str, type_text: str) -> None:
        udt = self.schema.user_type(self.table.keyspace, keys.parse_type(type_text)[0])
        for fname, t in term.fields:
            ftype = "blob"
            if udt is not None and fname in udt.field_names:
                ftype = udt.field_types[udt.field_names.index(fname)]
            self.term(t, f"{name}.{fname}", ftype)

    def _function(self, call: ast.FunctionCall, name: str) -> None:
        fn = call.name.removeprefix("system.")
        if fn == "token":
            for t, c in zip(call.args, self.table.partition_key, strict=False):
                self.term(t, c.name, c.type)
            return
        arg_type = {"mintimeuuid": "timestamp", "maxtimeuuid": "timestamp"}.get(fn, "timeuuid")
        if fn.endswith("asblob"):
            arg_type = fn[:-6]
        elif fn.startswith("blobas"):
            arg_type = "blob"
        for t in call.args:
            self.term(t, name, arg_type)

    def column(self, name: str) -> tuple[str, str]:
        col = self.table.column(name)
        return (name, col.type) if col is not None else (name, "blob")

    def relation(self, rel: ast.Relation) -> None:
        lhs = rel.lhs
        if isinstance(lhs, ast.TokenOf):
            self.term(_single(rel.rhs), "partition key token", "bigint")
        elif isinstance(lhs, str):
            name, type_text = self.column(lhs)
            if rel.op in ("CONTAINS", "CONTAINS KEY"):
                _, args = keys.parse_type(type_text)
                type_text = args[0] if rel.op == "CONTAINS KEY" or len(args) == 1 else args[1]
            self._relation_rhs(rel, name, type_text)
        elif len(lhs) == 2 and not isinstance(lhs[1], str):
            name, type_text = self.column(str(lhs[0]))
            _, args = keys.parse_type(type_text)
            self.term(lhs[1], f"key({name})", args[0] if args else "blob")
            self.term(_single(rel.rhs), f"value({name})", args[-1] if args else "blob")
        else:
            self._multi(rel, [self.column(str(c)) for c in lhs])

    def _multi(self, rel: ast.Relation, cols: list[tuple[str, str]]) -> None:
        name = "(" + ",".join(c[0] for c in cols) + ")"
        tuple_type = f"frozen<tuple<{', '.join(c[1] for c in cols)}>>"
        if not isinstance(rel.rhs, tuple) and not isinstance(rel.rhs, ast.TupleLiteral):
            self._relation_rhs(rel, name, tuple_type)
            return
        for t in rel.rhs if isinstance(rel.rhs, tuple) else (rel.rhs,):
            if isinstance(t, ast.TupleLiteral):
                for item, (cname, ctype) in zip(t.items, cols, strict=False):
                    self.term(item, cname, ctype)
            else:
                self.term(t, name, tuple_type)

    def _relation_rhs(self, rel: ast.Relation, name: str, type_text: str) -> None:
        if rel.op == "IN" and not isinstance(rel.rhs, tuple):
            self.term(rel.rhs, f"in({name})", f"list<{type_text}>")
        elif isinstance(rel.rhs, tuple):
            for t in rel.rhs:
                self.term(t, name, type_text)
        else:
            self.term(rel.rhs, name, type_text)

    def assignment(self, a: ast.Assignment) -> None:
        name, type_text = self.column(a.column)
        kind, args = keys.parse_type(type_text)
        if a.op == "set_key":
            key_type = "int" if kind == "list" else (args[0] if args else "blob")
            self.term(a.key, f"idx({name})" if kind == "list" else f"key({name})", key_type)
            self.term(a.value, f"value({name})", args[-1] if args else "blob")
        elif a.op == "set_field":
            self._udt(ast.UdtLiteral(((a.field or "", a.value),)), name, type_text)
        elif a.op == "sub" and kind == "map":
            self.term(a.value, name, f"set<{args[0]}>")
        else:
            self.term(a.value, name, type_text)

    def using(self, using: ast.Using) -> None:
        self.term(using.timestamp, "[timestamp]", "bigint")
        self.term(using.ttl, "[ttl]", "int")


def _single(rhs: ast.Term | tuple[ast.Term, ...]) -> ast.Term | None:
    return None if isinstance(rhs, tuple) else rhs


def bind_metadata(stmt: ast.Statement, parsed: ast.Parsed, table: TableDef, schema: Schema
                  ) -> tuple[tuple[ColumnSpec, ...], tuple[int, ...]]:
    """Bind variables' column specs, in marker order, and the partition key indexes: for each
    partition key column in order, the marker that gives it by ``=`` (empty unless all are)."""
    b = _Binds(table, schema)
    pk_markers: dict[str, int] = {}
    _walk(stmt, b, pk_markers, schema)
    specs = tuple(b.specs.get(i, b.spec(parsed.bind_names[i] or f"[{i}]", "blob"))
                  for i in range(parsed.bind_count))
    pk_names = [c.name for c in table.partition_key]
    indexes = tuple(pk_markers[n] for n in pk_names if n in pk_markers)
    return specs, indexes if len(indexes) == len(pk_names) else ()


def _walk(stmt: ast.Statement, b: _Binds, pk_markers: dict[str, int], schema: Schema) -> None:
    pk = {c.name for c in b.table.partition_key}
    if isinstance(stmt, ast.Batch):
        b.using(stmt.using)
        for s in stmt.statements:
            table = schema.table(s.keyspace or b.table.keyspace, s.table) or b.table
            sub = _Binds(table, schema)
            _walk(s, sub, pk_markers if table == b.table else {}, schema)
            for i, spec in sub.specs.items():
                b.specs.setdefault(i, spec)
        return
    if isinstance(stmt, ast.Insert):
        for name, term in zip(stmt.columns, stmt.values, strict=False):
            b.term(term, *b.column(name))
            if name in pk and isinstance(term, ast.BindMarker):
                pk_markers.setdefault(name, term.index)
        b.using(stmt.using)
        return
    if isinstance(stmt, ast.Update | ast.Delete):
        b.using(stmt.using)
        if isinstance(stmt, ast.Update):
            for a in stmt.assignments:
                b.assignment(a)
        else:
            for t in stmt.targets:
                name, type_text = b.column(t.column)
                b.term(t.key, f"key({name})", (keys.parse_type(type_text)[1] or ("int",))[0])
    if isinstance(stmt, ast.Update | ast.Delete | ast.Select):
        for rel in stmt.where:
            b.relation(rel)
            if (isinstance(rel.lhs, str) and rel.lhs in pk and rel.op == "="
                    and isinstance(rel.rhs, ast.BindMarker)):
                pk_markers.setdefault(rel.lhs, rel.rhs.index)
        for cond in getattr(stmt, "conditions", ()):
            b.relation(cond)
    if isinstance(stmt, ast.Select):
        b.term(stmt.per_partition_limit, "[per_partition_limit]", "int")
        b.term(stmt.limit, "[limit]", "int")
