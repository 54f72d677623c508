"""SELECT lists: selectors compiled against a table, evaluated per row, aggregated.

``compile_selection`` needs no bound values, so result metadata is known at PREPARE time. A
compiled ``Selector`` reads a ``RowData`` (partition key values, clustering values and the row's
live cells, static ones included) and returns serialized bytes or None. Aggregates (count, min,
max, sum, avg) fold every row into one; a plain column next to an aggregate takes its value from
the first row, as Cassandra does.
"""

from __future__ import annotations

import decimal
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cmp_to_key

from skewless import errors
from skewless.cql import ast
from skewless.cql import select_elements as elements
from skewless.cql import select_stamps as stamps
from skewless.cql import types as cqltypes
from skewless.cql.results import ColumnSpec
from skewless.cql.select_functions import ZERO_ARGS, apply, is_scalar, param_type, signature
from skewless.cql.terms import (
    Env,
    Shape,
    call_function,
    evaluate_defined,
    pack_collection,
    pack_map,
    pack_udt,
    resolve_type,
    shape_of,
)
from skewless.cql.types_vector import (
    SIMILARITY_FUNCTIONS,
    VectorType,
    check_similarity_args,
    similarity,
)
from skewless.ring import token_of
from skewless.schema import ColumnDef, Schema, TableDef
from skewless.storage import keys
from skewless.storage.model import Cell

AGGREGATES = frozenset({"count", "min", "max", "sum", "avg"})
NUMERIC = frozenset({"tinyint", "smallint", "int", "bigint", "counter", "varint", "float",
                     "double", "decimal"})
INT_BITS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "counter": 64}


@dataclass(frozen=True, slots=True)
class Selector:
    """One compiled select-list item. ``kind``: column, writetime, ttl, token, count_star,
    count, min, max, sum, avg, cast."""

    kind: str
    name: str
    type: str
    column: ColumnDef | None = None
    inner: Selector | None = None
    fn: str = ""  # kind "function": the function; "const": the zero-argument function
    term: ast.Term | None = None  # kind "const" with a constant argument
    value: bytes | None = None  # kind "const", once bound (``bind_selectors``)
    args: tuple[ast.Term | None, ...] = ()  # kind "element": (key,); "slice": (from, to)
    bound: tuple[bytes | None, ...] = ()  # ``args`` once bound
    index: int = -1  # kind "field": the field's position in the user type
    operands: tuple[Selector, ...] = ()  # kind "similarity": its two arguments

    @property
    def is_aggregate(self) -> bool:
        """An aggregate, or a cast or function applied to one (``CAST(avg(n) AS double)``)."""
        if self.kind in ("cast", "function") and self.inner is not None:
            return self.inner.is_aggregate
        return self.kind in AGGREGATES or self.kind == "count_star"


@dataclass
class RowData:
    """One CQL row as read: partition key and clustering values, live cells by column."""

    pk: Sequence[bytes]
    ck: Sequence[bytes]
    cells: dict[str, list[tuple[bytes, Cell]]]
    key: bytes = b""


@dataclass
class Types:
    """Resolved CqlTypes and shapes of one table's columns (cached)."""

    schema: Schema
    keyspace: str
    _types: dict[str, cqltypes.CqlType] = field(default_factory=dict)
    _shapes: dict[str, Shape] = field(default_factory=dict)

    def ctype(self, text: str) -> cqltypes.CqlType:
        if text not in self._types:
            self._types[text] = resolve_type(text, self.schema, self.keyspace)
        return self._types[text]

    def shape(self, text: str) -> Shape:
        if text not in self._shapes:
            self._shapes[text] = shape_of(text, self.schema, self.keyspace)
        return self._shapes[text]


# ---------------------------------------------------------------- compiling


def star_columns(table: TableDef) -> list[ColumnDef]:
    """``*``: partition key, clustering, then static and regular columns each by name."""
    rest = sorted(table.regular, key=lambda c: (c.kind != "static", c.name))
    return [*table.partition_key, *table.clustering, *rest]


def compile_selection(stmt: ast.Select, table: TableDef, schema: Schema | None = None
                      ) -> tuple[Selector, ...]:
    """``schema`` resolves the user types of field selections (``u.f``)."""
    if not stmt.selectors:
        return tuple(Selector("column", c.name, c.type, c) for c in star_columns(table))
    out = []
    for s in stmt.selectors:
        sel = _compile(s.expr, table, schema)
        out.append(sel if s.alias is None else replace(sel, name=s.alias))
    return tuple(out)


