"""The system keyspaces: their table definitions and the context their rows are built from.

Skewless does not store system tables: their rows are generated from the node's view of the
cluster (``SystemContext``) by ``rows_for`` and selected by ``virtual_select``. The
definitions here use Cassandra 5.0's column types (``SystemKeyspace``, ``SchemaKeyspace``,
``TraceKeyspace``) so drivers and cqlsh see familiar metadata. ``system.peers_v2`` deliberately
does not exist: the drivers then fall back to ``system.peers`` (cql-compat 2.1).

``system_schema_for(schema)`` is the user schema plus these keyspaces and tables, which is what
the system_schema rows describe (cqlsh needs system keyspaces there to print their rows).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from skewless.node.clock.client_clocks import ClientClockView
from skewless.node.info import CQL_VERSION, PARTITIONER, NodeInfo
from skewless.node.schema.table_options import as_python, default_items
from skewless.schema import ColumnDef, KeyspaceDef, Schema, TableDef

LOCAL_STRATEGY = "org.apache.cassandra.locator.LocalStrategy"
SIMPLE_STRATEGY = "org.apache.cassandra.locator.SimpleStrategy"

# keyspace -> (replication, tables); each table is (name, partition key, clustering, columns).
_Spec = tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]

_SCHEMA_TABLES: tuple[_Spec, ...] = (
    ("keyspaces", ("keyspace_name",), (), (
        ("keyspace_name", "text"), ("durable_writes", "boolean"),
        ("replication", "frozen<map<text, text>>"))),
    ("tables", ("keyspace_name",), ("table_name",), (
        ("keyspace_name", "text"), ("table_name", "text"),
        ("additional_write_policy", "text"), ("allow_auto_snapshot", "boolean"),
        ("bloom_filter_fp_chance", "double"), ("caching", "frozen<map<text, text>>"),
        ("cdc", "boolean"), ("comment", "text"), ("compaction", "frozen<map<text, text>>"),
        ("compression", "frozen<map<text, text>>"), ("crc_check_chance", "double"),
        ("dclocal_read_repair_chance", "double"), ("default_time_to_live", "int"),
        ("extensions", "frozen<map<text, blob>>"), ("flags", "frozen<set<text>>"),
        ("gc_grace_seconds", "int"), ("id", "uuid"), ("incremental_backups", "boolean"),
        ("max_index_interval", "int"), ("memtable", "text"), ("ordered_writes", "boolean"),
        ("memtable_flush_period_in_ms", "int"), ("min_index_interval", "int"),
        ("read_repair", "text"), ("read_repair_chance", "double"),
        ("shadowed_writes", "text"), ("speculative_retry", "text"))),
    ("columns", ("keyspace_name",), ("table_name", "column_name"), (
        ("keyspace_name", "text"), ("table_name", "text"), ("column_name", "text"),
        ("clustering_order", "text"), ("column_name_bytes", "blob"), ("kind", "text"),
        ("position", "int"), ("type", "text"))),
    ("dropped_columns", ("keyspace_name",), ("table_name", "column_name"), (
        ("keyspace_name", "text"), ("table_name", "text"), ("column_name", "text"),
        ("dropped_time", "timestamp"), ("kind", "text"), ("type", "text"))),
    ("triggers", ("keyspace_name",), ("table_name", "trigger_name"), (
        ("keyspace_name", "text"), ("table_name", "text"), ("trigger_name", "text"),
        ("options", "frozen<map<text, text>>"))),
    ("views", ("keyspace_name",), ("view_name",), (
        ("keyspace_name", "text"), ("view_name", "text"), ("additional_write_policy", "text"),
        ("allow_auto_snapshot", "boolean"), ("base_table_id", "uuid"),
        ("base_table_name", "text"), ("bloom_filter_fp_chance", "double"),
        ("caching", "frozen<map<text, text>>"), ("cdc", "boolean"), ("comment", "text"),
        ("compaction", "frozen<map<text, text>>"), ("compression", "frozen<map<text, text>>"),
        ("crc_check_chance", "double"), ("dclocal_read_repair_chance", "double"),
        ("default_time_to_live", "int"), ("extensions", "frozen<map<text, blob>>"),
        ("gc_grace_seconds", "int"), ("id", "uuid"), ("include_all_columns", "boolean"),
        ("incremental_backups", "boolean"), ("max_index_interval", "int"),
        ("memtable", "text"), ("memtable_flush_period_in_ms", "int"),
        ("min_index_interval", "int"), ("read_repair", "text"),
        ("read_repair_chance", "double"), ("speculative_retry", "text"),
        ("where_clause", "text"))),
    ("types", ("keyspace_name",), ("type_name",), (
        ("keyspace_name", "text"), ("type_name", "text"),
        ("field_names", "frozen<list<text>>"), ("field_types", "frozen<list<text>>"))),
    ("functions", ("keyspace_name",), ("function_name", "argument_types"), (
        ("keyspace_name", "text"), ("function_name", "text"),
        ("argument_types", "frozen<list<text>>"), ("argument_names", "frozen<list<text>>"),
        ("body", "text"), ("called_on_null_input", "boolean"), ("language", "text"),
        ("return_type", "text"))),
    ("aggregates", ("keyspace_name",), ("aggregate_name", "argument_types"), (
        ("keyspace_name", "text"), ("aggregate_name", "text"),
        ("argument_types", "frozen<list<text>>"), ("final_func", "text"),
        ("initcond", "text"), ("return_type", "text"), ("state_func", "text"),
        ("state_type", "text"))),
    ("indexes", ("keyspace_name",), ("table_name", "index_name"), (
        ("keyspace_name", "text"), ("table_name", "text"), ("index_name", "text"),
        ("kind", "text"), ("options", "frozen<map<text, text>>"))),
)

_SYSTEM_TABLES: tuple[_Spec, ...] = (
    ("local", ("key",), (), (
        ("key", "text"), ("bootstrapped", "text"), ("broadcast_address", "inet"),
        ("broadcast_port", "int"), ("cluster_name", "text"), ("cql_version", "text"),
        ("data_center", "text"), ("gossip_generation", "int"), ("host_id", "uuid"),
        ("listen_address", "inet"), ("listen_port", "int"),
        ("native_protocol_version", "text"), ("partitioner", "text"), ("rack", "text"),
        ("release_version", "text"), ("rpc_address", "inet"), ("rpc_port", "int"),
        ("schema_version", "uuid"), ("tokens", "set<text>"),
        ("truncated_at", "map<uuid, blob>"))),
    ("peers", ("peer",), (), (
        ("peer", "inet"), ("data_center", "text"), ("host_id", "uuid"),
        ("preferred_ip", "inet"), ("rack", "text"), ("release_version", "text"),
        ("rpc_address", "inet"), ("schema_version", "uuid"), ("tokens", "set<text>"))),
    ("skewless_status", ("address",), (), (
        ("address", "inet"), ("up", "boolean"), ("dc", "text"), ("rack", "text"),
        ("load_bytes", "bigint"), ("owns", "double"), ("host_id", "uuid"),
        ("clock_offset_ms", "double"), ("tokens", "int"), ("clock_uncertainty_ms", "double"),
        ("clock_alarm", "boolean"), ("clock_in_bounds", "boolean"), ("phi", "double"),
        ("down_cause", "text"), ("storage", "text"))),
    ("skewless_clients", ("address",), ("connection",), (
        ("address", "inet"), ("connection", "int"), ("port", "int"),
        ("clock_offset_ms", "double"), ("clock_samples", "int"), ("clock_alarm", "boolean"))),
    ("IndexInfo", ("table_name",), ("index_name",), (
        ("table_name", "text"), ("index_name", "text"), ("value", "blob"))),
)

_TRACES_TABLES: tuple[_Spec, ...] = (
    ("sessions", ("session_id",), (), (
        ("session_id", "uuid"), ("client", "inet"), ("command", "text"),
        ("coordinator", "inet"), ("coordinator_port", "int"), ("duration", "int"),
        ("parameters", "map<text, text>"), ("request", "text"), ("started_at", "timestamp"))),
    ("events", ("session_id",), ("event_id",), (
        ("session_id", "uuid"), ("event_id", "timeuuid"), ("activity", "text"),
        ("source", "inet"), ("source_elapsed", "int"), ("source_port", "int"),
        ("thread", "text"))),
)

# Cassandra's AuthKeyspace (4.0+): roles, their memberships and permissions (node.auth).
_AUTH_TABLES: tuple[_Spec, ...] = (
    ("roles", ("role",), (), (
        ("role", "text"), ("can_login", "boolean"), ("is_superuser", "boolean"),
        ("member_of", "set<text>"), ("salted_hash", "text"))),
    ("role_members", ("role",), ("member",), (("role", "text"), ("member", "text"))),
    ("role_permissions", ("role",), ("resource",), (
        ("role", "text"), ("resource", "text"), ("permissions", "set<text>"))),
    ("resource_role_permissons_index", ("resource",), ("role",), (
        ("resource", "text"), ("role", "text"))),
    ("network_permissions", ("role",), (), (("role", "text"), ("dcs", "frozen<set<text>>"))),
)

_KEYSPACES: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[_Spec, ...]], ...] = (
    ("system", (("class", LOCAL_STRATEGY),), _SYSTEM_TABLES),
    ("system_auth", (("class", SIMPLE_STRATEGY), ("replication_factor", "1")), _AUTH_TABLES),
    ("system_distributed", (("class", SIMPLE_STRATEGY), ("replication_factor", "3")), ()),
    ("system_schema", (("class", LOCAL_STRATEGY),), _SCHEMA_TABLES),
    ("system_traces", (("class", SIMPLE_STRATEGY), ("replication_factor", "2")), _TRACES_TABLES),
)


def system_table_id(keyspace: str, table: str) -> uuid.UUID:
    """Cassandra's ``TableId.forSystemTable``: ``UUID.nameUUIDFromBytes(keyspace + table)``."""
    digest = hashlib.md5((keyspace + table).encode()).digest()
    return uuid.UUID(bytes=digest, version=3)


