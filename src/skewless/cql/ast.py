"""The CQL abstract syntax tree: what the parser produces and the executor consumes.

All nodes are frozen, slotted dataclasses (values, like h11's events). Identifiers are already
normalised: unquoted identifiers lower-cased, quoted ones kept verbatim without their quotes.
Type names are normalised text as Cassandra writes them in system_schema.columns.type:
lower-case, ``varchar`` spelled ``text``, one space after each comma inside ``<>``
(``map<text, int>``, ``frozen<list<int>>``).

Bind markers are numbered in order of appearance across the whole statement (0-based), which is
the order of the bound values in EXECUTE; a named marker ``:name`` also carries its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as Lit

from skewless.cql.ast_roles import (  # noqa: F401  (re-exported: ast.CreateRole, ...)
    AlterRole,
    CreateRole,
    DropRole,
    GrantRole,
    ListRoles,
    RevokeRole,
    RoleOptions,
    RoleStatement,
)

# ---------------------------------------------------------------- terms (values in statements)

ConstantKind = Lit["string", "integer", "float", "boolean", "uuid", "hex", "null", "duration"]


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal. ``text`` is its source text, except for ``string`` where it is the unescaped
    content ('it''s' -> it's) and ``hex`` where it is the digits after 0x. ``boolean`` text is
    'true' or 'false' (lower-cased); ``null`` text is 'null'; ``float`` includes NaN/Infinity."""

    kind: ConstantKind
    text: str


@dataclass(frozen=True, slots=True)
class BindMarker:
    index: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionLiteral:
    """``[a, b]`` (list), ``{a, b}`` (set), ``{k: v}`` (map; items are 2-tuples). ``{}`` is a map
    literal with no items: the executor treats it as an empty set or map by the column type."""

    kind: Lit["list", "set", "map"]
    items: tuple[Term, ...] | tuple[tuple[Term, Term], ...]