def bind_selectors(selectors: tuple[Selector, ...], env: Env) -> tuple[Selector, ...]:
    """The selectors with their per-statement parts evaluated: constant arguments and the
    functions without arguments (now(), uuid(), currentTimestamp(), ...)."""
    return tuple(_bind(s, env) for s in selectors)


def _bind(s: Selector, env: Env) -> Selector:
    if s.kind == "const":
        if s.term is not None:
            v = evaluate_defined(s.term, s.type, env, s.name)
        else:
            v, _ = call_function(ast.FunctionCall(s.fn, ()), env, s.name)
        return replace(s, value=v)
    if s.kind == "similarity":
        return replace(s, operands=tuple(_bind(a, env) for a in s.operands))
    if s.args:
        assert s.inner is not None
        s = replace(s, bound=elements.bind_bounds(s.kind, s.name, s.args, s.inner.type, env))
    if s.inner is not None:
        return replace(s, inner=_bind(s.inner, env))
    return s


def _column(expr: ast.SelectorExpr, table: TableDef, fn: str) -> ColumnDef:
    if not isinstance(expr, ast.ColumnRef):
        raise errors.unsupported(f"nested selector in {fn}()")
    col = table.column(expr.name)
    if col is None:
        raise errors.InvalidRequest(f"Undefined column name {expr.name}")
    return col


def _compile(expr: ast.SelectorExpr, table: TableDef, schema: Schema | None) -> Selector:
    if isinstance(expr, ast.SelectorElement | ast.SelectorSlice | ast.SelectorField):
        return _compile_part(expr, table, schema)
    if isinstance(expr, ast.ColumnRef):
        col = _column(expr, table, "")
        return Selector("column", col.name, col.type, col)
    if isinstance(expr, ast.CountStar):
        return Selector("count_star", "count", "bigint")
    if isinstance(expr, ast.SelectorCast):
        inner = _compile(expr.expr, table, schema)
        check_cast(inner.type, expr.type)
        return Selector("cast", f"cast({inner.name} as {expr.type})", expr.type, inner=inner)
    if isinstance(expr, ast.SelectorCall):
        return _compile_call(expr, table, schema)
    raise errors.unsupported("terms in the select clause")


def _compile_part(expr: ast.SelectorElement | ast.SelectorSlice | ast.SelectorField,
                  table: TableDef, schema: Schema | None) -> Selector:
    """``m['k']``, ``m['a'..'c']``, ``u.f`` (see select_elements)."""
    inner = _compile(expr.expr, table, schema)
    shape = shape_of(inner.type, schema or Schema(), table.keyspace)
    if isinstance(expr, ast.SelectorField):
        ftype, i = elements.field_type(inner.name, inner.type, shape, expr.field)
        name = elements.selection_name("field", inner.name, (), expr.field)
        return Selector("field", name, ftype, inner.column, inner, index=i)
    kind = "element" if isinstance(expr, ast.SelectorElement) else "slice"
    args = (expr.key,) if isinstance(expr, ast.SelectorElement) else (expr.start, expr.end)
    rtype, _ = elements.element_type(kind, inner.name, inner.type, shape)
    name = elements.selection_name(kind, inner.name, args, "")
    return Selector(kind, name, rtype, inner.column, inner, args=args)


