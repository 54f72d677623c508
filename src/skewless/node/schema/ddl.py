"""Schema changes: one DDL statement applied to a ``Schema`` value, validated as Cassandra does.

``apply_ddl`` is pure: it takes the current schema and returns the new one (with its
content-derived version) plus the SchemaChange to report, or None when an ``IF [NOT] EXISTS``
clause made the statement a no-op (the caller then answers Void). Error classes and messages are
Cassandra 5.0's (``cql3/statements/schema/*Statement.java``).

Secondary indexes: CREATE INDEX records an IndexDef; each node then maintains and builds its local
index (``node.index_manager``, ``storage.index``) and queries use it (``node.index_read``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Literal

from skewless import errors
from skewless.cql import ast, counter_rules
from skewless.cql.results import SchemaChange
from skewless.node.schema import ddl_types, nts, table_options
from skewless.node.schema.ddl_columns import (
    build_columns,
    check_add_column,
    check_index_type,
    check_readd,
    index_target,
    resolve_type,
)
from skewless.node.schema.identifiers import quote_if_needed
from skewless.node.schema.system_tables import ALTERABLE_SYSTEM_KEYSPACES, stored_keyspace
from skewless.schema import (
    SYSTEM_KEYSPACES,
    ColumnDef,
    DroppedColumn,
    IndexDef,
    KeyspaceDef,
    Schema,
    TableDef,
    UserType,
)

DdlStatement = (
    ast.CreateKeyspace | ast.AlterKeyspace | ast.DropKeyspace | ast.CreateTable | ast.AlterTable
    | ast.DropTable | ast.CreateType | ast.AlterType | ast.DropType | ast.CreateIndex
    | ast.DropIndex
)
Outcome = tuple[Schema, SchemaChange | None]

SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"
LOCATOR_PREFIX = "org.apache.cassandra.locator."
_NAME = re.compile(r"^\w+$")
NAME_LENGTH_MAX = 48


def apply_ddl(
    schema: Schema, stmt: DdlStatement, current_keyspace: str | None, new_id: uuid.UUID,
    timestamp_us: int = 0, datacenters: frozenset[str] | None = None,
) -> Outcome:
    """Apply ``stmt`` to ``schema``; ``new_id`` becomes the id of a created table,
    ``timestamp_us`` the drop time of a dropped column (a write timestamp of this node).
    ``datacenters``: those of the cluster's nodes, for NetworkTopologyStrategy (None: any
    datacenter name is taken as valid and ``replication_factor`` expands to none)."""
    if isinstance(stmt, ast.CreateKeyspace):
        return _create_keyspace(schema, stmt, datacenters)
    if isinstance(stmt, ast.AlterKeyspace):
        return _alter_keyspace(schema, stmt, datacenters)
    if isinstance(stmt, ast.DropKeyspace):
        return _drop_keyspace(schema, stmt)
    if isinstance(stmt, ast.CreateTable):
        return _create_table(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace), new_id)
    if isinstance(stmt, ast.AlterTable):
        return _alter_table(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace),
                            timestamp_us)
    if isinstance(stmt, ast.DropTable):
        return _drop_table(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace))
    if isinstance(stmt, ast.CreateType):
        return _create_type(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace))
    if isinstance(stmt, ast.AlterType):
        keyspace = _keyspace_of(stmt.keyspace, current_keyspace)
        return ddl_types.alter_type(schema, stmt, keyspace, _references)
    if isinstance(stmt, ast.DropType):
        return _drop_type(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace))
    if isinstance(stmt, ast.CreateIndex):
        return _create_index(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace))
    return _drop_index(schema, stmt, _keyspace_of(stmt.keyspace, current_keyspace))


# ---------------------------------------------------------------- helpers


def _keyspace_of(given: str | None, current: str | None) -> str:
    keyspace = given if given is not None else current
    if keyspace is None:
        raise errors.InvalidRequest(
            "No keyspace has been specified. USE a keyspace, or explicitly specify "
            "keyspace.tablename")
    return keyspace


def _user_keyspace(schema: Schema, name: str) -> KeyspaceDef:
    """The keyspace a statement modifies: it must exist and not be a system keyspace."""
    if name in SYSTEM_KEYSPACES:
        raise errors.InvalidRequest(f"{name} keyspace is not user-modifiable")
    ks = schema.keyspace(name)
    if ks is None:
        raise errors.InvalidRequest(f"Keyspace '{name}' doesn't exist")
    return ks


def _valid_name(name: str) -> bool:
    """SchemaConstants.isValidName: 1 to 48 ASCII letters, digits and underscores."""
    return bool(name) and len(name) <= NAME_LENGTH_MAX and bool(_NAME.match(name)) \
        and name.isascii()


def _check_name(what: str, name: str) -> None:
    """Keyspace names as AlterSchemaStatement.validateKeyspaceName refuses them (Invalid),
    index names as before."""
    if not _valid_name(name):
        got = f"'{name}'" if what == "Keyspace" else f'"{name}"'
        raise errors.InvalidRequest(
            f"{what} name must not be empty, more than {NAME_LENGTH_MAX} characters long, or "
            f"contain non-alphanumeric-underscore characters (got {got})")


def _check_table_name(keyspace: str, name: str) -> None:
    """Table names as TableMetadata.validate refuses them: a ConfigurationException prefixed
    with the table's qualified name."""
    if not _valid_name(name):
        raise errors.ConfigurationException(
            f"{keyspace}.{name}: Table name must not be empty, more than {NAME_LENGTH_MAX} "
            f"characters long, or contain non-alphanumeric-underscore characters (got \"{name}\")")


