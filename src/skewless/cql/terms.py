"""Evaluating AST terms to serialized CQL values for a target type.

Everything a term may depend on but that is not in the statement -- the bound values, the time,
randomness for uuid() -- comes in through one frozen ``EvalContext``, so evaluation is a pure
function of (term, type, context). A value is ``bytes`` (the CQL serialization), ``None`` (null)
or ``UNSET`` (a bound value the client marked "not set": the assignment is skipped).

Collections are handled structurally from the type text (``shape_of``): a collection, tuple or
UDT literal is serialized here from its serialized elements, so the same element bytes can also
feed per-element cells of a non-frozen collection (``elements_of``).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Literal

from skewless import errors
from skewless.cql import ast, fixed
from skewless.cql import types as cqltypes
from skewless.cql.cells import pack_cell as pack_cell  # re-exported: where callers found them
from skewless.cql.cells import pack_collection as pack_collection
from skewless.cql.cells import pack_map as pack_map
from skewless.cql.cells import split_collection as split_collection
from skewless.cql.cells import split_fields as split_fields
from skewless.cql.protocol import UNSET as UNSET  # the wire decoder's sentinel, re-exported
from skewless.cql.protocol import Unset as Unset
from skewless.schema import Schema
from skewless.storage import keys

Value = bytes | None | Unset

UUID_EPOCH_TICKS = 0x01B21DD213814000  # 100 ns ticks from 1582-10-15 to 1970-01-01
MIN_TIMEUUID_LSB = 0x8080808080808080  # Cassandra's lowest clock-seq-and-node (signed compare)
MAX_TIMEUUID_LSB = 0x7F7F7F7F7F7F7F7F
DATE_EPOCH = 2**31  # a CQL date is the unsigned day count with the epoch at 2^31
DAY_US = 86_400 * 1_000_000
NATIVE_TYPES = frozenset({
    "ascii", "bigint", "blob", "boolean", "counter", "date", "decimal", "double", "duration",
    "float", "inet", "int", "smallint", "text", "time", "timestamp", "timeuuid", "tinyint",
    "uuid", "varchar", "varint",
})


@dataclass(frozen=True)
class EvalContext:
    """The inputs of term evaluation besides the statement.

    ``now_us`` is the coordinator's time for now()/currentTimestamp(); ``node_id`` (48 bits) and
    ``clock_seq`` (14 bits) make the timeuuids of this node distinct from other nodes' (now()
    calls within one evaluation get successive 100 ns ticks). ``random_bytes(n)`` supplies
    uuid()."""

    now_us: int
    random_bytes: Callable[[int], bytes]
    values: Sequence[Value]
    keyspace: str | None
    node_id: int = 0
    clock_seq: int = 0
    _ticks_used: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    def next_tick(self) -> int:
        """A distinct 100 ns tick offset for each now() evaluated with this context."""
        n = self._ticks_used[0]
        self._ticks_used[0] = n + 1
        return n


# ---------------------------------------------------------------- type shapes

_PLAIN_TYPES_CACHED = 1024  # distinct type texts of columns and receivers: far fewer in practice


@dataclass(frozen=True, slots=True)
class Shape:
    """The structure of a type: kind, element/field types, UDT field names, frozen or not."""

    kind: Literal["native", "list", "set", "map", "tuple", "udt", "vector"]
    name: str
    args: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    frozen: bool = False

    @property
    def multicell(self) -> bool:
        return not self.frozen and self.kind in ("list", "set", "map", "udt")


def shape_of(type_text: str, schema: Schema, keyspace: str | None) -> Shape:
    plain = _plain_shape(type_text)
    if plain is not None:
        return plain
    frozen = type_text.replace(" ", "").startswith("frozen<")
    return _udt_shape(type_text, keys.parse_type(type_text)[0], frozen, schema, keyspace)


@functools.lru_cache(maxsize=_PLAIN_TYPES_CACHED)
def _plain_shape(type_text: str) -> Shape | None:
    """``shape_of`` a type that names no user type (schema-independent), computed once."""
    frozen = type_text.replace(" ", "").startswith("frozen<")
    name, args = keys.parse_type(type_text)
    if name in NATIVE_TYPES:
        return Shape("native", name)
    if name in ("list", "set", "map", "tuple"):
        return Shape(name, name, args, frozen=frozen or name == "tuple")  # type: ignore[arg-type]
    if name == "vector":
        return Shape("vector", type_text, args, frozen=True)
    return None


def _udt_shape(type_text: str, name: str, frozen: bool, schema: Schema, keyspace: str | None
               ) -> Shape:
    ks, _, udt_name = name.rpartition(".")
    bare = type_text.replace(" ", "").removeprefix("frozen<").removesuffix(">")
    if bare.startswith('"') and bare.endswith('"'):  # a quoted user type name keeps its case
        ks, udt_name = "", bare[1:-1].replace('""', '"')
    udt = schema.user_type(ks or keyspace or "", udt_name)
    if udt is None:
        raise errors.InvalidRequest(f"Unknown type {name}")
    return Shape("udt", udt_name, udt.field_types, udt.field_names, frozen)


@functools.lru_cache(maxsize=_PLAIN_TYPES_CACHED)
def _plain_type(type_text: str) -> cqltypes.CqlType | None:
    """The CqlType of a type naming no user type (the same in every keyspace and schema),
    parsed once: each statement of a 10,000-statement batch evaluates its values anew."""
    try:
        return cqltypes.parse_type(type_text)
    except errors.InvalidRequest:
        return None


def resolve_type(type_text: str, schema: Schema, keyspace: str | None) -> cqltypes.CqlType:
    """The CqlType of ``type_text``, user types looked up in ``keyspace``."""
    plain = _plain_type(type_text)
    if plain is not None:
        return plain

    def lookup(name: str) -> tuple[tuple[str, str], ...] | None:
        ks, _, udt_name = name.rpartition(".")
        udt = schema.user_type(ks or keyspace or "", udt_name)
        if udt is None:
            return None
        return tuple(zip(udt.field_names, udt.field_types, strict=True))

    return cqltypes.parse_type(type_text, lookup, keyspace or "")


@dataclass(frozen=True)
class Env:
    """Where terms are evaluated: the context plus the schema that resolves user types."""

    ctx: EvalContext
    schema: Schema
    keyspace: str | None
    _types: dict[str, cqltypes.CqlType] = field(default_factory=dict, compare=False, repr=False)

    def ctype(self, type_text: str) -> cqltypes.CqlType:
        t = self._types.get(type_text)
        if t is None:
            t = self._types[type_text] = resolve_type(type_text, self.schema, self.keyspace)
        return t

    def shape(self, type_text: str) -> Shape:
        return shape_of(type_text, self.schema, self.keyspace)


def sorted_unique(items: Sequence[bytes], ctype: cqltypes.CqlType) -> list[bytes]:
    out: list[bytes] = []
    for item in sorted(items, key=cmp_to_key(ctype.compare)):
        if not out or ctype.compare(out[-1], item) != 0:
            out.append(item)
    return out


def sorted_pairs(pairs: Sequence[tuple[bytes, bytes]], ktype: cqltypes.CqlType
                 ) -> list[tuple[bytes, bytes]]:
    """Map entries by key order; a later entry for an equal key replaces an earlier one."""
    out: list[tuple[bytes, bytes]] = []

    def cmp(a: tuple[int, tuple[bytes, bytes]], b: tuple[int, tuple[bytes, bytes]]) -> int:
        return ktype.compare(a[1][0], b[1][0]) or a[0] - b[0]

    ordered = sorted(enumerate(pairs), key=cmp_to_key(cmp))
    for _, pair in ordered:
        if out and ktype.compare(out[-1][0], pair[0]) == 0:
            out[-1] = pair
        else:
            out.append(pair)
    return out


# ---------------------------------------------------------------- evaluation


def evaluate(term: ast.Term, type_text: str, env: Env, receiver: str) -> Value:
    """``term`` serialized as ``type_text``, None for null, UNSET for an unset bound value."""
    if isinstance(term, ast.Constant):
        if term.kind == "null":
            return None
        ctype = env.ctype(type_text)
        return ctype.serialize(ctype.from_constant(term, receiver))
    if isinstance(term, ast.BindMarker):
        return bound_value(term, type_text, env, receiver)
    if isinstance(term, ast.CollectionLiteral | ast.TupleLiteral | ast.UdtLiteral):
        return _evaluate_literal(term, type_text, env, receiver)
    if isinstance(term, ast.FunctionCall) and term.name.removeprefix("system.") == "fromjson":
        return _from_json_call(term, type_text, env, receiver)
    if isinstance(term, ast.FunctionCall):
        value, result_type = call_function(term, env, receiver)
        check_assignable(result_type, type_text, f"function system.{term.name}", receiver)
        return value
    if isinstance(term, ast.TypeHint):
        hint = env.ctype(term.type).name  # normalised: ks.udt -> udt, varchar -> text
        check_assignable(hint, type_text, "type hint", receiver)
        return evaluate(term.term, hint, env, receiver)
    raise errors.unsupported("CAST in a value")


def _from_json_call(term: ast.FunctionCall, type_text: str, env: Env, receiver: str) -> Value:
    """fromJson('...'): the JSON text decoded as the receiver's type (json_codec)."""
    import json

    from skewless.cql.json_codec import from_json

    if len(term.args) != 1:
        raise errors.InvalidRequest(f"Invalid number of arguments in call to function "
                                    f"system.fromjson: 1 required but {len(term.args)} provided")
    raw = evaluate(term.args[0], "text", env, receiver)
    if raw is None or isinstance(raw, Unset):
        return raw
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except ValueError as e:
        raise errors.InvalidRequest(f"Could not decode JSON string '{raw.decode()}': {e}") from None
    return from_json(env.ctype(type_text), value)


