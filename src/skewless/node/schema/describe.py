"""Server-side DESCRIBE, as cqlsh 6.2 expects it from Cassandra 5.0 (``DescribeStatement``).

Listings (KEYSPACES, TABLES, TYPES, FUNCTIONS, AGGREGATES) answer ``keyspace_name, type, name``;
element descriptions (SCHEMA, KEYSPACE, TABLE, TYPE, INDEX, a bare name) add
``create_statement``; CLUSTER answers ``cluster, partitioner, snitch`` and, when a non-system
keyspace is in use, ``range_ownership`` (range end token -> replica endpoints). All result
columns belong to the pseudo table ``system.describe``. The statements come from
``schema_cql``; the schema described includes the system keyspaces (``system_schema_for``).
"""

from __future__ import annotations

from collections.abc import Iterator

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import ColumnSpec, RowsResult
from skewless.cql.types import parse_type
from skewless.node.info import PARTITIONER
from skewless.node.placement import Endpoint, Ring
from skewless.node.schema import cql_text as schema_cql
from skewless.node.schema.identifiers import quote_if_needed
from skewless.node.schema.system_tables import (
    SYSTEM_KEYSPACE_NAMES,
    SystemContext,
    system_schema_for,
)
from skewless.schema import KeyspaceDef, Schema, TableDef

SNITCH = "GossipingPropertyFileSnitch"
_TEXT = ("keyspace_name", "type", "name")
LIST_COLUMNS = tuple(ColumnSpec("system", "describe", n, "text") for n in _TEXT)
ELEMENT_COLUMNS = LIST_COLUMNS + (ColumnSpec("system", "describe", "create_statement", "text"),)

# (keyspace, element type, name, create statement or None for listings)
Element = tuple[str, str, str, str | None]


def describe(stmt: ast.Describe, ctx: SystemContext, current_keyspace: str | None) -> RowsResult:
    """Run a DESCRIBE statement against the node's schema."""
    schema = system_schema_for(ctx.schema)
    if stmt.kind == "CLUSTER":
        return _cluster(ctx, current_keyspace)
    if stmt.kind in ("KEYSPACES", "TABLES", "TYPES", "FUNCTIONS", "AGGREGATES"):
        return _rows(LIST_COLUMNS, _listing(stmt.kind, schema, current_keyspace))
    return _rows(ELEMENT_COLUMNS, _elements(stmt, schema, current_keyspace))


def _rows(columns: tuple[ColumnSpec, ...], elements: Iterator[Element]) -> RowsResult:
    text = parse_type("text")
    rows = []
    for ks, kind, name, create in elements:
        cells = [quote_if_needed(ks), kind, quote_if_needed(name)]
        if len(columns) == 4:
            assert create is not None
            cells.append(create)
        rows.append(tuple(text.serialize(c) for c in cells))
    return RowsResult(columns, tuple(rows))


def _keyspace(schema: Schema, name: str) -> KeyspaceDef:
    ks = schema.keyspace(name)
    if ks is None:
        raise errors.InvalidRequest(f"'{name}' not found in keyspaces")
    return ks


# ---------------------------------------------------------------- listings


def _listing(kind: str, schema: Schema, current: str | None) -> Iterator[Element]:
    if kind == "KEYSPACES":
        for ks in sorted(schema.keyspaces, key=lambda k: k.name):
            yield ks.name, "keyspace", ks.name, None
        return
    names = [current] if current is not None else sorted(k.name for k in schema.keyspaces)
    for name in names:
        _keyspace(schema, name)
        if kind == "TABLES":
            for t in sorted(_tables_of(schema, name), key=lambda t: t.name):
                yield name, "table", t.name, None
        elif kind == "TYPES":
            for u in sorted((u for u in schema.types if u.keyspace == name), key=lambda u: u.name):
                yield name, "type", u.name, None


def _tables_of(schema: Schema, keyspace: str) -> list[TableDef]:
    return [t for t in schema.tables if t.keyspace == keyspace]


# ---------------------------------------------------------------- elements


def _elements(stmt: ast.Describe, schema: Schema, current: str | None) -> Iterator[Element]:
    if stmt.kind == "SCHEMA":
        for ks in sorted(schema.keyspaces, key=lambda k: k.name):
            if stmt.full or ks.name not in SYSTEM_KEYSPACE_NAMES:
                yield from _keyspace_elements(schema, ks, only=False)
        return
    if stmt.kind == "KEYSPACE":
        name = _element_keyspace(stmt.keyspace, current)
        yield from _keyspace_elements(schema, _keyspace(schema, name), stmt.only)
        return
    if stmt.kind == "NAME":
        yield from _generic(stmt, schema, current)
        return
    keyspace = _keyspace(schema, _element_keyspace(stmt.keyspace, current)).name
    assert stmt.name is not None, stmt
    if stmt.kind == "TABLE":
        yield from _table_elements(schema, _table(schema, keyspace, stmt.name))
    elif stmt.kind == "TYPE":
        yield _type_element(schema, keyspace, stmt.name)
    elif stmt.kind == "INDEX":
        yield _index_element(schema, keyspace, stmt.name)
    elif stmt.kind == "MATERIALIZED VIEW":
        raise errors.InvalidRequest(f"Materialized view '{stmt.name}' not found in '{keyspace}'")
    else:
        raise errors.unsupported(f"DESCRIBE {stmt.kind}")