def _done(schema: Schema, change: SchemaChange) -> Outcome:
    return schema.with_version(), change


def _replace_table(schema: Schema, table: TableDef) -> Schema:
    tables = tuple(
        table if (t.keyspace, t.name) == (table.keyspace, table.name) else t
        for t in schema.tables)
    return replace(schema, tables=tables)


# ---------------------------------------------------------------- keyspaces


def replication_items(
    given: tuple[tuple[str, str], ...], keyspace: str,
    datacenters: frozenset[str] | None = None, previous: dict[str, str] | None = None,
) -> tuple[tuple[str, str], ...]:
    """A validated replication map, class spelled in full, sorted with 'class' first.
    ``previous``: the keyspace's current map (ALTER KEYSPACE)."""
    options = dict(given)
    klass = options.pop("class", None)
    if klass is None:
        raise errors.ConfigurationException("Missing replication strategy class")
    full = klass if "." in klass else LOCATOR_PREFIX + klass
    if full == SIMPLE:
        _check_simple(options, keyspace)
    elif full == NTS:
        options = nts.prepare(options, previous, datacenters or frozenset())
        if datacenters is not None:
            nts.validate(options, datacenters, keyspace)
        _check_nts(options, keyspace)
    else:
        raise errors.ConfigurationException(f"Unable to find replication strategy class '{full}'")
    return (("class", full),) + tuple(sorted(options.items()))


def _check_rf(text: str) -> None:
    try:
        rf = int(text)
    except ValueError:
        raise errors.ConfigurationException(
            f"Replication factor must be numeric; found {text}") from None
    if rf < 0:
        raise errors.ConfigurationException(f"Replication factor must be non-negative; found {rf}")


def _check_simple(options: dict[str, str], keyspace: str) -> None:
    unknown = sorted(k for k in options if k != "replication_factor")
    if unknown:
        raise errors.ConfigurationException(
            f"Unrecognized strategy option {{{', '.join(unknown)}}} passed to SimpleStrategy for "
            f"keyspace {keyspace}")
    if "replication_factor" not in options:
        raise errors.ConfigurationException(
            "SimpleStrategy requires a replication_factor strategy option.")
    _check_rf(options["replication_factor"])


def _check_nts(options: dict[str, str], keyspace: str) -> None:
    for rf in options.values():
        _check_rf(rf)


