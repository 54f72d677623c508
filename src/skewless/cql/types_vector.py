"""Cassandra 5's ``vector<type, N>`` (``VectorType``) and its similarity functions.

A vector is a frozen, fixed-length sequence of non-null elements. Its value is the elements'
encodings concatenated: as they are when the element type has a fixed size (float, int, uuid,
...), each prefixed by its length as an unsigned vint otherwise (text, varint, ...). That is
both Cassandra's storage and the v4 wire form, which the drivers read from the custom-type
[option] ``org.apache.cassandra.db.marshal.VectorType(<element class>, N)``.

Only native element types are built here (Cassandra also allows collections and UDTs; those
answer Invalid naming the limitation). The similarity functions follow Cassandra's VectorFcts,
which compute with Lucene's VectorSimilarityFunction on float vectors: cosine (1 + cos) / 2,
euclidean 1 / (1 + squared distance), dot product (1 + dot) / 2, all as a float.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from skewless import errors
from skewless.cql.types_base import CqlType, pack_short, pack_string

# Element types whose encoding has a fixed size (Cassandra's valueLengthIfFixed, as the python
# driver's serial_size reads them).
FIXED_SIZES = {"float": 4, "double": 8, "int": 4, "bigint": 8, "boolean": 1, "uuid": 16,
               "timeuuid": 16, "timestamp": 8}
MARSHAL = {
    "ascii": "AsciiType", "bigint": "LongType", "blob": "BytesType", "boolean": "BooleanType",
    "date": "SimpleDateType", "decimal": "DecimalType", "double": "DoubleType",
    "duration": "DurationType", "float": "FloatType", "inet": "InetAddressType",
    "int": "Int32Type", "smallint": "ShortType", "text": "UTF8Type", "time": "TimeType",
    "timestamp": "TimestampType", "timeuuid": "TimeUUIDType", "tinyint": "ByteType",
    "uuid": "UUIDType", "varint": "IntegerType",
}
MARSHAL_PREFIX = "org.apache.cassandra.db.marshal."
SIMILARITY_FUNCTIONS = ("similarity_cosine", "similarity_euclidean", "similarity_dot_product")


def uvint_pack(n: int) -> bytes:
    """Cassandra's unsigned vint: leading 1 bits of the first byte count the extra bytes."""
    assert n >= 0
    for extra in range(9):
        bits = 7 * (extra + 1) if extra < 8 else 64
        if n < 1 << bits:
            raw = n.to_bytes(extra + 1, "big")
            if extra == 8:
                return b"\xff" + raw[1:]
            return bytes([raw[0] | ((0xFF00 >> extra) & 0xFF)]) + raw[1:]
    raise AssertionError(n)


def uvint_unpack(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the unsigned vint at ``pos``."""
    if pos >= len(data):
        raise errors.InvalidRequest("Not enough bytes to read a vector element size")
    first = data[pos]
    extra = 8 - (~first & 0xFF).bit_length()
    if pos + 1 + extra > len(data):
        raise errors.InvalidRequest("Not enough bytes to read a vector element size")
    n = first & (0xFF >> extra) if extra < 8 else 0
    for byte in data[pos + 1 : pos + 1 + extra]:
        n = (n << 8) | byte
    return n, pos + 1 + extra


@dataclass(frozen=True, slots=True)
class VectorType(CqlType):
    element: CqlType
    dimension: int

    @property
    def name(self) -> str:
        return f"vector<{self.element.name}, {self.dimension}>"

    @property
    def subtypes(self) -> tuple[CqlType, ...]:
        return (self.element,)

    @property
    def fixed_size(self) -> int | None:
        return FIXED_SIZES.get(self.element.name)

    def marshal_name(self) -> str:
        return (f"{MARSHAL_PREFIX}VectorType({MARSHAL_PREFIX}{MARSHAL[self.element.name]}, "
                f"{self.dimension})")

    def pack(self, elements: list[bytes]) -> bytes:
        """A vector value from its elements' encodings (count already checked)."""
        if self.fixed_size is not None:
            return b"".join(elements)
        return b"".join(uvint_pack(len(e)) + e for e in elements)

    def split(self, data: bytes) -> list[bytes]:
        """The elements' encodings of a vector value."""
        size = self.fixed_size
        if size is not None:
            if len(data) != size * self.dimension:
                raise errors.InvalidRequest(
                    f"Expected {size * self.dimension} bytes for a {self.name} value, got "
                    f"{len(data)}")
            return [data[i * size : (i + 1) * size] for i in range(self.dimension)]
        out, pos = [], 0
        for _ in range(self.dimension):
            n, pos = uvint_unpack(data, pos)
            if pos + n > len(data):
                raise errors.InvalidRequest("Not enough bytes to read a vector element")
            out.append(data[pos : pos + n])
            pos += n
        if pos != len(data):
            raise errors.InvalidRequest("Unexpected extraneous bytes after vector value")
        return out

    def serialize(self, value: object) -> bytes:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise TypeError(f"vector needs a sequence, not {type(value).__name__}")
        items = list(value)
        if len(items) != self.dimension:
            raise errors.InvalidRequest(
                f"Required {self.dimension} elements, but saw {len(items)}")
        if any(v is None for v in items):
            raise errors.InvalidRequest("null is not supported inside vectors")
        return self.pack([self.element.serialize(v) for v in items])

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        return [self.element.deserialize(e) for e in self.split(data)]

    def option_bytes(self) -> bytes:
        return pack_short(0x0000) + pack_string(self.marshal_name())

    def compare(self, a: bytes, b: bytes) -> int:
        if not a or not b:
            return (len(a) > 0) - (len(b) > 0)
        for x, y in zip(self.split(a), self.split(b), strict=True):
            c = self.element.compare(x, y)
            if c:
                return c
        return 0

    def literal(self, value: object) -> str:
        assert isinstance(value, list)
        return "[" + ", ".join(self.element.literal(v) for v in value) + "]"

    def hashable(self, value: object) -> Hashable:
        assert isinstance(value, list)
        return tuple(self.element.hashable(v) for v in value)


def similarity(name: str, a: bytes, b: bytes, vtype: VectorType) -> bytes:
    """``system.<name>(a, b)`` of two float vectors of ``vtype``, as a float."""
    x = [float(v) for v in struct.unpack(f">{vtype.dimension}f", a)]
    y = [float(v) for v in struct.unpack(f">{vtype.dimension}f", b)]
    if name == "similarity_euclidean":
        score = 1 / (1 + sum((p - q) ** 2 for p, q in zip(x, y, strict=True)))
    elif name == "similarity_dot_product":
        score = (1 + sum(p * q for p, q in zip(x, y, strict=True))) / 2
    else:
        norms = math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
        dot = sum(p * q for p, q in zip(x, y, strict=True))
        score = (1 + dot / norms) / 2 if norms else math.nan
    return struct.pack(">f", score)


def check_similarity_args(name: str, types: list[CqlType]) -> VectorType:
    """The vector type of a similarity call's arguments, checked as VectorFcts does."""
    if len(types) != 2:
        raise errors.InvalidRequest(f"{name}() requires two arguments, but {len(types)} given")
    first = types[0]
    if not all(isinstance(t, VectorType) and t.element.name == "float" for t in types):
        raise errors.InvalidRequest(f"Only float vectors are supported by {name}")
    assert isinstance(first, VectorType)
    if any(isinstance(t, VectorType) and t.dimension != first.dimension for t in types):
        raise errors.InvalidRequest("All arguments must have the same vector dimensions")
    return first
