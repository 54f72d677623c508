"""The executor's side of authorization: when to check, what to run after DDL, and the role
manager's hooks (see ``authorizer`` for the theory of operation).

``before`` runs every client statement's check (internal queries, conn < 0, are the node's
own and pass); ``permissions`` runs GRANT / REVOKE / LIST PERMISSIONS; ``after_ddl`` gives the
creator of a keyspace or table its grants and cleans the grants of what a DROP removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless.cql import ast
from skewless.errors import CqlError
from skewless.node.auth import permissions as perms
from skewless.node.auth.authorizer import Authorization, User, dropped_resources
from skewless.node.auth.model import AuthenticatedUser
from skewless.node.auth.permissions import Resource
from skewless.node.auth.statements import ROLE_STATEMENTS

if TYPE_CHECKING:
    from skewless.node.executor import Executor

log = logging.getLogger("skewless.authz")

After = Callable[[Callable[[], None]], None]


class AuthzHooks:
    def __init__(self, ex: Executor) -> None:
        self.ex = ex
        self.core = Authorization(ex.node, ex)
        if self.core.enabled:
            ex.auth.permission_check = self.core.check_loaded
            ex.auth.drop_hooks.append(self.core.role_dropped)
            ex.auth.create_hooks.append(self._role_created)

    def _role_created(self, creator: User, role: str,
                      done: Callable[[CqlError | None], None]) -> None:
        self.core.created(creator, Resource.role(role), done)

    def _index_table(self, keyspace: str, index: str) -> str | None:
        for i in self.ex.node.schema.indexes:
            if i.keyspace == keyspace and i.name == index:
                return i.table
        return None

    def before(self, conn: int, stream: int, stmt: ast.Statement, keyspace: str | None,
               run: Callable[[], None]) -> None:
        """Call ``run`` if the connection may run ``stmt``; else answer Unauthorized."""
        if conn < 0 or not self.core.enabled:
            run()
            return
        user = self.ex.auth.user_of(conn)

        def checked(error: CqlError | None) -> None:
            if error is not None:
                self.ex._answer(conn, stream, error)
            else:
                self.ex._guard(conn, stream, run)
        if isinstance(stmt, ROLE_STATEMENTS):  # they check through Auth.permission_check
            self.core.preload(user, checked)
            return
        wanted = perms.needs(stmt, keyspace, self._index_table)
        if not wanted:
            run()
            return
        self.core.authorize(user, wanted, checked)

    def permissions(self, conn: int, stream: int, stmt: ast.Permissions,
                    keyspace: str | None) -> None:
        def roles_of(name: str,
                     done: Callable[[CqlError | None, frozenset[str] | None], None]) -> None:
            def got(error: CqlError | None, user: AuthenticatedUser | None) -> None:
                done(error, None if user is None else user.roles)
            self.ex.auth.load(name, got)
        self.core.run(self.ex.auth.user_of(conn), stmt, keyspace, roles_of,
                      lambda body: self.ex._answer(conn, stream, body))

    def after_ddl(self, conn: int, stmt: ast.Statement, keyspace: str | None) -> After:
        """What to do once ``stmt`` (a DDL) changed the schema, before answering: computed
        before it runs (a DROP KEYSPACE's tables are read from the schema it removes them
        from). A failure is logged: the schema change itself has happened."""
        if conn < 0 or not self.core.enabled:
            return lambda answer: answer()

        def logged(what: str, answer: Callable[[], None]) -> Callable[[CqlError | None], None]:
            def done(error: CqlError | None) -> None:
                if error is not None:
                    log.warning("%s failed: %s", what, error.message)
                answer()
            return done
        created = perms.created_resource(stmt, keyspace)
        if created is not None:
            user = self.ex.auth.user_of(conn)
            return lambda answer: self.core.created(
                user, created, logged(f"granting {created} to its creator", answer))
        dropped = dropped_resources(self.ex.node, stmt, keyspace)
        if dropped:
            return lambda answer: self.core.dropped(
                dropped, logged(f"revoking the grants on {dropped[0]}", answer))
        return lambda answer: answer()
