"""SELECT features of Cassandra 4/5: GROUP BY (with paging), collection element and slice
selection, UDT field selection, IS NOT NULL, the ORDER BY forms CQLEngine generates."""

from __future__ import annotations

from typing import Any

from cassandra.query import SimpleStatement
from conformance_cases import QUORUM, Case, Check, Error, Ok, Rows, Warns

GROUP_TABLE = "CREATE TABLE t (a int, b int, c int, d int, PRIMARY KEY (a, b, c))"
GROUP_ROWS = [(1, 1, 1, 1), (1, 1, 2, 2), (1, 2, 1, 3), (1, 2, 2, 4), (1, 3, 1, 5),
              (2, 1, 1, 10), (2, 2, 1, 20), (3, 1, 1, 100)]
GROUP_SETUP = (Ok(GROUP_TABLE), *(Ok(f"INSERT INTO t (a, b, c, d) VALUES ({a}, {b}, {c}, {d})")
                                   for a, b, c, d in GROUP_ROWS))
ORDER_MSG = ("Group by currently only support groups of columns following their declared order "
             "in the PRIMARY KEY")


def pages(session: Any, ks: str, cql: str, fetch_size: int | None) -> list[list[tuple[Any, ...]]]:
    """Every page of ``cql`` read with ``fetch_size`` (None: unpaged)."""
    stmt = SimpleStatement(cql.replace("{ks}", ks), consistency_level=QUORUM,
                           fetch_size=fetch_size)
    rs = session.execute(stmt)
    out = [[tuple(r) for r in rs.current_rows]]
    while rs.has_more_pages:
        rs.fetch_next_page()
        out.append([tuple(r) for r in rs.current_rows])
    return out


def check_paged(cql: str, want: list[tuple[Any, ...]], sizes: tuple[int, ...] = (1, 2, 3),
                ordered: bool = True) -> Check:
    """Reading ``cql`` a page of n groups at a time gives pages of exactly n groups (but the
    last, which may hold fewer) that together are ``want``."""

    def run(session: Any, ks: str) -> None:
        for n in sizes:
            got = pages(session, ks, cql, n)
            flat = [r for p in got for r in p]
            if ordered:
                assert flat == want, f"{cql} fetch_size={n}: {got} != {want}"
            else:
                assert sorted(flat) == sorted(want), f"{cql} fetch_size={n}: {got} != {want}"
            assert all(len(p) == n for p in got[:-1]) and len(got[-1]) <= n, \
                f"{cql} fetch_size={n}: pages of the wrong size {got}"

    return Check(run, f"{cql} paged by {sizes} groups")


def check_unpaged(cql: str, want: list[tuple[Any, ...]]) -> Check:
    def run(session: Any, ks: str) -> None:
        got = pages(session, ks, cql, None)
        assert got == [want], f"{cql} unpaged: {got} != {want}"

    return Check(run, f"{cql} without paging")


# 4 groups of 3 rows in partition 1, 2 groups of 2 rows in partition 2, 1 group in 3
PAGING_ROWS = [(1, b, c, 10 * b + c) for b in range(4) for c in range(3)] + [
    (2, b, c, 100 + 10 * b + c) for b in range(2) for c in range(2)] + [(3, 0, 0, 7)]
PAGING_SETUP = (Ok(GROUP_TABLE), *(Ok(f"INSERT INTO t (a, b, c, d) VALUES ({a}, {b}, {c}, {d})")
                                    for a, b, c, d in PAGING_ROWS))
P1_GROUPS = [(1, b, 3, 10 * b + 2, 10 * b) for b in range(4)]  # a, b, count, max(d), first d
P2_GROUPS = [(2, b, 2, 100 + 10 * b + 1, 100 + 10 * b) for b in range(2)]
P3_GROUPS = [(3, 0, 1, 7, 7)]

