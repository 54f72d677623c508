"""The CQL type system against the Python driver as an oracle (protocol v4)."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import io
import ipaddress
import math
import struct
import uuid
from typing import Any

import pytest
from cassandra import cqltypes, util
from cassandra.protocol import ResultMessage
from hypothesis import given
from hypothesis import strategies as st

from skewless import errors
from skewless.cql import ast
from skewless.cql.types import CqlType, Duration, cql_literal, parse_type

V4 = 4

NATIVE_CASS = {
    "tinyint": "ByteType", "smallint": "ShortType", "int": "Int32Type", "bigint": "LongType",
    "counter": "CounterColumnType", "varint": "IntegerType", "decimal": "DecimalType",
    "float": "FloatType", "double": "DoubleType", "boolean": "BooleanType",
    "ascii": "AsciiType", "text": "UTF8Type", "blob": "BytesType", "uuid": "UUIDType",
    "timeuuid": "TimeUUIDType", "timestamp": "TimestampType", "date": "SimpleDateType",
    "time": "TimeType", "duration": "DurationType", "inet": "InetAddressType",
}

TS = dt.datetime(2024, 1, 2, 10, 0, 0, 123000)
U1 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # version 1
U4 = uuid.UUID("8f0e5d5e-1c8a-4e2e-9b6a-2f6c8a1d2e3f")

# (type, value given to both serializers, value our deserialize must return)
NATIVE_SAMPLES: list[tuple[str, Any, Any]] = [
    ("tinyint", -128, -128), ("tinyint", 127, 127), ("smallint", -32768, -32768),
    ("int", 2**31 - 1, 2**31 - 1), ("int", -1, -1), ("bigint", -(2**63), -(2**63)),
    ("counter", 42, 42), ("varint", 0, 0), ("varint", 128, 128), ("varint", -1, -1),
    ("varint", -129, -129), ("varint", 10**40, 10**40),
    ("decimal", decimal.Decimal("123.4500"), decimal.Decimal("123.4500")),
    ("decimal", decimal.Decimal("-1E+5"), decimal.Decimal("-1E+5")),
    ("decimal", decimal.Decimal("0"), decimal.Decimal("0")),
    ("float", 1.5, 1.5), ("double", -2.25e300, -2.25e300), ("double", math.inf, math.inf),
    ("boolean", True, True), ("boolean", False, False), ("ascii", "abc", "abc"),
    ("text", "héllo ✓", "héllo ✓"), ("text", "", ""), ("blob", b"\x00\xff", b"\x00\xff"),
    ("uuid", U4, U4), ("timeuuid", U1, U1), ("timestamp", TS, TS),
    ("timestamp", dt.datetime(1900, 5, 6, 7, 8, 9), dt.datetime(1900, 5, 6, 7, 8, 9)),
    ("date", util.Date(dt.date(2024, 1, 2)), dt.date(2024, 1, 2)),
    ("date", util.Date(-5), dt.date(1969, 12, 27)),
    ("time", util.Time(dt.time(10, 11, 12, 345678)), 36672345678000),
    ("duration", util.Duration(1, 2, 3), Duration(1, 2, 3)),
    ("duration", util.Duration(-14, -3, -(10**15)), Duration(-14, -3, -(10**15))),
    ("inet", "127.0.0.1", "127.0.0.1"), ("inet", "2001:db8::1", "2001:db8::1"),
]


def driver_type(t: CqlType) -> Any:
    """The driver's type class for our [option] encoding: checks option_bytes on the way."""
    return ResultMessage.read_type(io.BytesIO(t.option_bytes()), {})


@pytest.mark.parametrize(("name", "given", "expected"), NATIVE_SAMPLES)
def test_native_matches_driver(name: str, given: Any, expected: Any) -> None:
    t = parse_type(name)
    oracle = cqltypes.lookup_casstype(NATIVE_CASS[name])
    decoded_type = driver_type(t)
    assert issubclass(decoded_type, oracle) or issubclass(oracle, decoded_type)
    wire = oracle.serialize(given, V4)
    assert t.serialize(given) == wire
    assert t.serialize(expected) == wire
    assert t.deserialize(wire) == expected
    t.validate(wire)


