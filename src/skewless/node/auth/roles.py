"""The role manager: ``system_auth.roles`` and ``role_members`` read and written with CQL.

Every operation is an ordinary statement run as an internal query of the executor (so the
rows are replicated, hinted, read-repaired like any other) at Cassandra's consistency for the
role (``model.AuthLevels``: cassandra.yaml's auth_read_consistency_level and
auth_write_consistency_level, QUORUM for the default superuser); LIST of all roles reads at
QUORUM as Cassandra's getAllRoles. Operations are continuations: ``done`` is called once, with
an error or the result. Values are bound (``?``), never spliced into the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from skewless import limits
from skewless.cql.results import RowsResult
from skewless.cql.types import parse_type
from skewless.errors import CqlError, ServerError
from skewless.node import consistency as cl_mod
from skewless.node.auth.model import AUTH_KEYSPACE, AuthLevels, Role

if TYPE_CHECKING:
    from skewless.node.executor import Executor

Done = Callable[[CqlError | None], None]
Step = Callable[[Done], None]

_ROLES = f"{AUTH_KEYSPACE}.roles"
_MEMBERS = f"{AUTH_KEYSPACE}.role_members"
_SET = parse_type("set<text>")
_ROLE_COLUMNS = "role, is_superuser, can_login, member_of, salted_hash"


def text(value: str) -> bytes:
    return value.encode("utf-8")


def boolean(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def rows_of(body: object) -> list[dict[str, bytes | None]]:
    assert isinstance(body, RowsResult), type(body).__name__
    names = [c.name for c in body.columns]
    return [dict(zip(names, row, strict=True)) for row in body.rows]


def _role(row: dict[str, bytes | None]) -> Role:
    def flag(name: str) -> bool:
        v = row.get(name)
        return bool(v) and v != b"\x00"

    member_of = row.get("member_of")
    hashed = row.get("salted_hash")
    name = row.get("role")
    assert name is not None
    return Role(name.decode("utf-8"), flag("is_superuser"), flag("can_login"),
                frozenset(_SET.deserialize(member_of)) if member_of else frozenset(),  # type: ignore[call-overload]
                hashed.decode("utf-8", "replace") if hashed is not None else None)


def sequence(steps: Sequence[Step], done: Done) -> None:
    """Run ``steps`` one after the other; stop at the first error."""
    def run(i: int) -> None:
        if i == len(steps):
            done(None)
            return
        steps[i](lambda error: done(error) if error is not None else run(i + 1))
    run(0)


class RoleStore:
    def __init__(self, executor: Executor, levels: AuthLevels) -> None:
        self.ex = executor
        self.levels = levels

    def _run(self, query: str, values: tuple[bytes | None, ...], cl: int,
             done: Callable[[CqlError | None, object], None],
             timestamp_us: int | None = None) -> None:
        def answered(body: object) -> None:
            if isinstance(body, CqlError):
                done(body, None)
            else:
                done(None, body)
        self.ex.internal(query, values, cl, answered, timestamp_us)

    def _write(self, query: str, values: tuple[bytes | None, ...], cl: int,
               timestamp_us: int | None = None) -> Step:
        return lambda done: self._run(query, values, cl, lambda e, _: done(e), timestamp_us)

    # ------------------------------------------------------------------ reads

    def get(self, name: str, done: Callable[[CqlError | None, Role | None], None],
            cl: int | None = None) -> None:
        """The role named ``name``, or None."""
        def answered(error: CqlError | None, body: object) -> None:
            if error is not None:
                done(error, None)
                return
            rows = rows_of(body)
            done(None, _role(rows[0]) if rows else None)
        self._run(f"SELECT {_ROLE_COLUMNS} FROM {_ROLES} WHERE role = ?", (text(name),),
                  self.levels.role_read(name) if cl is None else cl, answered)

    def all(self, done: Callable[[CqlError | None, list[Role]], None],
            cl: int = cl_mod.QUORUM) -> None:
        def answered(error: CqlError | None, body: object) -> None:
            done(error, [] if error is not None else [_role(r) for r in rows_of(body)])
        self._run(f"SELECT {_ROLE_COLUMNS} FROM {_ROLES}", (), cl, answered)

    def collect(self, name: str, recursive: bool,
                done: Callable[[CqlError | None, list[Role]], None]) -> None:
        """``name``'s role and those granted to it (transitively when ``recursive``), as
        CassandraRoleManager.collectRoles; [] when ``name`` does not exist."""
        found: dict[str, Role] = {}
        pending: list[tuple[str, int]] = [(name, 0)]
        failed: list[CqlError] = []

        def next_one() -> None:
            while pending and pending[0][0] in found:
                pending.pop(0)
            if failed or not pending or len(found) >= limits.auth_role_walk_roles_max:
                done(failed[0] if failed else None, list(found.values()))
                return
            current, depth = pending.pop(0)

            def got(error: CqlError | None, role: Role | None) -> None:
                if error is not None:
                    failed.append(error)
                elif role is not None:
                    found[role.name] = role
                    if recursive or depth == 0:
                        pending.extend((r, depth + 1) for r in sorted(role.member_of))
                next_one()
            self.get(current, got)
        next_one()

    def members(self, role: str, done: Callable[[CqlError | None, list[str]], None]) -> None:
        def answered(error: CqlError | None, body: object) -> None:
            if error is not None:
                done(error, [])
                return
            done(None, [m.decode("utf-8") for r in rows_of(body) if (m := r.get("member"))])
        self._run(f"SELECT member FROM {_MEMBERS} WHERE role = ?", (text(role),),
                  self.levels.role_read(role), answered)

    # ------------------------------------------------------------------ writes

    def create(self, name: str, superuser: bool, login: bool, salted_hash: str | None,
               done: Done, timestamp_us: int | None = None) -> None:
        cl = self.levels.role_write(name)
        if salted_hash is None:
            self._write(f"INSERT INTO {_ROLES} (role, is_superuser, can_login) VALUES (?, ?, ?)",
                        (text(name), boolean(superuser), boolean(login)), cl, timestamp_us)(done)
        else:
            self._write(f"INSERT INTO {_ROLES} (role, is_superuser, can_login, salted_hash) "
                        "VALUES (?, ?, ?, ?)", (text(name), boolean(superuser), boolean(login),
                                                text(salted_hash)), cl, timestamp_us)(done)

    def alter(self, name: str, superuser: bool | None, login: bool | None,
              salted_hash: str | None, done: Done) -> None:
        sets: list[str] = []
        values: list[bytes | None] = []
        for column, value in (("can_login", None if login is None else boolean(login)),
                              ("is_superuser", None if superuser is None
                               else boolean(superuser)),
                              ("salted_hash", None if salted_hash is None
                               else text(salted_hash))):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if not sets:
            done(None)
            return
        self._write(f"UPDATE {_ROLES} SET {', '.join(sets)} WHERE role = ?",
                    (*values, text(name)), self.levels.role_write(name))(done)

    def _membership(self, grantee: str, role: str, op: str) -> Step:
        return self._write(f"UPDATE {_ROLES} SET member_of = member_of {op} ? WHERE role = ?",
                           (_SET.serialize({role}), text(grantee)), self.levels.role_write(grantee))

    def grant(self, role: str, grantee: str, done: Done) -> None:
        sequence([self._membership(grantee, role, "+"),
                  self._write(f"INSERT INTO {_MEMBERS} (role, member) VALUES (?, ?)",
                              (text(role), text(grantee)), self.levels.role_write(role))], done)

    def revoke(self, role: str, revokee: str, done: Done) -> None:
        sequence([self._membership(revokee, role, "-"),
                  self._write(f"DELETE FROM {_MEMBERS} WHERE role = ? AND member = ?",
                              (text(role), text(revokee)), self.levels.role_write(role))], done)

    def drop(self, role: Role, done: Done) -> None:
        """Delete the role, take it out of its members' member_of and the role_members of the
        roles it was granted (Cassandra leaves those; nothing reads them but LIST)."""
        name = role.name
        cl = self.levels.role_write(name)

        def with_members(error: CqlError | None, members: list[str]) -> None:
            if error is not None:
                done(error)
                return
            steps: list[Step] = [self._write(f"DELETE FROM {_ROLES} WHERE role = ?",
                                             (text(name),), cl)]
            steps += [self._membership(m, name, "-") for m in members]
            steps.append(self._write(f"DELETE FROM {_MEMBERS} WHERE role = ?", (text(name),), cl))
            steps += [self._write(f"DELETE FROM {_MEMBERS} WHERE role = ? AND member = ?",
                                  (text(r), text(name)), self.levels.role_write(r))
                      for r in sorted(role.member_of)]
            sequence(steps, done)
        self.members(name, with_members)


def internal_error(what: str) -> ServerError:
    return ServerError(f"Unable to perform {what}")
