"""Builder callbacks for the role statements (grammar block ``roles (issue 12)``)."""

from __future__ import annotations

from lark import Token, v_args

from skewless import errors
from skewless.cql import ast_roles as r
from skewless.cql.parser_terms import TermBuilder, unquote_string

_Option = tuple[str, object]


@v_args(inline=True)
class RoleBuilder(TermBuilder):
    """Mixed into the statement builder (``parser._Builder``)."""

    def role_name(self, name: str | Token) -> str:
        if isinstance(name, Token) and name.type == "STRING":
            return unquote_string(name)
        return str(name)

    def role_bool(self, token: Token) -> bool:
        return token.upper() == "TRUE"

    def role_password(self, token: Token) -> _Option:
        return "password", unquote_string(token)

    def role_login(self, value: bool) -> _Option:
        return "login", value

    def role_superuser(self, value: bool) -> _Option:
        return "superuser", value

    def role_custom_options(self, items: tuple[tuple[str, str], ...]) -> _Option:
        return "options", items

    def role_with(self, *options: _Option) -> r.RoleOptions:
        seen: dict[str, object] = {}
        for name, value in options:
            if name in seen:
                raise errors.SyntaxException(f"Multiple definition for property {name.upper()}")
            seen[name] = value
        return r.RoleOptions(**seen)  # type: ignore[arg-type]

    def create_role(self, if_not_exists: bool | None, name: str,
                    options: r.RoleOptions | None) -> r.CreateRole:
        return r.CreateRole(name, options or r.RoleOptions(), bool(if_not_exists))

    def alter_role(self, if_exists: bool | None, name: str, options: r.RoleOptions
                   ) -> r.AlterRole:
        return r.AlterRole(name, options, bool(if_exists))

    def drop_role(self, if_exists: bool | None, name: str) -> r.DropRole:
        return r.DropRole(name, bool(if_exists))

    def user_password(self, token: Token) -> str:
        return unquote_string(token)

    def user_super(self, token: Token) -> bool:
        return token.upper() == "SUPERUSER"

    def create_user(self, if_not_exists: bool | None, name: str, password: str | None,
                    superuser: bool | None) -> r.CreateRole:
        return r.CreateRole(name, r.RoleOptions(password, True, bool(superuser)),
                            bool(if_not_exists), user=True)

    def alter_user(self, if_exists: bool | None, name: str, password: str | None,
                   superuser: bool | None) -> r.AlterRole:
        return r.AlterRole(name, r.RoleOptions(password, None, superuser), bool(if_exists),
                           user=True)

    def drop_user(self, if_exists: bool | None, name: str) -> r.DropRole:
        return r.DropRole(name, bool(if_exists), user=True)

    def norecursive(self) -> bool:
        return True

    def list_roles(self, of: str | None, norecursive: bool | None) -> r.ListRoles:
        return r.ListRoles(of, not norecursive)

    def list_users(self) -> r.ListRoles:
        return r.ListRoles(users=True)

    def grant_role(self, role: str, grantee: str) -> r.GrantRole:
        return r.GrantRole(role, grantee)

    def revoke_role(self, role: str, revokee: str) -> r.RevokeRole:
        return r.RevokeRole(role, revokee)
