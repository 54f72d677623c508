"""Column rules of CREATE TABLE, ALTER TABLE ADD and CREATE INDEX (split out of ``ddl.py``).

``build_columns`` turns a CREATE TABLE statement into ``TableDef.columns`` in the contract's
order (partition key by position, clustering by position, then regular and static columns by
name) after Cassandra's checks (``CreateTableStatement.builder``). Types are normalised with
``types.parse_type(...).name``, user types resolved in the table's keyspace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from skewless import errors
from skewless.cql import ast, counter_rules
from skewless.cql.types import UdtLookup, parse_type
from skewless.cql.types_base import CqlType
from skewless.cql.types_collections import TupleType, UdtType
from skewless.node.schema.identifiers import quote_if_needed
from skewless.schema import ColumnDef, Schema, TableDef

_DURATION = re.compile(r"(?<![\w\"])duration(?![\w\"])")
_COLLECTION = re.compile(r"^(list|set|map)<")
_FROZEN_COLLECTION = re.compile(r"^frozen<(list|set|map)<")


def parsed_type(schema: Schema, keyspace: str, text: str) -> CqlType:
    """The CqlType of ``text``, user types looked up in ``keyspace``."""
    t = parse_type(text, udt_lookup=_udt_lookup(schema, keyspace), keyspace=keyspace)
    _check_durations(t)
    return t


def _check_durations(t: CqlType) -> None:
    """CQL3Type.Raw.RawCollection.prepare: durations compare by their parts only, so they may
    not be set elements nor map keys (at any depth)."""
    bare = t.name.removeprefix("frozen<")
    if t.subtypes and t.subtypes[0].name == "duration":
        if bare.startswith("set<"):
            raise errors.InvalidRequest(f"Durations are not allowed inside sets: {t.name}")
        if bare.startswith("map<"):
            raise errors.InvalidRequest(f"Durations are not allowed as map keys: {t.name}")
    for sub in t.subtypes:
        _check_durations(sub)


def resolve_type(schema: Schema, keyspace: str, text: str) -> str:
    """``text`` normalised as Cassandra writes it in system_schema.columns.type."""
    return parsed_type(schema, keyspace, text).name


def _udt_lookup(schema: Schema, keyspace: str) -> UdtLookup:
    def lookup(name: str) -> tuple[tuple[str, str], ...] | None:
        udt = schema.user_type(keyspace, name)
        if udt is None:
            return None
        return tuple(zip(udt.field_names, udt.field_types, strict=True))

    return lookup


def build_columns(schema: Schema, keyspace: str, stmt: ast.CreateTable) -> tuple[ColumnDef, ...]:
    """The columns of a new table, validated, in ``TableDef`` order."""
    types: dict[str, CqlType] = {}
    for spec in stmt.columns:
        if spec.name in types:
            raise errors.InvalidRequest(f"Multiple definition of identifier {spec.name}")
        types[spec.name] = parsed_type(schema, keyspace, spec.type)
    statics = {c.name for c in stmt.columns if c.static}
    if not stmt.partition_key:
        raise errors.InvalidRequest(
            f"No PRIMARY KEY specifed for table '{stmt.name}' (exactly one required)")
    _check_key_columns(stmt, types, statics)
    _check_clustering_order(stmt)
    if statics and not stmt.clustering:
        raise errors.InvalidRequest(
            "Static columns are only useful (and thus allowed) if the table has at least one "
            "clustering column")
    keys = set(stmt.partition_key) | set(stmt.clustering)
    _check_counters(types, keys)
    order = dict(stmt.clustering_order)
    columns = [ColumnDef(n, types[n].name, "partition_key", i)
               for i, n in enumerate(stmt.partition_key)]
    columns += [ColumnDef(n, types[n].name, "clustering", i,
                          "desc" if order.get(n) == "DESC" else "asc")
                for i, n in enumerate(stmt.clustering)]
    columns += [ColumnDef(n, types[n].name, "static" if n in statics else "regular", -1, "none")
                for n in sorted(types) if n not in keys]
    return tuple(columns)


def _check_key_columns(stmt: ast.CreateTable, types: dict[str, CqlType], statics: set[str]) -> None:
    seen: set[str] = set()
    for name in (*stmt.partition_key, *stmt.clustering):
        t = types.get(name)
        if t is None:
            raise errors.InvalidRequest(
                f"Unknown column '{name}' referenced in PRIMARY KEY for table '{stmt.name}'")
        if name in seen:
            raise errors.InvalidRequest(
                f"Duplicate column '{name}' in PRIMARY KEY clause for table '{stmt.name}'")
        seen.add(name)
        if t.is_multicell:
            what = "collection" if t.is_collection else "user-defined"
            raise errors.InvalidRequest(
                f"Invalid non-frozen {what} type {t.name} for PRIMARY KEY column '{name}'")
        if t.is_counter:
            raise errors.InvalidRequest(
                f"counter type is not supported for PRIMARY KEY column '{name}'")
        if _DURATION.search(t.name):
            raise errors.InvalidRequest(
                f"duration type is not supported for PRIMARY KEY column '{name}'")
        if name in stmt.clustering and "vector<" in t.name:
            raise errors.unsupported(f"vector type in clustering column '{name}'")
        if name in statics:
            raise errors.InvalidRequest(f"Static column '{name}' cannot be part of the PRIMARY KEY")


def _check_clustering_order(stmt: ast.CreateTable) -> None:
    names = [n for n, _ in stmt.clustering_order]
    if len(names) > len(stmt.clustering) or any(n not in stmt.clustering for n in names):
        raise errors.InvalidRequest(
            "Only clustering columns can be defined in CLUSTERING ORDER directive")
    for n, name in enumerate(names):
        expected = stmt.clustering[n]
        if name != expected:
            if expected in names:
                raise errors.InvalidRequest(
                    f"The order of columns in the CLUSTERING ORDER directive must match that of "
                    f"the clustering columns ({expected} must appear before {name})")
            raise errors.InvalidRequest(f"Missing CLUSTERING ORDER for column {expected}")


def _check_counters(types: dict[str, CqlType], keys: set[str]) -> None:
    regular = [t for n, t in types.items() if n not in keys]
    if any(t.is_counter for t in regular) and not all(t.is_counter for t in regular):
        raise errors.InvalidRequest("Cannot mix counter and non counter columns in the same table")


def check_add_column(table: TableDef, columns: Sequence[ColumnDef], spec: ast.ColumnSpec) -> None:
    """Cassandra's checks for ``ALTER TABLE ... ADD`` of one column."""
    if any(c.name == spec.name for c in columns):
        raise errors.InvalidRequest(f"Column with name '{spec.name}' already exists")
    if spec.static and not table.clustering:
        raise errors.InvalidRequest(
            "Static columns are only useful (and thus allowed) if the table has at least one "
            "clustering column")
    # counter and non-counter columns: counter_rules.check_added_columns, once all are added