def test_option_bytes_codes() -> None:
    assert parse_type("text").option_bytes() == b"\x00\x0d"
    assert parse_type("varchar").option_bytes() == b"\x00\x0d"
    assert parse_type("int").option_bytes() == b"\x00\x09"
    duration_cls = b"org.apache.cassandra.db.marshal.DurationType"
    assert parse_type("duration").option_bytes() == (
        b"\x00\x00" + struct.pack(">H", len(duration_cls)) + duration_cls
    )
    assert parse_type("map<text, int>").option_bytes() == b"\x00\x21\x00\x0d\x00\x09"
    assert parse_type("tuple<int, text>").option_bytes() == b"\x00\x31\x00\x02\x00\x09\x00\x0d"


def udts(name: str) -> tuple[tuple[str, str], ...] | None:
    table = {
        "address": (("street", "text"), ("zip", "int"), ("tags", "frozen<set<text>>")),
        "point": (("x", "double"), ("y", "double")),
    }
    return table.get(name)


def parse(text: str) -> CqlType:
    return parse_type(text, udts, "ks")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("int", "int"), ("VARCHAR", "text"), ("Map<Text,Int>", "map<text, int>"),
        ("frozen<list<int>>", "frozen<list<int>>"), ("set<frozen<list<text>>>",
                                                      "set<frozen<list<text>>>"),
        ("tuple<int, list<text>>", "frozen<tuple<int, frozen<list<text>>>>"),
        ("list<frozen<address>>", "list<frozen<address>>"), ("address", "address"),
        ("frozen<address>", "frozen<address>"), ("map<timeuuid, frozen<map<int, blob>>>",
                                                 "map<timeuuid, frozen<map<int, blob>>>"),
    ],
)
def test_parse_type_names(text: str, name: str) -> None:
    assert parse(text).name == name


@pytest.mark.parametrize(
    "text",
    ["list<list<int>>", "frozen<int>", "nosuch", "list<int", "map<int>", "list<counter>",
     "set<address>", "int>", "", "map<int, text, int>", "list<" * 40 + "int" + ">" * 40],
)
def test_parse_type_rejects(text: str) -> None:
    with pytest.raises(errors.InvalidRequest):
        parse(text)


def test_multicell_and_collection_flags() -> None:
    assert parse("list<int>").is_multicell and parse("list<int>").is_collection
    assert not parse("frozen<list<int>>").is_multicell
    assert parse("frozen<list<int>>").is_collection
    assert parse("address").is_multicell and not parse("address").is_collection
    assert not parse("tuple<int>").is_multicell and not parse("int").is_multicell
    assert parse("counter").is_counter
    m = parse("map<text, bigint>")
    assert m.subtypes == (parse("text"), parse("bigint"))


COLLECTION_SAMPLES: list[tuple[str, Any, Any]] = [
    ("list<int>", [3, 1, 3], [3, 1, 3]),
    ("frozen<list<text>>", ["a", ""], ["a", ""]),
    ("set<int>", [1, 2, 3], {1, 2, 3}),
    ("set<text>", ["a", "b"], {"a", "b"}),
    ("map<text, int>", {"a": 1, "b": 2}, {"a": 1, "b": 2}),
    ("map<int, frozen<list<int>>>", {1: [1, 2], 2: []}, {1: [1, 2], 2: []}),
    ("set<frozen<list<int>>>", [[1], [1, 2]], {(1,), (1, 2)}),
    ("tuple<int, text>", (1, "x"), (1, "x")),
    ("tuple<int, text, boolean>", (1, None, True), (1, None, True)),
    ("list<frozen<tuple<int, timestamp>>>", [(1, TS)], [(1, TS)]),
]


@pytest.mark.parametrize(("text", "given", "expected"), COLLECTION_SAMPLES)
def test_collections_match_driver(text: str, given: Any, expected: Any) -> None:
    t = parse(text)
    oracle = driver_type(t)
    wire = oracle.serialize(given, V4)
    assert t.serialize(given) == wire
    assert t.deserialize(wire) == expected
    assert t.serialize(t.deserialize(wire)) == wire
    assert t.serialize(oracle.deserialize(wire, V4)) == wire


