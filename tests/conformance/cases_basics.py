"""Basic reads and writes: what every application relies on."""

from conformance_cases import Case, Error, Ok, Rows

CASES = [
    Case("insert_then_select", "INSERT then SELECT of one row by its full primary key",
         Ok("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 1, 'a')"),
         Rows("SELECT k, c, v FROM t WHERE k = 0 AND c = 1", [(0, 1, "a")])),
    Case("clustering_order", "rows of a partition come back in clustering order "
         "(ClusteringComparator), DESC when the table says so",
         Ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c)) "
            "WITH CLUSTERING ORDER BY (c DESC)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 1, 1)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 3, 3)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 2, 2)"),
         Rows("SELECT c FROM t WHERE k = 0", [(3,), (2,), (1,)]),
         Rows("SELECT c FROM t WHERE k = 0 ORDER BY c ASC", [(1,), (2,), (3,)])),
    Case("update_is_upsert", "UPDATE of a missing row creates it (UpdateStatement: no "
         "read before write), without a row marker: deleting its only cell removes the row",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Ok("UPDATE t SET v = 1 WHERE k = 0"),
         Rows("SELECT k, v FROM t", [(0, 1)]),
         Ok("DELETE v FROM t WHERE k = 0"),
         Rows("SELECT k, v FROM t", [])),
    Case("insert_row_marker", "INSERT writes a row marker: the row survives the deletion "
         "of all its regular cells",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Ok("INSERT INTO t (k, v) VALUES (0, 1)"),
         Ok("DELETE v FROM t WHERE k = 0"),
         Rows("SELECT k, v FROM t", [(0, None)])),
    Case("unknown_column", "an unknown column is refused (Invalid: 'Undefined column name')",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Error("INSERT INTO t (k, nope) VALUES (0, 1)", "InvalidRequest",
               "Undefined column name nope")),
    Case("using_timestamp_order", "the higher write timestamp wins whatever the order of "
         "arrival (Cells.reconcile)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Ok("INSERT INTO t (k, v) VALUES (0, 2) USING TIMESTAMP 2000"),
         Ok("INSERT INTO t (k, v) VALUES (0, 1) USING TIMESTAMP 1000"),
         Rows("SELECT v, writetime(v) FROM t WHERE k = 0", [(2, 2000)])),
]
