"""System tables: definitions, generated rows, the driver's schema parser on them, and SELECT."""

from __future__ import annotations

import uuid

import pytest
from cassandra.metadata import SchemaParserV4

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.cql.results import RowsResult
from skewless.node.info import NodeInfo
from skewless.node.schema.ddl import apply_ddl
from skewless.node.schema.system_tables import SystemContext, rows_for, system_table
from skewless.node.schema.virtual_select import cql_type, select_virtual
from skewless.schema import Schema

SCHEMA_CQL = (
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TYPE ks.addr (street text, zip int)",
    "CREATE TABLE ks.t (a int, b text, c timeuuid, s int static, m map<text, int>, "
    "l list<frozen<addr>>, home frozen<addr>, PRIMARY KEY ((a, b), c)) "
    "WITH CLUSTERING ORDER BY (c DESC)",
    "CREATE INDEX ON ks.t (m)",
)


def make_schema() -> Schema:
    schema = Schema().with_version()
    for i, q in enumerate(SCHEMA_CQL):
        schema, _ = apply_ddl(schema, parse(q).statement, None,  # type: ignore[arg-type]
                              uuid.UUID(int=i + 1))
    return schema


def node(i: int, schema: Schema, up: bool = True) -> NodeInfo:
    return NodeInfo(uuid.UUID(int=100 + i), f"127.0.0.{i}", 9042, 7000, "dc1", "rack1",
                    (-(10**18) * i, 10**17 * i), schema.version, up=up)


def make_ctx(peers: int = 0) -> SystemContext:
    schema = make_schema()
    return SystemContext(node(1, schema), tuple(node(i, schema, up=i % 2 == 0)
                                                for i in range(2, 2 + peers)),
                         schema, "Test Cluster", {uuid.UUID(int=101): 0.5})


def select(cql: str, ctx: SystemContext, values: tuple[bytes | None, ...] = (),
           page_size: int | None = None, paging_state: bytes | None = None) -> RowsResult:
    stmt = parse(cql).statement
    assert isinstance(stmt, ast.Select)
    return select_virtual(stmt, values, ctx, page_size, paging_state)


def decoded(result: RowsResult) -> list[dict[str, object]]:
    """Rows as the driver's dict_factory would give them (decoded with our types)."""
    out = []
    for row in result.rows:
        out.append({c.name: None if v is None else cql_type(c.type).deserialize(v)
                    for c, v in zip(result.columns, row, strict=True)})
    return out


# cql-compat 2.4: every column the clients read, non-null (truncated_at stays null, as in C*).
LOCAL_COLUMNS = (
    "key", "cluster_name", "partitioner", "release_version", "schema_version", "tokens",
    "host_id", "data_center", "rack", "rpc_address", "broadcast_address", "listen_address",
    "cql_version", "rpc_port", "native_protocol_version", "bootstrapped", "gossip_generation",
    "listen_port", "broadcast_port",
)


def test_system_local_row() -> None:
    ctx = make_ctx()
    rows = decoded(select("select * from system.local where key = 'local'", ctx))
    assert len(rows) == 1
    row = rows[0]
    assert [k for k in LOCAL_COLUMNS if row[k] is None] == []
    assert row["key"] == "local"
    assert row["rpc_address"] == row["broadcast_address"] == row["listen_address"]
    assert str(row["rpc_address"]) == "127.0.0.1"
    assert row["schema_version"] == ctx.schema.version
    assert row["tokens"] == {str(t) for t in ctx.local.tokens}
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row["native_protocol_version"] == "5" and row["bootstrapped"] == "COMPLETED"
    assert row["rpc_port"] == 9042


def test_scylla_local_column_list() -> None:
    cql = ("SELECT broadcast_address, cluster_name, data_center, host_id, listen_address, "
           "partitioner, rack, release_version, rpc_address, schema_version, tokens "
           "FROM system.local WHERE key='local'")
    result = select(cql, make_ctx())
    assert [c.name for c in result.columns][:2] == ["broadcast_address", "cluster_name"]
    assert all(v is not None for v in result.rows[0])


