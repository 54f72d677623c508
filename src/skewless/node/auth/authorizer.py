"""CassandraAuthorizer on a coordinator: checking statements, GRANT / REVOKE / LIST
PERMISSIONS, the creator's grants, and cleaning up after DROP.

Theory of operation
-------------------
Before the executor runs a statement it asks ``Authorization.authorize`` with the statement's
needs (``permissions.needs``) and the connection's authenticated user (``node.auth``: its name,
its transitive roles, whether any is a superuser). Under AllowAllAuthorizer, for an empty list
or for a superuser the answer is immediate. Otherwise the grants of each of the user's roles come
from the node's ``PermissionsCache`` or, past ``permissions_validity``, from
``system_auth.role_permissions`` (``grants.GrantStore``, one partition read per role, in
parallel); their union must cover every need, or the statement is refused with Cassandra's
Unauthorized before it touches any data.

GRANT and REVOKE change the grantee's partition and then invalidate cached grants on every live
node (``PermissionsInvalidate``, fire and forget: a node that misses it reloads once its entry
expires). DROP ROLE, DROP KEYSPACE and DROP TABLE revoke what was granted to or on what they
drop (Cassandra's revokeAllFrom / revokeAllOn) and invalidate everything. A successful CREATE
KEYSPACE / TABLE / ROLE grants its creator every applicable permission on what it made.

Pure: the node's injected clock; all I/O is the executor's internal queries and node.send.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from skewless import errors, limits
from skewless.cql import ast
from skewless.cql.results import ColumnSpec, RowsResult, Void
from skewless.errors import CqlError
from skewless.node.auth import permissions as perms
from skewless.node.auth.grants import Grants, GrantStore, Internal
from skewless.node.auth.model import auth_levels
from skewless.node.auth.permissions import Need, Resource
from skewless.node.auth.permissions_cache import merge
from skewless.node.auth.roles import Done, sequence
from skewless.node.messages import PermissionsInvalidate

if TYPE_CHECKING:
    from skewless.node.node import Node

CASSANDRA_AUTHORIZER = "CassandraAuthorizer"
_LIST_COLUMNS = tuple(ColumnSpec(perms.AUTH_KEYSPACE, "permissions", name, "text")
                      for name in ("role", "username", "resource", "permission"))
_ANONYMOUS = "You have to be logged in and not anonymous to perform this request"


class User(Protocol):
    """The connection's authenticated user, as node.auth knows it."""

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...  # transitive memberships, itself included

    @property
    def superuser(self) -> bool: ...


# A role's transitive roles (itself included), None if it does not exist.
RoleLookup = Callable[[str, Callable[[CqlError | None, frozenset[str] | None], None]], None]


