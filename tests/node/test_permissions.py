"""The authorization model (issue 12): resources, their hierarchy, what statements need,
LIST PERMISSIONS rows and the permissions cache. Pure: no nodes."""

from __future__ import annotations

import pytest

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.node.auth import permissions as perms
from skewless.node.auth.permissions import Need, Resource
from skewless.node.auth.permissions_cache import PermissionsCache, merge


def _needs(text: str, keyspace: str | None = "ks",
           indexes: dict[tuple[str, str], str] | None = None) -> list[tuple[str, str]]:
    stmt = parse(text).statement
    found = perms.needs(stmt, keyspace, lambda ks, i: (indexes or {}).get((ks, i)))
    return [(n.permission, n.resource.name) for n in found]


def test_resource_names_print_as_cassandra() -> None:
    assert str(Resource.all_keyspaces()) == "<all keyspaces>"
    assert str(Resource.keyspace("ks")) == "<keyspace ks>"
    assert str(Resource.table("ks", "t")) == "<table ks.t>"
    assert str(Resource.all_roles()) == "<all roles>"
    assert str(Resource.role("alice")) == "<role alice>"


def test_chain_is_nearest_first_up_to_the_root() -> None:
    assert [r.name for r in Resource.table("ks", "t").chain()] == ["data/ks/t", "data/ks", "data"]
    assert [r.name for r in Resource.role("r").chain()] == ["roles/r", "roles"]
    assert Resource.keyspace("ks").covers(Resource.table("ks", "t"))
    assert not Resource.table("ks", "t").covers(Resource.keyspace("ks"))
    assert not Resource.keyspace("other").covers(Resource.table("ks", "t"))


def test_parse_stored_names() -> None:
    assert Resource.parse("data/ks/t") == Resource.table("ks", "t")
    assert Resource.parse("roles") == Resource.all_roles()
    for bad in ("functions/ks", "data//t", "data/a/b/c", "", "mbean", "roles/"):
        assert Resource.parse(bad) is None
    odd = Resource.parse("roles/a/b")  # role names may hold any character
    assert odd == Resource.role("a/b") and str(odd) == "<role a/b>"
    assert [r.name for r in odd.chain()] == ["roles/a/b", "roles"]
    assert odd.applicable() == Resource.role("r").applicable()


def test_applicable_permissions() -> None:
    assert Resource.table("ks", "t").applicable() == {"ALTER", "DROP", "SELECT", "MODIFY",
                                                      "AUTHORIZE"}
    assert "CREATE" in Resource.keyspace("ks").applicable()
    assert Resource.all_roles().applicable() == {"CREATE", "ALTER", "DROP", "DESCRIBE",
                                                 "AUTHORIZE"}
    assert Resource.role("r").applicable() == {"ALTER", "DROP", "AUTHORIZE"}


def test_grant_all_is_the_applicable_set_and_none_applicable_is_a_syntax_error() -> None:
    t = Resource.table("ks", "t")
    assert perms.granted_set(None, t) == t.applicable()
    assert perms.granted_set(("SELECT",), Resource.keyspace("ks")) == {"SELECT"}
    with pytest.raises(errors.SyntaxException,
                       match="Resource type DataResource does not support any of the requested "
                             "permissions"):
        perms.granted_set(("CREATE",), Resource.table("ks", "t"))
    with pytest.raises(errors.SyntaxException, match="RoleResource"):
        perms.granted_set(("SELECT",), Resource.all_roles())


