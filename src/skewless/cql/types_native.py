"""The native (non-collection) CQL types: encodings, literal conversion and ordering.

Python value forms (what ``deserialize`` returns; ``serialize`` also accepts the alternatives):

========================  =================================================================
tinyint..bigint, counter  int
varint                    int
decimal                   decimal.Decimal (serialize also takes int, float, str)
float, double             float
boolean                   bool
ascii, text               str
blob                      bytes (serialize also takes bytearray, memoryview)
uuid, timeuuid            uuid.UUID (serialize also takes str)
timestamp                 naive UTC datetime, or int ms when outside datetime's range
                          (serialize takes datetime -- naive means UTC -- date, or int ms)
date                      datetime.date, or int days since 1970-01-01 when outside its range
                          (serialize takes date, int days since the epoch, or 'yyyy-mm-dd';
                          anything with ``days_from_epoch`` such as the driver's Date)
time                      int nanoseconds since midnight (serialize also takes datetime.time,
                          'HH:MM:SS.fff' or anything with ``nanosecond_time``)
duration                  types_base.Duration (anything with months/days/nanoseconds)
inet                      str, normalised by ipaddress (serialize also takes ipaddress objects)
========================  =================================================================
"""

from __future__ import annotations

import decimal
import ipaddress
import math
import struct
import uuid
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast
from skewless.cql.types_base import (
    NOTHING,
    CqlType,
    bytes_compare,
    check_empty_compare,
    need_size,
    pack_short,
    quote_text,
    sign,
    varint_pack,
    varint_unpack,
)
from skewless.cql.types_temporal import DateType, DurationType, TimestampType, TimeType


@dataclass(frozen=True, slots=True)
class IntType(CqlType):
    """tinyint, smallint, int, bigint and counter: fixed-width two's complement."""

    cql_name: str
    width: int
    option_id: int

    @property
    def name(self) -> str:
        return self.cql_name

    @property
    def is_counter(self) -> bool:
        return self.name == "counter"

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, int):
            raise TypeError(f"{self.name} needs an int, not {type(value).__name__}")
        try:
            return value.to_bytes(self.width, "big", signed=True)
        except OverflowError:
            raise errors.InvalidRequest(f"Value {value} is out of range for {self.name}") from None

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, self.width, self.name)
        return int.from_bytes(data, "big", signed=True)

    def option_bytes(self) -> bytes:
        return pack_short(self.option_id)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind != "integer":
            return NOTHING
        n = int(c.text)
        bound = 1 << (self.width * 8 - 1)
        if not -bound <= n < bound:
            raise ValueError(f"Unable to make {self.name} from '{c.text}'")
        return n

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        return sign(varint_unpack(a) - varint_unpack(b))

    def literal(self, value: object) -> str:
        assert isinstance(value, int)
        return str(value)


@dataclass(frozen=True, slots=True)
class VarintType(CqlType):
    @property
    def name(self) -> str:
        return "varint"

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, int):
            raise TypeError(f"varint needs an int, not {type(value).__name__}")
        return varint_pack(value)

    def deserialize(self, data: bytes) -> object:
        return varint_unpack(data) if data else None

    def option_bytes(self) -> bytes:
        return pack_short(0x000E)

    def _convert(self, c: ast.Constant) -> object:
        return int(c.text) if c.kind == "integer" else NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        return empty if empty is not None else sign(varint_unpack(a) - varint_unpack(b))

    def literal(self, value: object) -> str:
        assert isinstance(value, int)
        return str(value)


def _to_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return decimal.Decimal(value)
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    raise TypeError(f"decimal needs a Decimal, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class DecimalType(CqlType):
    @property
    def name(self) -> str:
        return "decimal"

    def serialize(self, value: object) -> bytes:
        d = _to_decimal(value)
        if not d.is_finite():
            raise errors.InvalidRequest(f"decimal cannot hold {d}")
        sign_bit, digits, exponent = d.as_tuple()
        assert isinstance(exponent, int)
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign_bit else 1)
        return struct.pack(">i", -exponent) + varint_pack(unscaled)

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        if len(data) < 4:
            raise errors.InvalidRequest(f"Expected 0 or at least 4 bytes ({len(data)})")
        if len(data) < 5:
            raise errors.InvalidRequest(f"Invalid decimal value of {len(data)} bytes")
        (scale,) = struct.unpack_from(">i", data)
        unscaled = varint_unpack(data[4:])
        digits = tuple(int(ch) for ch in str(abs(unscaled)))
        return decimal.Decimal((int(unscaled < 0), digits, -scale))

    def option_bytes(self) -> bytes:
        return pack_short(0x0006)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind not in ("integer", "float"):
            return NOTHING
        d = decimal.Decimal(c.text)
        if not d.is_finite():
            raise ValueError(f"Unable to make BigDecimal from '{c.text}'")
        return d

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        x, y = self.deserialize(a), self.deserialize(b)
        assert isinstance(x, decimal.Decimal) and isinstance(y, decimal.Decimal)
        return (x > y) - (x < y)

    def literal(self, value: object) -> str:
        return str(_to_decimal(value))


