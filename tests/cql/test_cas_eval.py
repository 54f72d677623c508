"""CAS decisions and result rows on one replica, every result decoded by the stock driver.

Many sequences are Cassandra's own unit tests (InsertUpdateIfConditionTest and friends),
replayed: the statements, then the rows Cassandra's assertRows expects."""

from __future__ import annotations

import pytest
from cas_support import NOW_S, Replica, i32, plan
from cassandra.util import Duration

from skewless.cql.cas_results import evaluate, result_set


@pytest.fixture
def st() -> Replica:
    r = Replica()
    for ck_, v in ((1, 2), (3, 4), (5, 6), (7, 8)):
        r.execute(f"INSERT INTO st (pk, ck, value) VALUES (1, {ck_}, {v})")
    r.execute("INSERT INTO st (pk, ck, value) VALUES (2, 1, 2)")
    r.execute("INSERT INTO st (pk, static_col) VALUES (1, 1)")
    return r


def test_static_columns_cas_delete(st: Replica) -> None:
    """InsertUpdateIfConditionStaticsTest.testStaticColumnsCasDelete."""
    assert st.rows("DELETE static_col FROM st WHERE pk = 1 IF static_col = 2") == [(False, 1)]
    assert st.rows("DELETE static_col FROM st WHERE pk = 1 IF static_col = 1") == [(True,)]
    st.execute("INSERT INTO st (pk, static_col) VALUES (1, 1)")
    assert st.rows("DELETE value FROM st WHERE pk = 1 AND ck = 1 IF value = 2 AND "
                   "static_col = 2") == [(False, 2, 1)]
    assert st.rows("DELETE value FROM st WHERE pk = 1 AND ck = 1 IF value = 2 AND "
                   "static_col = 1") == [(True,)]
    assert st.rows("DELETE static_col FROM st WHERE pk = 1 AND ck = 5 IF value = 10") == [
        (False, 6)]
    assert st.rows("DELETE static_col FROM st WHERE pk = 1 AND ck = 5 IF value = 6") == [
        (True,)]
    # the static column is gone, the row keeps its value; a row deleted above reads null
    assert st.rows("UPDATE st SET value = 0 WHERE pk = 1 AND ck = 1 IF value = 99 AND "
                   "static_col = 99") == [(False, None, None)]


def test_static_columns_cas_update(st: Replica) -> None:
    """InsertUpdateIfConditionStaticsTest.testStaticColumnsCasUpdate."""
    assert st.rows("UPDATE st SET static_col = 3 WHERE pk = 1 IF static_col = 2") == [(False, 1)]
    assert st.rows("UPDATE st SET static_col = 2 WHERE pk = 1 IF static_col = 1") == [(True,)]
    assert st.rows("UPDATE st SET value = 3 WHERE pk = 1 AND ck = 1 IF value = 3 AND "
                   "static_col = 2") == [(False, 2, 2)]
    assert st.rows("UPDATE st SET value = 1 WHERE pk = 1 AND ck = 1 IF value = 2 AND "
                   "static_col = 2") == [(True,)]
    assert st.rows("UPDATE st SET static_col = 3 WHERE pk = 1 AND ck = 1 IF value = 2") == [
        (False, 1)]
    assert st.rows("UPDATE st SET static_col = 1 WHERE pk = 1 AND ck = 1 IF value = 1") == [
        (True,)]
    assert st.rows("UPDATE st SET static_col = 5 WHERE pk = 1 IF static_col = 1") == [(True,)]


