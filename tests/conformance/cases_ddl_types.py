"""DDL and types of Cassandra 4/5: TRUNCATE, ALTER TYPE, nested frozen collections, grammar
details (trailing commas, quoted identifiers, PREPARE of a BATCH), NetworkTopologyStrategy's
replication_factor, the vector type and its similarity functions, and the refusals of
materialized views and user-defined functions."""

from __future__ import annotations

import math
from typing import Any

from cassandra.query import SimpleStatement
from conformance_cases import QUORUM, Case, Check, Error, Ok, Rows


def _q(session: Any, cql: str, *values: Any) -> list[Any]:
    return list(session.execute(SimpleStatement(cql, consistency_level=QUORUM), values or None))


def _metadata(session: Any, ks: str) -> Any:
    session.cluster.refresh_schema_metadata()
    return session.cluster.metadata.keyspaces[ks]


# ---------------------------------------------------------------- ALTER TYPE


def _udt_after_add(session: Any, ks: str) -> None:
    rows = _q(session, "SELECT k, f, n FROM t WHERE k = 0")
    (k, f, n), = rows
    assert (k, f.a, f.b, n.a, n.b) == (0, 1, None, 2, None), rows
    meta = _metadata(session, ks)
    assert meta.user_types["u"].field_names == ["a", "b"]
    assert f"CREATE TYPE {ks}.u (\n    a int,\n    b text\n)" in meta.export_as_string()


def _udt_after_rename(session: Any, ks: str) -> None:
    (f,), = _q(session, "SELECT f FROM t WHERE k = 0")
    assert (f.x, f.b) == (1, None), f
    assert _metadata(session, ks).user_types["u"].field_names == ["x", "b"]


def _field_write_after_add(session: Any, ks: str) -> None:
    (n,), = _q(session, "SELECT n FROM t WHERE k = 0")
    assert (n.x, n.b) == (2, "new"), n


ALTER_TYPE = [
    Case("alter_type_add_then_rename", "ALTER TYPE ADD appends a field that reads null in "
         "rows written before it, frozen or not; RENAME keeps the values "
         "(AlterTypeStatement.AddField/RenameFields; UserType values end early)",
         Ok("CREATE TYPE u (a int)"),
         Ok("CREATE TABLE t (k int PRIMARY KEY, f frozen<u>, n u)"),
         Ok("INSERT INTO t (k, f, n) VALUES (0, {a: 1}, {a: 2})"),
         Ok("ALTER TYPE u ADD b text"),
         Check(_udt_after_add, "old rows read the new field as null; metadata shows it"),
         Ok("ALTER TYPE u RENAME a TO x"),
         Check(_udt_after_rename, "renamed field keeps its value"),
         Ok("UPDATE t SET n.b = 'new' WHERE k = 0"),
         Check(_field_write_after_add, "the added field of a non-frozen UDT can be set")),
    Case("alter_type_errors", "ALTER TYPE's refusals in AlterTypeStatement's words",
         Ok("CREATE TYPE u (a int, b text)"),
         Error("ALTER TYPE u ADD a int", "InvalidRequest",
               ".u: a field with name a already exists"),
         Ok("ALTER TYPE u ADD IF NOT EXISTS a int"),
         Error("ALTER TYPE u RENAME zz TO y", "InvalidRequest", "Unkown field zz in user type"),
         Ok("ALTER TYPE u RENAME IF EXISTS zz TO y"),
         Error("ALTER TYPE u RENAME a TO b", "InvalidRequest", "Duplicate field name b in type"),
         Error("ALTER TYPE u ALTER a TYPE text", "InvalidRequest",
               "Altering field types is no longer supported"),
         Error("ALTER TYPE nope ADD x int", "InvalidRequest", ".nope doesn't exist"),
         Ok("ALTER TYPE IF EXISTS nope ADD x int"),
         Error("ALTER TYPE u ADD self frozen<u>", "InvalidRequest",
               "as it would create a circular reference"),
         Ok("CREATE TABLE pk (k frozen<u> PRIMARY KEY)"),
         Error("ALTER TYPE u ADD c int", "InvalidRequest",
               "the type is being used in partition key by the following tables"),
         Ok("CREATE TYPE inner_t (a int)"),
         Ok("CREATE TYPE outer_t (i frozen<inner_t>)"),
         Ok("CREATE TABLE pk2 (k frozen<outer_t> PRIMARY KEY)"),
         Error("ALTER TYPE inner_t ADD b int", "InvalidRequest",
               "the type is being used in partition key by the following tables")),
]

# ---------------------------------------------------------------- nested frozen collections


