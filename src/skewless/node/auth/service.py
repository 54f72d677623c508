"""A node's authentication: the SASL exchange, connections' users, default superuser setup.

Login (PasswordAuthenticator, SASL PLAIN in one AUTH_RESPONSE; the admin endpoint's HTTP Basic
credentials come through the same ``login``): read the role's row at
``AuthLevels.role_read`` (so a DROP ROLE or LOGIN = false is seen at once by every
coordinator: the row is read each time, from its replicas), then bcrypt-check the password
through the injected ``Hasher`` (a worker thread in the runtime). A missing role is checked
against ``DUMMY_HASH``, so both failures take as long and say the same. A successful check is
remembered for ``auth_credentials_validity_ms`` (keyed by the role, a keyed digest of the
password and the stored hash: a changed password or a different one misses), which saves the
50-100 ms bcrypt costs for a driver opening its pool. Then the role must have LOGIN, and its
transitive roles are loaded into the connection's ``AuthenticatedUser``; they are reloaded
before a request once older than ``auth_roles_validity_ms`` (Cassandra's roles cache).

Default superuser (CassandraRoleManager.setupDefaultRole): once the node's view of the live
members (all NORMAL: a joining node's ranges would miss the row) has not changed for
``superuser_setup_delay_ms``, and one more delay per live node ordered before this one (by
address, so the first live node goes first and the others find its role; concurrent
creations would be harmless, the same role, but log twice), a node looks for roles (the
default role at ONE, then at QUORUM, then any role at QUORUM) and, finding none, creates the
first superuser: ``cassandra``/``cassandra`` with a loud warning, or the one named in
``auth_superuser_file``. A failed attempt is retried after the delay; it runs once per start.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import AuthenticationFailed, CqlError
from skewless.node import consistency as cl_mod
from skewless.node.auth.model import (
    DEFAULT_SUPERUSER,
    DEFAULT_SUPERUSER_PASSWORD,
    DUMMY_HASH,
    PASSWORD_AUTHENTICATOR,
    AuthenticatedUser,
    AuthOk,
    Hasher,
    Role,
    auth_levels,
    bad_credentials,
    decode_plain,
)
from skewless.node.auth.roles import RoleStore

if TYPE_CHECKING:
    from skewless.node.executor import Executor

log = logging.getLogger("skewless.auth")

UserDone = Callable[[CqlError | None, AuthenticatedUser | None], None]
LoginDone = Callable[[AuthenticationFailed | None, AuthenticatedUser | None], None]


class Auth:
    def __init__(self, executor: Executor, hasher: Hasher, rng: random.Random,
                 first_superuser: tuple[str, str] | None = None) -> None:
        self.ex = executor
        self.node = executor.node
        self.required = self.node.config.authenticator == PASSWORD_AUTHENTICATOR
        self.store = RoleStore(executor, auth_levels(self.node.config))
        self.hasher = hasher
        self.first_superuser = first_superuser  # (name, password); None: cassandra/cassandra
        self.users: dict[int, AuthenticatedUser] = {}
        # Set by an authorizer: raise Unauthorized unless (user, permission, resource) is
        # granted; None is Cassandra's AllowAllAuthorizer. Superusers are never asked about.
        self.permission_check: Callable[[AuthenticatedUser, str, str], None] | None = None
        # Called (role, done) after DROP ROLE deleted a role: an authorizer revokes its
        # permissions there (Cassandra's revokeAllFrom / revokeAllOn).
        self.drop_hooks: list[Callable[[str, Callable[[CqlError | None], None]], None]] = []
        # Called (creator, role, done) after CREATE ROLE made a role: an authorizer grants the
        # creator every permission on it (Cassandra's grantPermissionsToCreator).
        self.create_hooks: list[Callable[[AuthenticatedUser, str,
                                          Callable[[CqlError | None], None]], None]] = []
        self._digest_key = rng.randbytes(16)
        # (role, password digest, stored hash) -> expiry (node monotonic ns)
        self._credentials: OrderedDict[tuple[str, bytes, str], int] = OrderedDict()
        self._roles: dict[str, AuthenticatedUser] = {}  # roles cache, by role name
        self._setup_at_ns: int | None = None
        self._setup_ranked = False
        self._setup_view: frozenset[tuple[str, str]] | None = None
        self._setup_running = False
        self.setup_done = not self.required

    # ------------------------------------------------------------------ the narrow interface

    def user_of(self, conn: int) -> AuthenticatedUser | None:
        """The connection's logged-in user; None when anonymous (AllowAllAuthenticator)."""
        return self.users.get(conn)

    def role_of(self, conn: int) -> str | None:
        user = self.users.get(conn)
        return None if user is None else user.name

    def roles_of(self, role: str) -> frozenset[str] | None:
        """``role`` and the roles granted to it, transitively, from the roles cache."""
        user = self._roles.get(role)
        return None if user is None else user.roles

    def is_superuser(self, role: str) -> bool | None:
        user = self._roles.get(role)
        return None if user is None else user.superuser

    def load(self, role: str, done: UserDone) -> None:
        """Read ``role``'s transitive roles (and refresh the cache); None if it does not exist."""
        def collected(error: CqlError | None, roles: list[Role]) -> None:
            if error is not None:
                done(error, None)
                return
            if not roles:
                self._roles.pop(role, None)
                done(None, None)
                return
            user = AuthenticatedUser(role, frozenset(r.name for r in roles),
                                     any(r.is_superuser for r in roles),
                                     self.node.clock.monotonic_ns())
            self._roles[role] = user
            done(None, user)
        self.store.collect(role, True, collected)

    def closed(self, conn: int) -> None:
        self.users.pop(conn, None)

    def invalidate(self) -> None:
        """After a role change made here: forget cached roles and credentials."""
        self._roles.clear()
        self._credentials.clear()

    # ------------------------------------------------------------------ requests

    def fresh(self, conn: int, run: Callable[[], None]) -> None:
        """Run ``run`` once the connection's roles are no older than roles_validity."""
        user = self.users.get(conn)
        if user is None:
            run()
            return
        validity_ns = limits.auth_roles_validity_ms * 1_000_000
        now = self.node.clock.monotonic_ns()
        cached = self._roles.get(user.name)  # another connection of the role may have read it
        if cached is not None and cached.loaded_ns > user.loaded_ns:
            self.users[conn] = user = cached
        if now - user.loaded_ns <= validity_ns:
            run()
            return

        def loaded(error: CqlError | None, new: AuthenticatedUser | None) -> None:
            if error is None and conn in self.users:
                self.users[conn] = new or AuthenticatedUser(
                    user.name, frozenset(), False, self.node.clock.monotonic_ns())
            run()
        self.load(user.name, loaded)

    def authenticate(self, conn: int, stream: int, token: bytes | None) -> None:
        """An AUTH_RESPONSE: answer AuthOk or AuthenticationFailed on (conn, stream)."""
        def answer(body: object) -> None:
            self.ex._answer(conn, stream, body)

        try:
            username, password = decode_plain(token)
        except AuthenticationFailed as e:
            answer(e)
            return

        def logged_in(error: AuthenticationFailed | None, user: AuthenticatedUser | None
                      ) -> None:
            if error is not None:
                answer(error)
                return
            assert user is not None
            self.users[conn] = user
            answer(AuthOk(username))
        self.login(username, password, logged_in)

    def login(self, username: str, password: str, done: LoginDone) -> None:
        """PasswordAuthenticator's check of (username, password), with no connection: the
        CQL login and the admin endpoint (nodetool's ``-u``/``-pw``) both come here. ``done``
        gets AuthenticationFailed, or the role's ``AuthenticatedUser`` (roles cache refreshed).
        """
        digest = hashlib.blake2b(password.encode("utf-8"), key=self._digest_key).digest()

        def checked(role: Role | None, ok: bool) -> None:
            if not ok or role is None:
                done(bad_credentials(username), None)
                return
            if not role.can_login:
                done(AuthenticationFailed(f"{username} is not permitted to log in"), None)
                return
            assert role.salted_hash is not None
            self._remember((username, digest, role.salted_hash))

            def loaded(error: CqlError | None, user: AuthenticatedUser | None) -> None:
                if error is not None or user is None:
                    done(AuthenticationFailed(
                        f"Unable to perform authentication: {error.message if error else ''}"),
                        None)
                    return
                done(None, user)
            self.load(username, loaded)

        def got(error: CqlError | None, role: Role | None) -> None:
            if error is not None:
                done(AuthenticationFailed(
                    f"Unable to perform authentication: {error.message}"), None)
                return
            if role is None or role.salted_hash is None:
                self.hasher.check(password, DUMMY_HASH, lambda _: checked(None, False))
                return
            if self._known((username, digest, role.salted_hash)):
                checked(role, True)
                return
            salted = role.salted_hash
            self.hasher.check(password, salted, lambda ok: checked(role, ok))
        self.store.get(username, got)

    def _known(self, key: tuple[str, bytes, str]) -> bool:
        expiry = self._credentials.get(key)
        if expiry is None:
            return False
        if expiry < self.node.clock.monotonic_ns():
            del self._credentials[key]
            return False
        return True

    def _remember(self, key: tuple[str, bytes, str]) -> None:
        self._credentials[key] = (self.node.clock.monotonic_ns()
                                  + limits.auth_credentials_validity_ms * 1_000_000)
        self._credentials.move_to_end(key)
        while len(self._credentials) > limits.auth_credentials_cache_entries_max:
            self._credentials.popitem(last=False)

    # ------------------------------------------------------------------ default superuser

    def tick(self) -> None:
        if self.setup_done or self._setup_running:
            return
        now = self.node.clock.monotonic_ns()
        delay_ns = self.node.config.superuser_setup_delay_ms * 1_000_000
        view = self._view()
        if view != self._setup_view:  # wait for a settled view of the cluster
            self._setup_view = view
            self._setup_at_ns = now + delay_ns
            self._setup_ranked = False
        assert self._setup_at_ns is not None
        if now < self._setup_at_ns or any(status != "NORMAL" for _, status in view):
            return  # a joining node's ranges would not have the role (system_auth is data)
        live = [a for a, _ in view]
        if not self._setup_ranked:
            self._setup_ranked = True
            rank = sum(1 for a in live if _address_key(a) < _address_key(self.node.address))
            if rank > 0:
                self._setup_at_ns = now + rank * delay_ns
                return
        self._setup_running = True
        self._setup_default_role()

    def _view(self) -> frozenset[tuple[str, str]]:
        """(address, status) of the live members of the cluster as this node sees them."""
        m = self.node.membership
        return frozenset([(self.node.address, m.local.status)] + [
            (a, p.state.status) for a, p in m.peers.items()
            if p.up and not m.out_of_cluster(a)])

    def _setup_default_role(self) -> None:
        name, password = self.first_superuser or (DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD)
        delay_ms = max(self.node.config.superuser_setup_delay_ms, 1000)

        def failed(error: CqlError) -> None:
            log.warning("default superuser setup skipped: some nodes were not ready (%s); "
                        "retrying in %d ms", error.message, delay_ms)
            self._setup_running = False
            self._setup_at_ns = self.node.clock.monotonic_ns() + delay_ms * 1_000_000

        def finished() -> None:
            self.setup_done = True
            self._setup_running = False

        def created(error: CqlError | None) -> None:
            if error is not None:
                failed(error)
                return
            if self.first_superuser is None:
                log.warning(
                    "Created default superuser role '%s' with password '%s'. Anyone can log in "
                    "with it: create another superuser, then ALTER ROLE %s WITH PASSWORD or "
                    "DROP ROLE %s (or start the first node with --auth-superuser-file)",
                    name, password, name, name)
            else:
                log.info("Created superuser role '%s' (from auth_superuser_file)", name)
            finished()

        def hashed(salted: str) -> None:
            self.store.create(name, True, True, salted, created)

        def any_role(error: CqlError | None, roles: list[Role]) -> None:
            if error is not None:
                failed(error)
            elif roles:
                finished()
            else:
                self.hasher.hash(password, hashed)

        def at_quorum(error: CqlError | None, role: Role | None) -> None:
            if error is not None:
                failed(error)
            elif role is not None:
                finished()
            else:
                self.store.all(any_role)

        def at_one(error: CqlError | None, role: Role | None) -> None:
            if error is None and role is not None:
                finished()
            else:
                self.store.get(name, at_quorum, cl_mod.QUORUM)
        self.store.get(name, at_one, cl_mod.ONE)


def _address_key(address: str) -> tuple[int, ...]:
    return tuple(int(p) for p in address.split(".") if p.isdigit())
