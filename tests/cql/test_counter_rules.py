"""Cassandra's statement rules for counter tables (cql.counter_rules), message by message, and
their order; through ``cql.dml`` too, where valid counter statements still answer "not
supported" until counter writes are wired into the node."""

from __future__ import annotations

import struct
import uuid

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.counter_rules import (
    check_batch,
    check_modification,
    counter_delta,
    is_counter_table,
)
from skewless.cql.dml import batch_mutations, build_mutations
from skewless.cql.parser import parse
from skewless.cql.prepare_checks import check_at_prepare
from skewless.cql.terms import UNSET, EvalContext
from skewless.schema import ColumnDef, ColumnKind, DroppedColumn, Schema, TableDef

KS = "ks"


def table(name: str, *cols: ColumnDef, dropped: tuple[DroppedColumn, ...] = ()) -> TableDef:
    return TableDef(KS, name, uuid.uuid5(uuid.NAMESPACE_DNS, name), cols, (), dropped)


def col(name: str, t: str, kind: ColumnKind = "regular") -> ColumnDef:
    return ColumnDef(name, t, kind, 0 if kind in ("partition_key", "clustering") else -1)


CTR = table("ctr", col("k", "int", "partition_key"), col("c", "int", "clustering"),
            col("n", "counter"), col("m", "counter"), col("s", "counter", "static"))
PLAIN = table("plain", col("k", "int", "partition_key"), col("v", "int"))
SCHEMA = Schema(tables=(CTR, PLAIN))


def stmt_of(q: str) -> ast.Insert | ast.Update | ast.Delete:
    s = parse(q).statement
    assert isinstance(s, ast.Insert | ast.Update | ast.Delete)
    return s


def batch_of(q: str) -> ast.Batch:
    b = parse(q).statement
    assert isinstance(b, ast.Batch)
    return b


def tables_of(b: ast.Batch) -> list[TableDef]:
    return [CTR if s.table == "ctr" else PLAIN for s in b.statements]


def refused(q: str, msg: str) -> None:
    parsed = parse(q).statement
    with pytest.raises(errors.InvalidRequest) as e:
        if isinstance(parsed, ast.Batch):
            check_batch(parsed, tables_of(parsed))
        else:
            check_modification(stmt_of(q), CTR if " ctr " in f" {q} " else PLAIN)
    assert str(e.value) == msg


def test_counter_tables() -> None:
    assert is_counter_table(CTR) and not is_counter_table(PLAIN)
    only_key = table("o", col("k", "int", "partition_key"))
    assert not is_counter_table(only_key)
    # a counter table stays one when its counters are dropped (Cassandra's COUNTER flag)
    emptied = table("e", col("k", "int", "partition_key"),
                    dropped=(DroppedColumn("n", "counter", "regular", 5),))
    assert is_counter_table(emptied)


