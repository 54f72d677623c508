"""Counter tables in CREATE/ALTER TABLE and types: Cassandra's refusals with its exact messages
(CreateTableStatement, TableMetadata.validate, AlterTableStatement, CQL3Type)."""

from __future__ import annotations

import uuid

import pytest

from skewless import errors
from skewless.cql.parser import parse
from skewless.node.schema.ddl import apply_ddl
from skewless.schema import Schema

KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"


def run(schema: Schema, cql: str) -> Schema:
    stmt = parse(cql).statement
    return apply_ddl(schema, stmt, None, uuid.UUID(int=42), 1_000)[0]  # type: ignore[arg-type]


def build(*cql: str) -> Schema:
    schema = Schema().with_version()
    for q in (KS, *cql):
        schema = run(schema, q)
    return schema


def error(schema: Schema, cql: str) -> errors.CqlError:
    with pytest.raises(errors.CqlError) as e:
        run(schema, cql)
    return e.value


CTR = "CREATE TABLE ks.ctr (k int PRIMARY KEY, n counter, m counter)"
PLAIN = "CREATE TABLE ks.plain (k int PRIMARY KEY, v int)"
KEYS_ONLY = "CREATE TABLE ks.keys (k int, c int, PRIMARY KEY (k, c))"


@pytest.mark.parametrize("cql, message", [
    ("CREATE TABLE ks.t (k counter PRIMARY KEY, n counter)",
     "counter type is not supported for PRIMARY KEY column 'k'"),
    ("CREATE TABLE ks.t (k int, c counter, n counter, PRIMARY KEY (k, c))",
     "counter type is not supported for PRIMARY KEY column 'c'"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, n counter, v int)",
     "Cannot mix counter and non counter columns in the same table"),
    ("CREATE TABLE ks.t (k int, c int, n counter, s int static, PRIMARY KEY (k, c))",
     "Cannot mix counter and non counter columns in the same table"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, n counter) WITH default_time_to_live = 5",
     "Cannot set default_time_to_live on a table with counters"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, l list<counter>)",
     "Counters are not allowed inside collections: list<counter>"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, l set<counter>)",
     "Counters are not allowed inside collections: set<counter>"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, l map<int, counter>)",
     "Counters are not allowed inside collections: map<int, counter>"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, l frozen<list<counter>>)",
     "Counters are not allowed inside collections: frozen<list<counter>>"),
    ("CREATE TABLE ks.t (k int PRIMARY KEY, l tuple<int, counter>)",
     "Counters are not allowed inside tuples"),
    ("CREATE TYPE ks.u (a int, b counter)", "A user type cannot contain counters"),
])
def test_create_refusals(cql: str, message: str) -> None:
    e = error(build(), cql)
    assert isinstance(e, errors.InvalidRequest) and str(e) == message


def test_counter_tables_are_created() -> None:
    schema = build(CTR, "CREATE TABLE ks.t2 (k int, c int, n counter, s counter static, "
                        "PRIMARY KEY (k, c))")
    assert schema.table("ks", "ctr") is not None and schema.table("ks", "t2") is not None


@pytest.mark.parametrize("setup, cql, message", [
    (CTR, "ALTER TABLE ks.ctr ADD t text",
     'ks.ctr: Cannot have a non counter column ("t") in a counter table'),
    (CTR, "ALTER TABLE ks.ctr ADD (x counter, t text)",
     'ks.ctr: Cannot have a non counter column ("t") in a counter table'),
    (PLAIN, "ALTER TABLE ks.plain ADD n counter",
     'ks.plain: Cannot have a counter column ("n") in a non counter table'),
    # a table without regular columns is no counter table (Cassandra's flag is set at CREATE)
    (KEYS_ONLY, "ALTER TABLE ks.keys ADD n counter",
     'ks.keys: Cannot have a counter column ("n") in a non counter table'),
])
def test_alter_add_refusals(setup: str, cql: str, message: str) -> None:
    e = error(build(setup), cql)
    assert isinstance(e, errors.ConfigurationException) and str(e) == message


def test_a_counter_table_takes_more_counters_and_stays_one_when_emptied() -> None:
    schema = build(CTR, "ALTER TABLE ks.ctr ADD o counter")
    t = schema.table("ks", "ctr")
    assert t is not None and t.column("o") is not None
    emptied = run(run(run(schema, "ALTER TABLE ks.ctr DROP n"), "ALTER TABLE ks.ctr DROP m"),
                  "ALTER TABLE ks.ctr DROP o")
    e = error(emptied, "ALTER TABLE ks.ctr ADD t text")
    assert str(e) == 'ks.ctr: Cannot have a non counter column ("t") in a counter table'


def test_a_dropped_counter_column_cannot_come_back() -> None:
    schema = build(CTR, "ALTER TABLE ks.ctr DROP n")
    e = error(schema, "ALTER TABLE ks.ctr ADD n counter")
    assert isinstance(e, errors.InvalidRequest)
    assert str(e) == "Cannot re-add previously dropped counter column n"


def test_default_ttl_cannot_be_altered_onto_a_counter_table() -> None:
    e = error(build(CTR), "ALTER TABLE ks.ctr WITH default_time_to_live = 10")
    assert str(e) == "Cannot set default_time_to_live on a table with counters"
    run(build(PLAIN), "ALTER TABLE ks.plain WITH default_time_to_live = 10")
