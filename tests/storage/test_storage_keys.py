"""Clustering encodings sort exactly as Cassandra orders the values (computed here from Python)."""

from __future__ import annotations

import math
import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skewless.storage import keys

Sample = tuple[bytes, Any]  # (serialized CQL value, independent sort key)


def _signed(fmt: str, lo: int, hi: int) -> st.SearchStrategy[Sample]:
    return st.integers(lo, hi).map(lambda n: (struct.pack(fmt, n), (1, n)))


def _float(fmt: str) -> st.SearchStrategy[Sample]:
    def key(raw: bytes) -> Any:
        x = struct.unpack(fmt, raw)[0]
        if math.isnan(x):
            return (2, int.from_bytes(raw, "big"))
        return (1, x, math.copysign(1.0, x) > 0)

    width = struct.calcsize(fmt)
    raw = st.one_of(
        st.floats(width=32 if width == 4 else 64).map(lambda x: struct.pack(fmt, x)),
        st.binary(min_size=width, max_size=width),
    )
    return raw.map(lambda r: (r, key(r)))


def _varint() -> st.SearchStrategy[Sample]:
    return st.integers(-(2**200), 2**200).map(lambda n: (keys.varint_bytes(n), (1, n)))


def _decimal() -> st.SearchStrategy[Sample]:
    def make(unscaled: int, scale: int) -> Sample:
        value = Decimal(unscaled).scaleb(-scale)
        return struct.pack(">i", scale) + keys.varint_bytes(unscaled), (1, value, scale)

    return st.builds(make, st.integers(-(10**30), 10**30), st.integers(-40, 40))


def _uuid_key(raw: bytes) -> Any:
    u = uuid.UUID(bytes=raw)
    version = (u.int >> 76) & 0xF
    msb = u.time if version == 1 else u.int >> 64
    return (1, version, msb, u.int & (2**64 - 1))


def _timeuuid_key(raw: bytes) -> Any:
    u = uuid.UUID(bytes=raw)
    return (1, u.time, tuple(b - 256 if b > 127 else b for b in raw[8:]))


def _force_v1(raw: bytes) -> bytes:
    return raw[:6] + bytes(((raw[6] & 0x0F) | 0x10,)) + raw[7:]


uuids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16).map(
    _force_v1))
timeuuids = st.binary(min_size=16, max_size=16).map(_force_v1)
ints = _signed(">i", -(2**31), 2**31 - 1)
texts = st.text(max_size=8).map(lambda s: (s.encode(), (1, s.encode())))


def _list_of(elem: st.SearchStrategy[Sample]) -> st.SearchStrategy[Sample]:
    def make(items: list[Sample]) -> Sample:
        body = b"".join(struct.pack(">i", len(b)) + b for b, _ in items)
        return struct.pack(">i", len(items)) + body, (1, [k for _, k in items])

    return st.lists(elem, max_size=4).map(make)


def _tuple_of(*elems: st.SearchStrategy[Sample]) -> st.SearchStrategy[Sample]:
    def make(items: tuple[Sample | None, ...]) -> Sample:
        body = b"".join(
            struct.pack(">i", -1) if i is None else struct.pack(">i", len(i[0])) + i[0]
            for i in items
        )
        return body, (1, [(0,) if i is None else (1, i[1]) for i in items])

    return st.tuples(*(st.none() | e for e in elems)).map(make)


def _map_of(
    k: st.SearchStrategy[Sample], v: st.SearchStrategy[Sample]
) -> st.SearchStrategy[Sample]:
    def make(d: dict[bytes, tuple[Sample, Sample]]) -> Sample:
        items = sorted(d.values(), key=lambda kv: kv[0][1])
        body = b"".join(
            struct.pack(">i", len(a[0])) + a[0] + struct.pack(">i", len(b[0])) + b[0]
            for a, b in items
        )
        return struct.pack(">i", len(items)) + body, (1, [(a[1], b[1]) for a, b in items])

    return st.lists(st.tuples(k, v), max_size=3).map(
        lambda kvs: make({a[0]: (a, b) for a, b in kvs})
    )


TYPES: dict[str, st.SearchStrategy[Sample]] = {
    "tinyint": _signed(">b", -128, 127),
    "smallint": _signed(">h", -(2**15), 2**15 - 1),
    "int": ints,
    "bigint": _signed(">q", -(2**63), 2**63 - 1),
    "counter": _signed(">q", -(2**63), 2**63 - 1),
    "timestamp": _signed(">q", -(2**63), 2**63 - 1),
    "time": _signed(">q", 0, 86_400 * 10**9 - 1),
    "date": st.integers(0, 2**32 - 1).map(lambda n: (struct.pack(">I", n), (1, n))),
    "boolean": st.booleans().map(lambda b: (bytes((int(b),)), (1, b))),
    "float": _float(">f"),
    "double": _float(">d"),
    "varint": _varint(),
    "decimal": _decimal(),
    "text": texts,
    "ascii": st.text(alphabet=st.characters(max_codepoint=127), max_size=8).map(
        lambda s: (s.encode(), (1, s.encode()))),
    "blob": st.binary(max_size=8).map(lambda b: (b, (1, b))),
    "inet": st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16)).map(
        lambda b: (b, (1, b))),
    "uuid": uuids.map(lambda r: (r, _uuid_key(r))),
    "timeuuid": timeuuids.map(lambda r: (r, _timeuuid_key(r))),
    "frozen<list<int>>": _list_of(ints),
    "frozen<set<text>>": _list_of(texts),
    "frozen<list<frozen<list<int>>>>": _list_of(_list_of(ints)),
    "frozen<tuple<int, text>>": _tuple_of(ints, texts),
    "frozen<map<text, int>>": _map_of(texts, ints),
}
# The empty value sorts first for every type; (text's empty value is the empty string.)
EMPTYABLE = [t for t in TYPES if t not in ("text", "ascii", "blob", "inet")]


