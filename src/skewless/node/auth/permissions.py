"""Cassandra's authorization model: resources, permissions, and what each statement needs.

Theory of operation
-------------------
A *resource* is named as Cassandra names it in ``system_auth.role_permissions.resource``:
``data`` (ALL KEYSPACES), ``data/ks`` (KEYSPACE ks), ``data/ks/t`` (TABLE ks.t), ``roles``
(ALL ROLES) and ``roles/r`` (ROLE r). Resources form a hierarchy: a table's parent is its
keyspace, whose parent is ``data``; a role's parent is ``roles``. A permission granted on a
resource covers every resource below it, so a check walks the *chain* from the resource up to
its root (``Resource.chain``), and fails only if no link holds the permission. The failure is
Cassandra's ``Unauthorized`` (0x2100): "User alice has no SELECT permission on <table ks.t> or
any of its parents".

Each kind of resource has its *applicable* permissions (Cassandra's
``applicablePermissions``): a table cannot be CREATEd into, a role cannot be SELECTed from.
``GRANT ALL`` grants the applicable ones; a GRANT naming none applicable is Cassandra's
SyntaxException "Resource type DataResource does not support any of the requested
permissions". Functions (EXECUTE) are not built: Skewless has no user-defined functions.

``needs(statement, ...)`` maps every statement the executor runs to the (permission, resource)
pairs it must hold, as Cassandra's ``CQLStatement.authorize`` does. Tables drivers and cqlsh
read to connect (``system.local``, ``system.peers``, ``system.peers_v2``, every
``system_schema`` and ``system_virtual_schema`` table) are readable by every logged-in role
(Cassandra's ``READABLE_SYSTEM_RESOURCES``).

Pure: no I/O, no clock. The cache of loaded permissions (``PermissionsCache``) takes the time
as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from skewless import errors
from skewless.cql import ast

# Cassandra's Permission enum, in its order (LIST PERMISSIONS sorts by it).
PERMISSIONS = ("CREATE", "ALTER", "DROP", "SELECT", "MODIFY", "AUTHORIZE", "DESCRIBE",
               "EXECUTE")
_ORDER = {p: i for i, p in enumerate(PERMISSIONS)}

_KEYSPACE_LEVEL = frozenset(("CREATE", "ALTER", "DROP", "SELECT", "MODIFY", "AUTHORIZE"))
_TABLE_LEVEL = frozenset(("ALTER", "DROP", "SELECT", "MODIFY", "AUTHORIZE"))
_ROLES_ROOT_LEVEL = frozenset(("CREATE", "ALTER", "DROP", "AUTHORIZE", "DESCRIBE"))
_ROLE_LEVEL = frozenset(("ALTER", "DROP", "AUTHORIZE"))

AUTH_KEYSPACE = "system_auth"
# Tables every logged-in role may read: drivers and cqlsh need them to connect.
_READABLE_SYSTEM_TABLES = frozenset(("local", "peers", "peers_v2"))
_READABLE_SYSTEM_KEYSPACES = frozenset(("system_schema", "system_virtual_schema"))
_LOCAL_SYSTEM_KEYSPACES = frozenset(("system", "system_schema", "system_virtual_schema"))
_REPLICATED_SYSTEM_KEYSPACES = frozenset(("system_auth", "system_distributed",
                                          "system_traces"))


@dataclass(frozen=True, slots=True, order=True)
class Resource:
    """A resource by its Cassandra name ('data', 'data/ks', 'data/ks/t', 'roles', 'roles/r')."""

    name: str

    @staticmethod
    def all_keyspaces() -> Resource:
        return Resource("data")

    @staticmethod
    def keyspace(ks: str) -> Resource:
        return Resource(f"data/{ks}")

    @staticmethod
    def table(ks: str, table: str) -> Resource:
        return Resource(f"data/{ks}/{table}")

    @staticmethod
    def all_roles() -> Resource:
        return Resource("roles")

    @staticmethod
    def role(role: str) -> Resource:
        return Resource(f"roles/{role}")

    @staticmethod
    def parse(name: str) -> Resource | None:
        """The resource a stored name denotes; None for a name that is none of ours (a
        function, an MBean, or bad data in the table)."""
        if name.startswith("roles/") and len(name) > len("roles/") or name == "roles":
            return Resource(name)  # a role's name may hold any character, "/" too
        parts = name.split("/")
        if parts[0] == "data" and 1 <= len(parts) <= 3 and all(parts):
            return Resource(name)
        return None

    @property
    def parts(self) -> list[str]:
        if self.name.startswith("roles"):
            return self.name.split("/", 1)
        return self.name.split("/")

    def parent(self) -> Resource | None:
        parts = self.parts
        return Resource("/".join(parts[:-1])) if len(parts) > 1 else None

    def chain(self) -> list[Resource]:
        """This resource and its parents, nearest first (Cassandra's Resources.chain)."""
        out: list[Resource] = [self]
        while (p := out[-1].parent()) is not None:
            out.append(p)
        return out

    def covers(self, other: Resource) -> bool:
        """True if a grant on this resource applies to ``other`` (itself or below it)."""
        return self in other.chain()

    def applicable(self) -> frozenset[str]:
        parts = self.parts
        if parts[0] == "data":
            return _TABLE_LEVEL if len(parts) == 3 else _KEYSPACE_LEVEL
        return _ROLE_LEVEL if len(parts) == 2 else _ROLES_ROOT_LEVEL

    def type_name(self) -> str:
        """Cassandra's class name for the kind, as its messages print it."""
        return "DataResource" if self.parts[0] == "data" else "RoleResource"

    def __str__(self) -> str:
        parts = self.parts
        if parts[0] == "data":
            if len(parts) == 1:
                return "<all keyspaces>"
            if len(parts) == 2:
                return f"<keyspace {parts[1]}>"
            return f"<table {parts[1]}.{parts[2]}>"
        return "<all roles>" if len(parts) == 1 else f"<role {parts[1]}>"


def sort_permissions(perms: Iterable[str]) -> list[str]:
    return sorted(perms, key=lambda p: _ORDER.get(p, len(_ORDER)))


def granted_set(requested: tuple[str, ...] | None, resource: Resource) -> frozenset[str]:
    """The permissions a GRANT or REVOKE acts on: ``None`` is ALL (the applicable ones);
    others are filtered to the applicable ones, as Cassandra's parser does, and a request with
    none applicable is its SyntaxException."""
    if requested is None:
        return resource.applicable()
    filtered = frozenset(requested) & resource.applicable()
    if not filtered:
        raise errors.SyntaxException(f"Resource type {resource.type_name()} does not support "
                                     "any of the requested permissions")
    return filtered


@dataclass(frozen=True, slots=True)
class Need:
    permission: str
    resource: Resource


class _NoKeyspace(Exception):
    """A statement naming no keyspace on a connection without one: it needs nothing here, the
    executor answers it Cassandra's "No keyspace has been specified" error."""


def _ks(stmt_ks: str | None, keyspace: str | None) -> str:
    ks = stmt_ks or keyspace
    if not ks:
        raise _NoKeyspace
    return ks


def _table_need(perm: str, ks: str, table: str) -> Need | None:
    """The need of reading or changing a table; None when every role may (the system tables
    drivers read)."""
    if perm == "SELECT" and (ks in _READABLE_SYSTEM_KEYSPACES or
                             (ks == "system" and table in _READABLE_SYSTEM_TABLES)):
        return None
    return Need(perm, Resource.table(ks, table))


def _ddl_guard(perm: str, ks: str, resource: Resource) -> None:
    """Cassandra's preventSystemKSSchemaModification and protected auth schema."""
    if ks in _LOCAL_SYSTEM_KEYSPACES:
        raise errors.Unauthorized(f"{ks} keyspace is not user-modifiable.")
    if ks in _REPLICATED_SYSTEM_KEYSPACES:
        if perm == "ALTER" and len(resource.parts) == 2:
            return  # the replication of a replicated system keyspace may be changed
        raise errors.Unauthorized(f"Cannot {perm} {resource}")


def needs(stmt: ast.Statement, keyspace: str | None,
          index_table: Callable[[str, str], str | None]) -> list[Need]:
    """The (permission, resource) pairs ``stmt`` needs (see ``_needs``)."""
    try:
        return _needs(stmt, keyspace, index_table)
    except _NoKeyspace:
        return []


def _needs(stmt: ast.Statement, keyspace: str | None,
           index_table: Callable[[str, str], str | None]) -> list[Need]:
    """The (permission, resource) pairs ``stmt`` needs, run with ``keyspace`` as the
    connection's keyspace. ``index_table(ks, index)`` is the table an index is on (None if
    there is no such index: the statement then fails as it would without authorization).
    Raises Unauthorized for schema changes no role may make (system keyspaces)."""
    out: list[Need | None] = []
    if isinstance(stmt, ast.Select):
        out.append(_table_need("SELECT", _ks(stmt.keyspace, keyspace), stmt.table))
    elif isinstance(stmt, ast.Insert | ast.Update | ast.Delete):
        ks = _ks(stmt.keyspace, keyspace)
        out.append(_table_need("MODIFY", ks, stmt.table))
        conditional = (isinstance(stmt, ast.Insert) and stmt.if_not_exists) or \
            (isinstance(stmt, ast.Update | ast.Delete) and (stmt.if_exists or stmt.conditions))
        if conditional:  # a lightweight transaction reads too
            out.append(_table_need("SELECT", ks, stmt.table))
    elif isinstance(stmt, ast.Batch):
        for s in stmt.statements:
            out.extend(_needs(s, keyspace, index_table))
    elif isinstance(stmt, ast.Truncate):
        out.append(_table_need("MODIFY", _ks(stmt.keyspace, keyspace), stmt.name))
    elif isinstance(stmt, ast.CreateKeyspace):
        _ddl_guard("CREATE", stmt.name, Resource.keyspace(stmt.name))
        out.append(Need("CREATE", Resource.all_keyspaces()))
    elif isinstance(stmt, ast.AlterKeyspace):
        _ddl_guard("ALTER", stmt.name, Resource.keyspace(stmt.name))
        out.append(Need("ALTER", Resource.keyspace(stmt.name)))
    elif isinstance(stmt, ast.DropKeyspace):
        _ddl_guard("DROP", stmt.name, Resource.keyspace(stmt.name))
        out.append(Need("DROP", Resource.keyspace(stmt.name)))
    elif isinstance(stmt, ast.CreateTable):
        ks = _ks(stmt.keyspace, keyspace)
        _ddl_guard("CREATE", ks, Resource.keyspace(ks))
        out.append(Need("CREATE", Resource.keyspace(ks)))
    elif isinstance(stmt, ast.AlterTable | ast.DropTable):
        ks = _ks(stmt.keyspace, keyspace)
        perm = "ALTER" if isinstance(stmt, ast.AlterTable) else "DROP"
        _ddl_guard(perm, ks, Resource.table(ks, stmt.name))
        out.append(Need(perm, Resource.table(ks, stmt.name)))
    elif isinstance(stmt, ast.CreateType | ast.AlterType | ast.DropType):
        ks = _ks(stmt.keyspace, keyspace)
        perm = {ast.CreateType: "CREATE", ast.AlterType: "ALTER"}.get(type(stmt), "DROP")
        _ddl_guard(perm, ks, Resource.keyspace(ks))
        out.append(Need(perm, Resource.keyspace(ks)))
    elif isinstance(stmt, ast.CreateIndex):  # an index is a change of its table
        ks = _ks(stmt.keyspace, keyspace)
        _ddl_guard("ALTER", ks, Resource.table(ks, stmt.table))
        out.append(Need("ALTER", Resource.table(ks, stmt.table)))
    elif isinstance(stmt, ast.DropIndex):
        ks = _ks(stmt.keyspace, keyspace)
        table = index_table(ks, stmt.name)
        if table is not None:
            _ddl_guard("ALTER", ks, Resource.table(ks, table))
            out.append(Need("ALTER", Resource.table(ks, table)))
    # USE, DESCRIBE (which shows schema every role may read) and what is not built need none.
    return [n for n in out if n is not None]


def role_needs(kind: str, role: str | None) -> list[Need]:
    """Needs of the role statements (CREATE/ALTER/DROP ROLE, GRANT/REVOKE role, LIST ROLES),
    as Cassandra's RoleManagementStatements check them. ``kind`` is the statement's head."""
    if kind == "CREATE ROLE":
        return [Need("CREATE", Resource.all_roles())]
    assert role is not None or kind == "LIST ROLES", kind
    if kind == "ALTER ROLE":
        return [Need("ALTER", Resource.role(role or ""))]
    if kind == "DROP ROLE":
        return [Need("DROP", Resource.role(role or ""))]
    if kind in ("GRANT ROLE", "REVOKE ROLE"):
        return [Need("AUTHORIZE", Resource.role(role or ""))]
    assert kind == "LIST ROLES", kind
    return [Need("DESCRIBE", Resource.all_roles())]


def permission_management_needs(perms: frozenset[str], resource: Resource) -> list[Need]:
    """GRANT/REVOKE of ``perms`` on ``resource``: AUTHORIZE on it, and each permission given
    (a role cannot hand on what it does not hold)."""
    return [Need("AUTHORIZE", resource)] + [Need(p, resource) for p in sort_permissions(perms)]


Granted = Mapping[Resource, frozenset[str]]


def missing(granted: Granted, need: Need) -> bool:
    """True if no resource on ``need``'s chain holds its permission in ``granted``."""
    return not any(need.permission in granted.get(r, frozenset())
                   for r in need.resource.chain())


def unauthorized(user: str, need: Need) -> errors.Unauthorized:
    return errors.Unauthorized(f"User {user} has no {need.permission} permission on "
                               f"{need.resource} or any of its parents")


def check(user: str, granted: Granted, wanted: Iterable[Need]) -> None:
    """Raise Cassandra's Unauthorized for the first need ``granted`` does not cover."""
    for need in wanted:
        if missing(granted, need):
            raise unauthorized(user, need)


def created_resource(stmt: ast.Statement, keyspace: str | None) -> Resource | None:
    """What a successful CREATE makes, on which Cassandra grants its creator every applicable
    permission."""
    if isinstance(stmt, ast.CreateKeyspace):
        return Resource.keyspace(stmt.name)
    if isinstance(stmt, ast.CreateTable) and (stmt.keyspace or keyspace):
        return Resource.table(_ks(stmt.keyspace, keyspace), stmt.name)
    return None


def dropped_resource(stmt: ast.Statement, keyspace: str | None) -> Resource | None:
    """What a successful DROP removes, whose grants (and those below it) go with it."""
    if isinstance(stmt, ast.DropKeyspace):
        return Resource.keyspace(stmt.name)
    if isinstance(stmt, ast.DropTable) and (stmt.keyspace or keyspace):
        return Resource.table(_ks(stmt.keyspace, keyspace), stmt.name)
    return None


@dataclass(frozen=True, slots=True, order=True)
class PermissionRow:
    """One row of LIST PERMISSIONS, sorted as Cassandra's PermissionDetails sorts."""

    role: str
    resource: Resource
    order: int
    permission: str


def list_rows(grants: Mapping[str, Granted], perms: frozenset[str] | None,
              resource: Resource | None, recursive: bool) -> list[tuple[str, str, str, str]]:
    """LIST PERMISSIONS over ``grants`` (role -> resource -> permissions): the rows
    (role, username, resource, permission). ``perms`` None is ALL; ``resource`` None is every
    resource; ``recursive`` takes the resource's parents too."""
    wanted: set[Resource] | None = None
    if resource is not None:
        wanted = set(resource.chain()) if recursive else {resource}
    rows: list[PermissionRow] = []
    for role, granted in grants.items():
        for res, held in granted.items():
            if wanted is not None and res not in wanted:
                continue
            for p in held:
                if perms is None or p in perms:
                    rows.append(PermissionRow(role, res, _ORDER.get(p, len(_ORDER)), p))
    rows.sort()
    return [(r.role, r.role, str(r.resource), r.permission) for r in rows]
