"""Wrong results, part 1: empty IN, list appends in a batch, dropped columns, several operations
on one collection in one statement."""

from __future__ import annotations

import datetime
from typing import Any

from conformance_cases import Case, Check, Error, Ok, Rows


def _prepared_empty_in(session: Any, ks: str) -> None:
    by_c = session.prepare("SELECT k, c FROM t WHERE k = ? AND c IN ?")
    assert list(session.execute(by_c, (0, []))) == []
    assert [tuple(r) for r in session.execute(by_c, (0, [2]))] == [(0, 2)]
    by_k = session.prepare("SELECT k, c FROM t WHERE k IN ?")
    assert list(session.execute(by_k, ([],))) == []
    delete = session.prepare("DELETE FROM t WHERE k = ? AND c IN ?")
    session.execute(delete, (0, []))
    update = session.prepare("UPDATE t SET v = 9 WHERE k IN ? AND c = 1")
    session.execute(update, ([],))
    rows = [tuple(r) for r in session.execute("SELECT k, c, v FROM t WHERE k = 0")]
    assert rows == [(0, 1, 1), (0, 2, 2)], rows


def _dropped_columns_row(session: Any, ks: str) -> None:
    rows = list(session.execute(
        "SELECT column_name, dropped_time, kind, type FROM system_schema.dropped_columns "
        "WHERE keyspace_name = %s AND table_name = 't'", (ks,)))
    assert [(r.column_name, r.kind, r.type) for r in rows] == [
        ("l", "regular", "list<int>"), ("s", "static", "int")], rows
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    for r in rows:
        assert isinstance(r.dropped_time, datetime.datetime), r
        assert abs((now - r.dropped_time).total_seconds()) < 600, (r, now)


