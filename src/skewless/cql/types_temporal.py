"""The temporal native types -- timestamp, date, time, duration -- and Cassandra's vint
encoding that duration uses. Value forms are documented in ``types_native``."""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast
from skewless.cql import types_values as tv
from skewless.cql.types_base import (
    NOTHING,
    CqlType,
    Duration,
    bytes_compare,
    check_empty_compare,
    need_size,
    pack_short,
    pack_string,
    quote_text,
    sign,
    varint_unpack,
)

_DURATION_CLASS = "org.apache.cassandra.db.marshal.DurationType"


@dataclass(frozen=True, slots=True)
class TimestampType(CqlType):
    @property
    def name(self) -> str:
        return "timestamp"

    def serialize(self, value: object) -> bytes:
        return struct.pack(">q", _timestamp_ms(value))

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, 8, "timestamp")
        (ms,) = struct.unpack(">q", data)
        return tv.ms_to_value(ms)

    def option_bytes(self) -> bytes:
        return pack_short(0x000B)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind in ("integer", "string"):
            return tv.ms_to_value(tv.parse_timestamp(c.text))
        return NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        return empty if empty is not None else sign(varint_unpack(a) - varint_unpack(b))

    def literal(self, value: object) -> str:
        return quote_text(tv.format_timestamp(_timestamp_ms(value)))


def _timestamp_ms(value: object) -> int:
    if isinstance(value, dt.datetime):
        return tv.datetime_to_ms(value)
    if isinstance(value, dt.date):
        return (value - tv.EPOCH_DATE).days * 86_400_000
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"timestamp needs a datetime or int ms, not {type(value).__name__}")


def _date_days(value: object) -> int:
    days_from_epoch = getattr(value, "days_from_epoch", None)
    if isinstance(days_from_epoch, int):
        return days_from_epoch
    if isinstance(value, dt.datetime):
        return (value.date() - tv.EPOCH_DATE).days
    if isinstance(value, dt.date):
        return (value - tv.EPOCH_DATE).days
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return tv.parse_date(value)
    raise TypeError(f"date needs a date or int days, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class DateType(CqlType):
    @property
    def name(self) -> str:
        return "date"

    def serialize(self, value: object) -> bytes:
        raw = _date_days(value) + tv.DATE_EPOCH_OFFSET
        if not 0 <= raw < 2**32:
            raise errors.InvalidRequest(f"date {value!r} is out of range")
        return struct.pack(">I", raw)

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, 4, "date")
        (raw,) = struct.unpack(">I", data)
        return tv.days_to_value(raw - tv.DATE_EPOCH_OFFSET)

    def option_bytes(self) -> bytes:
        return pack_short(0x0011)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind not in ("string", "integer"):
            return NOTHING
        return tv.days_to_value(tv.parse_date(c.text))

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)  # offset by 2^31, so unsigned bytes order numerically

    def literal(self, value: object) -> str:
        return quote_text(tv.format_date(_date_days(value)))


def _time_ns(value: object) -> int:
    nanosecond_time = getattr(value, "nanosecond_time", None)
    if isinstance(nanosecond_time, int):
        return nanosecond_time
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 10**9 + (
            value.microsecond * 1000
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return tv.parse_time(value)
    raise TypeError(f"time needs int ns or a time, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class TimeType(CqlType):
    @property
    def name(self) -> str:
        return "time"

    def serialize(self, value: object) -> bytes:
        ns = _time_ns(value)
        if not 0 <= ns < tv.DAY_NS:
            raise errors.InvalidRequest(f"time {ns} is out of range")
        return struct.pack(">q", ns)

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        need_size(data, 8, "time")
        (ns,) = struct.unpack(">q", data)
        return int(ns)

    def option_bytes(self) -> bytes:
        return pack_short(0x0012)

    def _convert(self, c: ast.Constant) -> object:
        if c.kind == "integer":
            return tv.parse_time(c.text)
        return tv.parse_time(c.text) if c.kind == "string" else NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        empty = check_empty_compare(a, b)
        return empty if empty is not None else sign(varint_unpack(a) - varint_unpack(b))

    def literal(self, value: object) -> str:
        return quote_text(tv.format_time(_time_ns(value)))


def vint_pack(n: int) -> bytes:
    """Cassandra's signed vint: zig-zag, then leading 1 bits of byte 0 count the extra bytes."""
    z = (n << 1) ^ (n >> 63)
    assert 0 <= z < 1 << 64, n
    for extra in range(9):
        bits = 8 * extra + 7 - extra if extra < 8 else 64
        if z < 1 << bits:
            prefix = (0xFF00 >> extra) & 0xFF
            raw = z.to_bytes(extra + 1, "big")
            return bytes([raw[0] | prefix]) + raw[1:] if extra < 8 else b"\xff" + raw[1:]
    raise AssertionError(n)


def vint_unpack_all(data: bytes) -> list[int]:
    out: list[int] = []
    pos = 0
    while pos < len(data):
        first = data[pos]
        extra = 8 - (~first & 0xFF).bit_length()
        if pos + 1 + extra > len(data):
            raise errors.InvalidRequest("Truncated vint in duration")
        z = first & (0xFF >> extra) if extra < 8 else 0
        for byte in data[pos + 1 : pos + 1 + extra]:
            z = (z << 8) | byte
        out.append((z >> 1) ^ -(z & 1))
        pos += 1 + extra
    return out


@dataclass(frozen=True, slots=True)
class DurationType(CqlType):
    @property
    def name(self) -> str:
        return "duration"

    def serialize(self, value: object) -> bytes:
        try:
            parts = (value.months, value.days, value.nanoseconds)  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError(f"duration needs a Duration, not {type(value).__name__}") from None
        if not all(isinstance(p, int) for p in parts):
            raise TypeError("duration parts must be ints")
        if min(parts) < 0 < max(parts):
            raise errors.InvalidRequest("The duration months, days and nanoseconds must be all "
                                        "of the same sign")
        return b"".join(vint_pack(p) for p in parts)

    def deserialize(self, data: bytes) -> object:
        if not data:
            return None
        parts = vint_unpack_all(data)
        if len(parts) != 3:
            raise errors.InvalidRequest(f"Invalid duration: {len(parts)} parts")
        return Duration(parts[0], parts[1], parts[2])

    def validate(self, data: bytes) -> None:
        """Cassandra's DurationSerializer.validate: at least 3 bytes, 32-bit months and days,
        all three parts of one sign."""
        if len(data) < 3:
            raise errors.InvalidRequest(
                f"Expected at least 3 bytes for a duration ({len(data)})")
        parts = vint_unpack_all(data)
        if len(parts) != 3:
            raise errors.InvalidRequest(f"Invalid duration: {len(parts)} parts")
        months, days, nanos = parts
        for name, part in (("months", months), ("days", days)):
            if not -(2**31) <= part < 2**31:
                raise errors.InvalidRequest(
                    f"The duration {name} must be a 32 bits integer but was: {part}")
        if min(parts) < 0 < max(parts):
            raise errors.InvalidRequest(
                f"The duration months, days and nanoseconds must be all of the same sign "
                f"({months}, {days}, {nanos})")

    def option_bytes(self) -> bytes:
        return pack_short(0x0000) + pack_string(_DURATION_CLASS)

    def _convert(self, c: ast.Constant) -> object:
        return tv.parse_duration(c.text) if c.kind in ("duration", "string") else NOTHING

    def compare(self, a: bytes, b: bytes) -> int:
        return bytes_compare(a, b)

    def literal(self, value: object) -> str:
        d = self.deserialize(self.serialize(value))
        assert isinstance(d, Duration)
        return tv.format_duration(d)