def _table(keyspace: str, spec: _Spec) -> TableDef:
    name, partition_key, clustering, columns = spec
    types = dict(columns)
    assert len(types) == len(columns), f"duplicate column in {keyspace}.{name}"
    keys = set(partition_key) | set(clustering)
    defs = [ColumnDef(c, types[c], "partition_key", i) for i, c in enumerate(partition_key)]
    defs += [ColumnDef(c, types[c], "clustering", i, "asc") for i, c in enumerate(clustering)]
    defs += [ColumnDef(c, t, "regular", -1) for c, t in sorted(columns) if c not in keys]
    return TableDef(keyspace, name, system_table_id(keyspace, name), tuple(defs), default_items())


def _build() -> Schema:
    keyspaces = tuple(KeyspaceDef(name, replication) for name, replication, _ in _KEYSPACES)
    tables = tuple(_table(name, spec) for name, _, specs in _KEYSPACES for spec in specs)
    return Schema(keyspaces=keyspaces, tables=tables)


SYSTEM_SCHEMA = _build()
SYSTEM_KEYSPACE_NAMES = tuple(k.name for k in SYSTEM_SCHEMA.keyspaces)


# System keyspaces whose tables hold ordinary replicated data (not generated rows).
STORED_SYSTEM_KEYSPACES = ("system_auth", "system_traces")
# System keyspaces whose replication ALTER KEYSPACE may change (Cassandra's replicated system
# keyspaces); the altered definition is kept in the user schema, which replaces the default.
ALTERABLE_SYSTEM_KEYSPACES = ("system_auth",)


