"""apply_ddl: schema changes, SchemaChange results and Cassandra's validation errors."""

from __future__ import annotations

import uuid
from typing import Literal

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.cql.results import SchemaChange
from skewless.node.schema.ddl import apply_ddl
from skewless.schema import Schema

SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"


def run(
    schema: Schema, cql: str, keyspace: str | None = None
) -> tuple[Schema, SchemaChange | None]:
    stmt = parse(cql).statement
    return apply_ddl(schema, stmt, keyspace, uuid.UUID(int=42))  # type: ignore[arg-type]


def build(*cql: str) -> Schema:
    schema = Schema().with_version()
    for q in cql:
        schema, _ = run(schema, q)
    return schema


KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"


def test_create_keyspace_expands_class_and_reports_created() -> None:
    schema, change = run(Schema(), KS)
    assert change == SchemaChange("CREATED", "KEYSPACE", "ks")
    ks = schema.keyspace("ks")
    assert ks is not None
    assert ks.replication_map() == {"class": SIMPLE, "replication_factor": "1"}
    assert schema.version != Schema().version


def test_cqlengine_keyspace_statement() -> None:
    cql = ("CREATE KEYSPACE ks2 WITH replication = {'class': 'SimpleStrategy', "
           "'replication_factor': '1'}  AND durable_writes = true")
    schema, change = run(Schema(), cql)
    assert change == SchemaChange("CREATED", "KEYSPACE", "ks2")


def test_create_existing_keyspace() -> None:
    schema = build(KS)
    with pytest.raises(errors.AlreadyExists) as e:
        run(schema, KS)
    assert (e.value.keyspace, e.value.table) == ("ks", "")
    again, change = run(schema, KS.replace("KEYSPACE", "KEYSPACE IF NOT EXISTS"))
    assert change is None and again == schema


def test_replication_validation() -> None:
    with pytest.raises(errors.ConfigurationException, match="requires a replication_factor"):
        run(Schema(), "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'}")
    with pytest.raises(errors.ConfigurationException, match="Missing replication strategy"):
        run(Schema(), "CREATE KEYSPACE k WITH replication = {'replication_factor': 1}")
    with pytest.raises(errors.ConfigurationException, match="Unable to find"):
        run(Schema(), "CREATE KEYSPACE k WITH replication = {'class': 'Nope'}")
    schema, _ = run(Schema(), "CREATE KEYSPACE k WITH replication = "
                              "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': '2'}")
    ks = schema.keyspace("k")
    assert ks is not None
    assert ks.replication == (("class", "org.apache.cassandra.locator.NetworkTopologyStrategy"),
                              ("dc1", "3"), ("dc2", "2"))


def test_system_keyspaces_are_not_modifiable() -> None:
    with pytest.raises(errors.AlreadyExists):
        run(Schema(), KS.replace(" ks ", " system "))
    with pytest.raises(errors.InvalidRequest, match="not user-modifiable"):
        run(Schema(), "CREATE TABLE system.x (a int PRIMARY KEY)")


TABLE = ("CREATE TABLE ks.t (a int, b text, c timeuuid, s int static, m map<text, int>, "
         "PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'hi' "
         "AND gc_grace_seconds = 10")


def test_create_table_columns_in_contract_order() -> None:
    schema, change = run(build(KS), TABLE)
    assert change == SchemaChange("CREATED", "TABLE", "ks", "t")
    t = schema.table("ks", "t")
    assert t is not None and t.id == uuid.UUID(int=42)
    got = [(c.name, c.type, c.kind, c.position, c.clustering_order) for c in t.columns]
    assert got == [
        ("a", "int", "partition_key", 0, "none"),
        ("b", "text", "partition_key", 1, "none"),
        ("c", "timeuuid", "clustering", 0, "desc"),
        ("m", "map<text, int>", "regular", -1, "none"),
        ("s", "int", "static", -1, "none"),
    ]
    assert t.option("comment") == "hi"
    assert t.option("gc_grace_seconds") == 10
    assert t.option("bloom_filter_fp_chance") == 0.01
    assert t.option("caching") == (("keys", "ALL"), ("rows_per_partition", "NONE"))
    assert t.option("speculative_retry") == "99p"


