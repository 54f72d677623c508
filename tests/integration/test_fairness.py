"""Issue 15, fairness: each abusive single request gets Cassandra's error (or succeeds), never a
ServerError, and leaves no traceback in any node's log; a node applying the largest collection
write the guardrail lets through is not marked DOWN by its peers. Latencies beside these
requests are measured by ``python -m skewless.bench_abuse``, not asserted here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, SimpleStatement
from conftest import LocalCluster

from skewless import limits

pytestmark = pytest.mark.timeout(600)

KS = "fair"
TIMEOUT_S = 120  # one abusive request: the node answers long before


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Any) -> Iterator[LocalCluster]:
    c: LocalCluster = module_cluster_factory(3)
    c.wait_gossip(3)
    s = c.session_to(c.nodes[0].address)
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}", timeout=60)
    s.execute(f"CREATE TABLE {KS}.t (k int, c int, a int, s set<text>, "
              "PRIMARY KEY (k, c))", timeout=60)
    s.execute(f"INSERT INTO {KS}.t (k, c, a) VALUES (0, 0, 0)", timeout=60)
    yield c


@pytest.fixture
def session(cluster: LocalCluster) -> Any:
    return cluster.session_to(cluster.nodes[0].address)


@pytest.fixture(autouse=True)
def no_traceback_logged(cluster: LocalCluster) -> Iterator[None]:
    """Every test here: no node logs a traceback, an internal error or a DOWN verdict."""
    sizes = [n.log_path.stat().st_size for n in cluster.nodes]
    yield
    for node, size in zip(cluster.nodes, sizes, strict=True):
        with node.log_path.open("rb") as f:
            f.seek(size)
            text = f.read().decode("utf-8", "replace")
        for bad in ("Traceback", "Internal error", "RecursionError", "is now DOWN"):
            assert bad not in text, f"{node.address} logged {bad!r}:\n{text[-3000:]}"


TOO_MANY_TOKENS = (f"The statement has more than {limits.cql_statement_tokens_max} tokens "
                   "(the maximum)")


def test_select_clause_of_a_megabyte_is_refused(session: Any) -> None:
    text = "SELECT " + "a, " * 333_000 + f"a FROM {KS}.t WHERE k = 0"
    with pytest.raises(InvalidRequest, match=re.escape(TOO_MANY_TOKENS)):
        session.execute(text, timeout=TIMEOUT_S)
    n = limits.cql_select_selectors_max + 1  # few tokens, too many selectors
    with pytest.raises(InvalidRequest, match=f"The SELECT clause has {n} selectors, more "
                       f"than the maximum of {n - 1}"):
        session.execute("SELECT " + ", ".join(["a"] * n) + f" FROM {KS}.t", timeout=TIMEOUT_S)


def test_long_select_clause_within_the_limit_is_served(session: Any) -> None:
    n = limits.cql_select_selectors_max
    row = session.execute("SELECT " + ", ".join(["a"] * n) + f" FROM {KS}.t WHERE k = 0",
                          timeout=TIMEOUT_S).one()
    assert len(row) == n and set(row) == {0}


def test_deep_nesting_is_refused_before_any_recursion(session: Any) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(TOO_MANY_TOKENS)):
        session.execute(f"SELECT * FROM {KS}.t WHERE k = " + "(" * 100_000 + "0" + ")" * 100_000,
                        timeout=TIMEOUT_S)
    for value in ("(" * 5000 + "0" + ")" * 5000, "(int)" * 5000 + "0"):
        with pytest.raises(SyntaxException, match="nests expressions deeper than the maximum "
                           f"of {limits.cql_expression_depth_max} levels"):
            session.execute(f"SELECT * FROM {KS}.t WHERE k = {value}", timeout=TIMEOUT_S)


def test_moderate_nesting_is_served(session: Any) -> None:
    rows = session.execute(f"SELECT a FROM {KS}.t WHERE k = " + "(int)" * 50 + "0",
                           timeout=TIMEOUT_S)
    assert [r.a for r in rows] == [0]


def test_in_of_many_partition_keys_is_refused_by_the_guardrail(session: Any) -> None:
    keys = ", ".join(str(i) for i in range(100_000))
    with pytest.raises(InvalidRequest, match=re.escape(TOO_MANY_TOKENS)):
        session.execute(f"SELECT * FROM {KS}.t WHERE k IN ({keys})", timeout=TIMEOUT_S)
    n = limits.partition_keys_in_select_fail_threshold
    keys = ", ".join(str(i) for i in range(n + 1))
    expected = (f"Guardrail partition_keys_in_select violated: Aborting query with partition "
                f"keys in IN clause on table {KS}.t, number of partition keys {n + 1} exceeds "
                f"fail threshold of {n}.")
    with pytest.raises(InvalidRequest, match=re.escape(expected)):
        session.execute(f"SELECT * FROM {KS}.t WHERE k IN ({keys})", timeout=TIMEOUT_S)
    # a bound list is counted too, once decoded
    prepared = session.prepare(f"SELECT * FROM {KS}.t WHERE k IN ?")
    with pytest.raises(InvalidRequest, match=re.escape(expected.replace(f" {n + 1} ",
                                                                        " 100000 "))):
        session.execute(prepared, (list(range(100_000)),), timeout=TIMEOUT_S)
    rows = session.execute(f"SELECT a FROM {KS}.t WHERE k IN "
                           f"({', '.join(str(i) for i in range(n))})", timeout=TIMEOUT_S)
    assert [r.a for r in rows] == [0]


def test_clustering_in_cartesian_product_is_refused_by_the_guardrail(session: Any) -> None:
    n = limits.in_select_cartesian_product_fail_threshold + 1
    values = ", ".join(str(i) for i in range(n))
    with pytest.raises(InvalidRequest, match=re.escape(
            "Guardrail in_select_cartesian_product violated: Aborting query because the "
            f"cartesian product of the IN restrictions on clustering keys produces {n} values")):
        session.execute(f"SELECT * FROM {KS}.t WHERE k = 0 AND c IN ({values})",
                        timeout=TIMEOUT_S)


def test_batch_of_10000_statements_is_too_large(session: Any) -> None:
    batch = BatchStatement()
    for i in range(10_000):
        batch.add(SimpleStatement(f"INSERT INTO {KS}.t (k, c, a) VALUES ({i}, 0, {i})"))
    with pytest.raises(InvalidRequest, match="Batch too large"):
        session.execute(batch, timeout=TIMEOUT_S)
    assert session.execute(f"SELECT * FROM {KS}.t WHERE k = 9999").one() is None


def test_batch_of_10000_prepared_statements_is_too_large(session: Any) -> None:
    insert = session.prepare(f"INSERT INTO {KS}.t (k, c, a) VALUES (?, 0, ?)")
    batch = BatchStatement()
    for i in range(10_000):
        batch.add(insert, (20_000 + i, i))
    with pytest.raises(InvalidRequest, match="Batch too large"):
        session.execute(batch, timeout=TIMEOUT_S)
    assert session.execute(f"SELECT * FROM {KS}.t WHERE k = 20000").one() is None


def test_batch_of_many_statements_within_the_threshold_is_applied(session: Any) -> None:
    batch = BatchStatement()
    for i in range(200):  # one partition: no size threshold (Cassandra's)
        batch.add(SimpleStatement(f"INSERT INTO {KS}.t (k, c, a) VALUES (7, {i}, {i})"))
    session.execute(batch, timeout=TIMEOUT_S)
    rows = session.execute(f"SELECT a FROM {KS}.t WHERE k = 7", timeout=TIMEOUT_S)
    assert [r.a for r in rows] == list(range(200))


def test_set_of_65535_elements_is_refused_by_the_guardrail(session: Any) -> None:
    prepared = session.prepare(f"INSERT INTO {KS}.t (k, c, s) VALUES (?, ?, ?)")
    elements = {f"element-{i:08d}-{'x' * 19}" for i in range(65_535)}
    with pytest.raises(InvalidRequest, match=re.escape(
            "Guardrail items_per_collection violated: Detected collection s with 65535 items, "
            "this exceeds the failure threshold of "
            f"{limits.items_per_collection_fail_threshold}.")):
        session.execute(prepared, (1, 0, elements), timeout=TIMEOUT_S)


def test_largest_set_allowed_is_written_and_no_peer_marks_the_node_down(
        cluster: LocalCluster, session: Any) -> None:
    n = limits.items_per_collection_fail_threshold
    prepared = session.prepare(f"INSERT INTO {KS}.t (k, c, s) VALUES (?, ?, ?)")
    elements = {f"element-{i:08d}-{'x' * 19}" for i in range(n)}
    for k in range(3):  # new and overwritten (the replica merges with what it holds)
        session.execute(prepared, (2, k % 2, elements), timeout=TIMEOUT_S)
    row = session.execute(f"SELECT s FROM {KS}.t WHERE k = 2 AND c = 0", timeout=TIMEOUT_S).one()
    assert len(row.s) == n
    for peer in cluster.nodes[1:]:  # each peer's own view of the node that coordinated
        view = cluster.session_to(peer.address).execute("SELECT * FROM system.skewless_status")
        assert all(r.up for r in view), [(r.address, r.up) for r in view]


def test_single_partition_batch_of_10000_rows_is_applied_and_no_peer_marks_the_node_down(
        cluster: LocalCluster, session: Any) -> None:
    insert = session.prepare(f"INSERT INTO {KS}.t (k, c, a) VALUES (8, ?, ?)")
    batch = BatchStatement()
    for i in range(10_000):  # one partition: no size threshold; merged in one pass
        batch.add(insert, (i, i))
    session.execute(batch, timeout=TIMEOUT_S)
    rows = session.execute(f"SELECT count(*) FROM {KS}.t WHERE k = 8", timeout=TIMEOUT_S)
    assert rows.one()[0] == 10_000
    for peer in cluster.nodes[1:]:
        view = cluster.session_to(peer.address).execute("SELECT * FROM system.skewless_status")
        assert all(r.up for r in view), [(r.address, r.up) for r in view]