def _create_keyspace(schema: Schema, stmt: ast.CreateKeyspace,
                     datacenters: frozenset[str] | None) -> Outcome:
    _check_name("Keyspace", stmt.name)
    if stmt.name in SYSTEM_KEYSPACES or schema.keyspace(stmt.name) is not None:
        if stmt.if_not_exists:
            return schema, None
        raise errors.AlreadyExists(
            f'Cannot add existing keyspace "{stmt.name}"', stmt.name, "")
    ks = KeyspaceDef(stmt.name, replication_items(stmt.replication, stmt.name, datacenters),
                     stmt.durable_writes)
    new = replace(schema, keyspaces=schema.keyspaces + (ks,))
    return _done(new, SchemaChange("CREATED", "KEYSPACE", stmt.name))


def _alter_keyspace(schema: Schema, stmt: ast.AlterKeyspace,
                    datacenters: frozenset[str] | None) -> Outcome:
    altered = stored_keyspace(schema, stmt.name) \
        if stmt.name in ALTERABLE_SYSTEM_KEYSPACES else None
    if altered is not None:  # system_auth: its replication may change, as Cassandra's
        if stmt.durable_writes is not None:
            raise errors.ConfigurationException(
                f"Cannot alter durable_writes of the {stmt.name} keyspace")
        if stmt.replication is not None:
            altered = replace(altered, replication=replication_items(
                stmt.replication, stmt.name, datacenters, altered.replication_map()))
        rest = tuple(k for k in schema.keyspaces if k.name != stmt.name)
        return _done(replace(schema, keyspaces=rest + (altered,)),
                     SchemaChange("UPDATED", "KEYSPACE", stmt.name))
    ks = _user_keyspace(schema, stmt.name)
    if stmt.replication is not None:
        ks = replace(ks, replication=replication_items(
            stmt.replication, stmt.name, datacenters, ks.replication_map()))
    if stmt.durable_writes is not None:
        ks = replace(ks, durable_writes=stmt.durable_writes)
    keyspaces = tuple(ks if k.name == stmt.name else k for k in schema.keyspaces)
    return _done(replace(schema, keyspaces=keyspaces), SchemaChange("UPDATED", "KEYSPACE", ks.name))


def _drop_keyspace(schema: Schema, stmt: ast.DropKeyspace) -> Outcome:
    if stmt.name in SYSTEM_KEYSPACES:
        raise errors.InvalidRequest(f"{stmt.name} keyspace is not user-modifiable")
    if schema.keyspace(stmt.name) is None:
        if stmt.if_exists:
            return schema, None
        raise errors.InvalidRequest(f"Keyspace '{stmt.name}' doesn't exist")
    name = stmt.name
    new = Schema(
        keyspaces=tuple(k for k in schema.keyspaces if k.name != name),
        tables=tuple(t for t in schema.tables if t.keyspace != name),
        types=tuple(t for t in schema.types if t.keyspace != name),
        indexes=tuple(i for i in schema.indexes if i.keyspace != name),
    )
    return _done(new, SchemaChange("DROPPED", "KEYSPACE", name))


# ---------------------------------------------------------------- tables


def _create_table(
    schema: Schema, stmt: ast.CreateTable, keyspace: str, new_id: uuid.UUID
) -> Outcome:
    _user_keyspace(schema, keyspace)
    _check_table_name(keyspace, stmt.name)
    if schema.table(keyspace, stmt.name) is not None:
        if stmt.if_not_exists:
            return schema, None
        raise errors.AlreadyExists(
            f'Cannot add already existing table "{stmt.name}" to keyspace "{keyspace}"',
            keyspace, stmt.name)
    if stmt.compact_storage:
        raise errors.InvalidRequest(
            "Compact tables are not allowed in Cassandra starting with 4.0 version.")
    options = table_options.create(stmt.options)
    columns = build_columns(schema, keyspace, stmt)
    table = TableDef(keyspace, stmt.name, new_id, columns, options)
    if counter_rules.is_counter_table(table):
        _check_counter_ttl(options)
    new = replace(schema, tables=schema.tables + (table,))
    return _done(new, SchemaChange("CREATED", "TABLE", keyspace, stmt.name))