def system_schema_for(schema: Schema) -> Schema:
    """The user ``schema`` with the system keyspaces and tables first (its version is kept);
    an altered system keyspace (``ALTERABLE_SYSTEM_KEYSPACES``) appears once, as altered."""
    altered = {k.name: k for k in schema.keyspaces if k.name in ALTERABLE_SYSTEM_KEYSPACES}
    return replace(
        schema,
        keyspaces=tuple(altered.get(k.name, k) for k in SYSTEM_SCHEMA.keyspaces)
        + tuple(k for k in schema.keyspaces if k.name not in altered),
        tables=SYSTEM_SCHEMA.tables + schema.tables,
    )


def stored_keyspace(schema: Schema, name: str) -> KeyspaceDef | None:
    """A stored system keyspace's definition: as altered in ``schema``, else the default."""
    if name not in STORED_SYSTEM_KEYSPACES:
        return None
    return schema.keyspace(name) or SYSTEM_SCHEMA.keyspace(name)


def named_keyspace(schema: Schema, name: str) -> KeyspaceDef | None:
    """The keyspace a statement or an admin operation names: a stored system keyspace
    (system_auth, as altered or by default; system_traces), else the user schema's."""
    return stored_keyspace(schema, name) if name in STORED_SYSTEM_KEYSPACES \
        else schema.keyspace(name)