def _compile_call(call: ast.SelectorCall, table: TableDef, schema: Schema | None) -> Selector:
    name = call.name.removeprefix("system.")
    if name == "token":
        cols = [_column(a, table, name) for a in call.args]
        if [c.name for c in cols] != [c.name for c in table.partition_key]:
            raise errors.InvalidRequest(
                "token() selector must be given the partition key columns in order")
        return Selector("token", f"system.token({', '.join(c.name for c in cols)})", "bigint")
    if name in SIMILARITY_FUNCTIONS:
        return _compile_similarity(name, call, table, schema)
    if is_scalar(name):
        return _compile_scalar(name, call, table, schema)
    if len(call.args) != 1:
        raise errors.InvalidRequest(f"Invalid number of arguments in call to function {name}: 1 "
                                    f"required but {len(call.args)} provided")
    if name in ("writetime", "ttl", "maxwritetime"):
        inner = _compile(call.args[0], table, schema)
        stamps.check_target(name, inner)
        multi = stamps.is_multi(inner, lambda t: shape_of(t, schema or Schema(), table.keyspace))
        return Selector(name, f"{name}({inner.name})", stamps.result_type(name, multi),
                        inner.column, inner)
    if name in AGGREGATES:
        if name == "count" and isinstance(call.args[0], ast.CountStar | ast.SelectorTerm):
            return Selector("count_star", "count", "bigint")
        inner = _compile(call.args[0], table, schema)
        if name in ("sum", "avg") and keys.parse_type(inner.type)[0] not in NUMERIC:
            raise errors.InvalidRequest(f"Invalid call to function {name}: argument of type "
                                        f"{inner.type} is not numeric")
        rtype = "bigint" if name == "count" else inner.type
        return Selector(name, f"system.{name}({inner.name})", rtype, inner.column, inner)
    if name == "fromjson":
        raise errors.InvalidRequest("fromJson() cannot be used in the selection clause")
    raise errors.unsupported(f"function {name} in a select clause")


def _compile_scalar(name: str, call: ast.SelectorCall, table: TableDef,
                    schema: Schema | None) -> Selector:
    label = f"system.{name}"
    if not call.args:
        signature(name, [])
        return Selector("const", f"{label}()", ZERO_ARGS[name], fn=name)
    if len(call.args) != 1:
        signature(name, ["?"] * len(call.args))
    arg = call.args[0]
    if isinstance(arg, ast.SelectorTerm):
        if isinstance(arg.term, ast.BindMarker):
            raise errors.unsupported("bind markers in a select clause")
        ptype = param_type(name)
        inner = Selector("const", _term_text(arg.term), ptype, term=arg.term)
    else:
        inner = _compile(arg, table, schema)
    rtype = signature(name, [inner.type])
    return Selector("function", f"{label}({inner.name})", rtype, inner.column, inner, fn=name)


def _vector_type(text: str) -> cqltypes.CqlType | None:
    try:
        return cqltypes.parse_type(text)
    except errors.InvalidRequest:  # a user type: not a vector
        return None


def _compile_similarity(name: str, call: ast.SelectorCall, table: TableDef,
                        schema: Schema | None) -> Selector:
    """similarity_cosine/euclidean/dot_product(a, b) (VectorFcts); a vector literal argument
    takes the type of the other argument."""
    compiled = [None if isinstance(a, ast.SelectorTerm) else _compile(a, table, schema)
                for a in call.args]
    known = [c.type for c in compiled if c is not None]
    args: list[Selector] = []
    for a, c in zip(call.args, compiled, strict=True):
        if c is not None:
            args.append(c)
            continue
        assert isinstance(a, ast.SelectorTerm)
        if isinstance(a.term, ast.BindMarker):
            raise errors.unsupported("bind markers in a select clause")
        if not known:
            raise errors.InvalidRequest(f"Cannot infer type of argument {_term_text(a.term)} "
                                        f"in call to function system.{name}")
        args.append(Selector("const", _term_text(a.term), known[0], term=a.term))
    types = [_vector_type(a.type) for a in args]
    check_similarity_args(name, [t if t is not None else cqltypes.native("text") for t in types])
    label = f"system.{name}({', '.join(a.name for a in args)})"
    return Selector("similarity", label, "float", fn=name, operands=tuple(args))


def _term_text(term: ast.Term) -> str:
    if isinstance(term, ast.CollectionLiteral) and term.kind == "list":
        return "[" + ", ".join(_term_text(t) for t in term.items if not isinstance(t, tuple)) + "]"
    if isinstance(term, ast.Constant):
        return "'" + term.text.replace("'", "''") + "'" if term.kind == "string" else term.text
    return "?"


def check_cast(source: str, target: str) -> None:
    s = keys.parse_type(source)[0]
    if target in ("text", "ascii", "varchar") or (s in NUMERIC and target in NUMERIC) or (
            s == target):
        return
    raise errors.InvalidRequest(f"{source} cannot be cast to {target}")


def result_columns(selectors: Sequence[Selector], table: TableDef) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec(table.keyspace, table.name, s.name, s.type) for s in selectors)


# ---------------------------------------------------------------- per-row values


