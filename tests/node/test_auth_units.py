"""Pure parts of client authentication (node.auth): SASL PLAIN, the superuser file, the role
statements' grammar, bcrypt as Cassandra stores it, the LIST ROLES result set."""

from __future__ import annotations

import random

import pytest

from skewless import errors
from skewless.config import NodeConfig
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.node import consistency as cl_mod
from skewless.node.auth import model
from skewless.node.auth.model import Role
from skewless.node.auth.statements import _result


def test_sasl_plain_tokens() -> None:
    assert model.decode_plain(b"\0alice\0s3cret") == ("alice", "s3cret")
    assert model.decode_plain(b"authz\0alice\0pw") == ("alice", "pw")
    with pytest.raises(errors.AuthenticationFailed, match="Authentication ID must not be null"):
        model.decode_plain(b"\0\0pw")
    for bad in (None, b"", b"alice", b"\0alice\0", b"\0alice\0" + b"x" * 2000):
        with pytest.raises(errors.AuthenticationFailed, match="Password must not be null"):
            model.decode_plain(bad)


def test_failure_message_is_cassandras_and_the_same_for_any_name() -> None:
    e = model.bad_credentials("bob")
    assert e.code == 0x0100
    assert e.message == "Provided username bob and/or password are incorrect"


def test_consistency_for_role() -> None:
    """Cassandra 4.1+'s: the configured levels (LOCAL_QUORUM, EACH_QUORUM by default), but
    QUORUM for the default superuser."""
    levels = model.AuthLevels()
    assert (levels.role_read("cassandra"), levels.role_write("cassandra")) == \
        (cl_mod.QUORUM, cl_mod.QUORUM)
    assert (levels.role_read("alice"), levels.role_write("alice")) == \
        (cl_mod.LOCAL_QUORUM, cl_mod.EACH_QUORUM)
    configured = model.AuthLevels.named("LOCAL_ONE", "ONE")
    assert (configured.role_read("alice"), configured.role_write("alice")) == \
        (cl_mod.LOCAL_ONE, cl_mod.ONE)
    assert configured.role_read("cassandra") == cl_mod.QUORUM


def test_auth_levels_are_validated_as_options() -> None:
    config = NodeConfig(address="127.0.0.1", auth_read_consistency_level="local_one")
    assert model.auth_levels(config) == model.AuthLevels(cl_mod.LOCAL_ONE, cl_mod.EACH_QUORUM)
    with pytest.raises(ValueError, match="auth_read_consistency_level: must be one of"):
        NodeConfig(address="127.0.0.1", auth_read_consistency_level="EACH_QUORUM")
    with pytest.raises(ValueError, match="auth_write_consistency_level: must be one of"):
        NodeConfig(address="127.0.0.1", auth_write_consistency_level="SERIAL")
    with pytest.raises(ValueError, match="auth_write_consistency_level: must be one of"):
        NodeConfig(address="127.0.0.1", auth_write_consistency_level="MOST")


def test_bcrypt_hashes_as_cassandra_and_the_dummy_hash_matches_nothing() -> None:
    h = model.hashpw("cassandra", random.Random(1).randbytes)
    assert h.startswith("$2a$10$")  # jBCrypt's prefix, 2**10 rounds
    assert model.checkpw("cassandra", h) and not model.checkpw("Cassandra", h)
    assert not model.checkpw("", model.DUMMY_HASH)
    assert not model.checkpw("x", "not a hash")


def test_superuser_file() -> None:
    assert model.parse_superuser_file("# first\nname = admin\n\npassword = a b=c\n") == \
        ("admin", "a b=c")
    for bad in ("name = admin\n", "password = x\n", "name = a\npassword = b\nname = c\n",
                "user = a\npassword = b\n", "name =\npassword = b\n"):
        with pytest.raises(ValueError):
            model.parse_superuser_file(bad)


@pytest.mark.parametrize(("text", "statement"), [
    ("CREATE ROLE r WITH PASSWORD = 'p' AND LOGIN = true",
     ast.CreateRole("r", ast.RoleOptions(password="p", login=True))),
    ("CREATE ROLE IF NOT EXISTS 'Bob' WITH SUPERUSER = false",
     ast.CreateRole("Bob", ast.RoleOptions(superuser=False), if_not_exists=True)),
    ("CREATE ROLE \"Quoted\"", ast.CreateRole("Quoted", ast.RoleOptions())),
    ("CREATE USER u WITH PASSWORD 'p' SUPERUSER",
     ast.CreateRole("u", ast.RoleOptions("p", True, True), user=True)),
    ("CREATE USER u", ast.CreateRole("u", ast.RoleOptions(None, True, False), user=True)),
    ("ALTER ROLE r WITH LOGIN = false", ast.AlterRole("r", ast.RoleOptions(login=False))),
    ("ALTER USER u WITH PASSWORD 'x' NOSUPERUSER",
     ast.AlterRole("u", ast.RoleOptions("x", None, False), user=True)),
    ("DROP ROLE IF EXISTS r", ast.DropRole("r", True)),
    ("DROP USER u", ast.DropRole("u", user=True)),
    ("LIST ROLES", ast.ListRoles()),
    ("LIST ROLES OF r NORECURSIVE", ast.ListRoles("r", recursive=False)),
    ("LIST USERS", ast.ListRoles(users=True)),
    ("GRANT a TO b", ast.GrantRole("a", "b")),
    ("REVOKE a FROM b;", ast.RevokeRole("a", "b")),
])
def test_role_statements_parse(text: str, statement: object) -> None:
    assert parse(text).statement == statement


def test_role_option_given_twice() -> None:
    with pytest.raises(errors.SyntaxException, match="Multiple definition for property LOGIN"):
        parse("CREATE ROLE r WITH LOGIN = true AND LOGIN = false")


def test_list_roles_result_set() -> None:
    roles = [Role("zed", can_login=True), Role("cassandra", True, True)]
    result = _result(roles, users=False)
    assert [c.name for c in result.columns] == ["role", "super", "login", "options",
                                                "datacenters"]
    assert {(c.keyspace, c.table) for c in result.columns} == {("system_auth", "roles")}
    assert [r[0] for r in result.rows] == [b"cassandra", b"zed"]
    assert result.rows[0][1:3] == (b"\x01", b"\x01") and result.rows[0][4] == b"ALL"
    users = _result(roles, users=True)
    assert [c.name for c in users.columns] == ["name", "super", "datacenters"]


def test_passwords_are_obfuscated_as_cassandra_does() -> None:
    assert model.obfuscate_password("CREATE ROLE r WITH PASSWORD = 'x' AND LOGIN = true") == \
        "CREATE ROLE r WITH PASSWORD *******"
    assert model.obfuscate_password("SELECT * FROM t") == "SELECT * FROM t"
