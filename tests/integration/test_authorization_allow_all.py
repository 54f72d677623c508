"""The default authorizer, AllowAllAuthorizer, on real nodes (issue 12): GRANT, REVOKE and
LIST PERMISSIONS answer as Cassandra's (their own module: test_authorization's cluster lives for
its whole module, on the same ports)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cassandra import InvalidRequest, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from conftest import LocalCluster

SUPER = PlainTextAuthProvider("cassandra", "cassandra")


def test_allow_all_authorizer_answers_as_cassandra(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """The default authorizer: GRANT, REVOKE and LIST PERMISSIONS are Cassandra's Invalid for a
    logged-in role, Unauthorized without one (AllowAllAuthenticator)."""
    c = cluster_factory(1, [["--authenticator", "PasswordAuthenticator",
                             "--superuser-setup-delay-ms", "500"]], auth_provider=SUPER)
    s = c.session(auth_provider=SUPER)
    s.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 1}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY)")
    s.execute("CREATE ROLE bob WITH PASSWORD = 'b' AND LOGIN = true")
    for q, op in (("GRANT SELECT ON ks.t TO bob", "GRANT"),
                  ("REVOKE SELECT ON ks.t FROM bob", "REVOKE"),
                  ("LIST ALL PERMISSIONS", "LIST PERMISSIONS")):
        with pytest.raises(InvalidRequest,
                           match=f"{op} operation is not supported by AllowAllAuthorizer"):
            s.execute(q)
    bob = c.session(auth_provider=PlainTextAuthProvider("bob", "b"))
    bob.execute("INSERT INTO ks.t (k) VALUES (1)")  # every statement passes
    assert len(list(bob.execute("SELECT * FROM ks.t"))) == 1


def test_anonymous_cannot_grant(cluster_factory: Callable[..., LocalCluster]) -> None:
    c = cluster_factory(1)
    s = c.session()
    with pytest.raises(Unauthorized, match="You have to be logged in and not anonymous to "
                                           "perform this request"):
        s.execute("GRANT SELECT ON ALL KEYSPACES TO bob")
