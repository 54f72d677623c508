"""IF conditions of lightweight transactions: validated, bound, and evaluated on a read row.

Theory of operation
-------------------
``bind_condition`` turns one parsed condition (``ast.Relation`` from an IF clause) into a
``Condition``: the column, what is compared (the whole value, a collection element ``m[k]`` /
``l[i]``, or a UDT field ``u.f``), the operator and the bound values, serialized. Every check
Cassandra makes when it prepares or binds a condition (ColumnCondition.Raw.prepare, ``bind``)
is made here, with its message; the checks Cassandra makes only while evaluating (a null
compared with ``<``, a negative list index) are made here too, eagerly, so a bad condition is
refused whatever the partition holds (Cassandra evaluates a row's conditions in hash order and
stops at the first false one, so whether it raises depends on the data).

``applies(cond, row, types)`` decides one condition on the row a Paxos read returned, as
ColumnCondition's bounds do:

* a missing row (or cell) reads as null; ``c = null`` holds exactly when the value is null,
  ``c != v`` (v not null) holds on null, every other comparison with a null value is false;
* ``IN`` holds when ``=`` holds for one of its values (unset values dropped, null allowed);
* values compare with their CQL type's order (``cql.types``); a whole non-frozen collection
  compares element by element, so an absent one equals the empty collection (``l = []`` holds
  on a missing list, as in Cassandra), and ``CONTAINS`` / ``CONTAINS KEY`` look for an equal
  element / key;
* ``m[k]`` is the value at key ``k`` (null if absent), ``l[i]`` the i-th live element, ``u.f``
  the field (null if unset).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast, fixed
from skewless.cql import types as cqltypes
from skewless.cql.cells import pack_collection, split_collection, split_fields
from skewless.cql.selection import RowData, Types, column_value
from skewless.cql.terms import Env, Shape, Unset, evaluate, shape_text
from skewless.cql.where import column_of
from skewless.schema import ColumnDef, TableDef
from skewless.storage import keys

Target = str  # 'value' | 'element' | 'field'
_SLICES = ("<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Condition:
    """One bound IF condition. ``values``: one value, or IN's values (None is null).
    ``element``: the serialized map key or list index (target 'element'); ``field``: the UDT
    field's position (target 'field'); ``value_type``: the type ``values`` are serialized in."""

    column: ColumnDef
    target: Target
    op: str
    values: tuple[bytes | None, ...]
    value_type: str
    element: bytes | None = None
    field: int = -1


def _lhs_column(rel: ast.Relation) -> str:
    lhs = rel.lhs
    if isinstance(lhs, ast.FieldOf):
        return lhs.column
    if isinstance(lhs, str):
        return lhs
    assert isinstance(lhs, tuple) and len(lhs) == 2 and isinstance(lhs[0], str), lhs
    return lhs[0]


def condition_column(rel: ast.Relation, table: TableDef) -> ColumnDef:
    """The column a condition is on (``Undefined column name`` when there is none)."""
    return column_of(table, _lhs_column(rel))


def bind_condition(rel: ast.Relation, table: TableDef, env: Env) -> Condition:
    """``rel`` validated against ``table`` and its values bound (Cassandra's messages)."""
    col = condition_column(rel, table)
    if keys.parse_type(col.type)[0] == "counter":
        raise errors.InvalidRequest("Conditions on counters are not supported")
    if col.kind in ("partition_key", "clustering"):
        raise errors.InvalidRequest(f"PRIMARY KEY column '{col.name}' cannot have IF conditions")
    shape = env.shape(col.type)
    lhs = rel.lhs
    if isinstance(lhs, ast.FieldOf):
        cond = _field_condition(rel, lhs.field, col, shape, env)
    elif isinstance(lhs, tuple):
        key = lhs[1]
        assert not isinstance(key, str)
        cond = _element_condition(rel, key, col, shape, env)
    else:
        _check_durations(rel.op, col.type, env)
        receiver_type = shape_text(shape) if shape.multicell and shape.kind != "udt" else (
            col.type)
        cond = Condition(col, "value", rel.op, _values(rel, col.name, receiver_type, shape, env),
                         receiver_type)
    _check_nulls(cond)
    return cond


