"""Text forms of CQL values: parsing literals for timestamp, date, time and duration, and
rendering them back. Pure functions; every parse failure is a ValueError with a short reason,
which the types turn into Cassandra's InvalidRequest wording.

Time zones: a timestamp literal without a zone is read as UTC (Cassandra uses the server's
zone; Skewless servers are UTC by definition).
"""

from __future__ import annotations

import datetime as dt
import re

from skewless.cql.types_base import Duration

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)
DAY_NS = 86_400 * 10**9
DATE_EPOCH_OFFSET = 2**31  # date is a uint32 day count with the epoch at 2^31

_TIMESTAMP_RE = re.compile(
    r"^(?P<y>[+-]?\d{1,9})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")
_DATE_RE = re.compile(r"^([+-]?\d{1,9})-(\d{1,2})-(\d{1,2})$")


def ms_to_value(ms: int) -> dt.datetime | int:
    """A timestamp as a naive UTC datetime, or the raw ms when outside datetime's range."""
    try:
        return EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return ms


def datetime_to_ms(value: dt.datetime) -> int:
    """Milliseconds since the epoch; naive datetimes are UTC, aware ones are converted."""
    if value.tzinfo is not None:
        offset = value.utcoffset()
        assert offset is not None
        value = value.replace(tzinfo=None) - offset
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _zone_minutes(z: str | None) -> int:
    if z is None or z == "Z":
        return 0
    digits = z[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return -minutes if z[0] == "-" else minutes


def parse_timestamp(text: str) -> int:
    """A timestamp literal to ms since the epoch: digits (raw ms), or
    'yyyy-mm-dd[( |T)HH:MM[:SS[.fff]]][Z|+HHMM|+HH:MM|+HH]'."""
    ms = _parse_timestamp_ms(text)
    if not -(2**63) <= ms < 2**63:
        raise ValueError(f"Unable to parse a date/time from '{text}'")
    return ms


def _parse_timestamp_ms(text: str) -> int:
    s = text.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    m = _TIMESTAMP_RE.match(s)
    if m is None:
        raise ValueError(f"Unable to parse a date/time from '{text}'")
    days = _civil_days(int(m["y"]), int(m["mo"]), int(m["d"]))
    hms = (int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0))
    if hms[0] > 23 or hms[1] > 59 or hms[2] > 59:
        raise ValueError(f"Unable to parse a date/time from '{text}'")
    ms = ((days * 24 + hms[0]) * 60 + hms[1]) * 60_000 + hms[2] * 1000
    ms += int((m["f"] or "0").ljust(9, "0")[:3])
    return ms - _zone_minutes(m["z"]) * 60_000


def _civil_days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, no datetime limits)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"Invalid date {year}-{month}-{day}")
    if 1 <= year <= 9999:
        try:
            return (dt.date(year, month, day) - EPOCH_DATE).days
        except ValueError as e:
            raise ValueError(f"Invalid date {year}-{month}-{day}") from e
    y = year - (month <= 2)  # Howard Hinnant's days_from_civil
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date(text: str) -> int:
    """A date literal to days since the epoch: 'yyyy-mm-dd', or digits meaning the raw uint32
    (2^31 is 1970-01-01), as Cassandra's SimpleDateSerializer reads them."""
    s = text.strip()
    if re.fullmatch(r"\d+", s):
        raw = int(s)
        if raw >= 2**32:
            raise ValueError(f"Unable to coerce '{text}' to a formatted date (long)")
        return raw - DATE_EPOCH_OFFSET
    m = _DATE_RE.match(s)
    if m is None:
        raise ValueError(f"Unable to coerce '{text}' to a formatted date (long)")
    days = _civil_days(int(m[1]), int(m[2]), int(m[3]))
    if not -DATE_EPOCH_OFFSET <= days < DATE_EPOCH_OFFSET:
        raise ValueError(f"Date '{text}' is out of range")
    return days


def days_to_value(days: int) -> dt.date | int:
    """A date as datetime.date, or the raw day count when outside datetime's range."""
    try:
        return EPOCH_DATE + dt.timedelta(days=days)
    except OverflowError:
        return days


def parse_time(text: str) -> int:
    """A time literal to ns since midnight: 'HH:MM:SS[.fffffffff]' or digits (raw ns)."""
    s = text.strip()
    if re.fullmatch(r"\d+", s):
        ns = int(s)
    else:
        m = _TIME_RE.match(s)
        if m is None:
            raise ValueError(f"Unable to coerce '{text}' to a formatted time (long)")
        h, mi, sec = int(m[1]), int(m[2]), int(m[3])
        if h > 23 or mi > 59 or sec > 59:
            raise ValueError(f"Unable to coerce '{text}' to a formatted time (long)")
        ns = ((h * 60 + mi) * 60 + sec) * 10**9 + int((m[4] or "0").ljust(9, "0"))
    if not 0 <= ns < DAY_NS:
        raise ValueError(f"Time '{text}' is out of range")
    return ns


def format_time(ns: int) -> str:
    sec, frac = divmod(ns, 10**9)
    return f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{frac:09d}"


def format_timestamp(ms: int) -> str:
    value = ms_to_value(ms)
    if isinstance(value, int):
        return str(ms)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}+0000"


