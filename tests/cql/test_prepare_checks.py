"""Placeholders of the PREPARE-time dry run: valid, non-empty values of every type, so that a
dry run never fails for want of a value (``cql.prepare_checks``)."""

from __future__ import annotations

import pytest

from skewless.cql.prepare_checks import placeholder
from skewless.cql.types import parse_type

UDTS = {"addr": (("street", "text"), ("n", "int"))}

TYPES = ["int", "bigint", "smallint", "tinyint", "varint", "decimal", "float", "double",
         "boolean", "text", "ascii", "blob", "uuid", "timeuuid", "timestamp", "date", "time",
         "inet", "duration", "list<int>", "set<text>", "map<text, int>", "frozen<list<int>>",
         "tuple<int, text>", "list<frozen<tuple<int, int>>>", "frozen<addr>", "addr",
         "map<int, frozen<addr>>"]


@pytest.mark.parametrize("text", TYPES)
def test_placeholder_is_a_valid_non_empty_value(text: str) -> None:
    t = parse_type(text, UDTS.get, "ks")
    v = placeholder(t)
    assert v
    value = t.deserialize(v)
    assert value is not None
    assert t.serialize(value) == v
