"""Wrong results, part 2: DISTINCT and filtering with static columns, keyspace-qualified user
types, prepared statements' bind metadata and PREPARE-time checks, equal-timestamp
reconciliation."""

from __future__ import annotations

from typing import Any

from cassandra.query import SimpleStatement
from conformance_cases import Case, Check, Error, Ok, Rows

STATIC_TABLE = "CREATE TABLE t (k int, c int, s int static, v int, PRIMARY KEY (k, c))"
STATIC_ROWS = (
    Ok(STATIC_TABLE),
    Ok("INSERT INTO t (k, c, s, v) VALUES (0, 1, 10, 100)"),
    Ok("INSERT INTO t (k, c, v) VALUES (0, 2, 200)"),
    Ok("INSERT INTO t (k, s) VALUES (1, 11)"),  # a partition with only its static row
    Ok("INSERT INTO t (k, c, v) VALUES (2, 1, 300)"),  # rows, no static value
)


def _distinct_paged(session: Any, ks: str) -> None:
    stmt = SimpleStatement("SELECT DISTINCT k, s FROM t", fetch_size=1)
    got = sorted((r.k, r.s) for r in session.execute(stmt))
    assert got == [(0, 10), (1, 11), (2, None)], got


def _distinct_prepared(session: Any, ks: str) -> None:
    p = session.prepare("SELECT DISTINCT k, s FROM t WHERE k = ?")
    assert [(r.k, r.s) for r in session.execute(p, (1,))] == [(1, 11)]
    assert [(r.k, r.s) for r in session.execute(p, (2,))] == [(2, None)]


def _udt_metadata(session: Any, ks: str) -> None:
    cluster = session.cluster
    cluster.refresh_schema_metadata()
    meta = cluster.metadata.keyspaces[ks]
    assert set(meta.user_types) == {"addr", "outer"}, set(meta.user_types)
    assert meta.user_types["outer"].field_types == ["frozen<addr>", "int"], \
        meta.user_types["outer"].field_types
    text = meta.export_as_string()
    assert f"CREATE TYPE {ks}.outer (\n    a frozen<addr>,\n    b int\n);" in text, text
    table = meta.tables["t"].export_as_string()
    assert "a frozen<addr>," in table and "o2 outer" in table, table
    described = session.execute("DESCRIBE TYPE outer").one().create_statement
    assert described == f"CREATE TYPE {ks}.outer (\n    a frozen<addr>,\n    b int\n);", \
        described


def _distinct_many_partitions(session: Any, ks: str) -> None:
    """Static-only partitions, partitions whose first row is deleted, and partitions with both,
    read by DISTINCT and by static/regular filters, page by page."""
    for k in range(30):
        if k % 3 == 0:
            session.execute("INSERT INTO t (k, s) VALUES (%s, %s)", (k, k))
        elif k % 3 == 1:
            session.execute("INSERT INTO t (k, c, v) VALUES (%s, 1, 1)", (k,))
            session.execute("INSERT INTO t (k, c, v) VALUES (%s, 2, 1)", (k,))
            session.execute("DELETE FROM t WHERE k = %s AND c = 1", (k,))
        else:
            session.execute("INSERT INTO t (k, c, s, v) VALUES (%s, 1, %s, 1)", (k, k))
    for fetch in (1, 7, 100):
        rows = list(session.execute(SimpleStatement("SELECT DISTINCT k, s FROM t",
                                                    fetch_size=fetch)))
        assert sorted((r.k, r.s) for r in rows) == [
            (k, None if k % 3 == 1 else k) for k in range(30)], (fetch, rows)
        rows = list(session.execute(SimpleStatement(
            "SELECT k, s FROM t WHERE s >= 0 ALLOW FILTERING", fetch_size=fetch)))
        assert sorted(r.k for r in rows) == [k for k in range(30) if k % 3 != 1], (fetch, rows)
        rows = list(session.execute(SimpleStatement(
            "SELECT k, c FROM t WHERE v = 1 ALLOW FILTERING", fetch_size=fetch)))
        assert sorted((r.k, r.c) for r in rows) == [
            (k, 2 if k % 3 == 1 else 1) for k in range(30) if k % 3 != 0], (fetch, rows)


