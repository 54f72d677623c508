"""The permission store: ``system_auth.role_permissions`` and its reverse index, read and
written with CQL, as Cassandra's CassandraAuthorizer does.

``role_permissions (role, resource, permissions set<text>)`` holds each role's grants, one
partition per role; ``resource_role_permissons_index (resource, role)`` (Cassandra's spelling)
names the roles holding grants on a resource, so that dropping the resource can revoke them.
Every operation is an ordinary statement run as an internal query of the executor (replicated,
hinted, read-repaired like any other row): reads at auth_read_consistency_level, writes at
auth_write_consistency_level (``model.AuthLevels``), as Cassandra 4.1+'s. Operations are
continuations: ``done`` is called once. Values are bound (``?``), never spliced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from skewless import limits
from skewless.cql.types import parse_type
from skewless.errors import CqlError
from skewless.node.auth.model import AuthLevels
from skewless.node.auth.permissions import AUTH_KEYSPACE, PERMISSIONS, Resource
from skewless.node.auth.roles import Done, Step, rows_of, sequence, text

_PERMS = f"{AUTH_KEYSPACE}.role_permissions"
_INDEX = f"{AUTH_KEYSPACE}.resource_role_permissons_index"
_SET = parse_type("set<text>")

Answered = Callable[[object], None]  # a RowsResult, a Void, or a CqlError
Grants = dict[Resource, frozenset[str]]


class Internal(Protocol):
    """What the store needs of the executor: run one statement as the system (no checks)."""

    def internal(self, query: str, values: tuple[bytes | None, ...], cl: int,
                 answered: Answered, timestamp_us: int | None = None) -> None: ...


def _perm_set(raw: bytes | None) -> frozenset[str]:
    """A stored permissions set; names that are not Cassandra's are ignored (bad data)."""
    if not raw:
        return frozenset()
    try:
        values = _SET.deserialize(raw)
    except Exception:  # a corrupt cell must not take a check down: it grants nothing
        return frozenset()
    assert isinstance(values, list | set | frozenset | tuple), type(values).__name__
    return frozenset(v for v in values if isinstance(v, str) and v in PERMISSIONS)


def grants_of_rows(rows: list[dict[str, bytes | None]]) -> dict[str, Grants]:
    """role -> resource -> permissions, from rows of (role, resource, permissions)."""
    out: dict[str, Grants] = {}
    for row in rows:
        role, name = row.get("role"), row.get("resource")
        if role is None or name is None:
            continue
        resource = Resource.parse(name.decode("utf-8", "replace"))
        perms = _perm_set(row.get("permissions"))
        if resource is None or not perms:
            continue
        out.setdefault(role.decode("utf-8", "replace"), {})[resource] = perms
    return out


class GrantStore:
    def __init__(self, executor: Internal, levels: AuthLevels) -> None:
        self.ex = executor
        self.levels = levels

    def _run(self, query: str, values: tuple[bytes | None, ...],
             done: Callable[[CqlError | None, object], None], write: bool = False) -> None:
        def answered(body: object) -> None:
            if isinstance(body, CqlError):
                done(body, None)
            else:
                done(None, body)
        self.ex.internal(query, values, self.levels.write if write else self.levels.read,
                         answered)

    def _write(self, query: str, values: tuple[bytes | None, ...]) -> Step:
        return lambda done: self._run(query, values, lambda e, _: done(e), write=True)

    # ------------------------------------------------------------------ reads

    def of_role(self, role: str, done: Callable[[CqlError | None, Grants], None]) -> None:
        """The grants of ``role`` itself (not of the roles it is a member of)."""
        def answered(error: CqlError | None, body: object) -> None:
            if error is not None:
                done(error, {})
                return
            done(None, grants_of_rows(rows_of(body)).get(role, {}))
        self._run(f"SELECT role, resource, permissions FROM {_PERMS} WHERE role = ? "
                  f"LIMIT {limits.permissions_rows_max}", (text(role),), answered)

    def all(self, done: Callable[[CqlError | None, dict[str, Grants]], None]) -> None:
        """Every role's grants (LIST PERMISSIONS of everyone)."""
        def answered(error: CqlError | None, body: object) -> None:
            done(error, {} if error is not None else grants_of_rows(rows_of(body)))
        self._run(f"SELECT role, resource, permissions FROM {_PERMS} "
                  f"LIMIT {limits.permissions_rows_max}", (), answered)

    # ------------------------------------------------------------------ writes

    def grant(self, role: str, resource: Resource, perms: frozenset[str], done: Done) -> None:
        value = _SET.serialize(sorted(perms))
        sequence([
            self._write(f"UPDATE {_PERMS} SET permissions = permissions + ? "
                        "WHERE role = ? AND resource = ?",
                        (value, text(role), text(resource.name))),
            self._write(f"INSERT INTO {_INDEX} (resource, role) VALUES (?, ?)",
                        (text(resource.name), text(role))),
        ], done)

    def revoke(self, role: str, resource: Resource, perms: frozenset[str], done: Done) -> None:
        value = _SET.serialize(sorted(perms))
        self._write(f"UPDATE {_PERMS} SET permissions = permissions - ? "
                    "WHERE role = ? AND resource = ?",
                    (value, text(role), text(resource.name)))(done)

    def revoke_all_from(self, role: str, done: Done) -> None:
        """A dropped role's grants, and its entries in the reverse index."""
        def got(error: CqlError | None, grants: Grants) -> None:
            if error is not None:
                done(error)
                return
            steps = [self._write(f"DELETE FROM {_INDEX} WHERE resource = ? AND role = ?",
                                 (text(r.name), text(role))) for r in sorted(grants)]
            steps.append(self._write(f"DELETE FROM {_PERMS} WHERE role = ?", (text(role),)))
            sequence(steps, done)
        self.of_role(role, got)

    def revoke_all_on(self, resource: Resource, done: Done) -> None:
        """Every grant on a dropped resource (the reverse index names the roles)."""
        def got(error: CqlError | None, body: object) -> None:
            if error is not None:
                done(error)
                return
            roles = sorted({role for r in rows_of(body) if (role := r.get("role")) is not None})
            steps = [self._write(f"DELETE FROM {_PERMS} WHERE role = ? AND resource = ?",
                                 (role, text(resource.name))) for role in roles]
            steps.append(self._write(f"DELETE FROM {_INDEX} WHERE resource = ?",
                                     (text(resource.name),)))
            sequence(steps, done)
        self._run(f"SELECT role FROM {_INDEX} WHERE resource = ? "
                  f"LIMIT {limits.permissions_rows_max}", (text(resource.name),), got)