def test_conditional_batch_on_one_partition() -> None:
    """InsertUpdateIfConditionTest's batch sequence on (id, k, version static, v)."""
    r = Replica()
    assert r.rows("BEGIN BATCH INSERT INTO bt (id, k, v) VALUES (1, 'k1', 'val1') IF NOT EXISTS; "
                  "INSERT INTO bt (id, k, v) VALUES (1, 'k2', 'val2') IF NOT EXISTS; "
                  "APPLY BATCH") == [(True,)]
    assert r.rows("INSERT INTO bt (id, k, v) VALUES (1, 'k2', 'val2') IF NOT EXISTS") == [
        (False, 1, "k2", None, "val2")]
    assert r.rows("BEGIN BATCH INSERT INTO bt (id, k, v) VALUES (1, 'k2', 'val2') IF NOT EXISTS; "
                  "INSERT INTO bt (id, k, v) VALUES (1, 'k3', 'val3') IF NOT EXISTS; "
                  "APPLY BATCH") == [(False, 1, "k2", None, "val2")]
    assert r.rows("BEGIN BATCH UPDATE bt SET v = 'newVal' WHERE id = 1 AND k = 'k2' IF v = 'val0'; "
                  "INSERT INTO bt (id, k, v) VALUES (1, 'k3', 'val3') IF NOT EXISTS; "
                  "APPLY BATCH") == [(False, 1, "k2", None, "val2")]
    assert r.rows("BEGIN BATCH UPDATE bt SET v = 'newVal' WHERE id = 1 AND k = 'k2' IF v = 'val2'; "
                  "INSERT INTO bt (id, k, v, version) VALUES (1, 'k3', 'val3', 1) IF NOT EXISTS; "
                  "APPLY BATCH") == [(True,)]
    assert r.rows("BEGIN BATCH "
                  "UPDATE bt SET v = 'newVal1' WHERE id = 1 AND k = 'k2' IF v = 'val2'; "
                  "UPDATE bt SET v = 'newVal2' WHERE id = 1 AND k = 'k2' IF v = 'val3'; "
                  "APPLY BATCH") == [(False, 1, "k2", "newVal")]
    # both rows' conditions fail: one result row per row read, primary key first
    assert r.rows("BEGIN BATCH UPDATE bt SET v = 'x' WHERE id = 1 AND k = 'k1' IF v = 'no'; "
                  "UPDATE bt SET v = 'y' WHERE id = 1 AND k = 'k3' IF v = 'no'; "
                  "APPLY BATCH") == [(False, 1, "k1", "val1"), (False, 1, "k3", "val3")]


def test_batch_applies_all_or_nothing_and_unconditional_statements_ride_along() -> None:
    r = Replica()
    r.execute("INSERT INTO bt (id, k, v) VALUES (1, 'a', 'x')")
    q = ("BEGIN BATCH UPDATE bt SET v = 'y' WHERE id = 1 AND k = 'a' IF v = 'x'; "
         "INSERT INTO bt (id, k, v) VALUES (1, 'b', 'z') USING TIMESTAMP 5; "
         "DELETE FROM bt WHERE id = 1 AND k > 'm'; APPLY BATCH")
    outcome, _ = r.cas(q)
    assert outcome.applied
    again, res = r.cas(q)
    assert not again.applied and [tuple(x) for x in res.rows][0][0] == b"\x00"
    assert r.rows("UPDATE bt SET v = 'q' WHERE id = 1 AND k = 'b' IF v = 'z'") == [(True,)]


def test_cas_and_ttl() -> None:
    """testCasAndTTL: a TTL'd cell past its expiry counts as null."""
    r = Replica()
    r.execute("INSERT INTO kv (k, v, lock) VALUES (0, 0, false)")
    r.execute("UPDATE kv USING TTL 1 SET lock = true WHERE k = 0")
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 0 IF lock = null") == [(False, True)]
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 0 IF lock = null", now_s=NOW_S + 1) == [(True,)]


def test_if_exists_and_if_not_exists() -> None:
    r = Replica()
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 0 IF EXISTS") == [(False,)]
    assert r.rows("DELETE FROM kv WHERE k = 0 IF EXISTS") == [(False,)]
    assert r.rows("INSERT INTO kv (k, v, w) VALUES (0, 1, 'a') IF NOT EXISTS") == [(True,)]
    assert r.rows("INSERT INTO kv (k, v) VALUES (0, 2) IF NOT EXISTS") == [
        (False, 0, None, 1, "a")]  # every column, in SELECT * order (k, lock, v, w)
    assert r.rows("UPDATE kv SET v = 2 WHERE k = 0 IF EXISTS") == [(True,)]
    assert r.rows("DELETE FROM kv WHERE k = 0 IF EXISTS") == [(True,)]
    assert r.rows("UPDATE kv SET v = 3 WHERE k = 0 IF EXISTS") == [(False,)]
    assert r.rows("INSERT INTO kv (k, v) VALUES (0, 4) IF NOT EXISTS") == [(True,)]