@dataclass(frozen=True, slots=True)
class TupleLiteral:
    items: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class UdtLiteral:
    """``{field: value, ...}`` where keys are identifiers (not quoted strings)."""

    fields: tuple[tuple[str, Term], ...]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A function used as a value: now(), uuid(), toTimestamp(now()), currentTimestamp(),
    minTimeuuid('...'), token(?), ... ``name`` is lower-cased."""

    name: str
    args: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Cast:
    term: Term
    type: str


@dataclass(frozen=True, slots=True)
class TypeHint:
    """``(int) ?`` style type hints."""

    type: str
    term: Term


Term = (
    Constant
    | BindMarker
    | CollectionLiteral
    | TupleLiteral
    | UdtLiteral
    | FunctionCall
    | Cast
    | TypeHint
)

# ---------------------------------------------------------------- selectors


@dataclass(frozen=True, slots=True)
class ColumnRef:
    name: str


@dataclass(frozen=True, slots=True)
class CountStar:
    """COUNT(*) or COUNT(1)."""


@dataclass(frozen=True, slots=True)
class SelectorCall:
    """A function applied in a select list: writetime(c), ttl(c), token(a, b), count(c),
    min/max/sum/avg(c), toJson(c), now(), ... ``name`` is lower-cased."""

    name: str
    args: tuple[SelectorExpr, ...]


@dataclass(frozen=True, slots=True)
class SelectorCast:
    expr: SelectorExpr
    type: str


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """A constant or bind marker inside a selector function call."""

    term: Term


@dataclass(frozen=True, slots=True)
class SelectorElement:
    """``m['k']``: an element of a set or map (Cassandra 4.0+)."""

    expr: SelectorExpr
    key: Term


@dataclass(frozen=True, slots=True)
class SelectorSlice:
    """``m['a'..'c']``, ``s[..3]``: a slice of a set or map; a missing bound is None."""

    expr: SelectorExpr
    start: Term | None
    end: Term | None


@dataclass(frozen=True, slots=True)
class SelectorField:
    """``u.f``: a field of a user-defined type value."""

    expr: SelectorExpr
    field: str


SelectorExpr = (
    ColumnRef
    | CountStar
    | SelectorCall
    | SelectorCast
    | SelectorTerm
    | SelectorElement
    | SelectorSlice
    | SelectorField
)


@dataclass(frozen=True, slots=True)
class Selector:
    expr: SelectorExpr
    alias: str | None = None


# ---------------------------------------------------------------- WHERE and IF

RelationOp = Lit["=", "<", "<=", ">", ">=", "!=", "IN", "CONTAINS", "CONTAINS KEY", "LIKE",
                 "IS NOT"]


@dataclass(frozen=True, slots=True)
class TokenOf:
    """``token(a, b)`` on the left of a relation."""

    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldOf:
    """``u.f`` on the left of an IF condition: field ``field`` of UDT column ``column``."""

    column: str
    field: str


@dataclass(frozen=True, slots=True)
class Relation:
    """``lhs op rhs``.

    * lhs: a column name, a tuple of column names (multi-column relation ``(a, b) > (1, 2)``), a
      TokenOf, a (column, map key) pair for ``m['k'] = v`` conditions, or a FieldOf for
      ``u.f = v`` conditions (IF only).
    * rhs: a Term; for IN, a tuple of Terms or a single BindMarker (``IN ?``); for a multi-column
      relation, a TupleLiteral / tuple of TupleLiterals for IN / a BindMarker.
    """

    lhs: str | tuple[str, ...] | TokenOf | tuple[str, Term] | FieldOf
    op: RelationOp
    rhs: Term | tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Using:
    timestamp: Term | None = None
    ttl: Term | None = None
    timeout: Term | None = None  # Scylla's USING TIMEOUT; accepted and ignored


# ---------------------------------------------------------------- DML


@dataclass(frozen=True, slots=True)
class Assignment:
    """One SET item.

    * ``c = v``                  -> op 'set'
    * ``c = c + v`` (collections, counters) -> op 'add'
    * ``c = v + c`` (list prepend) -> op 'prepend'
    * ``c = c - v``              -> op 'sub'
    * ``c[k] = v``               -> op 'set_key' with key
    * ``c.field = v`` (UDT field) -> op 'set_field' with field
    """

    column: str
    op: Lit["set", "add", "prepend", "sub", "set_key", "set_field"]
    value: Term
    key: Term | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Insert:
    keyspace: str | None
    table: str
    columns: tuple[str, ...]
    values: tuple[Term, ...]  # empty when json is set
    using: Using = field(default_factory=Using)
    if_not_exists: bool = False
    json: Term | None = None  # INSERT JSON '...' (then columns/values are empty)
    json_default_unset: bool = False  # DEFAULT UNSET (DEFAULT NULL otherwise)


@dataclass(frozen=True, slots=True)
class Update:
    keyspace: str | None
    table: str
    assignments: tuple[Assignment, ...]
    where: tuple[Relation, ...]
    using: Using = field(default_factory=Using)
    if_exists: bool = False
    conditions: tuple[Relation, ...] = ()  # IF a = 1 AND b > 2


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    """``DELETE c`` or ``DELETE m['k']`` / ``DELETE l[0]``."""

    column: str
    key: Term | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    keyspace: str | None
    table: str
    targets: tuple[DeleteTarget, ...]  # empty: delete the whole row / partition / range
    where: tuple[Relation, ...]
    using: Using = field(default_factory=Using)
    if_exists: bool = False
    conditions: tuple[Relation, ...] = ()


@dataclass(frozen=True, slots=True)
class Select:
    keyspace: str | None
    table: str
    selectors: tuple[Selector, ...]  # empty means '*'
    where: tuple[Relation, ...] = ()
    distinct: bool = False
    json: bool = False
    group_by: tuple[str, ...] = ()
    order_by: tuple[tuple[str, Lit["ASC", "DESC"]], ...] = ()
    per_partition_limit: Term | None = None
    limit: Term | None = None
    allow_filtering: bool = False
    using: Using = field(default_factory=Using)


@dataclass(frozen=True, slots=True)
class Batch:
    kind: Lit["LOGGED", "UNLOGGED", "COUNTER"]
    statements: tuple[Insert | Update | Delete, ...]
    using: Using = field(default_factory=Using)


# ---------------------------------------------------------------- DDL and others


@dataclass(frozen=True, slots=True)
class Use:
    keyspace: str


@dataclass(frozen=True, slots=True)
class CreateKeyspace:
    name: str
    replication: tuple[tuple[str, str], ...]  # map items, values as strings ('3', not 3)
    durable_writes: bool = True
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class AlterKeyspace:
    name: str
    replication: tuple[tuple[str, str], ...] | None
    durable_writes: bool | None = None


@dataclass(frozen=True, slots=True)
class DropKeyspace:
    name: str
    if_exists: bool = False


OptionValue = str | int | float | bool | tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: str  # normalised type text
    static: bool = False


@dataclass(frozen=True, slots=True)
class CreateTable:
    keyspace: str | None
    name: str
    columns: tuple[ColumnSpec, ...]  # in declaration order
    partition_key: tuple[str, ...]
    clustering: tuple[str, ...]
    clustering_order: tuple[tuple[str, Lit["ASC", "DESC"]], ...] = ()
    options: tuple[tuple[str, OptionValue], ...] = ()  # WITH k = v (maps as item tuples)
    if_not_exists: bool = False
    compact_storage: bool = False


@dataclass(frozen=True, slots=True)
class AlterTable:
    keyspace: str | None
    name: str
    action: Lit["ADD", "DROP", "RENAME", "WITH", "ALTER"]
    add_columns: tuple[ColumnSpec, ...] = ()
    drop_columns: tuple[str, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, OptionValue], ...] = ()
    drop_timestamp: int | None = None  # DROP ... USING TIMESTAMP: the recorded drop time (us)


@dataclass(frozen=True, slots=True)
class DropTable:
    keyspace: str | None
    name: str
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class Truncate:
    keyspace: str | None
    name: str


@dataclass(frozen=True, slots=True)
class CreateType:
    keyspace: str | None
    name: str
    fields: tuple[tuple[str, str], ...]
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class AlterType:
    """``ALTER TYPE [IF EXISTS] t ADD [IF NOT EXISTS] f type`` / ``RENAME [IF EXISTS] f TO g
    [AND ...]`` / ``ALTER f TYPE type`` (refused, as in Cassandra 4+). ``if_field`` is the
    field-level IF [NOT] EXISTS."""

    keyspace: str | None
    name: str
    action: Lit["ADD", "RENAME", "ALTER"]
    field: str = ""
    type: str = ""
    renames: tuple[tuple[str, str], ...] = ()
    if_exists: bool = False
    if_field: bool = False


@dataclass(frozen=True, slots=True)
class DropType:
    keyspace: str | None
    name: str
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class CreateIndex:
    keyspace: str | None
    table: str
    name: str | None
    target: str  # column name, or 'values(c)', 'keys(c)', 'entries(c)', 'full(c)'
    if_not_exists: bool = False
    custom_class: str | None = None


@dataclass(frozen=True, slots=True)
class DropIndex:
    keyspace: str | None
    name: str
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class Describe:
    """Server-side DESCRIBE. kind: 'KEYSPACES', 'KEYSPACE', 'TABLES', 'TABLE', 'TYPES', 'TYPE',
    'FUNCTIONS', 'AGGREGATES', 'CLUSTER', 'SCHEMA', 'INDEX', 'MATERIALIZED VIEW', 'NAME'
    (bare ``DESCRIBE x``). ``keyspace``/``name`` as given."""

    kind: str
    keyspace: str | None = None
    name: str | None = None
    full: bool = False
    only: bool = False


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A statement the grammar recognises but Skewless has not built (CREATE FUNCTION,
    CREATE MATERIALIZED VIEW, GRANT, ...). ``feature`` names it for the Invalid error.
    ``if_exists``: a DROP ... IF EXISTS, which succeeds (nothing of that kind can exist)."""

    feature: str
    if_exists: bool = False


