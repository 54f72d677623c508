"""Collection and composite CQL types: list, set, map, tuple and user-defined types.

Python forms: list -> list; set -> set (members in ``hashable`` form); map -> dict (keys in
``hashable`` form, in Cassandra order); tuple -> tuple (missing trailing components are None);
UDT -> dict of field name to value (missing trailing fields are None). ``serialize`` accepts any
sequence for list and tuple, any iterable for set, a mapping or an iterable of pairs for map, and
a mapping (by field name) or a sequence (by position) for a UDT.

Serialization is canonical: set members and map keys are sorted by the element type's
``compare`` and deduplicated, as Cassandra stores them. Nulls inside list, set and map are
rejected; tuple components and UDT fields may be null.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cmp_to_key
from typing import ClassVar

from skewless import errors
from skewless.cql.types_base import (
    CqlType,
    check_empty_compare,
    pack_cell,
    pack_int,
    pack_short,
    pack_string,
    read_cells,
    read_count,
)


def _no_nulls(cells: list[bytes | None], what: str) -> list[bytes]:
    out: list[bytes] = []
    for c in cells:
        if c is None:
            raise errors.InvalidRequest(f"null is not supported inside {what}s")
        out.append(c)
    return out


def _serialize_member(t: CqlType, value: object, what: str) -> bytes:
    if value is None:
        raise errors.InvalidRequest(f"null is not supported inside {what}s")
    return t.serialize(value)


def _pack_collection(items: Sequence[bytes]) -> bytes:
    return pack_int(len(items)) + b"".join(pack_cell(i) for i in items)


def _compare_sequences(
    types: Sequence[CqlType], a: Sequence[bytes | None], b: Sequence[bytes | None]
) -> int:
    """Lexicographic by component; a proper prefix sorts first."""
    for t, x, y in zip(types, a, b, strict=False):
        c = t.compare_nullable(x, y)
        if c:
            return c
    return (len(a) > len(b)) - (len(a) < len(b))


def _sorted_unique(t: CqlType, items: Iterable[bytes]) -> list[bytes]:
    ordered = sorted(items, key=cmp_to_key(t.compare))
    out: list[bytes] = []
    for item in ordered:
        if not out or t.compare(out[-1], item) != 0:
            out.append(item)
    return out


def _not_text(value: object, what: str) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} needs a collection, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class _ElementCollection(CqlType):
    """What list and set share: one element type, frozen or not, a counted cell sequence."""

    element: CqlType
    is_frozen: bool = False
    KIND: ClassVar[str] = ""
    OPTION_ID: ClassVar[int] = 0

    @property
    def name(self) -> str:
        inner = f"{self.KIND}<{self.element.name}>"
        return f"frozen<{inner}>" if self.is_frozen else inner

    @property
    def is_collection(self) -> bool:
        return True

    @property
    def is_multicell(self) -> bool:
        return not self.is_frozen

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return (self.element,)

    def frozen(self) -> CqlType:
        return replace(self, is_frozen=True)

    def members(self, value: object) -> list[bytes]:
        _not_text(value, self.KIND)
        assert isinstance(value, Iterable)
        return [_serialize_member(self.element, v, self.KIND) for v in value]

    def cells(self, data: bytes) -> list[bytes]:
        count, rest = read_count(data, self.KIND)
        return _no_nulls(read_cells(rest, count, self.KIND), self.KIND)

    def option_bytes(self) -> bytes:
        return pack_short(self.OPTION_ID) + self.element.option_bytes()

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        ca, cb = self.cells(a), self.cells(b)
        return _compare_sequences([self.element] * max(len(ca), len(cb)), ca, cb)


@dataclass(frozen=True, slots=True)
class ListType(_ElementCollection):
    KIND: ClassVar[str] = "list"
    OPTION_ID: ClassVar[int] = 0x0020

    def serialize(self, value: object) -> bytes:
        return _pack_collection(self.members(value))

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        return [self.element.deserialize(c) for c in self.cells(data)]

    def literal(self, value: object) -> str:
        assert isinstance(value, Iterable)
        return "[" + ", ".join(self.element.literal(v) for v in value) + "]"

    def hashable(self, value: object) -> Hashable:
        assert isinstance(value, Iterable)
        return tuple(self.element.hashable(v) for v in value)


@dataclass(frozen=True, slots=True)
class SetType(_ElementCollection):
    KIND: ClassVar[str] = "set"
    OPTION_ID: ClassVar[int] = 0x0022

    def serialize(self, value: object) -> bytes:
        return _pack_collection(_sorted_unique(self.element, self.members(value)))

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        el = self.element
        return {el.hashable(el.deserialize(c)) for c in self.cells(data)}

    def literal(self, value: object) -> str:
        cells = self.cells(self.serialize(value))
        el = self.element
        return "{" + ", ".join(el.literal(el.deserialize(c)) for c in cells) + "}"

    def hashable(self, value: object) -> Hashable:
        assert isinstance(value, Iterable)
        return frozenset(self.element.hashable(v) for v in value)


def _pairs(value: object) -> list[tuple[object, object]]:
    if isinstance(value, Mapping):
        return list(value.items())
    _not_text(value, "map")
    assert isinstance(value, Iterable)
    pairs: list[tuple[object, object]] = []
    for item in value:
        k, v = item
        pairs.append((k, v))
    return pairs


@dataclass(frozen=True, slots=True)
class MapType(CqlType):
    key: CqlType
    value: CqlType
    is_frozen: bool = False

    @property
    def name(self) -> str:
        inner = f"map<{self.key.name}, {self.value.name}>"
        return f"frozen<{inner}>" if self.is_frozen else inner

    @property
    def is_collection(self) -> bool:
        return True

    @property
    def is_multicell(self) -> bool:
        return not self.is_frozen

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return (self.key, self.value)

    def frozen(self) -> CqlType:
        return replace(self, is_frozen=True)

    def serialize(self, value: object) -> bytes:
        by_key: dict[bytes, bytes] = {}
        for k, v in _pairs(value):
            kb = _serialize_member(self.key, k, "map")
            by_key[kb] = _serialize_member(self.value, v, "map")
        keys = _sorted_unique(self.key, by_key)
        flat = [cell for kb in keys for cell in (kb, by_key[kb])]
        return pack_int(len(keys)) + b"".join(pack_cell(c) for c in flat)

    def entries(self, data: bytes) -> list[tuple[bytes, bytes]]:
        count, rest = read_count(data, "map")
        cells = _no_nulls(read_cells(rest, 2 * count, "map"), "map")
        return list(zip(cells[0::2], cells[1::2], strict=True))

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        k, v = self.key, self.value
        return {k.hashable(k.deserialize(kb)): v.deserialize(vb) for kb, vb in self.entries(data)}

    def option_bytes(self) -> bytes:
        return pack_short(0x0021) + self.key.option_bytes() + self.value.option_bytes()

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        ea, eb = self.entries(a), self.entries(b)
        flat_a = [c for pair in ea for c in pair]
        flat_b = [c for pair in eb for c in pair]
        types = [self.key, self.value] * max(len(ea), len(eb))
        return _compare_sequences(types, flat_a, flat_b)

    def literal(self, value: object) -> str:
        items = [
            f"{self.key.literal(self.key.deserialize(kb))}: "
            f"{self.value.literal(self.value.deserialize(vb))}"
            for kb, vb in self.entries(self.serialize(value))
        ]
        return "{" + ", ".join(items) + "}"

    def hashable(self, value: object) -> Hashable:
        k, v = self.key, self.value
        return tuple(
            (k.hashable(k.deserialize(kb)), v.hashable(v.deserialize(vb)))
            for kb, vb in self.entries(self.serialize(value))
        )


def _component_literal(t: CqlType, value: object) -> str:
    return "null" if value is None else t.literal(value)


def _serialize_components(types: Sequence[CqlType], values: Sequence[object], what: str) -> bytes:
    if len(values) > len(types):
        raise errors.InvalidRequest(
            f"Invalid {what} literal: too many elements. Type {what} expects {len(types)} "
            f"but got {len(values)}"
        )
    cells = [None if v is None else t.serialize(v) for t, v in zip(types, values, strict=False)]
    return b"".join(pack_cell(c) for c in cells)


def _read_components(types: Sequence[CqlType], data: bytes, what: str) -> list[bytes | None]:
    cells = read_cells(data, None, what)
    if len(cells) > len(types):
        raise errors.InvalidRequest(f"Invalid {what} value: {len(cells)} components")
    return cells


@dataclass(frozen=True, slots=True)
class TupleType(CqlType):
    """Tuples are always frozen; their components are written frozen too."""

    items: tuple[CqlType, ...]

    @property
    def name(self) -> str:
        return "frozen<tuple<" + ", ".join(t.name for t in self.items) + ">>"

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return self.items

    def serialize(self, value: object) -> bytes:
        _not_text(value, "tuple")
        assert isinstance(value, Iterable)
        return _serialize_components(self.items, list(value), "tuple")

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        cells = _read_components(self.items, data, "tuple")
        cells += [None] * (len(self.items) - len(cells))
        return tuple(None if c is None else t.deserialize(c) for t, c in zip(self.items, cells,
                                                                            strict=True))

    def option_bytes(self) -> bytes:
        return pack_short(0x0031) + pack_short(len(self.items)) + b"".join(
            t.option_bytes() for t in self.items
        )

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        ca = _read_components(self.items, a, "tuple")
        cb = _read_components(self.items, b, "tuple")
        return _compare_sequences(self.items, ca, cb)

    def literal(self, value: object) -> str:
        assert isinstance(value, Iterable)
        return "(" + ", ".join(_component_literal(t, v) for t, v in zip(self.items, value,
                                                                         strict=False)) + ")"

    def hashable(self, value: object) -> Hashable:
        assert isinstance(value, Iterable)
        return tuple(
            None if v is None else t.hashable(v) for t, v in zip(self.items, value, strict=False)
        )


def quote_identifier(name: str) -> str:
    """An identifier as CQL text: bare when lower-case alphanumeric, else double-quoted."""
    if name and (name[0].isalpha() and name.isascii()) and name.replace("_", "a").isalnum() and (
        name == name.lower()
    ):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class UdtType(CqlType):
    keyspace: str
    udt_name: str
    fields: tuple[tuple[str, CqlType], ...]
    is_frozen: bool = False

    @property
    def name(self) -> str:
        bare = quote_identifier(self.udt_name)
        return f"frozen<{bare}>" if self.is_frozen else bare

    @property
    def is_multicell(self) -> bool:
        return not self.is_frozen

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return tuple(t for _, t in self.fields)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.fields)

    def frozen(self) -> CqlType:
        return replace(self, is_frozen=True)

    def _values(self, value: object) -> list[object]:
        if isinstance(value, Mapping):
            unknown = set(value) - set(self.field_names)
            if unknown:
                raise errors.InvalidRequest(
                    f"Unknown field '{sorted(unknown)[0]}' in value of user defined type "
                    f"{self.udt_name}"
                )
            return [value.get(n) for n in self.field_names]
        _not_text(value, "user type")
        assert isinstance(value, Iterable)
        return list(value)

    def serialize(self, value: object) -> bytes:
        return _serialize_components(self.subtypes, self._values(value), self.udt_name)

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        cells = _read_components(self.subtypes, data, self.udt_name)
        cells += [None] * (len(self.fields) - len(cells))
        return {
            n: None if c is None else t.deserialize(c)
            for (n, t), c in zip(self.fields, cells, strict=True)
        }

    def option_bytes(self) -> bytes:
        head = pack_short(0x0030) + pack_string(self.keyspace) + pack_string(self.udt_name)
        body = b"".join(pack_string(n) + t.option_bytes() for n, t in self.fields)
        return head + pack_short(len(self.fields)) + body

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        ca = _read_components(self.subtypes, a, self.udt_name)
        cb = _read_components(self.subtypes, b, self.udt_name)
        return _compare_sequences(self.subtypes, ca, cb)

    def literal(self, value: object) -> str:
        values = self._values(value)
        parts = [
            f"{quote_identifier(n)}: {_component_literal(t, v)}"
            for (n, t), v in zip(self.fields, values, strict=False)
        ]
        return "{" + ", ".join(parts) + "}"

    def hashable(self, value: object) -> Hashable:
        values = self._values(value)
        return tuple(
            None if v is None else t.hashable(v) for t, v in zip(self.subtypes, values,
                                                                 strict=False)
        )
