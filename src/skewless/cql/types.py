"""The CQL type system: ``parse_type`` turns type text into a ``CqlType``; ``cql_literal``
renders a value as CQL text.

A ``CqlType`` knows its normalised name (as system_schema.columns.type writes it), its v4 wire
encoding (``serialize``/``deserialize``), its [option] encoding in result metadata
(``option_bytes``), how a literal becomes a value (``from_constant``) and Cassandra's order over
encoded values (``compare``). The Python value forms are documented in ``types_native`` and
``types_collections``. Types are frozen dataclasses and compare by value.

Layout: ``types_base`` (interface, helpers), ``types_values`` (temporal/duration text),
``types_native`` (scalars), ``types_collections`` (list, set, map, tuple, UDT), this module
(parsing, re-exports).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from skewless import errors, limits
from skewless.cql.types_base import CqlType, Duration
from skewless.cql.types_collections import (
    ListType,
    MapType,
    SetType,
    TupleType,
    UdtType,
    quote_identifier,
)
from skewless.cql.types_native import (
    NATIVE_TYPES,
    BlobType,
    BooleanType,
    DecimalType,
    FloatType,
    InetType,
    IntType,
    StringType,
    UuidType,
    VarintType,
)
from skewless.cql.types_temporal import DateType, DurationType, TimestampType, TimeType
from skewless.cql.types_vector import VectorType

__all__ = [
    "CqlType", "Duration", "ListType", "MapType", "SetType", "TupleType", "UdtType", "IntType",
    "VarintType", "DecimalType", "FloatType", "BooleanType", "StringType", "BlobType", "UuidType",
    "TimestampType", "DateType", "TimeType", "DurationType", "InetType", "UdtLookup",
    "parse_type", "cql_literal", "native", "quote_identifier", "VectorType",
]

UdtLookup = Callable[[str], tuple[tuple[str, str], ...] | None]

_ALIASES = {"varchar": "text"}
_TOKEN_RE = re.compile(r'\s*(?:("(?:[^"]|"")*")|([A-Za-z0-9_]+)|(\S))')


def native(name: str) -> CqlType:
    """The native type called ``name`` (aliases accepted)."""
    return NATIVE_TYPES[_ALIASES.get(name, name)]


def cql_literal(type_: CqlType, value: object) -> str:
    """``value`` as CQL literal text: 'text' with '' escaping, 0x.. blobs, bare numbers, uuids
    and durations, true/false, quoted timestamps/dates/times/inets, [..] lists, {..} sets, maps
    and UDTs, (..) tuples, and null for None."""
    return "null" if value is None else type_.literal(value)


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN_RE.match(stripped, pos)
        assert m is not None  # \S matches any non-space character
        quoted, word, punct = m.groups()
        if quoted is not None:
            tokens.append(quoted)
        elif word is not None:
            tokens.append(word.lower())
        else:
            tokens.append(punct)
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens of one type text."""

    def __init__(self, text: str, udt_lookup: UdtLookup | None, keyspace: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.udt_lookup = udt_lookup
        self.keyspace = keyspace
        self.frozen_depth = 0  # inside frozen<...>: nested collections and UDTs freeze too

    def fail(self, why: str) -> errors.InvalidRequest:
        return errors.InvalidRequest(f"{why} in type '{self.text}'")

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.fail("Unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise self.fail(f"Expected '{token}' but found '{got}'")

    def parse(self) -> CqlType:
        t = self.type(0)
        if self.pos != len(self.tokens):
            raise self.fail(f"Unexpected '{self.tokens[self.pos]}'")
        return t

    def params(self, depth: int) -> list[CqlType]:
        self.expect("<")
        out = [self.type(depth + 1)]
        while True:
            tok = self.next()
            if tok == ">":
                return out
            if tok != ",":
                raise self.fail(f"Expected ',' or '>' but found '{tok}'")
            out.append(self.type(depth + 1))

    def type(self, depth: int) -> CqlType:
        if depth > limits.cql_type_nesting_max:
            raise self.fail("Too deeply nested")
        word = self.next()
        if self.pos < len(self.tokens) and self.tokens[self.pos] == ".":
            self.pos += 1
            return self.qualified_udt(_ident(word), _ident(self.next()), depth)
        if word.startswith('"'):
            return self.udt(_ident(word), depth)
        if word == "frozen":
            self.frozen_depth += 1
            params = self.params(depth)
            self.frozen_depth -= 1
            return self.parametric(word, params, depth)
        if word in ("list", "set", "map", "tuple"):
            return self.parametric(word, self.params(depth), depth)
        if word == "vector":
            return self.vector(depth)
        if word in NATIVE_TYPES or word in _ALIASES:
            return native(word)
        return self.udt(word, depth)

    def parametric(self, word: str, params: list[CqlType], depth: int) -> CqlType:
        arity = {"list": 1, "set": 1, "map": 2, "frozen": 1}.get(word)
        if arity is not None and len(params) != arity:
            raise self.fail(f"{word} takes {arity} type parameter(s), got {len(params)}")
        if word == "frozen":
            return self.freeze(params[0])
        if word == "tuple":
            if any(p.is_counter for p in params):
                raise errors.InvalidRequest("Counters are not allowed inside tuples")
            return TupleType(tuple(p.frozen() for p in params))
        if any(p.is_counter for p in params):  # CQL3Type.Raw.RawCollection names itself
            text = f"{word}<{', '.join(p.name for p in params)}>"
            raise errors.InvalidRequest("Counters are not allowed inside collections: "
                                        + (f"frozen<{text}>" if self.frozen_depth else text))
        params = [self.check_member(p, word) for p in params]
        if word == "list":
            return ListType(params[0])
        if word == "set":
            return SetType(params[0])
        return MapType(params[0], params[1])

    def vector(self, depth: int) -> CqlType:
        """``vector<type, N>``: elements frozen (VectorType.getInstance freezes them)."""
        self.expect("<")
        element = self.type(depth + 1)
        self.expect(",")
        sign = -1 if self.tokens[self.pos:self.pos + 1] == ["-"] else 1
        self.pos += sign < 0
        digits = self.next()
        self.expect(">")
        if not digits.isdigit():
            raise self.fail(f"Expected a vector dimension but found '{digits}'")
        dimension = sign * int(digits)
        if dimension <= 0:
            raise errors.InvalidRequest(
                f"vectors may only have positive dimentions; given {dimension}")
        if element.is_counter:
            raise self.fail("Counters are not allowed inside vectors")
        if element.name.split("<")[0] not in NATIVE_TYPES and element.name not in _ALIASES:
            raise errors.unsupported(f"vector of {element.name}")
        return VectorType(element.frozen(), dimension)

    def freeze(self, inner: CqlType) -> CqlType:
        if isinstance(inner, VectorType):
            return inner  # CQL3Type.RawVector.freeze: a vector is frozen already
        if not isinstance(inner, (ListType, SetType, MapType, TupleType, UdtType)):
            raise self.fail(f"frozen<> is only allowed on collections, tuples, and user-defined "
                            f"types, not {inner.name}")
        return inner.frozen()

    def check_member(self, p: CqlType, word: str) -> CqlType:
        """A collection's element type: frozen when written inside frozen<...> (Cassandra's
        CQL3Type.Raw.freeze freezes nested types), refused when multi-cell otherwise."""
        if p.is_multicell and self.frozen_depth:
            return p.frozen()
        if p.is_multicell:
            kind = "UDTs" if isinstance(p, UdtType) else "collections"
            raise self.fail(f"Non-frozen {kind} are not allowed inside collections ({word})")
        return p

    def qualified_udt(self, keyspace: str, name: str, depth: int) -> CqlType:
        """``keyspace.name``: a user type may only be used in its own keyspace
        (CQL3Type.Raw.RawUT.prepare)."""
        if self.keyspace and keyspace != self.keyspace:
            raise errors.InvalidRequest(
                f"Statement on keyspace {self.keyspace} cannot refer to a user type in keyspace "
                f"{keyspace}; user types can only be used in the keyspace they are defined in")
        if not self.keyspace:
            self.keyspace = keyspace
        return self.udt(name, depth)

    def udt(self, name: str, depth: int) -> CqlType:
        fields = self.udt_lookup(name) if self.udt_lookup is not None else None
        if fields is None:
            qualified = f"{self.keyspace}.{name}" if self.keyspace else name
            raise errors.InvalidRequest(f"Unknown type {qualified}")
        sub = tuple(
            (field, _Parser(text, self.udt_lookup, self.keyspace).nested(depth)) for field, text
            in fields
        )
        return UdtType(self.keyspace, name, sub)

    def nested(self, depth: int) -> CqlType:
        t = self.type(depth + 1)
        if self.pos != len(self.tokens):
            raise self.fail(f"Unexpected '{self.tokens[self.pos]}'")
        return t


def _ident(token: str) -> str:
    """A type name token as an identifier: quoted kept as written, bare already lowercased."""
    return token[1:-1].replace('""', '"') if token.startswith('"') else token


def parse_type(
    text: str, udt_lookup: UdtLookup | None = None, keyspace: str = ""
) -> CqlType:
    """Parse type text ('int', 'varchar', 'map<text, int>', 'frozen<list<int>>',
    'tuple<int, text>', a UDT name resolved by ``udt_lookup`` to its (field, type text) pairs).
    ``keyspace`` is the keyspace the UDTs belong to (it goes into their [option] encoding).
    Raises InvalidRequest for unknown or malformed types."""
    return _Parser(text, udt_lookup, keyspace).parse()