def _element_condition(rel: ast.Relation, key: ast.Term, col: ColumnDef, shape: Shape,
                       env: Env) -> Condition:
    if shape.kind not in ("list", "set", "map"):
        raise errors.InvalidRequest(
            f"Invalid element access syntax for non-collection column {col.name}")
    if shape.kind == "set":
        raise errors.InvalidRequest(f"Invalid element access syntax for set column {col.name}")
    if shape.kind == "map":
        key_type, value_type, key_name = shape.args[0], shape.args[1], f"key({col.name})"
    else:
        key_type, value_type, key_name = "int", shape.args[0], f"idx({col.name})"
    _check_durations(rel.op, value_type, env)
    values = _values(rel, f"value({col.name})", value_type, env.shape(value_type), env)
    element = evaluate(key, key_type, env, key_name)
    if isinstance(element, Unset):
        raise errors.InvalidRequest("Invalid 'unset' value in condition")
    if element is None:
        what = "map" if shape.kind == "map" else "list"
        raise errors.InvalidRequest(f"Invalid null value for {what} element access")
    if shape.kind == "list":
        idx = fixed.unpack(">i", element, "list index")
        if idx < 0:
            raise errors.InvalidRequest(f"Invalid negative list index {idx}")
    return Condition(col, "element", rel.op, values, value_type, element=element)


def _field_condition(rel: ast.Relation, field: str, col: ColumnDef, shape: Shape,
                     env: Env) -> Condition:
    if shape.kind != "udt":  # Cassandra casts to UserType here (a server error)
        raise errors.InvalidRequest(f"Invalid field selection: {col.name} of type {col.type} "
                                    f"is not a user type")
    if field not in shape.fields:
        raise errors.InvalidRequest(f"Unknown field {field} for column {col.name}")
    i = shape.fields.index(field)
    ftype = shape.args[i]
    _check_durations(rel.op, ftype, env)
    values = _values(rel, f"{col.name}.{field}", ftype, env.shape(ftype), env)
    return Condition(col, "field", rel.op, values, ftype, field=i)


def _check_durations(op: str, type_text: str, env: Env) -> None:
    """ColumnCondition.Raw.validateOperationOnDurations."""
    if op not in _SLICES or "duration" not in type_text:
        return
    shape = env.shape(type_text)
    if shape.kind in ("list", "set", "map"):
        raise errors.InvalidRequest(
            "Slice conditions are not supported on collections containing durations")
    if shape.kind == "tuple":
        raise errors.InvalidRequest(
            "Slice conditions are not supported on tuples containing durations")
    if shape.kind == "udt":
        raise errors.InvalidRequest(
            "Slice conditions are not supported on UDTs containing durations")
    if keys.parse_type(type_text)[0] == "duration":
        raise errors.InvalidRequest(f"Slice conditions ( {op} ) are not supported on durations")


def _values(rel: ast.Relation, receiver: str, type_text: str, shape: Shape, env: Env
            ) -> tuple[bytes | None, ...]:
    """The condition's values, serialized as ``type_text`` (Terms.bind + checkValues)."""
    if rel.op == "CONTAINS KEY" and shape.kind != "map":
        raise errors.InvalidRequest(f"Cannot use CONTAINS KEY on non-map column {receiver}")
    if rel.op == "CONTAINS" and shape.kind not in ("list", "set", "map"):
        raise errors.InvalidRequest(f"Cannot use CONTAINS on non-collection column {receiver}")
    if rel.op == "CONTAINS":
        type_text = shape.args[-1]
    elif rel.op == "CONTAINS KEY":
        type_text = shape.args[0]
    if rel.op != "IN":
        assert not isinstance(rel.rhs, tuple)
        v = evaluate(rel.rhs, type_text, env, receiver)
        if isinstance(v, Unset):
            raise errors.InvalidRequest("Invalid 'unset' value in condition")
        return (v,)
    if isinstance(rel.rhs, tuple):
        out = [evaluate(t, type_text, env, receiver) for t in rel.rhs]
        return tuple(v for v in out if not isinstance(v, Unset))
    whole = evaluate(rel.rhs, f"frozen<list<{type_text}>>", env, f"in({receiver})")
    if whole is None:
        raise errors.InvalidRequest("Invalid null list in IN condition")
    if isinstance(whole, Unset):
        raise errors.InvalidRequest("Invalid 'unset' value in condition")
    return tuple(split_collection(whole, "list"))


def _check_nulls(cond: Condition) -> None:
    """ColumnCondition.Bound.compareWithOperator's refusal, made at bind time."""
    if cond.op in ("=", "!=", "IN"):
        return
    if any(v is None for v in cond.values):
        raise errors.InvalidRequest(f'Invalid comparison with null for operator "{cond.op}"')


# ---------------------------------------------------------------- evaluation