def evaluate_defined(term: ast.Term, type_text: str, env: Env, receiver: str) -> bytes | None:
    """Like ``evaluate`` for places where an unset value is an error."""
    v = evaluate(term, type_text, env, receiver)
    if isinstance(v, Unset):
        raise errors.InvalidRequest(f"Invalid unset value for column {receiver}")
    return v


def bound_value(term: ast.BindMarker, type_text: str, env: Env, receiver: str) -> Value:
    values = env.ctx.values
    if term.index >= len(values):
        raise errors.InvalidRequest(
            f"There were {len(values)} markers(?) in CQL but {term.index + 1} or more needed")
    v = values[term.index]
    if isinstance(v, bytes) and v:
        try:
            env.ctype(type_text).validate(v)
        except errors.InvalidRequest as e:
            raise errors.InvalidRequest(f"Invalid value for {receiver}: {e.message}") from None
        except Exception as e:  # a type's decoder rejecting malformed bytes
            raise errors.InvalidRequest(f"Invalid value for {receiver}: {e}") from None
    return v


def check_assignable(source: str, target: str, what: str, receiver: str) -> None:
    s, t = keys.parse_type(source), keys.parse_type(target)
    if s == t or (t[0] == "uuid" and s[0] == "timeuuid") or (t[0] == "text" and s[0] == "ascii"):
        return
    raise errors.InvalidRequest(
        f"Type error: cannot assign result of {what} (type {source}) to {receiver} "
        f"(type {target})")


