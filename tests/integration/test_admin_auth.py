"""The admin endpoint (nodetool) under PasswordAuthenticator (issue 12, operator surfaces): a
LOGIN superuser's credentials or nothing runs; nodetool says so as for a refused JMX login.
Under AllowAllAuthenticator nodetool needs no credentials: every test of test_nodetool.py."""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Callable
from pathlib import Path

from cassandra.auth import PlainTextAuthProvider
from conftest import LocalCluster
from test_nodetool import ADMIN_PORT, nodetool

AUTH_ARGS = ["--authenticator", "PasswordAuthenticator", "--superuser-setup-delay-ms", "1000"]
SUPER = ("-u", "cassandra", "-pw", "cassandra")


def _refused(address: str, reason: str) -> str:
    return f"nodetool: Failed to connect to '{address}:{ADMIN_PORT}' - SecurityException: " \
        f"'{reason}'.\n"


def _http(address: str, method: str, path: str, headers: dict[str, str]
          ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(address, ADMIN_PORT, timeout=30)
    try:
        conn.request(method, path, b"{}", headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_admin_needs_a_login_superuser(cluster_factory: Callable[..., LocalCluster],
                                       tmp_path: Path) -> None:
    started = time.monotonic()
    c = cluster_factory(1, [AUTH_ARGS],
                        auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
    c.wait_login()
    a = c.nodes[0].address
    s = c.session()
    s.execute("CREATE ROLE alice WITH PASSWORD = 'a' AND LOGIN = true")  # no superuser
    s.execute("CREATE ROLE off WITH PASSWORD = 'o' AND SUPERUSER = true AND LOGIN = false")
    s.execute("CREATE ROLE admins WITH SUPERUSER = true")
    s.execute("CREATE ROLE dave WITH PASSWORD = 'd' AND LOGIN = true")
    s.execute("GRANT admins TO dave")  # superuser status through a granted role

    failed = _refused(a, "Authentication failed! Invalid username or password")
    for credentials in [(), ("-u", "cassandra", "-pw", "wrong"), ("-u", "nobody", "-pw", "x"),
                        ("-u", "off", "-pw", "o"), ("-pw", "cassandra")]:
        r = nodetool(a, *credentials, "status")
        assert (r.returncode, r.stdout, r.stderr) == (1, "", failed), credentials
    r = nodetool(a, "-u", "alice", "-pw", "a", "status")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", _refused(a, "Access Denied"))

    # a mutating command refused runs nothing: no snapshot, no drain
    r = nodetool(a, "snapshot", "-t", "refused")
    assert (r.returncode, r.stderr) == (1, failed)
    r = nodetool(a, "-u", "alice", "-pw", "a", "drain")
    assert r.returncode == 1, r.stderr
    assert s.execute("SELECT key FROM system.local").one().key == "local"  # not drained

    # a superuser (directly, through a granted role, from a password file) is served
    r = nodetool(a, *SUPER, "status")
    assert r.returncode == 0, r.stderr
    assert f"UN  {a}" in r.stdout, r.stdout
    r = nodetool(a, "-u", "dave", "-pw", "d", "snapshot", "-t", "granted")
    assert r.returncode == 0, r.stderr
    secret = tmp_path / "jmxremote.password"
    secret.write_text("monitorRole QED\ncassandra cassandra\n")
    r = nodetool(a, "-u", "cassandra", "-pwf", str(secret), "listsnapshots")
    assert r.returncode == 0, r.stderr
    assert "granted" in r.stdout and "refused" not in r.stdout, r.stdout
    r = nodetool(a, "-u", "cassandra", "--password-file", str(tmp_path / "missing"), "status")
    assert r.returncode == 1 and "cannot read the password file" in r.stderr, r.stderr

    # over HTTP: 401 with a challenge (also for the list of operations), 403 for no superuser
    status, headers, _ = _http(a, "GET", "/operations", {})
    assert status == 401 and headers["www-authenticate"].startswith("Basic realm="), headers
    assert _http(a, "POST", "/operations/version", {"Authorization": "Basic !!"})[0] == 401
    assert _http(a, "POST", "/operations/version", _basic("alice", "a"))[0] == 403
    status, _, body = _http(a, "POST", "/operations/version", _basic("cassandra", "cassandra"))
    assert status == 200 and b"release_version" in body, body
    print(f"admin auth checks took {time.monotonic() - started:.1f} s")