def named_table(schema: Schema, keyspace: str, name: str) -> TableDef | None:
    """The table a statement or an admin operation names (see ``named_keyspace``)."""
    return system_table(keyspace, name) if keyspace in STORED_SYSTEM_KEYSPACES \
        else schema.table(keyspace, name)


def keyspace_tables(schema: Schema, keyspace: str) -> list[TableDef]:
    """The tables of a keyspace of ``schema``, those of an altered system keyspace included
    (so that streaming and repair, which walk ``schema.keyspaces``, carry system_auth once
    its replication was altered)."""
    if keyspace in ALTERABLE_SYSTEM_KEYSPACES:
        return [t for t in SYSTEM_SCHEMA.tables if t.keyspace == keyspace]
    return [t for t in schema.tables if t.keyspace == keyspace]


def stored_table_by_key(table_key: str) -> TableDef | None:
    """A table of a stored system keyspace (system_auth, system_traces), by its key."""
    t = SYSTEM_SCHEMA.table_by_key(table_key)
    return t if t is not None and t.keyspace in STORED_SYSTEM_KEYSPACES else None


def system_table(keyspace: str, name: str) -> TableDef | None:
    """The definition of a generated system table, or None."""
    return SYSTEM_SCHEMA.table(keyspace, name)


@dataclass(frozen=True, slots=True)
class SystemContext:
    """Everything the system tables' rows are generated from.

    ``peers`` are the other nodes (up or down); ``ownership`` maps host ids to the fraction of
    the ring each node owns (for ``system.skewless_status.owns``)."""

    local: NodeInfo
    peers: tuple[NodeInfo, ...]
    schema: Schema
    cluster_name: str
    ownership: dict[uuid.UUID, float] = field(default_factory=dict)
    clients: tuple[ClientClockView, ...] = ()  # CQL connections and their clocks' estimates
    truncated_at: dict[uuid.UUID, int] = field(default_factory=dict)  # table id -> µs (TRUNCATE)
    built_indexes: tuple[tuple[str, str], ...] = ()  # (keyspace, index) built on this node


# ---------------------------------------------------------------- rows

Row = dict[str, object]


def rows_for(keyspace: str, table: str, ctx: SystemContext) -> list[Row]:
    """The rows of a generated system table, sorted by primary key (deterministic order)."""
    definition = system_table(keyspace, table)
    assert definition is not None, f"{keyspace}.{table} is not a system table"
    builder = _BUILDERS.get((keyspace, table))
    rows = builder(ctx) if builder is not None else []
    keys = [c.name for c in definition.columns if c.kind in ("partition_key", "clustering")]
    return sorted(rows, key=lambda r: tuple(_sort_key(r.get(k)) for k in keys))


def _sort_key(value: object) -> tuple[int, str]:
    if value is None:
        return (0, "")
    if isinstance(value, str) and value.count(".") == 3 and value.replace(".", "").isdigit():
        return (1, ".".join(f"{int(p):03d}" for p in value.split(".")))  # IPv4 numeric order
    return (1, str(value))


def _local_rows(ctx: SystemContext) -> list[Row]:
    node = ctx.local
    return [{
        "key": "local",
        "bootstrapped": "COMPLETED",
        "broadcast_address": node.address,
        "broadcast_port": node.internode_port,
        "cluster_name": ctx.cluster_name,
        "cql_version": CQL_VERSION,
        "data_center": node.dc,
        "gossip_generation": 0,
        "host_id": node.host_id,
        "listen_address": node.address,
        "listen_port": node.internode_port,
        "native_protocol_version": "5",  # ProtocolVersion.CURRENT (v5 since 4.0)
        "partitioner": PARTITIONER,
        "rack": node.rack,
        "release_version": node.release_version,
        "rpc_address": node.address,
        "rpc_port": node.cql_port,  # the native port, as Cassandra 4+ stores it
        "schema_version": ctx.schema.version,
        "tokens": {str(t) for t in node.tokens},
        "truncated_at": {table_id: struct.pack(">qiq", 0, 0, at_us // 1000)
                         for table_id, at_us in ctx.truncated_at.items()} or None,
    }]


def _peer_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "peer": p.address,
        "data_center": p.dc,
        "host_id": p.host_id,
        "preferred_ip": None,
        "rack": p.rack,
        "release_version": p.release_version,
        "rpc_address": p.address,
        "schema_version": p.schema_version,
        "tokens": {str(t) for t in p.tokens},
    } for p in ctx.peers]