def _evaluate_literal(term: ast.CollectionLiteral | ast.TupleLiteral | ast.UdtLiteral,
                      type_text: str, env: Env, receiver: str) -> bytes:
    shape = env.shape(type_text)
    if isinstance(term, ast.TupleLiteral):
        if shape.kind != "tuple" or len(term.items) > len(shape.args):
            raise errors.InvalidRequest(
                f"Invalid tuple literal for {receiver}: expected type {type_text}")
        return b"".join(pack_cell(evaluate_defined(t, a, env, f"component of {receiver}"))
                        for t, a in zip(term.items, shape.args, strict=False))
    if isinstance(term, ast.UdtLiteral):
        return pack_udt(udt_fields(term, shape, env, receiver))
    if shape.kind == "vector":
        return _vector_literal(term, type_text, env, receiver)
    elems = elements_of(term, shape, env, receiver)
    assert isinstance(elems, Elements)
    return elems.serialized()


def _vector_literal(term: ast.CollectionLiteral, type_text: str, env: Env, receiver: str
                    ) -> bytes:
    """``[a, b, ...]`` for a vector receiver, checked as Cassandra's Vectors.Literal."""
    vtype = env.ctype(type_text)
    assert isinstance(vtype, cqltypes.VectorType)
    if term.kind != "list":
        raise errors.InvalidRequest(f"Invalid vector literal for {receiver} of type {vtype.name}")
    if len(term.items) != vtype.dimension:
        raise errors.InvalidRequest(
            f"Invalid vector literal for {receiver} of type {vtype.name}; expected "
            f"{vtype.dimension} elements, but given {len(term.items)}")
    out = []
    for item in term.items:
        assert not isinstance(item, tuple)
        try:
            v = evaluate(item, vtype.element.name, env, f"value({receiver})")
        except errors.InvalidRequest:
            if not isinstance(item, ast.Constant):
                raise
            text = f"'{item.text}'" if item.kind == "string" else item.text
            raise errors.InvalidRequest(f"Invalid vector literal for {receiver}: value {text} is "
                                        f"not of type {vtype.element.name}") from None
        if v is None or isinstance(v, Unset) or not v:
            raise errors.InvalidRequest("null is not supported inside vectors")
        out.append(v)
    return vtype.pack(out)