@pytest.mark.parametrize(("text", "wanted"), [
    ("SELECT * FROM t", [("SELECT", "data/ks/t")]),
    ("SELECT * FROM other.t", [("SELECT", "data/other/t")]),
    ("INSERT INTO t (k) VALUES (1)", [("MODIFY", "data/ks/t")]),
    ("INSERT INTO t (k) VALUES (1) IF NOT EXISTS", [("MODIFY", "data/ks/t"),
                                                    ("SELECT", "data/ks/t")]),
    ("UPDATE t SET v = 1 WHERE k = 1", [("MODIFY", "data/ks/t")]),
    ("UPDATE t SET v = 1 WHERE k = 1 IF v = 2", [("MODIFY", "data/ks/t"),
                                                 ("SELECT", "data/ks/t")]),
    ("DELETE FROM t WHERE k = 1", [("MODIFY", "data/ks/t")]),
    ("BEGIN BATCH INSERT INTO a (k) VALUES (1); DELETE FROM o.b WHERE k = 1; APPLY BATCH",
     [("MODIFY", "data/ks/a"), ("MODIFY", "data/o/b")]),
    ("TRUNCATE t", [("MODIFY", "data/ks/t")]),
    ("CREATE KEYSPACE n WITH replication = {'class': 'SimpleStrategy', "
     "'replication_factor': 1}", [("CREATE", "data")]),
    ("ALTER KEYSPACE n WITH durable_writes = false", [("ALTER", "data/n")]),
    ("DROP KEYSPACE n", [("DROP", "data/n")]),
    ("CREATE TABLE t2 (k int PRIMARY KEY)", [("CREATE", "data/ks")]),
    ("ALTER TABLE t ADD v int", [("ALTER", "data/ks/t")]),
    ("DROP TABLE t", [("DROP", "data/ks/t")]),
    ("CREATE TYPE u (a int)", [("CREATE", "data/ks")]),
    ("ALTER TYPE u ADD b int", [("ALTER", "data/ks")]),
    ("DROP TYPE u", [("DROP", "data/ks")]),
    ("CREATE INDEX ON t (v)", [("ALTER", "data/ks/t")]),
    ("USE ks", []),
    ("DESCRIBE KEYSPACES", []),
    ("SELECT * FROM system.local", []),
    ("SELECT * FROM system.peers_v2", []),
    ("SELECT * FROM system_schema.tables", []),
    ("SELECT * FROM system_virtual_schema.columns", []),
    ("SELECT * FROM system.size_estimates", [("SELECT", "data/system/size_estimates")]),
    ("SELECT * FROM system_auth.roles", [("SELECT", "data/system_auth/roles")]),
    ("SELECT * FROM system_traces.sessions", [("SELECT", "data/system_traces/sessions")]),
])
def test_statement_needs(text: str, wanted: list[tuple[str, str]]) -> None:
    assert _needs(text) == wanted


def test_drop_index_needs_alter_on_its_table() -> None:
    assert _needs("DROP INDEX i", indexes={("ks", "i"): "t"}) == [("ALTER", "data/ks/t")]
    assert _needs("DROP INDEX IF EXISTS nope") == []


def test_no_keyspace_needs_nothing_here() -> None:
    """The executor answers Cassandra's "No keyspace has been specified" itself."""
    assert _needs("SELECT * FROM t", keyspace=None) == []
    assert _needs("BEGIN BATCH INSERT INTO o.a (k) VALUES (1); DELETE FROM b WHERE k = 1; "
                  "APPLY BATCH", keyspace=None) == []
    assert perms.created_resource(parse("CREATE TABLE t (k int PRIMARY KEY)").statement,
                                  None) is None


@pytest.mark.parametrize(("text", "message"), [
    ("CREATE TABLE system.x (k int PRIMARY KEY)", "system keyspace is not user-modifiable."),
    ("DROP KEYSPACE system_schema", "system_schema keyspace is not user-modifiable."),
    ("DROP TABLE system_auth.roles", "Cannot DROP <table system_auth.roles>"),
    ("CREATE TABLE system_traces.x (k int PRIMARY KEY)", "Cannot CREATE <keyspace system_traces>"),
])
def test_system_schema_cannot_change(text: str, message: str) -> None:
    with pytest.raises(errors.Unauthorized) as e:
        _needs(text)
    assert e.value.message == message