CASES = [
    Case("distinct_with_static", "SELECT DISTINCT over partition key and static columns "
         "returns one row per live partition, static-only partitions included and partitions "
         "without a static value as null (SelectStatement, DataLimits.distinctLimits)",
         *STATIC_ROWS,
         Rows("SELECT DISTINCT k, s FROM t", [(0, 10), (1, 11), (2, None)], ordered=False),
         Rows("SELECT DISTINCT k FROM t", [(0,), (1,), (2,)], ordered=False),
         Rows("SELECT DISTINCT k, s FROM t WHERE k IN (1, 2)", [(1, 11), (2, None)]),
         Check(_distinct_paged, "DISTINCT with static, one partition per page"),
         Check(_distinct_prepared, "DISTINCT with static, prepared"),
         Error("SELECT DISTINCT s FROM t", "InvalidRequest",
               "SELECT DISTINCT queries must request all the partition key columns (missing k)"),
         Error("SELECT DISTINCT k, v FROM t", "InvalidRequest",
               "SELECT DISTINCT queries must only request partition key columns and/or static "
               "columns (not v)")),
    Case("distinct_static_after_deletes", "DISTINCT sees a partition whose first rows are "
         "deleted and whose static cell is gone, as long as one row lives",
         Ok(STATIC_TABLE),
         Ok("INSERT INTO t (k, c, s, v) VALUES (0, 1, 5, 1)"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 2, 2)"),
         Ok("DELETE FROM t WHERE k = 0 AND c = 1"),
         Ok("DELETE s FROM t WHERE k = 0"),
         Ok("UPDATE t SET s = 6 WHERE k = 1"),
         Ok("INSERT INTO t (k, c, v) VALUES (1, 1, 1)"),
         Ok("DELETE FROM t WHERE k = 1 AND c = 1"),
         Rows("SELECT DISTINCT k, s FROM t", [(0, None), (1, 6)], ordered=False)),
    Case("distinct_static_paged_scan", "DISTINCT and static/regular filters over a scan of "
         "many partitions, page by page, count each live partition once",
         Ok(STATIC_TABLE),
         Check(_distinct_many_partitions, "30 partitions, fetch sizes 1, 7 and 100")),
    Case("static_only_selection", "a selection of only static (and partition key) columns "
         "still returns one row per live row (the static repeated, null when unset) and the "
         "static row alone for a partition without rows; only DISTINCT collapses partitions "
         "(SelectStatement.processPartition); it may not restrict clustering columns "
         "(StatementRestrictions)",
         *STATIC_ROWS,
         Rows("SELECT s FROM t WHERE k = 0", [(10,), (10,)]),
         Rows("SELECT k, s FROM t WHERE k = 2", [(2, None)]),
         Rows("SELECT k, s FROM t", [(0, 10), (0, 10), (1, 11), (2, None)], ordered=False),
         Rows("SELECT k, s FROM t WHERE k IN (0, 1)", [(0, 10), (0, 10), (1, 11)]),
         Rows("SELECT count(s) FROM t", [(3,)]),
         Rows("SELECT k, s FROM t WHERE s = 10 ALLOW FILTERING", [(0, 10), (0, 10)]),
         Rows("SELECT DISTINCT k, s FROM t WHERE k IN (0, 2)", [(0, 10), (2, None)]),
         Error("SELECT k, s FROM t WHERE k = 0 AND c = 1", "InvalidRequest",
               "Cannot restrict clustering columns when selecting only static columns")),
    Case("static_filtering", "filtering on a static column matches every row of the "
         "partition, and the static-only row when the partition has no rows; a filter on a "
         "regular or clustering column never matches a static-only row (RowFilter)",
         *STATIC_ROWS,
         Rows("SELECT * FROM t WHERE s = 10 ALLOW FILTERING",
              [(0, 1, 10, 100), (0, 2, 10, 200)]),
         Rows("SELECT * FROM t WHERE s = 11 ALLOW FILTERING", [(1, None, 11, None)]),
         Rows("SELECT k, s FROM t WHERE s > 10 ALLOW FILTERING", [(1, 11)]),
         Rows("SELECT * FROM t WHERE v > 0 ALLOW FILTERING",
              [(0, 1, 10, 100), (0, 2, 10, 200), (2, 1, None, 300)], ordered=False),
         Rows("SELECT * FROM t WHERE c = 1 ALLOW FILTERING",
              [(0, 1, 10, 100), (2, 1, None, 300)], ordered=False),
         Rows("SELECT * FROM t WHERE k = 0 AND s = 10 AND v = 200 ALLOW FILTERING",
              [(0, 2, 10, 200)]),
         Rows("SELECT DISTINCT k, s FROM t WHERE s = 11 ALLOW FILTERING", [(1, 11)]),
         Rows("SELECT count(*) FROM t WHERE s = 10 ALLOW FILTERING", [(2,)]),
         Error("SELECT * FROM t WHERE s = 10", "InvalidRequest", "ALLOW FILTERING")),
    Case("udt_keyspace_qualified", "a user type named with its keyspace (ks.t) resolves to "
         "the type of that keyspace everywhere a type is written (CQL3Type.Raw.RawUT.prepare)",
         Ok("CREATE TYPE addr (street text, n int)"),
         Ok("CREATE TYPE {ks}.outer (a frozen<{ks}.addr>, b int)"),
         Ok("CREATE TABLE t (k int PRIMARY KEY, a frozen<{ks}.addr>, "
            "l list<frozen<{ks}.addr>>, m map<int, frozen<{ks}.addr>>)"),
         Ok("ALTER TABLE t ADD o frozen<{ks}.outer>"),
         Ok("ALTER TABLE t ADD o2 {ks}.outer"),
         Ok("INSERT INTO t (k, a) VALUES (0, {street: 'x', n: 1})"),
         Ok("INSERT INTO t (k, a) VALUES (1, (frozen<{ks}.addr>){street: 'y', n: 2})"),
         Ok("INSERT INTO t (k, a) VALUES (2, ({ks}.addr){street: 'z', n: 3})"),
         Ok("INSERT INTO t JSON '{\"k\": 3, \"o\": {\"a\": {\"street\": \"w\", \"n\": 4}, "
            "\"b\": 5}}'"),
         Ok("UPDATE t SET a = fromJson('{\"street\": \"q\", \"n\": 9}') WHERE k = 4"),
         Rows("SELECT k, toJson(a) FROM t WHERE k IN (0, 1, 2, 4)",
              [(0, '{"street": "x", "n": 1}'), (1, '{"street": "y", "n": 2}'),
               (2, '{"street": "z", "n": 3}'), (4, '{"street": "q", "n": 9}')]),
         Rows("SELECT JSON k, o FROM t WHERE k = 3",
              [('{"k": 3, "o": {"a": {"street": "w", "n": 4}, "b": 5}}',)]),
         Check(_udt_metadata, "driver metadata and DESCRIBE of qualified user types"),
         Error("CREATE TABLE t2 (k int PRIMARY KEY, a frozen<{ks}.nope>)", "InvalidRequest",
               "Unknown type c_udt_keyspace_qualified.nope"),
         Error("CREATE TABLE t2 (k int PRIMARY KEY, a frozen<system.addr>)", "InvalidRequest",
               "cannot refer to a user type in keyspace system; user types can only be used "
               "in the keyspace they are defined in")),
]