# ---------------------------------------------------------------- permissions (issue 12)


@dataclass(frozen=True, slots=True)
class AuthResource:
    """A resource as written: kind 'all_keyspaces', 'keyspace', 'table' (keyspace may be None:
    the connection's), 'all_roles', 'role'; or 'functions' / 'mbeans' (not built)."""

    kind: Lit["all_keyspaces", "keyspace", "table", "all_roles", "role", "functions", "mbeans"]
    keyspace: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Permissions:
    """GRANT / REVOKE / LIST of permissions. ``permissions`` None is ALL [PERMISSIONS]."""

    action: Lit["GRANT", "REVOKE", "LIST"]
    permissions: tuple[str, ...] | None
    resource: AuthResource | None  # None only for LIST (every resource)
    role: str | None  # the grantee (LIST ... OF role: None for every role)
    recursive: bool = True  # LIST ... NORECURSIVE: False


Statement = (
    Select
    | Insert
    | Update
    | Delete
    | Batch
    | Use
    | CreateKeyspace
    | AlterKeyspace
    | DropKeyspace
    | CreateTable
    | AlterTable
    | DropTable
    | Truncate
    | CreateType
    | AlterType
    | DropType
    | CreateIndex
    | DropIndex
    | Describe
    | Permissions
    | Unsupported
    | RoleStatement
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed statement and the number of bind markers it holds (with their names)."""

    statement: Statement
    bind_count: int
    bind_names: tuple[str | None, ...]
