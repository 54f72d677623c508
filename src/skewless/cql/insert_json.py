"""INSERT JSON: the JSON object turned into an ordinary INSERT of every column.

Cassandra reads the JSON text (a literal or a bound text value) as a map from column names to
values: a name is case-insensitive unless written with its double quotes (``"\\"Name\\""``),
each value is decoded as the column's type (``json_codec.from_json``), and a column the
object leaves out is written null (DEFAULT NULL, the default: a tombstone) or not at all
(DEFAULT UNSET). The result is an ``ast.Insert`` naming every column with a bind marker per
column, and the ``EvalContext`` holding the decoded values, so the ordinary INSERT path (key
checks, collections, TTL, timestamps) writes it.
"""

from __future__ import annotations

import dataclasses
import json

from skewless import errors
from skewless.cql import ast
from skewless.cql.json_codec import from_json
from skewless.cql.terms import UNSET, Env, EvalContext, Unset, Value, evaluate
from skewless.schema import TableDef


def column_name(key: str) -> str:
    """A JSON key as a column name: quoted keys are case-sensitive, others lower-cased."""
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        return key[1:-1].replace('""', '"')
    return key.lower()


def decode_object(stmt: ast.Insert, env: Env) -> dict[str, object]:
    assert stmt.json is not None
    raw = evaluate(stmt.json, "text", env, "[json]")
    if raw is None or isinstance(raw, Unset):
        raise errors.InvalidRequest("Got null for INSERT JSON values")
    text = raw.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise errors.InvalidRequest(f"Could not decode JSON string as a map: {e}. (String "
                                    f"was: {text})") from None
    if not isinstance(obj, dict):
        raise errors.InvalidRequest(f"Could not decode JSON string as a map: not an object. "
                                    f"(String was: {text})")
    return obj


def as_insert(stmt: ast.Insert, table: TableDef, env: Env) -> tuple[ast.Insert, EvalContext]:
    """The INSERT JSON ``stmt`` as a plain INSERT of every column, and the context whose
    bound values it reads."""
    given: dict[str, object] = {}
    for key, value in decode_object(stmt, env).items():
        name = column_name(key)
        if table.column(name) is None:
            raise errors.InvalidRequest(f"JSON values map contains unrecognized column: {name}")
        given[name] = value
    names: list[str] = []
    values: list[Value] = []
    for col in table.columns:
        if col.name in given:
            try:
                v: Value = from_json(env.ctype(col.type), given[col.name])
            except errors.InvalidRequest as e:
                raise errors.InvalidRequest(f"Error decoding JSON value for {col.name}: "
                                            f"{e.message}") from None
        elif col.kind in ("partition_key", "clustering") or not stmt.json_default_unset:
            v = None
        else:
            v = UNSET
        names.append(col.name)
        values.append(v)
    markers = tuple(ast.BindMarker(i) for i in range(len(names)))
    plain = dataclasses.replace(stmt, columns=tuple(names), values=markers, json=None)
    return plain, dataclasses.replace(env.ctx, values=tuple(values))
