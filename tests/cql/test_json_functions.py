"""JSON encoding/decoding (toJson/fromJson rules), INSERT JSON, SELECT JSON, scalar functions
in the select clause, casts over aggregates, and non-frozen maps rendered with their entry
count -- through the same pure planner/renderer and mutation builder the nodes run."""

from __future__ import annotations

import json
import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.dml import build_mutations
from skewless.cql.json_codec import from_json, java_double, quote, to_json
from skewless.cql.parser import parse
from skewless.cql.select import plan_select, render, select_result_columns
from skewless.cql.terms import EvalContext, Value, timeuuid_ms
from skewless.cql.types import parse_type
from skewless.schema import ColumnDef, Schema, TableDef, UserType
from skewless.storage.merge import merge
from skewless.storage.model import PartitionUpdate

NOW_S = 1_700_000_000
U = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def col(name: str, t: str, kind: str = "regular", pos: int = -1) -> ColumnDef:
    return ColumnDef(name, t, kind, pos, "asc" if kind == "clustering" else "none")  # type: ignore[arg-type]


T = TableDef("ks", "j", uuid.uuid5(uuid.NAMESPACE_DNS, "j"), (
    col("k", "int", "partition_key", 0), col("c", "text", "clustering", 0),
    col("m", "map<int, text>"), col("s", "set<text>"), col("l", "list<int>"),
    col("ts", "timestamp"), col("b", "blob"), col("a", "frozen<addr>"), col("f", "double"),
    col("Mixed", "int"), col("tu", "timeuuid")))
SCHEMA = Schema(tables=(T,), types=(UserType("ks", "addr", ("street", "zip"), ("text", "int")),))


def ctx(*values: Value) -> EvalContext:
    return EvalContext(NOW_S * 1_000_000 + 123_456, lambda n: bytes(range(n)), list(values),
                       "ks", node_id=0xABC, clock_seq=5)


class Store:
    def __init__(self) -> None:
        self.parts: dict[bytes, PartitionUpdate] = {}
        self.ts = 1000  # each statement a later timestamp

    def run(self, q: str, *values: Value) -> None:
        stmt = parse(q).statement
        assert isinstance(stmt, ast.Insert | ast.Update | ast.Delete)
        self.ts += 1
        for u in build_mutations(stmt, T, SCHEMA, ctx(*values), self.ts, NOW_S):
            old = self.parts.get(u.key)
            self.parts[u.key] = u if old is None else merge(old, u)

    def select(self, q: str) -> list[tuple[bytes | None, ...]]:
        stmt = parse(q).statement
        assert isinstance(stmt, ast.Select)
        plan = plan_select(stmt, T, SCHEMA, ctx())
        parts = [self.parts[k] for k in plan.partition_keys or () if k in self.parts]
        return list(render(plan, parts, NOW_S).rows)


ROW = ("INSERT INTO j (k, c, m, s, l, ts, b, a, f, \"Mixed\", tu) VALUES (1, 'x\"y', "
       "{2: 'b', 1: 'a'}, {'q', 'p'}, [3, 1], '2024-01-02 03:04:05.678+0000', 0x0102, "
       "{street: 'Main', zip: 5}, 1e10, 9, 13814000-1dd2-11b2-8080-808080808080)")


def test_non_frozen_map_renders_with_its_entry_count() -> None:
    st = Store()
    st.run(ROW)
    (row,) = st.select("SELECT m FROM j WHERE k = 1")
    assert row[0] == parse_type("map<int, text>").serialize({1: "a", 2: "b"})


