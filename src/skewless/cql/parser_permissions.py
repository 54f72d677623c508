"""Builder callbacks for GRANT / REVOKE / LIST of permissions (see parser.py; issue 12).

Cassandra's grammar: ``GRANT <permission> [PERMISSION] | ALL [PERMISSIONS] ON <resource> TO
<role>``, ``REVOKE ... FROM <role>``, ``LIST ... [ON <resource>] [OF <role>] [NORECURSIVE]``.
A role name is an identifier, a quoted name or a string. Function and MBean resources parse
(so the error names them) but are not built.
"""

from __future__ import annotations

from lark import Token, Transformer, v_args

from skewless.cql import ast
from skewless.cql.parser_terms import unquote_string

Qualified = tuple[str | None, str]


@v_args(inline=True)
class PermissionsBuilder(Transformer[Token, object]):
    def grant_permissions(self, perms: tuple[str, ...] | None, resource: ast.AuthResource,
                          role: str) -> ast.Permissions:
        return ast.Permissions("GRANT", perms, resource, role)

    def revoke_permissions(self, perms: tuple[str, ...] | None, resource: ast.AuthResource,
                           role: str) -> ast.Permissions:
        return ast.Permissions("REVOKE", perms, resource, role)

    def list_permissions(self, perms: tuple[str, ...] | None, resource: ast.AuthResource | None,
                         role: str | None, norecursive: bool | None) -> ast.Permissions:
        return ast.Permissions("LIST", perms, resource, role, not norecursive)

    def one_permission(self, perm: str, _word: Token | None = None) -> tuple[str, ...]:
        return (perm,)

    def all_permissions(self, _word: Token | None = None) -> None:
        return None

    def permission(self, token: Token) -> str:
        return token.upper()

    def res_all_keyspaces(self) -> ast.AuthResource:
        return ast.AuthResource("all_keyspaces")

    def res_keyspace(self, name: str) -> ast.AuthResource:
        return ast.AuthResource("keyspace", name)

    def res_table(self, name: Qualified) -> ast.AuthResource:
        return ast.AuthResource("table", name[0], name[1])

    def res_all_roles(self) -> ast.AuthResource:
        return ast.AuthResource("all_roles")

    def res_role(self, role: str) -> ast.AuthResource:
        return ast.AuthResource("role", None, role)

    def res_functions(self, *_parts: object) -> ast.AuthResource:
        return ast.AuthResource("functions")

    def res_mbeans(self, *_parts: object) -> ast.AuthResource:
        return ast.AuthResource("mbeans")

    def perm_role(self, token: str | Token) -> str:
        if isinstance(token, Token) and token.type == "STRING":
            return unquote_string(token)
        return str(token)  # an ident, already normalised

    def perm_norecursive(self) -> bool:
        return True
