"""cassandra.yaml's auth_read_consistency_level and auth_write_consistency_level (Cassandra
4.1+) in the simulator: with ``system_auth`` at RF 3 and two of the three nodes down, a login
(a role read) fails at the default LOCAL_QUORUM, as in Cassandra, and a CREATE ROLE (role writes)
at the default EACH_QUORUM; set to LOCAL_ONE and ONE, the one node left serves both."""

from __future__ import annotations

from test_permissions_sim import N1, N2, N3, Client, auth_world

from skewless.errors import CqlError
from skewless.node.membership import phi
from skewless.sim.world import World


def _login(world: World, conn: int, user: str, password: str) -> object:
    """The answer to one login on a new connection ``conn`` to N1."""
    return Client(world, N1, conn).login(user, password)


def _two_nodes_down(world: World) -> Client:
    su = Client(world, N1, 1, "cassandra", "cassandra")
    su.ok("ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', "
          "'replication_factor': 3}")
    su.ok("CREATE ROLE alice WITH PASSWORD = 'a' AND LOGIN = true")
    assert type(_login(world, 2, "alice", "a")).__name__ == "AuthOk"
    world.crash(N2)
    world.crash(N3)
    membership = world.nodes[N1].node.membership  # convicted both: Unavailable, no timeout
    assert world.run_until(lambda: not (membership.is_alive(N2) or membership.is_alive(N3)),
                           int(2 * phi.convict_within_ms() * 1e6))
    return su


def test_default_levels_need_a_quorum_of_the_auth_replicas() -> None:
    world = auth_world(11)
    su = _two_nodes_down(world)
    refused = _login(world, 3, "alice", "a")
    assert isinstance(refused, CqlError), refused
    assert refused.message.startswith("Unable to perform authentication: "), refused.message
    assert "LOCAL_QUORUM" in refused.message, refused.message
    created = su.q("CREATE ROLE bob WITH PASSWORD = 'b' AND LOGIN = true")
    assert isinstance(created, CqlError), created
    assert "EACH_QUORUM" in created.message or "LOCAL_QUORUM" in created.message, created


def test_configured_levels_let_one_replica_serve() -> None:
    world = auth_world(11, auth_read_consistency_level="LOCAL_ONE",
                       auth_write_consistency_level="ONE")
    su = _two_nodes_down(world)
    assert type(_login(world, 3, "alice", "a")).__name__ == "AuthOk"
    su.ok("CREATE ROLE bob WITH PASSWORD = 'b' AND LOGIN = true")
    assert type(_login(world, 4, "bob", "b")).__name__ == "AuthOk"