@pytest.mark.parametrize("frozen", [False, True])
def test_udt_matches_driver(frozen: bool) -> None:
    t = parse("frozen<address>" if frozen else "address")
    assert t.is_multicell is not frozen
    oracle = driver_type(t)
    assert oracle.keyspace == "ks" and oracle.typename == "address"
    assert oracle.fieldnames == ("street", "zip", "tags")
    value = {"street": "Main", "zip": 1234, "tags": {"a", "b"}}
    wire = oracle.serialize(("Main", 1234, ["a", "b"]), V4)
    assert t.serialize(value) == wire
    assert t.serialize(("Main", 1234, {"b", "a"})) == wire
    assert t.deserialize(wire) == value
    decoded = oracle.deserialize(wire, V4)
    assert (decoded.street, decoded.zip, set(decoded.tags)) == ("Main", 1234, {"a", "b"})
    partial = oracle.serialize(("Side", None, None), V4)
    assert t.serialize({"street": "Side"}) == partial
    assert t.deserialize(struct.pack(">i", 4) + b"Side") == {
        "street": "Side", "zip": None, "tags": None
    }


def test_set_and_map_are_canonical() -> None:
    s = parse("set<int>")
    assert s.serialize([3, -1, 3, 2]) == s.serialize([-1, 2, 3])
    m = parse("map<int, text>")
    assert m.serialize({2: "b", -5: "a"}) == m.serialize([(-5, "a"), (2, "b")])
    assert list(m.deserialize(m.serialize({2: "b", -5: "a"})).items()) == [(-5, "a"), (2, "b")]  # type: ignore[attr-defined]


def test_nulls_in_collections_rejected() -> None:
    with pytest.raises(errors.InvalidRequest):
        parse("list<int>").serialize([1, None])
    with pytest.raises(errors.InvalidRequest):
        parse("map<int, int>").serialize({1: None})


def test_empty_values_and_malformed_bytes() -> None:
    assert parse("int").deserialize(b"") is None
    assert parse("uuid").deserialize(b"") is None
    assert parse("text").deserialize(b"") == ""
    assert parse("blob").deserialize(b"") == b""
    for text, bad in [("int", b"\x00\x01"), ("bigint", b"\x00"), ("uuid", b"\x01" * 15),
                      ("list<int>", b"\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01"),
                      ("text", b"\xff"), ("inet", b"\x01\x02\x03")]:
        with pytest.raises(errors.InvalidRequest):
            parse(text).validate(bad)


# ------------------------------------------------------------------ property tests

INT_WIDTHS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}


@pytest.mark.parametrize("name", list(INT_WIDTHS))
def test_int_round_trip_and_order(name: str) -> None:
    bits = INT_WIDTHS[name]
    t = parse(name)
    oracle = cqltypes.lookup_casstype(NATIVE_CASS[name])
    ints = st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)

    @given(ints, ints)
    def check(a: int, b: int) -> None:
        wa, wb = t.serialize(a), t.serialize(b)
        assert wa == oracle.serialize(a, V4)
        assert oracle.deserialize(wa, V4) == a and t.deserialize(wa) == a
        assert t.compare(wa, wb) == (a > b) - (a < b)

    check()


@given(st.integers(-(10**60), 10**60), st.integers(-(10**60), 10**60))
def test_varint_round_trip_and_order(a: int, b: int) -> None:
    t = parse("varint")
    oracle = cqltypes.lookup_casstype("IntegerType")
    assert t.serialize(a) == oracle.serialize(a, V4)
    assert t.deserialize(t.serialize(a)) == a
    assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