GROUP_BY = [
    Case("group_by_clustering_prefix", "GROUP BY the partition key and a clustering prefix: "
         "one row per group, aggregates over the group, other selectors from its first row "
         "(SelectStatement / GroupMaker / AggregationSpecification)",
         *GROUP_SETUP,
         Rows("SELECT a, b, count(*), max(d), min(c) FROM t WHERE a = 1 GROUP BY a, b",
              [(1, 1, 2, 2, 1), (1, 2, 2, 4, 1), (1, 3, 1, 5, 1)]),
         Rows("SELECT a, b, c, d FROM t WHERE a = 1 GROUP BY a, b",
              [(1, 1, 1, 1), (1, 2, 1, 3), (1, 3, 1, 5)]),
         Rows("SELECT b, sum(d), avg(d) FROM t WHERE a = 1 GROUP BY b",
              [(1, 3, 1), (2, 7, 3), (3, 5, 5)]),
         Rows("SELECT a, b, c, count(d) FROM t WHERE a = 1 GROUP BY a, b, c",
              [(1, 1, 1, 1), (1, 1, 2, 1), (1, 2, 1, 1), (1, 2, 2, 1), (1, 3, 1, 1)]),
         Rows("SELECT a, b, count(*) FROM t WHERE a = 1 AND b = 2 GROUP BY c",
              [(1, 2, 1), (1, 2, 1)]),
         Rows("SELECT a, count(*), max(d) FROM t WHERE a = 1 GROUP BY a", [(1, 5, 5)])),
    Case("group_by_partition_scan", "GROUP BY the partition key over a whole-table scan: one "
         "group per partition, with Cassandra's warning for an aggregation without partition key",
         *GROUP_SETUP,
         Rows("SELECT a, count(*), sum(d) FROM t GROUP BY a",
              [(1, 5, 15), (2, 2, 30), (3, 1, 100)], ordered=False),
         Rows("SELECT a, b, count(*) FROM t GROUP BY a, b",
              [(1, 1, 2), (1, 2, 2), (1, 3, 1), (2, 1, 1), (2, 2, 1), (3, 1, 1)],
              ordered=False),
         Rows("SELECT a, b, count(*) FROM t WHERE a IN (1, 2) GROUP BY a, b",
              [(1, 1, 2), (1, 2, 2), (1, 3, 1), (2, 1, 1), (2, 2, 1)]),
         Rows("SELECT a, count(*) FROM t WHERE token(a) >= token(1) AND token(a) <= token(1) "
              "GROUP BY a", [(1, 5)]),
         Warns("SELECT a, count(*) FROM t GROUP BY a", "Aggregation query used without "
               "partition key"),
         Warns("SELECT a, b, count(*) FROM t WHERE a IN (1, 2) GROUP BY a, b",
               "Aggregation query used on multiple partition keys (IN restriction)"),
         Warns("SELECT count(*) FROM t WHERE a IN (1, 2)",
               "Aggregation query used on multiple partition keys (IN restriction)")),
    Case("group_by_limits", "LIMIT counts groups and PER PARTITION LIMIT counts groups per "
         "partition under GROUP BY (DataLimits.groupByLimits)",
         *GROUP_SETUP,
         Rows("SELECT a, b, count(*) FROM t WHERE a = 1 GROUP BY a, b LIMIT 2",
              [(1, 1, 2), (1, 2, 2)]),
         Rows("SELECT a, b, count(*) FROM t GROUP BY a, b PER PARTITION LIMIT 1",
              [(1, 1, 2), (2, 1, 1), (3, 1, 1)], ordered=False),
         Rows("SELECT a, b, count(*) FROM t WHERE a IN (1, 2) GROUP BY a, b "
              "PER PARTITION LIMIT 2 LIMIT 3", [(1, 1, 2), (1, 2, 2), (2, 1, 1)]),
         Rows("SELECT a, count(*) FROM t WHERE a = 99 GROUP BY a", [])),
    Case("group_by_order_by", "GROUP BY with ORDER BY DESC: groups in reversed clustering "
         "order, a group's first row being its last in clustering order",
         *GROUP_SETUP,
         Rows("SELECT a, b, c, count(*) FROM t WHERE a = 1 GROUP BY a, b ORDER BY b DESC",
              [(1, 3, 1, 1), (1, 2, 2, 2), (1, 1, 2, 2)])),
    Case("group_by_in_order_by", "GROUP BY with IN on the partition key and ORDER BY: refused "
         "when paging (always internal for GROUP BY), groups sorted across partitions without "
         "(SelectStatement.execute, needsPostQueryOrdering)",
         *GROUP_SETUP,
         Error("SELECT a, b, count(*) FROM t WHERE a IN (1, 2) GROUP BY a, b ORDER BY b DESC",
               "InvalidRequest", "Cannot page queries with both ORDER BY and a IN restriction "
               "on the partition key"),
         check_unpaged("SELECT a, b, c, count(*) FROM t WHERE a IN (1, 2) GROUP BY a, b "
                       "ORDER BY b DESC, c DESC LIMIT 3",
                       [(1, 3, 1, 1), (1, 2, 2, 2), (2, 2, 1, 1)])),
    Case("group_by_refused", "GROUP BY columns must be primary key columns in declared order, "
         "skipping only columns restricted by =, and the whole partition key "
         "(SelectStatement.getAggregationSpecFactory)",
         *GROUP_SETUP,
         Ok("CREATE TABLE t2 (k1 int, k2 int, c int, v int, PRIMARY KEY ((k1, k2), c))"),
         Error("SELECT a, count(*) FROM t WHERE a = 1 GROUP BY a, d", "InvalidRequest",
               "Group by is currently only supported on the columns of the PRIMARY KEY, got d"),
         Error("SELECT a, count(*) FROM t WHERE a = 1 GROUP BY c", "InvalidRequest", ORDER_MSG),
         Error("SELECT a, count(*) FROM t WHERE a = 1 GROUP BY a, c, b", "InvalidRequest",
               ORDER_MSG),
         Error("SELECT a, count(*) FROM t WHERE a = 1 GROUP BY a, a", "InvalidRequest",
               ORDER_MSG),
         Error("SELECT a, count(*) FROM t GROUP BY b", "InvalidRequest", ORDER_MSG),
         Error("SELECT a, count(*) FROM t WHERE a IN (1, 2) GROUP BY b", "InvalidRequest",
               ORDER_MSG),
         Error("SELECT a, count(*) FROM t WHERE a = 1 GROUP BY a, zz", "InvalidRequest",
               "Undefined column name zz"),
         Error("SELECT k1, count(*) FROM t2 GROUP BY k1", "InvalidRequest",
               "Group by is not supported on only a part of the partition key"),
         Error("SELECT DISTINCT a FROM t GROUP BY a, b", "InvalidRequest",
               "Grouping on clustering columns is not allowed for SELECT DISTINCT queries"),
         Rows("SELECT DISTINCT a FROM t WHERE a = 1 GROUP BY a", [(1,)]),
         Error("SELECT a, b, count(*) FROM t WHERE a = 1 GROUP BY b, floor(c, 2)",
               "InvalidRequest", "GROUP BY a function of a column"),
         Error("SELECT a, count(*) FROM t WHERE token(a) = token(1) GROUP BY b, c",
               "InvalidRequest", ORDER_MSG),
         Rows("SELECT k1, k2, count(*) FROM t2 GROUP BY k1, k2", [])),
    Case("group_by_paging_single_partition", "GROUP BY pages count groups: a page of n groups "
         "whatever the rows per group, resuming with the next group (AggregationQueryPager)",
         *PAGING_SETUP,
         check_paged("SELECT a, b, count(*), max(d), d FROM t WHERE a = 1 GROUP BY a, b",
                     P1_GROUPS),
         check_paged("SELECT a, b, count(*), max(d), d FROM t WHERE a = 1 GROUP BY a, b LIMIT 3",
                     P1_GROUPS[:3]),
         check_paged("SELECT a, b, count(*), max(d), d FROM t WHERE a = 1 GROUP BY a, b "
                     "ORDER BY b DESC", [(1, b, 3, 10 * b + 2, 10 * b + 2)
                                         for b in reversed(range(4))]),
         check_paged("SELECT a, b, count(*), max(d), d FROM t WHERE a IN (1, 2) GROUP BY a, b",
                     P1_GROUPS + P2_GROUPS),
         check_paged("SELECT a, count(*) FROM t WHERE a IN (1, 2, 3) GROUP BY a",
                     [(1, 12), (2, 4), (3, 1)], sizes=(1, 2))),
    Case("group_by_paging_scan", "GROUP BY over a scan paged in groups, with LIMIT and PER "
         "PARTITION LIMIT counted in groups across pages",
         *PAGING_SETUP,
         check_paged("SELECT a, b, count(*), max(d), d FROM t GROUP BY a, b",
                     P1_GROUPS + P2_GROUPS + P3_GROUPS, ordered=False),
         check_paged("SELECT a, count(*) FROM t GROUP BY a", [(1, 12), (2, 4), (3, 1)],
                     ordered=False),
         check_paged("SELECT a, b, count(*), max(d), d FROM t GROUP BY a, b "
                     "PER PARTITION LIMIT 3", P1_GROUPS[:3] + P2_GROUPS + P3_GROUPS,
                     ordered=False),
         Check(lambda session, ks: _scan_limit(session, ks), "GROUP BY scan LIMIT across pages"),
         Check(lambda session, ks: _big_groups(session, ks),
               "GROUP BY groups cut between scan rounds")),
]


