"""Conditional statements and batches refused with Cassandra's exact messages (texts from
ColumnCondition, ModificationStatement, DeleteStatement, BatchStatement and CQL3CasRequest)."""

from __future__ import annotations

import pytest
from cas_support import i32, plan

from skewless import errors
from skewless.cql.parser import parse
from skewless.cql.terms import UNSET, Value

CASES: list[tuple[str, tuple[Value, ...], str]] = [
    # ModificationStatement
    ("UPDATE kv USING TIMESTAMP 5 SET v = 1 WHERE k = 0 IF v = 2", (),
     "Cannot provide custom timestamp for conditional updates"),
    ("INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS USING TIMESTAMP 5", (),
     "Cannot provide custom timestamp for conditional updates"),
    ("DELETE FROM kv USING TIMESTAMP 5 WHERE k = 0 IF EXISTS", (),
     "Cannot provide custom timestamp for conditional updates"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF nope = 2", (), "Undefined column name nope"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF k = 2", (),
     "PRIMARY KEY column 'k' cannot have IF conditions"),
    ("UPDATE st SET value = 1 WHERE pk = 0 AND ck = 1 IF ck = 2", (),
     "PRIMARY KEY column 'ck' cannot have IF conditions"),
    ("UPDATE ct SET c = c + 1 WHERE k = 0 IF c = 1", (),
     "Conditions on counters are not supported"),
    ("UPDATE ct SET c = c + 1 WHERE k = 0 IF EXISTS", (),
     "Conditional updates are not supported on counter tables"),
    ("UPDATE kv SET v = 1 WHERE k IN (0, 1) IF v = 2", (),
     "IN on the partition key is not supported with conditional updates"),
    ("DELETE FROM kv WHERE k IN (0) IF EXISTS", (),
     "IN on the partition key is not supported with conditional deletions"),
    ("UPDATE st SET value = 1 WHERE pk = 0 AND ck IN (1, 2) IF value = 2", (),
     "IN on the clustering key columns is not supported with conditional updates"),
    ("DELETE FROM st WHERE pk = 0 AND ck IN (1) IF value = 2", (),
     "IN on the clustering key columns is not supported with conditional deletions"),
    ("INSERT INTO kv (k, v) VALUES (?, 1) IF NOT EXISTS", (None,),
     "Invalid null value in condition for column k"),
    ("INSERT INTO kv (k, v) VALUES (?, 1) IF NOT EXISTS", (UNSET,),
     "Invalid unset value for column k"),
    ("INSERT INTO kv (k, v) VALUES (0) IF NOT EXISTS", (), "Unmatched column names/values"),
    # Cassandra's InsertUpdateIfConditionStaticsTest
    ("DELETE static_col FROM st WHERE ck = 1 IF static_col = 1", (),
     "Some partition key parts are missing: pk"),
    ("DELETE static_col FROM st WHERE pk = 1 AND ck = 1 IF static_col = 1", (),
     "Invalid restrictions on clustering columns since the DELETE statement modifies only "
     "static columns"),
    ("DELETE static_col, value FROM st WHERE pk = 1 IF static_col = 1", (),
     "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order "
     "to delete non static columns"),
    ("DELETE static_col FROM st WHERE pk = 1 IF value = 2 AND static_col = 1", (),
     "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order "
     "to use IF condition on non static columns"),
    # a whole-partition or range deletion counts as deleting regular columns (the refusal
    # Cassandra 4.1/5.0 gives `DELETE FROM t WHERE pk = ? IF EXISTS`, CASSANDRA-20163)
    ("DELETE FROM st WHERE pk = 1 IF EXISTS", (),
     "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order "
     "to delete non static columns"),
    ("DELETE FROM st WHERE pk = 1 IF static_col = 1", (),
     "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order "
     "to delete non static columns"),
    ("DELETE FROM st WHERE pk = 1 AND ck > 1 IF EXISTS", (),
     "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order "
     "to delete non static columns"),
    ("UPDATE st SET static_col = 3 WHERE ck = 1 IF static_col = 1", (),
     "Some partition key parts are missing: pk"),
    ("UPDATE st SET static_col = 3 WHERE pk = 1 AND ck = 1 IF static_col = 1", (),
     "Invalid restrictions on clustering columns since the UPDATE statement modifies only "
     "static columns"),
    ("UPDATE st SET static_col = 3, value = 1 WHERE pk = 1 IF static_col = 2", (),
     "Some clustering keys are missing: ck"),
    ("UPDATE st SET static_col = 3 WHERE pk = 1 IF value = 4 AND static_col = 2", (),
     "Some clustering keys are missing: ck"),
    # ColumnCondition
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v[0] = 1", (),
     "Invalid element access syntax for non-collection column v"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF s['a'] = 'b'", (),
     "Invalid element access syntax for set column s"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF u.c = 1", (), "Unknown field c for column u"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF m.a = 1", (),
     "Invalid field selection: m of type map<text, int> is not a user type"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF l CONTAINS KEY 1", (),
     "Cannot use CONTAINS KEY on non-map column l"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v CONTAINS 1", (),
     "Cannot use CONTAINS on non-collection column v"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF d < 1h", (),
     "Slice conditions ( < ) are not supported on durations"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF ld > [1h]", (),
     "Slice conditions are not supported on collections containing durations"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v < null", (),
     'Invalid comparison with null for operator "<"'),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v >= ?", (None,),
     'Invalid comparison with null for operator ">="'),
    ("UPDATE co SET l = [1] WHERE k = 0 IF m['a'] > null", (),
     'Invalid comparison with null for operator ">"'),
    ("UPDATE co SET l = [1] WHERE k = 0 IF s CONTAINS null", (),
     'Invalid comparison with null for operator "CONTAINS"'),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v IN ?", (None,), "Invalid null list in IN condition"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v = ?", (UNSET,), "Invalid 'unset' value in condition"),
    ("UPDATE kv SET v = 1 WHERE k = 0 IF v IN ?", (UNSET,), "Invalid 'unset' value in condition"),
    ("UPDATE co SET l = [1] WHERE k = 0 IF m[?] = 1", (None,),
     "Invalid null value for map element access"),
    ("UPDATE co SET s = {'a'} WHERE k = 0 IF l[?] = 1", (None,),
     "Invalid null value for list element access"),
    ("UPDATE co SET s = {'a'} WHERE k = 0 IF l[?] = 1", (i32(-1),),
     "Invalid negative list index -1"),
    # BatchStatement
    ("BEGIN BATCH USING TIMESTAMP 5 UPDATE kv SET v = 1 WHERE k = 0 IF v = 2; APPLY BATCH", (),
     "Cannot provide custom timestamp for conditional BATCH"),
    ("BEGIN BATCH UPDATE kv USING TIMESTAMP 5 SET v = 1 WHERE k = 0 IF v = 2; APPLY BATCH", (),
     "Cannot provide custom timestamp for conditional updates"),
    ("BEGIN BATCH UPDATE kv SET v = 1 WHERE k = 0 IF v = 2; "
     "UPDATE st SET value = 1 WHERE pk = 0 AND ck = 0; APPLY BATCH", (),
     "Batch with conditions cannot span multiple tables"),
    ("BEGIN BATCH UPDATE kv SET v = 1 WHERE k = 0 IF v = 2; "
     "UPDATE kv SET v = 1 WHERE k = 1; APPLY BATCH", (),
     "Batch with conditions cannot span multiple partitions"),
    ("BEGIN BATCH UPDATE kv SET v = 1 WHERE k = 0 IF v = 2; "
     "UPDATE kv SET v = 1 WHERE k IN (0, 1); APPLY BATCH", (),
     "Batch with conditions cannot span multiple partitions (you cannot use IN on the "
     "partition key)"),
    ("BEGIN BATCH UPDATE st SET value = 1 WHERE pk = 0 AND ck = 0 IF value = 2; "
     "UPDATE st SET value = 1 WHERE pk = 0 AND ck IN (1, 2); APPLY BATCH", (),
     "IN on the clustering key columns is not supported with conditional updates"),
    # CQL3CasRequest
    ("BEGIN BATCH INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS; "
     "UPDATE kv SET v = 2 WHERE k = 0 IF v = 1; APPLY BATCH", (),
     "Cannot mix IF conditions and IF NOT EXISTS for the same row"),
    ("BEGIN BATCH UPDATE kv SET v = 2 WHERE k = 0 IF v = 1; "
     "INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS; APPLY BATCH", (),
     "Cannot mix IF conditions and IF NOT EXISTS for the same row"),
    ("BEGIN BATCH UPDATE kv SET v = 2 WHERE k = 0 IF v = 1; "
     "DELETE FROM kv WHERE k = 0 IF EXISTS; APPLY BATCH", (),
     "Cannot mix IF conditions and IF EXISTS for the same row"),
    ("BEGIN BATCH INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS; "
     "DELETE FROM kv WHERE k = 0 IF EXISTS; APPLY BATCH", (),
     "Cannot mix IF EXISTS and IF NOT EXISTS conditions for the same row"),
    ("BEGIN COUNTER BATCH UPDATE kv SET v = 1 WHERE k = 0 IF v = 2; APPLY BATCH", (),
     "Cannot include non-counter statement in a counter batch"),
]