@given(st.decimals(allow_nan=False, allow_infinity=False),
       st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trip_and_order(a: decimal.Decimal, b: decimal.Decimal) -> None:
    t = parse("decimal")
    oracle = cqltypes.lookup_casstype("DecimalType")
    assert t.serialize(a) == oracle.serialize(a, V4)
    back = t.deserialize(t.serialize(a))
    assert back == a and str(back) == str(a)
    assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_double_round_trip_and_order(a: float, b: float) -> None:
    t = parse("double")
    oracle = cqltypes.lookup_casstype("DoubleType")
    assert t.serialize(a) == oracle.serialize(a, V4)
    assert t.deserialize(t.serialize(a)) == a
    if a != b:
        assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


@given(st.floats(width=32, allow_nan=False), st.floats(width=32, allow_nan=False))
def test_float_round_trip_and_order(a: float, b: float) -> None:
    t = parse("float")
    assert t.serialize(a) == cqltypes.lookup_casstype("FloatType").serialize(a, V4)
    assert t.deserialize(t.serialize(a)) == a
    if a != b:
        assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


def test_float_special_order() -> None:
    t = parse("double")
    order = [-math.inf, -1.0, -0.0, 0.0, 1.0, math.inf, math.nan]
    wires = [t.serialize(x) for x in order]
    for i, a in enumerate(wires):
        for j, b in enumerate(wires):
            assert t.compare(a, b) == (i > j) - (i < j)


@given(st.text(), st.text())
def test_text_round_trip_and_order(a: str, b: str) -> None:
    t = parse("text")
    assert t.serialize(a) == cqltypes.lookup_casstype("UTF8Type").serialize(a, V4)
    assert t.deserialize(t.serialize(a)) == a
    ea, eb = a.encode(), b.encode()
    assert t.compare(ea, eb) == (ea > eb) - (ea < eb)
    # UTF-8 byte order is code point order, which is Python's str order
    assert t.compare(ea, eb) == (a > b) - (a < b)


@given(st.lists(st.integers(-(2**31), 2**31 - 1)), st.lists(st.integers(-(2**31), 2**31 - 1)))
def test_frozen_list_order_is_lexicographic(a: list[int], b: list[int]) -> None:
    t = parse("frozen<list<int>>")
    oracle = driver_type(t)
    assert t.serialize(a) == oracle.serialize(a, V4)
    assert t.deserialize(t.serialize(a)) == a
    assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


@given(st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1)))
def test_map_round_trip(value: dict[str, int]) -> None:
    t = parse("map<text, bigint>")
    wire = t.serialize(value)
    assert dict(driver_type(t).deserialize(wire, V4) or {}) == value
    assert t.deserialize(wire) == value


@given(st.tuples(st.integers(0, 10), st.text(max_size=3)),
       st.tuples(st.integers(0, 10), st.text(max_size=3)))
def test_tuple_order(a: tuple[int, str], b: tuple[int, str]) -> None:
    t = parse("tuple<int, text>")
    assert t.compare(t.serialize(a), t.serialize(b)) == (a > b) - (a < b)


# ------------------------------------------------------------------ uuid ordering


def v1(time_100ns: int, tail: bytes = b"\x80" + b"\x00" * 7) -> bytes:
    low, mid, hi = time_100ns & 0xFFFFFFFF, (time_100ns >> 32) & 0xFFFF, time_100ns >> 48
    return struct.pack(">IHH", low, mid, hi | 0x1000) + tail


def test_timeuuid_orders_by_time_then_signed_bytes() -> None:
    t = parse("timeuuid")
    early, late = v1(2**40), v1(2**33 + 2**50)
    assert early > late  # bytewise the other way round: time_low comes first
    assert t.compare(early, late) == -1
    pos, neg = v1(5, b"\x01" + b"\x00" * 7), v1(5, b"\x81" + b"\x00" * 7)
    assert t.compare(neg, pos) == -1  # 0x81 is a negative signed byte


def test_uuid_orders_by_version_then_time() -> None:
    t = parse("uuid")
    version4 = U4.bytes
    early, late = v1(2**40), v1(2**33 + 2**50)
    assert t.compare(early, version4) == -1  # version 1 < version 4
    assert t.compare(early, late) == -1
    assert t.compare(late, late) == 0
    other4 = uuid.UUID("00000000-0000-4000-8000-000000000000").bytes
    assert t.compare(other4, version4) == -1
    assert t.compare(b"", version4) == -1


def test_timeuuid_rejects_other_versions() -> None:
    with pytest.raises(errors.InvalidRequest):
        parse("timeuuid").serialize(U4)
    with pytest.raises(errors.InvalidRequest):
        parse("timeuuid").from_constant(ast.Constant("uuid", str(U4)))