class Authorization:
    def __init__(self, node: Node, executor: Internal) -> None:
        self.node = node
        self.enabled = node.config.authorizer == CASSANDRA_AUTHORIZER
        self.store = GrantStore(executor, auth_levels(node.config))
        # The grants last loaded for each user (by name), for the role statements' synchronous
        # checks (node.auth.statements calls ``check_loaded``): the executor loads them just
        # before it runs such a statement (``preload``), whatever the cache's validity.
        self.recent: OrderedDict[str, Grants] = OrderedDict()

    def _remember(self, user: User, g: Grants) -> None:
        self.recent[user.name] = g
        self.recent.move_to_end(user.name)
        while len(self.recent) > limits.permissions_cache_entries_max:
            self.recent.popitem(last=False)

    def preload(self, user: User | None, done: Callable[[CqlError | None], None]) -> None:
        """Load ``user``'s grants for ``check_loaded`` (role statements), then ``done``."""
        if not self.enabled or user is None or user.superuser:
            done(None)
            return

        def granted(error: CqlError | None, g: Grants) -> None:
            if error is None:
                self._remember(user, g)
            done(error)
        self.granted(user.roles, granted)

    def check_loaded(self, user: User, permission: str, resource_name: str) -> None:
        """Raise Unauthorized unless the grants ``preload`` read cover (permission, resource):
        ``Auth.permission_check`` for the role statements."""
        resource = Resource.parse(resource_name) or Resource(resource_name)  # 'roles/' too
        perms.check(user.name, self.recent.get(user.name, {}), [Need(permission, resource)])

    # ------------------------------------------------------------------ checks

    def authorize(self, user: User | None, wanted: Sequence[Need],
                  done: Callable[[CqlError | None], None]) -> None:
        """Call ``done(None)`` if ``user`` may do what ``wanted`` lists, else with the
        Unauthorized to answer. Immediate unless grants must be read."""
        if not self.enabled or not wanted:
            done(None)
            return
        if user is None:
            done(errors.Unauthorized("You have not logged in"))
            return
        if user.superuser:
            done(None)
            return

        def granted(error: CqlError | None, g: Grants) -> None:
            if error is not None:
                done(error)
                return
            self._remember(user, g)
            try:
                perms.check(user.name, g, wanted)
            except errors.Unauthorized as e:
                done(e)
                return
            done(None)
        self.granted(user.roles, granted)

    def granted(self, roles: Iterable[str],
                done: Callable[[CqlError | None, Grants], None]) -> None:
        """The union of the grants of ``roles``: cached ones, the rest read (in parallel)."""
        cache = self.node.permissions
        now_ns = self.node.clock.monotonic_ns()
        have: dict[str, Grants] = {}
        missing: list[str] = []
        for r in sorted(set(roles)):
            g = cache.get(r, now_ns)
            if g is None:
                missing.append(r)
            else:
                have[r] = dict(g)
        if not missing:
            done(None, merge(have.values()))
            return
        pending = [len(missing)]
        failed: list[CqlError] = []

        def loaded(role: str, error: CqlError | None, g: Grants) -> None:
            pending[0] -= 1
            if error is not None:
                failed.append(error)
            else:
                have[role] = g
                cache.put(role, g, self.node.clock.monotonic_ns())
            if pending[0] == 0:
                if failed:
                    done(errors.Unauthorized("Unable to perform authorization of permissions: "
                                             f"{failed[0].message}"), {})
                else:
                    done(None, merge(have.values()))
        def loader(role: str) -> Callable[[CqlError | None, Grants], None]:
            return lambda e, g: loaded(role, e, g)
        for r in missing:
            self.store.of_role(r, loader(r))

    # ------------------------------------------------------------------ invalidation

    def invalidate(self, roles: Sequence[str] | None) -> None:
        """Forget cached grants here and on every live peer (all of them for None)."""
        self.node.permissions.invalidate(roles)
        message = PermissionsInvalidate(tuple(roles or ()), roles is None)
        for addr, p in sorted(self.node.membership.peers.items()):
            if p.up and not self.node.membership.out_of_cluster(addr):
                self.node.send(addr, message)

    # ------------------------------------------------------------------ GRANT / REVOKE / LIST

    def resolve(self, res: ast.AuthResource, keyspace: str | None) -> Resource:
        """The resource a statement names (a table without keyspace is in the connection's;
        Cassandra's maybeCorrectResource)."""
        if res.kind == "all_keyspaces":
            return Resource.all_keyspaces()
        if res.kind == "keyspace":
            assert res.keyspace is not None
            return Resource.keyspace(res.keyspace)
        if res.kind == "table":
            assert res.name is not None
            ks = res.keyspace or keyspace
            if not ks:
                raise errors.InvalidRequest("No keyspace has been specified. USE a keyspace, "
                                            "or explicitly specify keyspace.tablename")
            return Resource.table(ks, res.name)
        if res.kind == "all_roles":
            return Resource.all_roles()
        if res.kind == "role":
            assert res.name is not None
            return Resource.role(res.name)
        # no user-defined functions: nothing to grant EXECUTE on; JMX is not served
        raise errors.unsupported("The FUNCTION resource" if res.kind == "functions"
                                 else "The MBEAN resource")

    def _data_exists(self, resource: Resource) -> bool:
        parts = resource.parts
        if parts[0] != "data" or len(parts) == 1:
            return True
        schema = self.node.schema
        if len(parts) == 2:
            return schema.keyspace(parts[1]) is not None
        return schema.table(parts[1], parts[2]) is not None

    def run(self, user: User | None, stmt: ast.Permissions, keyspace: str | None,
            roles_of: RoleLookup, answer: Callable[[object], None]) -> None:
        """GRANT / REVOKE / LIST PERMISSIONS; ``answer`` gets the result or the error."""
        def role_exists(name: str, done: Callable[[CqlError | None, bool], None]) -> None:
            roles_of(name, lambda error, roles: done(error, roles is not None))

        if user is None:
            answer(errors.Unauthorized(_ANONYMOUS))
            return
        resource = self.resolve(stmt.resource, keyspace) if stmt.resource is not None else None
        if stmt.action == "LIST":
            self._list(user, stmt, resource, roles_of, answer)
            return
        assert resource is not None and stmt.role is not None
        chosen = perms.granted_set(stmt.permissions, resource)
        grantee = stmt.role

        def checked(error: CqlError | None) -> None:
            if error is not None:
                answer(error)
                return
            if not self.enabled:
                answer(errors.InvalidRequest(f"{stmt.action} operation is not supported by "
                                             "AllowAllAuthorizer"))
                return
            op = self.store.grant if stmt.action == "GRANT" else self.store.revoke

            def written(error: CqlError | None) -> None:
                if error is None:
                    self.invalidate([grantee])
                answer(error or Void())
            op(grantee, resource, chosen, written)

        def role_checked(error: CqlError | None, exists: bool) -> None:
            if error is not None:
                answer(error)
            elif not exists:
                answer(errors.InvalidRequest(f"Role {grantee} doesn't exist"))
            elif not self._data_exists(resource):  # a role resource was checked before
                answer(errors.InvalidRequest(f"Resource {resource} doesn't exist"))
            else:
                self.authorize(user, perms.permission_management_needs(chosen, resource),
                               checked)

        if resource.parts[0] == "roles" and len(resource.parts) == 2:
            def target_checked(error: CqlError | None, exists: bool) -> None:
                if error is not None:
                    answer(error)
                elif not exists:
                    answer(errors.InvalidRequest(f"Resource {resource} doesn't exist"))
                else:
                    role_exists(grantee, role_checked)
            role_exists(resource.parts[1], target_checked)
        else:
            role_exists(grantee, role_checked)

    def _list(self, user: User, stmt: ast.Permissions, resource: Resource | None,
              roles_of: RoleLookup, answer: Callable[[object], None]) -> None:
        chosen = None if stmt.permissions is None else frozenset(stmt.permissions)
        of = stmt.role

        def listed(error: CqlError | None, grants: dict[str, Grants]) -> None:
            if error is not None:
                answer(error)
                return
            rows = perms.list_rows(grants, chosen, resource, stmt.recursive)
            if not rows:
                answer(Void())  # Cassandra answers VOID, not an empty result, for no grants
                return
            answer(RowsResult(_LIST_COLUMNS, tuple(
                tuple(v.encode("utf-8") for v in row) for row in rows)))

        def go(of_roles: frozenset[str]) -> None:
            if not self.enabled:
                answer(errors.InvalidRequest("LIST PERMISSIONS operation is not supported by "
                                             "AllowAllAuthorizer"))
                return
            if not user.superuser and (of is None or of not in user.roles):
                answer(errors.Unauthorized(
                    f"You are not authorized to view {'everyone' if of is None else of}'s "
                    "permissions"))
                return
            if of is None:
                self.store.all(listed)
                return
            # the grants of the role and of every role it is a member of (Cassandra's list)
            self._grants_by_role(sorted(of_roles), listed)

        def of_checked(error: CqlError | None, of_roles: frozenset[str] | None) -> None:
            if error is not None:
                answer(error)
            elif of_roles is None:
                answer(errors.InvalidRequest(f"<role {of}> doesn't exist"))
            else:
                go(of_roles)

        if resource is not None and not self._data_exists(resource):
            answer(errors.InvalidRequest(f"{resource} doesn't exist"))
        elif of is not None:
            roles_of(of, of_checked)
        else:
            go(frozenset())

    def _grants_by_role(self, roles: Sequence[str],
                        done: Callable[[CqlError | None, dict[str, Grants]], None]) -> None:
        out: dict[str, Grants] = {}

        def step(role: str) -> Callable[[Done], None]:
            def run(next_done: Done) -> None:
                def got(error: CqlError | None, g: Grants) -> None:
                    if error is None and g:
                        out[role] = g
                    next_done(error)
                self.store.of_role(role, got)
            return run
        sequence([step(r) for r in roles], lambda e: done(e, out))

    # ------------------------------------------------------------------ creation and drops

    def created(self, user: User | None, resource: Resource, done: Done) -> None:
        """Grant the creator every applicable permission on what it created (not for an
        anonymous user, nor under AllowAllAuthorizer)."""
        if not self.enabled or user is None:
            done(None)
            return

        def written(error: CqlError | None) -> None:
            if error is None:
                self.invalidate([user.name])
            done(error)
        self.store.grant(user.name, resource, resource.applicable(), written)

    def dropped(self, resources: Sequence[Resource], done: Done) -> None:
        """Revoke every grant on dropped resources (a keyspace and its tables)."""
        if not self.enabled or not resources:
            done(None)
            return

        def cleaned(error: CqlError | None) -> None:
            self.invalidate(None)
            done(error)
        def revoker(r: Resource) -> Callable[[Done], None]:
            return lambda d: self.store.revoke_all_on(r, d)
        sequence([revoker(r) for r in resources], cleaned)

    def role_dropped(self, role: str, done: Done) -> None:
        """A dropped role's grants, and the grants on it (Cassandra: revokeAllFrom and
        revokeAllOn)."""
        if not self.enabled:
            done(None)
            return

        def cleaned(error: CqlError | None) -> None:
            self.invalidate(None)
            done(error)
        sequence([lambda d: self.store.revoke_all_from(role, d),
                  lambda d: self.store.revoke_all_on(Resource.role(role), d)], cleaned)


def dropped_resources(node: Node, stmt: ast.Statement, keyspace: str | None) -> list[Resource]:
    """What a DROP KEYSPACE / TABLE removes, read from the schema before it runs."""
    if isinstance(stmt, ast.DropKeyspace):
        return [Resource.keyspace(stmt.name)] + [
            Resource.table(t.keyspace, t.name) for t in node.schema.tables
            if t.keyspace == stmt.name]
    r = perms.dropped_resource(stmt, keyspace)
    return [r] if r is not None else []