def _per_replica(session: Any, ks: str, cql: str) -> list[list[tuple[Any, ...]]]:
    """``cql`` read at ONE through each node of the cluster as coordinator alone."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    out = []
    for host in sorted(h.address for h in session.cluster.metadata.all_hosts()):
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]),
                                   consistency_level=ConsistencyLevel.ONE)
        cluster = Cluster([host], port=session.cluster.port,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            s = cluster.connect(ks)
            out.append([tuple(r) for r in s.execute(cql)])
        finally:
            cluster.shutdown()
    return out


def _equal_timestamp_writes(session: Any, ks: str) -> None:
    """Conflicting writes at one timestamp, each through another coordinator at ONE: every
    replica, and a read at ALL, hold Cassandra 5's winner."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    hosts = sorted(h.address for h in session.cluster.metadata.all_hosts())
    writes = [
        # k=0: a plain cell with the greater value, an expiring one with the smaller value
        "INSERT INTO t (k, v) VALUES (0, 255) USING TIMESTAMP 1000",
        "INSERT INTO t (k, v) VALUES (0, 1) USING TIMESTAMP 1000 AND TTL 100000",
        # k=1: a cell and a row deletion at its timestamp
        "INSERT INTO t (k, v) VALUES (1, 7) USING TIMESTAMP 2000",
        "DELETE FROM t USING TIMESTAMP 2000 WHERE k = 1",
        # k=2: two plain values, the greater bytes win
        "INSERT INTO t (k, v) VALUES (2, 3) USING TIMESTAMP 3000",
        "INSERT INTO t (k, v) VALUES (2, 9) USING TIMESTAMP 3000",
        # a range tombstone and a partition deletion, each at the timestamp of the rows
        "INSERT INTO r (k, c, v) VALUES (0, 1, 1) USING TIMESTAMP 4000",
        "INSERT INTO r (k, c, v) VALUES (0, 2, 2) USING TIMESTAMP 4000",
        "DELETE FROM r USING TIMESTAMP 4000 WHERE k = 0 AND c >= 2",
        "INSERT INTO r (k, c, v) VALUES (1, 1, 1) USING TIMESTAMP 5000",
        "DELETE FROM r USING TIMESTAMP 5000 WHERE k = 1",
    ]
    for i, cql in enumerate(writes):
        host = hosts[i % len(hosts)]
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]),
                                   consistency_level=ConsistencyLevel.ONE)
        cluster = Cluster([host], port=session.cluster.port,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            cluster.connect(ks).execute(cql)
        finally:
            cluster.shutdown()
    want = [(0, 1), (2, 9)]
    query = "SELECT k, v FROM t WHERE k IN (0, 1, 2)"
    got = [tuple(r) for r in session.execute(
        SimpleStatement(query, consistency_level=ConsistencyLevel.ALL))]
    assert got == want, got
    for rows in _per_replica(session, ks, query):
        assert rows == want, rows
    query = "SELECT k, c, v FROM r"
    got = [tuple(r) for r in session.execute(
        SimpleStatement(query, consistency_level=ConsistencyLevel.ALL))]
    assert got == [(0, 1, 1)], got
    for rows in _per_replica(session, ks, query):
        assert rows == [(0, 1, 1)], rows


CASES += [
    Case("equal_timestamp_reconciliation", "at equal timestamps Cells.resolveRegular prefers "
         "a tombstone, then an expiring cell over a plain one, then the later local deletion "
         "time, then the greater value bytes; a row deletion deletes what has its timestamp "
         "(DeletionTime.deletes)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Ok("INSERT INTO t (k, v) VALUES (0, 255) USING TIMESTAMP 1000"),
         Ok("INSERT INTO t (k, v) VALUES (0, 1) USING TIMESTAMP 1000 AND TTL 100000"),
         Ok("INSERT INTO t (k, v) VALUES (1, 2) USING TIMESTAMP 1000 AND TTL 100000"),
         Ok("INSERT INTO t (k, v) VALUES (1, 3) USING TIMESTAMP 1000 AND TTL 200000"),
         Ok("INSERT INTO t (k, v) VALUES (2, 9) USING TIMESTAMP 1000"),
         Ok("DELETE v FROM t USING TIMESTAMP 1000 WHERE k = 2"),
         Ok("INSERT INTO t (k, v) VALUES (3, -1) USING TIMESTAMP 1000"),
         Ok("INSERT INTO t (k, v) VALUES (3, 1) USING TIMESTAMP 1000"),
         Rows("SELECT k, v FROM t WHERE k IN (0, 1, 2, 3)",
              [(0, 1), (1, 3), (2, None), (3, -1)])),
    Case("equal_timestamp_replicas_converge", "conflicting writes at one timestamp through "
         "different coordinators converge on every replica to Cassandra's winner",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Ok("CREATE TABLE r (k int, c int, v int, PRIMARY KEY (k, c))"),
         Check(_equal_timestamp_writes, "per-replica reads at ONE and a read at ALL"),
         nodes=(3,)),
]


PREP_TABLE = ("CREATE TABLE t (k int, c int, s int static, m map<text, int>, l list<text>, "
              "st set<int>, v int, PRIMARY KEY (k, c))")


def _markers(session: Any, cql: str) -> list[tuple[str, str]]:
    p = session.prepare(cql)
    return [(c.name, c.type.cql_parameterized_type()) for c in p.column_metadata]


def _bind_metadata(session: Any, ks: str) -> None:
    """Each marker's name and type as Cassandra gives them (ColumnSpecification receivers:
    Maps/Lists/Sets.*SpecOf, in(...), Tuples.makeReceiver, [limit], [ttl], [timestamp])."""
    expected = {
        "SELECT * FROM t WHERE k = ? AND m[?] = ? ALLOW FILTERING":
            [("k", "int"), ("key(m)", "varchar"), ("value(m)", "int")],
        "UPDATE t SET m[?] = ? WHERE k = ? AND c = ?":
            [("key(m)", "varchar"), ("value(m)", "int"), ("k", "int"), ("c", "int")],
        "UPDATE t SET l[?] = ? WHERE k = ? AND c = ?":
            [("idx(l)", "int"), ("value(l)", "varchar"), ("k", "int"), ("c", "int")],
        "DELETE m[?] FROM t WHERE k = ? AND c = ?":
            [("key(m)", "varchar"), ("k", "int"), ("c", "int")],
        "SELECT * FROM t WHERE k IN ? AND c IN ? PER PARTITION LIMIT ? LIMIT ?":
            [("in(k)", "list<int>"), ("in(c)", "list<int>"), ("[per_partition_limit]", "int"),
             ("[limit]", "int")],
        "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?":
            [("k", "int"), ("c", "int"), ("v", "int"), ("[ttl]", "int"),
             ("[timestamp]", "bigint")],
        "SELECT * FROM t WHERE token(k) > ?": [("partition key token", "bigint")],
        "SELECT * FROM t WHERE k = ? AND (c) > ?": [("k", "int"), ("(c)", "frozen<tuple<int>>")],
        "SELECT * FROM t WHERE k = ? AND (c) IN ?":
            [("k", "int"), ("in(c)", "list<frozen<tuple<int>>>")],
        "SELECT * FROM t WHERE st CONTAINS ? ALLOW FILTERING": [("value(st)", "int")],
        "SELECT * FROM t WHERE m CONTAINS KEY ? ALLOW FILTERING": [("key(m)", "varchar")],
        "SELECT * FROM t WHERE m CONTAINS ? ALLOW FILTERING": [("value(m)", "int")],
        "UPDATE t SET m = m - ? WHERE k = ? AND c = ?":
            [("m", "set<varchar>"), ("k", "int"), ("c", "int")],
        "SELECT * FROM t WHERE k = :key AND c = :ck": [("key", "int"), ("ck", "int")],
        "SELECT * FROM t WHERE token(k) > token(?)": [("arg0(system.token)", "int")],
        "INSERT INTO t (k, c, v) VALUES (?, ?, blobAsInt(?))":
            [("k", "int"), ("c", "int"), ("arg0(system.blobasint)", "blob")],
        "UPDATE t SET v = fromJson(?) WHERE k = ? AND c = ?":
            [("arg0(system.fromjson)", "varchar"), ("k", "int"), ("c", "int")],
    }
    for cql, want in expected.items():
        got = _markers(session, cql)
        assert got == want, f"{cql}: expected {want}, got {got}"


def _map_entry_binds(session: Any, ks: str) -> None:
    """Values bound to map-entry markers are encoded with the key and value types."""
    up = session.prepare("UPDATE t SET m[?] = ? WHERE k = ? AND c = ?")
    session.execute(up, ("a", 1, 0, 0))
    session.execute(up, ("b", 2, 0, 1))
    sel = session.prepare("SELECT c FROM t WHERE k = ? AND m[?] = ? ALLOW FILTERING")
    assert [r.c for r in session.execute(sel, (0, "b", 2))] == [1]
    li = session.prepare("UPDATE t SET l = ? WHERE k = ? AND c = ?")
    session.execute(li, (["x", "y"], 0, 0))
    at = session.prepare("UPDATE t SET l[?] = ? WHERE k = ? AND c = ?")
    session.execute(at, (1, "z", 0, 0))
    assert session.execute("SELECT l FROM t WHERE k = 0 AND c = 0").one().l == ["x", "z"]
    import datetime

    session.execute("CREATE TABLE tu (k int, c timeuuid, PRIMARY KEY (k, c))")
    session.execute("INSERT INTO tu (k, c) VALUES (0, now())")
    after = session.prepare("SELECT k FROM tu WHERE k = ? AND c > minTimeuuid(?)")
    assert [r.k for r in session.execute(after, (0, datetime.datetime(2000, 1, 1)))] == [0]


def _prepare_fails(cql: str, message: str) -> Check:
    def check(session: Any, ks: str) -> None:
        from cassandra import InvalidRequest

        try:
            session.prepare(cql)
        except InvalidRequest as e:
            assert message in str(e), f"PREPARE {cql!r}: expected {message!r}, got {e}"
            return
        raise AssertionError(f"PREPARE {cql!r} succeeded; Cassandra refuses it ({message})")
    return Check(check, f"PREPARE {cql} is refused")


def _prepare_accepts(*cqls: str) -> Check:
    def check(session: Any, ks: str) -> None:
        for cql in cqls:
            session.prepare(cql)
    return Check(check, "statements Cassandra prepares")


def _unset_routing_key(session: Any, ks: str) -> None:
    """UNSET in a partition key position: the driver refuses to route it (pk_indexes are
    Cassandra's), and the server, sent it anyway, answers 'Invalid unset value for column k'
    (as Cassandra's restrictions do); an unset LIMIT or TTL means none."""
    from cassandra import InvalidRequest
    from cassandra.query import UNSET_VALUE

    ins = session.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?)")
    assert ins.routing_key_indexes == [0], ins.routing_key_indexes
    try:
        session.execute(ins, (UNSET_VALUE, 1, 1))
        raise AssertionError("the driver routed an unset partition key")
    except ValueError as e:
        assert "Cannot bind UNSET_VALUE as a part of the routing key 'k'" in str(e), e
    for cql, values in [("INSERT INTO t (k, c, v) VALUES (?, ?, ?)", (UNSET_VALUE, 1, 1)),
                        ("SELECT * FROM t WHERE k = ?", (UNSET_VALUE,)),
                        ("UPDATE t SET v = ? WHERE k = ? AND c = ?", (1, UNSET_VALUE, 1)),
                        ("DELETE FROM t WHERE k = ?", (UNSET_VALUE,))]:
        p = session.prepare(cql)
        p.routing_key_indexes = None  # send the unset value to the server
        try:
            session.execute(p, values)
            raise AssertionError(f"{cql} with an unset partition key succeeded")
        except InvalidRequest as e:
            assert "Invalid unset value for column k" in str(e), e
    session.execute(ins, (0, 1, 1))
    lim = session.prepare("SELECT v FROM t WHERE k = ? LIMIT ?")
    assert [r.v for r in session.execute(lim, (0, UNSET_VALUE))] == [1]