def test_inet_date_time_timestamp_order() -> None:
    ts = parse("timestamp")
    assert ts.compare(ts.serialize(-1), ts.serialize(1)) == -1
    d = parse("date")
    assert d.compare(d.serialize(-3), d.serialize(2)) == -1
    inet = parse("inet")
    assert inet.compare(inet.serialize("10.0.0.2"), inet.serialize("10.0.0.10")) == -1


# ------------------------------------------------------------------ constants


def const(kind: str, text: str) -> ast.Constant:
    return ast.Constant(kind, text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type_text", "kind", "text", "expected"),
    [
        ("int", "integer", "-42", -42), ("bigint", "integer", "9223372036854775807", 2**63 - 1),
        ("tinyint", "integer", "-128", -128), ("varint", "integer", "1" * 30, int("1" * 30)),
        ("counter", "integer", "7", 7), ("double", "integer", "3", 3.0),
        ("double", "float", "NaN", "nan"), ("float", "float", "-Infinity", -math.inf),
        ("decimal", "float", "1.50", decimal.Decimal("1.50")),
        ("decimal", "integer", "10", decimal.Decimal(10)), ("text", "string", "it's", "it's"),
        ("ascii", "string", "abc", "abc"), ("blob", "hex", "00ff", b"\x00\xff"),
        ("boolean", "boolean", "true", True), ("boolean", "boolean", "false", False),
        ("uuid", "uuid", str(U4), U4), ("timeuuid", "uuid", str(U1), U1),
        ("uuid", "string", str(U4), U4),
        ("timestamp", "integer", "1704164645678", dt.datetime(2024, 1, 2, 3, 4, 5, 678000)),
        ("timestamp", "string", "2024-01-02 10:00:00+0000", dt.datetime(2024, 1, 2, 10)),
        ("timestamp", "string", "2024-01-02T10:00:00.5Z", dt.datetime(2024, 1, 2, 10, 0, 0,
                                                                      500000)),
        ("timestamp", "string", "2024-01-02 12:00:00+02:00", dt.datetime(2024, 1, 2, 10)),
        ("timestamp", "string", "2024-01-02", dt.datetime(2024, 1, 2)),
        ("date", "string", "2024-01-02", dt.date(2024, 1, 2)),
        ("date", "integer", str(2**31 + 1), dt.date(1970, 1, 2)),
        ("time", "string", "10:00:01.5", (10 * 3600 + 1) * 10**9 + 5 * 10**8),
        ("time", "integer", "5", 5),
        ("duration", "duration", "1h30m", Duration(0, 0, 90 * 60 * 10**9)),
        ("duration", "duration", "1y2mo3w4d", Duration(14, 25, 0)),
        ("duration", "duration", "-2d10ms", Duration(0, -2, -(10**7))),
        ("duration", "string", "P1Y2M3DT4H5M6S", Duration(14, 3, (4 * 3600 + 5 * 60 + 6) * 10**9)),
        ("duration", "duration", "P2W", Duration(0, 14, 0)),
        ("inet", "string", "192.168.0.1", "192.168.0.1"),
        ("int", "null", "null", None), ("list<int>", "null", "null", None),
    ],
)
def test_from_constant(type_text: str, kind: str, text: str, expected: Any) -> None:
    value = parse(type_text).from_constant(const(kind, text))
    if expected == "nan":
        assert isinstance(value, float) and math.isnan(value)
    else:
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("type_text", "kind", "text", "message"),
    [
        ("int", "string", "abc", 'Invalid STRING constant (abc) for "k" of type int'),
        ("text", "integer", "1", 'Invalid INTEGER constant (1) for "k" of type text'),
        ("int", "float", "1.5", 'Invalid FLOAT constant (1.5) for "k" of type int'),
        ("int", "integer", "2147483648", "Unable to make int from '2147483648'"),
        ("tinyint", "integer", "128", "Unable to make tinyint from '128'"),
        ("blob", "string", "x", 'Invalid STRING constant (x) for "k" of type blob'),
        ("ascii", "string", "é", "Invalid ASCII character"),
        ("timestamp", "string", "yesterday", "Unable to parse a date/time from 'yesterday'"),
        ("date", "string", "2024-13-01", "Invalid date"),
        ("time", "string", "25:00:00", "Unable to coerce '25:00:00' to a formatted time"),
        ("inet", "string", "300.1.1.1", "Unable to make inet address from '300.1.1.1'"),
        ("uuid", "string", "xyz", "Unable to make UUID from 'xyz'"),
        ("duration", "string", "1parsec", "Unable to convert '1parsec' to a duration"),
        ("boolean", "integer", "1", 'Invalid INTEGER constant (1) for "k" of type boolean'),
        ("list<int>", "integer", "1", 'Invalid INTEGER constant (1) for "k" of type list<int>'),
    ],
)
def test_from_constant_errors(type_text: str, kind: str, text: str, message: str) -> None:
    with pytest.raises(errors.InvalidRequest) as info:
        parse(type_text).from_constant(const(kind, text), receiver="k")
    assert message in info.value.message