def test_a_row_without_marker_exists_through_its_cells() -> None:
    r = Replica()
    r.execute("UPDATE kv SET w = 'a' WHERE k = 5")
    assert r.rows("INSERT INTO kv (k, v) VALUES (5, 1) IF NOT EXISTS") == [
        (False, 5, None, None, "a")]
    r.execute("DELETE w FROM kv WHERE k = 5")
    assert r.rows("INSERT INTO kv (k, v) VALUES (5, 1) IF NOT EXISTS") == [(True,)]


def test_conditions_on_a_missing_row() -> None:
    """A condition on a missing row is false, except ``col = null`` (and ``!= value``)."""
    r = Replica()
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 9 IF v = 1") == [(False,)]
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 9 IF v > 0") == [(False,)]
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 9 IF v IN (1, 2)") == [(False,)]
    assert r.rows("UPDATE kv SET w = 'a' WHERE k = 9 IF v = null") == [(True,)]
    assert r.rows("UPDATE kv SET w = 'b' WHERE k = 8 IF v != 3") == [(True,)]
    assert r.rows("UPDATE kv SET v = 1 WHERE k = 7 IF v IN (null, 5)") == [(True,)]


def test_compare_and_set_register() -> None:
    r = Replica()
    r.execute("INSERT INTO kv (k, v) VALUES (1, 0)")
    for n in range(5):
        assert r.rows("UPDATE kv SET v = ? WHERE k = 1 IF v = ?", i32(n + 1), i32(n)) == [
            (True,)]
        assert r.rows("UPDATE kv SET v = ? WHERE k = 1 IF v = ?", i32(n + 1), i32(n)) == [
            (False, n + 1)]
    assert r.rows("UPDATE kv SET w = 'z' WHERE k = 1 IF v >= 5 AND v < 6 AND w = null") == [
        (True,)]
    assert r.rows("UPDATE kv SET w = 'y' WHERE k = 1 IF v > 5 AND w = 'z'") == [
        (False, 5, "z")]


def test_collection_conditions() -> None:
    r = Replica()
    r.execute("INSERT INTO co (k, l, s, m, fl, fm) VALUES (0, [1, 2, 3], {'a', 'b'}, "
              "{'x': 1, 'y': 2}, [4, 5], {'p': 7})")
    applies = [
        "l = [1, 2, 3]", "l > [1, 2]", "l < [1, 3]", "l != [1]", "l[1] = 2", "l[5] = null",
        "l CONTAINS 3", "s = {'b', 'a'}", "s CONTAINS 'a'", "m['x'] = 1", "m['z'] = null",
        "m['y'] IN (5, 2)", "m CONTAINS KEY 'y'", "m CONTAINS 2", "m = {'x': 1, 'y': 2}",
        "fl = [4, 5]", "fl[0] = 4", "fl CONTAINS 5", "fm['p'] > 6", "fm CONTAINS KEY 'p'",
        "l IN ([1], [1, 2, 3])",
    ]
    for cond in applies:
        assert r.rows(f"UPDATE co SET d = 1h WHERE k = 0 IF {cond}") == [(True,)], cond
    fails = ["l = [1, 2]", "l[0] = 2", "l CONTAINS 9", "s CONTAINS 'c'", "m['x'] = 2",
             "m CONTAINS KEY 'q'", "fl[2] = 1", "fm CONTAINS 1", "m = null", "l = []"]
    for cond in fails:
        outcome, _ = r.cas(f"UPDATE co SET d = 1h WHERE k = 0 IF {cond}")
        assert not outcome.applied, cond
    assert r.rows("UPDATE co SET d = 1h WHERE k = 0 IF m['x'] = 5 AND l[0] = 1") == [
        (False, {"x": 1, "y": 2}, [1, 2, 3])]