# A dropped column may come back with another type only if the new type reads the old values
# (AbstractType.isValueCompatibleWith): old type(s) each new type accepts besides itself.
_VALUE_COMPATIBLE = {
    "text": ("ascii",),
    "varint": ("int", "bigint", "smallint", "tinyint"),
    "bigint": ("timestamp",),
    "timestamp": ("bigint",),
}


def _value_compatible(new: str, old: str) -> bool:
    if new == old or old in _VALUE_COMPATIBLE.get(new, ()):
        return True
    return new == "blob" and not _COLLECTION.match(old)  # BytesType reads any single value


def check_readd(table: TableDef, spec: ast.ColumnSpec, type_name: str) -> None:
    """Cassandra's checks (AlterTableStatement.AddColumns) for adding back a dropped column:
    its old cells stay ignored, but the new type must still read them, and the kind match."""
    dropped = table.dropped_column(spec.name)
    if dropped is None:
        return
    if not _value_compatible(type_name, dropped.type):
        raise errors.InvalidRequest(
            f"Cannot re-add previously dropped column '{spec.name}' of type {type_name}, "
            f"incompatible with previous type {dropped.type}")
    kind = "static" if spec.static else "regular"
    if dropped.kind != kind:
        raise errors.InvalidRequest(
            f"Cannot re-add previously dropped column '{spec.name}' of kind {kind.upper()}, "
            f"incompatible with previous kind {dropped.kind.upper()}")
    counter_rules.check_readd(table, spec.name)


