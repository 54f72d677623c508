"""Element, slice and field selection in a select clause: ``m['k']``, ``s[1..3]``, ``u.f``.

Cassandra 4.0+ (Selectable.WithElementSelection / WithSliceSelection / WithFieldSelection,
ElementsSelector, FieldSelector): an element or a slice is selected from a set or a map, frozen
or not, never from a list; an element of a map is the value under the key (null if absent), of
a set the element itself (null if absent); a slice keeps the elements whose key lies between the
bounds, both inclusive, a missing bound being unbounded, and has the collection's type. A field
is selected from a user-defined type value. The result column is named as Cassandra names it:
``m['k']``, ``m['a'..'c']``, ``s[..3]``, ``u.f``.

``element_type`` checks a selection at PREPARE time and gives its result type and the type its
bounds are read as; ``extract`` applies it to one serialized value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from skewless import errors
from skewless.cql import ast
from skewless.cql.terms import (
    Env,
    Shape,
    Unset,
    evaluate,
    pack_collection,
    pack_map,
    split_collection,
    split_fields,
)
from skewless.cql.types_base import CqlType
from skewless.storage import keys


def term_text(term: ast.Term | None) -> str:
    """A bound as Cassandra prints it in a column name (Term.Raw.toString)."""
    if term is None:
        return ""
    if isinstance(term, ast.Constant):
        return "'" + term.text.replace("'", "''") + "'" if term.kind == "string" else term.text
    if isinstance(term, ast.BindMarker):
        return "?" if term.name is None else f":{term.name}"
    return "?"


def selection_name(kind: str, inner: str, args: Sequence[ast.Term | None], field: str) -> str:
    if kind == "element":
        return f"{inner}[{term_text(args[0])}]"
    if kind == "slice":
        return f"{inner}[{term_text(args[0])}..{term_text(args[1])}]"
    return f"{inner}.{field}"


def element_type(kind: str, inner: str, inner_type: str, shape: Shape) -> tuple[str, str]:
    """(result type, bound type) of an element or slice selection on ``inner``."""
    label = "Element" if kind == "element" else "Slice"
    if shape.kind not in ("list", "set", "map"):
        if kind == "element":
            raise errors.InvalidRequest(f"Invalid element selection: {inner} is of type "
                                        f"{inner_type} is not a collection")
        raise errors.InvalidRequest(f"Invalid slice selection: {inner} of type {inner_type} "
                                    f"is not a collection")
    if shape.kind == "list":
        raise errors.InvalidRequest(f"{label} selection is only allowed on sets and maps, but "
                                    f"{inner} is a list")
    key_type = shape.args[0]
    if kind == "slice":
        return inner_type, key_type
    return (shape.args[1] if shape.kind == "map" else key_type), key_type


def field_type(inner: str, inner_type: str, shape: Shape, field: str) -> tuple[str, int]:
    """(result type, field index) of ``inner.field``."""
    if shape.kind != "udt":
        raise errors.InvalidRequest(f"Invalid field selection: {inner} of type {inner_type} is "
                                    f"not a user type")
    if field not in shape.fields:
        raise errors.InvalidRequest(f"{inner} of type {inner_type} has no field {field}")
    i = shape.fields.index(field)
    return shape.args[i], i


def bind_bounds(kind: str, name: str, args: Sequence[ast.Term | None], inner_type: str,
                env: Env) -> tuple[bytes | None, ...]:
    """The key (element) or bounds (slice) of a selection, evaluated; a missing or unset slice
    bound is unbounded (None), a null one refused."""
    key_type = keys.parse_type(inner_type)[1][0]
    out: list[bytes | None] = []
    for t in args:
        v = None if t is None else evaluate(t, key_type, env, name)
        if isinstance(v, Unset):
            if kind == "element":
                raise errors.InvalidRequest(f"Invalid unset value for element selection on "
                                            f"{name}")
            v = None
        elif v is None and t is not None:
            label = "element" if kind == "element" else "slice"
            raise errors.InvalidRequest(f"Invalid null value for {label} selection on {name}")
        out.append(v)
    return tuple(out)


def extract(kind: str, value: bytes | None, shape: Shape, bounds: Sequence[bytes | None],
            index: int, ctype: Callable[[str], CqlType]) -> bytes | None:
    """The selected part of one serialized collection or UDT value (None: null)."""
    if value is None:
        return None
    if kind == "field":
        fields = split_fields(value, len(shape.fields))
        return fields[index] if index < len(fields) else None
    compare = ctype(shape.args[0]).compare
    items = split_collection(value, shape.kind)
    if shape.kind == "map":
        entries = list(zip(items[::2], items[1::2], strict=True))
    else:
        entries = [(x, x) for x in items]
    if kind == "element":
        key = bounds[0]
        assert key is not None
        return next((v for k, v in entries if compare(k, key) == 0), None)
    lo, hi = bounds
    kept = [(k, v) for k, v in entries
            if (lo is None or compare(k, lo) >= 0) and (hi is None or compare(k, hi) <= 0)]
    if shape.kind == "map":
        return pack_map(kept)
    return pack_collection([k for k, _ in kept])
