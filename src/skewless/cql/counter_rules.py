"""Cassandra's rules for statements on counter tables, with its exact messages (pure checks).

Theory of operation
-------------------
A table is a *counter table* when its regular and static columns are counters (Cassandra's
``TableMetadata.Flag.COUNTER``, set by CREATE TABLE when any column is a counter and never
changed afterwards: a counter table whose counter columns were all dropped stays one, so here
a dropped counter column counts too). The schema rules (``node.schema.ddl_columns``) keep
counter and non-counter columns apart, so every non-key column of a counter table is a counter.

Statements are checked in the order Cassandra checks them, so that a statement breaking two
rules gets the same message as from Cassandra:

1. *prepare* (``UpdateStatement.ParsedInsert/ParsedUpdate.prepareInternal``, ``Operation``,
   ``ModificationStatement.Parsed.prepare``): an INSERT on a counter table; ``SET c = v`` on a
   counter column; conditions (``IF ...``) on a counter table;
2. for a BATCH, the batch's own rules (``BatchStatement.validate()``): TTL and timestamp on the
   batch, counter and non-counter statements mixed, counters in a LOGGED batch;
3. *validate* (``ModificationStatement.validate``): USING TIMESTAMP, then USING TTL, on any
   statement (DELETE included) on a counter table.

``counter_delta`` turns the bound value of ``c = c + v`` / ``c = c - v`` into the signed delta,
with Cassandra's execution-time refusals (``Constants.Adder/Substracter``). Everything raises
``errors.InvalidRequest``; nothing here reads the clock or the storage.

``SET c = c + v`` on a non-counter column and the generic type errors (``c[k] = v`` on a
counter...) are ``cql.dml``'s, as for every other column.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Literal

from skewless import errors
from skewless.cql import ast
from skewless.cql.terms import Unset
from skewless.schema import TableDef
from skewless.storage import keys

Modification = ast.Insert | ast.Update | ast.Delete

_INT64_MIN = -(1 << 63)


@functools.lru_cache(maxsize=1024)  # distinct column type texts: far fewer in practice
def is_counter_type(type_text: str) -> bool:
    return keys.parse_type(type_text)[0] == "counter"


def is_counter_table(table: TableDef) -> bool:
    """Whether ``table`` is a counter table (see the module docstring)."""
    return any(c.kind in ("regular", "static") and is_counter_type(c.type)
               for c in table.columns) or any(is_counter_type(d.type) for d in table.dropped)


def _has_conditions(stmt: Modification) -> bool:
    if isinstance(stmt, ast.Insert):
        return stmt.if_not_exists
    return stmt.if_exists or bool(stmt.conditions)


def check_prepare(stmt: Modification, table: TableDef) -> None:
    """The rules Cassandra checks when it prepares one statement."""
    counter_table = is_counter_table(table)
    if isinstance(stmt, ast.Insert):
        if counter_table:
            raise errors.InvalidRequest(
                "INSERT statements are not allowed on counter tables, use UPDATE instead")
    elif isinstance(stmt, ast.Update):
        for a in stmt.assignments:
            col = table.column(a.column)
            if a.op == "set" and col is not None and is_counter_type(col.type):
                raise errors.InvalidRequest(
                    f"Cannot set the value of counter column {col.name} (counters can only be "
                    f"incremented/decremented, not set)")
    if counter_table and _has_conditions(stmt):
        raise errors.InvalidRequest("Conditional updates are not supported on counter tables")


def check_attributes(stmt: Modification, table: TableDef) -> None:
    """USING TIMESTAMP / USING TTL on a statement of a counter table."""
    if not is_counter_table(table):
        return
    if stmt.using.timestamp is not None:
        raise errors.InvalidRequest("Cannot provide custom timestamp for counter updates")
    if stmt.using.ttl is not None:
        raise errors.InvalidRequest("Cannot provide custom TTL for counter updates")


def check_modification(stmt: Modification, table: TableDef) -> None:
    """Every counter rule of one INSERT, UPDATE or DELETE (not in a batch), in Cassandra's
    order. A statement on a non-counter table passes (its own rules are ``cql.dml``'s)."""
    check_prepare(stmt, table)
    check_attributes(stmt, table)


def check_batch(batch: ast.Batch, tables: Sequence[TableDef]) -> None:
    """The counter rules of a BATCH; ``tables[i]`` is the table of ``batch.statements[i]``."""
    assert len(tables) == len(batch.statements)
    pairs = list(zip(batch.statements, tables, strict=True))
    for stmt, table in pairs:
        check_prepare(stmt, table)
    _check_batch_itself(batch, pairs)
    for stmt, table in pairs:
        check_attributes(stmt, table)


def _check_batch_itself(batch: ast.Batch, pairs: list[tuple[Modification, TableDef]]) -> None:
    """``BatchStatement.validate()``: its checks in its order."""
    if batch.using.ttl is not None:
        raise errors.InvalidRequest("Global TTL on the BATCH statement is not supported.")
    timestamp_set = batch.using.timestamp is not None
    if timestamp_set:
        if any(_has_conditions(s) for s, _ in pairs):
            raise errors.InvalidRequest("Cannot provide custom timestamp for conditional BATCH")
        if batch.kind == "COUNTER":
            raise errors.InvalidRequest("Cannot provide custom timestamp for counter BATCH")
    has_counters = has_non_counters = False
    for stmt, table in pairs:
        if timestamp_set and stmt.using.timestamp is not None:
            raise errors.InvalidRequest(
                "Timestamp must be set either on BATCH or individual statements")
        if is_counter_table(table):
            has_counters = True
        else:
            has_non_counters = True
    if timestamp_set and has_counters:
        raise errors.InvalidRequest(
            "Cannot provide custom timestamp for a BATCH containing counters")
    if batch.kind == "COUNTER" and has_non_counters:
        raise errors.InvalidRequest("Cannot include non-counter statement in a counter batch")
    if has_counters and has_non_counters:
        raise errors.InvalidRequest(
            "Counter and non-counter mutations cannot exist in the same batch")
    if batch.kind == "LOGGED" and has_counters:
        raise errors.InvalidRequest("Cannot include a counter statement in a logged batch")


def counter_delta(op: Literal["add", "sub"], value: bytes | None | Unset) -> int | None:
    """The signed delta of ``c = c + v`` (``add``) or ``c = c - v`` (``sub``) for the bound
    value ``v`` (a bigint's 8 bytes), or None for an unset value (nothing to write)."""
    if isinstance(value, Unset):
        return None
    if value is None:
        raise errors.InvalidRequest("Invalid null value for counter increment")
    if not value:  # Cassandra fails reading it with a server error; we answer plainly
        raise errors.InvalidRequest("Invalid empty value for counter increment")
    if len(value) != 8:  # the counter type's own check (cql.types_base), if it was skipped
        raise errors.InvalidRequest(f"Expected 8 or 0 byte long ({len(value)})")
    (n,) = struct.unpack(">q", value)
    if op == "add":
        return int(n)
    if n == _INT64_MIN:
        raise errors.InvalidRequest(f"The negation of {n} overflows supported counter precision "
                                    f"(signed 8 bytes integer)")
    return -int(n)


# --- schema ------------------------------------------------------------------------------------
def check_added_columns(before: TableDef, after: TableDef) -> None:
    """``ALTER TABLE ... ADD``: Cassandra validates the altered table against the COUNTER flag
    the table already had (``TableMetadata.validate``, a ConfigurationException): a counter
    table takes only counters, any other table no counter (not even one without regular
    columns). Static columns are checked first, then regular ones, each by name."""
    counter_table = is_counter_table(before)
    where = f"{after.keyspace}.{after.name}"
    for kind in ("static", "regular"):
        for c in sorted((c for c in after.columns if c.kind == kind), key=lambda c: c.name):
            if is_counter_type(c.type) and not counter_table:
                raise errors.ConfigurationException(
                    f'{where}: Cannot have a counter column ("{c.name}") in a non counter table')
            if counter_table and not is_counter_type(c.type):
                raise errors.ConfigurationException(
                    f'{where}: Cannot have a non counter column ("{c.name}") in a counter table')


def check_readd(table: TableDef, name: str) -> None:
    """A dropped column cannot be added back to a counter table (CASSANDRA-7831); called for a
    column ``table`` once dropped, after the type and kind checks."""
    if is_counter_table(table):
        raise errors.InvalidRequest(f"Cannot re-add previously dropped counter column {name}")