def _element_keyspace(given: str | None, current: str | None) -> str:
    keyspace = given if given is not None else current
    if keyspace is None:
        raise errors.InvalidRequest("No keyspace specified and no current keyspace")
    return keyspace


def _keyspace_elements(schema: Schema, ks: KeyspaceDef, only: bool) -> Iterator[Element]:
    yield ks.name, "keyspace", ks.name, schema_cql.keyspace_cql(ks)
    if only:
        return
    for udt in sorted((u for u in schema.types if u.keyspace == ks.name), key=lambda u: u.name):
        yield ks.name, "type", udt.name, schema_cql.type_cql(udt)
    for table in sorted(_tables_of(schema, ks.name), key=lambda t: t.name):
        yield from _table_elements(schema, table)


def _table(schema: Schema, keyspace: str, name: str) -> TableDef:
    table = schema.table(keyspace, name)
    if table is None:
        raise errors.InvalidRequest(f"Table '{name}' not found in keyspace '{keyspace}'")
    return table


def _table_elements(schema: Schema, table: TableDef) -> Iterator[Element]:
    yield table.keyspace, "table", table.name, schema_cql.table_cql(table)
    indexes = [i for i in schema.indexes if (i.keyspace, i.table) == (table.keyspace, table.name)]
    for index in sorted(indexes, key=lambda i: i.name):
        yield index.keyspace, "index", index.name, schema_cql.index_cql(index)


def _type_element(schema: Schema, keyspace: str, name: str) -> Element:
    udt = schema.user_type(keyspace, name)
    if udt is None:
        raise errors.InvalidRequest(f"User defined type '{name}' not found in '{keyspace}'")
    return keyspace, "type", name, schema_cql.type_cql(udt)


def _index_element(schema: Schema, keyspace: str, name: str) -> Element:
    index = next((i for i in schema.indexes if (i.keyspace, i.name) == (keyspace, name)), None)
    if index is None:
        raise errors.InvalidRequest(f"Index '{name}' not found in '{keyspace}'")
    return keyspace, "index", name, schema_cql.index_cql(index)


def _generic(stmt: ast.Describe, schema: Schema, current: str | None) -> Iterator[Element]:
    """``DESCRIBE x``: a keyspace, else a table, an index (cqlsh's documented order)."""
    assert stmt.name is not None, stmt
    keyspace = stmt.keyspace
    if keyspace is None:
        if schema.keyspace(stmt.name) is not None:
            yield from _keyspace_elements(schema, _keyspace(schema, stmt.name), only=False)
            return
        keyspace = current if current is not None else stmt.name
    _keyspace(schema, keyspace)
    table = schema.table(keyspace, stmt.name)
    if table is not None:
        yield from _table_elements(schema, table)
    elif any((i.keyspace, i.name) == (keyspace, stmt.name) for i in schema.indexes):
        yield _index_element(schema, keyspace, stmt.name)
    else:
        raise errors.InvalidRequest(f"'{stmt.name}' not found in keyspace '{keyspace}'")


# ---------------------------------------------------------------- cluster


def _cluster(ctx: SystemContext, current: str | None) -> RowsResult:
    columns = [ColumnSpec("system", "describe", n, "text")
               for n in ("cluster", "partitioner", "snitch")]
    text = parse_type("text")
    cells = [text.serialize(ctx.cluster_name),
             text.serialize(PARTITIONER.removeprefix("org.apache.cassandra.dht.")),
             text.serialize(SNITCH)]
    ks = ctx.schema.keyspace(current) if current is not None else None
    if ks is not None and ks.name not in SYSTEM_KEYSPACE_NAMES:
        kind = "map<text, frozen<list<text>>>"
        columns.append(ColumnSpec("system", "describe", "range_ownership", kind))
        cells.append(parse_type(kind).serialize(range_ownership(ctx, ks)))
    return RowsResult(tuple(columns), (tuple(cells),))


def range_ownership(ctx: SystemContext, ks: KeyspaceDef) -> dict[str, list[str]]:
    """Each ring range's end token -> its replicas as ``/address:port``, ranges in token order."""
    nodes = (ctx.local, *ctx.peers)
    ring = Ring({n.address: n.tokens for n in nodes},
                [Endpoint(n.address, n.dc, n.rack) for n in nodes])
    ports = {n.address: n.internode_port for n in nodes}
    replication = ks.replication_map()
    return {str(token): [f"/{a}:{ports[a]}" for a in ring.replicas(token, replication)]
            for token in ring.tokens}