def _float_key(x: float) -> tuple[int, float, int]:
    """Java's Float.compare order: -0.0 < 0.0, NaN above everything and equal to itself."""
    if math.isnan(x):
        return (1, 0.0, 0)
    return (0, x, int(math.copysign(1.0, x) > 0))


@dataclass(frozen=True, slots=True)
class FloatType(CqlType):
    """float (binary32) and double (binary64)."""

    cql_name: str
    fmt: str
    option_id: int

    @property
    def name(self) -> str:
        return self.cql_name

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"{self.name} needs a float, not {type(value).__name__}")
        try:
            return struct.pack(self.fmt, value)
        except OverflowError:  # beyond binary32: Java's parseFloat gives an infinity
            return struct.pack(self.fmt, math.copysign(math.inf, value))

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, struct.calcsize(self.fmt), self.name)
        (value,) = struct.unpack(self.fmt, data)
        assert isinstance(value, float)
        return value

    def option_bytes(self) -> bytes:
        return pack_short(self.option_id)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind not in ("integer", "float"):
            return NOTHING
        try:
            return float(c.text)
        except ValueError:
            raise ValueError(f"Unable to make {self.name} from '{c.text}'") from None

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        x, y = self.deserialize(a), self.deserialize(b)
        assert isinstance(x, float) and isinstance(y, float)
        kx, ky = _float_key(x), _float_key(y)
        return (kx > ky) - (kx < ky)

    def literal(self, value: object) -> str:
        assert isinstance(value, (int, float))
        x = float(value)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return repr(x)


@dataclass(frozen=True, slots=True)
class BooleanType(CqlType):
    @property
    def name(self) -> str:
        return "boolean"

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, bool):
            raise TypeError(f"boolean needs a bool, not {type(value).__name__}")
        return b"\x01" if value else b"\x00"

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, 1, "boolean")
        return data != b"\x00"

    def option_bytes(self) -> bytes:
        return pack_short(0x0004)

    def _convert(self, c: ast.Constant) -> object:
        return c.text.lower() == "true" if c.kind == "boolean" else NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class StringType(CqlType):
    """text (UTF-8) and ascii."""

    cql_name: str
    option_id: int

    @property
    def name(self) -> str:
        return self.cql_name

    @property
    def _encoding(self) -> str:
        return "ascii" if self.name == "ascii" else "utf-8"

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"{self.name} needs a str, not {type(value).__name__}")
        try:
            return value.encode(self._encoding)
        except UnicodeEncodeError:
            raise errors.InvalidRequest(f"Invalid ASCII character in string '{value}'") from None

    def deserialize(self, data: bytes) -> object:
        try:
            return data.decode(self._encoding)
        except UnicodeDecodeError as e:
            if self.name == "ascii":  # AsciiSerializer.validate, the byte as Java's signed byte
                bad = data[e.start]
                raise errors.InvalidRequest(
                    f"Invalid byte for ascii: {bad - 256 if bad > 127 else bad}") from None
            raise errors.InvalidRequest("String didn't validate.") from None

    def option_bytes(self) -> bytes:
        return pack_short(self.option_id)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind != "string":
            return NOTHING
        if self.name == "ascii" and not c.text.isascii():
            raise ValueError(f"Invalid ASCII character in string literal '{c.text}'")
        return c.text

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        assert isinstance(value, str)
        return quote_text(value)


@dataclass(frozen=True, slots=True)
class BlobType(CqlType):
    @property
    def name(self) -> str:
        return "blob"

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"blob needs bytes, not {type(value).__name__}")
        return bytes(value)

    def deserialize(self, data: bytes) -> object:
        return bytes(data)

    def option_bytes(self) -> bytes:
        return pack_short(0x0003)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind != "hex":
            return NOTHING
        if len(c.text) % 2:
            raise ValueError(f"Hex string is of odd length: 0x{c.text}")
        return bytes.fromhex(c.text)

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        assert isinstance(value, (bytes, bytearray, memoryview))
        return "0x" + bytes(value).hex()


