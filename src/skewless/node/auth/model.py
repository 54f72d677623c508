"""Authentication names and values: Cassandra's classes, roles, SASL PLAIN, password hashing."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import bcrypt

from skewless import errors, limits
from skewless.node import consistency as cl_mod

AUTH_KEYSPACE = "system_auth"
ALLOW_ALL_AUTHENTICATOR = "AllowAllAuthenticator"
PASSWORD_AUTHENTICATOR = "PasswordAuthenticator"
AUTHENTICATORS = (ALLOW_ALL_AUTHENTICATOR, PASSWORD_AUTHENTICATOR)
# The class name AUTHENTICATE carries: the drivers check it to pick their SASL mechanism.
PASSWORD_AUTHENTICATOR_CLASS = "org.apache.cassandra.auth.PasswordAuthenticator"
ROLE_MANAGER_CLASS = "org.apache.cassandra.auth.CassandraRoleManager"

DEFAULT_SUPERUSER = "cassandra"
DEFAULT_SUPERUSER_PASSWORD = "cassandra"

# A bcrypt hash of a random secret: a login naming no role is checked against it, so that
# it takes as long as a wrong password for an existing role.
DUMMY_HASH = "$2a$10$AMXSRfwfadzfh7EPERCP2uMIShZcqGQavItJ9jZlG.83Rx2KforuC"


@dataclass(frozen=True, slots=True)
class AuthLevels:
    """cassandra.yaml's auth_read_consistency_level and auth_write_consistency_level (4.1+):
    the levels of the auth tables' reads and writes (Cassandra's defaults here)."""

    read: int = cl_mod.LOCAL_QUORUM
    write: int = cl_mod.EACH_QUORUM

    @classmethod
    def named(cls, read: str, write: str) -> AuthLevels:
        return cls(cl_mod.named(read), cl_mod.named(write))

    def role_read(self, role: str) -> int:
        """CassandraRoleManager.consistencyForRoleRead: QUORUM for the default superuser."""
        return cl_mod.QUORUM if role == DEFAULT_SUPERUSER else self.read

    def role_write(self, role: str) -> int:
        """consistencyForRoleWrite: QUORUM for the default superuser."""
        return cl_mod.QUORUM if role == DEFAULT_SUPERUSER else self.write


class LevelsConfig(Protocol):
    """What ``auth_levels`` reads of a ``NodeConfig``."""

    @property
    def auth_read_consistency_level(self) -> str: ...

    @property
    def auth_write_consistency_level(self) -> str: ...


def auth_levels(config: LevelsConfig) -> AuthLevels:
    """The node's configured levels (``NodeConfig`` validated the names)."""
    return AuthLevels.named(config.auth_read_consistency_level,
                            config.auth_write_consistency_level)


def bad_credentials(username: str) -> errors.AuthenticationFailed:
    """PasswordAuthenticator's message, the same whether the role exists or not."""
    return errors.AuthenticationFailed(
        f"Provided username {username} and/or password are incorrect")


_PASSWORD = re.compile(r"password", re.IGNORECASE)


def obfuscate_password(query: str) -> str:
    """Cassandra's PasswordObfuscator: everything after the word PASSWORD becomes ``*******``
    (in traces; a role statement's password never reaches a log or system_traces)."""
    m = _PASSWORD.search(query)
    return query if m is None else query[:m.end()] + " *******"


def decode_plain(token: bytes | None) -> tuple[str, str]:
    """(username, password) of a SASL PLAIN token ``[authzid] NUL authcid NUL password``;
    AuthenticationFailed with PasswordAuthenticator's messages when it is malformed."""
    if token is None or len(token) > limits.auth_password_bytes_max:
        raise errors.AuthenticationFailed("Password must not be null")
    parts = token.split(b"\0")
    if len(parts) != 3:
        raise errors.AuthenticationFailed("Password must not be null")
    _, user, password = parts
    if not user:
        raise errors.AuthenticationFailed("Authentication ID must not be null")
    if not password:
        raise errors.AuthenticationFailed("Password must not be null")
    try:
        return user.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.AuthenticationFailed("Password must not be null") from None


@dataclass(frozen=True, slots=True)
class Role:
    """A row of ``system_auth.roles``."""

    name: str
    is_superuser: bool = False
    can_login: bool = False
    member_of: frozenset[str] = frozenset()
    salted_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """A connection's logged-in role: its transitive roles (itself included) and whether any
    of them is a superuser (Cassandra's Roles.hasSuperuserStatus)."""

    name: str
    roles: frozenset[str]
    superuser: bool
    loaded_ns: int  # node monotonic time the roles were read at


@dataclass(frozen=True, slots=True)
class AuthOk:
    """The executor's answer to a successful AUTH_RESPONSE (the runtime sends AUTH_SUCCESS)."""

    role: str


class Hasher(Protocol):
    """bcrypt behind callbacks: the runtime runs it in a worker thread and calls back on the
    event loop; ``done`` is called exactly once."""

    def hash(self, password: str, done: Callable[[str], None]) -> None: ...

    def check(self, password: str, salted_hash: str, done: Callable[[bool], None]) -> None: ...


_B64 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                       b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def hashpw(password: str, random_bytes: Callable[[int], bytes]) -> str:
    """Cassandra's hashpw: bcrypt, ``$2a$`` (jBCrypt's), 2**10 rounds, with a 16-byte salt
    drawn from ``random_bytes`` (os.urandom in the runtime, a seeded rng in simulations)."""
    salt = base64.b64encode(random_bytes(16)).translate(_B64)[:22]
    prefix = f"$2a${limits.auth_bcrypt_log_rounds:02d}$".encode()
    return bcrypt.hashpw(password.encode("utf-8"), prefix + salt).decode("ascii")


def checkpw(password: str, salted_hash: str) -> bool:
    """Whether ``password`` matches ``salted_hash``; a malformed hash matches nothing."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), salted_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


class InlineHasher:
    """A ``Hasher`` that hashes on the caller's thread (simulations, unit tests)."""

    def __init__(self, random_bytes: Callable[[int], bytes]) -> None:
        self.random_bytes = random_bytes

    def hash(self, password: str, done: Callable[[str], None]) -> None:
        done(hashpw(password, self.random_bytes))

    def check(self, password: str, salted_hash: str, done: Callable[[bool], None]) -> None:
        done(checkpw(password, salted_hash))


def parse_superuser_file(content: str) -> tuple[str, str]:
    """(name, password) of an ``auth_superuser_file``: lines ``name = ...`` and
    ``password = ...`` (blank lines and ``#`` comments allowed). ValueError says what is wrong."""
    values: dict[str, str] = {}
    for n, line in enumerate(content.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("name", "password") or key in values:
            raise ValueError(f"line {n}: expected 'name = ...' or 'password = ...' once each")
        values[key] = value.strip()
    if not values.get("name") or not values.get("password"):
        raise ValueError("both 'name = ...' and 'password = ...' are needed, not empty")
    return values["name"], values["password"]