def _check_counter_ttl(options: table_options.OptionItems) -> None:
    if dict(options)["default_time_to_live"] != 0:
        raise errors.InvalidRequest("Cannot set default_time_to_live on a table with counters")


def _existing_table(schema: Schema, keyspace: str, name: str) -> TableDef:
    _user_keyspace(schema, keyspace)
    table = schema.table(keyspace, name)
    if table is None:
        raise errors.InvalidRequest(f"Table '{keyspace}.{name}' doesn't exist")
    return table


def _alter_table(schema: Schema, stmt: ast.AlterTable, keyspace: str, timestamp_us: int
                 ) -> Outcome:
    table = _existing_table(schema, keyspace, stmt.name)
    if stmt.action == "ADD":
        table = _add_columns(schema, table, stmt.add_columns)
    elif stmt.action == "DROP":
        table = _drop_columns(schema, table, stmt.drop_columns, timestamp_us)
    elif stmt.action == "RENAME":
        schema, table = _rename_columns(schema, table, stmt.renames)
    elif stmt.action == "WITH":
        options = table_options.merge(table.options, stmt.options)
        if counter_rules.is_counter_table(table):
            _check_counter_ttl(options)
        table = replace(table, options=options)
    else:
        raise errors.InvalidRequest("Altering column types is no longer supported")
    new = _replace_table(schema, table)
    return _done(new, SchemaChange("UPDATED", "TABLE", keyspace, table.name))


def _add_columns(schema: Schema, table: TableDef, specs: tuple[ast.ColumnSpec, ...]) -> TableDef:
    columns = list(table.columns)
    for spec in specs:
        check_add_column(table, columns, spec)
        type_name = resolve_type(schema, table.keyspace, spec.type)
        check_readd(table, spec, type_name)
        columns.append(ColumnDef(
            spec.name, type_name, "static" if spec.static else "regular", -1, "none"))
    keys = [c for c in columns if c.kind in ("partition_key", "clustering")]
    rest = sorted((c for c in columns if c.kind in ("regular", "static")), key=lambda c: c.name)
    altered = replace(table, columns=tuple(keys + rest))
    counter_rules.check_added_columns(table, altered)
    return altered


def _drop_columns(schema: Schema, table: TableDef, names: tuple[str, ...], timestamp_us: int
                  ) -> TableDef:
    """``table`` without ``names``, each recorded as dropped at ``timestamp_us`` (its cells
    written until then are ignored for good)."""
    columns = list(table.columns)
    dropped = {d.name: d for d in table.dropped}
    for name in names:
        column = next((c for c in columns if c.name == name), None)
        if column is None:
            raise errors.InvalidRequest(f"Column {name} was not found in table '{table.name}'")
        if column.kind in ("partition_key", "clustering"):
            raise errors.InvalidRequest(f"Cannot drop PRIMARY KEY column {name}")
        if any(i.keyspace == table.keyspace and i.table == table.name
               and _index_column(i) == name for i in schema.indexes):
            raise errors.InvalidRequest(
                f"Cannot drop column {name} because it has dependent secondary indexes")
        columns.remove(column)
        dropped[name] = DroppedColumn(name, column.type, column.kind, timestamp_us)
    return replace(table, columns=tuple(columns),
                   dropped=tuple(dropped[n] for n in sorted(dropped)))


def _rename_columns(
    schema: Schema, table: TableDef, renames: tuple[tuple[str, str], ...]
) -> tuple[Schema, TableDef]:
    columns = list(table.columns)
    for old, new in renames:
        at = next((i for i, c in enumerate(columns) if c.name == old), None)
        if at is None:
            raise errors.InvalidRequest(f"Column {old} was not found in table {table.name}")
        if columns[at].kind not in ("partition_key", "clustering"):
            raise errors.InvalidRequest(f"Cannot rename non PRIMARY KEY column {old}")
        if any(c.name == new for c in columns):
            raise errors.InvalidRequest(
                f"Cannot rename column {old} to {new} in table '{table.name}'; another column "
                f"with that name already exists")
        columns[at] = replace(columns[at], name=new)
        schema = _rename_index_targets(schema, table, old, new)
    return schema, replace(table, columns=tuple(columns))


