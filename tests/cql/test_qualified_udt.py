"""Keyspace-qualified user types in type text (``frozen<ks.t>``): resolved in their keyspace,
refused outside it with Cassandra's message (CQL3Type.Raw.RawUT.prepare)."""

from __future__ import annotations

import pytest

from skewless import errors
from skewless.cql.types import UdtType, parse_type

FIELDS = {"addr": (("street", "text"), ("n", "int")), "outer": (("a", "frozen<addr>"),)}


def lookup(name: str) -> tuple[tuple[str, str], ...] | None:
    return FIELDS.get(name)


@pytest.mark.parametrize("text, name", [
    ("frozen<ks.addr>", "frozen<addr>"),
    ("ks.addr", "addr"),
    ('frozen<"ks"."addr">', "frozen<addr>"),
    ("map<int, frozen<ks.addr>>", "map<int, frozen<addr>>"),
    ("list<frozen<ks.outer>>", "list<frozen<outer>>"),
    ("frozen<tuple<int, ks.addr>>", "frozen<tuple<int, frozen<addr>>>"),
])
def test_qualified_resolves_in_its_keyspace(text: str, name: str) -> None:
    t = parse_type(text, lookup, "ks")
    assert t.name == name


def test_qualified_udt_keeps_bare_name() -> None:
    t = parse_type("frozen<ks.addr>", lookup, "ks")
    assert isinstance(t, UdtType) and (t.keyspace, t.udt_name) == ("ks", "addr")


def test_unknown_qualified_names_keyspace_once() -> None:
    with pytest.raises(errors.InvalidRequest, match=r"^Unknown type ks\.nope$"):
        parse_type("frozen<ks.nope>", lookup, "ks")


def test_other_keyspace_refused() -> None:
    with pytest.raises(errors.InvalidRequest,
                       match="Statement on keyspace ks cannot refer to a user type in keyspace "
                             "other; user types can only be used in the keyspace they are "
                             "defined in"):
        parse_type("frozen<other.addr>", lookup, "ks")