def test_from_constant_without_receiver() -> None:
    with pytest.raises(errors.InvalidRequest, match=r"for value of type int"):
        parse("int").from_constant(const("string", "abc"))


def test_from_constant_values_serialize() -> None:
    for text, c in [("timestamp", const("string", "2024-01-02 10:00:00+0000")),
                    ("date", const("string", "1970-01-01")), ("duration", const("duration", "1d")),
                    ("inet", const("string", "::1")), ("time", const("string", "00:00:01"))]:
        t = parse(text)
        t.validate(t.serialize(t.from_constant(c)))
    assert parse("date").serialize(parse("date").from_constant(const("string", "1970-01-01"))) == (
        b"\x80\x00\x00\x00"
    )


# ------------------------------------------------------------------ literals


@pytest.mark.parametrize(
    ("type_text", "value", "literal"),
    [
        ("text", "it's", "'it''s'"), ("blob", b"\x01\xab", "0x01ab"), ("int", -3, "-3"),
        ("double", 1.5, "1.5"), ("double", math.nan, "NaN"), ("boolean", True, "true"),
        ("uuid", U4, str(U4)), ("decimal", decimal.Decimal("1.50"), "1.50"),
        ("timestamp", dt.datetime(2024, 1, 2, 10), "'2024-01-02 10:00:00.000+0000'"),
        ("date", dt.date(2024, 1, 2), "'2024-01-02'"), ("time", 10**9, "'00:00:01.000000000'"),
        ("duration", Duration(14, 3, 90 * 60 * 10**9), "1y2mo3d1h30m"),
        ("inet", "10.0.0.1", "'10.0.0.1'"), ("list<text>", ["a", "b'"], "['a', 'b''']"),
        ("set<int>", {3, 1}, "{1, 3}"), ("map<text, int>", {"b": 2, "a": 1}, "{'a': 1, 'b': 2}"),
        ("tuple<int, text>", (1, None), "(1, null)"),
        ("address", {"street": "x", "zip": 1}, "{street: 'x', zip: 1, tags: null}"),
        ("int", None, "null"),
    ],
)
def test_cql_literal(type_text: str, value: Any, literal: str) -> None:
    assert cql_literal(parse(type_text), value) == literal


def test_hashable_forms_serialize_identically() -> None:
    for text, value in [("frozen<list<int>>", [1, 2]), ("frozen<map<int, text>>", {2: "b", 1: "a"}),
                        ("frozen<address>", {"street": "s", "zip": 1, "tags": {"x"}}),
                        ("frozen<set<int>>", {5, 4})]:
        t = parse(text)
        h = t.hashable(value)
        hash(h)
        assert t.serialize(h) == t.serialize(value)


def test_types_compare_by_value() -> None:
    assert parse("map<text, int>") == parse("map<varchar, int>")
    assert len({parse("int"), parse("int"), parse("frozen<list<int>>")}) == 2
    assert functools.reduce(lambda a, b: a and b, [parse(n).name == n for n in NATIVE_CASS])


def test_ipaddress_objects_accepted() -> None:
    t = parse("inet")
    assert t.serialize(ipaddress.ip_address("10.1.2.3")) == b"\x0a\x01\x02\x03"