def test_an_absent_multicell_collection_equals_the_empty_one() -> None:
    r = Replica()
    r.execute("INSERT INTO co (k, d) VALUES (1, 1h)")
    for cond in ("l = []", "l = null", "l < [0]", "s = {}", "m = {}"):
        assert r.rows(f"UPDATE co SET d = 2h WHERE k = 1 IF {cond}") == [(True,)], cond
    assert r.rows("UPDATE co SET d = 2h WHERE k = 1 IF l != null") == [(False, None)]


@pytest.mark.parametrize("col", ["u", "fu"])
def test_udt_conditions(col: str) -> None:
    """InsertUpdateIfConditionTest.testWholeUDT and UDT field conditions, frozen or not."""
    r = Replica()
    r.execute(f"INSERT INTO co (k, {col}) VALUES (0, {{a: 0, b: 'abc'}})")
    applies = [f"{col} = {{a: 0, b: 'abc'}}", f"{col} != null", f"{col} > {{a: 0, b: 'aaa'}}",
               f"{col} > {{a: 0}}", f"{col} < {{a: 1}}", f"{col} <= {{a: 0, b: 'abc'}}",
               f"{col} IN (null, {{a: 0, b: 'abc'}}, {{a: 1}})", f"{col}.a = 0",
               f"{col}.b > 'abb'", f"{col}.b IN ('x', 'abc')", f"{col}.a != 1"]
    for cond in applies:
        assert r.rows(f"UPDATE co SET d = 1h WHERE k = 0 IF {cond}") == [(True,)], cond
    fails = [f"{col} = {{a: 0, b: 'def'}}", f"{col} = null", f"{col} >= {{a: 1, b: 'abc'}}",
             f"{col} IN ()", f"{col}.a = 1", f"{col}.b = null", f"{col}.b < 'abc'"]
    for cond in fails:
        outcome, _ = r.cas(f"UPDATE co SET d = 1h WHERE k = 0 IF {cond}")
        assert not outcome.applied, cond
    r.execute(f"INSERT INTO co (k, {col}) VALUES (0, {{a: 0}})")
    for cond in (f"{col} = {{a: 0}}", f"{col} = {{a: 0, b: null}}", f"{col}.b = null"):
        assert r.rows(f"UPDATE co SET d = 1h WHERE k = 0 IF {cond}") == [(True,)], cond


def test_failure_result_names_each_condition_column_once_regular_then_static() -> None:
    r = Replica()
    r.execute("INSERT INTO st (pk, ck, static_col, value) VALUES (3, 1, 10, 20)")
    assert r.rows("UPDATE st SET value = 0 WHERE pk = 3 AND ck = 1 IF static_col = 0 AND "
                  "value > 100 AND value < 0") == [(False, 20, 10)]
    pl = plan("UPDATE st SET value = 0 WHERE pk = 3 AND ck = 1 IF static_col = 0 AND value > 1")
    assert pl.result_columns == ("value", "static_col")


def test_other_rows_of_the_partition_do_not_count() -> None:
    """The read may hold more than ``plan.read`` names: only the named row is looked at."""
    r = Replica()
    r.execute("INSERT INTO st (pk, ck, value) VALUES (4, 1, 1)")
    pl = plan("UPDATE st SET value = 2 WHERE pk = 4 AND ck = 2 IF value = 1")
    cur = r.current(pl)
    out = evaluate(pl, cur, NOW_S)
    assert not out.applied and result_set(pl, out).rows == ((b"\x00",),)