@pytest.mark.parametrize("q,msg", [
    ("INSERT INTO ctr (k, c, n) VALUES (1, 1, 1)",
     "INSERT statements are not allowed on counter tables, use UPDATE instead"),
    ("INSERT INTO ctr JSON '{\"k\": 1, \"c\": 1}'",
     "INSERT statements are not allowed on counter tables, use UPDATE instead"),
    ("INSERT INTO ctr (k, c, n) VALUES (1, 1, 1) IF NOT EXISTS",  # INSERT is refused first
     "INSERT statements are not allowed on counter tables, use UPDATE instead"),
    ("UPDATE ctr SET n = 5 WHERE k = 1 AND c = 1",
     "Cannot set the value of counter column n (counters can only be incremented/decremented, "
     "not set)"),
    ("UPDATE ctr SET n = n + 1, m = 2 WHERE k = 1 AND c = 1",
     "Cannot set the value of counter column m (counters can only be incremented/decremented, "
     "not set)"),
    ("UPDATE ctr SET n = n + 1 WHERE k = 1 AND c = 1 IF n = 1",
     "Conditional updates are not supported on counter tables"),
    ("UPDATE ctr SET n = n + 1 WHERE k = 1 AND c = 1 IF EXISTS",
     "Conditional updates are not supported on counter tables"),
    ("DELETE FROM ctr WHERE k = 1 AND c = 1 IF EXISTS",
     "Conditional updates are not supported on counter tables"),
    ("UPDATE ctr USING TIMESTAMP 5 SET n = n + 1 WHERE k = 1 AND c = 1",
     "Cannot provide custom timestamp for counter updates"),
    ("UPDATE ctr USING TTL 5 SET n = n + 1 WHERE k = 1 AND c = 1",
     "Cannot provide custom TTL for counter updates"),
    ("UPDATE ctr USING TTL 5 AND TIMESTAMP 5 SET n = n + 1 WHERE k = 1 AND c = 1",
     "Cannot provide custom timestamp for counter updates"),  # timestamp is checked first
    ("DELETE FROM ctr USING TIMESTAMP 5 WHERE k = 1",
     "Cannot provide custom timestamp for counter updates"),
    ("UPDATE ctr USING TIMESTAMP 5 SET n = 5 WHERE k = 1 AND c = 1",  # prepare before validate
     "Cannot set the value of counter column n (counters can only be incremented/decremented, "
     "not set)"),
])
def test_statement_refusals(q: str, msg: str) -> None:
    refused(q, msg)


@pytest.mark.parametrize("q", [
    "UPDATE ctr SET n = n + 1, m = m - ? WHERE k = 1 AND c = 1",
    "UPDATE ctr SET s = s + 1 WHERE k = 1",
    "DELETE n FROM ctr WHERE k = 1 AND c = 1",
    "DELETE FROM ctr WHERE k = 1",
    "UPDATE plain USING TTL 5 AND TIMESTAMP 3 SET v = 1 WHERE k = 1",
    "INSERT INTO plain (k, v) VALUES (1, 1) USING TIMESTAMP 4",
])
def test_statements_that_pass(q: str) -> None:
    check_modification(stmt_of(q), CTR if " ctr " in q else PLAIN)


U_CTR = "UPDATE ctr SET n = n + 1 WHERE k = 1 AND c = 1"
U_PLAIN = "UPDATE plain SET v = 1 WHERE k = 1"


@pytest.mark.parametrize("q,msg", [
    (f"BEGIN BATCH {U_CTR}; APPLY BATCH", "Cannot include a counter statement in a logged batch"),
    (f"BEGIN COUNTER BATCH {U_CTR}; {U_PLAIN}; APPLY BATCH",
     "Cannot include non-counter statement in a counter batch"),
    (f"BEGIN COUNTER BATCH {U_PLAIN}; APPLY BATCH",
     "Cannot include non-counter statement in a counter batch"),
    (f"BEGIN UNLOGGED BATCH {U_CTR}; {U_PLAIN}; APPLY BATCH",
     "Counter and non-counter mutations cannot exist in the same batch"),
    (f"BEGIN BATCH {U_CTR}; {U_PLAIN}; APPLY BATCH",
     "Counter and non-counter mutations cannot exist in the same batch"),
    (f"BEGIN COUNTER BATCH USING TIMESTAMP 5 {U_CTR}; APPLY BATCH",
     "Cannot provide custom timestamp for counter BATCH"),
    (f"BEGIN UNLOGGED BATCH USING TIMESTAMP 5 {U_CTR}; APPLY BATCH",
     "Cannot provide custom timestamp for a BATCH containing counters"),
    (f"BEGIN COUNTER BATCH USING TTL 5 {U_CTR}; APPLY BATCH",
     "Global TTL on the BATCH statement is not supported."),
    ("BEGIN COUNTER BATCH UPDATE ctr USING TIMESTAMP 3 SET n = n + 1 WHERE k = 1 AND c = 1; "
     "APPLY BATCH", "Cannot provide custom timestamp for counter updates"),
    ("BEGIN COUNTER BATCH UPDATE ctr USING TTL 3 SET n = n + 1 WHERE k = 1 AND c = 1; "
     "APPLY BATCH", "Cannot provide custom TTL for counter updates"),
    # a statement's own prepare-time refusal comes before the batch's rules
    ("BEGIN BATCH INSERT INTO ctr (k, c, n) VALUES (1, 1, 1); APPLY BATCH",
     "INSERT statements are not allowed on counter tables, use UPDATE instead"),
])
def test_batch_refusals(q: str, msg: str) -> None:
    refused(q, msg)


