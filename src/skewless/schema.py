"""The schema: keyspaces, tables, columns, user types, indexes.

Schema objects are immutable values. A ``Schema`` is replaced whole on every DDL; its
``version`` is a uuid derived from its content (a hash), so nodes holding the same schema report
the same ``schema_version`` without any coordination, which the drivers' schema agreement needs.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from typing import Literal

ColumnKind = Literal["partition_key", "clustering", "regular", "static"]
SYSTEM_KEYSPACES = (
    "system", "system_schema", "system_auth", "system_distributed", "system_traces",
    "system_virtual_schema",
)


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: str  # normalised CQL type text, as in system_schema.columns.type
    kind: ColumnKind
    position: int  # index within partition key / clustering; -1 for regular and static
    clustering_order: Literal["asc", "desc", "none"] = "none"


@dataclass(frozen=True, slots=True)
class DroppedColumn:
    """A column dropped from its table (``system_schema.dropped_columns``): every cell of a
    column of that name written at or before ``dropped_us`` is ignored from then on, also once
    a column of the same name is added back (Cassandra's ``TableMetadata.droppedColumns``)."""

    name: str
    type: str
    kind: ColumnKind  # regular or static
    dropped_us: int


@dataclass(frozen=True, slots=True)
class TableDef:
    keyspace: str
    name: str
    id: uuid.UUID
    columns: tuple[ColumnDef, ...]  # partition key, clustering (by position), then the rest by name
    options: tuple[tuple[str, object], ...] = ()  # table options (comment, gc_grace_seconds, ...)
    dropped: tuple[DroppedColumn, ...] = ()  # by name, at most one per name (the latest drop)

    def column(self, name: str) -> ColumnDef | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    @property
    def partition_key(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if c.kind == "partition_key")

    @property
    def clustering(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if c.kind == "clustering")

    @property
    def regular(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if c.kind in ("regular", "static"))

    def dropped_column(self, name: str) -> DroppedColumn | None:
        return next((d for d in self.dropped if d.name == name), None)

    def dropped_times(self) -> dict[str, int]:
        """Column name -> the time (us) at or before which its cells are ignored."""
        return {d.name: d.dropped_us for d in self.dropped}

    def option(self, name: str, default: object = None) -> object:
        for k, v in self.options:
            if k == name:
                return v
        return default

    @property
    def table_key(self) -> str:
        """The storage identity of the table: its id as 32 hex digits."""
        return self.id.hex


@dataclass(frozen=True, slots=True)
class UserType:
    keyspace: str
    name: str
    field_names: tuple[str, ...]
    field_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexDef:
    keyspace: str
    table: str
    name: str
    kind: Literal["COMPOSITES", "KEYS", "CUSTOM"]
    options: tuple[tuple[str, str], ...]  # must include ('target', column)


@dataclass(frozen=True, slots=True)
class KeyspaceDef:
    name: str
    replication: tuple[tuple[str, str], ...]  # includes ('class', full class name)
    durable_writes: bool = True

    def replication_map(self) -> dict[str, str]:
        return dict(self.replication)


@dataclass(frozen=True, slots=True)
class Schema:
    keyspaces: tuple[KeyspaceDef, ...] = ()
    tables: tuple[TableDef, ...] = ()
    types: tuple[UserType, ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    version: uuid.UUID = field(default=uuid.UUID(int=0))

    def keyspace(self, name: str) -> KeyspaceDef | None:
        for k in self.keyspaces:
            if k.name == name:
                return k
        return None

    def table(self, keyspace: str, name: str) -> TableDef | None:
        for t in self.tables:
            if t.keyspace == keyspace and t.name == name:
                return t
        return None

    def table_by_key(self, table_key: str) -> TableDef | None:
        for t in self.tables:
            if t.table_key == table_key:
                return t
        return None

    def user_type(self, keyspace: str, name: str) -> UserType | None:
        for t in self.types:
            if t.keyspace == keyspace and t.name == name:
                return t
        return None

    def with_version(self) -> Schema:
        """This schema with its content-derived version filled in."""
        h = hashlib.md5(repr((self.keyspaces, self.tables, self.types, self.indexes)).encode())
        return replace(self, version=uuid.UUID(bytes=h.digest(), version=3))


def dropped_by_table(schema: Schema) -> dict[str, dict[str, int]]:
    """Table id -> its dropped columns' drop times (what storage skips), for tables with any."""
    return {t.table_key: t.dropped_times() for t in schema.tables if t.dropped}