def test_table_options_validated() -> None:
    schema = build(KS)
    with pytest.raises(errors.SyntaxException, match="Unknown property 'bogus'"):
        run(schema, "CREATE TABLE ks.t (a int PRIMARY KEY) WITH bogus = 1")
    with pytest.raises(errors.ConfigurationException, match="class"):
        run(schema, "CREATE TABLE ks.t (a int PRIMARY KEY) WITH compaction = {'x': '1'}")
    s2, _ = run(schema, "CREATE TABLE ks.t (a int PRIMARY KEY) WITH compaction = "
                        "{'class': 'LeveledCompactionStrategy'} AND speculative_retry = "
                        "'99PERCENTILE'")
    t = s2.table("ks", "t")
    assert t is not None
    assert ("class", "org.apache.cassandra.db.compaction.LeveledCompactionStrategy") in (
        t.option("compaction"))  # type: ignore[operator]
    assert t.option("speculative_retry") == "99p"


@pytest.mark.parametrize("cql, message", [
    ("CREATE TABLE ks.t (a list<int> PRIMARY KEY, b int)", "non-frozen collection"),
    ("CREATE TABLE ks.t (a int PRIMARY KEY, s int static)", "Static columns are only useful"),
    ("CREATE TABLE ks.t (a int PRIMARY KEY, a text)", "Multiple definition of identifier a"),
    ("CREATE TABLE ks.t (a int PRIMARY KEY, b counter, c int)", "Cannot mix counter"),
    ("CREATE TABLE ks.t (a int PRIMARY KEY, b frozen<nope>)", "Unknown type ks.nope"),
    ("CREATE TABLE nope.t (a int PRIMARY KEY)", "Keyspace 'nope' doesn't exist"),
])
def test_create_table_errors(cql: str, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        run(build(KS), cql)


def _table(pk: tuple[str, ...], ck: tuple[str, ...],
           order: tuple[tuple[str, Literal["ASC", "DESC"]], ...] = ()) -> ast.CreateTable:
    cols = tuple(ast.ColumnSpec(n, "int") for n in ("a", "b", "c"))
    return ast.CreateTable("ks", "t", cols, pk, ck, order)


@pytest.mark.parametrize("stmt, message", [
    (_table(("a",), ("z",)), "Unknown column 'z' referenced in PRIMARY KEY for table 't'"),
    (_table(("a",), ("b", "b")), "Duplicate column 'b' in PRIMARY KEY clause"),
    (_table(("a",), ("b", "c"), (("c", "DESC"), ("b", "ASC"))),
     r"must match that of the clustering columns \(b must appear before c\)"),
    (_table(("a",), ("b",), (("c", "DESC"),)), "Only clustering columns can be defined"),
    (_table(("a",), ("b", "c"), (("c", "DESC"),)), "Missing CLUSTERING ORDER for column b"),
    (_table((), ()), "No PRIMARY KEY specifed"),
])
def test_create_table_key_errors(stmt: ast.CreateTable, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        apply_ddl(build(KS), stmt, None, uuid.UUID(int=1))


def test_frozen_collection_in_primary_key_is_fine() -> None:
    schema, _ = run(build(KS), "CREATE TABLE ks.t (a frozen<list<int>> PRIMARY KEY, b int)")
    t = schema.table("ks", "t")
    assert t is not None and t.columns[0].type == "frozen<list<int>>"


def test_existing_table_and_current_keyspace() -> None:
    schema = build(KS, TABLE)
    with pytest.raises(errors.AlreadyExists) as e:
        run(schema, TABLE)
    assert (e.value.keyspace, e.value.table) == ("ks", "t")
    with pytest.raises(errors.InvalidRequest, match="No keyspace has been specified"):
        run(schema, "CREATE TABLE u (a int PRIMARY KEY)")
    s2, change = run(schema, "CREATE TABLE u (a int PRIMARY KEY)", keyspace="ks")
    assert change == SchemaChange("CREATED", "TABLE", "ks", "u")


def test_alter_table_add_drop_rename_with() -> None:
    schema = build(KS, TABLE)
    schema, change = run(schema, "ALTER TABLE ks.t ADD (d text, aa list<int>)")
    assert change == SchemaChange("UPDATED", "TABLE", "ks", "t")
    t = schema.table("ks", "t")
    assert t is not None
    assert [c.name for c in t.columns] == ["a", "b", "c", "aa", "d", "m", "s"]
    schema, _ = run(schema, "ALTER TABLE ks.t DROP d")
    schema, _ = run(schema, "ALTER TABLE ks.t RENAME c TO cc")
    schema, _ = run(schema, "ALTER TABLE ks.t WITH comment = 'new'")
    t = schema.table("ks", "t")
    assert t is not None
    assert [c.name for c in t.columns] == ["a", "b", "cc", "aa", "m", "s"]
    assert t.option("comment") == "new" and t.option("gc_grace_seconds") == 10
    with pytest.raises(errors.InvalidRequest, match="Cannot rename non PRIMARY KEY column m"):
        run(schema, "ALTER TABLE ks.t RENAME m TO mm")
    with pytest.raises(errors.InvalidRequest, match="Cannot drop PRIMARY KEY column a"):
        run(schema, "ALTER TABLE ks.t DROP a")
    with pytest.raises(errors.InvalidRequest, match="already exists"):
        run(schema, "ALTER TABLE ks.t ADD m int")
    with pytest.raises(errors.InvalidRequest, match="Table 'ks.zz' doesn't exist"):
        run(schema, "ALTER TABLE ks.zz ADD q int")


def test_drop_table_and_if_exists() -> None:
    schema = build(KS, TABLE, "CREATE INDEX ON ks.t (m)")
    dropped, change = run(schema, "DROP TABLE ks.t")
    assert change == SchemaChange("DROPPED", "TABLE", "ks", "t")
    assert dropped.table("ks", "t") is None and dropped.indexes == ()
    same, change = run(dropped, "DROP TABLE IF EXISTS ks.t")
    assert change is None and same == dropped
    with pytest.raises(errors.InvalidRequest, match="doesn't exist"):
        run(dropped, "DROP TABLE ks.t")


def test_types() -> None:
    schema = build(KS, "CREATE TYPE ks.addr (street text, zip int)")
    udt = schema.user_type("ks", "addr")
    assert udt is not None and udt.field_types == ("text", "int")
    with pytest.raises(errors.InvalidRequest, match="already exists"):
        run(schema, "CREATE TYPE ks.addr (x int)")
    schema, _ = run(schema, "CREATE TABLE ks.p (id int PRIMARY KEY, home frozen<addr>)")
    with pytest.raises(errors.InvalidRequest, match="still used by tables ks.p"):
        run(schema, "DROP TYPE ks.addr")
    schema, _ = run(schema, "DROP TABLE ks.p")
    schema, change = run(schema, "DROP TYPE ks.addr")
    assert change == SchemaChange("DROPPED", "TYPE", "ks", "addr")
    assert schema.types == ()


def test_index_metadata() -> None:
    schema = build(KS, TABLE)
    schema, change = run(schema, "CREATE INDEX ON ks.t (s)")
    assert change == SchemaChange("UPDATED", "TABLE", "ks", "t")
    schema, _ = run(schema, "CREATE INDEX named ON ks.t (m)")
    assert [(i.name, i.kind, i.options) for i in schema.indexes] == [
        ("t_s_idx", "COMPOSITES", (("target", "s"),)),
        ("named", "COMPOSITES", (("target", "values(m)"),)),
    ]
    again, change = run(schema, "CREATE INDEX IF NOT EXISTS named ON ks.t (m)")
    assert change is None
    with pytest.raises(errors.InvalidRequest, match="already exists"):
        run(schema, "CREATE INDEX named ON ks.t (b)")
    schema, change = run(schema, "DROP INDEX ks.named")
    assert change == SchemaChange("UPDATED", "TABLE", "ks", "t")
    single = build(KS, "CREATE TABLE ks.u (a int PRIMARY KEY, b int)")
    with pytest.raises(errors.InvalidRequest, match="only partition key"):
        run(single, "CREATE INDEX ON ks.u (a)")


def test_drop_keyspace_drops_everything() -> None:
    schema = build(KS, "CREATE TYPE ks.addr (street text)", TABLE, "CREATE INDEX ON ks.t (m)")
    schema, change = run(schema, "DROP KEYSPACE ks")
    assert change == SchemaChange("DROPPED", "KEYSPACE", "ks")
    assert (schema.keyspaces, schema.tables, schema.types, schema.indexes) == ((), (), (), ())
    _, change = run(schema, "DROP KEYSPACE IF EXISTS ks")
    assert change is None
    with pytest.raises(errors.InvalidRequest, match="Keyspace 'ks' doesn't exist"):
        run(schema, "DROP KEYSPACE ks")


def test_version_is_content_derived() -> None:
    a = build(KS, TABLE)
    b = build(KS, TABLE)
    assert a.version == b.version
    c, _ = run(a, "ALTER TABLE ks.t WITH comment = 'x'")
    assert c.version != a.version
