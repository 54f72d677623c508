"""AST of the role statements (issue 12): CREATE/ALTER/DROP ROLE and USER, LIST ROLES/USERS,
GRANT/REVOKE role. Names are as written: unquoted identifiers lower-cased, strings as is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoleOptions:
    """WITH options; None where the statement does not give one."""

    password: str | None = None
    login: bool | None = None
    superuser: bool | None = None
    options: tuple[tuple[str, str], ...] | None = None  # OPTIONS = {...} (custom options)


@dataclass(frozen=True, slots=True)
class CreateRole:
    name: str
    options: RoleOptions
    if_not_exists: bool = False
    user: bool = False  # CREATE USER: LOGIN true, and Cassandra's USER wording


@dataclass(frozen=True, slots=True)
class AlterRole:
    name: str
    options: RoleOptions
    if_exists: bool = False
    user: bool = False


@dataclass(frozen=True, slots=True)
class DropRole:
    name: str
    if_exists: bool = False
    user: bool = False


@dataclass(frozen=True, slots=True)
class ListRoles:
    of: str | None = None
    recursive: bool = True
    users: bool = False  # LIST USERS


@dataclass(frozen=True, slots=True)
class GrantRole:
    role: str
    grantee: str


@dataclass(frozen=True, slots=True)
class RevokeRole:
    role: str
    revokee: str


RoleStatement = CreateRole | AlterRole | DropRole | ListRoles | GrantRole | RevokeRole
ROLE_STATEMENT_CLASSES = (CreateRole, AlterRole, DropRole, ListRoles, GrantRole, RevokeRole)
