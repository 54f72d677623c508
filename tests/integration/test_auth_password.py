"""PasswordAuthenticator and roles (issue 12) on real nodes, with the stock clients as oracles:
the python driver, cqlsh (-u/-p) and the Node.js driver (PlainTextAuthProvider)."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra import AuthenticationFailed, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from conftest import CQL_PORT, LocalCluster
from test_nodejs import NODEJS, _install
from test_nodetool import nodetool

AUTH_ARGS = ["--authenticator", "PasswordAuthenticator", "--superuser-setup-delay-ms", "1000"]
SUPER = PlainTextAuthProvider("cassandra", "cassandra")
WARNING = "Created default superuser role 'cassandra'"
CQLSH = Path(sys.executable).parent / "cqlsh"


def _login_error(address: str, provider: PlainTextAuthProvider | None) -> str | None:
    """None when a login through ``address`` works, else the AuthenticationFailed text."""
    c = Cluster([address], port=CQL_PORT, auth_provider=provider,
                load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    try:
        c.connect().execute("SELECT key FROM system.local")
        return None
    except NoHostAvailable as e:
        (error,) = e.errors.values()
        assert isinstance(error, AuthenticationFailed), error
        return str(error)
    finally:
        c.shutdown()


def _cqlsh(address: str, user: str, password: str, statement: str
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CQLSH), address, str(CQL_PORT), "-u", user, "-p", password,
                           "-e", statement], capture_output=True, text=True, timeout=60)


def _nodejs(address: str, *credentials: str) -> str:
    _install()
    out = subprocess.run(["node", "auth_test.js", address, str(CQL_PORT), "datacenter1",
                          *credentials], cwd=NODEJS, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _startup_frame() -> bytes:
    def string(v: str) -> bytes:
        return struct.pack(">H", len(v)) + v.encode()
    body = struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")
    return struct.pack(">BBhBI", 4, 0, 0, 0x01, len(body)) + body


def _auth_response_frame(user: str, password: str) -> bytes:
    token = b"\0" + user.encode() + b"\0" + password.encode()
    body = struct.pack(">i", len(token)) + token
    return struct.pack(">BBhBI", 4, 0, 1, 0x0F, len(body)) + body


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data
    _, _, _, opcode, length = struct.unpack(">BBhBI", exactly(9))
    return opcode, exactly(length)


def _log(cluster: LocalCluster, i: int) -> str:
    return Path(cluster.nodes[i].log_path).read_text(encoding="utf-8", errors="replace")


def test_password_authenticator_with_three_clients(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1, [AUTH_ARGS], auth_provider=SUPER)
    a = c.nodes[0].address
    # python driver: no credentials, a wrong password, a role that does not exist
    assert "requires authentication" in (_login_error(a, None) or "")
    wrong = _login_error(a, PlainTextAuthProvider("cassandra", "nope"))
    assert wrong is not None and \
        'Provided username cassandra and/or password are incorrect' in wrong
    missing = _login_error(a, PlainTextAuthProvider("nobody", "nope"))
    assert missing is not None and \
        'Provided username nobody and/or password are incorrect' in missing
    assert wrong.replace("cassandra", "X") == missing.replace("nobody", "X")
    assert _login_error(a, SUPER) is None
    # cqlsh
    ok = _cqlsh(a, "cassandra", "cassandra", "LIST ROLES")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split("\n")[1].split() == \
        ["role", "|", "super", "|", "login", "|", "options", "|", "datacenters"], ok.stdout
    assert "cassandra |  True |  True |        {} |         ALL" in ok.stdout, ok.stdout
    bad = _cqlsh(a, "cassandra", "wrong", "SELECT key FROM system.local")
    assert bad.returncode != 0
    assert "Provided username cassandra and/or password are incorrect" in bad.stderr + bad.stdout
    # Node.js driver
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("Node.js driver part skipped: node and npm not found on PATH")
    else:
        assert _nodejs(a).startswith("failed "), _nodejs(a)
        refused = _nodejs(a, "cassandra", "wrong")
        assert refused.startswith("failed AuthenticationError") and \
            "Provided username cassandra and/or password are incorrect" in refused, refused
        assert _nodejs(a, "cassandra", "cassandra").startswith("ok "), refused
    # the default superuser was created once, with the warning; a restart finds it
    assert _log(c, 0).count(WARNING) == 1
    c.nodes[0].terminate()
    c.nodes[0].start()
    c.nodes[0].wait_ready()
    c.wait_login()
    time.sleep(2.5)  # past the setup delay (1 s) of the restarted node
    assert _log(c, 0).count(WARNING) == 1
    assert _login_error(a, SUPER) is None


def test_role_statements_and_their_effect(cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1, [AUTH_ARGS], auth_provider=SUPER)
    a = c.nodes[0].address
    s = c.session_to(a)
    s.execute("CREATE ROLE alice WITH PASSWORD = 'a1' AND LOGIN = true")
    s.execute("CREATE ROLE IF NOT EXISTS alice WITH PASSWORD = 'other' AND LOGIN = true")
    s.execute("CREATE ROLE readers")
    s.execute("CREATE USER bob WITH PASSWORD 'b1' NOSUPERUSER")
    assert _login_error(a, PlainTextAuthProvider("alice", "a1")) is None
    assert _login_error(a, PlainTextAuthProvider("bob", "b1")) is None
    # LIST ROLES: Cassandra's columns, sorted
    rows = list(s.execute("LIST ROLES"))
    assert [r.role for r in rows] == ["alice", "bob", "cassandra", "readers"]
    assert rows[0]._fields == ("role", "super", "login", "options", "datacenters")
    assert (rows[3].super, rows[3].login, rows[3].datacenters) == (False, False, "ALL")
    assert [(r.name, r.super) for r in s.execute("LIST USERS")] == \
        [("alice", False), ("bob", False), ("cassandra", True)]
    # ALTER ROLE: a new password, then LOGIN = false
    s.execute("ALTER ROLE alice WITH PASSWORD = 'a2'")
    assert _login_error(a, PlainTextAuthProvider("alice", "a1")) is not None
    assert _login_error(a, PlainTextAuthProvider("alice", "a2")) is None
    s.execute("ALTER ROLE alice WITH LOGIN = false")
    assert "alice is not permitted to log in" in \
        (_login_error(a, PlainTextAuthProvider("alice", "a2")) or "")
    s.execute("ALTER ROLE alice WITH LOGIN = true")
    # GRANT role TO role shows in LIST ROLES OF (recursive unless NORECURSIVE)
    s.execute("GRANT readers TO alice")
    s.execute("CREATE ROLE base")
    s.execute("GRANT base TO readers")
    assert [r.role for r in s.execute("LIST ROLES OF alice")] == ["alice", "base", "readers"]
    assert [r.role for r in s.execute("LIST ROLES OF alice NORECURSIVE")] == \
        ["alice", "readers"]
    with pytest.raises(Exception, match="alice is a member of base"):
        s.execute("GRANT alice TO base")
    s.execute("REVOKE readers FROM alice")
    assert [r.role for r in s.execute("LIST ROLES OF alice")] == ["alice"]
    # a non-superuser may not create a superuser; duplicate and missing roles
    alice = c.session_to(a, auth_provider=PlainTextAuthProvider("alice", "a2"))
    with pytest.raises(Unauthorized, match="Only superusers can create a role with superuser"):
        alice.execute("CREATE ROLE boss WITH SUPERUSER = true")
    with pytest.raises(Exception, match="alice already exists"):
        s.execute("CREATE ROLE alice")
    with pytest.raises(Exception, match="ghost doesn't exist"):
        s.execute("DROP ROLE ghost")
    s.execute("DROP ROLE IF EXISTS ghost")
    # a role may change its own password, not its own LOGIN or SUPERUSER
    alice.execute("ALTER ROLE alice WITH PASSWORD = 'a3'")
    assert _login_error(a, PlainTextAuthProvider("alice", "a3")) is None
    with pytest.raises(Unauthorized, match="You aren't allowed to alter your own superuser"):
        alice.execute("ALTER ROLE alice WITH SUPERUSER = true")
    with pytest.raises(Unauthorized, match="Only superusers are allowed to alter superuser"):
        alice.execute("ALTER ROLE readers WITH SUPERUSER = true")
    with pytest.raises(Unauthorized, match="You aren't allowed to alter LOGIN"):
        alice.execute("ALTER ROLE alice WITH LOGIN = false")
    with pytest.raises(Exception, match="Cannot DROP primary role for current login"):
        alice.execute("DROP ROLE alice")
    # DROP ROLE: logins refused from then on
    s.execute("DROP USER bob")
    assert "Provided username bob and/or password are incorrect" in \
        (_login_error(a, PlainTextAuthProvider("bob", "b1")) or "")
    assert "bob" not in [r.role for r in s.execute("LIST ROLES")]


def test_drop_role_refuses_login_through_every_coordinator(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    args = [*AUTH_ARGS[:-1], "2000"]  # the view of the cluster settles first
    c = cluster_factory(3, [args] * 3, auth_provider=SUPER)
    s = c.session()
    s.execute("CREATE ROLE carol WITH PASSWORD = 'c' AND LOGIN = true")
    for node in c.nodes:
        assert _login_error(node.address, PlainTextAuthProvider("carol", "c")) is None
    s.execute("DROP ROLE carol")
    for node in c.nodes:  # the role is read at each login: no cache to wait for
        assert "Provided username carol" in \
            (_login_error(node.address, PlainTextAuthProvider("carol", "c")) or "")
    # one node created the default superuser; the others found it
    assert sum(_log(c, i).count(WARNING) for i in range(3)) == 1
    # system_auth is a real keyspace: its replication can be changed. Until repair the
    # superuser's row lives only on its one RF-1 replica, and nodetool's login reads it at
    # QUORUM (as Cassandra does): two other replicas would answer "no such role". So repair
    # runs on that replica, which always reads its own copy first.
    su = nodetool(c.nodes[0].address, "-u", "cassandra", "-pw", "cassandra", "getendpoints",
                  "system_auth", "roles", "cassandra")
    assert su.returncode == 0, su.stderr
    holders = su.stdout.split()
    assert len(holders) == 1, su.stdout
    s.execute("ALTER KEYSPACE system_auth WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    row = s.execute("SELECT replication FROM system_schema.keyspaces "
                    "WHERE keyspace_name = 'system_auth'").one()
    assert row.replication["replication_factor"] == "3"
    # ... and repair carries its rows to the new replicas (docs/security.md)
    r = nodetool(holders[0], "-u", "cassandra", "-pw", "cassandra", "repair", "-full",
                 "system_auth")
    assert r.returncode == 0, r.stderr
    assert "] system_auth.roles: " in r.stdout and "out of sync" in r.stdout, r.stdout


def test_superuser_file_replaces_the_default(cluster_factory: Callable[..., LocalCluster],
                                             tmp_path: Path) -> None:
    secret = tmp_path / "superuser"
    secret.write_text("# first superuser\nname = admin\npassword = s3cret pass\n")
    args = [*AUTH_ARGS, "--auth-superuser-file", str(secret)]
    c = cluster_factory(1, [args], auth_provider=PlainTextAuthProvider("admin", "s3cret pass"))
    a = c.nodes[0].address
    rows = list(c.session_to(a).execute("LIST ROLES"))
    assert [(r.role, r.super, r.login) for r in rows] == [("admin", True, True)]
    assert _login_error(a, SUPER) is not None
    assert WARNING not in _log(c, 0)
    assert "Created superuser role 'admin' (from auth_superuser_file)" in _log(c, 0)


def test_unauthenticated_connection_is_dropped(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1, [AUTH_ARGS], auth_provider=SUPER)
    with socket.create_connection((c.nodes[0].address, CQL_PORT), timeout=5) as sock:
        sock.sendall(_startup_frame())  # answered AUTHENTICATE; then the client stays silent
        started = time.monotonic()
        sock.settimeout(30)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        waited = time.monotonic() - started
    assert 9.0 <= waited <= 20.0, waited  # limits.auth_handshake_ms (10 s)
    assert "not authenticated within" in _log(c, 0)


def test_allow_all_authenticator_answers_role_statements_as_cassandra(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1)
    s = c.session()
    with pytest.raises(Unauthorized, match="You have to be logged in and not anonymous"):
        s.execute("CREATE ROLE r WITH LOGIN = true")
    with pytest.raises(Unauthorized, match="You have to be logged in and not anonymous"):
        s.execute("LIST ROLES")
    with pytest.raises(Exception, match="CassandraRoleManager doesn't support PASSWORD"):
        s.execute("CREATE ROLE r WITH PASSWORD = 'x'")
    with pytest.raises(Unauthorized, match="Only superusers can create a role with superuser"):
        s.execute("CREATE USER u WITH PASSWORD 'x' SUPERUSER")


def test_password_checks_do_not_stall_the_node(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """30 wrong-password logins at once (~2 s of bcrypt) queue in the bcrypt threads while the
    node keeps answering queries: none waits for them."""
    c = cluster_factory(1, [AUTH_ARGS], auth_provider=SUPER)
    a = c.nodes[0].address
    session = c.session_to(a)
    socks = [socket.create_connection((a, CQL_PORT), timeout=30) for _ in range(30)]
    try:
        for sock in socks:
            sock.sendall(_startup_frame())
            assert _read_frame(sock)[0] == 0x03  # AUTHENTICATE
        for sock in socks:
            sock.sendall(_auth_response_frame("cassandra", "wrong"))
        started = time.monotonic()
        worst = 0.0
        while time.monotonic() - started < 1.0:
            t = time.monotonic()
            session.execute("SELECT key FROM system.local")
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.02)
        for sock in socks:
            opcode, body = _read_frame(sock)
            assert opcode == 0x00 and struct.unpack(">i", body[:4])[0] == 0x0100
            assert b"Provided username cassandra and/or password are incorrect" in body
    finally:
        for sock in socks:
            sock.close()
    assert worst < 0.5, worst  # bcrypt on the event loop would hold a query for ~2 s