def _to_uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value)
    raise TypeError(f"uuid needs a UUID, not {type(value).__name__}")


def _timeuuid_key(data: bytes) -> tuple[int, tuple[int, ...]]:
    """TimeUUIDType order: the 60-bit timestamp, then the low 8 bytes as *signed* bytes."""
    msb = int.from_bytes(data[:8], "big")
    stamp = ((msb & 0xFFFF) << 48) | (((msb >> 16) & 0xFFFF) << 32) | (msb >> 32)
    return stamp, tuple(b - 256 if b > 127 else b for b in data[8:])


@dataclass(frozen=True, slots=True)
class UuidType(CqlType):
    """uuid (UUIDType order: version, then time for v1 or the high bytes, then the low bytes)
    and timeuuid (version 1 only; ordered by time)."""

    cql_name: str
    option_id: int

    @property
    def name(self) -> str:
        return self.cql_name

    def serialize(self, value: object) -> bytes:
        u = _to_uuid(value)
        if self.name == "timeuuid" and u.version != 1:
            raise errors.InvalidRequest("Invalid version for TimeUUID type.")
        return u.bytes

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, 16, self.name)
        return uuid.UUID(bytes=bytes(data))

    def validate(self, data: bytes) -> None:
        """TimeUUIDSerializer.validate also checks the version nibble of a bound timeuuid."""
        self.deserialize(data)
        if self.name == "timeuuid" and data and data[6] & 0xF0 != 0x10:
            raise errors.InvalidRequest("Invalid version for TimeUUID type.")

    def option_bytes(self) -> bytes:
        return pack_short(self.option_id)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind not in ("uuid", "string"):
            return NOTHING
        try:
            u = uuid.UUID(c.text)
        except ValueError:
            raise ValueError(f"Unable to make UUID from '{c.text}'") from None
        if self.name == "timeuuid" and u.version != 1:
            raise ValueError(f"Unsupported UUID version for timeuuid: '{c.text}'")
        return u

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        if empty is not None:
            return empty
        if self.name == "timeuuid":
            ka, kb = _timeuuid_key(a), _timeuuid_key(b)
            return (ka > kb) - (ka < kb)
        va, vb = a[6] >> 4, b[6] >> 4
        if va != vb:
            return sign(va - vb)
        if va == 1:
            ta, tb = _timeuuid_key(a)[0], _timeuuid_key(b)[0]
            if ta != tb:
                return sign(ta - tb)
            return bytes_compare(a[8:], b[8:])
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        return str(_to_uuid(value))


def _to_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    if isinstance(value, str):
        return ipaddress.ip_address(value)
    raise TypeError(f"inet needs an address, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class InetType(CqlType):
    @property
    def name(self) -> str:
        return "inet"

    def serialize(self, value: object) -> bytes:
        try:
            return _to_ip(value).packed
        except ValueError:
            raise errors.InvalidRequest(f"Unable to make inet address from '{value}'") from None

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        if len(data) not in (4, 16):
            raise errors.InvalidRequest(
                f"Expected 4 or 16 byte inetaddress; got {bytes(data).hex()}")
        return str(ipaddress.ip_address(bytes(data)))

    def option_bytes(self) -> bytes:
        return pack_short(0x0010)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind != "string":
            return NOTHING
        try:
            return str(ipaddress.ip_address(c.text))
        except ValueError:
            raise ValueError(f"Unable to make inet address from '{c.text}'") from None

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        return quote_text(str(_to_ip(value)))


NATIVE_TYPES: dict[str, CqlType] = {
    t.name: t
    for t in (
        IntType("tinyint", 1, 0x0014), IntType("smallint", 2, 0x0013), IntType("int", 4, 0x0009),
        IntType("bigint", 8, 0x0002), IntType("counter", 8, 0x0005), VarintType(), DecimalType(),
        FloatType("float", ">f", 0x0008), FloatType("double", ">d", 0x0007), BooleanType(),
        StringType("ascii", 0x0001), StringType("text", 0x000D), BlobType(),
        UuidType("uuid", 0x000C), UuidType("timeuuid", 0x000F), TimestampType(), DateType(),
        TimeType(), DurationType(), InetType(),
    )
}
