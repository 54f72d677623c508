"""Secondary indexes: CREATE/DROP INDEX, their errors, and queries they answer without
ALLOW FILTERING (Cassandra 5's legacy 2i and SAI, served by Skewless' local index)."""

from typing import Any

from conformance_cases import Case, Check, Error, Ok, Rows

_KV = "CREATE TABLE t (k int, c int, v int, w int, s int STATIC, PRIMARY KEY (k, c))"
_FILL = [Ok(f"INSERT INTO t (k, c, v, w) VALUES ({k}, {c}, {(k + c) % 3}, {c})")
         for k in range(4) for c in range(3)]
_FILTERING = "Cannot execute this query as it might involve data filtering"



def _describe_sai(session: Any, ks: str) -> None:
    rows = list(session.execute(f"DESCRIBE INDEX {ks}.sv"))
    assert rows[0].create_statement == (
        f"CREATE CUSTOM INDEX sv ON {ks}.t (v) USING "
        "'org.apache.cassandra.index.sai.StorageAttachedIndex';"), rows


CASES = [
    Case("index_regular_eq", "an = on a column with a secondary index is answered without "
         "ALLOW FILTERING (StatementRestrictions: the index serves the expression); the index "
         "is built for rows already present (SecondaryIndexManager.buildIndexBlocking)",
         Ok(_KV), *_FILL,
         Ok("CREATE INDEX ON t (v)"),
         Rows("SELECT k, c FROM t WHERE v = 0",
              [(0, 0), (1, 2), (2, 1), (3, 0)], ordered=False),
         Ok("INSERT INTO t (k, c, v) VALUES (9, 9, 0)"),
         Ok("UPDATE t SET v = 1 WHERE k = 0 AND c = 0"),
         Ok("DELETE FROM t WHERE k = 1 AND c = 2"),
         Rows("SELECT k, c FROM t WHERE v = 0", [(2, 1), (3, 0), (9, 9)], ordered=False),
         Rows("SELECT count(*) FROM t WHERE v = 0", [(3,)])),
    Case("index_default_name", "CREATE INDEX without a name is named <table>_<column>_idx "
         "and listed in system_schema.indexes with kind COMPOSITES and its target "
         "(CreateIndexStatement, SchemaKeyspace)",
         Ok(_KV), Ok("CREATE INDEX ON t (v)"),
         Rows("SELECT index_name, kind, options FROM system_schema.indexes "
              "WHERE keyspace_name = '{ks}'", [("t_v_idx", "COMPOSITES", {"target": "v"})])),
    Case("index_errors", "CREATE INDEX refusals in Cassandra's words (CreateIndexStatement)",
         Ok(_KV), Ok("CREATE INDEX i1 ON t (v)"),
         Error("CREATE INDEX i1 ON t (w)", "InvalidRequest", "Index 'i1' already exists"),
         Ok("CREATE INDEX IF NOT EXISTS i1 ON t (w)"),
         Error("CREATE INDEX i2 ON t (v)", "InvalidRequest", "is a duplicate of existing index"),
         Error("CREATE INDEX ON t (nope)", "InvalidRequest", "Column 'nope' doesn't exist"),
         Error("CREATE INDEX ON nope (v)", "InvalidRequest", "doesn't exist"),
         Error("CREATE CUSTOM INDEX ON t (v) USING 'com.example.Nope'", "InvalidRequest",
               "Unable to find custom indexer class 'com.example.Nope'"),
         Error("CREATE INDEX ON t (w) USING 'com.example.Nope'", "InvalidRequest",
               "Cannot specify index class for a non-CUSTOM index"),
         Error("CREATE CUSTOM INDEX ON t (w)", "InvalidRequest",
               "CUSTOM index requires specifying the index class")),
    Case("index_counter_and_frozen", "no index on a counter; a frozen collection needs FULL()",
         Ok("CREATE TABLE c (k int PRIMARY KEY, n counter)"),
         Error("CREATE INDEX ON c (n)", "InvalidRequest",
               "Secondary indexes on counter tables aren't supported"),
         Ok("CREATE TABLE f (k int PRIMARY KEY, l frozen<list<int>>)"),
         Error("CREATE INDEX ON f (l)", "InvalidRequest",
               "Cannot create values() index on frozen column l"),
         Ok("CREATE INDEX ON f (FULL(l))"),
         Ok("INSERT INTO f (k, l) VALUES (1, [1, 2])"),
         Ok("INSERT INTO f (k, l) VALUES (2, [2, 1])"),
         Rows("SELECT k FROM f WHERE l = [1, 2]", [(1,)])),
    Case("index_type_errors", "CREATE INDEX refused by the column's type, in Cassandra's order "
         "(CreateIndexStatement.validateIndexTarget)",
         Ok("CREATE TYPE u (a int)"),
         Ok("CREATE TABLE y (k int PRIMARY KEY, d duration, ld list<duration>, u u, "
            "fu frozen<u>, v int, fm frozen<map<int, int>>)"),
         Error("CREATE INDEX ON y (d)", "InvalidRequest",
               "Secondary indexes are not supported on duration columns"),
         Error("CREATE INDEX ON y (ld)", "InvalidRequest",
               "Secondary indexes are not supported on collections containing durations"),
         Error("CREATE INDEX ON y (u)", "InvalidRequest",
               "Cannot create index on non-frozen UDT column u"),
         Ok("CREATE INDEX ON y (fu)"),
         Error("CREATE INDEX ON y (KEYS(v))", "InvalidRequest",
               "Cannot create keys() index on v. Non-collection columns only support simple "
               "indexes"),
         Error("CREATE INDEX ON y (KEYS(fm))", "InvalidRequest",
               "Cannot create keys() index on frozen column fm"),
         Error("CREATE INDEX ON y (FULL(v))", "InvalidRequest",
               "full() indexes can only be created on frozen collections"),
         Ok("CREATE INDEX iv ON y (v)"),
         Ok("CREATE CUSTOM INDEX sv ON y (v) USING 'StorageAttachedIndex'"),
         Error("CREATE CUSTOM INDEX sv2 ON y (v) USING 'sai'", "InvalidRequest",
               "Index sv2 is a duplicate of existing index sv")),
    Case("index_drop", "DROP INDEX removes the index; queries need ALLOW FILTERING again; "
         "IF EXISTS makes a missing index a no-op (DropIndexStatement)",
         Ok(_KV), Ok("CREATE INDEX iv ON t (v)"), Ok("DROP INDEX iv"),
         Error("SELECT k FROM t WHERE v = 1", "InvalidRequest", _FILTERING),
         Error("DROP INDEX iv", "InvalidRequest", "doesn't exist"),
         Ok("DROP INDEX IF EXISTS iv")),
    Case("index_other_restrictions", "a second restriction no index serves still needs "
         "ALLOW FILTERING; a range on a 2i column is filtering; no IN on the partition key "
         "with an index (StatementRestrictions.validateSecondaryIndexSelections)",
         Ok(_KV), *_FILL, Ok("CREATE INDEX ON t (v)"),
         Error("SELECT k FROM t WHERE v = 0 AND w = 0", "InvalidRequest", _FILTERING),
         Error("SELECT k FROM t WHERE v > 0", "InvalidRequest", _FILTERING),
         Rows("SELECT k, c FROM t WHERE v = 0 AND w = 0 ALLOW FILTERING",
              [(0, 0), (3, 0)], ordered=False),
         Rows("SELECT k, c FROM t WHERE v = 0 AND token(k) = token(3)", [(3, 0)]),
         Rows("SELECT k, c FROM t WHERE v = 0 AND k = 3", [(3, 0)]),
         Error("SELECT k, c FROM t WHERE v = 0 ORDER BY c DESC", "InvalidRequest",
               "ORDER BY with 2ndary indexes is not supported."),
         Error("SELECT k, c FROM t WHERE v = 0 AND k IN (2, 3)", "InvalidRequest",
               "Select on indexed columns and with IN clause for the PRIMARY KEY are not "
               "supported")),
    Case("index_key_columns", "indexes on a clustering column, a partition key component "
         "and a static column answer = without ALLOW FILTERING",
         Ok("CREATE TABLE p (a int, b int, c int, d int, s int STATIC, "
            "PRIMARY KEY ((a, b), c, d))"),
         Ok("INSERT INTO p (a, b, c, d, s) VALUES (1, 1, 1, 1, 7)"),
         Ok("INSERT INTO p (a, b, c, d) VALUES (1, 1, 2, 2)"),
         Ok("INSERT INTO p (a, b, c, d, s) VALUES (2, 1, 1, 3, 8)"),
         Ok("CREATE INDEX ON p (b)"), Ok("CREATE INDEX ON p (d)"), Ok("CREATE INDEX ON p (s)"),
         Error("CREATE INDEX ON t2 (k)", "InvalidRequest", "doesn't exist"),
         Rows("SELECT a, c, d FROM p WHERE b = 1", [(1, 1, 1), (1, 2, 2), (2, 1, 3)],
              ordered=False),
         Rows("SELECT a, c FROM p WHERE d = 2", [(1, 2)]),
         Rows("SELECT a, c FROM p WHERE s = 7", [(1, 1), (1, 2)], ordered=False),
         Error("SELECT a FROM p WHERE d = 2 AND a = 1", "InvalidRequest", _FILTERING)),
    Case("index_only_partition_key", "no index on the only partition key column",
         Ok("CREATE TABLE o (k int PRIMARY KEY, v int)"),
         Error("CREATE INDEX ON o (k)", "InvalidRequest",
               "Cannot create secondary index on the only partition key column k")),
    Case("index_collections", "VALUES (default), KEYS and ENTRIES indexes on a map, VALUES on a "
         "set and a list, answering CONTAINS, CONTAINS KEY and m[k] = v (CollectionIndex)",
         Ok("CREATE TABLE m (k int PRIMARY KEY, m map<text, int>, s set<int>, l list<int>)"),
         Ok("INSERT INTO m (k, m, s, l) VALUES (1, {'a': 1, 'b': 2}, {1, 2}, [5, 6])"),
         Ok("INSERT INTO m (k, m, s, l) VALUES (2, {'a': 2}, {2}, [6])"),
         Ok("CREATE INDEX ON m (m)"), Ok("CREATE INDEX ON m (KEYS(m))"),
         Ok("CREATE INDEX ON m (ENTRIES(m))"), Ok("CREATE INDEX ON m (s)"),
         Ok("CREATE INDEX ON m (l)"),
         Rows("SELECT k FROM m WHERE m CONTAINS 2", [(1,), (2,)], ordered=False),
         Rows("SELECT k FROM m WHERE m CONTAINS KEY 'b'", [(1,)]),
         Rows("SELECT k FROM m WHERE m['a'] = 2", [(2,)]),
         Rows("SELECT k FROM m WHERE s CONTAINS 1", [(1,)]),
         Rows("SELECT k FROM m WHERE l CONTAINS 6", [(1,), (2,)], ordered=False),
         Ok("UPDATE m SET m['a'] = 3 WHERE k = 2"),
         Rows("SELECT k FROM m WHERE m['a'] = 2", []),
         Rows("SELECT k FROM m WHERE m['a'] = 3", [(2,)]),
         Error("CREATE INDEX ON m (KEYS(s))", "InvalidRequest",
               "Cannot create index on keys of column s with non-map type")),
    Case("index_sai", "CREATE CUSTOM INDEX ... USING 'StorageAttachedIndex' (and Cassandra 5's "
         "USING 'sai') is accepted, listed as CUSTOM with its class_name, and answers = and "
         "ranges on a numeric column; two SAI restrictions need no ALLOW FILTERING (one SAI "
         "query group: StorageAttachedIndexGroup)",
         Ok(_KV), *_FILL,
         Ok("CREATE CUSTOM INDEX sv ON t (v) USING 'StorageAttachedIndex'"),
         Ok("CREATE INDEX sw ON t (w) USING 'sai'"),
         Rows("SELECT index_name, kind, options FROM system_schema.indexes "
              "WHERE keyspace_name = '{ks}' AND table_name = 't' AND index_name = 'sv'",
              [("sv", "CUSTOM", {"class_name":
                                 "org.apache.cassandra.index.sai.StorageAttachedIndex",
                                 "target": "v"})]),
         Check(_describe_sai, "DESCRIBE INDEX prints CREATE CUSTOM INDEX ... USING its class"),
         Rows("SELECT k, c FROM t WHERE v = 0 AND w = 0", [(0, 0), (3, 0)], ordered=False),
         Rows("SELECT k, c FROM t WHERE v = 2 AND w > 0", [(0, 2), (1, 1), (3, 2)],
              ordered=False),
         Rows("SELECT k, c FROM t WHERE w > 0 AND w <= 1", [(k, 1) for k in range(4)],
              ordered=False),
         Rows("SELECT k, c FROM t WHERE w < 1", [(k, 0) for k in range(4)], ordered=False),
         Ok("UPDATE t SET w = 5 WHERE k = 0 AND c = 0"),
         Rows("SELECT k, c FROM t WHERE w >= 2", [(0, 0)] + [(k, 2) for k in range(4)],
              ordered=False),
         Rows("SELECT k, c FROM t WHERE w < 1", [(k, 0) for k in range(1, 4)], ordered=False)),
]