CASES = [
    Case("empty_in_select", "an empty IN on a clustering or partition key column selects "
         "nothing (SelectStatement: an empty clustering filter or key set is ReadQuery.empty)",
         Ok("CREATE TABLE t (k int, c int, s int static, v int, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, s, v) VALUES (0, 1, 7, 1)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 2, 2)"),
         Rows("SELECT k, c, v FROM t WHERE k = 0 AND c IN ()", []),
         Rows("SELECT * FROM t WHERE k IN ()", []),
         Rows("SELECT s, v FROM t WHERE k = 0 AND c IN ()", []),
         Error("SELECT s FROM t WHERE k = 0 AND c IN ()", "InvalidRequest",
               "Cannot restrict clustering columns when selecting only static columns"),
         Rows("SELECT k, c FROM t WHERE k IN () AND c IN ()", []),
         Rows("SELECT k, c, v FROM t WHERE k = 0 AND c IN (2)", [(0, 2, 2)])),
    Case("empty_in_modification", "UPDATE and DELETE with an empty IN write nothing "
         "(ModificationStatement: no partition key or clustering, no mutation)",
         Ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 1, 1)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 2, 2)"),
         Ok("DELETE FROM t WHERE k = 0 AND c IN ()"),
         Ok("DELETE v FROM t WHERE k = 0 AND c IN ()"),
         Ok("DELETE FROM t WHERE k IN ()"),
         Ok("UPDATE t SET v = 9 WHERE k = 0 AND c IN ()"),
         Ok("UPDATE t SET v = 9 WHERE k IN () AND c = 1"),
         Rows("SELECT k, c, v FROM t WHERE k = 0", [(0, 1, 1), (0, 2, 2)]),
         Check(_prepared_empty_in, "prepared c IN ? / k IN ? bound to an empty list")),
    Case("list_appends_in_batch", "each element appended in a batch gets its own cell, in "
         "statement order (Lists.Appender: a fresh TimeUUID per element), prepends go first, "
         "the latest prepend first (Lists.Prepender)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, l list<int>)"),
         Ok("BEGIN BATCH UPDATE t SET l = l + [1] WHERE k = 0; "
            "UPDATE t SET l = l + [2] WHERE k = 0; UPDATE t SET l = l + [3] WHERE k = 0; "
            "APPLY BATCH"),
         Rows("SELECT l FROM t WHERE k = 0", [([1, 2, 3],)]),
         Ok("BEGIN UNLOGGED BATCH UPDATE t SET l = [5] + l WHERE k = 0; "
            "UPDATE t SET l = [4] + l WHERE k = 0; APPLY BATCH"),
         Rows("SELECT l FROM t WHERE k = 0", [([4, 5, 1, 2, 3],)]),
         Ok("BEGIN BATCH USING TIMESTAMP 1000 UPDATE t SET l = l + [1, 2] WHERE k = 1; "
            "UPDATE t SET l = l + [3] WHERE k = 1; UPDATE t SET l = [0] + l WHERE k = 1; "
            "UPDATE t SET l = [-2, -1] + l WHERE k = 1; APPLY BATCH"),
         Rows("SELECT l FROM t WHERE k = 1", [([-2, -1, 0, 1, 2, 3],)]),
         Ok("BEGIN BATCH UPDATE t USING TIMESTAMP 2000 SET l = l + [1] WHERE k = 2; "
            "UPDATE t USING TIMESTAMP 2000 SET l = l + [1] WHERE k = 2; APPLY BATCH"),
         Rows("SELECT l FROM t WHERE k = 2", [([1, 1],)]),
         Ok("UPDATE t SET l = l + [1], l = l + [2] WHERE k = 3"),
         Ok("UPDATE t SET l = [0] + l, l = [-1] + l WHERE k = 3"),
         Rows("SELECT l FROM t WHERE k = 3", [([-1, 0, 1, 2],)])),
    # One node only: at one timestamp, elements added through different coordinators sort by
    # coordinator (Cassandra: by the coordinators' clocks), so the order is pinned on one.
    Case("list_appends_same_client_timestamp", "separate appends and prepends at one client "
         "timestamp each keep their element, in the order they came (Lists.Appender: a "
         "TimeUUID per element, whatever the write timestamp)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, l list<int>)"),
         Ok("UPDATE t USING TIMESTAMP 3000 SET l = l + [1] WHERE k = 4"),
         Ok("UPDATE t USING TIMESTAMP 3000 SET l = l + [2] WHERE k = 4"),
         Ok("UPDATE t USING TIMESTAMP 3000 SET l = [0] + l WHERE k = 4"),
         Rows("SELECT l FROM t WHERE k = 4", [([0, 1, 2],)]), nodes=(1,)),
    Case("dropped_column_not_resurrected", "a dropped column's cells written at or before its "
         "drop time stay invisible when a column of that name is added back "
         "(TableMetadata.droppedColumns, applied by BTreeRow.filter and compaction)",
         Ok("CREATE TABLE t (k int, c int, s int static, v int, l list<int>, "
            "PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, s, v, l) VALUES (0, 0, 5, 1, [1, 2])"),
         Ok("UPDATE t SET l = [3] WHERE k = 0 AND c = 1"),
         Ok("ALTER TABLE t DROP l"),
         Ok("ALTER TABLE t DROP s"),
         Rows("SELECT * FROM t", [(0, 0, 1)]),
         Ok("ALTER TABLE t ADD l list<int>"),
         Ok("ALTER TABLE t ADD s int static"),
         Rows("SELECT k, c, s, v, l FROM t", [(0, 0, None, 1, None)]),
         Ok("UPDATE t SET l = l + [4] WHERE k = 0 AND c = 1"),
         Rows("SELECT k, c, s, v, l FROM t", [(0, 0, None, 1, None), (0, 1, None, None, [4])]),
         Check(_dropped_columns_row, "system_schema.dropped_columns lists both drops")),
    Case("dropped_column_readd_rules", "re-adding a dropped column needs a value-compatible "
         "type and the same kind (AlterTableStatement.AddColumns)",
         Ok("CREATE TABLE t (k int, c int, s int static, v int, l list<int>, "
            "PRIMARY KEY (k, c))"),
         Ok("ALTER TABLE t DROP l"),
         Ok("ALTER TABLE t DROP s"),
         Ok("ALTER TABLE t DROP v"),
         Error("ALTER TABLE t ADD l set<int>", "InvalidRequest", "Cannot re-add previously "
               "dropped column 'l' of type set<int>, incompatible with previous type list<int>"),
         Error("ALTER TABLE t ADD s int", "InvalidRequest", "Cannot re-add previously dropped "
               "column 's' of kind REGULAR, incompatible with previous kind STATIC"),
         Error("ALTER TABLE t ADD v int static", "InvalidRequest", "Cannot re-add previously "
               "dropped column 'v' of kind STATIC, incompatible with previous kind REGULAR"),
         Error("ALTER TABLE t ADD v text", "InvalidRequest", "Cannot re-add previously dropped "
               "column 'v' of type text, incompatible with previous type int"),
         Ok("ALTER TABLE t ADD v blob"),
         Ok("ALTER TABLE t ADD l list<int>")),
    Case("dropped_column_using_timestamp", "ALTER TABLE DROP ... USING TIMESTAMP records that "
         "time as the drop time: only cells written at or before it stay hidden when the "
         "column comes back (AlterTableStatement.DropColumns, Cql.g alterTableStatement)",
         Ok("CREATE TABLE t (k int, c int, v int, w int, PRIMARY KEY (k, c))"),
         *[Ok(f"INSERT INTO t (k, c, v, w) VALUES (0, {i}, {i}, {i}) USING TIMESTAMP {i * 1000}")
           for i in range(1, 5)],
         Ok("ALTER TABLE t DROP (v, w) USING TIMESTAMP 2500"),
         Ok("ALTER TABLE t ADD v int"),
         Rows("SELECT c, v FROM t WHERE k = 0", [(1, None), (2, None), (3, 3), (4, 4)]),
         Rows("SELECT column_name, dropped_time FROM system_schema.dropped_columns WHERE "
              "keyspace_name = '{ks}' AND table_name = 't'",
              [("v", datetime.datetime(1970, 1, 1, 0, 0, 0, 2000)),
               ("w", datetime.datetime(1970, 1, 1, 0, 0, 0, 2000))])),
    Case("dropped_column_simple_cells", "a row whose only cells belonged to a dropped column "
         "is gone once the column is dropped, and stays gone when it is added back",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int, w int)"),
         Ok("UPDATE t SET v = 1 WHERE k = 1"),
         Ok("INSERT INTO t (k, v, w) VALUES (2, 2, 2)"),
         Ok("ALTER TABLE t DROP v"),
         Rows("SELECT k, w FROM t WHERE k IN (1, 2)", [(2, 2)]),
         Ok("ALTER TABLE t ADD v int"),
         Rows("SELECT k, v, w FROM t WHERE k IN (1, 2)", [(2, None, 2)]),
         Ok("UPDATE t SET v = 3 WHERE k = 1"),
         Rows("SELECT k, v, w FROM t WHERE k IN (1, 2)", [(1, 3, None), (2, None, 2)])),
    Case("multiple_operations_one_collection", "several compatible operations on one "
         "collection in one UPDATE all apply (Operation.RawUpdate.isCompatibleWith); at one "
         "timestamp an element's tombstone wins over its live cell, and between two live cells "
         "the greater value (Cells.reconcile)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, s set<int>, m map<text, int>, l list<int>)"),
         Ok("INSERT INTO t (k, s, m, l) VALUES (0, {2, 3}, {'a': 1, 'b': 2}, [7, 8])"),
         Ok("UPDATE t SET s = s + {1}, s = s - {2} WHERE k = 0"),
         Rows("SELECT s FROM t WHERE k = 0", [({1, 3},)]),
         Ok("UPDATE t SET s = s + {4}, s = s - {4} WHERE k = 0"),
         Ok("UPDATE t SET s = s - {5}, s = s + {5} WHERE k = 0"),
         Rows("SELECT s FROM t WHERE k = 0", [({1, 3},)]),
         Ok("UPDATE t SET m = m + {'c': 3}, m = m - {'a'} WHERE k = 0"),
         Rows("SELECT m FROM t WHERE k = 0", [({"b": 2, "c": 3},)]),
         Ok("UPDATE t SET m['a'] = 1, m = m + {'d': 4} WHERE k = 0"),
         Rows("SELECT m FROM t WHERE k = 0", [({"a": 1, "b": 2, "c": 3, "d": 4},)]),
         Ok("UPDATE t SET m['x'] = 2, m = m + {'x': 1}, m['y'] = 1, m['y'] = 3 WHERE k = 0"),
         Rows("SELECT m FROM t WHERE k = 0",
              [({"a": 1, "b": 2, "c": 3, "d": 4, "x": 2, "y": 3},)]),
         Ok("UPDATE t SET l = l + [1], l[0] = 5 WHERE k = 0"),
         Rows("SELECT l FROM t WHERE k = 0", [([5, 8, 1],)]),
         Ok("UPDATE t SET l = l - [8], l = l + [8] WHERE k = 0"),
         Rows("SELECT l FROM t WHERE k = 0", [([5, 1, 8],)])),
    Case("multiple_incompatible_settings", "setting a column whole and operating on it again "
         "in one UPDATE is a syntax error (Cql.g addRawUpdate: 'Multiple incompatible setting "
         "of column')",
         Ok("CREATE TYPE ut (a int, b int)"),
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int, s set<int>, l list<int>, u ut)"),
         Error("UPDATE t SET v = 1, v = 2 WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column v"),
         Error("UPDATE t SET s = {1}, s = s + {2} WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column s"),
         Error("UPDATE t SET l = l + [2], l = [1] WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column l"),
         Error("UPDATE t SET l[0] = 1, l = [1] WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column l"),
         Error("UPDATE t SET u.a = 1, u.a = 2 WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column u"),
         Error("UPDATE t SET u = {a: 1}, u.b = 2 WHERE k = 0", "SyntaxException",
               "Multiple incompatible setting of column u"),
         Ok("UPDATE t SET u.a = 1, u.b = 2 WHERE k = 0"),
         Rows("SELECT u FROM t WHERE k = 0", [((1, 2),)])),
]
