"""Results of executing a statement, independent of the wire encoding (cql/protocol.py encodes).

``RowsResult`` values are already serialized CQL cells (bytes, or None for null), in the order of
``columns``. Column types are normalised CQL type text (see cql/ast.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class RowsResult:
    columns: tuple[ColumnSpec, ...]
    rows: tuple[tuple[bytes | None, ...], ...]
    paging_state: bytes | None = None  # set when more pages follow


@dataclass(frozen=True, slots=True)
class SchemaChange:
    change_type: str  # CREATED | UPDATED | DROPPED
    target: str  # KEYSPACE | TABLE | TYPE | FUNCTION | AGGREGATE
    keyspace: str
    name: str | None = None
    arg_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetKeyspace:
    keyspace: str


@dataclass(frozen=True, slots=True)
class Void:
    pass


Result = RowsResult | SchemaChange | SetKeyspace | Void