def test_a_counter_batch_of_counter_statements_passes() -> None:
    b = batch_of(f"BEGIN COUNTER BATCH {U_CTR}; {U_CTR}; APPLY BATCH")
    check_batch(b, tables_of(b))
    b = batch_of(f"BEGIN UNLOGGED BATCH {U_CTR}; APPLY BATCH")
    check_batch(b, tables_of(b))


def q64(n: int) -> bytes:
    return struct.pack(">q", n)


def test_counter_delta() -> None:
    assert counter_delta("add", q64(5)) == 5
    assert counter_delta("sub", q64(5)) == -5
    assert counter_delta("add", q64(-(1 << 63))) == -(1 << 63)
    assert counter_delta("add", UNSET) is None
    for op in ("add", "sub"):
        with pytest.raises(errors.InvalidRequest, match="^Invalid null value for counter "
                                                        "increment$"):
            counter_delta(op, None)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidRequest) as e:
        counter_delta("sub", q64(-(1 << 63)))
    assert str(e.value) == ("The negation of -9223372036854775808 overflows supported counter "
                            "precision (signed 8 bytes integer)")
    with pytest.raises(errors.InvalidRequest, match="empty"):
        counter_delta("add", b"")


# --- through cql.dml --------------------------------------------------------------------------
def ctx() -> EvalContext:
    return EvalContext(1_700_000_000_000_000, lambda n: bytes(n), [], KS)


def dml_error(q: str) -> str:
    parsed = parse(q).statement
    with pytest.raises(errors.InvalidRequest) as e:
        if isinstance(parsed, ast.Batch):
            batch_mutations(parsed, SCHEMA, ctx(), 1, 1)
        else:
            s = stmt_of(q)
            build_mutations(s, CTR if s.table == "ctr" else PLAIN, SCHEMA, ctx(), 1, 1)
    return str(e.value)


def test_dml_answers_cassandras_messages_and_builds_delta_cells() -> None:
    assert dml_error("INSERT INTO ctr (k, c, n) VALUES (1, 1, 1)").startswith(
        "INSERT statements are not allowed on counter tables")
    assert dml_error(f"BEGIN BATCH {U_CTR}; APPLY BATCH") == (
        "Cannot include a counter statement in a logged batch")
    assert dml_error("UPDATE plain SET v = v + 1 WHERE k = 1") == (
        "Invalid operation (v = v + ?) for non counter column v")
    # c = c + v: a delta cell (node.counter_write makes increments of it); two add up
    (u,) = build_mutations(stmt_of("UPDATE ctr SET n = n + 5, n = n - 7 WHERE k = 1 AND c = 1"),
                           CTR, SCHEMA, ctx(), 1, 1)
    (cell,) = u.rows[0].cells
    assert cell.column == "n" and not cell.cell.counter
    assert struct.unpack(">q", cell.cell.value or b"") == (-2,)


def test_prepare_refuses_what_every_execute_would() -> None:
    with pytest.raises(errors.InvalidRequest, match="^INSERT statements are not allowed"):
        check_at_prepare(stmt_of("INSERT INTO ctr (k, c, n) VALUES (?, ?, ?)"), CTR, SCHEMA,
                         (), 1)
    with pytest.raises(errors.InvalidRequest, match="^Cannot provide custom TTL for counter"):
        check_at_prepare(stmt_of("UPDATE ctr USING TTL ? SET n = n + 1 WHERE k = 1 AND c = 1"),
                         CTR, SCHEMA, (), 1)
    check_at_prepare(stmt_of(U_CTR), CTR, SCHEMA, (), 1)  # valid: left to EXECUTE
