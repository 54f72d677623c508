"""The base of the CQL type system: the ``CqlType`` interface and small shared helpers.

``types.py`` is the public entry point (``parse_type``, ``cql_literal``); this module holds what
every concrete type shares, so that the native and collection modules do not import each other.
"""

from __future__ import annotations

import struct
from collections.abc import Hashable
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast

_INT16 = struct.Struct(">h")
_UINT16 = struct.Struct(">H")
_INT32 = struct.Struct(">i")


def pack_short(n: int) -> bytes:
    return _UINT16.pack(n)


def pack_int(n: int) -> bytes:
    return _INT32.pack(n)


def pack_string(s: str) -> bytes:
    """A protocol [string]: unsigned short length, then UTF-8 bytes."""
    data = s.encode("utf-8")
    return _UINT16.pack(len(data)) + data


def pack_cell(data: bytes | None) -> bytes:
    """A protocol [bytes]: int32 length (-1 for null), then the bytes."""
    if data is None:
        return _INT32.pack(-1)
    return _INT32.pack(len(data)) + data


def read_cells(data: bytes, count: int | None, what: str) -> list[bytes | None]:
    """Read ``count`` [bytes] items (or as many as ``data`` holds, when ``count`` is None)."""
    out: list[bytes | None] = []
    pos = 0
    while (count is None and pos < len(data)) or (count is not None and len(out) < count):
        if pos + 4 > len(data):
            raise errors.InvalidRequest(f"Not enough bytes to read a {what} element")
        (n,) = _INT32.unpack_from(data, pos)
        pos += 4
        if n < 0:
            out.append(None)
            continue
        if pos + n > len(data):
            raise errors.InvalidRequest(f"Not enough bytes to read a {what} element")
        out.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise errors.InvalidRequest(f"Unexpected extraneous bytes after {what} value")
    return out


def read_count(data: bytes, what: str) -> tuple[int, bytes]:
    if len(data) < 4:
        raise errors.InvalidRequest(f"Not enough bytes to read a {what} size")
    (n,) = _INT32.unpack_from(data, 0)
    if n < 0:
        raise errors.InvalidRequest(f"Negative {what} size ({n})")
    return n, data[4:]


# Cassandra's TypeSerializer.validate words for a value of the wrong size ({n}: its size).
SIZE_MESSAGES = {
    "int": "Expected 4 or 0 byte int ({n})",
    "bigint": "Expected 8 or 0 byte long ({n})",
    "counter": "Expected 8 or 0 byte long ({n})",
    "smallint": "Expected 2 bytes for a smallint ({n})",
    "tinyint": "Expected 1 byte for a tinyint ({n})",
    "float": "Expected 4 or 0 byte value for a float ({n})",
    "double": "Expected 8 or 0 byte value for a double ({n})",
    "boolean": "Expected 1 or 0 byte value ({n})",
    "uuid": "UUID should be 16 or 0 bytes ({n})",
    "timeuuid": "UUID should be 16 or 0 bytes ({n})",
    "timestamp": "Expected 8 or 0 byte long for date ({n})",
    "date": "Expected 4 byte long for date ({n})",
    "time": "Expected 8 byte long for time ({n})",
}
# Types whose serializer refuses the empty value a client binds (stored empties still read).
EMPTY_REFUSED = frozenset({"smallint", "tinyint", "date", "time"})


def need_size(data: bytes, size: int, type_name: str) -> None:
    if len(data) != size:
        template = SIZE_MESSAGES.get(type_name, "Expected {size} or 0 byte {type_name} ({n})")
        raise errors.InvalidRequest(template.format(size=size, type_name=type_name, n=len(data)))


def varint_pack(n: int) -> bytes:
    """Minimal big-endian two's complement (0 -> 00, 128 -> 0080, -1 -> ff)."""
    size = (n + (n < 0)).bit_length() // 8 + 1
    return n.to_bytes(size, "big", signed=True)


def varint_unpack(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


def quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def bytes_compare(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


@dataclass(frozen=True, slots=True)
class Duration:
    """A CQL duration value. The three parts keep their own signs on the wire, but Cassandra
    requires them to agree (all >= 0 or all <= 0)."""

    months: int
    days: int
    nanoseconds: int


def invalid_constant(
    c: ast.Constant, type_name: str, receiver: str | None
) -> errors.InvalidRequest:
    """Cassandra's wording for a literal that does not fit its receiver."""
    target = f'"{receiver}"' if receiver is not None else "value"
    return errors.InvalidRequest(
        f"Invalid {c.kind.upper()} constant ({c.text}) for {target} of type {type_name}"
    )


class _Nothing:
    __slots__ = ()


NOTHING = _Nothing()  # "this constant kind is not assignable" (None is a legal value: null)


class CqlType:
    """A CQL type. Subclasses are frozen, slotted dataclasses, so types compare by value.

    Values: ``serialize`` takes the Python form the drivers accept and ``deserialize`` returns
    the form documented in ``types.py``. ``b''`` (an *empty* value, not null) deserializes to
    None for every type except text, ascii and blob. Null is the caller's concern (a missing
    cell), never passed here.
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def is_collection(self) -> bool:
        return False

    @property
    def is_multicell(self) -> bool:
        return False

    @property
    def is_counter(self) -> bool:
        return False

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return ()

    def frozen(self) -> CqlType:
        """This type with every multi-cell level frozen (natives return themselves)."""
        return self

    def serialize(self, value: object) -> bytes:
        raise NotImplementedError

    def deserialize(self, data: bytes) -> object:
        raise NotImplementedError

    def option_bytes(self) -> bytes:
        raise NotImplementedError

    def from_constant(self, c: ast.Constant, receiver: str | None = None) -> object:
        """A literal as a Python value of this type (None for ``null``). ``receiver`` names the
        column or parameter in the error message, as Cassandra's messages do."""
        if c.kind == "null":
            return None
        try:
            value = self._convert(c)
        except ValueError as e:
            raise errors.InvalidRequest(str(e)) from None
        if value is NOTHING:
            raise invalid_constant(c, self.name, receiver)
        return value

    def _convert(self, c: ast.Constant) -> object:
        """The value of a non-null constant, NOTHING when its kind does not fit this type, or
        ValueError with Cassandra's message when the text is malformed or out of range."""
        return NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        raise NotImplementedError

    def literal(self, value: object) -> str:
        """``value`` as CQL literal text (see ``types.cql_literal``)."""
        raise NotImplementedError

    def hashable(self, value: object) -> Hashable:
        """``value`` in a hashable form that ``serialize`` still accepts (lists become tuples,
        maps tuples of pairs, UDTs tuples of field values). Used for set members and map keys."""
        assert isinstance(value, Hashable), value
        return value

    def validate(self, data: bytes) -> None:
        """Raise InvalidRequest when ``data`` is not a valid encoding of this type."""
        if not data and self.name in EMPTY_REFUSED:
            raise errors.InvalidRequest(SIZE_MESSAGES[self.name].format(n=0))
        self.deserialize(data)

    def compare_nullable(self, a: bytes | None, b: bytes | None) -> int:
        """Compare with null (None) ordered before every value, as tuple components are."""
        if a is None or b is None:
            return (a is not None) - (b is not None)
        return self.compare(a, b)


def check_empty_compare(a: bytes, b: bytes) -> int | None:
    """Empty values sort before all others; None means both are non-empty."""
    if a and b:
        return None
    return (len(a) > 0) - (len(b) > 0)
