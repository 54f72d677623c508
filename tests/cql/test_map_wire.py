"""Map values the server builds must decode in the stock driver (count = entries, not cells)."""

from __future__ import annotations

import struct

from cassandra.cqltypes import lookup_casstype

from skewless.cql.terms import Elements, pack_cell, pack_map


def _text(s: str) -> bytes:
    return s.encode()


def _int(n: int) -> bytes:
    return struct.pack(">i", n)


MAP_TEXT_INT = lookup_casstype("MapType(UTF8Type, Int32Type)")


def test_pack_map_counts_entries() -> None:
    body = pack_map([(_text("x"), _int(1)), (_text("y"), _int(2))])
    assert body[:4] == struct.pack(">i", 2)
    assert body[4:] == b"".join(pack_cell(c) for c in (b"x", _int(1), b"y", _int(2)))
    assert dict(MAP_TEXT_INT.deserialize(body, 4)) == {"x": 1, "y": 2}


def test_map_literal_elements_decode_in_driver() -> None:
    e = Elements([_text("a")], [_int(7)])
    assert dict(MAP_TEXT_INT.deserialize(e.serialized(), 4)) == {"a": 7}


def test_empty_map() -> None:
    assert pack_map([]) == struct.pack(">i", 0)