def test_peers_rows_and_duplicate_selectors() -> None:
    ctx = make_ctx(peers=2)
    cql = ("SELECT host_id, peer, data_center, rack, rpc_address, rpc_address, "
           "release_version, schema_version FROM system.peers")
    result = select(cql, ctx)
    assert [c.name for c in result.columns].count("rpc_address") == 2
    assert len(result.rows) == 2
    assert result.rows[0][4] == result.rows[0][5] == bytes([127, 0, 0, 2])
    rows = decoded(select("SELECT * FROM system.peers", ctx))
    assert rows[1]["preferred_ip"] is None and rows[1]["tokens"]


def test_peers_v2_and_virtual_schema_are_invalid() -> None:
    ctx = make_ctx()
    with pytest.raises(errors.InvalidRequest, match="unconfigured table peers_v2"):
        select("SELECT * FROM system.peers_v2", ctx)
    with pytest.raises(errors.InvalidRequest):
        select("SELECT * from system_virtual_schema.keyspaces", ctx)
    with pytest.raises(errors.InvalidRequest, match="Undefined column name nope"):
        select("SELECT nope FROM system.local", ctx)


def test_skewless_status() -> None:
    ctx = make_ctx(peers=1)
    rows = decoded(select("SELECT * FROM system.skewless_status", ctx))
    assert [str(r["address"]) for r in rows] == ["127.0.0.1", "127.0.0.2"]
    assert rows[0]["owns"] == 0.5 and rows[1]["owns"] is None
    assert rows[1]["up"] is True and rows[0]["tokens"] == 2


def _schema_rows(ctx: SystemContext, table: str, **where: str) -> list[dict[str, object]]:
    cond = " AND ".join(f"{k} = '{v}'" for k, v in where.items())
    cql = f"SELECT * FROM system_schema.{table}" + (f" WHERE {cond}" if cond else "")
    return decoded(select(cql, ctx, page_size=1000))


def test_schema_columns_rows() -> None:
    rows = _schema_rows(make_ctx(), "columns", keyspace_name="ks", table_name="t")
    got = {r["column_name"]: (r["kind"], r["position"], r["clustering_order"], r["type"])
           for r in rows}
    assert got == {
        "a": ("partition_key", 0, "none", "int"),
        "b": ("partition_key", 1, "none", "text"),
        "c": ("clustering", 0, "desc", "timeuuid"),
        "home": ("regular", -1, "none", "frozen<addr>"),
        "l": ("regular", -1, "none", "list<frozen<addr>>"),
        "m": ("regular", -1, "none", "map<text, int>"),
        "s": ("static", -1, "none", "int"),
    }
    assert all(r["column_name_bytes"] == str(r["column_name"]).encode() for r in rows)


def test_schema_tables_keyspaces_types_indexes_rows() -> None:
    ctx = make_ctx()
    (table,) = _schema_rows(ctx, "tables", keyspace_name="ks", table_name="t")
    assert table["flags"] == {"compound"} and table["id"] == uuid.UUID(int=3)
    assert table["caching"] == {"keys": "ALL", "rows_per_partition": "NONE"}
    assert table["gc_grace_seconds"] == 864000 and table["read_repair"] == "BLOCKING"
    (ks,) = _schema_rows(ctx, "keyspaces", keyspace_name="ks")
    assert ks["replication"] == {"class": "org.apache.cassandra.locator.SimpleStrategy",
                                 "replication_factor": "1"}
    (udt,) = _schema_rows(ctx, "types", keyspace_name="ks", type_name="addr")
    assert udt["field_names"] == ["street", "zip"] and udt["field_types"] == ["text", "int"]
    (index,) = _schema_rows(ctx, "indexes", keyspace_name="ks", table_name="t")
    assert index["kind"] == "COMPOSITES" and index["options"] == {"target": "values(m)"}
    for empty in ("views", "functions", "aggregates", "triggers", "dropped_columns"):
        assert _schema_rows(ctx, empty) == []


def test_system_keyspaces_described_in_system_schema() -> None:
    ctx = make_ctx()
    names = {r["keyspace_name"]: r["replication"] for r in _schema_rows(ctx, "keyspaces")}
    assert names["system"] == {"class": "org.apache.cassandra.locator.LocalStrategy"}
    assert names["system_auth"]["class"].endswith("SimpleStrategy")  # type: ignore[index]
    assert {"system_schema", "system_traces", "system_distributed", "ks"} <= set(names)
    tables = {r["table_name"] for r in _schema_rows(ctx, "tables", keyspace_name="system")}
    assert tables == {"local", "peers", "skewless_status", "skewless_clients", "IndexInfo"}
    assert system_table("system", "peers_v2") is None


