"""CQL values to and from JSON, as Cassandra's toJson()/fromJson(), SELECT JSON and INSERT JSON.

Encoding (``to_json``), per type, Cassandra's ``AbstractType.toJSONString``:

* text/ascii: a JSON string (Jackson's escaping: ``"``, ``\\`` and control characters);
* integers, varint, decimal, counter: a bare number; float/double as Java's ``toString``
  (``1.0``, ``1.0E10``, ``NaN``, ``Infinity``); boolean: ``true``/``false``;
* blob: ``"0x0102"``; uuid/timeuuid/inet: the string form; timestamp:
  ``"yyyy-mm-dd hh:mm:ss.fffZ"`` (UTC); date ``"yyyy-mm-dd"``; time ``"hh:mm:ss.nnnnnnnnn"``;
  duration its CQL text (``"1h2m"``);
* list/set/tuple: ``[a, b]``; map: ``{"k": v}`` (a key that does not encode to a JSON string
  is quoted); UDT: ``{"field": v}``. Separators are ``", "`` and ``": "``, as Cassandra's.

Decoding (``from_json``) takes a value parsed by ``json.loads`` and the receiving type, and
returns the CQL serialization. Numbers may be given as strings, timestamps as strings or
integer milliseconds, blobs as ``"0x..."`` strings; map keys (always JSON strings) are decoded
as the key type, reading a non-text key's string as JSON first (``{"1": "a"}`` for
``map<int, text>``). Errors are InvalidRequest with Cassandra's wording.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import math
import struct
import uuid
from collections.abc import Sequence
from functools import cmp_to_key

from skewless import errors
from skewless.cql import types_values as tv
from skewless.cql.cells import pack_cell, pack_collection, pack_map, split_fields
from skewless.cql.types_base import CqlType, Duration
from skewless.cql.types_collections import (
    ListType,
    MapType,
    SetType,
    TupleType,
    UdtType,
    quote_identifier,
)
from skewless.cql.types_vector import VectorType

INTEGERS = frozenset({"tinyint", "smallint", "int", "bigint", "counter", "varint"})
STRINGS = frozenset({"text", "ascii", "varchar"})


# ---------------------------------------------------------------- encoding


def quote(text: str) -> str:
    """``text`` as a JSON string, escaped as Jackson does (control characters as \\uXXXX with
    upper-case hex, except the short forms)."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20:
            short = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(ch)
            out.append(short or f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def java_double(x: float, single: bool = False) -> str:
    """Java's Double.toString (Float.toString with ``single``): shortest round-trip digits,
    plain between 1e-3 and 1e7, else ``d.dddE±n``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    text = repr(x) if not single else _shortest_single(x)
    d = decimal.Decimal(text)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exp  # position of the decimal point relative to ds's start
    neg = "-" if sign else ""
    if 1e-3 <= abs(x) < 1e7:
        if point <= 0:
            return f"{neg}0.{'0' * -point}{ds}"
        whole = ds[:point].ljust(point, "0")
        frac = ds[point:] or "0"
        return f"{neg}{whole}.{frac}"
    frac = ds[1:] or "0"
    return f"{neg}{ds[0]}.{frac}E{point - 1}"


def _shortest_single(x: float) -> str:
    target = struct.pack(">f", x)
    for p in range(1, 10):
        text = f"{x:.{p}g}"
        if struct.pack(">f", float(text)) == target:
            return text
    return repr(x)


def to_json(t: CqlType, data: bytes | None) -> str:
    """The JSON text of one serialized value of type ``t`` (``null`` for null)."""
    if data is None:
        return "null"
    if isinstance(t, ListType | SetType):
        return "[" + ", ".join(to_json(t.element, e) for e in t.cells(data)) + "]"
    if isinstance(t, VectorType):
        return "[" + ", ".join(to_json(t.element, e) for e in t.split(data)) + "]"
    if isinstance(t, MapType):
        parts = []
        for k, v in t.entries(data):
            key = to_json(t.key, k)
            parts.append((key if key.startswith('"') else quote(key)) + ": " + to_json(t.value, v))
        return "{" + ", ".join(parts) + "}"
    if isinstance(t, TupleType | UdtType):

        subtypes = t.items if isinstance(t, TupleType) else tuple(ft for _, ft in t.fields)
        values = split_fields(data, len(subtypes))
        items = [to_json(st, v) for st, v in zip(subtypes, values, strict=True)]
        if isinstance(t, TupleType):
            return "[" + ", ".join(items) + "]"
        names = [quote(quote_identifier(n)) for n, _ in t.fields]
        return "{" + ", ".join(f"{n}: {v}" for n, v in zip(names, items, strict=True)) + "}"
    return _native_json(t, data)


def _native_json(t: CqlType, data: bytes) -> str:
    name = t.name
    if name in STRINGS:
        return quote(data.decode("utf-8", "replace"))
    if name == "blob":
        return quote("0x" + data.hex())
    value = t.deserialize(data)
    if value is None:  # an empty value of a non-string type
        return "null"
    if name == "boolean":
        return "true" if value else "false"
    if name in ("float", "double"):
        assert isinstance(value, float)
        return java_double(value, single=name == "float")
    if name in INTEGERS or name == "decimal":
        return str(value)
    if name == "timestamp":
        ms = int(struct.unpack(">q", data)[0])
        return quote(_timestamp_text(ms))
    if name == "date":
        return quote(tv.format_date(int(struct.unpack(">I", data)[0]) - tv.DATE_EPOCH_OFFSET))
    if name == "time":
        return quote(tv.format_time(int(struct.unpack(">q", data)[0])))
    if name == "duration":
        assert isinstance(value, Duration)
        return quote(tv.format_duration(value))
    if name == "inet" and len(data) == 16:  # Java's form: every group, no compression
        return quote(":".join(f"{int.from_bytes(data[i:i + 2], 'big'):x}"
                              for i in range(0, 16, 2)))
    return quote(str(value))  # uuid, timeuuid, inet


def _timestamp_text(ms: int) -> str:
    try:
        d = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}Z"


def row_json(names: Sequence[str], types: Sequence[CqlType],
             values: Sequence[bytes | None]) -> str:
    """A SELECT JSON row: ``{"name": value, ...}`` in selection order."""
    return "{" + ", ".join(
        f"{quote(n)}: {to_json(t, v)}" for n, t, v in zip(names, types, values, strict=True)
    ) + "}"


# ---------------------------------------------------------------- decoding


def _bad(t: CqlType, what: str, value: object) -> errors.InvalidRequest:
    kind = {str: "String", int: "Integer", float: "Double", bool: "Boolean", list: "ArrayList",
            dict: "LinkedHashMap"}.get(type(value), type(value).__name__)
    return errors.InvalidRequest(f"Expected {what}, but got a {kind}: {value!r}")


def from_json(t: CqlType, value: object) -> bytes | None:
    """The serialization, as type ``t``, of a value parsed from JSON (None for JSON null)."""
    if value is None:
        return None
    try:
        return _from_json(t, value)
    except (ValueError, OverflowError, struct.error, decimal.InvalidOperation) as e:
        raise errors.InvalidRequest(f"Unable to make {t.name} from '{value}': {e}") from None


def _from_json(t: CqlType, value: object) -> bytes:
    if isinstance(t, ListType | SetType):
        if not isinstance(value, list):
            raise _bad(t, f"a list (representing a {t.name})", value)
        items = [_element(t.element, v) for v in value]
        if isinstance(t, SetType):
            items = _sorted_unique(items, t.element)

        return pack_collection(items)
    if isinstance(t, MapType):
        if not isinstance(value, dict):
            raise _bad(t, "a map", value)
        pairs = [(_element(t.key, _map_key(t.key, k)), _element(t.value, v))
                 for k, v in value.items()]
        keys = _sorted_unique([k for k, _ in pairs], t.key)
        by_key = dict(pairs)

        return pack_map([(k, by_key[k]) for k in keys])
    if isinstance(t, TupleType):
        if not isinstance(value, list):
            raise _bad(t, "a list representation of a tuple", value)
        if len(value) != len(t.items):
            raise errors.InvalidRequest("Tuple contains extra items" if len(value) > len(
                t.items) else "Tuple is missing items")
        return _pack_fields([from_json(st, v) for st, v in zip(t.items, value, strict=False)])
    if isinstance(t, UdtType):
        return _udt(t, value)
    if isinstance(t, VectorType):
        if not isinstance(value, list):
            raise _bad(t, "a list", value)
        if len(value) != t.dimension:
            raise errors.InvalidRequest(f"List had incorrect size: expected {t.dimension} but "
                                        f"given {len(value)}; {value}")
        if any(v is None for v in value):
            raise errors.InvalidRequest("Invalid null element in list")
        return t.pack([from_json(t.element, v) or b"" for v in value])
    return _native(t, value)


def _element(t: CqlType, value: object) -> bytes:
    v = from_json(t, value)
    if v is None:
        raise errors.InvalidRequest("null is not supported inside collections")
    return v


def _map_key(t: CqlType, key: str) -> object:
    if t.name in STRINGS:
        return key
    try:
        return json.loads(key)
    except ValueError:
        return key


def _sorted_unique(items: list[bytes], t: CqlType) -> list[bytes]:
    out: list[bytes] = []
    for item in sorted(items, key=cmp_to_key(t.compare)):
        if not out or t.compare(out[-1], item) != 0:
            out.append(item)
    return out


def _pack_fields(values: Sequence[bytes | None]) -> bytes:

    return b"".join(pack_cell(v) for v in values)


def _udt(t: UdtType, value: object) -> bytes:
    if not isinstance(value, dict):
        raise _bad(t, "a map", value)
    names = [n for n, _ in t.fields]
    given: dict[str, object] = {}
    for k, v in value.items():
        name = k[1:-1].replace('""', '"') if k.startswith('"') and k.endswith('"') else k.lower()
        if name not in names:
            raise errors.InvalidRequest(f"Unknown field '{name}' in value of user defined type "
                                        f"{t.udt_name}")
        given[name] = v
    return _pack_fields([from_json(ft, given.get(n)) for n, ft in t.fields])


def _native(t: CqlType, value: object) -> bytes:
    name = t.name
    if name in STRINGS:
        if not isinstance(value, str):
            raise _bad(t, "an ascii string" if name == "ascii" else "a UTF-8 string", value)
        return t.serialize(value)
    if isinstance(value, bool) and name != "boolean":
        raise _bad(t, f"a {name} value", value)
    if name in INTEGERS:
        if isinstance(value, str):
            value = int(value)
        if not isinstance(value, int):
            raise _bad(t, f"an {name} value", value)
        return t.serialize(value)
    if name in ("float", "double"):
        if isinstance(value, str):
            value = float(value)
        if not isinstance(value, int | float):
            raise _bad(t, f"a {name} value", value)
        return t.serialize(float(value))
    if name == "decimal":
        if not isinstance(value, int | float | str):
            raise _bad(t, "a decimal value", value)
        return t.serialize(decimal.Decimal(str(value)))
    if name == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise _bad(t, "a boolean value", value)
        return t.serialize(value)
    if name == "timestamp" and isinstance(value, int):
        return t.serialize(value)
    if not isinstance(value, str):
        raise _bad(t, f"a string representation of a {name} value", value)
    return _from_string(t, name, value)


def _from_string(t: CqlType, name: str, value: str) -> bytes:
    if name == "blob":
        if not value.startswith("0x"):
            raise errors.InvalidRequest(f"String representation of blob is missing 0x prefix: "
                                        f"{value}")
        return bytes.fromhex(value[2:])
    if name == "timestamp":
        return struct.pack(">q", tv.parse_timestamp(value))
    if name in ("uuid", "timeuuid"):
        return t.serialize(uuid.UUID(value))
    if name == "inet":
        return t.serialize(ipaddress.ip_address(value))
    if name == "duration":
        return t.serialize(tv.parse_duration(value))
    return t.serialize(value)  # date, time: the types parse their string forms