def column_value(col: ColumnDef, row: RowData, types: Types) -> bytes | None:
    if col.kind == "partition_key":
        return row.pk[col.position]
    if col.kind == "clustering":
        return row.ck[col.position] if col.position < len(row.ck) else None
    cells = row.cells.get(col.name)
    if not cells:
        return None
    shape = types.shape(col.type)
    if not shape.multicell:
        return cells[0][1].value
    return _assemble(shape, cells, types)


def _assemble(shape: Shape, cells: list[tuple[bytes, Cell]], types: Types) -> bytes:
    """A non-frozen collection or UDT value from its element cells."""
    if shape.kind == "udt":
        fields: list[bytes | None] = [None] * len(shape.fields)
        for path, cell in cells:
            i = int(struct.unpack(">h", path)[0])
            if 0 <= i < len(fields):
                fields[i] = cell.value
        return pack_udt(fields)
    if shape.kind == "list":
        return pack_collection([c.value or b"" for _, c in sorted(cells, key=lambda pc: pc[0])])
    ktype = types.ctype(shape.args[0])

    def cmp(a: tuple[bytes, Cell], b: tuple[bytes, Cell]) -> int:
        return ktype.compare(a[0], b[0])

    ordered = sorted(cells, key=cmp_to_key(cmp))
    if shape.kind == "set":
        return pack_collection([p for p, _ in ordered])
    return pack_map([(p, c.value or b"") for p, c in ordered])


def evaluate_row(sel: Selector, row: RowData, types: Types, now_s: int) -> bytes | None:
    """A non-aggregate selector's value for one row."""
    if sel.kind == "column":
        assert sel.column is not None
        return column_value(sel.column, row, types)
    if sel.kind in ("writetime", "ttl", "maxwritetime"):
        assert sel.inner is not None
        st = stamps.stamps(sel.inner, row, types,
                           lambda s, r: evaluate_row(s, r, types, now_s))
        return stamps.render(sel.kind, st, now_s)
    if sel.kind == "token":
        return struct.pack(">q", token_of(row.key))
    if sel.kind == "const":
        return sel.value
    if sel.kind == "similarity":
        a, b = (evaluate_row(x, row, types, now_s) for x in sel.operands)
        vtype = types.ctype(sel.operands[0].type)
        assert isinstance(vtype, VectorType)
        return None if a is None or b is None else similarity(sel.fn, a, b, vtype)
    if sel.kind == "function":
        assert sel.inner is not None
        arg = evaluate_row(sel.inner, row, types, now_s)
        return apply(sel.fn, arg, sel.inner.type, types.ctype)
    if sel.kind in ("element", "slice", "field"):
        assert sel.inner is not None
        v = evaluate_row(sel.inner, row, types, now_s)
        return elements.extract(sel.kind, v, types.shape(sel.inner.type), sel.bound, sel.index,
                                types.ctype)
    if sel.kind == "cast":
        assert sel.inner is not None
        return cast_value(evaluate_row(sel.inner, row, types, now_s), sel.inner.type, sel.type,
                          types)
    assert sel.inner is not None, sel
    return evaluate_row(sel.inner, row, types, now_s)


def cast_value(v: bytes | None, source: str, target: str, types: Types) -> bytes | None:
    if v is None or source == target:
        return v
    value = types.ctype(source).deserialize(v)
    if target in ("text", "ascii", "varchar"):
        text = value if isinstance(value, str) else cqltypes.cql_literal(types.ctype(source),
                                                                         value)
        if not isinstance(value, str) and text.startswith("'") and text.endswith("'"):
            text = text[1:-1]
        return types.ctype(target).serialize(text)
    return types.ctype(target).serialize(_convert_number(value, target))


def _convert_number(value: object, target: str) -> object:
    assert isinstance(value, int | float | decimal.Decimal), value
    if target in ("float", "double"):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite(value, target)
    if target == "decimal":
        return decimal.Decimal(value)
    n = int(value)
    if target in INT_BITS:
        return _wrap(n, INT_BITS[target])
    return n


def _non_finite(value: float, target: str) -> int:
    """NaN and infinities as Java's narrowing casts give them: 0, or the type's bound (through
    int for smallint and tinyint, as ``Number.shortValue`` goes); refused where Java has none."""
    if target not in INT_BITS:
        raise errors.InvalidRequest(f"Cannot convert {value} to {target}")
    if math.isnan(value):
        return 0
    bits = 64 if target == "bigint" else 32
    bound = (1 << (bits - 1)) - 1 if value > 0 else -(1 << (bits - 1))
    return _wrap(bound, INT_BITS[target])


