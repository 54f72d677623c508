"""Server-side DESCRIBE: result sets as cqlsh reads them and Cassandra 5.0's statement text."""

from __future__ import annotations

import uuid

import pytest
from cassandra.metadata import SchemaParserV4

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.cql.results import RowsResult
from skewless.node.info import NodeInfo
from skewless.node.schema.cql_text import java_double
from skewless.node.schema.ddl import apply_ddl
from skewless.node.schema.describe import describe
from skewless.node.schema.system_tables import SystemContext, rows_for
from skewless.node.schema.virtual_select import cql_type
from skewless.schema import Schema

DDL = (
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TYPE ks.addr (street text, \"Zip\" int)",
    "CREATE TABLE ks.t (a int, b text, c timeuuid, ad int static, m map<text, int>, "
    "home frozen<addr>, PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) "
    "AND comment = 'it''s'",
    "CREATE TABLE ks.\"Simple\" (id uuid PRIMARY KEY, \"select\" text)",
    "CREATE INDEX by_m ON ks.t (m)",
)

TABLE_T = """CREATE TABLE ks.t (
    a int,
    b text,
    c timeuuid,
    ad int static,
    home frozen<addr>,
    m map<text, int>,
    PRIMARY KEY ((a, b), c)
) WITH CLUSTERING ORDER BY (c DESC)
    AND additional_write_policy = '99p'
    AND allow_auto_snapshot = true
    AND bloom_filter_fp_chance = 0.01
    AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}
    AND cdc = false
    AND comment = 'it''s'
    AND compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', \
'max_threshold': '32', 'min_threshold': '4'}
    AND compression = {'chunk_length_in_kb': '16', 'class': \
'org.apache.cassandra.io.compress.LZ4Compressor'}
    AND memtable = 'default'
    AND crc_check_chance = 1.0
    AND default_time_to_live = 0
    AND extensions = {}
    AND gc_grace_seconds = 864000
    AND incremental_backups = true
    AND max_index_interval = 2048
    AND memtable_flush_period_in_ms = 0
    AND min_index_interval = 128
    AND read_repair = 'BLOCKING'
    AND speculative_retry = '99p';"""


def make_ctx(peers: int = 0) -> SystemContext:
    schema = Schema().with_version()
    for i, q in enumerate(DDL):
        schema, _ = apply_ddl(schema, parse(q).statement, None,  # type: ignore[arg-type]
                              uuid.UUID(int=i + 1))
    nodes = tuple(NodeInfo(uuid.UUID(int=i), f"127.0.0.{i}", 9042, 7000, "dc1", "rack1",
                           (i * 1000,), schema.version) for i in range(1, 2 + peers))
    return SystemContext(nodes[0], nodes[1:], schema, "Test Cluster")


def run(cql: str, ctx: SystemContext, keyspace: str | None = None) -> RowsResult:
    stmt = parse(cql).statement
    assert isinstance(stmt, ast.Describe)
    return describe(stmt, ctx, keyspace)


def texts(result: RowsResult) -> list[tuple[str, ...]]:
    return [tuple(b.decode() for b in row if b is not None) for row in result.rows]


def test_describe_table_exact_text() -> None:
    result = run("DESCRIBE TABLE ks.t", make_ctx())
    assert [c.name for c in result.columns] == ["keyspace_name", "type", "name",
                                                "create_statement"]
    assert {(c.keyspace, c.table, c.type) for c in result.columns} == {
        ("system", "describe", "text")}
    rows = texts(result)
    assert rows[0][:3] == ("ks", "table", "t")
    assert rows[0][3] == TABLE_T
    assert rows[1] == ("ks", "index", "by_m", "CREATE INDEX by_m ON ks.t (values(m));")


def test_single_key_table_and_quoting() -> None:
    (row,) = texts(run('DESCRIBE TABLE "Simple"', make_ctx(), keyspace="ks"))
    assert row[:3] == ("ks", "table", '"Simple"')
    assert row[3].startswith('CREATE TABLE ks."Simple" (\n    id uuid PRIMARY KEY,\n'
                             '    "select" text\n) WITH additional_write_policy = \'99p\'\n')


def test_describe_keyspace_elements_in_order() -> None:
    rows = texts(run("DESCRIBE KEYSPACE ks", make_ctx()))
    assert [r[1:3] for r in rows] == [("keyspace", "ks"), ("type", "addr"),
                                      ("table", '"Simple"'), ("table", "t"), ("index", "by_m")]
    assert rows[0][3] == ("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                          "'replication_factor': '1'}  AND durable_writes = true;")
    assert rows[1][3] == 'CREATE TYPE ks.addr (\n    street text,\n    "Zip" int\n);'
    only = texts(run("DESCRIBE ONLY KEYSPACE ks", make_ctx()))
    assert len(only) == 1


def test_listings() -> None:
    ctx = make_ctx()
    keyspaces = texts(run("DESCRIBE KEYSPACES", ctx))
    assert [r[2] for r in keyspaces] == sorted(r[2] for r in keyspaces)
    assert ("ks", "keyspace", "ks") in keyspaces and len(keyspaces[0]) == 3
    assert texts(run("DESCRIBE TABLES", ctx, keyspace="ks")) == [
        ("ks", "table", '"Simple"'), ("ks", "table", "t")]
    everywhere = texts(run("DESC TABLES", ctx))
    assert ("system", "table", "local") in everywhere
    assert texts(run("DESCRIBE TYPES", ctx, keyspace="ks")) == [("ks", "type", "addr")]


def test_schema_and_generic_name() -> None:
    ctx = make_ctx()
    schema = texts(run("DESCRIBE SCHEMA", ctx))
    assert {r[0] for r in schema} == {"ks"}
    full = texts(run("DESCRIBE FULL SCHEMA", ctx))
    assert {"system", "system_schema", "ks"} <= {r[0] for r in full}
    assert [r[1] for r in texts(run("DESCRIBE ks", ctx))][0] == "keyspace"
    assert texts(run("DESCRIBE t", ctx, keyspace="ks"))[0][2] == "t"
    assert texts(run("DESCRIBE ks.by_m", ctx))[0][1] == "index"


@pytest.mark.parametrize("cql, keyspace, message", [
    ("DESCRIBE KEYSPACE nope", None, "'nope' not found in keyspaces"),
    ("DESCRIBE TABLE ks.nope", None, "Table 'nope' not found in keyspace 'ks'"),
    ("DESCRIBE TABLE t", None, "No keyspace specified and no current keyspace"),
    ("DESCRIBE TYPE ks.nope", None, "User defined type 'nope' not found in 'ks'"),
    ("DESCRIBE INDEX ks.nope", None, "Index 'nope' not found in 'ks'"),
    ("DESCRIBE nope", "ks", "'nope' not found in keyspace 'ks'"),
])
def test_errors(cql: str, keyspace: str | None, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        run(cql, make_ctx(), keyspace)


def test_cluster() -> None:
    ctx = make_ctx(peers=2)
    plain = run("DESCRIBE CLUSTER", ctx)
    assert [c.name for c in plain.columns] == ["cluster", "partitioner", "snitch"]
    assert texts(plain)[0][:2] == ("Test Cluster", "Murmur3Partitioner")
    assert len(run("DESCRIBE CLUSTER", ctx, keyspace="system").columns) == 3
    with_ks = run("DESCRIBE CLUSTER", ctx, keyspace="ks")
    assert with_ks.columns[3].name == "range_ownership"
    cell = with_ks.rows[0][3]
    assert cell is not None
    ownership = cql_type(with_ks.columns[3].type).deserialize(cell)
    assert ownership == {"1000": ["/127.0.0.1:7000"], "2000": ["/127.0.0.2:7000"],
                         "3000": ["/127.0.0.3:7000"]}


# Options the driver does not know (it prints only SchemaParserV4.recognized_table_options).
_DRIVER_UNKNOWN = ("allow_auto_snapshot", "memtable =", "incremental_backups", "extensions")


def test_matches_driver_export_from_system_schema_rows() -> None:
    ctx = make_ctx()
    parser = SchemaParserV4(None, 0)

    def rows(table: str) -> list[dict[str, object]]:
        return [r for r in rows_for("system_schema", table, ctx)
                if r["keyspace_name"] == "ks" and r.get("table_name") == "t"]

    meta = parser._build_table_metadata(rows("tables")[0], rows("columns"), [], rows("indexes"))
    ours = "\n".join(line for line in TABLE_T.splitlines()
                     if not any(u in line for u in _DRIVER_UNKNOWN))
    ours += "\nCREATE INDEX by_m ON ks.t (values(m));"
    driver = meta.export_as_string()
    assert driver == ours
    (described, index) = texts(run("DESCRIBE TABLE ks.t", ctx))
    assert described[3] == TABLE_T and index[3] == "CREATE INDEX by_m ON ks.t (values(m));"


@pytest.mark.parametrize("value, text", [
    (0.01, "0.01"), (1.0, "1.0"), (1e-05, "1.0E-5"), (1.5e-05, "1.5E-5"),
    (12345678.0, "1.2345678E7"), (-2.5e-07, "-2.5E-7"),
])
def test_doubles_print_as_java_does(value: float, text: str) -> None:
    assert java_double(value) == text