def _big_groups(session: Any, ks: str) -> None:
    """A partition of 6,000 rows in groups of 7: a scan round stops after 5,000 rows
    (scan_response_rows_max), inside a group, which the next round completes."""
    from cassandra.concurrent import execute_concurrent_with_args

    session.execute("CREATE TABLE big (a int, b int, c int, PRIMARY KEY (a, b, c))")
    ins = session.prepare("INSERT INTO big (a, b, c) VALUES (?, ?, ?)")
    rows = [(1, n // 7, n % 7) for n in range(6000)] + [(2, 0, 0)]
    execute_concurrent_with_args(session, ins, rows, concurrency=64, raise_on_first_error=True)
    want = sorted([(1, b, 7) for b in range(6000 // 7)] + [(1, 6000 // 7, 6000 % 7), (2, 0, 1)])
    for n in (None, 300):
        got = [r for p in pages(session, ks, "SELECT a, b, count(*) FROM big GROUP BY a, b", n)
               for r in p]
        assert sorted(got) == want, f"fetch_size={n}: {len(got)} groups"
    got = [r for p in pages(session, ks, "SELECT a, count(*) FROM big GROUP BY a", 1) for r in p]
    assert sorted(got) == [(1, 6000), (2, 1)], got


def _scan_limit(session: Any, ks: str) -> None:
    cql = "SELECT a, b, count(*) FROM t GROUP BY a, b"
    every = [r for p in pages(session, ks, cql, None) for r in p]
    assert len(every) == 7, every
    for n in (1, 2, 4):
        got = pages(session, ks, cql + " LIMIT 5", n)
        flat = [r for p in got for r in p]
        assert flat == every[:5], f"LIMIT 5 fetch_size={n}: {got} != {every[:5]}"


IS_NOT_NULL = [
    Case("is_not_null_refused", "IS NOT NULL is a materialized view restriction: in a SELECT, "
         "UPDATE or DELETE it is refused (StatementRestrictions: 'Unsupported restriction'), "
         "and it is no LWT condition (the grammar has none)",
         Ok("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO t (k, c, v) VALUES (0, 0, 0)"),
         Error("SELECT * FROM t WHERE v IS NOT NULL ALLOW FILTERING", "InvalidRequest",
               "Unsupported restriction: v IS NOT NULL"),
         Error("SELECT * FROM t WHERE k = 0 AND c IS NOT NULL", "InvalidRequest",
               "Unsupported restriction: c IS NOT NULL"),
         Error("DELETE FROM t WHERE k = 0 AND c IS NOT NULL", "InvalidRequest",
               "Unsupported restriction: c IS NOT NULL"),
         Error("UPDATE t SET v = 1 WHERE k = 0 AND c = 0 IF v IS NOT NULL", "SyntaxException",
               ""),
         Rows("SELECT * FROM t", [(0, 0, 0)])),
]

ELEMENT_SETUP = (
    Ok("CREATE TYPE addr (street text, zip int)"),
    Ok("CREATE TYPE person (name text, a frozen<addr>)"),
    Ok("CREATE TABLE t (k int PRIMARY KEY, m map<text, int>, fm frozen<map<text, int>>, "
       "s set<int>, fs frozen<set<int>>, l list<int>, u addr, fu frozen<addr>, "
       "p frozen<person>)"),
    Ok("INSERT INTO t (k, m, fm, s, fs, l, u, fu, p) VALUES (0, {'a': 1, 'b': 2, 'c': 3}, "
       "{'a': 1, 'b': 2, 'c': 3}, {1, 2, 3, 4}, {1, 2, 3, 4}, [1, 2, 3], "
       "{street: 'x', zip: 1}, {street: 'y', zip: 2}, {name: 'n', a: {street: 'z', zip: 3}})"),
    Ok("INSERT INTO t (k) VALUES (1)"),
)


def _column_names(cql: str, want: list[str]) -> Check:
    def run(session: Any, ks: str) -> None:
        rs = session.execute(SimpleStatement(cql, consistency_level=QUORUM))
        assert rs.column_names == want, f"{cql}: columns {rs.column_names} != {want}"

    return Check(run, f"column names of {cql}")


def _prepared_element(session: Any, ks: str) -> None:
    ps = session.prepare("SELECT m[?], s[?..?] FROM t WHERE k = ?")
    row = session.execute(ps, ("b", 2, 3, 0)).one()
    assert (row[0], set(row[1])) == (2, {2, 3}), row


ELEMENTS = [
    Case("select_collection_element", "an element of a set or map, frozen or not: the map's "
         "value, the set's element, null when absent (Selectable.WithElementSelection, "
         "ElementsSelector)",
         *ELEMENT_SETUP,
         Rows("SELECT m['b'], m['z'], fm['c'], s[2], s[9], fs[3] FROM t WHERE k = 0",
              [(2, None, 3, 2, None, 3)]),
         Rows("SELECT m['b'], s[2], fm['a'] FROM t WHERE k = 1", [(None, None, None)]),
         Rows("SELECT k, m['a'] AS x FROM t WHERE k = 0", [(0, 1)]),
         Rows("SELECT max(m['b']), count(m['a']) FROM t", [(2, 1)]),
         Ok("CREATE TABLE ts (k int, c int, sm map<text, int> static, PRIMARY KEY (k, c))"),
         Ok("INSERT INTO ts (k, c, sm) VALUES (0, 0, {'a': 1})"),
         Ok("INSERT INTO ts (k, c) VALUES (0, 1)"),
         Rows("SELECT k, sm['a'] FROM ts", [(0, 1), (0, 1)]),  # one row per row (CASSANDRA-8302)
         _column_names("SELECT m['a'], m['a'..'b'], s[..2], s[1..], u.street, m['a'] AS x "
                       "FROM t WHERE k = 0",
                       ["m['a']", "m['a'..'b']", "s[..2]", "s[1..]", "u.street", "x"]),
         Check(_prepared_element, "element and slice bounds as bind markers")),
    Case("select_collection_slice", "a slice of a set or map keeps the keys between the bounds, "
         "both inclusive, a missing bound unbounded (ElementsSelector.SliceSelector)",
         *ELEMENT_SETUP,
         Rows("SELECT m['a'..'b'], m[..'b'], m['b'..], fm['b'..'c'] FROM t WHERE k = 0",
              [({"a": 1, "b": 2}, {"a": 1, "b": 2}, {"b": 2, "c": 3}, {"b": 2, "c": 3})]),
         Rows("SELECT s[2..3], s[..2], fs[3..] FROM t WHERE k = 0", [({2, 3}, {1, 2}, {3, 4})])),
    Case("select_udt_field", "a field of a user type value, frozen or not, nested "
         "(Selectable.WithFieldSelection, FieldSelector)",
         *ELEMENT_SETUP,
         Rows("SELECT u.street, u.zip, fu.street, p.name, p.a.street, p.a.zip FROM t "
              "WHERE k = 0", [("x", 1, "y", "n", "z", 3)]),
         Rows("SELECT u.zip, p.a.zip FROM t WHERE k = 1", [(None, None)]),
         Rows("SELECT JSON m['b'], u.zip FROM t WHERE k = 0", [('{"m[\'b\']": 2, "u.zip": 1}',)])),
    Case("select_element_refused", "element and slice selection on a list or a non-collection, "
         "field selection on a non-UDT or an unknown field: Invalid with Cassandra's messages",
         *ELEMENT_SETUP,
         Error("SELECT l[0] FROM t", "InvalidRequest",
               "Element selection is only allowed on sets and maps, but l is a list"),
         Error("SELECT l[0..1] FROM t", "InvalidRequest",
               "Slice selection is only allowed on sets and maps, but l is a list"),
         Error("SELECT k[0] FROM t", "InvalidRequest",
               "Invalid element selection: k is of type int is not a collection"),
         Error("SELECT k[0..1] FROM t", "InvalidRequest",
               "Invalid slice selection: k of type int is not a collection"),
         Error("SELECT k.f FROM t", "InvalidRequest",
               "Invalid field selection: k of type int is not a user type"),
         Error("SELECT u.nope FROM t", "InvalidRequest", "has no field nope"),
         Error("SELECT m[null] FROM t", "InvalidRequest", ""),
         Error("SELECT nope['a'] FROM t", "InvalidRequest", "Undefined column name nope"),
         Error("SELECT * FROM t WHERE u.zip = 1 ALLOW FILTERING", "SyntaxException", "")),
    Case("where_map_element", "WHERE m['k'] = v filters with ALLOW FILTERING "
         "(SingleColumnRelation on a map entry)",
         *ELEMENT_SETUP,
         Rows("SELECT k FROM t WHERE m['b'] = 2 ALLOW FILTERING", [(0,)]),
         Rows("SELECT k FROM t WHERE m['b'] = 3 ALLOW FILTERING", []),
         Error("SELECT k FROM t WHERE m['b'] = 2", "InvalidRequest", "ALLOW FILTERING"),
         Error("SELECT k FROM t WHERE s CONTAINS 2", "InvalidRequest", "ALLOW FILTERING"),
         Ok("CREATE INDEX ON t (entries(m))"),
         Ok("CREATE INDEX ON t (s)"),
         Ok("CREATE INDEX ON t (full(fs))"),
         Rows("SELECT k FROM t WHERE m['b'] = 2", [(0,)]),
         Rows("SELECT k FROM t WHERE s CONTAINS 2", [(0,)]),
         Rows("SELECT k FROM t WHERE fs = {1, 2, 3, 4}", [(0,)]),
         Error("SELECT k FROM t WHERE m CONTAINS KEY 'b'", "InvalidRequest", "ALLOW FILTERING")),
]

def _cqlengine_order_by(session: Any, ks: str) -> None:
    """What cassandra.cqlengine sends for .order_by('-c'): ORDER BY "c" DESC (quoted names),
    with its default LIMIT 10000."""
    from cassandra import InvalidRequest
    from cassandra.cqlengine import columns, connection, models

    name = f"conformance_{ks}"
    row_factory = session.row_factory  # cqlengine sets dict_factory on the session
    connection.register_connection(name, session=session)
    try:
        class Event(models.Model):  # type: ignore[misc]
            __table_name__ = "events"
            __keyspace__ = ks
            __connection__ = name
            k = columns.Integer(partition_key=True)
            c = columns.Integer(primary_key=True)
            d = columns.Integer(primary_key=True, clustering_order="DESC")
            v = columns.Text()

        def cd(q: Any) -> list[tuple[int, int]]:
            return [(e.c, e.d) for e in q]

        assert cd(Event.objects(k=0).order_by("-c", "d")) == [(1, 0), (0, 0), (0, 1)]
        assert cd(Event.objects(k=0).order_by("c", "-d")) == [(0, 1), (0, 0), (1, 0)]
        assert cd(Event.objects(k=0).order_by("-c")) == [(1, 0), (0, 0), (0, 1)]
        assert [e.k for e in Event.objects(k__in=[1, 0]).order_by("-c").limit(100)] == \
            [0, 1, 0, 0, 1], "IN with ORDER BY sorts across partitions when not paged"
        try:
            list(Event.objects(k__in=[0, 1]).order_by("-c"))  # LIMIT 10000 > fetch size
        except InvalidRequest as e:
            assert "Cannot page queries with both ORDER BY and a IN restriction" in str(e), e
        else:
            raise AssertionError("IN with ORDER BY and paging was accepted")
        try:
            list(Event.objects(k=0).order_by("-c", "-d"))
        except InvalidRequest as e:
            assert "Unsupported order by relation" in str(e), e
        else:
            raise AssertionError("ORDER BY against the mixed clustering order was accepted")
    finally:
        connection.get_connection(name).cluster = None  # the runner's cluster stays up
        connection.unregister_connection(name)
        session.row_factory = row_factory


ORDER_BY = [
    Case("order_by_quoted_forms", "ORDER BY with quoted column names and explicit ASC/DESC, as "
         "CQLEngine writes them; reversing every clustering column or none "
         "(SelectStatement.Raw.isReversed)",
         Ok('CREATE TABLE events (k int, c int, d int, v text, PRIMARY KEY (k, c, d)) '
            'WITH CLUSTERING ORDER BY (c ASC, d DESC)'),
         Ok("INSERT INTO events (k, c, d, v) VALUES (0, 0, 0, 'a')"),
         Ok("INSERT INTO events (k, c, d, v) VALUES (0, 0, 1, 'b')"),
         Ok("INSERT INTO events (k, c, d, v) VALUES (0, 1, 0, 'c')"),
         Ok("INSERT INTO events (k, c, d, v) VALUES (1, 0, 5, 'd')"),
         Rows('SELECT "c", "d" FROM events WHERE "k" = 0 ORDER BY "c" DESC, "d" ASC LIMIT 10000',
              [(1, 0), (0, 0), (0, 1)]),
         Rows('SELECT "c", "d" FROM events WHERE "k" = 0 ORDER BY "c" ASC', [(0, 1), (0, 0),
                                                                            (1, 0)]),
         Error('SELECT * FROM events WHERE "k" = 0 ORDER BY "d" DESC', "InvalidRequest",
               "Order by currently only supports the ordering of columns following their "
               "declared order in the PRIMARY KEY"),
         Error('SELECT * FROM events WHERE "k" = 0 ORDER BY "c" DESC, "d" DESC',
               "InvalidRequest", "Unsupported order by relation"),
         Error('SELECT * FROM events WHERE "k" IN (0, 1) ORDER BY "c" DESC LIMIT 10000',
               "InvalidRequest", "Cannot page queries with both ORDER BY and a IN restriction "
               "on the partition key; you must either remove the ORDER BY or the IN and sort "
               "client side, or disable paging for this query"),
         Rows('SELECT k, c, d FROM events WHERE "k" IN (0, 1) ORDER BY "c" DESC LIMIT 3',
              [(0, 1, 0), (0, 0, 0), (0, 0, 1)]),
         Ok("INSERT INTO events (k, c, d, v) VALUES (1, 1, -1, 'e')"),
         check_unpaged('SELECT k, c, d FROM events WHERE "k" IN (0, 1) ORDER BY "c" DESC',
                       [(0, 1, 0), (1, 1, -1), (0, 0, 0), (0, 0, 1), (1, 0, 5)]),
         Check(_cqlengine_order_by, "cassandra.cqlengine order_by('-c') and friends")),
]

WRITETIME = [
    Case("writetime_of_elements", "Cassandra 5: writetime/ttl of a non-frozen collection is "
         "the list of its elements' stamps, of an element or field its cell's, of a slice the "
         "list of the kept elements'; a frozen value's parts share its one stamp when not null; "
         "maxwritetime is the greatest (CASSANDRA-8877, WritetimeOrTTLTest)",
         Ok("CREATE TYPE pair (f1 int, f2 int)"),
         Ok("CREATE TABLE t (k int PRIMARY KEY, s set<int>, fs frozen<set<int>>, "
            "m map<text, int>, l list<int>, u pair, fu frozen<pair>, v int)"),
         Ok("INSERT INTO t (k, s, fs, m, l, u, fu, v) VALUES (1, {1}, {1, 2}, {'a': 1}, [1], "
            "{f1: 1}, {f1: 1}, 0) USING TIMESTAMP 1"),
         Ok("UPDATE t USING TIMESTAMP 2 AND TTL 20000 SET s = s + {2}, m['b'] = 2, l = l + [2], "
            "u.f2 = 2 WHERE k = 1"),
         Rows("SELECT writetime(s), writetime(s[1]), writetime(s[2]), writetime(s[3]), "
              "writetime(s[2..]), writetime(s[3..]), writetime(m), writetime(m['b']), "
              "writetime(l), writetime(v) FROM t WHERE k = 1",
              [([1, 2], 1, 2, None, [2], None, [1, 2], 2, [1, 2], 1)]),
         Rows("SELECT writetime(fs), writetime(fs[2]), writetime(fs[3]), writetime(fs[2..]), "
              "writetime(fs[3..]) FROM t WHERE k = 1", [(1, 1, None, 1, None)]),
         Rows("SELECT writetime(u), writetime(u.f1), writetime(u.f2), writetime(fu.f1), "
              "writetime(fu.f2) FROM t WHERE k = 1", [([1, 2], 1, 2, 1, None)]),
         Rows("SELECT maxwritetime(s), maxwritetime(v), maxwritetime(fs) FROM t WHERE k = 1",
              [(2, 1, 1)]),
         Check(lambda session, ks: _ttls(session), "ttl of elements"),
         Error("SELECT writetime(l[0]) FROM t", "InvalidRequest",
               "Element selection is only allowed on sets and maps, but l is a list"),
         Error("SELECT writetime(k) FROM t", "InvalidRequest",
               "Cannot use selection function writetime on PRIMARY KEY part k"),
         Error("SELECT maxwritetime(k) FROM t", "InvalidRequest",
               "Cannot use selection function maxwritetime on PRIMARY KEY part k"),
         Error("SELECT ttl(k) FROM t", "InvalidRequest",
               "Cannot use selection function ttl on PRIMARY KEY part k")),
]


def _ttls(session: Any) -> None:
    """(A list of ttls holding a null, for an element written without TTL, is what Cassandra
    answers too, but the python driver cannot decode null list elements: not read here.)"""
    row = session.execute(SimpleStatement(
        "SELECT ttl(s[2..]), ttl(s[1]), ttl(s[2]), ttl(u.f2), ttl(v), ttl(m['b']) FROM t "
        "WHERE k = 1", consistency_level=QUORUM)).one()
    assert len(row[0]) == 1 and 19000 < row[0][0] <= 20000, row
    assert row[1] is None and 19000 < row[2] <= 20000 and 19000 < row[3] <= 20000, row
    assert row[4] is None and 19000 < row[5] <= 20000, row


CASES = [*GROUP_BY, *IS_NOT_NULL, *ELEMENTS, *ORDER_BY, *WRITETIME]