def pack_udt(fields: Sequence[bytes | None]) -> bytes:
    return b"".join(pack_cell(f) for f in fields)


def udt_fields(term: ast.Term, shape: Shape, env: Env, receiver: str) -> list[bytes | None]:
    """The field values of a UDT literal, in the type's field order (missing fields null)."""
    if not isinstance(term, ast.UdtLiteral) or shape.kind != "udt":
        raise errors.InvalidRequest(f"Invalid user type literal for {receiver} of type "
                                    f"{shape.name}")
    out: list[bytes | None] = [None] * len(shape.fields)
    for name, value in term.fields:
        if name not in shape.fields:
            raise errors.InvalidRequest(
                f"Unknown field '{name}' in value of user defined type {shape.name}")
        i = shape.fields.index(name)
        out[i] = evaluate_defined(value, shape.args[i], env, f"{receiver}.{name}")
    return out


@dataclass(frozen=True, slots=True)
class Elements:
    """The items of a list or set, or the keys and values of a map (``values`` not None)."""

    items: list[bytes]
    values: list[bytes] | None = None

    def serialized(self) -> bytes:
        if self.values is None:
            return pack_collection(self.items)
        return pack_map(list(zip(self.items, self.values, strict=True)))


def elements_of(term: ast.Term, shape: Shape, env: Env, receiver: str
                ) -> Elements | None | Unset:
    """The elements of a list/set/map value: list items in order, set items sorted and
    distinct, map (key, value) pairs sorted by key. None for null, UNSET when unset."""
    if not isinstance(term, ast.CollectionLiteral):
        v = evaluate(term, shape_text(shape), env, receiver)
        if v is None or isinstance(v, Unset):
            return v
        items = split_collection(v, shape.kind)
        if shape.kind == "map":
            return Elements(items[::2], items[1::2])
        return Elements(items)
    literal_kind = term.kind
    if literal_kind == "map" and not term.items and shape.kind in ("set", "list"):
        literal_kind = shape.kind if shape.kind == "set" else "map"
    if literal_kind != shape.kind:
        raise errors.InvalidRequest(
            f"Invalid {literal_kind} literal for {receiver} of type {shape_text(shape)}")
    if shape.kind == "map":
        ktype, vtype = shape.args
        pairs = []
        for kv in term.items:
            assert isinstance(kv, tuple)
            pairs.append((_element(kv[0], ktype, env, receiver),
                          _element(kv[1], vtype, env, receiver)))
        ordered = sorted_pairs(pairs, env.ctype(ktype))
        return Elements([k for k, _ in ordered], [v for _, v in ordered])
    items = []
    for t in term.items:
        assert not isinstance(t, tuple)
        items.append(_element(t, shape.args[0], env, receiver))
    if shape.kind == "set":
        return Elements(sorted_unique(items, env.ctype(shape.args[0])))
    return Elements(items)


def shape_text(shape: Shape) -> str:
    """The frozen type text of a collection shape (how a whole value of it is serialized)."""
    if shape.kind in ("native", "udt"):
        return shape.name
    return f"frozen<{shape.kind}<{', '.join(shape.args)}>>"


def _element(term: ast.Term, type_text: str, env: Env, receiver: str) -> bytes:
    v = evaluate(term, type_text, env, receiver)
    if v is None:
        raise errors.InvalidRequest("null is not supported inside collections")
    if isinstance(v, Unset):
        raise errors.InvalidRequest("unset value is not supported inside collections")
    return v


# ---------------------------------------------------------------- functions


def timeuuid(ticks: int, clock_seq: int, node: int) -> bytes:
    """A version-1 uuid from 100 ns ticks since 1582-10-15, a 14-bit clock seq and a node."""
    ticks &= (1 << 60) - 1
    msb = ((ticks & 0xFFFFFFFF) << 32) | (((ticks >> 32) & 0xFFFF) << 16) | 0x1000 | (ticks >> 48)
    lsb = (0x8000 | (clock_seq & 0x3FFF)) << 48 | (node & 0xFFFFFFFFFFFF)
    return struct.pack(">QQ", msb, lsb)


def timeuuid_ms(u: bytes) -> int:
    """The unix milliseconds of a timeuuid."""
    msb = int(struct.unpack(">Q", u[:8])[0])
    ticks = ((msb & 0x0FFF) << 48) | (((msb >> 16) & 0xFFFF) << 32) | (msb >> 32)
    return (ticks - UUID_EPOCH_TICKS) // 10_000