def _alter_invalidates(session: Any, ks: str) -> None:
    """ALTER TABLE evicts the table's prepared statements: the next EXECUTE answers UNPREPARED,
    the driver prepares again and decodes the new columns of SELECT *."""
    session.execute("CREATE TABLE a (k int PRIMARY KEY, x int)")
    session.execute("INSERT INTO a (k, x) VALUES (0, 1)")
    p = session.prepare("SELECT * FROM a WHERE k = ?")
    assert [tuple(r) for r in session.execute(p, (0,))] == [(0, 1)]
    session.execute("ALTER TABLE a ADD y text")
    session.execute("UPDATE a SET y = 'new' WHERE k = 0")
    rows = list(session.execute(p, (0,)))
    assert [tuple(r) for r in rows] == [(0, 1, "new")], rows
    assert rows[0]._fields == ("k", "x", "y"), rows[0]._fields
    # the driver re-prepared: its prepared statement now holds the new result metadata
    assert [c[2] for c in p.result_metadata] == ["k", "x", "y"], p.result_metadata
    session.execute("ALTER TABLE a DROP x")
    assert [tuple(r) for r in session.execute(p, (0,))] == [(0, "new")]
    session.execute("ALTER TABLE a WITH comment = 'no new metadata'")
    assert [tuple(r) for r in session.execute(p, (0,))] == [(0, "new")]
    session.execute("DROP TABLE a")
    session.execute("CREATE TABLE a (k int PRIMARY KEY, z int)")
    session.execute("INSERT INTO a (k, z) VALUES (0, 5)")
    rows = list(session.execute(p, (0,)))
    assert [tuple(r) for r in rows] == [(0, 5)] and rows[0]._fields == ("k", "z"), rows
    assert [c[2] for c in p.result_metadata] == ["k", "z"], p.result_metadata


