"""WHERE clauses: relations evaluated and grouped per column, shared by DML and SELECT.

``collect`` evaluates every relation's values (bound markers included) and sorts them into:
single-column equalities / IN lists, single-column bounds, at most one multi-column relation
group over clustering columns, token bounds, and everything else as post-read ``Filter``s. The
callers decide what is a key lookup, a slice or a filter, and which combinations are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from skewless import errors
from skewless.cql import ast, fixed, key_sizes
from skewless.cql.terms import Env, Unset, evaluate, split_collection, split_fields
from skewless.schema import ColumnDef, TableDef
from skewless.storage import keys

Bound = tuple[tuple[bytes, ...], bool]  # values (one per column), inclusive


@dataclass(frozen=True, slots=True)
class Filter:
    """A predicate evaluated on read rows. ``value`` is a list of values for IN."""

    column: ColumnDef
    op: str
    value: bytes | tuple[bytes, ...]
    map_key: bytes | None = None


@dataclass
class Restrictions:
    eq: dict[str, list[bytes]] = field(default_factory=dict)  # = and IN (IN order as given)
    eq_is_in: set[str] = field(default_factory=set)
    lower: dict[str, Bound] = field(default_factory=dict)
    upper: dict[str, Bound] = field(default_factory=dict)
    multi_columns: tuple[str, ...] = ()
    multi_eq: list[tuple[bytes, ...]] | None = None
    multi_lower: Bound | None = None
    multi_upper: Bound | None = None
    token_columns: tuple[str, ...] = ()
    token_lower: tuple[int, bool] | None = None
    token_upper: tuple[int, bool] | None = None
    filters: list[Filter] = field(default_factory=list)

    def restricted(self, name: str) -> bool:
        return name in self.eq or name in self.lower or name in self.upper or (
            name in self.multi_columns)


def column_of(table: TableDef, name: str) -> ColumnDef:
    col = table.column(name)
    if col is None:
        raise errors.InvalidRequest(f"Undefined column name {name}")
    return col


def _defined(term: ast.Term, type_text: str, env: Env, receiver: str) -> bytes:
    v = evaluate(term, type_text, env, receiver)
    if v is None:
        raise errors.InvalidRequest(f"Invalid null value in condition for column {receiver}")
    if isinstance(v, Unset):
        raise errors.InvalidRequest(f"Invalid unset value for column {receiver}")
    return v


def in_values(rhs: ast.Term | tuple[ast.Term, ...], type_text: str, env: Env, receiver: str
              ) -> list[bytes]:
    """The values of an IN list, or of ``IN ?`` bound to a serialized list."""
    if isinstance(rhs, tuple):
        return [_defined(t, type_text, env, receiver) for t in rhs]
    whole = evaluate(rhs, f"frozen<list<{type_text}>>", env, f"in({receiver})")
    if whole is None or isinstance(whole, Unset):
        raise errors.InvalidRequest(f"Invalid null value for IN restriction on {receiver}")
    return split_collection(whole, "list")


def collect(relations: Sequence[ast.Relation], table: TableDef, env: Env) -> Restrictions:
    r = Restrictions()
    for rel in relations:
        lhs = rel.lhs
        if rel.op == "IS NOT":  # only materialized views take it (StatementRestrictions)
            raise errors.InvalidRequest(f"Unsupported restriction: {lhs} IS NOT NULL")
        if isinstance(lhs, ast.FieldOf):  # the grammar gives these to IF conditions only
            raise errors.InvalidRequest(f"Invalid relation on {lhs.column}.{lhs.field}")
        if isinstance(lhs, ast.TokenOf):
            _add_token(r, rel, lhs, table, env)
        elif isinstance(lhs, str):
            _add_single(r, rel, column_of(table, lhs), env)
        elif len(lhs) == 2 and not isinstance(lhs[1], str):
            _add_element(r, rel, column_of(table, str(lhs[0])), lhs[1], env)
        else:
            _add_multi(r, rel, tuple(str(c) for c in lhs), table, env)
    return r


def contains_type(name: str, type_text: str, op: str) -> str:
    """The type of the right side of ``name CONTAINS [KEY] ...``; Cassandra's errors when the
    column is no collection (or, for CONTAINS KEY, no map)."""
    kind, args = keys.parse_type(type_text)
    if op == "CONTAINS KEY" and kind != "map":
        raise errors.InvalidRequest(f"Cannot use CONTAINS KEY on non-map column {name}")
    if kind not in ("list", "set", "map"):
        raise errors.InvalidRequest(f"Cannot use CONTAINS on non-collection column {name}")
    return args[0] if op == "CONTAINS KEY" or len(args) == 1 else args[1]


def _check_relation_type(col: ColumnDef, op: str, env: Env) -> None:
    """SingleColumnRelation's checks on the column's type: a non-frozen collection only takes
    CONTAINS [KEY] (or an element equality), a duration no slice (durations do not order)."""
    t = env.ctype(col.type)
    if t.is_multicell and t.is_collection:
        raise errors.InvalidRequest(f"Collection column '{col.name}' ({t.name}) cannot be "
                                    f"restricted by a '{op}' relation")
    if t.is_multicell:
        raise errors.InvalidRequest(f"Non-frozen UDT column '{col.name}' ({t.name}) cannot be "
                                    f"restricted by any relation")
    if t.name == "duration" and op in ("<", "<=", ">", ">="):
        raise errors.InvalidRequest("Slice restrictions are not supported on duration columns")


def _add_single(r: Restrictions, rel: ast.Relation, col: ColumnDef, env: Env) -> None:
    name, op = col.name, rel.op
    if op in ("!=", "LIKE"):
        raise errors.InvalidRequest(f'Unsupported "{op}" relation: {name} {op} ...')
    if op in ("CONTAINS", "CONTAINS KEY"):
        elem = contains_type(name, col.type, op)
        assert not isinstance(rel.rhs, tuple)
        r.filters.append(Filter(col, op, _defined(rel.rhs, elem, env, name)))
        return
    _check_relation_type(col, op, env)
    if col.kind in ("regular", "static"):
        if op == "IN":
            vals = tuple(in_values(rel.rhs, col.type, env, name))
            r.filters.append(Filter(col, op, vals))
        else:
            assert not isinstance(rel.rhs, tuple)
            r.filters.append(Filter(col, op, _defined(rel.rhs, col.type, env, name)))
        return
    if op in ("=", "IN"):
        if name in r.eq:
            raise errors.InvalidRequest(
                f"{name} cannot be restricted by more than one relation if it includes an Equal")
        if name in r.lower or name in r.upper:
            raise errors.InvalidRequest(
                f"{name} cannot be restricted by both an equality and an inequality relation")
        if op == "IN":
            r.eq[name] = in_values(rel.rhs, col.type, env, name)
            r.eq_is_in.add(name)
        else:
            assert not isinstance(rel.rhs, tuple)
            r.eq[name] = [_defined(rel.rhs, col.type, env, name)]
        return
    if name in r.eq:
        raise errors.InvalidRequest(
            f"{name} cannot be restricted by both an equality and an inequality relation")
    assert not isinstance(rel.rhs, tuple)
    bound: Bound = ((_defined(rel.rhs, col.type, env, name),), op in ("<=", ">="))
    side = r.lower if op in (">", ">=") else r.upper
    if name in side:
        which = "start" if side is r.lower else "end"
        raise errors.InvalidRequest(
            f"More than one restriction was found for the {which} bound on {name}")
    side[name] = bound


def _add_element(r: Restrictions, rel: ast.Relation, col: ColumnDef, key: ast.Term,
                 env: Env) -> None:
    name, args = keys.parse_type(col.type)
    if name != "map" or rel.op != "=":
        raise errors.InvalidRequest(f"Invalid element restriction on {col.name}")
    assert not isinstance(rel.rhs, tuple)
    k = _defined(key, args[0], env, col.name)
    r.filters.append(Filter(col, "=", _defined(rel.rhs, args[1], env, col.name), map_key=k))


def _add_multi(r: Restrictions, rel: ast.Relation, names: tuple[str, ...], table: TableDef,
               env: Env) -> None:
    cols = [column_of(table, n) for n in names]
    clustering = [c.name for c in table.clustering]
    for c in cols:
        if c.kind != "clustering":
            raise errors.InvalidRequest(
                f"Multi-column relations can only be applied to clustering columns but was "
                f"applied to: {c.name}")
    if list(names) != clustering[: len(names)]:
        raise errors.InvalidRequest(
            "Clustering columns must appear in the PRIMARY KEY order in multi-column relations")
    if r.multi_columns and r.multi_columns != names and not (
            rel.op not in ("=", "IN") and r.multi_eq is None):
        raise errors.InvalidRequest("Mixing multi-column relations on different column sets "
                                    "is not supported")
    r.multi_columns = names if len(names) >= len(r.multi_columns) else r.multi_columns
    types = [c.type for c in cols]
    if rel.op in ("=", "IN"):
        if r.multi_eq is not None or r.multi_lower or r.multi_upper:
            raise errors.InvalidRequest(f"{', '.join(names)} cannot be restricted by more than "
                                        f"one relation if it includes an Equal")
        r.multi_eq = _tuples(rel, types, names, env)
        return
    if rel.op not in ("<", "<=", ">", ">="):
        raise errors.InvalidRequest(f'Unsupported "{rel.op}" relation on multiple columns')
    (vals,) = _tuples(rel, types, names, env)
    bound: Bound = (vals, rel.op in ("<=", ">="))
    if rel.op in (">", ">="):
        if r.multi_lower is not None:
            raise errors.InvalidRequest(
                f"More than one restriction was found for the start bound on {names[0]}")
        r.multi_lower = bound
    else:
        if r.multi_upper is not None:
            raise errors.InvalidRequest(
                f"More than one restriction was found for the end bound on {names[0]}")
        r.multi_upper = bound


def _tuples(rel: ast.Relation, types: list[str], names: tuple[str, ...], env: Env
            ) -> list[tuple[bytes, ...]]:
    """The tuple value(s) of a multi-column relation (several for IN)."""
    receiver = "(" + ", ".join(names) + ")"
    tuple_type = f"frozen<tuple<{', '.join(types)}>>"
    if rel.op == "IN" and not isinstance(rel.rhs, tuple):
        whole = evaluate(rel.rhs, f"frozen<list<{tuple_type}>>", env, f"in{receiver}")
        if whole is None or isinstance(whole, Unset):
            raise errors.InvalidRequest(f"Invalid null value for IN restriction on {receiver}")
        raws = split_collection(whole, "list")
    else:
        terms = rel.rhs if isinstance(rel.rhs, tuple) else (rel.rhs,)
        raws = [_defined(t, tuple_type, env, receiver) for t in terms]
    out = []
    for raw in raws:
        fields = split_fields(raw, len(types))
        if any(f is None for f in fields):
            raise errors.InvalidRequest(
                f"Invalid null value in condition for columns {receiver}")
        out.append(tuple(f for f in fields if f is not None))
    return out


def _add_token(r: Restrictions, rel: ast.Relation, lhs: ast.TokenOf, table: TableDef,
               env: Env) -> None:
    pk = tuple(c.name for c in table.partition_key)
    for name in lhs.columns:
        column_of(table, name)
    if lhs.columns != pk:
        raise errors.InvalidRequest(
            "The token() function must be applied to all partition key components or none of "
            f"them (token({', '.join(lhs.columns)}) over ({', '.join(pk)}))")
    r.token_columns = pk
    assert not isinstance(rel.rhs, tuple)
    value = token_value(rel.rhs, table, env)
    if rel.op == "=":
        _set_token(r, "lower", (value, True))
        _set_token(r, "upper", (value, True))
    elif rel.op in (">", ">="):
        _set_token(r, "lower", (value, rel.op == ">="))
    elif rel.op in ("<", "<="):
        _set_token(r, "upper", (value, rel.op == "<="))
    else:
        raise errors.InvalidRequest(f"{rel.op} is not supported on token restrictions")


def _set_token(r: Restrictions, side: str, bound: tuple[int, bool]) -> None:
    if getattr(r, f"token_{side}") is not None:
        which = "start" if side == "lower" else "end"
        raise errors.InvalidRequest(
            f"More than one restriction was found for the {which} bound on partition key token")
    setattr(r, f"token_{side}", bound)


def token_value(term: ast.Term, table: TableDef, env: Env) -> int:
    """The right side of a token relation: a bigint, or token(values...) computed here."""
    from skewless.ring import token_of

    if isinstance(term, ast.FunctionCall) and term.name == "token":
        cols = table.partition_key
        if len(term.args) != len(cols):
            raise errors.InvalidRequest("Invalid number of arguments for token()")
        parts = [_defined(t, c.type, env, c.name) for t, c in zip(term.args, cols, strict=True)]
        return token_of(key_sizes.routed_key(parts))
    raw = _defined(term, "bigint", env, "partition key token")
    return fixed.unpack(">q", raw, "partition key token")
