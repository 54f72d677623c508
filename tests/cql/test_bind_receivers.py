"""Bind marker metadata as Cassandra's receivers name and type them, and the routing indexes
the drivers take from it (``node.binds``)."""

from __future__ import annotations

import uuid

import pytest

from skewless import errors
from skewless.cql.parser import parse
from skewless.node.binds import bind_metadata
from skewless.schema import ColumnDef, Schema, TableDef, UserType

T = TableDef("ks", "t", uuid.UUID(int=7), (
    ColumnDef("k", "int", "partition_key", 0),
    ColumnDef("c", "int", "clustering", 0, "asc"),
    ColumnDef("l", "list<text>", "regular", -1),
    ColumnDef("m", "map<text, int>", "regular", -1),
    ColumnDef("st", "set<int>", "regular", -1),
    ColumnDef("u", "u", "regular", -1),
    ColumnDef("v", "int", "regular", -1),
))
SCHEMA = Schema(tables=(T,), types=(UserType("ks", "u", ("a", "b"), ("int", "text")),))


def meta(q: str) -> tuple[list[tuple[str, str]], tuple[int, ...]]:
    parsed = parse(q)
    specs, idx = bind_metadata(parsed.statement, parsed, T, SCHEMA)
    return [(s.name, s.type) for s in specs], idx


@pytest.mark.parametrize("q, specs", [
    ("SELECT * FROM t WHERE k = ? AND m[?] = ? ALLOW FILTERING",
     [("k", "int"), ("key(m)", "text"), ("value(m)", "int")]),
    ("UPDATE t SET m[?] = ? WHERE k = ? AND c = ?",
     [("key(m)", "text"), ("value(m)", "int"), ("k", "int"), ("c", "int")]),
    ("UPDATE t SET l[?] = ? WHERE k = ? AND c = ?",
     [("idx(l)", "int"), ("value(l)", "text"), ("k", "int"), ("c", "int")]),
    ("UPDATE t SET v = ? WHERE k = ? AND c = ? IF m[?] = ? AND l[?] = ?",
     [("v", "int"), ("k", "int"), ("c", "int"), ("key(m)", "text"), ("value(m)", "int"),
      ("idx(l)", "int"), ("value(l)", "text")]),
    ("UPDATE t SET u.b = ? WHERE k = ? AND c = ?", [("u.b", "text"), ("k", "int"), ("c", "int")]),
    ("UPDATE t SET v = ? WHERE k = ? AND c = ? IF u.a = ? AND u.b IN ? AND u.b IN (?, ?)",
     [("v", "int"), ("k", "int"), ("c", "int"), ("u.a", "int"), ("in(u.b)", "list<text>"),
      ("u.b", "text"), ("u.b", "text")]),
    ("SELECT * FROM t WHERE st CONTAINS ? AND m CONTAINS KEY ? AND m CONTAINS ? ALLOW FILTERING",
     [("value(st)", "int"), ("key(m)", "text"), ("value(m)", "int")]),
    ("SELECT * FROM t WHERE k = ? AND (c) >= ? AND (c) IN ?",
     [("k", "int"), ("(c)", "frozen<tuple<int>>"), ("in(c)", "list<frozen<tuple<int>>>")]),
    ("SELECT * FROM t WHERE token(k) > token(?)", [("arg0(system.token)", "int")]),
    ("INSERT INTO t (k, c, v) VALUES (:a, :b, blobAsInt(?))",
     [("a", "int"), ("b", "int"), ("arg0(system.blobasint)", "blob")]),
])
def test_marker_receivers(q: str, specs: list[tuple[str, str]]) -> None:
    assert meta(q)[0] == specs


@pytest.mark.parametrize("q, idx", [
    ("SELECT * FROM t WHERE k = ?", (0,)),
    ("SELECT * FROM t WHERE k IN (?, ?)", (1,)),  # the last marker bound to k
    ("SELECT * FROM t WHERE k IN ?", ()),  # in(k) is not the column
    ("UPDATE t SET v = ? WHERE k = ? AND c = ? IF v = ?", (1,)),  # a condition never routes
    ("INSERT INTO t (k, c) VALUES (?, ?)", (0,)),
])
def test_routing_indexes(q: str, idx: tuple[int, ...]) -> None:
    assert meta(q)[1] == idx


def test_unknown_column_refused_at_prepare() -> None:
    with pytest.raises(errors.InvalidRequest, match="Undefined column name nope in table ks.t"):
        meta("INSERT INTO t (k, nope) VALUES (?, ?)")
