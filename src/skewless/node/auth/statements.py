"""The role statements, as Cassandra's CreateRoleStatement & co. (checkAccess, then validate,
then execute, with their messages).

Permission checks on role resources (CREATE on all roles, ALTER/DROP/AUTHORIZE on a role,
DESCRIBE to list every role) go through ``Auth.permission_check``: None is Cassandra's
AllowAllAuthorizer (everything is permitted); an authorizer sets it. Superuser rules are
checked here, as Cassandra's statements check them whatever the authorizer.

Under AllowAllAuthenticator the connection is anonymous, and Cassandra's answers follow:
"You have to be logged in and not anonymous to perform this request", and PASSWORD is not an
option the role manager supports then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless.cql import ast_roles as r
from skewless.cql.results import ColumnSpec, RowsResult, Void
from skewless.cql.types import parse_type
from skewless.errors import CqlError, InvalidRequest, Unauthorized
from skewless.node.auth.model import AUTH_KEYSPACE, ROLE_MANAGER_CLASS, AuthenticatedUser, Role
from skewless.node.auth.roles import boolean, text

if TYPE_CHECKING:
    from skewless.node.executor import Executor

ROLE_STATEMENTS = r.ROLE_STATEMENT_CLASSES
ROOT = "roles"  # Cassandra's RoleResource.root(); a role's resource is "roles/<name>"
_MAP = parse_type("map<text, text>")


def role_resource(name: str) -> str:
    return f"roles/{name}"


def execute(ex: Executor, conn: int, stream: int, stmt: r.RoleStatement) -> None:
    """Check, validate and run ``stmt``; answer (conn, stream) once."""
    def answer(body: object) -> None:
        if isinstance(body, CqlError | Void | RowsResult):
            ex.auth.invalidate()
        ex._answer(conn, stream, body)

    def guarded(fn: Callable[[], None]) -> None:
        try:
            fn()
        except CqlError as e:
            answer(e)

    run = _Run(ex, ex.auth.user_of(conn), answer, guarded)
    if isinstance(stmt, r.CreateRole):
        run.create(stmt)
    elif isinstance(stmt, r.AlterRole):
        run.alter(stmt)
    elif isinstance(stmt, r.DropRole):
        run.drop(stmt)
    elif isinstance(stmt, r.ListRoles):
        run.list(stmt)
    else:
        run.grant(stmt)


class _Run:
    def __init__(self, ex: Executor, user: AuthenticatedUser | None,
                 answer: Callable[[object], None],
                 guarded: Callable[[Callable[[], None]], None]) -> None:
        self.ex = ex
        self.store = ex.auth.store
        self.user = user
        self.answer = answer
        self.guarded = guarded

    # ------------------------------------------------------------------ checks

    @property
    def is_super(self) -> bool:
        return self.user is not None and self.user.superuser

    def ensure_not_anonymous(self) -> AuthenticatedUser:
        if self.user is None:
            raise Unauthorized(
                "You have to be logged in and not anonymous to perform this request")
        return self.user

    def check_permission(self, permission: str, resource: str) -> None:
        check = self.ex.auth.permission_check
        if check is not None and self.user is not None and not self.user.superuser:
            check(self.user, permission, resource)

    def check_options(self, options: r.RoleOptions) -> None:
        """RoleOptions.validate: PASSWORD only with PasswordAuthenticator, no OPTIONS."""
        if options.password is not None and not self.ex.auth.required:
            raise InvalidRequest(f"{ROLE_MANAGER_CLASS} doesn't support PASSWORD")
        if options.options is not None:
            raise InvalidRequest(f"{ROLE_MANAGER_CLASS} doesn't support OPTIONS")

    def then(self, on_ok: Callable[[], None]) -> Callable[[CqlError | None], None]:
        return lambda error: self.answer(error) if error is not None \
            else self.guarded(on_ok)

    def with_role(self, name: str, on_role: Callable[[Role | None], None]) -> None:
        def got(error: CqlError | None, role: Role | None) -> None:
            if error is not None:
                self.answer(error)
            else:
                self.guarded(lambda: on_role(role))
        self.store.get(name, got)

    def with_superuser_status(self, name: str, on_status: Callable[[bool], None]) -> None:
        def got(error: CqlError | None, roles: list[Role]) -> None:
            if error is not None:
                self.answer(error)
            else:
                self.guarded(lambda: on_status(any(x.is_superuser for x in roles)))
        self.store.collect(name, True, got)

    def hashed(self, password: str | None, on_hash: Callable[[str | None], None]) -> None:
        if password is None:
            on_hash(None)
        else:
            self.ex.auth.hasher.hash(password, lambda h: self.guarded(lambda: on_hash(h)))

    # ------------------------------------------------------------------ statements

    def create(self, stmt: r.CreateRole) -> None:
        opts = stmt.options
        self.check_permission("CREATE", ROOT)
        if opts.superuser and not self.is_super:
            raise Unauthorized("Only superusers can create a role with superuser status")
        self.check_options(opts)
        if not stmt.name:
            raise InvalidRequest("Role name can't be an empty string")
        self.ensure_not_anonymous()

        def existing(role: Role | None) -> None:
            if role is not None:
                if stmt.if_not_exists:
                    self.answer(Void())
                    return
                raise InvalidRequest(f"{stmt.name} already exists")
            self.hashed(opts.password, lambda h: self.store.create(
                stmt.name, bool(opts.superuser), bool(opts.login), h,
                self.then(lambda: self.answer(Void()))))
        self.with_role(stmt.name, existing)

    def alter(self, stmt: r.AlterRole) -> None:
        opts = stmt.options
        user = self.user  # checkAccess first, then validate, as Cassandra
        if opts.superuser is not None and user is not None and stmt.name in user.roles:
            raise Unauthorized("You aren't allowed to alter your own superuser status or that "
                               "of a role granted to you")
        if opts.superuser is not None and not self.is_super:
            raise Unauthorized("Only superusers are allowed to alter superuser status")
        if not self.is_super:
            if user is not None and user.name == stmt.name:
                for name, value in (("LOGIN", opts.login), ("SUPERUSER", opts.superuser)):
                    if value is not None:
                        raise Unauthorized(f"You aren't allowed to alter {name}")
            else:
                self.check_permission("ALTER", role_resource(stmt.name))
        self.check_options(opts)
        if opts == r.RoleOptions():
            raise InvalidRequest(f"ALTER {'USER' if stmt.user else 'ROLE'} can't be empty")
        self.ensure_not_anonymous()

        def existing(role: Role | None) -> None:
            if role is None:
                if stmt.if_exists:
                    self.answer(Void())
                    return
                raise InvalidRequest(f"{stmt.name} doesn't exist")
            self.hashed(opts.password, lambda h: self.store.alter(
                stmt.name, opts.superuser, opts.login, h,
                self.then(lambda: self.answer(Void()))))
        self.with_role(stmt.name, existing)

    def drop(self, stmt: r.DropRole) -> None:
        self.check_permission("DROP", role_resource(stmt.name))

        def status(superuser: bool) -> None:  # False when the role does not exist
            if superuser and not self.is_super:
                raise Unauthorized("Only superusers can drop a role with superuser status")
            user = self.ensure_not_anonymous()
            self.with_role(stmt.name, lambda role: existing(role, user))

        def existing(role: Role | None, user: AuthenticatedUser) -> None:
            if role is None and not stmt.if_exists:
                raise InvalidRequest(f"{stmt.name} doesn't exist")
            if user.name == stmt.name:
                raise InvalidRequest("Cannot DROP primary role for current login")
            if role is None:
                self.answer(Void())
                return
            hooks = list(self.ex.auth.drop_hooks)

            def after(error: CqlError | None) -> None:
                if error is not None or not hooks:
                    self.answer(error or Void())
                    return
                hooks.pop(0)(stmt.name, after)
            self.store.drop(role, after)
        self.with_superuser_status(stmt.name, status)

    def grant(self, stmt: r.GrantRole | r.RevokeRole) -> None:
        grant = isinstance(stmt, r.GrantRole)
        role = stmt.role
        other = stmt.grantee if isinstance(stmt, r.GrantRole) else stmt.revokee
        self.check_permission("AUTHORIZE", role_resource(role))
        self.ensure_not_anonymous()

        def role_found(found: Role | None) -> None:
            if found is None:
                raise InvalidRequest(f"{role} doesn't exist")
            self.with_role(other, other_found)

        def other_found(found: Role | None) -> None:
            if found is None:
                raise InvalidRequest(f"{other} doesn't exist")
            if grant:
                self.store.collect(other, True, lambda e, roles: self.answer(e) if e else
                                   self.guarded(lambda: grant_checked(roles, 0)))
            elif role not in found.member_of:
                raise InvalidRequest(f"{other} is not a member of {role}")
            else:
                self.store.revoke(role, other, self.then(lambda: self.answer(Void())))

        def grant_checked(roles: list[Role], step: int) -> None:
            if step == 0:
                if role in {x.name for x in roles}:
                    raise InvalidRequest(f"{other} is a member of {role}")
                self.store.collect(role, True, lambda e, mine: self.answer(e) if e else
                                   self.guarded(lambda: grant_checked(mine, 1)))
                return
            if other in {x.name for x in roles}:
                raise InvalidRequest(f"{role} is a member of {other}")
            self.store.grant(role, other, self.then(lambda: self.answer(Void())))
        self.with_role(role, role_found)

    def list(self, stmt: r.ListRoles) -> None:
        user = self.ensure_not_anonymous()
        check = self.ex.auth.permission_check
        may_describe = self.is_super or check is None
        if check is not None and not may_describe:
            try:
                check(user, "DESCRIBE", ROOT)
                may_describe = True
            except Unauthorized:
                pass

        def rows(error: CqlError | None, roles: list[Role]) -> None:
            if error is not None:
                self.answer(error)
            else:
                self.answer(_result(roles, stmt.users))

        if stmt.users:
            self.store.all(lambda e, roles: rows(e, [x for x in roles if x.can_login]))
            return
        grantee = stmt.of
        if grantee is None and may_describe:
            self.store.all(rows)
            return
        if grantee is None:
            self.store.collect(user.name, stmt.recursive, rows)
            return
        if not may_describe and grantee not in user.roles:
            raise Unauthorized(f"You are not authorized to view roles granted to {grantee} ")

        def existing(role: Role | None) -> None:
            if role is None:
                raise InvalidRequest(f"{grantee} doesn't exist")
            self.store.collect(grantee, stmt.recursive, rows)
        self.with_role(grantee, existing)


def _result(roles: list[Role], users: bool) -> RowsResult:
    """ListRolesStatement's / ListUsersStatement's result set, sorted by name."""
    roles = sorted(roles, key=lambda x: x.name)
    columns: tuple[ColumnSpec, ...]
    if users:
        columns = (_spec("name", "text"), _spec("super", "boolean"),
                   _spec("datacenters", "text"))
        return RowsResult(columns, tuple(
            (text(x.name), boolean(x.is_superuser), text("ALL")) for x in roles))
    columns = (_spec("role", "text"), _spec("super", "boolean"), _spec("login", "boolean"),
               _spec("options", "map<text, text>"), _spec("datacenters", "text"))
    return RowsResult(columns, tuple(
        (text(x.name), boolean(x.is_superuser), boolean(x.can_login), _MAP.serialize({}),
         text("ALL")) for x in roles))


def _spec(name: str, type_: str) -> ColumnSpec:
    return ColumnSpec(AUTH_KEYSPACE, "roles", name, type_)
