"""Builder callbacks for whole statements (see parser.py and parser_terms.py).

Checks that Cassandra makes while reading a statement, before it looks at the schema
(one PRIMARY KEY, no duplicate columns, ``c = c + v`` naming the same column, ...), are made
here and raise InvalidRequest or SyntaxException with Cassandra's wording.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from lark import Token, v_args

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser_terms import TermBuilder, unquote_string
from skewless.cql.update_ops import check_compatible

Qualified = tuple[str | None, str]
Property = tuple[str, ast.OptionValue]
IfClause = bool | tuple[ast.Relation, ...] | None
Direction = Literal["ASC", "DESC"]
Ordering = tuple[str, Direction]
AlterAction = Literal["ADD", "DROP", "RENAME", "WITH", "ALTER"]
BatchKind = Literal["UNLOGGED", "COUNTER"]


@dataclass(frozen=True, slots=True)
class _InsertBody:
    columns: tuple[str, ...]
    values: tuple[ast.Term, ...]
    json: ast.Term | None = None
    json_default_unset: bool = False


@dataclass(frozen=True, slots=True)
class _ColumnDef:
    spec: ast.ColumnSpec
    primary_key: bool


@dataclass(frozen=True, slots=True)
class _PrimaryKey:
    partition: tuple[str, ...]
    clustering: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _TableOptions:
    options: tuple[Property, ...] = ()
    clustering_order: tuple[Ordering, ...] | None = None
    compact_storage: bool = False


def _if_fields(clause: IfClause) -> tuple[bool, tuple[ast.Relation, ...]]:
    """(if_exists, conditions) from the optional IF clause of UPDATE and DELETE."""
    if isinstance(clause, tuple):
        return False, clause
    return bool(clause), ()


def _option_text(value: ast.OptionValue) -> str:
    """A replication or map option value as Cassandra stores it: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        raise errors.SyntaxException("A map option cannot contain a map")
    return str(value)


def _boolean_option(name: str, value: ast.OptionValue) -> bool:
    text = _option_text(value).lower()
    if text not in ("true", "false"):
        raise errors.SyntaxException(f"Invalid boolean value {text} for '{name}'")
    return text == "true"


def _keyspace_options(
    props: tuple[Property, ...],
) -> tuple[tuple[tuple[str, str], ...] | None, bool | None]:
    """(replication, durable_writes) from CREATE/ALTER KEYSPACE properties."""
    replication: tuple[tuple[str, str], ...] | None = None
    durable_writes: bool | None = None
    for name, value in props:
        if name == "replication":
            if not isinstance(value, tuple):
                raise errors.SyntaxException("Invalid value for property 'replication': not a map")
            replication = value
        elif name == "durable_writes":
            durable_writes = _boolean_option(name, value)
        else:
            raise errors.SyntaxException(f"Unknown property '{name}'")
    return replication, durable_writes


def _primary_key(elements: tuple[_ColumnDef | _PrimaryKey, ...]) -> _PrimaryKey:
    keys = [e for e in elements if isinstance(e, _PrimaryKey)]
    keys += [_PrimaryKey((e.spec.name,), ()) for e in elements if isinstance(e, _ColumnDef)
             and e.primary_key]
    if not keys:
        raise errors.InvalidRequest("No PRIMARY KEY specifed (exactly one required)")
    if len(keys) > 1:
        raise errors.InvalidRequest("Multiple PRIMARY KEYs specifed (exactly one required)")
    return keys[0]


def _check_table(
    columns: tuple[ast.ColumnSpec, ...], key: _PrimaryKey, order: tuple[Ordering, ...]
) -> None:
    names = [c.name for c in columns]
    for name in names:
        if names.count(name) > 1:
            raise errors.InvalidRequest(f"Multiple definition of identifier {name}")
    key_names = key.partition + key.clustering
    for name in key_names:
        if name not in names:
            raise errors.InvalidRequest(f"Unknown definition {name} referenced in PRIMARY KEY")
        if key_names.count(name) > 1:
            raise errors.InvalidRequest(f"Duplicate definition for {name} in PRIMARY KEY")
    for spec in columns:
        if spec.static and spec.name in key_names:
            raise errors.InvalidRequest(
                f"Static column {spec.name} cannot be part of the PRIMARY KEY"
            )
    ordered = tuple(name for name, _ in order)
    if ordered and ordered != key.clustering[: len(ordered)]:
        raise errors.InvalidRequest(
            "Only clustering key columns can be defined in CLUSTERING ORDER directive, "
            "in the order of the PRIMARY KEY"
        )