CASES += [
    Case("prepared_bind_metadata", "each bind marker carries the name and type Cassandra's "
         "receiver gives it (SingleColumnRelation/Operation/Tuples receivers, "
         "VariableSpecifications for named markers)",
         Ok(PREP_TABLE),
         Check(_bind_metadata, "marker names and types"),
         Check(_map_entry_binds, "map-entry and list-index markers bind through the driver")),
    Case("prepare_time_checks", "statements Cassandra refuses at PREPARE (StatementRestrictions, "
         "getExistingColumn, literal types) are refused at PREPARE, with its messages",
         Ok(PREP_TABLE),
         _prepare_fails("UPDATE t SET v = ? WHERE c = ?",
                        "Some partition key parts are missing: k"),
         _prepare_fails("DELETE FROM t WHERE c = ?", "Some partition key parts are missing: k"),
         _prepare_fails("INSERT INTO t (c, v) VALUES (?, ?)",
                        "Some partition key parts are missing: k"),
         _prepare_fails("UPDATE t SET v = ? WHERE k = ?", "Some clustering keys are missing: c"),
         _prepare_fails("INSERT INTO t (k, v) VALUES (?, ?)",
                        "Some clustering keys are missing: c"),
         _prepare_fails("INSERT INTO t (k, c, nope) VALUES (?, ?, ?)",
                        "Undefined column name nope"),
         _prepare_fails("SELECT * FROM t WHERE k = ? AND nope = ?", "Undefined column name nope"),
         _prepare_fails("UPDATE t SET nope = ? WHERE k = ? AND c = ?",
                        "Undefined column name nope"),
         _prepare_fails("INSERT INTO t (k, c, v) VALUES (?, ?, 'x')",
                        "Invalid STRING constant (x) for \"v\" of type int"),
         _prepare_fails("SELECT * FROM t WHERE k = 'a'",
                        "Invalid STRING constant (a) for \"k\" of type int"),
         _prepare_fails("SELECT * FROM t WHERE v = ?", "ALLOW FILTERING"),
         _prepare_fails("UPDATE t SET v = ? WHERE k = ? AND c = ? AND v = ?",
                        "Non PRIMARY KEY columns found in where clause: v"),
         _prepare_fails("UPDATE t SET k = ? WHERE k = ? AND c = ?",
                        "PRIMARY KEY part k found in SET part"),
         _prepare_fails("DELETE v FROM t WHERE k = ? AND c > ?",
                        "Range deletions are not supported for specific columns"),
         _prepare_fails("INSERT INTO t (k, c, v) VALUES (?, ?, 99999999999)",
                        "Unable to make int from '99999999999'"),
         _prepare_fails("INSERT INTO t (k, c, l) VALUES (?, ?, [1])",
                        "Invalid INTEGER constant (1)"),
         _prepare_fails("INSERT INTO t (k, c, v) VALUES (?, ?, now())",
                        "Type error: cannot assign result of function system.now (type timeuuid)"
                        " to v (type int)"),
         _prepare_fails("SELECT * FROM t WHERE k = ? AND c > ? AND c > ?",
                        "More than one restriction was found for the start bound on c"),
         _prepare_fails("SELECT * FROM t WHERE k = ? ORDER BY v", "Order by"),
         _prepare_fails("SELECT DISTINCT v FROM t", "SELECT DISTINCT queries must only request "
                        "partition key columns and/or static columns (not v)"),
         _prepare_fails("SELECT * FROM t WHERE k IN (" + ", ".join(["?"] * 65536) + ")",
                        "Too many markers(?). 65536 markers exceed the allowed maximum of 65535"),
         _prepare_accepts("INSERT INTO t (k, s) VALUES (?, ?)", "UPDATE t SET s = ? WHERE k = ?",
                          "DELETE FROM t WHERE k = ? AND c > ?", "SELECT * FROM t WHERE k = ? "
                          "LIMIT ?", "UPDATE t SET l[?] = ? WHERE k = ? AND c = ?",
                          "INSERT INTO t JSON ?", "UPDATE t SET v = ? WHERE k IN ? AND c IN ?",
                          "SELECT * FROM t WHERE k = ? AND v = ? ALLOW FILTERING",
                          # refused at EXECUTE by Cassandra too (values, not shape)
                          "SELECT * FROM t WHERE k = ? LIMIT 0",
                          "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL -1")),
    Case("modification_key_messages", "UPDATE/DELETE partition key restrictions are refused "
         "naming the statement type (StatementRestrictions.processPartitionKeyRestrictions)",
         Ok(PREP_TABLE),
         Error("UPDATE t SET v = 1 WHERE k > 0 AND c = 1", "InvalidRequest",
               "Only EQ and IN relation are supported on the partition key (unless you use the "
               "token() function) for UPDATE statements"),
         Error("DELETE FROM t WHERE k > 0", "InvalidRequest",
               "Only EQ and IN relation are supported on the partition key (unless you use the "
               "token() function) for DELETE statements"),
         Error("DELETE FROM t WHERE token(k) > 0", "InvalidRequest",
               "The token function cannot be used in WHERE clauses for DELETE statements"),
         Error("UPDATE t SET v = 1 WHERE token(k) = 0 AND c = 1", "InvalidRequest",
               "The token function cannot be used in WHERE clauses for UPDATE statements")),
    Case("prepared_unset_partition_key", "UNSET bound to a partition key column: "
         "'Invalid unset value for column k' (Cassandra's restrictions), the driver refusing "
         "first because the routing indexes name it",
         Ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))"),
         Check(_unset_routing_key, "unset partition key")),
    Case("prepared_invalidated_by_alter", "a schema change evicts the table's prepared "
         "statements (QueryProcessor's schema listener): the driver re-prepares and sees the "
         "new result metadata",
         Ok("CREATE TABLE t (k int PRIMARY KEY)"),
         Check(_alter_invalidates, "ALTER TABLE ADD/DROP, DROP and re-CREATE")),
]
