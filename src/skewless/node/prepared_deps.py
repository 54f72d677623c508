"""What a prepared statement was prepared against, and whether a later schema still matches it.

Theory of operation
-------------------
A PREPARED answer carries metadata computed from the schema of the moment: the bind markers'
column specs and, for a SELECT, the result columns (which the drivers then use to decode rows
sent without metadata, protocol v4's skip_metadata). When an ALTER TABLE (or DROP and re-CREATE,
or an ALTER TYPE of the keyspace) changes that schema, Cassandra evicts the table's prepared
statements (``QueryProcessor``'s schema-change listener), so the next EXECUTE answers
UNPREPARED (0x2500), the driver prepares again and gets the new metadata (``SELECT *`` then
returns the added columns).

Here a prepared statement records a ``Dependency``: the table it reads or writes and a
fingerprint of what its metadata is derived from (the table's id and columns, the keyspace's
user types). Eviction is lazy: EXECUTE and BATCH compare the recorded fingerprint with the
node's current schema and treat a mismatch as an unknown id. That is the same answer Cassandra
gives, needs no hook on every path a schema can arrive by (DDL here, schema pulls from peers,
restart), and table options (comment, compaction, ...) that change no metadata do not evict.
A protocol v5 ``result_metadata_id`` can hash the same fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass

from skewless.schema import Schema


@dataclass(frozen=True, slots=True)
class Dependency:
    keyspace: str
    table: str
    fingerprint: object


def fingerprint(schema: Schema, keyspace: str, table: str) -> object:
    """What the metadata of statements on ``keyspace.table`` is derived from (None: no table)."""
    t = schema.table(keyspace, table)
    if t is None:
        return None
    types = tuple(u for u in schema.types if u.keyspace == keyspace)
    return (t.id, t.columns, types)


def dependency(schema: Schema, keyspace: str, table: str) -> Dependency:
    return Dependency(keyspace, table, fingerprint(schema, keyspace, table))


def still_valid(dep: Dependency | None, schema: Schema) -> bool:
    """False once the schema changed what the statement's metadata was computed from."""
    return dep is None or fingerprint(schema, dep.keyspace, dep.table) == dep.fingerprint