def format_date(days: int) -> str:
    value = days_to_value(days)
    return value.isoformat() if isinstance(value, dt.date) else str(days + DATE_EPOCH_OFFSET)


# ----------------------------------------------------------------- durations

_UNIT_NS = {
    "h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "µs": 10**3,
    "ns": 1,
}
# Cassandra's Duration patterns: unit symbols in any case, ISO designators upper case only.
_UNIT_RE = re.compile(r"(\d+)(y|mo|w|d|h|ms|m|s|us|µs|ns)", re.IGNORECASE)
_ISO_RE = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_ISO_WEEK_RE = re.compile(r"^P(\d+)W$")
_ISO_ALT_RE = re.compile(r"^P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$")


def parse_duration(text: str) -> Duration:
    """'1y2mo3w4d5h6m7s8ms9us10ns', ISO 8601 'P1Y2M3DT4H5M6S' / 'P3W' / 'P0001-02-03T04:05:06',
    each optionally preceded by '-'."""
    s = text.strip()
    negative = s.startswith("-")
    body = s[1:] if negative else s
    parts = _parse_duration_body(body)
    if parts is None:
        raise ValueError(f"Unable to convert '{text}' to a duration")
    months, days, nanos = parts
    if negative:
        return Duration(-months, -days, -nanos)
    return Duration(months, days, nanos)


def _parse_duration_body(body: str) -> tuple[int, int, int] | None:
    if body.startswith("P"):
        return _parse_iso_duration(body)
    if not body or _UNIT_RE.sub("", body) != "":
        return None
    builder = _DurationBuilder()
    for amount_text, unit_text in _UNIT_RE.findall(body):
        builder.add(unit_text.lower(), int(amount_text))
    return builder.months, builder.days, builder.nanos


def _parse_iso_duration(body: str) -> tuple[int, int, int] | None:
    builder = _DurationBuilder()
    if body.endswith("W"):
        week = _ISO_WEEK_RE.match(body)
        if week is None:
            return None
        builder.add("w", int(week[1]))
        return builder.months, builder.days, builder.nanos
    m = (_ISO_ALT_RE if "-" in body else _ISO_RE).match(body)
    if m is None:
        return None
    for unit, amount in zip(("y", "mo", "d", "h", "m", "s"), m.groups(), strict=True):
        if amount is not None:
            builder.add(unit, int(amount))
    return builder.months, builder.days, builder.nanos


# Cassandra's Duration.Builder: units in this order, each at most once; months and days are
# 32-bit, nanoseconds 64-bit (its message names Integer.MAX_VALUE for all three).
_UNIT_ORDER = ("y", "mo", "w", "d", "h", "m", "s", "ms", "us", "ns")
_UNIT_NAMES = {
    "y": "years", "mo": "months", "w": "weeks", "d": "days", "h": "hours", "m": "minutes",
    "s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
}
_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1


class _DurationBuilder:
    def __init__(self) -> None:
        self.months = self.days = self.nanos = 0
        self.last = -1

    def add(self, unit: str, amount: int) -> None:
        unit = "us" if unit == "µs" else unit
        index = _UNIT_ORDER.index(unit)
        if index == self.last:
            raise ValueError(f"Invalid duration. The {_UNIT_NAMES[unit]} are specified multiple "
                             f"times")
        if index < self.last:
            raise ValueError(f"Invalid duration. The {_UNIT_NAMES[_UNIT_ORDER[self.last]]} should "
                             f"be after {_UNIT_NAMES[unit]}")
        self.last = index
        if unit in ("y", "mo"):
            self.months = self._checked(self.months, amount * (12 if unit == "y" else 1),
                                        _INT_MAX, "months")
        elif unit in ("w", "d"):
            self.days = self._checked(self.days, amount * (7 if unit == "w" else 1),
                                      _INT_MAX, "days")
        else:
            self.nanos = self._checked(self.nanos, amount * _UNIT_NS[unit], _LONG_MAX,
                                       "nanoseconds")

    @staticmethod
    def _checked(total: int, more: int, bound: int, what: str) -> int:
        if total + more > bound:
            raise ValueError(f"Invalid duration. The total number of {what} must be less or "
                             f"equal to {_INT_MAX}")
        return total + more


def format_duration(d: Duration) -> str:
    """Cassandra's Duration.toString: '-'? then y mo d h m s ms us ns, zero parts omitted."""
    if d.months == 0 and d.days == 0 and d.nanoseconds == 0:
        return "0s"
    negative = d.months < 0 or d.days < 0 or d.nanoseconds < 0
    months, days, nanos = abs(d.months), abs(d.days), abs(d.nanoseconds)
    out = ["-"] if negative else []
    for amount, unit in ((months // 12, "y"), (months % 12, "mo"), (days, "d")):
        if amount:
            out.append(f"{amount}{unit}")
    for unit, size in (("h", _UNIT_NS["h"]), ("m", _UNIT_NS["m"]), ("s", 10**9),
                       ("ms", 10**6), ("us", 10**3), ("ns", 1)):
        amount, nanos = divmod(nanos, size)
        if amount:
            out.append(f"{amount}{unit}")
    return "".join(out)