def test_replicated_system_keyspace_replication_may_change() -> None:
    assert _needs("ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 3}") == [("ALTER", "data/system_auth")]


def test_check_walks_the_chain_and_words_the_error_as_cassandra() -> None:
    t = Resource.table("ks", "t")
    perms.check("alice", {Resource.keyspace("ks"): frozenset({"SELECT"})}, [Need("SELECT", t)])
    perms.check("alice", {Resource.all_keyspaces(): frozenset({"SELECT"})}, [Need("SELECT", t)])
    with pytest.raises(errors.Unauthorized) as e:
        perms.check("alice", {Resource.keyspace("ks"): frozenset({"SELECT"}),
                              Resource.table("ks", "other"): frozenset({"MODIFY"})},
                    [Need("SELECT", t), Need("MODIFY", t)])
    assert e.value.code == 0x2100
    assert e.value.message == "User alice has no MODIFY permission on <table ks.t> or any of " \
                              "its parents"


def test_role_statement_needs() -> None:
    assert perms.role_needs("CREATE ROLE", None) == [Need("CREATE", Resource.all_roles())]
    assert perms.role_needs("DROP ROLE", "r") == [Need("DROP", Resource.role("r"))]
    assert perms.role_needs("GRANT ROLE", "r") == [Need("AUTHORIZE", Resource.role("r"))]
    assert perms.permission_management_needs(frozenset({"MODIFY", "SELECT"}),
                                             Resource.keyspace("ks")) == [
        Need("AUTHORIZE", Resource.keyspace("ks")), Need("SELECT", Resource.keyspace("ks")),
        Need("MODIFY", Resource.keyspace("ks"))]


def test_created_and_dropped_resources() -> None:
    assert perms.created_resource(parse("CREATE TABLE t (k int PRIMARY KEY)").statement,
                                  "ks") == Resource.table("ks", "t")
    assert perms.created_resource(parse("CREATE KEYSPACE n WITH replication = "
                                        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
                                        ).statement, None) == Resource.keyspace("n")
    assert perms.dropped_resource(parse("DROP TABLE o.t").statement, "ks") == \
        Resource.table("o", "t")
    assert perms.created_resource(parse("SELECT * FROM t").statement, "ks") is None


def test_list_rows_sorted_as_cassandra() -> None:
    grants = {
        "bob": {Resource.table("ks", "t"): frozenset({"SELECT", "ALTER"}),
                Resource.keyspace("ks"): frozenset({"MODIFY"})},
        "alice": {Resource.all_keyspaces(): frozenset({"SELECT"})},
    }
    rows = perms.list_rows(grants, None, None, True)
    assert rows == [
        ("alice", "alice", "<all keyspaces>", "SELECT"),
        ("bob", "bob", "<keyspace ks>", "MODIFY"),
        ("bob", "bob", "<table ks.t>", "ALTER"),
        ("bob", "bob", "<table ks.t>", "SELECT"),
    ]
    on_table = perms.list_rows(grants, frozenset({"SELECT"}), Resource.table("ks", "t"), True)
    assert on_table == [("alice", "alice", "<all keyspaces>", "SELECT"),
                        ("bob", "bob", "<table ks.t>", "SELECT")]
    assert perms.list_rows(grants, None, Resource.table("ks", "t"), False) == [
        ("bob", "bob", "<table ks.t>", "ALTER"), ("bob", "bob", "<table ks.t>", "SELECT")]