def test_mutation_is_stamped_as_a_paxos_proposal() -> None:
    pl = plan("BEGIN BATCH DELETE FROM kv WHERE k = 0 IF EXISTS; "
              "INSERT INTO kv (k, v) VALUES (0, 1) USING TIMESTAMP 3; APPLY BATCH")
    m = pl.mutation(500, NOW_S)
    assert m.deletion is not None and m.deletion.ts_us == 499
    (row,) = m.rows
    assert row.marker is not None and row.marker.ts_us == 500
    assert [w.cell.ts_us for w in row.cells] == [500]


def test_list_operations_read_the_list_from_the_cas_read() -> None:
    r = Replica()
    r.execute("INSERT INTO co (k, l) VALUES (2, [1, 2, 3])")
    assert r.rows("UPDATE co SET l[1] = 9 WHERE k = 2 IF l[1] = 2") == [(True,)]
    assert r.rows("UPDATE co SET d = 1h WHERE k = 2 IF l = [1, 9, 3]") == [(True,)]
    assert r.rows("DELETE l[0] FROM co WHERE k = 2 IF l[0] = 1") == [(True,)]
    assert r.rows("UPDATE co SET d = 1h WHERE k = 2 IF l = [9, 3]") == [(True,)]


def test_values_decode_through_the_driver() -> None:
    r = Replica()
    r.execute("INSERT INTO co (k, d, s) VALUES (3, 1h, {'q'})")
    assert r.rows("UPDATE co SET d = 2h WHERE k = 3 IF d = 2h AND s = {'z'}") == [
        (False, Duration(0, 0, 3_600_000_000_000), {"q"})]  # months, days, nanoseconds


def test_static_only_statements_check_the_static_row() -> None:
    r = Replica()
    r.execute("INSERT INTO st (pk, ck, value) VALUES (6, 1, 1)")
    # The static row is missing; the read (LIMIT 1 over the partition, static and condition
    # columns only: columnsToRead) returns the first row, its regular columns unread.
    assert r.rows("UPDATE st SET static_col = 1 WHERE pk = 6 IF EXISTS") == [
        (False, 6, 1, None, None)]
    assert r.rows("INSERT INTO st (pk, static_col) VALUES (6, 5) IF NOT EXISTS") == [(True,)]
    assert r.rows("INSERT INTO st (pk, static_col) VALUES (6, 7) IF NOT EXISTS") == [
        (False, 6, 1, 5, None)]
    assert r.rows("UPDATE st SET static_col = 8 WHERE pk = 6 IF EXISTS") == [(True,)]
    assert r.rows("UPDATE st SET static_col = 9 WHERE pk = 6 IF static_col = 8") == [(True,)]


def test_insert_json_if_not_exists() -> None:
    r = Replica()
    assert r.rows("""INSERT INTO kv JSON '{"k": 3, "v": 4}' IF NOT EXISTS""") == [(True,)]
    assert r.rows("""INSERT INTO kv JSON '{"k": 3, "w": "b"}' IF NOT EXISTS""") == [
        (False, 3, None, 4, None)]


def test_ttl_on_a_conditional_write_and_the_row_it_leaves() -> None:
    r = Replica()
    assert r.rows("INSERT INTO kv (k, v) VALUES (4, 1) IF NOT EXISTS USING TTL 10") == [(True,)]
    assert r.rows("UPDATE kv SET w = 'a' WHERE k = 4 IF EXISTS", now_s=NOW_S + 9) == [(True,)]
    assert r.rows("INSERT INTO kv (k, v) VALUES (4, 2) IF NOT EXISTS", now_s=NOW_S + 10) == [
        (False, 4, None, None, "a")]  # v and the marker expired; w (no TTL) keeps the row


def test_a_partition_with_only_static_content_reads_as_one_row() -> None:
    r = Replica()
    assert r.rows("INSERT INTO st (pk, static_col) VALUES (7, 1) IF NOT EXISTS") == [(True,)]
    assert r.rows("INSERT INTO st (pk, static_col) VALUES (7, 2) IF NOT EXISTS") == [
        (False, 7, None, 1, None)]
    assert r.rows("INSERT INTO st (pk, ck, value) VALUES (7, 1, 1) IF NOT EXISTS") == [(True,)]
