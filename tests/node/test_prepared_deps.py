"""Which schema changes evict a prepared statement (``node.prepared_deps``)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from skewless.node.prepared_deps import dependency, still_valid
from skewless.schema import ColumnDef, Schema, TableDef, UserType

K = ColumnDef("k", "int", "partition_key", 0)
V = ColumnDef("v", "int", "regular", -1)
TABLE = TableDef("ks", "t", uuid.UUID(int=1), (K, V))
SCHEMA = Schema(tables=(TABLE,))


def _with_table(t: TableDef | None, schema: Schema = SCHEMA) -> Schema:
    return replace(schema, tables=() if t is None else (t,))


def test_unchanged_schema_keeps_it() -> None:
    dep = dependency(SCHEMA, "ks", "t")
    assert still_valid(dep, SCHEMA.with_version())


def test_added_or_dropped_column_evicts() -> None:
    dep = dependency(SCHEMA, "ks", "t")
    w = ColumnDef("w", "text", "regular", -1)
    assert not still_valid(dep, _with_table(replace(TABLE, columns=(K, V, w))))
    assert not still_valid(dep, _with_table(replace(TABLE, columns=(K,))))


def test_table_options_do_not_evict() -> None:
    dep = dependency(SCHEMA, "ks", "t")
    assert still_valid(dep, _with_table(replace(TABLE, options=(("comment", "c"),))))


def test_dropped_or_recreated_table_evicts() -> None:
    dep = dependency(SCHEMA, "ks", "t")
    assert not still_valid(dep, _with_table(None))
    assert not still_valid(dep, _with_table(replace(TABLE, id=uuid.UUID(int=2))))


def test_user_type_change_in_the_keyspace_evicts() -> None:
    udt = UserType("ks", "u", ("a",), ("int",))
    before = replace(SCHEMA, types=(udt,))
    dep = dependency(before, "ks", "t")
    after = replace(SCHEMA, types=(UserType("ks", "u", ("a", "b"), ("int", "int")),))
    assert not still_valid(dep, after)
    other = replace(before, types=(udt, UserType("ks2", "x", ("a",), ("int",))))
    assert still_valid(dep, other)


def test_no_dependency_is_always_valid() -> None:
    assert still_valid(None, Schema())