def _drop_table(schema: Schema, stmt: ast.DropTable, keyspace: str) -> Outcome:
    _user_keyspace(schema, keyspace)
    if schema.table(keyspace, stmt.name) is None:
        if stmt.if_exists:
            return schema, None
        raise errors.InvalidRequest(f"Table '{keyspace}.{stmt.name}' doesn't exist")
    new = replace(
        schema,
        tables=tuple(t for t in schema.tables if (t.keyspace, t.name) != (keyspace, stmt.name)),
        indexes=tuple(i for i in schema.indexes if (i.keyspace, i.table) != (keyspace, stmt.name)),
    )
    return _done(new, SchemaChange("DROPPED", "TABLE", keyspace, stmt.name))


# ---------------------------------------------------------------- user types


def _create_type(schema: Schema, stmt: ast.CreateType, keyspace: str) -> Outcome:
    _user_keyspace(schema, keyspace)
    if schema.user_type(keyspace, stmt.name) is not None:
        if stmt.if_not_exists:
            return schema, None
        raise errors.InvalidRequest(f"A user type with name '{stmt.name}' already exists")
    names = [n for n, _ in stmt.fields]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise errors.InvalidRequest(f"Duplicate field name '{name}' in type '{stmt.name}'")
    field_types = []
    for _, type_text in stmt.fields:
        resolved = resolve_type(schema, keyspace, type_text)
        if resolved == "counter":
            raise errors.InvalidRequest("A user type cannot contain counters")
        if _references(resolved, stmt.name):
            raise errors.InvalidRequest(f"Unknown type {keyspace}.{stmt.name}")
        field_types.append(resolved)
    udt = UserType(keyspace, stmt.name, tuple(names), tuple(field_types))
    new = replace(schema, types=schema.types + (udt,))
    return _done(new, SchemaChange("CREATED", "TYPE", keyspace, stmt.name))


def _references(type_text: str, udt_name: str) -> bool:
    """Whether a normalised type text mentions the user type ``udt_name``."""
    quoted = '"' + udt_name.replace('"', '""') + '"'
    pattern = rf"(?<![\w\"]){re.escape(udt_name)}(?![\w\"])|{re.escape(quoted)}"
    return re.search(pattern, type_text) is not None


def _drop_type(schema: Schema, stmt: ast.DropType, keyspace: str) -> Outcome:
    _user_keyspace(schema, keyspace)
    if schema.user_type(keyspace, stmt.name) is None:
        if stmt.if_exists:
            return schema, None
        raise errors.InvalidRequest(f"Type '{keyspace}.{stmt.name}' doesn't exist")
    users = [f"{keyspace}.{t.name}" for t in schema.types
             if t.keyspace == keyspace and any(_references(f, stmt.name) for f in t.field_types)]
    if users:
        raise errors.InvalidRequest(
            f"Cannot drop user type {keyspace}.{stmt.name} as it is still used by user types "
            f"{', '.join(users)}")
    tables = [f"{keyspace}.{t.name}" for t in schema.tables
              if t.keyspace == keyspace and any(_references(c.type, stmt.name) for c in t.columns)]
    if tables:
        raise errors.InvalidRequest(
            f"Cannot drop user type {keyspace}.{stmt.name} as it is still used by tables "
            f"{', '.join(tables)}")
    new = replace(schema, types=tuple(
        t for t in schema.types if (t.keyspace, t.name) != (keyspace, stmt.name)))
    return _done(new, SchemaChange("DROPPED", "TYPE", keyspace, stmt.name))


# ---------------------------------------------------------------- indexes


_TARGET = re.compile(r"^(values|keys|entries|full)\((.+)\)$", re.IGNORECASE)


def _index_column(index: IndexDef) -> str:
    target = dict(index.options).get("target", "")
    m = _TARGET.match(target)
    name = m.group(2) if m else target
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('""', '"')
    return name


