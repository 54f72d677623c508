"""The CQL parser: each statement shape against its exact AST, client statements verbatim,
error messages, and a garbage-input property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse

C = ast.Constant
B = ast.BindMarker
R = ast.Relation
UUID = "123e4567-e89b-12d3-a456-426614174000"


def s(text: str) -> ast.Constant:
    return C("string", text)


def i(n: int) -> ast.Constant:
    return C("integer", str(n))


def stmt(text: str) -> ast.Statement:
    return parse(text).statement


def sel(
    table: str, *selectors: ast.Selector, keyspace: str | None = None, **kw: object
) -> ast.Select:
    return ast.Select(keyspace, table, selectors, **kw)  # type: ignore[arg-type]


def col(name: str, alias: str | None = None) -> ast.Selector:
    return ast.Selector(ast.ColumnRef(name), alias)


# ---------------------------------------------------------------- client statements verbatim


def test_driver_control_connection_queries() -> None:
    assert stmt("SELECT * FROM system.peers_v2") == sel("peers_v2", keyspace="system")
    assert stmt("SELECT * FROM system.local WHERE key='local'") == sel(
        "local", keyspace="system", where=(R("key", "=", s("local")),)
    )
    assert stmt("select * from system.local where key = 'local'") == sel(
        "local", keyspace="system", where=(R("key", "=", s("local")),)
    )


def test_duplicate_selectors_are_kept() -> None:
    got = stmt(
        "SELECT host_id, peer, data_center, rack, rpc_address, rpc_address, release_version, "
        "schema_version FROM system.peers"
    )
    names = ("host_id", "peer", "data_center", "rack", "rpc_address", "rpc_address",
             "release_version", "schema_version")
    assert got == sel("peers", *(col(n) for n in names), keyspace="system")


def test_scylla_explicit_local_query_with_timeout() -> None:
    got = stmt(
        "SELECT broadcast_address, cluster_name, data_center, host_id, listen_address, "
        "partitioner, rack, release_version, rpc_address, schema_version, tokens FROM "
        "system.local WHERE key='local' USING TIMEOUT 2000ms"
    )
    assert isinstance(got, ast.Select)
    assert len(got.selectors) == 11 and got.selectors[-1] == col("tokens")
    assert got.using == ast.Using(timeout=C("duration", "2000ms"))


def test_schema_refresh_queries() -> None:
    assert stmt("SELECT * from system_virtual_schema.keyspaces") == sel(
        "keyspaces", keyspace="system_virtual_schema"
    )
    got = stmt(
        "SELECT * FROM system_schema.columns WHERE keyspace_name = 'ks' AND table_name = 't'"
    )
    assert got == sel(
        "columns", keyspace="system_schema",
        where=(R("keyspace_name", "=", s("ks")), R("table_name", "=", s("t"))),
    )


def test_cqlengine_create_keyspace() -> None:
    got = stmt(
        "CREATE KEYSPACE ks2 WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': '1'}  AND durable_writes = true"
    )
    assert got == ast.CreateKeyspace(
        "ks2", (("class", "SimpleStrategy"), ("replication_factor", "1")), True
    )


def test_cqlengine_create_table() -> None:
    got = stmt(
        'CREATE TABLE ks2.person ("id" uuid , "seq" int , "name" text , "tags" set<text> , '
        '"created" timestamp , PRIMARY KEY (("id"), "seq")) WITH CLUSTERING ORDER BY ("seq" DESC)'
    )
    assert got == ast.CreateTable(
        "ks2", "person",
        (ast.ColumnSpec("id", "uuid"), ast.ColumnSpec("seq", "int"),
         ast.ColumnSpec("name", "text"), ast.ColumnSpec("tags", "set<text>"),
         ast.ColumnSpec("created", "timestamp")),
        ("id",), ("seq",), (("seq", "DESC"),),
    )


def test_cqlengine_crud() -> None:
    got = stmt(
        f'INSERT INTO ks2.person ("id", "seq", "name", "tags", "created") VALUES ({UUID}, 1, '
        "'bob', {'x'}, 1704164645000)"
    )
    assert got == ast.Insert(
        "ks2", "person", ("id", "seq", "name", "tags", "created"),
        (C("uuid", UUID), i(1), s("bob"), ast.CollectionLiteral("set", (s("x"),)),
         i(1704164645000)),
    )
    got = stmt(
        f'SELECT "name", "tags", "created" FROM ks2.person WHERE "id" = {UUID} AND "seq" = 1 '
        "LIMIT 10000"
    )
    assert got == sel(
        "person", col("name"), col("tags"), col("created"), keyspace="ks2",
        where=(R("id", "=", C("uuid", UUID)), R("seq", "=", i(1))), limit=i(10000),
    )
    got = stmt(f'SELECT COUNT(*) FROM ks2.person WHERE "id" = {UUID} LIMIT 10000')
    assert got == sel(
        "person", ast.Selector(ast.CountStar()), keyspace="ks2",
        where=(R("id", "=", C("uuid", UUID)),), limit=i(10000),
    )
    assert stmt(f"UPDATE ks2.person SET \"name\" = 'alice' WHERE \"id\" = {UUID}") == ast.Update(
        "ks2", "person", (ast.Assignment("name", "set", s("alice")),),
        (R("id", "=", C("uuid", UUID)),),
    )
    assert stmt("DROP TABLE ks2.person;") == ast.DropTable("ks2", "person")
    assert stmt('CREATE INDEX ON ks2.person ("name")') == ast.CreateIndex(
        "ks2", "person", None, "name"
    )


def test_encoder_literal_forms() -> None:
    got = stmt(
        "INSERT INTO t (a, b, c, d, e, f, g, h, j, k) VALUES ('it''s', 0x0102, "
        f"{UUID}, True, False, NULL, 1.5, {{1, 2}}, [1, 'a'], {{'k': 1}})"
    )
    assert isinstance(got, ast.Insert)
    assert got.values == (
        s("it's"), C("hex", "0102"), C("uuid", UUID), C("boolean", "true"),
        C("boolean", "false"), C("null", "null"), C("float", "1.5"),
        ast.CollectionLiteral("set", (i(1), i(2))),
        ast.CollectionLiteral("list", (i(1), s("a"))),
        ast.CollectionLiteral("map", ((s("k"), i(1)),)),
    )


def test_cqlsh_semicolon_and_comments() -> None:
    expected = sel("t", where=(R("k", "=", i(1)),))
    assert stmt("SELECT * FROM t WHERE k = 1;") == expected
    assert stmt("/* hi */ SELECT * FROM t -- trailing\nWHERE k = 1 // more\n;") == expected
    assert stmt("SELECT * FROM t /* multi\nline */ WHERE k = 1 ;  ") == expected


def test_use_quoted_keyspace() -> None:
    assert stmt('USE "ks"') == ast.Use("ks")
    assert stmt("USE Ks;") == ast.Use("ks")
    assert stmt('USE "MyKs"') == ast.Use("MyKs")


# ---------------------------------------------------------------- identifiers and keywords


def test_identifiers_are_normalised() -> None:
    got = stmt('SELECT Foo, "Bar", "a""b" FROM KS.Tab')
    assert got == sel("tab", col("foo"), col("Bar"), col('a"b'), keyspace="ks")


@pytest.mark.parametrize(
    "name",
    ["key", "type", "value", "timestamp", "date", "time", "ttl", "writetime", "count", "token",
     "list", "map", "set", "keyspace", "frozen", "tuple", "filtering", "static", "text", "exists"],
)
def test_keywords_as_column_names(name: str) -> None:
    assert stmt(f"SELECT {name} FROM t WHERE {name} = 1") == sel(
        "t", col(name), where=(R(name, "=", i(1)),)
    )
    assert stmt(f"INSERT INTO t ({name}) VALUES (1)") == ast.Insert(None, "t", (name,), (i(1),))
    assert stmt(f"UPDATE t SET {name} = 1 WHERE k = 1") == ast.Update(
        None, "t", (ast.Assignment(name, "set", i(1)),), (R("k", "=", i(1)),)
    )
    got = stmt(f"CREATE TABLE t (k int PRIMARY KEY, {name} text)")
    assert isinstance(got, ast.CreateTable) and got.columns[1] == ast.ColumnSpec(name, "text")


def test_keywords_are_case_insensitive() -> None:
    assert stmt("sElEcT * fRoM t wHeRe k = 1 LiMiT 3") == sel(
        "t", where=(R("k", "=", i(1)),), limit=i(3)
    )


def test_keyword_still_a_keyword_where_grammar_needs_it() -> None:
    # `set` is a type after a column name, but SET after UPDATE's table name.
    got = stmt("CREATE TABLE t (k int PRIMARY KEY, set set<int>, timestamp timestamp)")
    assert isinstance(got, ast.CreateTable)
    assert got.columns[1:] == (ast.ColumnSpec("set", "set<int>"),
                               ast.ColumnSpec("timestamp", "timestamp"))
    assert stmt("UPDATE set SET set = {1} WHERE k = 1") == ast.Update(
        None, "set", (ast.Assignment("set", "set", ast.CollectionLiteral("set", (i(1),))),),
        (R("k", "=", i(1)),),
    )


# ---------------------------------------------------------------- SELECT


def test_select_distinct_json_and_aliases() -> None:
    assert stmt("SELECT DISTINCT k FROM t") == sel("t", col("k"), distinct=True)
    assert stmt("SELECT JSON * FROM t") == sel("t", json=True)
    assert stmt("SELECT JSON DISTINCT a AS x FROM t") == sel(
        "t", col("a", "x"), json=True, distinct=True
    )
    assert stmt('SELECT a AS "X", b AS y FROM t') == sel("t", col("a", "X"), col("b", "y"))


def test_select_functions() -> None:
    got = stmt(
        "SELECT writetime(v), TTL(v), token(a, b), count(*), count(1), COUNT(c), min(x), "
        "max(x), sum(x), avg(x), now(), toJson(m), blobAsText(0x41) FROM t"
    )
    call = ast.SelectorCall
    ref = ast.ColumnRef
    assert isinstance(got, ast.Select)
    assert [x.expr for x in got.selectors] == [
        call("writetime", (ref("v"),)), call("ttl", (ref("v"),)),
        call("token", (ref("a"), ref("b"))), ast.CountStar(), ast.CountStar(),
        call("count", (ref("c"),)), call("min", (ref("x"),)), call("max", (ref("x"),)),
        call("sum", (ref("x"),)), call("avg", (ref("x"),)), call("now", ()),
        call("tojson", (ref("m"),)), call("blobastext", (ast.SelectorTerm(C("hex", "41")),)),
    ]


def test_select_cast_and_nested_calls() -> None:
    got = stmt("SELECT CAST(a AS text), cast(b as varchar) AS s, toDate(toTimestamp(now())) FROM t")
    assert isinstance(got, ast.Select)
    assert got.selectors == (
        ast.Selector(ast.SelectorCast(ast.ColumnRef("a"), "text")),
        ast.Selector(ast.SelectorCast(ast.ColumnRef("b"), "text"), "s"),
        ast.Selector(ast.SelectorCall("todate", (ast.SelectorCall(
            "totimestamp", (ast.SelectorCall("now", ()),)),))),
    )
    got = stmt("SELECT max(a, 3, 'x', ?) FROM t")
    assert isinstance(got, ast.Select)
    assert got.selectors[0].expr == ast.SelectorCall("max", (
        ast.ColumnRef("a"), ast.SelectorTerm(i(3)), ast.SelectorTerm(s("x")),
        ast.SelectorTerm(B(0)),
    ))


def test_select_where_operators() -> None:
    got = stmt(
        "SELECT * FROM t WHERE a = 1 AND b < 2 AND c <= 3 AND d > 4 AND e >= 5 AND f != 6 "
        "AND g IN (1, 2) AND h IN ? AND j CONTAINS 'x' AND k CONTAINS KEY 'y' AND l IN () "
        "AND m LIKE 'a%'"
    )
    assert isinstance(got, ast.Select)
    assert got.where == (
        R("a", "=", i(1)), R("b", "<", i(2)), R("c", "<=", i(3)), R("d", ">", i(4)),
        R("e", ">=", i(5)), R("f", "!=", i(6)), R("g", "IN", (i(1), i(2))),
        R("h", "IN", B(0)), R("j", "CONTAINS", s("x")), R("k", "CONTAINS KEY", s("y")),
        R("l", "IN", ()), R("m", "LIKE", s("a%")),
    )


def test_select_multi_column_and_token_relations() -> None:
    got = stmt(
        "SELECT * FROM t WHERE (a, b) > (1, 2) AND (a, b) IN ((1, 2), (3, 4)) AND (c, d) = ? "
        "AND (c) IN ? AND token(a, b) > ? AND TOKEN(k) <= token(1)"
    )
    t = ast.TupleLiteral
    assert isinstance(got, ast.Select)
    assert got.where == (
        R(("a", "b"), ">", t((i(1), i(2)))),
        R(("a", "b"), "IN", (t((i(1), i(2))), t((i(3), i(4))))),
        R(("c", "d"), "=", B(0)),
        R(("c",), "IN", B(1)),
        R(ast.TokenOf(("a", "b")), ">", B(2)),
        R(ast.TokenOf(("k",)), "<=", ast.FunctionCall("token", (i(1),))),
    )


def test_select_tail_clauses() -> None:
    got = stmt(
        "SELECT a, count(*) FROM ks.t WHERE k = 1 GROUP BY k, c ORDER BY c DESC, d ASC, e "
        "PER PARTITION LIMIT 2 LIMIT ? ALLOW FILTERING USING TIMEOUT 500ms"
    )
    assert got == sel(
        "t", col("a"), ast.Selector(ast.CountStar()), keyspace="ks",
        where=(R("k", "=", i(1)),), group_by=("k", "c"),
        order_by=(("c", "DESC"), ("d", "ASC"), ("e", "ASC")), per_partition_limit=i(2),
        limit=B(0), allow_filtering=True, using=ast.Using(timeout=C("duration", "500ms")),
    )


def test_bind_markers_numbered_in_order() -> None:
    parsed = parse("SELECT * FROM t WHERE a = ? AND b IN (:x, ?) AND c > :y LIMIT ?")
    assert parsed.bind_count == 5
    assert parsed.bind_names == (None, "x", None, "y", None)
    assert isinstance(parsed.statement, ast.Select)
    assert parsed.statement.where == (
        R("a", "=", B(0)), R("b", "IN", (B(1, "x"), B(2))), R("c", ">", B(3, "y")),
    )
    assert parsed.statement.limit == B(4)
    # a new parse starts counting from zero again
    assert parse("SELECT * FROM t WHERE a = ?").bind_names == (None,)
    assert parse('INSERT INTO t (a) VALUES (:"Key")').bind_names == ("Key",)


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("'it''s'", s("it's")),
        ("''", s("")),
        ("$$a 'quoted' $ string$$", s("a 'quoted' $ string")),
        ("42", i(42)),
        ("-17", i(-17)),
        ("1.5", C("float", "1.5")),
        ("-2e3", C("float", "-2e3")),
        ("1E-5", C("float", "1E-5")),
        ("NaN", C("float", "NaN")),
        ("Infinity", C("float", "Infinity")),
        ("-Infinity", C("float", "-Infinity")),
        ("true", C("boolean", "true")),
        ("FALSE", C("boolean", "false")),
        ("null", C("null", "null")),
        (UUID.upper(), C("uuid", UUID.upper())),
        ("0x", C("hex", "")),
        ("0xCAFE", C("hex", "CAFE")),
        ("1h30m", C("duration", "1h30m")),
        ("-2d", C("duration", "-2d")),
        ("3mo2w1d12h30m15s7ms8us9ns", C("duration", "3mo2w1d12h30m15s7ms8us9ns")),
        ("P1D", C("duration", "P1D")),
        ("PT1H30M", C("duration", "PT1H30M")),
        ("P1Y2M3DT4H", C("duration", "P1Y2M3DT4H")),
        ("P0001-02-03T04:05:06", C("duration", "P0001-02-03T04:05:06")),
        ("?", B(0)),
        (":name", B(0, "name")),
        ("[]", ast.CollectionLiteral("list", ())),
        ("{}", ast.CollectionLiteral("map", ())),
        ("{1, 2}", ast.CollectionLiteral("set", (i(1), i(2)))),
        ("[1, 'a']", ast.CollectionLiteral("list", (i(1), s("a")))),
        ("{'k': 1, 'j': ?}", ast.CollectionLiteral("map", ((s("k"), i(1)), (s("j"), B(0))))),
        ("(1, 'a', null)", ast.TupleLiteral((i(1), s("a"), C("null", "null")))),
        ("(1)", ast.TupleLiteral((i(1),))),
        ("{street: 'x', \"Zip\": 1}", ast.UdtLiteral((("street", s("x")), ("Zip", i(1))))),
        ("{a: {b: 1}}", ast.UdtLiteral((("a", ast.UdtLiteral((("b", i(1)),))),))),
        ("now()", ast.FunctionCall("now", ())),
        ("uuid()", ast.FunctionCall("uuid", ())),
        ("currentTimestamp()", ast.FunctionCall("currenttimestamp", ())),
        ("toTimestamp(now())", ast.FunctionCall("totimestamp", (ast.FunctionCall("now", ()),))),
        ("minTimeuuid('2013-01-01')", ast.FunctionCall("mintimeuuid", (s("2013-01-01"),))),
        ("(int) ?", ast.TypeHint("int", B(0))),
        ("(varchar) 'x'", ast.TypeHint("text", s("x"))),
        ("(frozen<list<int>>) ?", ast.TypeHint("frozen<list<int>>", B(0))),
        ("{(1, 2): [now()]}", ast.CollectionLiteral("map", (
            (ast.TupleLiteral((i(1), i(2))),
             ast.CollectionLiteral("list", (ast.FunctionCall("now", ()),))),))),
    ],
)
def test_literals(text: str, term: ast.Term) -> None:
    got = stmt(f"INSERT INTO t (v) VALUES ({text})")
    assert isinstance(got, ast.Insert)
    assert got.values == (term,)


def test_names_that_look_like_literals() -> None:
    # Where only a name can stand, p1d is a name; where a value can (a selector), it is a
    # duration, as in Cassandra, whose lexer makes it a DURATION token everywhere.
    got = stmt("SELECT p1dx, h1, abc FROM t WHERE p1d = 1 AND pt1h = 2")
    assert got == sel(
        "t", col("p1dx"), col("h1"), col("abc"), where=(R("p1d", "=", i(1)), R("pt1h", "=", i(2)))
    )
    got = stmt("SELECT p1d FROM t")
    assert got == sel("t", ast.Selector(ast.SelectorTerm(C("duration", "p1d"))))


# ---------------------------------------------------------------- INSERT


def test_insert_if_not_exists_and_using_in_either_order() -> None:
    base = ast.Insert(None, "t", ("k", "v"), (i(1), i(2)))
    using = ast.Using(timestamp=i(123), ttl=i(60))
    assert stmt("INSERT INTO t (k, v) VALUES (1, 2) IF NOT EXISTS") == ast.Insert(
        None, "t", ("k", "v"), (i(1), i(2)), if_not_exists=True
    )
    for clause in ("USING TIMESTAMP 123 AND TTL 60", "USING TTL 60 AND TIMESTAMP 123"):
        got = stmt(f"INSERT INTO t (k, v) VALUES (1, 2) IF NOT EXISTS {clause}")
        assert got == ast.Insert(
            None, "t", base.columns, base.values, using=using, if_not_exists=True
        )
    assert stmt("INSERT INTO t (k, v) VALUES (?, ?) USING TTL ?") == ast.Insert(
        None, "t", ("k", "v"), (B(0), B(1)), using=ast.Using(ttl=B(2))
    )


def test_insert_json() -> None:
    assert stmt("INSERT INTO ks.t JSON '{\"k\": 1}'") == ast.Insert(
        "ks", "t", (), (), json=s('{"k": 1}')
    )
    assert stmt("INSERT INTO t JSON ? DEFAULT UNSET") == ast.Insert(
        None, "t", (), (), json=B(0), json_default_unset=True
    )
    assert stmt("INSERT INTO t JSON '{}' DEFAULT NULL IF NOT EXISTS") == ast.Insert(
        None, "t", (), (), json=s("{}"), if_not_exists=True
    )


def test_insert_checks() -> None:
    with pytest.raises(errors.InvalidRequest, match="Unmatched column names/values"):
        parse("INSERT INTO t (a, b) VALUES (1)")
    with pytest.raises(errors.InvalidRequest, match="duplicates"):
        parse("INSERT INTO t (a, a) VALUES (1, 2)")
    with pytest.raises(errors.InvalidRequest, match="more than once"):
        parse("INSERT INTO t (a) VALUES (1) USING TTL 1 AND TTL 2")


# ---------------------------------------------------------------- UPDATE


def test_update_assignments() -> None:
    got = stmt(
        "UPDATE ks.t USING TIMESTAMP 5 AND TTL 10 SET a = 1, c = c + 1, s = s + {'x'}, "
        "l = [0] + l, d = d - 2, m['k'] = 'v', l[0] = ?, u.f = 3, m = m + {'a': 1} "
        "WHERE k = 1 AND c2 IN (1, 2)"
    )
    A = ast.Assignment
    assert got == ast.Update(
        "ks", "t",
        (A("a", "set", i(1)), A("c", "add", i(1)),
         A("s", "add", ast.CollectionLiteral("set", (s("x"),))),
         A("l", "prepend", ast.CollectionLiteral("list", (i(0),))),
         A("d", "sub", i(2)), A("m", "set_key", s("v"), key=s("k")),
         A("l", "set_key", B(0), key=i(0)), A("u", "set_field", i(3), field="f"),
         A("m", "add", ast.CollectionLiteral("map", ((s("a"), i(1)),)))),
        (R("k", "=", i(1)), R("c2", "IN", (i(1), i(2)))),
        using=ast.Using(timestamp=i(5), ttl=i(10)),
    )


def test_update_minus_without_spaces_is_subtraction() -> None:
    got = stmt("UPDATE t SET c = c -1 WHERE k = 1")
    assert isinstance(got, ast.Update)
    assert got.assignments == (ast.Assignment("c", "sub", i(1)),)


def test_update_if_exists_and_conditions() -> None:
    got = stmt("UPDATE t SET v = 1 WHERE k = 1 IF EXISTS")
    assert isinstance(got, ast.Update) and got.if_exists and got.conditions == ()
    got = stmt(
        "UPDATE t SET v = 1 WHERE k = 1 IF v = 2 AND m['k'] = 1 AND w != null AND x IN (1, 2) "
        "AND l[0] > 3"
    )
    assert isinstance(got, ast.Update) and not got.if_exists
    assert got.conditions == (
        R("v", "=", i(2)), R(("m", s("k")), "=", i(1)), R("w", "!=", C("null", "null")),
        R("x", "IN", (i(1), i(2))), R(("l", i(0)), ">", i(3)),
    )


def test_update_rejects_mixed_columns() -> None:
    with pytest.raises(errors.InvalidRequest, match="X = X"):
        parse("UPDATE t SET a = b + 1 WHERE k = 1")


# ---------------------------------------------------------------- DELETE


def test_delete_shapes() -> None:
    assert stmt("DELETE FROM t WHERE k = 1") == ast.Delete(None, "t", (), (R("k", "=", i(1)),))
    got = stmt(
        "DELETE a, m['k'], l[0] FROM ks.t USING TIMESTAMP 99 WHERE k = 1 AND c >= 2 AND c < 5 "
        "IF EXISTS"
    )
    T = ast.DeleteTarget
    assert got == ast.Delete(
        "ks", "t", (T("a"), T("m", s("k")), T("l", i(0))),
        (R("k", "=", i(1)), R("c", ">=", i(2)), R("c", "<", i(5))),
        using=ast.Using(timestamp=i(99)), if_exists=True,
    )
    got = stmt("DELETE FROM t WHERE k IN (1, 2) IF v = 3")
    assert got == ast.Delete(
        None, "t", (), (R("k", "IN", (i(1), i(2))),), conditions=(R("v", "=", i(3)),)
    )


# ---------------------------------------------------------------- BATCH


def test_batches() -> None:
    got = stmt(
        "BEGIN BATCH USING TIMESTAMP 7 INSERT INTO t (k) VALUES (?); UPDATE t SET v = ? "
        "WHERE k = ? DELETE FROM t WHERE k = ?; APPLY BATCH;"
    )
    assert got == ast.Batch(
        "LOGGED",
        (ast.Insert(None, "t", ("k",), (B(0),)),
         ast.Update(None, "t", (ast.Assignment("v", "set", B(1)),), (R("k", "=", B(2)),)),
         ast.Delete(None, "t", (), (R("k", "=", B(3)),))),
        ast.Using(timestamp=i(7)),
    )
    got = stmt("begin unlogged batch insert into t (k) values (1) apply batch")
    assert got == ast.Batch("UNLOGGED", (ast.Insert(None, "t", ("k",), (i(1),)),))
    got = stmt("BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1; APPLY BATCH")
    assert isinstance(got, ast.Batch) and got.kind == "COUNTER" and len(got.statements) == 1
    assert stmt("BEGIN BATCH APPLY BATCH") == ast.Batch("LOGGED", ())


def test_batch_rejects_select() -> None:
    with pytest.raises(errors.SyntaxException):
        parse("BEGIN BATCH SELECT * FROM t; APPLY BATCH")


# ---------------------------------------------------------------- keyspaces


def test_keyspace_statements() -> None:
    got = stmt(
        "CREATE KEYSPACE IF NOT EXISTS Ks WITH REPLICATION = {'class': "
        "'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1} AND DURABLE_WRITES = false;"
    )
    assert got == ast.CreateKeyspace(
        "ks", (("class", "NetworkTopologyStrategy"), ("dc1", "3"), ("dc2", "1")), False, True
    )
    assert stmt("CREATE SCHEMA k WITH replication = {'class': 'SimpleStrategy'}") == (
        ast.CreateKeyspace("k", (("class", "SimpleStrategy"),))
    )
    assert stmt("ALTER KEYSPACE k WITH durable_writes = 'true'") == ast.AlterKeyspace(
        "k", None, True
    )
    assert stmt("ALTER KEYSPACE k WITH replication = {'class': 'X', 'replication_factor': 2}") == (
        ast.AlterKeyspace("k", (("class", "X"), ("replication_factor", "2")), None)
    )
    assert stmt("DROP KEYSPACE k") == ast.DropKeyspace("k")
    assert stmt("DROP KEYSPACE IF EXISTS \"K\"") == ast.DropKeyspace("K", True)


def test_keyspace_property_errors() -> None:
    with pytest.raises(errors.SyntaxException, match="Unknown property 'foo'"):
        parse("CREATE KEYSPACE k WITH foo = 1")
    with pytest.raises(errors.SyntaxException, match="Multiple definition"):
        parse("CREATE KEYSPACE k WITH durable_writes = true AND durable_writes = false")
    with pytest.raises(errors.SyntaxException, match="Invalid boolean"):
        parse("CREATE KEYSPACE k WITH durable_writes = 3")
    with pytest.raises(errors.SyntaxException, match="replication"):
        parse("CREATE KEYSPACE k WITH replication = 'x'")


# ---------------------------------------------------------------- CREATE TABLE

CS = ast.ColumnSpec


def test_create_table_inline_primary_key_and_static() -> None:
    got = stmt(
        "CREATE TABLE IF NOT EXISTS ks.t (k text PRIMARY KEY, v int, s counter STATIC)"
    )
    assert got == ast.CreateTable(
        "ks", "t", (CS("k", "text"), CS("v", "int"), CS("s", "counter", static=True)),
        ("k",), (), if_not_exists=True,
    )


def test_create_table_composite_key_options_and_compact_storage() -> None:
    got = stmt(
        "CREATE COLUMNFAMILY t (a int, b int, c text, d timeuuid, s text static, "
        "PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c ASC, d DESC) "
        "AND comment = 'hi' AND gc_grace_seconds = 10 AND bloom_filter_fp_chance = 0.01 "
        "AND cdc = false AND compaction = {'class': 'LeveledCompactionStrategy', "
        "'enabled': true, 'sstable_size_in_mb': 160} AND caching = {} AND COMPACT STORAGE"
    )
    assert got == ast.CreateTable(
        None, "t",
        (CS("a", "int"), CS("b", "int"), CS("c", "text"), CS("d", "timeuuid"),
         CS("s", "text", static=True)),
        ("a", "b"), ("c", "d"), (("c", "ASC"), ("d", "DESC")),
        (("comment", "hi"), ("gc_grace_seconds", 10), ("bloom_filter_fp_chance", 0.01),
         ("cdc", False),
         ("compaction", (("class", "LeveledCompactionStrategy"), ("enabled", "true"),
                         ("sstable_size_in_mb", "160"))),
         ("caching", ())),
        compact_storage=True,
    )


def test_create_table_simple_key_list() -> None:
    got = stmt("CREATE TABLE t (a int, c int, v text, PRIMARY KEY (a, c))")
    assert got == ast.CreateTable(
        None, "t", (CS("a", "int"), CS("c", "int"), CS("v", "text")), ("a",), ("c",)
    )


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("ascii", "ascii"), ("BIGINT", "bigint"), ("blob", "blob"), ("boolean", "boolean"),
        ("counter", "counter"), ("date", "date"), ("decimal", "decimal"), ("double", "double"),
        ("duration", "duration"), ("float", "float"), ("inet", "inet"), ("int", "int"),
        ("smallint", "smallint"), ("text", "text"), ("time", "time"),
        ("timestamp", "timestamp"), ("timeuuid", "timeuuid"), ("tinyint", "tinyint"),
        ("uuid", "uuid"), ("VarChar", "text"), ("varint", "varint"),
        ("list<int>", "list<int>"), ("set<varchar>", "set<text>"),
        ("map<text,int>", "map<text, int>"), ("MAP < text , frozen<list<int>> >",
                                              "map<text, frozen<list<int>>>"),
        ("tuple<int,text,float>", "tuple<int, text, float>"),
        ("frozen<tuple<int, list<text>>>", "frozen<tuple<int, list<text>>>"),
        ("address", "address"), ("frozen<Address>", "frozen<address>"),
        ("ks.address", "ks.address"), ("frozen<ks.address>", "frozen<ks.address>"),
        ('frozen<"Addr">', 'frozen<"Addr">'),  # quoted: case kept, as the schema spells it
    ],
)
def test_types_are_normalised(written: str, normal: str) -> None:
    got = stmt(f"CREATE TABLE t (k int PRIMARY KEY, v {written})")
    assert isinstance(got, ast.CreateTable)
    assert got.columns[1] == CS("v", normal)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CREATE TABLE t (a int, b int)", "No PRIMARY KEY"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int PRIMARY KEY)", "Multiple PRIMARY KEYs"),
        ("CREATE TABLE t (a int, PRIMARY KEY (b))", "Unknown definition b"),
        ("CREATE TABLE t (a int PRIMARY KEY, a text)", "Multiple definition of identifier a"),
        ("CREATE TABLE t (a int, b int, PRIMARY KEY (a, a))", "Duplicate definition"),
        ("CREATE TABLE t (a int, b int static, PRIMARY KEY (a, b))", "Static column b"),
        ("CREATE TABLE t (a int, b int, c int, PRIMARY KEY (a, b)) "
         "WITH CLUSTERING ORDER BY (c DESC)", "CLUSTERING ORDER"),
    ],
)
def test_create_table_checks(text: str, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        parse(text)


@pytest.mark.parametrize(
    "bad_type", ["list", "map<int>", "set<int, int>", "int<text>", "frozen<int, int>"]
)
def test_bad_types(bad_type: str) -> None:
    with pytest.raises(errors.SyntaxException):
        parse(f"CREATE TABLE t (k int PRIMARY KEY, v {bad_type})")


# ---------------------------------------------------------------- ALTER, DROP, TRUNCATE


def test_alter_table() -> None:
    assert stmt("ALTER TABLE ks.t ADD v text") == ast.AlterTable(
        "ks", "t", "ADD", add_columns=(CS("v", "text"),)
    )
    assert stmt("ALTER TABLE t ADD (a int, b set<text> static)") == ast.AlterTable(
        None, "t", "ADD", add_columns=(CS("a", "int"), CS("b", "set<text>", static=True))
    )
    assert stmt("ALTER TABLE t DROP v") == ast.AlterTable(None, "t", "DROP", drop_columns=("v",))
    assert stmt("ALTER TABLE t DROP (a, b)") == ast.AlterTable(
        None, "t", "DROP", drop_columns=("a", "b")
    )
    assert stmt("ALTER TABLE t RENAME a TO b AND c TO d") == ast.AlterTable(
        None, "t", "RENAME", renames=(("a", "b"), ("c", "d"))
    )
    assert stmt("ALTER TABLE t WITH comment = 'x' AND default_time_to_live = 5") == (
        ast.AlterTable(None, "t", "WITH", options=(("comment", "x"),
                                                   ("default_time_to_live", 5)))
    )
    assert stmt("ALTER COLUMNFAMILY t ALTER v TYPE blob") == ast.AlterTable(
        None, "t", "ALTER", add_columns=(CS("v", "blob"),)
    )
    with pytest.raises(errors.InvalidRequest):
        parse("ALTER TABLE t WITH CLUSTERING ORDER BY (c DESC)")


def test_drop_and_truncate() -> None:
    assert stmt("DROP TABLE t") == ast.DropTable(None, "t")
    assert stmt("DROP TABLE IF EXISTS ks.t;") == ast.DropTable("ks", "t", True)
    assert stmt("TRUNCATE ks.t") == ast.Truncate("ks", "t")
    assert stmt("TRUNCATE TABLE t") == ast.Truncate(None, "t")
    assert stmt("TRUNCATE \"table\"") == ast.Truncate(None, "table")


# ---------------------------------------------------------------- types and indexes


def test_user_types() -> None:
    got = stmt("CREATE TYPE IF NOT EXISTS ks.address (street text, zip int, tags set<text>)")
    assert got == ast.CreateType(
        "ks", "address", (("street", "text"), ("zip", "int"), ("tags", "set<text>")), True
    )
    assert stmt("DROP TYPE address") == ast.DropType(None, "address")
    assert stmt("DROP TYPE IF EXISTS ks.address") == ast.DropType("ks", "address", True)
    with pytest.raises(errors.InvalidRequest, match="Duplicate field"):
        parse("CREATE TYPE a (x int, x text)")


def test_indexes() -> None:
    assert stmt("CREATE INDEX ON t (v)") == ast.CreateIndex(None, "t", None, "v")
    assert stmt("CREATE INDEX IF NOT EXISTS idx ON ks.t (keys(m))") == ast.CreateIndex(
        "ks", "t", "idx", "keys(m)", True
    )
    for function in ("values", "entries", "full", "KEYS"):
        got = stmt(f"CREATE INDEX i ON t ({function}(\"Col\"))")
        assert isinstance(got, ast.CreateIndex)
        assert got.target == f"{function.lower()}(Col)"
    got = stmt("CREATE CUSTOM INDEX i ON t (v) USING 'org.apache.cassandra.index.sasi.SASIIndex' "
               "WITH OPTIONS = {'mode': 'CONTAINS'}")
    assert got == ast.CreateIndex(
        None, "t", "i", "v", custom_class="org.apache.cassandra.index.sasi.SASIIndex"
    )
    assert stmt("DROP INDEX ks.idx") == ast.DropIndex("ks", "idx")
    assert stmt("DROP INDEX IF EXISTS idx") == ast.DropIndex(None, "idx", True)
    with pytest.raises(errors.SyntaxException, match="index target"):
        parse("CREATE INDEX ON t (foo(v))")
    with pytest.raises(errors.InvalidRequest, match="CUSTOM"):
        parse("CREATE CUSTOM INDEX ON t (v)")


# ---------------------------------------------------------------- DESCRIBE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DESCRIBE KEYSPACES", ast.Describe("KEYSPACES")),
        ("DESC KEYSPACE", ast.Describe("KEYSPACE")),
        ("describe keyspace Ks", ast.Describe("KEYSPACE", keyspace="ks")),
        ("DESCRIBE ONLY KEYSPACE ks", ast.Describe("KEYSPACE", keyspace="ks", only=True)),
        ("DESCRIBE TABLES;", ast.Describe("TABLES")),
        ("DESCRIBE TABLE ks.t", ast.Describe("TABLE", "ks", "t")),
        ("DESC COLUMNFAMILY t", ast.Describe("TABLE", None, "t")),
        ("DESCRIBE TYPES", ast.Describe("TYPES")),
        ("DESCRIBE TYPE ks.address", ast.Describe("TYPE", "ks", "address")),
        ("DESCRIBE FUNCTIONS", ast.Describe("FUNCTIONS")),
        ("DESCRIBE AGGREGATES", ast.Describe("AGGREGATES")),
        ("DESCRIBE CLUSTER", ast.Describe("CLUSTER")),
        ("DESCRIBE SCHEMA", ast.Describe("SCHEMA")),
        ("DESCRIBE FULL SCHEMA", ast.Describe("SCHEMA", full=True)),
        ("DESCRIBE INDEX ks.idx", ast.Describe("INDEX", "ks", "idx")),
        ("DESCRIBE MATERIALIZED VIEW v", ast.Describe("MATERIALIZED VIEW", None, "v")),
        ("DESCRIBE system", ast.Describe("NAME", None, "system")),
        ("DESC ks.t", ast.Describe("NAME", "ks", "t")),
        ("DESCRIBE KEYSPACE ks WITH INTERNALS", ast.Describe("KEYSPACE", keyspace="ks")),
        ("DESCRIBE FUNCTION ks.f", ast.Unsupported("DESCRIBE FUNCTION")),
        ("DESCRIBE AGGREGATE f", ast.Unsupported("DESCRIBE AGGREGATE")),
    ],
)
def test_describe(text: str, expected: ast.Statement) -> None:
    assert stmt(text) == expected


# ---------------------------------------------------------------- recognised, not built


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("CREATE FUNCTION f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS "
         "'return a;'", "CREATE FUNCTION"),
        ("CREATE OR REPLACE FUNCTION ks.f(a int) RETURNS NULL ON NULL INPUT RETURNS int "
         "LANGUAGE java AS $$ return a; $$;", "CREATE FUNCTION"),
        ("CREATE AGGREGATE a(int) SFUNC f STYPE int", "CREATE AGGREGATE"),
        ("CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k)",
         "CREATE MATERIALIZED VIEW"),
        ("CREATE TRIGGER tr ON t USING 'x'", "CREATE TRIGGER"),
        ("ALTER MATERIALIZED VIEW v WITH comment = 'x'", "ALTER MATERIALIZED VIEW"),
        ("DROP FUNCTION f", "DROP FUNCTION"),
        ("DROP AGGREGATE a", "DROP AGGREGATE"),
        ("DROP MATERIALIZED VIEW v", "DROP MATERIALIZED VIEW"),
        ("DROP TRIGGER tr ON t", "DROP TRIGGER"),
        ("list all permissions of r", "LIST"),
    ],
)
def test_unsupported_statements(text: str, feature: str) -> None:
    assert parse(text) == ast.Parsed(ast.Unsupported(feature), 0, ())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT * FORM t", "line 1:9 no viable alternative at input 'FORM' (SELECT * [FORM]...)"),
        ("SELECT * FROM", "line 1:13 mismatched input '<EOF>' (SELECT * FROM [<EOF>]...)"),
        ("SELECT *\nFROM t WHERE", "line 2:12 mismatched input '<EOF>'"),
        ("SELECT * FROM t WHERE k = 'open", "line 1:26 no viable alternative at character '''"),
        ("SELECT * FROM t WHERE k = 1 &", "line 1:28 no viable alternative at character '&'"),
        ("INSERT INTO t (a) VALUES (1) garbage",
         "line 1:29 no viable alternative at input 'garbage'"),
        ("", "line 1:0 mismatched input '<EOF>'"),
        ("   ;", "line 1:3 no viable alternative at input ';'"),
        ("SELECT * FROM t; SELECT * FROM t",
         "line 1:17 no viable alternative at input 'SELECT'"),
        ("UPDATE t SET a = 1", "line 1:18 mismatched input '<EOF>'"),
        ("FOO", "line 1:0 no viable alternative at input 'FOO'"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(errors.SyntaxException) as info:
        parse(text)
    assert info.value.message.startswith(message), info.value.message


def test_semantic_function_name_errors() -> None:
    with pytest.raises(errors.SyntaxException, match="COUNT"):
        parse("SELECT max(*) FROM t")
    with pytest.raises(errors.SyntaxException, match="CAST"):
        parse("SELECT foo(a AS int) FROM t")
    with pytest.raises(errors.SyntaxException, match="token"):
        parse("SELECT * FROM t WHERE foo(a) > 1")
    with pytest.raises(errors.InvalidRequest, match="tuple"):
        parse("SELECT * FROM t WHERE (a, b) = 1")
    with pytest.raises(errors.InvalidRequest, match="Duplicate field"):
        parse("INSERT INTO t (u) VALUES ({a: 1, a: 2})")


_CQL_WORDS = st.sampled_from(
    ["SELECT", "*", "FROM", "t", "WHERE", "k", "=", "?", "(", ")", ",", "'x'", "1", "AND",
     "INSERT", "INTO", "VALUES", "UPDATE", "SET", "IF", "EXISTS", "{", "}", "[", "]", ":",
     "CREATE", "TABLE", "PRIMARY", "KEY", "int", "<", ">", "BEGIN", "BATCH", "APPLY", ";",
     "token", "IN", "DESCRIBE", "-", "+", ".", "0x1", "1.5", "NULL", "$$a$$", '"Q"', "--"]
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=80))
def test_printable_garbage_never_escapes(text: str) -> None:
    try:
        parse(text)
    except (errors.SyntaxException, errors.InvalidRequest):
        pass


@settings(max_examples=600, deadline=None)
@given(st.lists(_CQL_WORDS, max_size=25))
def test_word_salad_never_escapes(words: list[str]) -> None:
    try:
        parsed = parse(" ".join(words))
    except (errors.SyntaxException, errors.InvalidRequest):
        return
    assert parsed.bind_count == len(parsed.bind_names)


def test_scylla_timeout_suffix_on_metadata_queries() -> None:
    assert stmt("SELECT * FROM system_schema.keyspaces USING TIMEOUT 2000ms") == sel(
        "keyspaces", keyspace="system_schema", using=ast.Using(timeout=C("duration", "2000ms"))
    )
    got = stmt(
        "SELECT peer, data_center, host_id, rack, release_version, rpc_address, "
        "schema_version, tokens FROM system.peers USING TIMEOUT 2000ms"
    )
    assert isinstance(got, ast.Select) and len(got.selectors) == 8
    assert got.using.timeout == C("duration", "2000ms")


def test_repeated_text_gives_equal_result_and_long_text_parses() -> None:
    text = "SELECT * FROM t WHERE k = ? AND c = :c"
    assert parse(text) == parse(text) == ast.Parsed(
        sel("t", where=(R("k", "=", B(0)), R("c", "=", B(1, "c")))), 2, (None, "c")
    )
    values = ", ".join(str(n) for n in range(2000))
    got = stmt(f"SELECT * FROM t WHERE k IN ({values})")
    assert isinstance(got, ast.Select)
    assert got.where[0].rhs == tuple(i(n) for n in range(2000))
    with pytest.raises(errors.SyntaxException):
        parse(f"SELECT * FROM t WHERE k IN ({values}")


def test_alter_type_is_parsed() -> None:
    """ALTER TYPE is built (Parser.g's alterTypeStatement), no longer refused as unsupported."""
    assert parse("ALTER TYPE ks.address ADD IF NOT EXISTS country text").statement == \
        ast.AlterType("ks", "address", "ADD", "country", "text", if_field=True)
    assert parse("ALTER TYPE IF EXISTS address RENAME a TO b AND c TO d").statement == \
        ast.AlterType(None, "address", "RENAME", renames=(("a", "b"), ("c", "d")),
                      if_exists=True)


def test_trailing_commas_in_create_table_and_type() -> None:
    """Parser.g's cfamDefinition and createTypeStatement read ( ',' x? )*."""
    t = parse('CREATE TABLE "MyTable" ("weird""name" int PRIMARY KEY, v int,)').statement
    assert isinstance(t, ast.CreateTable) and t.name == "MyTable"
    assert [c.name for c in t.columns] == ['weird"name', "v"]
    u = parse("CREATE TYPE u (a int, b text,)").statement
    assert isinstance(u, ast.CreateType) and u.fields == (("a", "int"), ("b", "text"))


def test_vector_type_and_list_selector_argument() -> None:
    t = parse("CREATE TABLE t (k int PRIMARY KEY, v vector<float, 3>)").statement
    assert isinstance(t, ast.CreateTable) and t.columns[1].type == "vector<float, 3>"
    s = parse("SELECT similarity_cosine(v, [1.0, 2.0]) FROM t").statement
    assert isinstance(s, ast.Select)
    call = s.selectors[0].expr
    assert isinstance(call, ast.SelectorCall) and call.name == "similarity_cosine"
    assert call.args[1] == ast.SelectorTerm(ast.CollectionLiteral(
        "list", (ast.Constant("float", "1.0"), ast.Constant("float", "2.0"))))


def test_drop_if_exists_of_unbuilt_kinds_is_a_no_op() -> None:
    """DROP MATERIALIZED VIEW/FUNCTION/AGGREGATE IF EXISTS succeed (none can exist); without
    IF EXISTS they stay refused."""
    assert stmt("DROP MATERIALIZED VIEW IF EXISTS ks.mv") == ast.Unsupported(
        "DROP MATERIALIZED VIEW", True)
    assert stmt("drop function if exists f(int)") == ast.Unsupported("DROP FUNCTION", True)
    assert stmt("DROP AGGREGATE ag") == ast.Unsupported("DROP AGGREGATE", False)
    assert stmt("CREATE FUNCTION IF EXISTS f") == ast.Unsupported("CREATE FUNCTION", False)