def _status_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "address": n.address,
        "up": n.up,
        "dc": n.dc,
        "rack": n.rack,
        "load_bytes": n.load_bytes,
        "owns": ctx.ownership.get(n.host_id),
        "host_id": n.host_id,
        "clock_offset_ms": n.clock_offset_us / 1000.0,
        "clock_uncertainty_ms": n.clock_uncertainty_us / 1000.0,
        "clock_alarm": n.clock_alarm,
        "clock_in_bounds": n.clock_in_bounds,
        "tokens": len(n.tokens),
        "phi": n.phi,
        "down_cause": n.down_cause,
        "storage": n.storage,
    } for n in (ctx.local, *ctx.peers)]


def _client_rows(ctx: SystemContext) -> list[Row]:
    rows: list[Row] = []
    for c in ctx.clients:
        host, _, port = c.address.rpartition(":")
        rows.append({
            "address": host or c.address, "connection": c.conn,
            "port": int(port) if port.isdigit() else None,
            "clock_offset_ms": None if c.offset_us is None else c.offset_us / 1000.0,
            "clock_samples": c.samples, "clock_alarm": c.alarm,
        })
    return rows


def _keyspace_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "keyspace_name": k.name,
        "durable_writes": k.durable_writes,
        "replication": k.replication_map(),
    } for k in system_schema_for(ctx.schema).keyspaces]


def _table_rows(ctx: SystemContext) -> list[Row]:
    rows: list[Row] = []
    for t in system_schema_for(ctx.schema).tables:
        row: Row = {"keyspace_name": t.keyspace, "table_name": t.name}
        row.update((k, as_python(v)) for k, v in t.options)
        row.update({
            "dclocal_read_repair_chance": 0.0,
            "read_repair_chance": 0.0,
            "flags": {"compound"},
            "id": t.id,
        })
        rows.append(row)
    return rows


def _column_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "keyspace_name": t.keyspace,
        "table_name": t.name,
        "column_name": c.name,
        "clustering_order": c.clustering_order,
        "column_name_bytes": c.name.encode("utf-8"),
        "kind": c.kind,
        "position": c.position,
        "type": c.type,
    } for t in system_schema_for(ctx.schema).tables for c in t.columns]


def _dropped_column_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "keyspace_name": t.keyspace,
        "table_name": t.name,
        "column_name": d.name,
        "dropped_time": d.dropped_us // 1000,
        "kind": d.kind,
        "type": d.type,
    } for t in ctx.schema.tables for d in t.dropped]


def _index_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "keyspace_name": i.keyspace,
        "table_name": i.table,
        "index_name": i.name,
        "kind": i.kind,
        "options": dict(i.options),
    } for i in ctx.schema.indexes]


def _index_info_rows(ctx: SystemContext) -> list[Row]:
    """Indexes built on this node; ``table_name`` holds the keyspace, as in Cassandra."""
    return [{"table_name": ks, "index_name": name, "value": None}
            for ks, name in ctx.built_indexes]


def _type_rows(ctx: SystemContext) -> list[Row]:
    return [{
        "keyspace_name": t.keyspace,
        "type_name": t.name,
        "field_names": list(t.field_names),
        "field_types": list(t.field_types),
    } for t in ctx.schema.types]


_BUILDERS: dict[tuple[str, str], Callable[[SystemContext], list[Row]]] = {
    ("system", "local"): _local_rows,
    ("system", "peers"): _peer_rows,
    ("system", "skewless_status"): _status_rows,
    ("system", "skewless_clients"): _client_rows,
    ("system", "IndexInfo"): _index_info_rows,
    ("system_schema", "keyspaces"): _keyspace_rows,
    ("system_schema", "tables"): _table_rows,
    ("system_schema", "columns"): _column_rows,
    ("system_schema", "dropped_columns"): _dropped_column_rows,
    ("system_schema", "indexes"): _index_rows,
    ("system_schema", "types"): _type_rows,
}