def _nested_values(session: Any, ks: str) -> None:
    (a, b, c, d), = _q(session, "SELECT a, b, c, d FROM t WHERE k = 0")
    assert [(set(key), val) for key, val in a.items()] == [({1, 2}, [3, 4])], a
    assert [dict(m) for m in b] == [{"x": [1, 2]}], b
    assert c == (1, [(2, "a")]), c
    assert [[dict(m) for m in s] for s in d] == [[{1: 2}]], d


def _nested_metadata(session: Any, ks: str) -> None:
    table = _metadata(session, ks).tables["t"]
    assert table.columns["a"].cql_type == "frozen<map<frozen<set<int>>, frozen<list<int>>>>"
    assert table.columns["b"].cql_type == "list<frozen<map<text, frozen<list<int>>>>>"
    assert table.columns["c"].cql_type == "frozen<tuple<int, frozen<list<frozen<tuple<int, " \
        "text>>>>>>"
    create = _q(session, "DESCRIBE TABLE t")[0][3]
    assert "d frozen<list<frozen<set<frozen<map<int, int>>>>>>" in create, create


def _nested_prepared(session: Any, ks: str) -> None:
    p = session.prepare("INSERT INTO t (k, a, b) VALUES (?, ?, ?)")
    session.execute(p, (1, {frozenset({5}): [6]}, [{"y": [7]}]))
    (a, b), = _q(session, "SELECT a, b FROM t WHERE k = 1")
    assert [(set(key), val) for key, val in a.items()] == [({5}, [6])] and \
        [dict(m) for m in b] == [{"y": [7]}], (a, b)


NESTED = [
    Case("nested_collections_inside_frozen", "inside frozen<...> nested collections are frozen "
         "too (CQL3Type.Raw.freeze), so frozen<map<set<int>, list<int>>> is a valid type whose "
         "schema text spells every level frozen",
         Ok("CREATE TABLE t (k int PRIMARY KEY, a frozen<map<set<int>, list<int>>>, "
            "b list<frozen<map<text, frozen<list<int>>>>>, "
            "c tuple<int, list<tuple<int, text>>>, d frozen<list<set<map<int, int>>>>)"),
         Ok("INSERT INTO t (k, a, b, c, d) VALUES (0, {{1, 2}: [3, 4]}, [{'x': [1, 2]}], "
            "(1, [(2, 'a')]), [{{1: 2}}])"),
         Check(_nested_values, "nested values read back through the driver"),
         Check(_nested_metadata, "driver metadata and DESCRIBE spell the frozen levels"),
         Check(_nested_prepared, "prepared statements bind nested values")),
    Case("nested_non_frozen_refused", "a non-frozen collection directly inside a collection "
         "is refused (CollectionType validation)",
         Error("CREATE TABLE t (k int PRIMARY KEY, a list<list<int>>)", "InvalidRequest",
               "Non-frozen collections are not allowed inside collections")),
]

# ---------------------------------------------------------------- grammar


def _prepared_batch(session: Any, ks: str) -> None:
    p = session.prepare("BEGIN BATCH INSERT INTO t (k, v) VALUES (?, ?); "
                        "UPDATE t SET v = ? WHERE k = ?; APPLY BATCH")
    assert [c.name for c in p.column_metadata] == ["k", "v", "v", "k"]
    session.execute(p, (1, 10, 20, 2))
    rows = sorted(tuple(r) for r in _q(session, "SELECT k, v FROM t"))
    assert rows == [(1, 10), (2, 20)], rows


def _quoted_values(session: Any, ks: str) -> None:
    (u, n, lst), = [tuple(r) for r in _q(session, 'SELECT "U", n, l FROM "Tab" WHERE "K" = 1')]
    assert (u[0], u[1], n[0], n[1], lst[0][0]) == (1, "x", 2, "y", 3), (u, n, lst)
    table = _metadata(session, ks).tables["Tab"]
    assert table.columns["U"].cql_type == 'frozen<"MyType">'