def test_select_json_row_and_metadata() -> None:
    st = Store()
    st.run(ROW)
    (row,) = st.select("SELECT JSON * FROM j WHERE k = 1")
    assert row[0] is not None
    assert row[0].decode() == (
        '{"k": 1, "c": "x\\"y", "\\"Mixed\\"": 9, "a": {"street": "Main", "zip": 5}, '
        '"b": "0x0102", "f": 1.0E10, "l": [3, 1], "m": {"1": "a", "2": "b"}, "s": ["p", "q"], '
        '"ts": "2024-01-02 03:04:05.678Z", "tu": "13814000-1dd2-11b2-8080-808080808080"}')
    stmt = parse("SELECT JSON k FROM j").statement
    assert isinstance(stmt, ast.Select)
    assert [c.name for c in select_result_columns(stmt, T, SCHEMA)] == ["[json]"]
    (row,) = st.select("SELECT JSON k AS key, toJson(s), count(*) FROM j WHERE k = 1")
    assert row[0] == b'{"key": 1, "system.tojson(s)": "[\\"p\\", \\"q\\"]", "count": 1}'


def test_insert_json_round_trip_and_defaults() -> None:
    st = Store()
    st.run(ROW)
    doc = st.select("SELECT JSON * FROM j WHERE k = 1")[0][0]
    assert doc is not None
    st.run("INSERT INTO j JSON ?", doc.replace(b'"k": 1', b'"k": 2'))
    assert st.select("SELECT JSON * FROM j WHERE k = 2")[0][0] == doc.replace(
        b'"k": 1', b'"k": 2')
    st.run("INSERT INTO j JSON '{\"k\": 2, \"c\": \"x\\\"y\", \"f\": 2}' DEFAULT UNSET")
    row = json.loads(st.select("SELECT JSON f, l FROM j WHERE k = 2")[0][0] or b"")
    assert row == {"f": 2.0, "l": [3, 1]}
    st.run("INSERT INTO j JSON '{\"K\": 2, \"c\": \"x\\\"y\", \"\\\"Mixed\\\"\": \"4\"}'")
    row = json.loads(st.select("SELECT JSON f, l, \"Mixed\" FROM j WHERE k = 2")[0][0] or b"")
    assert row == {"f": None, "l": None, '"Mixed"': 4}
    for bad, msg in [('{"k": 1, "c": "a", "zz": 1}', "unrecognized column: zz"),
                     ('[1]', "Could not decode JSON string as a map"),
                     ('{"k": 1, "c": "a", "b": "0102"}', "missing 0x prefix"),
                     ('{"k": "x", "c": "a"}', "Error decoding JSON value for k"),
                     ('{"c": "a"}', "Invalid null value")]:
        with pytest.raises(errors.InvalidRequest, match=msg):
            st.run(f"INSERT INTO j JSON '{bad}'")


@pytest.mark.parametrize(("x", "single", "text"), [
    (1.0, False, "1.0"), (1e10, False, "1.0E10"), (1.5e-5, False, "1.5E-5"),
    (0.001, False, "0.001"), (1234567.5, False, "1234567.5"), (-0.0, False, "-0.0"),
    (float("nan"), False, "NaN"), (float("-inf"), False, "-Infinity"),
    (struct.unpack(">f", struct.pack(">f", 1.1))[0], True, "1.1"), (12345678.0, False,
                                                                     "1.2345678E7")])
def test_java_double_text(x: float, single: bool, text: str) -> None:
    assert java_double(x, single) == text


def test_json_values_per_type() -> None:
    assert quote('a"\\\n\x01é') == '"a\\"\\\\\\n\\u0001é"'
    cases = [("int", "7", 7), ("varint", "12345678901234567890", 12345678901234567890),
             ("boolean", "true", True), ("inet", '"0:0:0:0:0:0:0:1"', "::1"),
             ("inet", '"10.0.0.1"', "10.0.0.1"), ("uuid", f'"{U}"', U),
             ("date", '"2024-01-02"', "2024-01-02"), ("time", '"01:02:03.000000004"',
                                                      "01:02:03.000000004"),
             ("duration", '"1h2m"', "1h2m"), ("tuple<int, text>", '[1, null]', [1, None]),
             ("map<text, frozen<list<int>>>", '{"a": [1, 2]}', {"a": [1, 2]}),
             ("set<int>", "[1, 2]", [2, 1, 2]), ("decimal", "1.25", "1.25")]
    for t, text, value in cases:
        ct = parse_type(t)
        assert to_json(ct, from_json(ct, value)) == text, t
    assert from_json(parse_type("int"), None) is None
    assert from_json(parse_type("timestamp"), 0) == bytes(8)
    with pytest.raises(errors.InvalidRequest, match="Expected an int value"):
        from_json(parse_type("int"), [1])
    with pytest.raises(errors.InvalidRequest, match="Tuple is missing items"):
        from_json(parse_type("tuple<int, text>"), [1])
    with pytest.raises(errors.InvalidRequest, match="null is not supported inside"):
        from_json(parse_type("list<int>"), [None])