def _wrap(n: int, bits: int) -> int:
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


# ---------------------------------------------------------------- aggregates


AGGREGATE_FOLD_VALUES = 1024  # min/max/sum values kept before folding them into one


@dataclass
class Aggregator:
    """Folds rows into one result row for a selection containing aggregates."""

    selectors: Sequence[Selector]
    types: Types
    now_s: int
    first: list[bytes | None] | None = None
    counts: list[int] = field(default_factory=list)
    acc: list[list[bytes]] = field(default_factory=list)

    wrapped: dict[int, Aggregator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.selectors)
        self.acc = [[] for _ in self.selectors]
        for i, s in enumerate(self.selectors):
            if s.kind in ("cast", "function") and s.is_aggregate:
                assert s.inner is not None
                self.wrapped[i] = Aggregator([s.inner], self.types, self.now_s)

    def add(self, row: RowData) -> None:
        for sub in self.wrapped.values():
            sub.add(row)
        values = [None if s.kind == "count_star" or i in self.wrapped else evaluate_row(
            s, row, self.types, self.now_s) for i, s in enumerate(self.selectors)]
        if self.first is None:
            self.first = values
        for i, (s, v) in enumerate(zip(self.selectors, values, strict=True)):
            if s.kind == "count_star" or (v is not None and s.kind in AGGREGATES):
                self.counts[i] += 1
                if s.kind in ("min", "max", "sum", "avg") and v is not None:
                    self.acc[i].append(v)
                    if s.kind != "avg" and len(self.acc[i]) >= AGGREGATE_FOLD_VALUES:
                        # bounded memory over a whole-table scan; min/max/sum of partial
                        # results in row order is exact (sum wraps modulo the type's width)
                        folded = self._fold(s, self.acc[i])
                        self.acc[i] = [] if folded is None else [folded]

    def result(self) -> tuple[bytes | None, ...]:
        out: list[bytes | None] = []
        for i, s in enumerate(self.selectors):
            if i in self.wrapped:
                out.append(self._outer(s, self.wrapped[i].result()[0]))
            elif s.kind in ("count", "count_star"):
                out.append(struct.pack(">q", self.counts[i]))
            elif s.kind in ("min", "max", "sum", "avg"):
                out.append(self._fold(s, self.acc[i]))
            else:
                out.append(None if self.first is None else self.first[i])
        return tuple(out)

    def _outer(self, s: Selector, v: bytes | None) -> bytes | None:
        """A cast or function applied to an aggregate's result."""
        assert s.inner is not None
        if s.kind == "cast":
            return cast_value(v, s.inner.type, s.type, self.types)
        return apply(s.fn, v, s.inner.type, self.types.ctype)

    def _fold(self, s: Selector, values: list[bytes]) -> bytes | None:
        ctype = self.types.ctype(s.type)
        if s.kind in ("min", "max"):
            if not values:
                return None
            ordered = sorted(values, key=cmp_to_key(ctype.compare))
            return ordered[0] if s.kind == "min" else ordered[-1]
        base = keys.parse_type(s.type)[0]
        nums = [ctype.deserialize(v) for v in values if v]
        total = _sum(nums, base, wrap=s.kind == "sum")
        if s.kind == "avg":
            total = _average(total, len(nums), base)
        return ctype.serialize(total)


def _sum(nums: list[object], base: str, wrap: bool) -> object:
    if base in ("float", "double"):
        return float(sum(float(str(n)) if not isinstance(n, float) else n for n in nums))
    if base == "decimal":
        return sum((decimal.Decimal(str(n)) for n in nums), decimal.Decimal(0))
    total = sum(int(str(n)) for n in nums)
    return _wrap(total, INT_BITS[base]) if wrap and base in INT_BITS else total


def _average(total: object, n: int, base: str) -> object:
    if n == 0:
        return _convert_number(0, base)
    if base in ("float", "double"):
        assert isinstance(total, float)
        return total / n
    if base == "decimal":
        assert isinstance(total, decimal.Decimal)
        with decimal.localcontext(decimal.Context(prec=34)):
            return total / n
    assert isinstance(total, int)
    q = abs(total) // n
    return q if total >= 0 else -q