GRAMMAR = [
    Case("trailing_commas_and_quoted_names", "CREATE TABLE and CREATE TYPE accept a trailing "
         "comma (Parser.g: ( ',' cfamColumns? )*); quoted identifiers keep case and doubled "
         "quotes",
         Ok('CREATE TABLE "MyTable" ("weird""name" int PRIMARY KEY, "Value" int,)'),
         Ok("CREATE TABLE t2 (k int, v int, PRIMARY KEY (k),)"),
         Ok("CREATE TYPE u (a int, b text,)"),
         Ok('INSERT INTO "MyTable" ("weird""name", "Value") VALUES (1, 2)'),
         Rows('SELECT "weird""name", "Value" FROM "MyTable"', [(1, 2)]),
         Error("SELECT value FROM \"MyTable\"", "InvalidRequest", "Undefined column name value")),
    Case("quoted_identifiers_everywhere", "quoted names keep their case and doubled quotes as "
         "type, field, table, column and index names, also inside type parameters "
         "(Parser.g's ident/fident/userTypeName accept QUOTED_NAME)",
         Ok('CREATE TYPE "MyType" ("Field" int, "we""ird" text)'),
         Ok('CREATE TABLE "Tab" ("K" int PRIMARY KEY, "U" frozen<"MyType">, n "MyType", '
            'l list<frozen<"MyType">>)'),
         Ok('INSERT INTO "Tab" ("K", "U", n, l) VALUES (1, {"Field": 1, "we""ird": \'x\'}, '
            '{"Field": 2}, [{"Field": 3}])'),
         Ok('UPDATE "Tab" SET n."we""ird" = \'y\' WHERE "K" = 1'),
         Check(_quoted_values, "values read back by quoted field names"),
         Ok('ALTER TYPE "MyType" RENAME "Field" TO "F2"'),
         Ok('CREATE INDEX "Idx" ON "Tab" ("U")'),
         Ok('TRUNCATE "Tab"'),
         Rows('SELECT "K" FROM "Tab"', []),
         Ok('DROP INDEX "Idx"'),
         Ok('DROP TABLE "Tab"'),
         Ok('DROP TYPE "MyType"')),
    Case("prepare_batch", "a BATCH can be prepared and executed (BatchStatement is a prepared "
         "statement; its bind markers are numbered across its statements)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Check(_prepared_batch, "prepare, bind metadata, execute")),
]

# ---------------------------------------------------------------- TRUNCATE

def _truncation_record(session: Any, ks: str) -> None:
    (table_id,), = [tuple(r) for r in _q(
        session, "SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND "
        "table_name = 't'", ks)]
    (records,), = [tuple(r) for r in _q(session, "SELECT truncated_at FROM system.local")]
    record = dict(records or {}).get(table_id)
    assert record is not None and len(record) == 20, records  # segment, position, ms
    assert record[:12] == bytes(12) and int.from_bytes(record[12:], "big") > 0, record


TRUNCATE = [
    Case("truncate_table", "TRUNCATE [TABLE] removes every row of the table on every node "
         "(StorageProxy.truncateBlocking)",
         Ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 0, 0)"),
         Ok("INSERT INTO t (k, c, v) VALUES (1, 0, 0)"),
         Ok("TRUNCATE t"),
         Rows("SELECT * FROM t", []),
         Check(_truncation_record, "system.local.truncated_at holds the table's record"),
         Ok("INSERT INTO t (k, c, v) VALUES (2, 0, 2)"),
         Rows("SELECT k, v FROM t", [(2, 2)]),
         Ok("TRUNCATE TABLE {ks}.t"),
         Rows("SELECT * FROM t", []),
         Error("TRUNCATE nope", "InvalidRequest", "unconfigured table nope")),
]

# ---------------------------------------------------------------- NetworkTopologyStrategy


def _nts_replication_factor(session: Any, ks: str) -> None:
    (dc,), = [tuple(r) for r in _q(session, "SELECT data_center FROM system.local")]
    name = ks + "_nts"
    _q(session, f"CREATE KEYSPACE {name} WITH replication = "
       "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    try:
        (rep,), = [tuple(r) for r in _q(
            session, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            name)]
        assert dict(rep) == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                             dc: "1"}, rep
        _q(session, f"CREATE TABLE {name}.t (k int PRIMARY KEY)")
        _q(session, f"INSERT INTO {name}.t (k) VALUES (1)")
        assert [tuple(r) for r in _q(session, f"SELECT k FROM {name}.t")] == [(1,)]
    finally:
        _q(session, f"DROP KEYSPACE IF EXISTS {name}")


NTS = [
    Case("nts_replication_factor_expands", "NetworkTopologyStrategy's replication_factor "
         "expands to every datacenter (Cassandra 4+, NetworkTopologyStrategy.prepareOptions)",
         Check(_nts_replication_factor, "the stored map names the datacenter")),
    Case("nts_unknown_datacenter", "an NTS datacenter no node is in is refused "
         "(AbstractReplicationStrategy.validateExpectedOptions)",
         Error("CREATE KEYSPACE {ks}_x WITH replication = "
               "{'class': 'NetworkTopologyStrategy', 'dc1': 1}", "ConfigurationException",
               "Unrecognized strategy option {dc1} passed to NetworkTopologyStrategy for "
               "keyspace c_nts_unknown_datacenter_x")),
]

# ---------------------------------------------------------------- vector


