"""Permissions in the simulator (issue 12): three nodes with PasswordAuthenticator and
CassandraAuthorizer. A GRANT's invalidation reaches a live node at once; a node that loses it
(the simulated network withholds PermissionsInvalidate to it) serves its cached grants until
``permissions_validity`` runs out, then reads the new ones."""

from __future__ import annotations

from skewless.cql.results import RowsResult
from skewless.errors import CqlError, Unauthorized
from skewless.node.consistency import ONE
from skewless.node.effects import Reply
from skewless.sim.admin import admin_call
from skewless.sim.world import World

VALIDITY_MS = 2000
N1, N2, N3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"


class Client:
    def __init__(self, world: World, address: str, conn: int, user: str = "",
                 password: str = "") -> None:
        """A client on connection ``conn`` to ``address``; given a ``user``, logged in as it
        (asked again each second: the first superuser is set up some seconds after start)."""
        self.world, self.address, self.conn = world, address, conn
        if not user:
            return
        for _ in range(60):
            body = self.login(user, password)
            if type(body).__name__ == "AuthOk":
                return
            world.run_for(10**9)
        raise AssertionError(f"{user} cannot log in: {body}")

    def login(self, user: str, password: str) -> object:
        """The answer to one SASL PLAIN AUTH_RESPONSE."""
        token = b"\0" + user.encode() + b"\0" + password.encode()
        executor = self.world.nodes[self.address].executor
        return self.call(lambda: executor.auth_response(self.conn, 0, token), kind="auth")

    def call(self, request: object, kind: str = "request") -> object:
        answers: list[object] = []
        self.world.replies[self.conn] = lambda r: answers.append(r.body) if isinstance(
            r, Reply) else None
        assert callable(request)
        self.world.request(self.address, self.conn, 0, request, kind)  # as the runtime opens it
        assert self.world.run_until(lambda: bool(answers), 20 * 10**9), "no answer"
        return answers[0]

    def q(self, cql: str) -> object:
        body = self.world.query(self.address, cql, ONE, 20 * 10**9, self.conn)
        assert body is not None, f"no answer to {cql}"
        return body

    def ok(self, cql: str) -> object:
        body = self.q(cql)
        assert not isinstance(body, CqlError), (cql, body)
        return body


def auth_world(seed: int, **options: object) -> World:
    """Three nodes with PasswordAuthenticator and CassandraAuthorizer (and ``options``), run
    until one of them has set up the default superuser."""
    world = World(seed, n_nodes=3, trace_enabled=False, node_options={
        "authenticator": "PasswordAuthenticator", "authorizer": "CassandraAuthorizer",
        "superuser_setup_delay_ms": 200, **options})
    assert world.stabilize()
    for _ in range(300):  # the runtime ticks the authenticator; the simulator does not
        for sn in world.nodes.values():
            sn.executor.auth.tick()
            world._flush(sn)
        world.run_for(100 * 10**6)
        if any(sn.executor.auth.setup_done for sn in world.nodes.values()):
            break
    return world


def test_a_lost_invalidation_is_covered_by_expiry() -> None:
    world = auth_world(5, permissions_validity=VALIDITY_MS)
    su = Client(world, N1, 1, "cassandra", "cassandra")
    su.ok("ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 3}")
    su.ok("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 3}")
    su.ok("CREATE TABLE ks.t (k int PRIMARY KEY)")
    su.ok("CREATE ROLE alice WITH PASSWORD = 'a' AND LOGIN = true")
    on2, on3 = Client(world, N2, 2, "alice", "a"), Client(world, N3, 3, "alice", "a")
    for c in (on2, on3):  # refused, and alice's (empty) grants are now cached there
        body = c.q("SELECT * FROM ks.t")
        assert isinstance(body, Unauthorized), body
        assert body.message == "User alice has no SELECT permission on <table ks.t> or any " \
                               "of its parents"

    world.network.withheld.add((N3, "PermissionsInvalidate"))
    granted_at = world.now_ns
    su.ok("GRANT SELECT ON ks.t TO alice")
    world.run_for(50 * 10**6)  # the invalidations leave with the answer: a message hop
    assert isinstance(on2.q("SELECT * FROM ks.t"), RowsResult)  # invalidated: reloaded
    assert isinstance(on3.q("SELECT * FROM ks.t"), Unauthorized)  # the message was lost
    world.run_for(VALIDITY_MS * 1_000_000 - (world.now_ns - granted_at))
    assert isinstance(on3.q("SELECT * FROM ks.t"), RowsResult)  # the entry expired

    # nodetool invalidatepermissionscache: the operator's way not to wait for the expiry
    su.ok("REVOKE SELECT ON ks.t FROM alice")
    world.run_for(50 * 10**6)
    assert isinstance(on2.q("SELECT * FROM ks.t"), Unauthorized)
    assert isinstance(on3.q("SELECT * FROM ks.t"), RowsResult)  # lost again: stale
    assert admin_call(world, N3, "invalidatepermissionscache", {"roles": ["alice"]}) == {
        "invalidated": 1}
    assert isinstance(on3.q("SELECT * FROM ks.t"), Unauthorized)
