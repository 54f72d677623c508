"""ALTER TYPE: a user type's fields added or renamed (split out of ``ddl.py``).

Stored values need no rewrite. A frozen UDT value is its fields' [bytes] in order, and a value
written before an ADD simply ends early: ``UdtType.deserialize`` reads the missing trailing
fields as null. A non-frozen UDT column keeps one cell per field whose path is the field's
position, so a RENAME (same positions) and an ADD (a new last position) leave old cells valid.

Rules and messages are Cassandra 5.0's (``AlterTypeStatement``): the ADD of a field that exists,
of one whose type refers back to the type, or to a type used in a partition key is refused;
RENAME of an unknown field ("Unkown field", Cassandra's spelling) or into a duplicate is refused;
ALTER of a field's type is no longer supported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from skewless import errors
from skewless.cql import ast
from skewless.cql.results import SchemaChange
from skewless.node.schema.ddl_columns import resolve_type
from skewless.node.schema.identifiers import quote_if_needed
from skewless.schema import SYSTEM_KEYSPACES, Schema, UserType

Outcome = tuple[Schema, SchemaChange | None]
References = Callable[[str, str], bool]


def alter_type(schema: Schema, stmt: ast.AlterType, keyspace: str, references: References
                ) -> Outcome:
    """Apply ``stmt`` to the type ``keyspace.stmt.name``. ``references(type_text, udt_name)``
    tells whether a normalised type text mentions a user type (ddl.py's helper)."""
    if keyspace in SYSTEM_KEYSPACES:
        raise errors.InvalidRequest(f"{keyspace} keyspace is not user-modifiable")
    udt = schema.user_type(keyspace, stmt.name)
    if udt is None:
        if stmt.if_exists:
            return schema, None
        raise errors.InvalidRequest(f"Type {keyspace}.{stmt.name} doesn't exist")
    if stmt.action == "ALTER":
        raise errors.InvalidRequest("Altering field types is no longer supported")
    if stmt.action == "ADD":
        new = _add_field(schema, udt, stmt, references)
    else:
        new = _rename_fields(udt, stmt)
    if new is None:
        return schema, None
    types = tuple(new if (t.keyspace, t.name) == (keyspace, udt.name) else t
                  for t in schema.types)
    return replace(schema, types=types).with_version(), \
        SchemaChange("UPDATED", "TYPE", keyspace, udt.name)


def _cql_name(udt: UserType) -> str:
    return f"{quote_if_needed(udt.keyspace)}.{quote_if_needed(udt.name)}"


def _add_field(schema: Schema, udt: UserType, stmt: ast.AlterType,
               references: References) -> UserType | None:
    name = stmt.field
    if name in udt.field_names:
        if stmt.if_field:
            return None
        raise errors.InvalidRequest(
            f"Cannot add field {name} to type {_cql_name(udt)}: a field with name {name} "
            "already exists")
    resolved = resolve_type(schema, udt.keyspace, stmt.type)
    if references(resolved, udt.name):
        raise errors.InvalidRequest(
            f"Cannot add new field {name} of type {stmt.type} to user type {_cql_name(udt)} as "
            "it would create a circular reference")
    if resolved == "counter":
        raise errors.InvalidRequest("A user type cannot contain counters")
    users = _users_of(schema, udt, references)
    keyed = [f"{t.keyspace}.{t.name}" for t in schema.tables if t.keyspace == udt.keyspace
             and any(references(c.type, u) for c in t.partition_key for u in users)]
    if keyed:
        raise errors.InvalidRequest(
            f"Cannot add new field {name} of type {stmt.type} to user type {_cql_name(udt)} as "
            f"the type is being used in partition key by the following tables: "
            f"{', '.join(keyed)}")
    return replace(udt, field_names=udt.field_names + (name,),
                   field_types=udt.field_types + (resolved,))


def _users_of(schema: Schema, udt: UserType, references: References) -> set[str]:
    """``udt`` and every type of its keyspace that contains it, however deeply (Cassandra's
    referencesUserType recurses into field types)."""
    users = {udt.name}
    grew = True
    while grew:
        grew = False
        for t in schema.types:
            if t.keyspace == udt.keyspace and t.name not in users and any(
                    references(f, u) for f in t.field_types for u in users):
                users.add(t.name)
                grew = True
    return users


def _rename_fields(udt: UserType, stmt: ast.AlterType) -> UserType:
    names = list(udt.field_names)
    for old, new in stmt.renames:
        if old not in udt.field_names:
            if stmt.if_field:
                continue
            raise errors.InvalidRequest(f"Unkown field {old} in user type {_cql_name(udt)}")
        names[udt.field_names.index(old)] = new
    for name in names:
        if names.count(name) > 1:
            # Cassandra's format fills the type slot with the keyspace name.
            raise errors.InvalidRequest(f"Duplicate field name {name} in type {udt.keyspace}")
    return replace(udt, field_names=tuple(names))
