"""Which index a SELECT is answered from, and which restrictions still need ALLOW FILTERING."""

from __future__ import annotations

import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.cql.select import FILTERING_MSG, ReadPlan, plan_select
from skewless.cql.terms import EvalContext
from skewless.schema import ColumnDef, IndexDef, Schema, TableDef
from skewless.storage.index import entry_term

SAI = "org.apache.cassandra.index.sai.StorageAttachedIndex"


def _col(name: str, t: str, kind: str, pos: int = -1) -> ColumnDef:
    return ColumnDef(name, t, kind, pos, "asc" if kind == "clustering" else "none")  # type: ignore[arg-type]


T = TableDef("ks", "t", uuid.uuid5(uuid.NAMESPACE_DNS, "t"), (
    _col("a", "int", "partition_key", 0), _col("b", "int", "partition_key", 1),
    _col("c", "int", "clustering", 0), _col("d", "int", "clustering", 1),
    _col("m", "map<text, int>", "regular"), _col("s", "int", "static"),
    _col("v", "int", "regular"), _col("w", "int", "regular"), _col("x", "int", "regular")))


def _index(name: str, target: str, sai: bool = False) -> IndexDef:
    options = ((("class_name", SAI),) if sai else ()) + (("target", target),)
    return IndexDef("ks", "t", name, "CUSTOM" if sai else "COMPOSITES", options)


SCHEMA = Schema(tables=(T,), indexes=(
    _index("iv", "v"), _index("ib", "b"), _index("id", "d"), _index("is", "s"),
    _index("me", "entries(m)"), _index("mk", "keys(m)"), _index("sw", "w", sai=True),
    _index("sx", "x", sai=True)))


def plan(q: str) -> ReadPlan:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Select)
    return plan_select(stmt, T, SCHEMA, EvalContext(0, lambda n: bytes(n), [], "ks"))


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


@pytest.mark.parametrize("where,name,term", [
    ("v = 1", "iv", i32(1)),
    ("b = 2", "ib", i32(2)),
    ("d = 3", "id", i32(3)),
    ("s = 4", "is", i32(4)),
    ("m['k'] = 5", "me", entry_term(b"k", i32(5))),
    ("m CONTAINS KEY 'k'", "mk", b"k"),
    ("v = 1 AND c = 2", "iv", i32(1)),
    ("w = 1 AND x = 2", "sw", i32(1)),
    ("w = 1 AND x > 2", "sw", i32(1)),
    ("v = 1 AND token(a, b) > 0", "iv", i32(1)),
])
def test_index_chosen(where: str, name: str, term: bytes) -> None:
    p = plan(f"SELECT * FROM t WHERE {where}")
    assert p.index is not None and (p.index.name, p.index.term) == (name, term)
    assert p.filters  # the indexed restriction is re-checked on the rows read


@pytest.mark.parametrize("where", [
    "v = 1 AND w = 2",  # a 2i restriction and another: filtering
    "v > 1",  # a range on a 2i column
    "v IN (1, 2)",
    "m CONTAINS 1",  # no VALUES(m) index
    "d = 1 AND a = 1",  # a partial partition key beside the index
    "v = 1 AND s = 2",  # two 2i restrictions
])
def test_filtering_still_needed(where: str) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        plan(f"SELECT * FROM t WHERE {where}")
    assert e.value.message == FILTERING_MSG
    assert plan(f"SELECT * FROM t WHERE {where} ALLOW FILTERING") is not None


def test_full_partition_key_reads_the_partition() -> None:
    p = plan("SELECT * FROM t WHERE a = 1 AND b = 2 AND v = 3")
    assert p.index is None and p.partition_keys is not None


def test_sai_range_reads_the_index() -> None:
    p = plan("SELECT * FROM t WHERE x > 1 AND x <= 5")
    assert p.index is not None and p.index.name == "sx" and p.index.is_range
    assert (p.index.lower, p.index.upper) == ((i32(1), False), (i32(5), True))
    p = plan("SELECT * FROM t WHERE x < 1")
    assert p.index is not None and (p.index.lower, p.index.upper) == (None, (i32(1), False))


@pytest.mark.parametrize("where,msg", [
    ("a IN (1, 2) AND b = 1 AND v = 1",
     "Select on indexed columns and with IN clause for the PRIMARY KEY are not supported"),
    ("a = 1 AND b = 1 AND v = 1 ORDER BY c DESC", "ORDER BY with 2ndary indexes is not supported."),
    ("v = 1 ORDER BY c DESC", "ORDER BY with 2ndary indexes is not supported."),
    ("a IN (1, 2) AND b = 1 AND d = 2",  # d needs filtering: the index on d is used
     "Select on indexed columns and with IN clause for the PRIMARY KEY are not supported"),
])
def test_refused_with_an_index(where: str, msg: str) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        plan(f"SELECT * FROM t WHERE {where}")
    assert e.value.message == msg


def test_key_column_index_unused_when_the_partition_is_routed() -> None:
    p = plan("SELECT * FROM t WHERE a IN (1, 2) AND b = 1 AND c = 1 AND d = 2 ORDER BY c DESC")
    assert p.index is None and p.partition_keys is not None