@pytest.mark.parametrize(("q", "values", "message"), CASES, ids=[c[2][:60] for c in CASES])
def test_refused_with_cassandras_message(q: str, values: tuple[Value, ...], message: str
                                         ) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        plan(q, *values)
    assert e.value.message == message


@pytest.mark.parametrize("q", [
    "UPDATE kv SET v = 1 WHERE k = 0 IF v IS NOT NULL",
    "UPDATE kv SET v = 1 WHERE k = 0 IF v LIKE 'a%'",
    "UPDATE kv SET v = 1 WHERE k = 0 IF (v, w) = (1, 'a')",
    "UPDATE kv SET v = 1 WHERE k = 0 IF token(v) = 1",
    "SELECT * FROM co WHERE u.a = 1",
])
def test_forms_outside_cassandras_condition_grammar_are_syntax_errors(q: str) -> None:
    with pytest.raises(errors.SyntaxException):
        parse(q)


def test_mixing_the_same_exists_condition_on_one_row_is_allowed() -> None:
    """CASSANDRA-12867: two statements of a batch with IF NOT EXISTS on one row."""
    pl = plan("BEGIN BATCH INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS; "
              "INSERT INTO kv (k, w) VALUES (0, 'x') IF NOT EXISTS; APPLY BATCH")
    assert [c.kind for c in pl.checks] == ["not_exists"]


def test_static_only_delete_with_a_regular_condition_names_its_row() -> None:
    """Allowed by Cassandra: the condition is on the row, the write on the static row."""
    pl = plan("DELETE static_col FROM st WHERE pk = 1 AND ck = 5 IF value = 10")
    assert [(c.kind, c.clustering is None) for c in pl.checks] == [("columns", False)]
    m = pl.mutation(100, 1_700_000_000)
    assert m.rows == () and m.static_row is not None