def _vector_reads(session: Any, ks: str) -> None:
    rows = _q(session, "SELECT k, v, similarity_cosine(v, [1.0, 0.0, 0.0]), "
              "similarity_euclidean(v, [1.0, 0.0, 0.0]), similarity_dot_product(v, v) "
              "FROM t WHERE k = 1")
    (k, v, cos, euc, dot), = [tuple(r) for r in rows]
    assert (k, v) == (1, [0.0, 1.0, 0.0]), rows
    assert cos == 0.5 and math.isclose(euc, 1 / 3, rel_tol=1e-6) and dot == 1.0, rows


def _vector_prepared(session: Any, ks: str) -> None:
    p = session.prepare("INSERT INTO t (k, v, s) VALUES (?, ?, ?)")
    assert p.column_metadata[1].type.vector_size == 3
    session.execute(p, (2, [0.5, 0.25, 2.0], ["a", "bb"]))
    (v, s), = [tuple(r) for r in _q(session, "SELECT v, s FROM t WHERE k = 2")]
    assert (v, s) == ([0.5, 0.25, 2.0], ["a", "bb"]), (v, s)
    meta = _metadata(session, ks).tables["t"]
    assert meta.columns["v"].cql_type == "vector<float, 3>"
    assert "v vector<float, 3>" in meta.export_as_string()


VECTOR = [
    Case("vector_type", "vector<float, N> (Cassandra 5's VectorType): literals, the wire form "
         "the drivers decode, dimension errors in Vectors.Literal's words, similarity "
         "functions (VectorFcts)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v vector<float, 3>, s vector<text, 2>)"),
         Ok("INSERT INTO t (k, v) VALUES (1, [0.0, 1.0, 0.0])"),
         Check(_vector_reads, "values and similarity scores"),
         Check(_vector_prepared, "bound vectors, metadata"),
         Rows("SELECT JSON v FROM t WHERE k = 1", [('{"v": [0.0, 1.0, 0.0]}',)]),
         Error("INSERT INTO t (k, v) VALUES (3, [1.0, 2.0])", "InvalidRequest",
               "Invalid vector literal for v of type vector<float, 3>; expected 3 elements, "
               "but given 2"),
         Error("INSERT INTO t (k, v) VALUES (3, [1.0, 2.0, null])", "InvalidRequest",
               "null is not supported inside vectors"),
         Error("SELECT similarity_cosine(v, [1.0, 2.0]) FROM t", "InvalidRequest",
               "expected 3 elements, but given 2"),
         Error("SELECT similarity_cosine(s, s) FROM t", "InvalidRequest",
               "Only float vectors are supported by similarity_cosine"),
         Error("SELECT similarity_dot_product(v) FROM t", "InvalidRequest",
               "similarity_dot_product() requires two arguments, but 1 given"),
         Error("CREATE TABLE t0 (k int PRIMARY KEY, v vector<float, 0>)", "InvalidRequest",
               "vectors may only have positive dimentions; given 0")),
]

# ---------------------------------------------------------------- refusals

REFUSED = [
    Case("views_and_functions_refused", "materialized views, UDFs and UDAs answer Invalid "
         "naming the statement (never ServerError)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int)"),
         Error("CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE k IS NOT NULL AND v IS "
               "NOT NULL PRIMARY KEY (v, k)", "InvalidRequest", "CREATE MATERIALIZED VIEW"),
         Error("ALTER MATERIALIZED VIEW mv WITH comment = 'x'", "InvalidRequest",
               "ALTER MATERIALIZED VIEW"),
         Error("DROP MATERIALIZED VIEW mv", "InvalidRequest", "DROP MATERIALIZED VIEW"),
         Error("CREATE FUNCTION f (a int) RETURNS NULL ON NULL INPUT RETURNS int "
               "LANGUAGE java AS 'return a;'", "InvalidRequest", "CREATE FUNCTION"),
         Error("CREATE OR REPLACE FUNCTION f (a int) CALLED ON NULL INPUT RETURNS int "
               "LANGUAGE java AS 'return a;'", "InvalidRequest", "CREATE FUNCTION"),
         Error("CREATE AGGREGATE ag (int) SFUNC f STYPE int", "InvalidRequest",
               "CREATE AGGREGATE"),
         Error("DROP FUNCTION f", "InvalidRequest", "DROP FUNCTION"),
         Error("DROP AGGREGATE ag", "InvalidRequest", "DROP AGGREGATE"),
         Ok("DROP MATERIALIZED VIEW IF EXISTS mv"),
         Ok("DROP FUNCTION IF EXISTS f"),
         Ok("DROP AGGREGATE IF EXISTS ag")),
]

CASES = ALTER_TYPE + NESTED + GRAMMAR + TRUNCATE + NTS + VECTOR + REFUSED