def test_parse_permission_statements() -> None:
    s = parse("GRANT ALL PERMISSIONS ON KEYSPACE ks TO 'Alice'").statement
    assert s == ast.Permissions("GRANT", None, ast.AuthResource("keyspace", "ks"), "Alice")
    s = parse("revoke modify on table t from bob").statement
    assert s == ast.Permissions("REVOKE", ("MODIFY",), ast.AuthResource("table", None, "t"),
                                "bob")
    s = parse("LIST SELECT PERMISSION ON ALL KEYSPACES OF bob NORECURSIVE").statement
    assert s == ast.Permissions("LIST", ("SELECT",), ast.AuthResource("all_keyspaces"), "bob",
                                False)
    s = parse("LIST ALL").statement
    assert s == ast.Permissions("LIST", None, None, None)
    s = parse("GRANT EXECUTE ON FUNCTION ks.f(int, text) TO a").statement
    assert isinstance(s, ast.Permissions) and s.resource == ast.AuthResource("functions")
    # a role statement is not a permission statement
    assert not isinstance(parse("GRANT r1 TO alice").statement, ast.Permissions)
    with pytest.raises(errors.SyntaxException):
        parse("GRANT SELECT ON ks.t")


def test_cache_expires_and_invalidates() -> None:
    c = PermissionsCache(validity_ms=2000, entries_max=2)
    g = {Resource.keyspace("ks"): frozenset({"SELECT"})}
    c.put("alice", g, now_ns=0)
    assert c.get("alice", 1_999_999_999) == g
    assert c.get("alice", 2_000_000_000) is None  # expiry covers a missed invalidation
    c.put("alice", g, now_ns=10)
    c.put("bob", {}, now_ns=20)
    c.put("carol", {}, now_ns=30)  # evicts the oldest
    assert c.get("alice", 40) is None and len(c) == 2
    c.invalidate(["bob"])
    assert c.get("bob", 40) is None and c.get("carol", 40) == {}
    c.invalidate()
    assert len(c) == 0
    off = PermissionsCache(validity_ms=0, entries_max=2)
    off.put("alice", g, now_ns=0)
    assert off.get("alice", 0) is None


def test_merge_unions_roles() -> None:
    ks = Resource.keyspace("ks")
    assert merge([{ks: frozenset({"SELECT"})}, {ks: frozenset({"MODIFY"})}, {}]) == {
        ks: frozenset({"SELECT", "MODIFY"})}


def test_authorizer_options() -> None:
    from skewless.config import NodeConfig
    assert NodeConfig().authorizer == "AllowAllAuthorizer"
    assert NodeConfig().permissions_validity == 2000
    c = NodeConfig(authenticator="PasswordAuthenticator",
                   authorizer="org.apache.cassandra.auth.CassandraAuthorizer",
                   permissions_validity=0)
    assert c.authorizer == "CassandraAuthorizer"
    with pytest.raises(ValueError, match="authorizer: must be one of"):
        NodeConfig(authorizer="CustomAuthorizer")
    with pytest.raises(ValueError, match="AllowAllAuthenticator can't be used with "
                                         "CassandraAuthorizer"):
        NodeConfig(authorizer="CassandraAuthorizer")
    with pytest.raises(ValueError, match="permissions_validity"):
        NodeConfig(permissions_validity=-1)


def test_invalidation_message_round_trips_and_bad_fields_invalidate_everything() -> None:
    import msgpack

    from skewless.node import messages
    from skewless.sim.world import World
    m = messages.PermissionsInvalidate(("alice", "bob"), False)
    env = messages.decode(messages.encode(messages.Envelope(7, m)))
    assert env.message == m and m.KIND == 140
    world = World(3, n_nodes=1, trace_enabled=False, node_options={
        "authenticator": "PasswordAuthenticator", "authorizer": "CassandraAuthorizer"})
    node = next(iter(world.nodes.values())).node
    ks = {Resource.keyspace("ks"): frozenset({"SELECT"})}
    for name in ("alice", "bob", "carol"):
        node.permissions.put(name, ks, 0)
    node.peer_message("127.0.0.9", env)
    assert node.permissions.get("alice", 1) is None and node.permissions.get("carol", 1) == ks
    # a peer's malformed roles (a map where names belong) drop every entry, never raise
    raw = msgpack.packb([messages.WIRE_VERSION, 140, 7, {"x": 1}, False], use_bin_type=True)
    node.peer_message("127.0.0.9", messages.decode(raw))
    assert len(node.permissions) == 0
