"""CAS result sets through the stock driver: the ROWS frame the project's encoder sends, decoded
by cassandra.protocol, then ``ResultSet.was_applied`` and CQLEngine's ``check_applied`` (which
raises LWTException) exactly as applications call them."""

from __future__ import annotations

import pytest
from cas_support import Replica, driver_decode, driver_result_set, plan
from cassandra import cqltypes
from cassandra.cqlengine.query import LWTException, check_applied

from skewless.cql.cas_results import CasOutcome, result_set


def test_success_is_one_boolean_column_in_the_statements_table() -> None:
    r = Replica()
    _, res = r.cas("INSERT INTO kv (k, v) VALUES (1, 2) IF NOT EXISTS")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]"]
    assert [c[:2] for c in msg.column_metadata] == [("ks", "kv")]
    assert msg.column_types == [cqltypes.BooleanType]
    assert list(msg.parsed_rows) == [(True,)]
    rs = driver_result_set(res)
    assert rs.was_applied is True
    check_applied(rs)  # no exception


def test_failure_carries_the_current_row_to_was_applied_and_lwtexception() -> None:
    r = Replica()
    r.execute("INSERT INTO kv (k, v, w) VALUES (1, 2, 'x')")
    _, res = r.cas("INSERT INTO kv (k, v) VALUES (1, 3) IF NOT EXISTS")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]", "k", "lock", "v", "w"]
    assert all(c[:2] == ("ks", "kv") for c in msg.column_metadata)
    rs = driver_result_set(res)
    assert rs.was_applied is False
    with pytest.raises(LWTException) as e:
        check_applied(driver_result_set(res))
    existing = e.value.existing
    assert existing[0] is False and (existing.k, existing.v, existing.w) == (1, 2, "x")


def test_failure_of_a_column_condition_names_those_columns() -> None:
    r = Replica()
    r.execute("INSERT INTO kv (k, v, w) VALUES (1, 2, 'x')")
    _, res = r.cas("UPDATE kv SET v = 5 WHERE k = 1 IF w = 'y' AND v = 2")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]", "w", "v"]
    assert list(msg.parsed_rows) == [(False, "x", 2)]
    assert driver_result_set(res).was_applied is False


def test_failure_on_a_missing_row_is_applied_alone() -> None:
    _, res = Replica().cas("UPDATE kv SET v = 5 WHERE k = 1 IF v = 2")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]"] and list(msg.parsed_rows) == [(False,)]
    rs = driver_result_set(res)
    assert rs.was_applied is False
    with pytest.raises(LWTException) as e:
        check_applied(driver_result_set(res))
    assert tuple(e.value.existing) == (False,)


def test_batch_failure_rows_start_with_the_primary_key_and_was_applied_reads_the_first() -> None:
    r = Replica()
    r.execute("INSERT INTO bt (id, k, v) VALUES (1, 'a', 'x')")
    r.execute("INSERT INTO bt (id, k, v) VALUES (1, 'b', 'y')")
    _, res = r.cas("BEGIN BATCH UPDATE bt SET v = 'q' WHERE id = 1 AND k = 'a' IF v = 'no'; "
                   "UPDATE bt SET v = 'q' WHERE id = 1 AND k = 'b' IF v = 'no'; APPLY BATCH")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]", "id", "k", "v"]
    assert list(msg.parsed_rows) == [(False, 1, "a", "x"), (False, 1, "b", "y")]
    assert driver_result_set(res, batch=True).was_applied is False
    _, ok = r.cas("BEGIN BATCH UPDATE bt SET v = 'q' WHERE id = 1 AND k = 'a' IF v = 'x'; "
                  "UPDATE bt SET v = 'q' WHERE id = 1 AND k = 'b' IF v = 'y'; APPLY BATCH")
    assert driver_result_set(ok, batch=True).was_applied is True


def test_unread_columns_are_null_in_a_failure_row() -> None:
    """A static-only conditional UPDATE reads only static columns (columnsToRead)."""
    r = Replica()
    r.execute("INSERT INTO bt (id, k, version, v) VALUES (2, 'a', 1, 'x')")
    pl = plan("BEGIN BATCH UPDATE bt SET version = 3 WHERE id = 2 IF version = 2; APPLY BATCH")
    assert pl.read.first_row and pl.read.regular_columns == frozenset()
    _, res = r.cas("BEGIN BATCH UPDATE bt SET version = 3 WHERE id = 2 IF version = 2; "
                   "APPLY BATCH")
    assert list(driver_decode(res).parsed_rows) == [(False, 2, "a", 1)]


def test_result_set_of_a_forged_outcome_has_one_column_per_result_column() -> None:
    pl = plan("UPDATE kv SET v = 5 WHERE k = 1 IF w = 'y'")
    assert result_set(pl, CasOutcome(True, ())).columns[0].name == "[applied]"
    assert len(result_set(pl, CasOutcome(False, ())).columns) == 1


def test_user_type_and_collection_columns_decode_in_a_failure_row() -> None:
    r = Replica()
    r.execute("INSERT INTO co (k, u, fu, m) VALUES (1, {a: 1, b: 'x'}, {a: 2}, {'q': 3})")
    _, res = r.cas("UPDATE co SET d = 1h WHERE k = 1 IF u.a = 5 AND fu = {a: 3} AND m['q'] = 3")
    msg = driver_decode(res)
    assert msg.column_names == ["[applied]", "u", "fu", "m"]
    ((applied, u, fu, m),) = msg.parsed_rows
    assert applied is False and (u.a, u.b) == (1, "x") and (fu.a, fu.b) == (2, None)
    assert m == {"q": 3}