def _alter(action: AlterAction, **kw: object) -> ast.AlterTable:
    return ast.AlterTable(None, "", action, **kw)  # type: ignore[arg-type]


@v_args(inline=True)
class StatementBuilder(TermBuilder):
    """All callbacks: TermBuilder's plus one per statement rule."""

    def start(self, statement: ast.Statement) -> ast.Statement:
        return statement

    # ------------------------------------------------------------ SELECT

    def json(self) -> bool:
        return True

    def distinct(self) -> bool:
        return True

    def allow_filtering(self) -> bool:
        return True

    def group_by(self, *names: str) -> tuple[str, ...]:
        return names

    def group_fn(self, name: str, column: str, *args: object) -> str:
        raise errors.unsupported(f"GROUP BY a function of a column ({name}({column}, ...))")

    def direction(self, token: Token) -> Direction:
        return "ASC" if token.upper() == "ASC" else "DESC"

    def ordering(self, name: str, direction: Direction | None) -> Ordering:
        return name, direction or "ASC"

    def ordering_ann(self, name: str, _vector: ast.Term) -> Ordering:
        """Cassandra 5's vector search needs a storage-attached index, which is not built."""
        raise errors.unsupported(f"ORDER BY {name} ANN OF (vector search)")

    def order_by(self, *items: Ordering) -> tuple[Ordering, ...]:
        return items

    def per_partition_limit(self, value: ast.Term) -> ast.Term:
        return value

    def limit(self, value: ast.Term) -> ast.Term:
        return value

    def select_using(self, timeout: ast.Term) -> ast.Using:
        return ast.Using(timeout=timeout)

    def select_stmt(
        self, json: bool | None, distinct: bool | None, selectors: tuple[ast.Selector, ...],
        table: Qualified, where: tuple[ast.Relation, ...] | None,
        group_by: tuple[str, ...] | None, order_by: tuple[Ordering, ...] | None,
        per_partition_limit: ast.Term | None, limit: ast.Term | None,
        allow_filtering: bool | None, using: ast.Using | None,
    ) -> ast.Select:
        return ast.Select(
            table[0], table[1], selectors, where or (), bool(distinct), bool(json),
            group_by or (), order_by or (), per_partition_limit, limit, bool(allow_filtering),
            using or ast.Using(),
        )

    # ------------------------------------------------------------ USING

    def using_item(self, keyword: Token, value: ast.Term) -> tuple[str, ast.Term]:
        return keyword.lower(), value

    def using(self, *items: tuple[str, ast.Term]) -> ast.Using:
        seen = [name for name, _ in items]
        for name in seen:
            if seen.count(name) > 1:
                raise errors.InvalidRequest(f"USING {name.upper()} was given more than once")
        return ast.Using(**dict(items))

    # ------------------------------------------------------------ INSERT

    def insert_values(self, columns: tuple[str, ...], values: tuple[ast.Term, ...]) -> _InsertBody:
        if len(columns) != len(values):
            raise errors.InvalidRequest("Unmatched column names/values")
        if len(set(columns)) != len(columns):
            raise errors.InvalidRequest("The column names contains duplicates")
        return _InsertBody(columns, values)

    def json_default(self, _default: Token, choice: Token) -> bool:
        return choice.upper() == "UNSET"

    def insert_json(self, value: ast.Term, default_unset: bool | None) -> _InsertBody:
        return _InsertBody((), (), value, bool(default_unset))

    def insert_stmt(
        self, table: Qualified, body: _InsertBody, if_not_exists: bool | None,
        using: ast.Using | None,
    ) -> ast.Insert:
        return ast.Insert(
            table[0], table[1], body.columns, body.values, using or ast.Using(),
            bool(if_not_exists), body.json, body.json_default_unset,
        )

    # ------------------------------------------------------------ UPDATE

    def assign_set(self, column: str, value: ast.Term) -> ast.Assignment:
        return ast.Assignment(column, "set", value)

    def assign_add(self, column: str, same: str, value: ast.Term) -> ast.Assignment:
        _same_column(column, same)
        return ast.Assignment(column, "add", value)

    def assign_sub(self, column: str, same: str, value: ast.Term) -> ast.Assignment:
        _same_column(column, same)
        return ast.Assignment(column, "sub", value)

    def assign_prepend(self, column: str, value: ast.Term, same: str) -> ast.Assignment:
        _same_column(column, same)
        return ast.Assignment(column, "prepend", value)

    def assign_key(self, column: str, key: ast.Term, value: ast.Term) -> ast.Assignment:
        return ast.Assignment(column, "set_key", value, key=key)

    def assign_field(self, column: str, field: str, value: ast.Term) -> ast.Assignment:
        return ast.Assignment(column, "set_field", value, field=field)

    def assignments(self, *items: ast.Assignment) -> tuple[ast.Assignment, ...]:
        return items

    def update_stmt(
        self, table: Qualified, using: ast.Using | None, assignments: tuple[ast.Assignment, ...],
        where: tuple[ast.Relation, ...], if_clause: IfClause,
    ) -> ast.Update:
        if_exists, conditions = _if_fields(if_clause)
        check_compatible(assignments)
        return ast.Update(
            table[0], table[1], assignments, where, using or ast.Using(), if_exists, conditions
        )

    # ------------------------------------------------------------ DELETE and BATCH

    def delete_target(self, column: str, key: ast.Term | None) -> ast.DeleteTarget:
        return ast.DeleteTarget(column, key)

    def delete_targets(self, *targets: ast.DeleteTarget) -> tuple[ast.DeleteTarget, ...]:
        return targets

    def delete_stmt(
        self, targets: tuple[ast.DeleteTarget, ...] | None, table: Qualified,
        using: ast.Using | None, where: tuple[ast.Relation, ...], if_clause: IfClause,
    ) -> ast.Delete:
        if using is not None and using.ttl is not None:  # Cassandra's grammar: TIMESTAMP only
            raise errors.SyntaxException("mismatched input 'TTL' expecting K_TIMESTAMP")
        if_exists, conditions = _if_fields(if_clause)
        return ast.Delete(
            table[0], table[1], targets or (), where, using or ast.Using(), if_exists, conditions
        )

    def batch_kind(self, token: Token) -> BatchKind:
        return "UNLOGGED" if token.upper() == "UNLOGGED" else "COUNTER"

    def batch_items(
        self, *statements: ast.Insert | ast.Update | ast.Delete
    ) -> tuple[ast.Insert | ast.Update | ast.Delete, ...]:
        return statements

    def batch_stmt(
        self, kind: BatchKind | None, using: ast.Using | None,
        statements: tuple[ast.Insert | ast.Update | ast.Delete, ...],
    ) -> ast.Batch:
        return ast.Batch(kind or "LOGGED", statements, using or ast.Using())

    def use_stmt(self, keyspace: str) -> ast.Use:
        return ast.Use(keyspace)

    # ------------------------------------------------------------ options

    def option_string(self, token: Token) -> str:
        return unquote_string(token)

    def option_dollar(self, token: Token) -> str:
        return token[2:-2]

    def option_int(self, token: Token) -> int:
        return int(token)

    def option_float(self, token: Token) -> float:
        return float(token)

    def option_true(self) -> bool:
        return True

    def option_false(self) -> bool:
        return False

    def option_word(self, word: str) -> str:
        return word

    def option_pair(self, key: ast.OptionValue, value: ast.OptionValue) -> tuple[str, str]:
        return _option_text(key), _option_text(value)

    def option_map(self, *pairs: tuple[str, str] | None) -> tuple[tuple[str, str], ...]:
        items = tuple(p for p in pairs if p is not None)
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise errors.SyntaxException("Duplicate key in option map")
        return items

    def property(self, name: str, value: ast.OptionValue) -> Property:
        return name, value

    def properties(self, *props: Property) -> tuple[Property, ...]:
        names = [name for name, _ in props]
        for name in names:
            if names.count(name) > 1:
                raise errors.SyntaxException(f"Multiple definition for property {name}")
        return props

    # ------------------------------------------------------------ keyspaces

    def create_keyspace(
        self, if_not_exists: bool | None, name: str, props: tuple[Property, ...]
    ) -> ast.CreateKeyspace:
        replication, durable_writes = _keyspace_options(props)
        return ast.CreateKeyspace(
            name, replication or (), True if durable_writes is None else durable_writes,
            bool(if_not_exists),
        )

    def alter_keyspace(self, name: str, props: tuple[Property, ...]) -> ast.AlterKeyspace:
        replication, durable_writes = _keyspace_options(props)
        return ast.AlterKeyspace(name, replication, durable_writes)

    def drop_keyspace(self, if_exists: bool | None, name: str) -> ast.DropKeyspace:
        return ast.DropKeyspace(name, bool(if_exists))

    # ------------------------------------------------------------ CREATE TABLE

    def static(self) -> bool:
        return True

    def inline_pk(self) -> bool:
        return True

    def column_def(
        self, name: str, type_text: str, static: bool | None, primary_key: bool | None
    ) -> _ColumnDef:
        return _ColumnDef(ast.ColumnSpec(name, type_text, bool(static)), bool(primary_key))

    def pk_single(self, name: str) -> tuple[str, ...]:
        return (name,)

    def pk_composite(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return names

    def pk_def(self, partition: tuple[str, ...], clustering: tuple[str, ...] | None) -> _PrimaryKey:
        return _PrimaryKey(partition, clustering or ())

    def table_elements(
        self, *elements: _ColumnDef | _PrimaryKey
    ) -> tuple[_ColumnDef | _PrimaryKey, ...]:
        return elements

    def clustering_order(self, *items: Ordering) -> _TableOptions:
        return _TableOptions(clustering_order=items)

    def compact_storage(self) -> _TableOptions:
        return _TableOptions(compact_storage=True)

    def table_options(self, *items: _TableOptions | Property) -> _TableOptions:
        out = _TableOptions()
        for item in items:
            if isinstance(item, tuple):
                out = replace(out, options=out.options + (item,))
            elif item.compact_storage:
                out = replace(out, compact_storage=True)
            else:
                if out.clustering_order is not None:
                    raise errors.SyntaxException("Multiple CLUSTERING ORDER BY clauses")
                out = replace(out, clustering_order=item.clustering_order)
        self.properties(*out.options)
        return out

    def create_table(
        self, if_not_exists: bool | None, table: Qualified,
        elements: tuple[_ColumnDef | _PrimaryKey, ...], options: _TableOptions | None,
    ) -> ast.CreateTable:
        options = options or _TableOptions()
        columns = tuple(e.spec for e in elements if isinstance(e, _ColumnDef))
        key = _primary_key(elements)
        order = options.clustering_order or ()
        _check_table(columns, key, order)
        return ast.CreateTable(
            table[0], table[1], columns, key.partition, key.clustering, order,
            options.options, bool(if_not_exists), options.compact_storage,
        )

    # ------------------------------------------------------------ ALTER, DROP, TRUNCATE

    def column_spec(self, name: str, type_text: str, static: bool | None) -> ast.ColumnSpec:
        return ast.ColumnSpec(name, type_text, bool(static))

    def rename(self, old: str, new: str) -> tuple[str, str]:
        return old, new

    def alter_add(self, *specs: ast.ColumnSpec) -> ast.AlterTable:
        return _alter("ADD", add_columns=specs)

    def drop_timestamp(self, value: ast.Constant) -> int:
        return int(value.text)

    def alter_drop(self, name: str, ts: int | None) -> ast.AlterTable:
        return _alter("DROP", drop_columns=(name,), drop_timestamp=ts)

    def alter_drop_many(self, names: tuple[str, ...], ts: int | None) -> ast.AlterTable:
        return _alter("DROP", drop_columns=names, drop_timestamp=ts)

    def alter_rename(self, *renames: tuple[str, str]) -> ast.AlterTable:
        return _alter("RENAME", renames=renames)

    def alter_with(self, options: _TableOptions) -> ast.AlterTable:
        if options.clustering_order is not None or options.compact_storage:
            raise errors.InvalidRequest(
                "CLUSTERING ORDER and COMPACT STORAGE cannot be changed by ALTER TABLE"
            )
        return _alter("WITH", options=options.options)

    def alter_type(self, name: str, type_text: str) -> ast.AlterTable:
        return _alter("ALTER", add_columns=(ast.ColumnSpec(name, type_text),))

    def alter_table(self, table: Qualified, action: ast.AlterTable) -> ast.AlterTable:
        return replace(action, keyspace=table[0], name=table[1])

    def drop_table(self, if_exists: bool | None, table: Qualified) -> ast.DropTable:
        return ast.DropTable(table[0], table[1], bool(if_exists))

    def truncate_stmt(self, table: Qualified) -> ast.Truncate:
        return ast.Truncate(table[0], table[1])

    # ------------------------------------------------------------ types and indexes

    def type_field(self, name: str, type_text: str) -> tuple[str, str]:
        return name, type_text

    def type_fields(self, *fields: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        names = [name for name, _ in fields]
        for name in names:
            if names.count(name) > 1:
                raise errors.InvalidRequest(f"Duplicate field name {name} in type")
        return fields

    def create_type(
        self, if_not_exists: bool | None, name: Qualified, fields: tuple[tuple[str, str], ...]
    ) -> ast.CreateType:
        return ast.CreateType(name[0], name[1], fields, bool(if_not_exists))

    def alter_type_field(self, field: str, type_text: str) -> ast.AlterType:
        return ast.AlterType(None, "", "ALTER", field, type_text)

    def alter_type_add(self, if_not_exists: bool | None, field: str, type_text: str
                       ) -> ast.AlterType:
        return ast.AlterType(None, "", "ADD", field, type_text, if_field=bool(if_not_exists))

    def alter_type_rename(self, if_exists: bool | None, *renames: tuple[str, str]
                          ) -> ast.AlterType:
        return ast.AlterType(None, "", "RENAME", renames=renames, if_field=bool(if_exists))

    def alter_type_stmt(self, if_exists: bool | None, name: Qualified, action: ast.AlterType
                        ) -> ast.AlterType:
        return replace(action, keyspace=name[0], name=name[1], if_exists=bool(if_exists))

    def drop_type(self, if_exists: bool | None, name: Qualified) -> ast.DropType:
        return ast.DropType(name[0], name[1], bool(if_exists))

    def custom(self) -> bool:
        return True

    def index_using(self, class_name: Token, _options: object) -> str:
        return unquote_string(class_name)

    def create_index(
        self, custom: bool | None, if_not_exists: bool | None, name: str | None,
        table: Qualified, target: str, custom_class: str | None,
    ) -> ast.CreateIndex:
        if custom and custom_class is None:
            raise errors.InvalidRequest("CUSTOM index requires specifying the index class")
        if custom_class is not None and not custom and \
                custom_class.lower() not in ("sai", "legacy_local_table"):  # Cassandra 5 aliases
            raise errors.InvalidRequest("Cannot specify index class for a non-CUSTOM index")
        return ast.CreateIndex(table[0], table[1], name, target, bool(if_not_exists), custom_class)

    def drop_index(self, if_exists: bool | None, name: Qualified) -> ast.DropIndex:
        return ast.DropIndex(name[0], name[1], bool(if_exists))


def _same_column(column: str, other: str) -> None:
    if column != other:
        raise errors.InvalidRequest(
            f"Only expressions of the form X = X +/- <value> or X = <value> + X are supported "
            f"({column} vs {other})"
        )