def edge_timeuuid(ms: int, maximum: bool) -> bytes:
    """minTimeuuid/maxTimeuuid: the least/greatest timeuuid of a millisecond."""
    ticks = ms * 10_000 + UUID_EPOCH_TICKS + (9_999 if maximum else 0)
    msb = int(struct.unpack(">Q", timeuuid(ticks, 0, 0)[:8])[0])
    return struct.pack(">QQ", msb, MAX_TIMEUUID_LSB if maximum else MIN_TIMEUUID_LSB)


def _now(env: Env) -> bytes:
    ctx = env.ctx
    ticks = ctx.now_us * 10 + UUID_EPOCH_TICKS + ctx.next_tick()
    return timeuuid(ticks, ctx.clock_seq, ctx.node_id)


def _random_uuid(env: Env) -> bytes:
    raw = bytearray(env.ctx.random_bytes(16))
    assert len(raw) == 16
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return bytes(raw)


def _date_of_ms(ms: int) -> bytes:
    return struct.pack(">I", (ms // 86_400_000 + DATE_EPOCH) & 0xFFFFFFFF)


def _ms_of(term: ast.Term, env: Env, receiver: str) -> int:
    """The unix milliseconds of a timeuuid, timestamp or date argument."""
    if isinstance(term, ast.FunctionCall):
        v, t = call_function(term, env, receiver)
    else:
        t = "timeuuid"
        got = evaluate_defined(term, t, env, receiver)
        if got is None:
            raise errors.InvalidRequest(f"Invalid null argument for {receiver}")
        v = got
    if t == "timeuuid":
        return timeuuid_ms(v)
    if t == "timestamp":
        return fixed.unpack(">q", v, receiver)
    if t == "date":
        return (fixed.unpack(">I", v, receiver) - DATE_EPOCH) * 86_400_000
    raise errors.InvalidRequest(f"Invalid argument of type {t} for {receiver}")


def _zero_args(name: str, env: Env) -> tuple[bytes, str] | None:
    now_us = env.ctx.now_us
    if name in ("now", "currenttimeuuid"):
        return _now(env), "timeuuid"
    if name == "uuid":
        return _random_uuid(env), "uuid"
    if name == "currenttimestamp":
        return struct.pack(">q", now_us // 1000), "timestamp"
    if name == "currentdate":
        return _date_of_ms(now_us // 1000), "date"
    if name == "currenttime":
        return struct.pack(">q", (now_us % DAY_US) * 1000), "time"
    return None


def call_function(call: ast.FunctionCall, env: Env, receiver: str) -> tuple[bytes, str]:
    """A function used as a value: its serialized result and result type."""
    name, args = call.name.removeprefix("system."), call.args
    if not args:
        zero = _zero_args(name, env)
        if zero is not None:
            return zero
    elif len(args) == 1:
        one = _one_arg(name, args[0], env, receiver)
        if one is not None:
            return one
    if name == "tojson":
        raise errors.InvalidRequest("toJson() may only be used within the selection clause")
    raise errors.InvalidRequest(f"Unknown function {call.name} called with {len(args)} "
                                f"argument(s)")


def _one_arg(name: str, arg: ast.Term, env: Env, receiver: str) -> tuple[bytes, str] | None:
    if name in ("totimestamp", "dateof"):
        return struct.pack(">q", _ms_of(arg, env, receiver)), "timestamp"
    if name in ("tounixtimestamp", "unixtimestampof"):
        return struct.pack(">q", _ms_of(arg, env, receiver)), "bigint"
    if name == "todate":
        return _date_of_ms(_ms_of(arg, env, receiver)), "date"
    if name in ("mintimeuuid", "maxtimeuuid"):
        ts = evaluate_defined(arg, "timestamp", env, receiver)
        if ts is None:
            raise errors.InvalidRequest(f"Invalid null argument for {name}")
        ms = fixed.unpack(">q", ts, receiver)
        return edge_timeuuid(ms, name == "maxtimeuuid"), "timeuuid"
    if name.endswith("asblob") and name[:-6] in NATIVE_TYPES:
        v = evaluate_defined(arg, name[:-6], env, receiver)
        return (b"" if v is None else v), "blob"
    if name.startswith("blobas") and name[6:] in NATIVE_TYPES:
        v = evaluate_defined(arg, "blob", env, receiver)
        if v:
            env.ctype(name[6:]).validate(v)
        return (b"" if v is None else v), name[6:]
    return None
