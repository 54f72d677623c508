"""Cassandra's guardrails on IN restrictions: ``partition_keys_in_select`` (partition keys one
SELECT reads) and ``in_select_cartesian_product`` (clustering values its IN lists combine to).

A SELECT with 100,000 keys in its IN list makes the coordinator read 100,000 partitions at
once: the node spends seconds on one request and every other client meets Overloaded. So both
fail thresholds are on here by default (``limits.partition_keys_in_select_fail_threshold``,
``limits.in_select_cartesian_product_fail_threshold``; Cassandra ships them off) and refuse such
a SELECT with Cassandra's guardrail messages (select.plan_select; UPDATE and DELETE are not
bounded by them). ``check_literal_lists`` runs before any value of the list is evaluated (a
literal list's length is known from the statement), the others once the bound or combined
values are known. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless import errors, limits
from skewless.cql import ast
from skewless.schema import TableDef

__all__ = ["check_bound_lists", "check_cartesian", "check_literal_lists", "check_partition_keys"]


def check_partition_keys(table: TableDef, n: int) -> None:
    threshold = limits.partition_keys_in_select_fail_threshold
    if n > threshold:
        raise errors.InvalidRequest(
            f"Guardrail partition_keys_in_select violated: Aborting query with partition keys "
            f"in IN clause on table {table.keyspace}.{table.name}, number of partition keys {n} "
            f"exceeds fail threshold of {threshold}.")


def check_cartesian(what: str, n: int) -> None:
    threshold = limits.in_select_cartesian_product_fail_threshold
    if n > threshold:
        raise errors.InvalidRequest(
            f"Guardrail in_select_cartesian_product violated: Aborting query because the "
            f"cartesian product of the IN restrictions on {what} produces {n} values, this "
            f"exceeds fail threshold of {threshold}.")


def check_key_column(table: TableDef, kind: str, n: int) -> None:
    """``n`` values in one key column's IN list (a lower bound of the product)."""
    if kind == "partition_key":
        check_partition_keys(table, n)
    elif kind == "clustering":
        check_cartesian("clustering keys", n)


def check_literal_lists(relations: Sequence[ast.Relation], table: TableDef) -> None:
    """Refuse a literal IN list on a key column longer than its threshold, unevaluated."""
    for rel in relations:
        if rel.op == "IN" and isinstance(rel.lhs, str) and isinstance(rel.rhs, tuple):
            col = table.column(rel.lhs)
            if col is not None:
                check_key_column(table, col.kind, len(rel.rhs))


def check_bound_lists(relations: Sequence[ast.Relation], table: TableDef,
                      values: Sequence[object]) -> None:
    """Refuse ``k IN ?`` bound to a list longer than its threshold, from the list's count (its
    first [int]) before its values are decoded (duplicates counted: the count is all there is)."""
    for rel in relations:
        if rel.op == "IN" and isinstance(rel.lhs, str) and isinstance(rel.rhs, ast.BindMarker) \
                and rel.rhs.index < len(values):
            v = values[rel.rhs.index]
            col = table.column(rel.lhs)
            if isinstance(v, bytes) and len(v) >= 4 and col is not None:
                check_key_column(table, col.kind, int.from_bytes(v[:4], "big", signed=True))