def _rename_index_targets(schema: Schema, table: TableDef, old: str, new: str) -> Schema:
    def renamed(index: IndexDef) -> IndexDef:
        if (index.keyspace, index.table) != (table.keyspace, table.name):
            return index
        if _index_column(index) != old:
            return index
        target = dict(index.options)["target"]
        m = _TARGET.match(target)
        col = quote_if_needed(new)
        text = f"{m.group(1)}({col})" if m else col
        return replace(index, options=tuple(
            (k, text if k == "target" else v) for k, v in index.options))

    return replace(schema, indexes=tuple(renamed(i) for i in schema.indexes))


def _create_index(schema: Schema, stmt: ast.CreateIndex, keyspace: str) -> Outcome:
    _user_keyspace(schema, keyspace)
    table = schema.table(keyspace, stmt.table)
    if table is None:
        raise errors.InvalidRequest(f"Table '{stmt.table}' doesn't exist")
    kind, class_option = _index_class(stmt.custom_class)
    if stmt.name is not None and any(
            i.keyspace == keyspace and i.name == stmt.name for i in schema.indexes):
        if stmt.if_not_exists:
            return schema, None
        raise errors.InvalidRequest(f"Index '{stmt.name}' already exists")
    if any(c.type == "counter" for c in table.columns):
        raise errors.InvalidRequest("Secondary indexes on counter tables aren't supported")
    check_index_type(schema, table, stmt.target)
    target, column = index_target(table, stmt.target)
    name = stmt.name if stmt.name is not None else _default_index_name(schema, table, column)
    _check_name("Index", name)
    options = class_option + (("target", target),)
    for other in schema.indexes:
        if (other.keyspace, other.table) == (keyspace, table.name) and \
                (other.kind, other.options) == (kind, options):
            if stmt.if_not_exists:
                return schema, None
            raise errors.InvalidRequest(
                f"Index {name} is a duplicate of existing index {other.name}")
    index = IndexDef(keyspace, table.name, name, kind, options)
    new = replace(schema, indexes=schema.indexes + (index,))
    return _done(new, SchemaChange("UPDATED", "TABLE", keyspace, table.name))


SAI_CLASS = "org.apache.cassandra.index.sai.StorageAttachedIndex"
_SAI_NAMES = ("sai", "storageattachedindex", SAI_CLASS.lower())
_SASI_NAMES = ("sasiindex", "org.apache.cassandra.index.sasi.sasiindex")


def _index_class(
    name: str | None,
) -> tuple[Literal["COMPOSITES", "CUSTOM"], tuple[tuple[str, str], ...]]:
    """The kind and class option of an index ``USING`` ``name``: Cassandra 5's SAI (by its
    aliases) or the legacy index; SASI is disabled by default in Cassandra 5, others unknown."""
    if name is None or name.lower() == "legacy_local_table":
        return "COMPOSITES", ()
    if name.lower() in _SAI_NAMES:
        return "CUSTOM", (("class_name", SAI_CLASS),)
    if name.lower() in _SASI_NAMES:
        raise errors.InvalidRequest("SASI indexes are disabled. Enable in cassandra.yaml to use.")
    raise errors.InvalidRequest(f"Unable to find custom indexer class '{name}'")


def _default_index_name(schema: Schema, table: TableDef, column: str) -> str:
    base = re.sub(r"\W", "", f"{table.name}_{column}_idx")
    taken = {i.name for i in schema.indexes if i.keyspace == table.keyspace}
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _drop_index(schema: Schema, stmt: ast.DropIndex, keyspace: str) -> Outcome:
    _user_keyspace(schema, keyspace)
    index = next((i for i in schema.indexes if (i.keyspace, i.name) == (keyspace, stmt.name)), None)
    if index is None:
        if stmt.if_exists:
            return schema, None
        raise errors.InvalidRequest(f"Index '{keyspace}.{stmt.name}' doesn't exist")
    new = replace(schema, indexes=tuple(i for i in schema.indexes if i is not index))
    return _done(new, SchemaChange("UPDATED", "TABLE", keyspace, index.table))
