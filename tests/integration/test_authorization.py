"""CassandraAuthorizer on real nodes (issue 12): a 3-node cluster with PasswordAuthenticator
and CassandraAuthorizer, the stock python driver and cqlsh as clients.

A role without a permission is refused with Unauthorized (0x2100) naming the role, the
permission and the resource, on every coordinator; a GRANT is seen by every coordinator at once
(the cluster runs with a permissions validity of a minute, so only the invalidation message can
explain it), a REVOKE too; MODIFY for writes, CREATE / ALTER / DROP for DDL, the creator's
grants, LIST PERMISSIONS as cqlsh prints it, a superuser passing everything.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cassandra import InvalidRequest, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Session
from conftest import CQL_PORT, INTERNODE_PORT, LocalCluster
from test_nodejs import NODEJS, _install

from skewless.runtime.cluster import admin_port_for

CQLSH = str(Path(sys.executable).parent / "cqlsh")
VALIDITY_MS = 60_000  # far longer than the test waits: a change seen at once is the message's
SEEN_WITHIN_S = 5.0  # a GRANT / REVOKE reaches every coordinator within this (a message hop)
AUTH_ARGS = ["--authenticator", "PasswordAuthenticator", "--authorizer", "CassandraAuthorizer",
             "--permissions-validity", str(VALIDITY_MS), "--superuser-setup-delay-ms", "1000"]
SUPER = PlainTextAuthProvider("cassandra", "cassandra")
ALICE = PlainTextAuthProvider("alice", "secret")


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Callable[..., LocalCluster]) -> LocalCluster:
    c = module_cluster_factory(3, [AUTH_ARGS] * 3, auth_provider=SUPER)
    s = c.session(auth_provider=SUPER)
    s.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 3}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    s.execute("INSERT INTO ks.t (k, v) VALUES (1, 10)")
    s.execute("CREATE ROLE alice WITH PASSWORD = 'secret' AND LOGIN = true")
    return c


@pytest.fixture(scope="module")
def superuser(cluster: LocalCluster) -> Session:
    return cluster.session(auth_provider=SUPER)


@pytest.fixture(scope="module")
def alice(cluster: LocalCluster) -> list[Session]:
    """One session of alice per coordinator."""
    return [cluster.session_to(n.address, auth_provider=ALICE) for n in cluster.nodes]


def refused(session: Session, query: str) -> str:
    """The Unauthorized message ``query`` is answered with (fails if it is not refused)."""
    with pytest.raises(Unauthorized) as e:
        session.execute(query)
    return str(e.value)


def wait_all(sessions: list[Session], check: Callable[[Session], bool]) -> float:
    """Seconds until ``check`` holds on every session (fails after SEEN_WITHIN_S)."""
    start = time.monotonic()
    pending = list(sessions)
    while pending:
        pending = [s for s in pending if not check(s)]
        if pending and time.monotonic() - start > SEEN_WITHIN_S:
            raise AssertionError(f"{len(pending)} coordinators did not see the change within "
                                 f"{SEEN_WITHIN_S} s")
        if pending:
            time.sleep(0.05)
    return time.monotonic() - start


def can(query: str) -> Callable[[Session], bool]:
    def check(s: Session) -> bool:
        try:
            s.execute(query)
        except Unauthorized:
            return False
        return True
    return check


def cannot(query: str) -> Callable[[Session], bool]:
    return lambda s: not can(query)(s)


def test_select_needs_select_granted_and_revoked_on_every_coordinator(
        superuser: Session, alice: list[Session]) -> None:
    for s in alice:
        msg = refused(s, "SELECT * FROM ks.t")
        assert "User alice has no SELECT permission on <table ks.t> or any of its parents" \
            in msg, msg
    superuser.execute("GRANT SELECT ON ks.t TO alice")
    took = wait_all(alice, can("SELECT * FROM ks.t"))
    print(f"GRANT seen by every coordinator in {took:.2f} s (validity {VALIDITY_MS} ms)")
    for s in alice:
        assert [tuple(r) for r in s.execute("SELECT k, v FROM ks.t")] == [(1, 10)]
    superuser.execute("REVOKE SELECT ON ks.t FROM alice")
    took = wait_all(alice, cannot("SELECT * FROM ks.t"))
    print(f"REVOKE seen by every coordinator in {took:.2f} s")
    for s in alice:
        assert "no SELECT permission on <table ks.t>" in refused(s, "SELECT * FROM ks.t")


def test_writes_need_modify_and_a_keyspace_grant_covers_its_tables(
        superuser: Session, alice: list[Session]) -> None:
    a = alice[0]
    for q in ("INSERT INTO ks.t (k, v) VALUES (2, 20)", "UPDATE ks.t SET v = 3 WHERE k = 2",
              "DELETE FROM ks.t WHERE k = 2", "TRUNCATE ks.t",
              "BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (3, 30); APPLY BATCH"):
        msg = refused(a, q)
        assert "User alice has no MODIFY permission on <table ks.t> or any of its parents" \
            in msg, (q, msg)
    superuser.execute("GRANT MODIFY ON KEYSPACE ks TO alice")
    wait_all(alice, can("INSERT INTO ks.t (k, v) VALUES (2, 20)"))
    a.execute("BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (3, 30); APPLY BATCH")
    prepared = a.prepare("INSERT INTO ks.t (k, v) VALUES (?, ?)")
    a.execute(prepared, (4, 40))
    # still no SELECT: writing does not imply reading
    assert "no SELECT permission" in refused(a, "SELECT * FROM ks.t WHERE k = 2")
    rows = {(r.k, r.v) for r in superuser.execute("SELECT k, v FROM ks.t")}
    assert {(2, 20), (3, 30), (4, 40)} <= rows
    superuser.execute("REVOKE MODIFY ON KEYSPACE ks FROM alice")
    wait_all(alice, cannot("INSERT INTO ks.t (k, v) VALUES (5, 50)"))
    # a prepared statement is checked when executed, not only when prepared
    assert "no MODIFY permission" in refused_prepared(a, prepared, (6, 60))


def refused_prepared(session: Session, prepared: Any, values: tuple[int, int]) -> str:
    with pytest.raises(Unauthorized) as e:
        session.execute(prepared, values)
    return str(e.value)


def test_ddl_needs_create_alter_drop_and_the_creator_gets_all(
        superuser: Session, alice: list[Session]) -> None:
    a = alice[1]
    assert "no CREATE permission on <all keyspaces>" in refused(
        a, "CREATE KEYSPACE ks2 WITH replication = {'class': 'SimpleStrategy', "
           "'replication_factor': 1}")
    assert "no CREATE permission on <keyspace ks>" in refused(
        a, "CREATE TABLE ks.mine (k int PRIMARY KEY)")
    assert "no ALTER permission on <table ks.t>" in refused(a, "ALTER TABLE ks.t ADD w int")
    assert "no ALTER permission on <table ks.t>" in refused(a, "CREATE INDEX ON ks.t (v)")
    assert "no DROP permission on <table ks.t>" in refused(a, "DROP TABLE ks.t")
    assert "no DROP permission on <keyspace ks>" in refused(a, "DROP KEYSPACE ks")
    assert "system keyspace is not user-modifiable." in refused(
        a, "CREATE TABLE system.x (k int PRIMARY KEY)")

    superuser.execute("GRANT CREATE ON KEYSPACE ks TO alice")
    deadline = time.monotonic() + SEEN_WITHIN_S
    while True:
        try:
            a.execute("CREATE TABLE ks.mine (k int PRIMARY KEY)")
            break
        except Unauthorized:
            assert time.monotonic() < deadline, "CREATE granted but still refused"
            time.sleep(0.05)
    # the creator holds every permission on what it created, on every coordinator
    for i, s in enumerate(alice):
        s.execute(f"INSERT INTO ks.mine (k) VALUES ({i})")
        assert len(list(s.execute("SELECT * FROM ks.mine"))) >= i + 1
    a.execute("ALTER TABLE ks.mine ADD v int")
    a.execute("DROP TABLE ks.mine")
    # the grants on a dropped table are gone with it: a new table of the same name is not hers
    superuser.execute("CREATE TABLE ks.mine (k int PRIMARY KEY)")
    assert "no SELECT permission on <table ks.mine>" in refused(a, "SELECT * FROM ks.mine")
    listed = {(r.role, r.resource, r.permission)
              for r in superuser.execute("LIST ALL PERMISSIONS OF alice")}
    assert ("alice", "<keyspace ks>", "CREATE") in listed
    assert not any(res == "<table ks.mine>" for _, res, _ in listed), listed
    superuser.execute("REVOKE CREATE ON KEYSPACE ks FROM alice")

    # a keyspace of her own: created, used, dropped with every grant in it
    superuser.execute("GRANT CREATE ON ALL KEYSPACES TO alice")
    ddl = "CREATE KEYSPACE IF NOT EXISTS own WITH replication = {'class': 'SimpleStrategy', " \
          "'replication_factor': 1}"
    wait_all(alice, can(ddl))
    a.execute("CREATE TABLE own.t (k int PRIMARY KEY)")
    a.execute("INSERT INTO own.t (k) VALUES (1)")
    held = {tuple(r)[2] for r in superuser.execute("LIST ALL PERMISSIONS OF alice")}
    assert {"<keyspace own>", "<table own.t>"} <= held, held
    a.execute("DROP KEYSPACE own")
    held = {tuple(r)[2] for r in superuser.execute("LIST ALL PERMISSIONS OF alice")}
    assert not {"<keyspace own>", "<table own.t>"} & held, held
    superuser.execute("REVOKE CREATE ON ALL KEYSPACES FROM alice")


def test_list_permissions_as_the_driver_and_cqlsh_show_it(
        cluster: LocalCluster, superuser: Session, alice: list[Session],
        tmp_path: Path) -> None:
    superuser.execute("GRANT SELECT ON KEYSPACE ks TO alice")
    superuser.execute("GRANT ALTER ON ks.t TO alice")
    rs = superuser.execute("LIST ALL PERMISSIONS OF alice")
    assert rs.column_names == ["role", "username", "resource", "permission"]
    rows = [tuple(r) for r in rs]
    assert rows == [("alice", "alice", "<keyspace ks>", "SELECT"),
                    ("alice", "alice", "<table ks.t>", "ALTER")], rows
    assert [tuple(r) for r in superuser.execute("LIST SELECT ON ks.t OF alice")] == [
        ("alice", "alice", "<keyspace ks>", "SELECT")]  # recursive: the parent's grant
    assert list(superuser.execute("LIST SELECT ON ks.t OF alice NORECURSIVE")) == []
    # alice may list her own, not everyone's
    wait_all(alice, can("LIST ALL PERMISSIONS OF alice"))
    assert "You are not authorized to view everyone's permissions" in refused(
        alice[0], "LIST ALL PERMISSIONS")
    with pytest.raises(InvalidRequest, match="<role nobody> doesn't exist"):
        superuser.execute("LIST ALL PERMISSIONS OF nobody")
    with pytest.raises(InvalidRequest, match="Role nobody doesn't exist"):
        superuser.execute("GRANT SELECT ON ks.t TO nobody")
    with pytest.raises(InvalidRequest, match=r"Resource <table ks.nope> doesn't exist"):
        superuser.execute("GRANT SELECT ON ks.nope TO alice")

    proc = subprocess.run(
        [CQLSH, "-u", "cassandra", "-p", "cassandra", cluster.nodes[0].address, str(CQL_PORT),
         "-e", "LIST ALL PERMISSIONS OF alice"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = [line.split("|") for line in proc.stdout.splitlines() if "|" in line]
    cells = [[c.strip() for c in line] for line in lines]
    assert cells[0] == ["role", "username", "resource", "permission"], proc.stdout
    assert cells[1:] == [["alice", "alice", "<keyspace ks>", "SELECT"],
                         ["alice", "alice", "<table ks.t>", "ALTER"]], proc.stdout
    assert "(2 rows)" in proc.stdout
    superuser.execute("REVOKE ALL ON KEYSPACE ks FROM alice")
    superuser.execute("REVOKE ALL ON ks.t FROM alice")
    assert list(superuser.execute("LIST ALL PERMISSIONS OF alice")) == []


def test_grant_checks(superuser: Session, alice: list[Session]) -> None:
    from cassandra.protocol import SyntaxException
    with pytest.raises(SyntaxException, match="Resource type DataResource does not support any "
                                              "of the requested permissions"):
        superuser.execute("GRANT CREATE ON ks.t TO alice")
    with pytest.raises(InvalidRequest, match="The FUNCTION resource is not supported by "
                                             "Skewless yet"):
        superuser.execute("GRANT EXECUTE ON ALL FUNCTIONS TO alice")
    with pytest.raises(InvalidRequest, match="The MBEAN resource is not supported"):
        superuser.execute("LIST ALL PERMISSIONS ON ALL MBEANS")
    # a role cannot hand on what it does not hold
    assert "no AUTHORIZE permission on <table ks.t>" in refused(
        alice[2], "GRANT SELECT ON ks.t TO alice")


def test_grants_of_granted_roles_and_role_resources(
        superuser: Session, alice: list[Session]) -> None:
    """alice holds what a role granted to her holds; role statements need permissions on role
    resources; the creator of a role holds its permissions; DROP ROLE takes its grants along."""
    superuser.execute("CREATE ROLE readers")
    superuser.execute("GRANT SELECT ON ks.t TO readers")
    assert "no SELECT permission" in refused(alice[0], "SELECT * FROM ks.t")
    superuser.execute("GRANT readers TO alice")
    # alice's sessions reload their roles after roles_validity (2 s), then hold readers' grants
    deadline = time.monotonic() + 2 + SEEN_WITHIN_S
    pending = list(alice)
    while pending:
        pending = [s for s in pending if not can("SELECT * FROM ks.t")(s)]
        assert time.monotonic() < deadline or not pending, "readers' grant not inherited"
        time.sleep(0.1)
    rows = {tuple(r) for r in superuser.execute("LIST ALL PERMISSIONS OF alice")}
    assert ("readers", "readers", "<table ks.t>", "SELECT") in rows, rows

    assert "no CREATE permission on <all roles>" in refused(alice[0], "CREATE ROLE minion")
    assert "no AUTHORIZE permission on <role readers>" in refused(
        alice[0], "GRANT readers TO cassandra")
    superuser.execute("GRANT CREATE ON ALL ROLES TO alice")
    wait_all(alice, can("CREATE ROLE IF NOT EXISTS minion"))
    mine = {tuple(r)[2:] for r in superuser.execute("LIST ALL PERMISSIONS OF alice")}
    assert {("<role minion>", p) for p in ("ALTER", "DROP", "AUTHORIZE")} <= mine, mine
    alice[1].execute("GRANT minion TO readers")  # AUTHORIZE on minion: hers as its creator
    alice[2].execute("DROP ROLE minion")
    superuser.execute("REVOKE CREATE ON ALL ROLES FROM alice")

    superuser.execute("DROP ROLE readers")
    wait_all(alice, cannot("SELECT * FROM ks.t"))
    rows = {tuple(r) for r in superuser.execute("LIST ALL PERMISSIONS")}
    assert not any(r[0] in ("readers", "minion") or "minion" in r[2] for r in rows), rows


def test_superuser_passes_everything(superuser: Session) -> None:
    superuser.execute("CREATE KEYSPACE su WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1}")
    superuser.execute("CREATE TABLE su.t (k int PRIMARY KEY)")
    superuser.execute("INSERT INTO su.t (k) VALUES (1)")
    assert len(list(superuser.execute("SELECT * FROM su.t"))) == 1
    assert list(superuser.execute("SELECT role FROM system_auth.roles"))
    superuser.execute("DROP KEYSPACE su")



def test_nodetool_invalidatepermissionscache(cluster: LocalCluster, superuser: Session,
                                             alice: list[Session]) -> None:
    superuser.execute("GRANT SELECT ON ks.t TO alice")
    wait_all(alice, can("SELECT * FROM ks.t"))  # cached on every node now
    for args in (["alice"], []):
        r = subprocess.run(
            [sys.executable, "-m", "skewless.nodetool.cli", "-h", cluster.nodes[1].address,
             "-p", str(admin_port_for(INTERNODE_PORT)), "-u", "cassandra", "-pw", "cassandra",
             "invalidatepermissionscache", *args],
            capture_output=True, text=True, timeout=60, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
        assert can("SELECT * FROM ks.t")(alice[1])  # read again from the table
    superuser.execute("REVOKE SELECT ON ks.t FROM alice")


def test_nodejs_driver_sees_unauthorized(cluster: LocalCluster, superuser: Session,
                                         alice: list[Session]) -> None:
    """The stock Node.js driver gets Unauthorized as a ResponseError with code 0x2100."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node.js driver test; not found on PATH")
    _install()

    def run(query: str) -> str:
        out = subprocess.run(["node", "authz_test.js", cluster.nodes[2].address, str(CQL_PORT),
                              "datacenter1", "alice", "secret", query], cwd=NODEJS,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()
    assert run("SELECT * FROM ks.t") == (
        "failed ResponseError 8448: User alice has no SELECT permission on <table ks.t> or any "
        "of its parents")
    superuser.execute("GRANT SELECT ON KEYSPACE ks TO alice")
    wait_all(alice, can("SELECT * FROM ks.t"))
    assert run("SELECT * FROM ks.t").startswith("ok ")
    superuser.execute("REVOKE SELECT ON KEYSPACE ks FROM alice")