def test_driver_schema_parser_accepts_rows() -> None:
    ctx = make_ctx()
    parser = SchemaParserV4(None, 0)  # only its row-handling methods are used
    (ks_row,) = _schema_rows(ctx, "keyspaces", keyspace_name="ks")
    ks = parser._build_keyspace_metadata(ks_row)
    assert ks.replication_strategy.replication_factor == 1
    (table_row,) = _schema_rows(ctx, "tables", keyspace_name="ks", table_name="t")
    cols = _schema_rows(ctx, "columns", keyspace_name="ks", table_name="t")
    idx = _schema_rows(ctx, "indexes", keyspace_name="ks", table_name="t")
    meta = parser._build_table_metadata(table_row, cols, [], idx)
    assert meta._exc_info is None and not meta.is_compact_storage
    assert [c.name for c in meta.partition_key] == ["a", "b"]
    assert [(c.name, c.is_reversed) for c in meta.clustering_key] == [("c", True)]
    assert meta.columns["s"].is_static and meta.columns["home"].cql_type == "frozen<addr>"
    assert meta.indexes["t_m_idx"].index_options == {"target": "values(m)"}
    (type_row,) = _schema_rows(ctx, "types", keyspace_name="ks")
    udt = parser._build_user_type(type_row)
    assert udt.field_names == ["street", "zip"] and udt.field_types == ["text", "int"]


def test_every_system_table_row_serializes() -> None:
    ctx = make_ctx(peers=2)
    for ks, table in (("system", "local"), ("system", "peers"), ("system", "skewless_status"),
                      ("system_schema", "tables"), ("system_schema", "columns"),
                      ("system_traces", "sessions"), ("system_traces", "events")):
        result = select(f"SELECT * FROM {ks}.{table}", ctx)
        definition = system_table(ks, table)
        assert definition is not None
        assert len(result.rows) == len(rows_for(ks, table, ctx))
        assert [c.name for c in result.columns] == [c.name for c in definition.columns]


def test_where_in_and_bind_markers() -> None:
    ctx = make_ctx()
    text = cql_type("text")
    rows = decoded(select("SELECT keyspace_name FROM system_schema.keyspaces "
                          "WHERE keyspace_name IN ('ks', 'system', 'nope')", ctx))
    assert [r["keyspace_name"] for r in rows] == ["ks", "system"]
    result = select("SELECT keyspace_name AS k FROM system_schema.keyspaces WHERE "
                    "keyspace_name = ?", ctx, (text.serialize("system_auth"),))
    assert result.columns[0].name == "k" and len(result.rows) == 1
    in_list = cql_type("list<text>").serialize(["ks", "system_traces"])
    result = select("SELECT * FROM system_schema.keyspaces WHERE keyspace_name IN ?", ctx,
                    (in_list,))
    assert len(result.rows) == 2


def test_count_limit_and_paging() -> None:
    ctx = make_ctx()
    total = len(rows_for("system_schema", "columns", ctx))
    count = select("SELECT COUNT(*) FROM system_schema.columns", ctx)
    assert count.columns[0].name == "count" and count.columns[0].type == "bigint"
    cell = count.rows[0][0]
    assert cell is not None and cql_type("bigint").deserialize(cell) == total
    assert len(select("SELECT * FROM system_schema.columns LIMIT 5", ctx).rows) == 5
    seen: list[tuple[bytes | None, ...]] = []
    state = None
    while True:
        page = select("SELECT * FROM system_schema.columns", ctx, page_size=7,
                      paging_state=state)
        seen += page.rows
        assert len(page.rows) <= 7
        state = page.paging_state
        if state is None:
            break
    assert seen == list(select("SELECT * FROM system_schema.columns", ctx).rows)
    with pytest.raises(errors.InvalidRequest, match="paging state"):
        select("SELECT * FROM system.local", ctx, page_size=1, paging_state=b"junk")