def applies(cond: Condition, row: RowData | None, types: Types) -> bool:
    """Whether ``cond`` holds on ``row`` (None: the row is missing)."""
    op = "=" if cond.op == "IN" else cond.op
    if cond.target == "value" and types.shape(cond.column.type).kind in ("list", "set", "map") \
            and types.shape(cond.column.type).multicell:
        return _collection_applies(cond, op, row, types)
    current = _current(cond, row, types)
    ctype = types.ctype(cond.value_type)
    for value in cond.values:
        if _compare(op, ctype, value, current, cond, types):
            return True
    return False


def _compare(op: str, ctype: cqltypes.CqlType, value: bytes | None,
             current: bytes | None, cond: Condition, types: Types) -> bool:
    """``current op value`` with Cassandra's null rules (compareWithOperator)."""
    if value is None:
        return current is None if op == "=" else current is not None  # '=' or '!=' only
    if current is None:
        return op == "!="
    if op in ("CONTAINS", "CONTAINS KEY"):
        return _frozen_contains(cond, op, current, value, types)
    return _holds(op, ctype.compare(current, value))


def _holds(op: str, c: int) -> bool:
    return {"=": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0,
            ">=": c >= 0}[op]


def _cells(cond: Condition, row: RowData | None) -> list[tuple[bytes, bytes | None]]:
    if row is None:
        return []
    return [(p, c.value) for p, c in row.cells.get(cond.column.name, [])]


def _current(cond: Condition, row: RowData | None, types: Types) -> bytes | None:
    """The value compared: the column's, the element's or the field's (None: null)."""
    if row is None:
        return None
    shape = types.shape(cond.column.type)
    if cond.target == "value":
        return column_value(cond.column, row, types)
    if cond.target == "field":
        if shape.multicell:
            path = struct.pack(">h", cond.field)
            return next((v for p, v in _cells(cond, row) if p == path), None)
        whole = column_value(cond.column, row, types)
        if whole is None:
            return None
        fields = split_fields(whole, len(shape.fields))
        return fields[cond.field] if cond.field < len(fields) else None
    assert cond.element is not None
    if shape.kind == "list":
        idx = fixed.unpack(">i", cond.element, "list index")
        if shape.multicell:
            elems = [v for _, v in sorted(_cells(cond, row), key=lambda pv: pv[0])]
        else:
            whole = column_value(cond.column, row, types)
            elems = [] if whole is None else list(split_collection(whole, "list"))
        return elems[idx] if idx < len(elems) else None
    ktype = types.ctype(shape.args[0])
    if shape.multicell:
        pairs = _cells(cond, row)
    else:
        whole = column_value(cond.column, row, types)
        items = [] if whole is None else split_collection(whole, "map")
        pairs = list(zip(items[::2], items[1::2], strict=True))
    return next((v for k, v in pairs if ktype.compare(k, cond.element) == 0), None)


def _collection_applies(cond: Condition, op: str, row: RowData | None, types: Types) -> bool:
    """A whole non-frozen collection (MultiCellCollectionBound): absent equals empty."""
    cells = _cells(cond, row)
    shape = types.shape(cond.column.type)
    for value in cond.values:
        if value is None:
            if op == "=" and not cells:
                return True
            if op == "!=":
                return bool(cells)
            continue
        if op in ("CONTAINS", "CONTAINS KEY"):
            if _multicell_contains(cond, op, cells, value, shape, types):
                return True
            continue
        current = None if row is None else column_value(cond.column, row, types)
        if current is None:
            current = pack_collection([])
        if _holds(op, types.ctype(cond.value_type).compare(current, value)):
            return True
    return False


def _multicell_contains(cond: Condition, op: str, cells: Sequence[tuple[bytes, bytes | None]],
                        value: bytes, shape: Shape, types: Types) -> bool:
    by_path = shape.kind == "set" or op == "CONTAINS KEY"
    etype = types.ctype(shape.args[0] if by_path else shape.args[-1])
    pool = [p if by_path else v for p, v in cells]
    return any(x is not None and etype.compare(x, value) == 0 for x in pool)


def _frozen_contains(cond: Condition, op: str, current: bytes, value: bytes,
                     types: Types) -> bool:
    shape = types.shape(cond.column.type if cond.target == "value" else cond.value_type)
    items = split_collection(current, shape.kind)
    if shape.kind == "map":
        pool, etype = (items[::2], shape.args[0]) if op == "CONTAINS KEY" else (
            items[1::2], shape.args[1])
    else:
        pool, etype = items, shape.args[0]
    et = types.ctype(etype)
    return any(et.compare(x, value) == 0 for x in pool)
