"""Lightweight transactions against a real 3-node cluster with the stock driver (issue 14):
INSERT IF NOT EXISTS, UPDATE IF, DELETE IF EXISTS, a conditional batch, ``was_applied``,
CQLEngine's ``iff()`` / ``if_not_exists()`` / ``if_exists()`` (LWTException), a SELECT at
SERIAL and LOCAL_SERIAL, cqlsh printing the ``[applied]`` result, and the bad input Cassandra
refuses, with its messages."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Session
from cassandra.cqlengine import columns, connection
from cassandra.cqlengine.models import Model
from cassandra.cqlengine.query import LWTException
from cassandra.query import BatchStatement, SimpleStatement
from conftest import CQL_PORT, LocalCluster

Q = ConsistencyLevel.QUORUM
CQLSH = str(Path(sys.executable).parent / "cqlsh")


@pytest.fixture(scope="module")
def session(shared_cluster: LocalCluster) -> Session:
    s = shared_cluster.round_robin_session()  # each statement through the next coordinator
    s.default_consistency_level = Q
    s.execute("CREATE KEYSPACE lwt WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE lwt.kv (k int PRIMARY KEY, v int, w text)")
    s.execute("CREATE TABLE lwt.rows (k int, c int, v int, PRIMARY KEY (k, c))")
    s.execute("CREATE TABLE lwt.n (k int PRIMARY KEY, n counter)")
    return s


def _rows(s: Session, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in s.execute(SimpleStatement(query, consistency_level=Q), args)]


def test_insert_if_not_exists_twice(session: Session) -> None:
    s = session
    first = s.execute("INSERT INTO lwt.kv (k, v, w) VALUES (1, 10, 'a') IF NOT EXISTS")
    assert first.was_applied
    assert first.column_names == ["[applied]"]
    second = s.execute("INSERT INTO lwt.kv (k, v, w) VALUES (1, 11, 'b') IF NOT EXISTS")
    assert not second.was_applied
    assert second.column_names == ["[applied]", "k", "v", "w"]
    assert tuple(second.one()) == (False, 1, 10, "a")
    assert _rows(s, "SELECT v, w FROM lwt.kv WHERE k = 1") == [(10, "a")]


def test_update_if_applied_and_not(session: Session) -> None:
    s = session
    s.execute("INSERT INTO lwt.kv (k, v) VALUES (2, 0)")
    upd = s.prepare("UPDATE lwt.kv SET v = ? WHERE k = ? IF v = ?")
    for i in range(5):
        assert s.execute(upd, (i + 1, 2, i)).was_applied
    failed = s.execute(upd, (99, 2, 0))
    assert not failed.was_applied
    assert failed.column_names == ["[applied]", "v"]
    assert tuple(failed.one()) == (False, 5)
    assert _rows(s, "SELECT v FROM lwt.kv WHERE k = 2") == [(5,)]


def test_delete_if_exists(session: Session) -> None:
    s = session
    s.execute("INSERT INTO lwt.kv (k, v) VALUES (3, 1)")
    assert s.execute("DELETE FROM lwt.kv WHERE k = 3 IF EXISTS").was_applied
    assert not s.execute("DELETE FROM lwt.kv WHERE k = 3 IF EXISTS").was_applied
    assert _rows(s, "SELECT v FROM lwt.kv WHERE k = 3") == []


def test_conditional_batch_applies_together_or_not_at_all(session: Session) -> None:
    s = session
    s.execute("INSERT INTO lwt.rows (k, c, v) VALUES (1, 1, 1)")
    text = ("BEGIN BATCH UPDATE lwt.rows SET v = 2 WHERE k = 1 AND c = 1 IF v = {cond}; "
            "INSERT INTO lwt.rows (k, c, v) VALUES (1, 2, 20); APPLY BATCH")
    failed = s.execute(text.format(cond=7))
    assert not failed.was_applied
    assert _rows(s, "SELECT c, v FROM lwt.rows WHERE k = 1") == [(1, 1)]
    assert s.execute(text.format(cond=1)).was_applied
    assert _rows(s, "SELECT c, v FROM lwt.rows WHERE k = 1") == [(1, 2), (2, 20)]
    # the protocol's BATCH message, prepared statements with values of their own
    batch = BatchStatement()
    batch.add(s.prepare("UPDATE lwt.rows SET v = ? WHERE k = ? AND c = ? IF v = ?"),
              (3, 1, 1, 2))
    batch.add(s.prepare("INSERT INTO lwt.rows (k, c, v) VALUES (?, ?, ?)"), (1, 3, 30))
    assert s.execute(batch).was_applied
    assert _rows(s, "SELECT c, v FROM lwt.rows WHERE k = 1") == [(1, 3), (2, 20), (3, 30)]


def test_select_at_serial_and_local_serial(session: Session) -> None:
    s = session
    assert s.execute("INSERT INTO lwt.kv (k, v) VALUES (4, 40) IF NOT EXISTS").was_applied
    for cl in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL):
        stmt = SimpleStatement("SELECT k, v FROM lwt.kv WHERE k = 4", consistency_level=cl)
        assert [tuple(r) for r in s.execute(stmt)] == [(4, 40)]
    with pytest.raises(InvalidRequest, match="SERIAL/LOCAL_SERIAL consistency may only be "
                                             "requested for one partition at a time"):
        s.execute(SimpleStatement("SELECT * FROM lwt.kv WHERE k IN (4, 5)",
                                  consistency_level=ConsistencyLevel.SERIAL))


class Account(Model):
    __keyspace__ = "lwt"
    id = columns.UUID(primary_key=True)
    owner = columns.Text()
    balance = columns.Integer()


def test_cqlengine_iff_if_not_exists_if_exists(shared_cluster: LocalCluster,
                                               session: Session) -> None:
    own = shared_cluster.session()  # CQLEngine sets its session's row factory to dicts
    connection.register_connection("lwt", session=own, default=True)
    try:
        _account_lwts()
    finally:  # CQLEngine's connections are global: other tests in this process register theirs
        connection.unregister_connection("lwt")


def _account_lwts() -> None:
    from cassandra.cqlengine.management import sync_table

    sync_table(Account)
    aid = uuid.uuid4()
    Account.if_not_exists().create(id=aid, owner="ann", balance=10)
    with pytest.raises(LWTException) as e:
        Account.if_not_exists().create(id=aid, owner="bob", balance=0)
    assert e.value.existing["owner"] == "ann"
    acct = Account.objects(id=aid).get()
    acct.iff(balance=10).update(balance=5)
    with pytest.raises(LWTException):
        acct.iff(balance=10).update(balance=0)
    assert Account.objects(id=aid).get().balance == 5
    Account.objects(id=aid).if_exists().update(owner="cy")
    with pytest.raises(LWTException):
        Account.objects(id=uuid.uuid4()).if_exists().update(owner="nobody")
    Account.objects(id=aid).if_exists().delete()
    assert Account.objects(id=aid).count() == 0


@pytest.mark.parametrize(("query", "message"), [
    ("UPDATE lwt.kv SET v = 1 WHERE k = 1 IF nope = 1", "Undefined column name nope"),
    ("BEGIN BATCH INSERT INTO lwt.kv (k, v) VALUES (1, 1) IF NOT EXISTS; "
     "INSERT INTO lwt.kv (k, v) VALUES (2, 1); APPLY BATCH",
     "Batch with conditions cannot span multiple partitions"),
    ("INSERT INTO lwt.kv (k, v) VALUES (1, 1) IF NOT EXISTS USING TIMESTAMP 5",
     "Cannot provide custom timestamp for conditional updates"),
    ("UPDATE lwt.kv USING TIMESTAMP 5 SET v = 1 WHERE k = 1 IF v = 1",
     "Cannot provide custom timestamp for conditional updates"),
    ("INSERT INTO lwt.n (k, n) VALUES (1, 1) IF NOT EXISTS",
     "INSERT statements are not allowed on counter tables, use UPDATE instead"),
])
def test_bad_input_is_invalid_with_cassandras_message(session: Session, query: str,
                                                      message: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        session.execute(query)
    assert message in str(e.value), str(e.value)


def test_a_plain_write_at_serial_is_refused(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="You must use conditional updates for "
                                             "serializable writes"):
        session.execute(SimpleStatement("INSERT INTO lwt.kv (k, v) VALUES (9, 9)",
                                        consistency_level=ConsistencyLevel.SERIAL))


def test_cqlsh_prints_the_applied_column(session: Session, tmp_path: Path) -> None:
    def cqlsh(statement: str) -> str:
        proc = subprocess.run(
            [CQLSH, "127.0.0.1", str(CQL_PORT), "-e", statement], capture_output=True, text=True,
            timeout=120, check=False,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        return proc.stdout

    out = cqlsh("INSERT INTO lwt.kv (k, v, w) VALUES (50, 1, 'x') IF NOT EXISTS")
    assert [line.strip() for line in out.splitlines() if line.strip()][:3] == [
        "[applied]", "-----------", "True"]
    lines = [line.strip() for line in cqlsh(
        "INSERT INTO lwt.kv (k, v, w) VALUES (50, 2, 'y') IF NOT EXISTS").splitlines()
        if line.strip()]
    assert [c.strip() for c in lines[0].split("|")] == ["[applied]", "k", "v", "w"], lines
    assert [c.strip() for c in lines[2].split("|")] == ["False", "50", "1", "x"], lines


def test_without_a_serial_quorum_an_lwt_fails_never_a_wrong_applied(
        shared_cluster: LocalCluster, session: Session) -> None:
    import time

    from cassandra import Unavailable, WriteTimeout, WriteType
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy

    session.execute("INSERT INTO lwt.kv (k, v) VALUES (60, 0)")
    address = shared_cluster.nodes[0].address
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               retry_policy=FallthroughRetryPolicy(), request_timeout=30.0)
    c = Cluster([address], port=CQL_PORT, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    shared_cluster.clusters.append(c)
    s1 = c.connect()  # every server error as it is, protocol v5
    stmt = SimpleStatement("UPDATE lwt.kv SET v = 1 WHERE k = 60 IF v = 0", consistency_level=Q)
    for n in shared_cluster.nodes[1:]:
        n.sigstop()
    try:
        with pytest.raises((Unavailable, WriteTimeout)) as e:  # before they are seen down
            s1.execute(stmt)
        if isinstance(e.value, WriteTimeout):
            assert e.value.write_type == WriteType.CAS
        deadline = time.monotonic() + 60
        while sum(1 for r in s1.execute("SELECT * FROM system.skewless_status")
                  if not r.up) < 2:
            assert time.monotonic() < deadline, "the paused nodes were not seen down"
            time.sleep(0.2)
        with pytest.raises(Unavailable) as u:
            s1.execute(stmt)
        assert u.value.consistency == ConsistencyLevel.SERIAL
        assert "Cannot achieve consistency level SERIAL" in str(u.value)
    finally:
        for n in shared_cluster.nodes[1:]:
            n.sigcont()
        for n in shared_cluster.nodes:
            shared_cluster.wait_gossip(3, via=n.address)
    # the timed-out attempt may have been applied: the value says, and nothing else changed
    (v,) = _rows(session, "SELECT v FROM lwt.kv WHERE k = 60")[0]
    assert v in (0, 1)
    assert session.execute(f"UPDATE lwt.kv SET v = 2 WHERE k = 60 IF v = {v}").was_applied


def test_prepare_refuses_what_cassandra_refuses_at_prepare(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="Cannot provide custom timestamp for conditional "
                                             "updates"):
        session.prepare("INSERT INTO lwt.kv (k, v) VALUES (?, ?) IF NOT EXISTS "
                        "USING TIMESTAMP 5")
    with pytest.raises(InvalidRequest, match="Undefined column name nope"):
        session.prepare("UPDATE lwt.kv SET v = 1 WHERE k = ? IF nope = ?")