def test_scalar_functions_in_the_select_clause() -> None:
    st = Store()
    st.run(ROW)
    (row,) = st.select("SELECT toTimestamp(tu), toUnixTimestamp(ts), toDate(ts), "
                       "minTimeuuid(ts), maxTimeuuid('2024-01-02 03:04:05.678+0000'), "
                       "currentTimestamp(), now(), uuid(), intAsBlob(k), blobAsSmallint(b) "
                       "FROM j WHERE k = 1")
    ms = 1704164645678
    assert row[0] == struct.pack(">q", 0)
    assert row[1] == struct.pack(">q", ms)
    assert row[2] == struct.pack(">I", 2**31 + ms // 86_400_000)
    assert row[3] is not None and row[4] is not None
    assert timeuuid_ms(row[3]) == timeuuid_ms(row[4]) == ms and row[3] < row[4]
    assert row[5] == struct.pack(">q", NOW_S * 1000 + 123)
    assert row[6] is not None and uuid.UUID(bytes=row[6]).version == 1
    assert row[7] is not None and uuid.UUID(bytes=row[7]).version == 4
    assert row[8] == struct.pack(">i", 1)
    assert row[9] == b"\x01\x02"
    with pytest.raises(errors.InvalidRequest):
        st.select("SELECT blobAsInt(b) FROM j WHERE k = 1")  # 2 bytes are no int
    stmt = parse("SELECT toTimestamp(tu) AS t, now() FROM j").statement
    assert isinstance(stmt, ast.Select)
    assert [(c.name, c.type) for c in select_result_columns(stmt, T, SCHEMA)] == [
        ("t", "timestamp"), ("system.now()", "timeuuid")]


def test_function_argument_errors_and_casts_over_aggregates() -> None:
    st = Store()
    st.run(ROW)
    st.run("INSERT INTO j (k, c, f) VALUES (1, 'z', 2.0)")
    (row,) = st.select("SELECT CAST(avg(f) AS bigint), CAST(count(*) AS text), "
                       "toJson(max(f)) FROM j WHERE k = 1")
    assert row == (struct.pack(">q", 5000000001), b"2", b"1.0E10")
    for q, msg in [("SELECT toDate(k) FROM j WHERE k = 1", "cannot be passed as argument 0"),
                   ("SELECT now(k) FROM j WHERE k = 1", "0 required but 1 provided"),
                   ("SELECT toDate(ts, ts) FROM j WHERE k = 1", "1 required but 2 provided"),
                   ("SELECT fromJson(c) FROM j WHERE k = 1", "cannot be used in the selection")]:
        with pytest.raises(errors.InvalidRequest, match=msg):
            st.select(q)


def test_from_json_as_a_value() -> None:
    st = Store()
    st.run("INSERT INTO j (k, c, m, l, ts) VALUES (fromJson('3'), fromJson('\"a\"'), "
           "fromJson('{\"1\": \"x\"}'), fromJson(?), fromJson('\"2024-01-02 00:00:00.000Z\"'))",
           b"[5, 6]")
    (row,) = st.select("SELECT JSON m, l, ts FROM j WHERE k = 3")
    assert row[0] == b'{"m": {"1": "x"}, "l": [5, 6], "ts": "2024-01-02 00:00:00.000Z"}'
    with pytest.raises(errors.InvalidRequest, match="Could not decode JSON"):
        st.run("INSERT INTO j (k, c, f) VALUES (3, 'a', fromJson('nope'))")
    with pytest.raises(errors.InvalidRequest, match="only be used within the selection"):
        st.run("INSERT INTO j (k, c, m) VALUES (3, 'a', toJson(?))", b"1")