def _sign(x: Any, y: Any) -> int:
    return (x > y) - (x < y)


def _samples(t: str) -> st.SearchStrategy[Sample]:
    s = TYPES[t]
    return st.one_of(s, st.just((b"", (0,)))) if t in EMPTYABLE else s


@pytest.mark.parametrize("cql_type", sorted(TYPES))
@given(data=st.data())
def test_order_and_round_trip(cql_type: str, data: st.DataObject) -> None:
    (a, ka), (b, kb) = data.draw(_samples(cql_type)), data.draw(_samples(cql_type))
    for desc in (False, True):
        ea, eb = keys.encode_component(cql_type, a, desc), keys.encode_component(cql_type, b, desc)
        expected = _sign(ka, kb) * (-1 if desc else 1)
        if expected == 0 and a != b:  # distinct bytes of equal value (-0.0 is not equal here)
            continue
        assert _sign(ea, eb) == expected
        assert keys.decode_clustering([(cql_type, desc)], ea) == [a]
        # Self-delimiting: a following component does not change the order.
        assert _sign(ea + b"\x00", eb + b"\xff") == expected or expected == 0


COMPOSITE = [("int", False), ("text", True), ("timeuuid", False), ("frozen<list<int>>", True)]


@given(st.lists(st.tuples(*(TYPES[t] for t, _ in COMPOSITE)), min_size=2, max_size=6))
def test_multi_component_order_and_prefixes(rows: list[tuple[Sample, ...]]) -> None:
    def enc(row: tuple[Sample, ...], n: int) -> bytes:
        pairs = zip(COMPOSITE[:n], row[:n], strict=True)
        return keys.encode_clustering([(t, d, v[0]) for (t, d), v in pairs])

    def key(row: tuple[Sample, ...]) -> list[Any]:
        return [_Desc(v[1]) if d else v[1] for (_, d), v in zip(COMPOSITE, row, strict=True)]

    full = sorted(rows, key=lambda r: enc(r, len(COMPOSITE)))
    assert [key(r) for r in full] == sorted(key(r) for r in rows)
    for row in rows:
        whole = enc(row, len(COMPOSITE))
        assert keys.decode_clustering(COMPOSITE, whole) == [v[0] for v in row]
        for n in range(len(COMPOSITE)):
            prefix = enc(row, n)
            assert whole.startswith(prefix) and prefix <= whole
            assert keys.decode_clustering(COMPOSITE, prefix) == [v[0] for v in row[:n]]
            succ = keys.prefix_successor(prefix)
            assert succ is None or whole < succ


class _Desc:
    __slots__ = ("k",)

    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.k < self.k)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.k == other.k)

    __hash__ = None  # type: ignore[assignment]


def test_clustering_range_over_prefixes() -> None:
    def ck(*vals: int) -> bytes:
        return keys.encode_clustering([("int", False, struct.pack(">i", v)) for v in vals])

    rows = [ck(a, b) for a in range(3) for b in range(3)]
    rng = keys.clustering_range(ck(1), True, ck(1), True)
    assert rng is not None
    assert [r for r in rows if keys.in_range(r, rng)] == [ck(1, b) for b in range(3)]
    rng = keys.clustering_range(ck(0), False, ck(2), False)
    assert rng is not None
    assert [r for r in rows if keys.in_range(r, rng)] == [ck(1, b) for b in range(3)]
    rng = keys.clustering_range(ck(1, 1), False, b"", False)
    assert rng is not None
    assert [r for r in rows if keys.in_range(r, rng)] == [ck(1, 2)] + [ck(2, b) for b in range(3)]
    assert keys.clustering_range(ck(2), True, ck(1), True) is None
    assert keys.clustering_range(b"", True, b"", True) == (b"", None)
    assert keys.prefix_successor(b"\x01\xff\xff") == b"\x02"
    assert keys.prefix_successor(b"\xff") is None


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=4))
def test_composite_partition_key(parts: list[bytes]) -> None:
    key = keys.composite_partition_key(parts)
    assert keys.split_partition_key(len(parts), key) == parts
    if len(parts) > 1:
        expected = b"".join(struct.pack(">H", len(p)) + p + b"\x00" for p in parts)
        assert key == expected


def test_malformed_inputs_raise() -> None:
    with pytest.raises(ValueError):
        keys.encode_component("int", b"\x00\x01", False)
    with pytest.raises(ValueError):
        keys.decode_clustering([("text", False)], b"abc")
    with pytest.raises(ValueError):
        keys.split_partition_key(2, b"\x00\x05ab")
    with pytest.raises(ValueError):
        keys.encode_component("frozen<list<int>>", b"\x00\x00\x00\x02", False)