def check_index_type(schema: Schema, table: TableDef, target: str) -> None:
    """Cassandra's refusals of CREATE INDEX by the indexed column's type (durations, non-frozen
    UDTs); a column that does not exist is ``index_target``'s to refuse."""
    m = re.match(r"^(values|keys|entries|full)\((.+)\)$", target, re.IGNORECASE)
    name = _unquoted(m.group(2) if m else target)
    column = table.column(name)
    if column is None:
        return
    t = parsed_type(schema, table.keyspace, column.type)
    if _DURATION.search(t.name):
        what = ("collections" if t.is_collection else "tuples" if isinstance(t, TupleType)
                else "UDTs" if isinstance(t, UdtType) else "")
        raise errors.InvalidRequest(
            f"Secondary indexes are not supported on {what} containing durations" if what
            else "Secondary indexes are not supported on duration columns")
    if isinstance(t, UdtType) and t.is_multicell:
        raise errors.InvalidRequest(f"Cannot create index on non-frozen UDT column {name}")


def _unquoted(name: str) -> str:
    if name.startswith('"') and name.endswith('"') and len(name) > 1:
        return name[1:-1].replace('""', '"')
    return name


def index_target(table: TableDef, target: str) -> tuple[str, str]:
    """The stored ``target`` option for CREATE INDEX's target, and the indexed column's name."""
    m = re.match(r"^(values|keys|entries|full)\((.+)\)$", target, re.IGNORECASE)
    modifier = m.group(1).lower() if m else None
    name = m.group(2) if m else target
    if name.startswith('"') and name.endswith('"') and len(name) > 1:
        name = name[1:-1].replace('""', '"')
    column = table.column(name)
    if column is None:
        raise errors.InvalidRequest(f"Column '{name}' doesn't exist")
    if column.kind == "partition_key" and len(table.partition_key) == 1:
        raise errors.InvalidRequest(
            f"Cannot create secondary index on the only partition key column {name}")
    if column.type == "counter":
        raise errors.InvalidRequest("Secondary indexes on counter columns are not supported")
    return _target_text(column, modifier), name


def _target_text(column: ColumnDef, modifier: str | None) -> str:
    """The target option, after Cassandra's checks in its order (``validateIndexTarget``)."""
    quoted = quote_if_needed(column.name)
    collection = _COLLECTION.match(column.type)
    frozen = _FROZEN_COLLECTION.match(column.type)
    if frozen and modifier != "full":
        raise errors.InvalidRequest(
            f"Cannot create {modifier or 'values'}() index on frozen column {column.name}. "
            f"Frozen collections are immutable and must be fully indexed by using the 'full("
            f"{column.name})' modifier")
    if modifier == "full":
        if not frozen:
            raise errors.InvalidRequest(
                "full() indexes can only be created on frozen collections")
        return f"full({quoted})"
    if modifier is None:
        return f"values({quoted})" if collection else quoted
    if not collection:
        raise errors.InvalidRequest(
            f"Cannot create {modifier}() index on {column.name}. Non-collection columns only "
            "support simple indexes")
    if modifier in ("keys", "entries") and collection.group(1) != "map":
        raise errors.InvalidRequest(
            f"Cannot create index on {modifier} of column {column.name} with non-map type")
    return f"{modifier}({quoted})"
