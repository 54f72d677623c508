"""CQL text -> ``ast.Parsed``: the one entry point is ``parse(text)``.

Theory of operation
-------------------
The grammar (grammar.lark, next to this file) is LALR(1) and is compiled once, at import time,
into a lark parser with the *contextual* lexer. No parse tree is built: the builder
(``_Builder``, whose callbacks live in parser_terms.py and parser_statements.py) is handed to
lark as its inline transformer, so each grammar rule is turned into its AST value the moment
the LALR parser reduces it. The finished statement comes out of ``Lark.parse`` directly.

Keywords. Every keyword is a case-insensitive string terminal, and identifiers (NAME) are
case-insensitive too. lark's contextual lexer only offers the terminals that the current parser
state can accept, and turns a NAME into a keyword only when that keyword is acceptable there.
Because LALR merges lookahead sets, that alone is too eager (``"tags" set<text>`` would lex
``set`` as the SET of UPDATE), so parser_lexer.py replays the pending reductions for each
keyword token and demotes it to a NAME when only a NAME can be shifted there. The result: a word
is a keyword exactly where the grammar can use it as one, and ``key``, ``type``, ``value``,
``timestamp``, ``count``, ``token``, ``set``, ``list``, ... are column names everywhere else,
without a hand-kept list of "unreserved keywords". Function-like words (count, token,
writetime, ttl, cast, keys, ...) are identifiers followed by "(", recognised by name in the
builder.

Results of short texts are kept in a small LRU cache (an ``ast.Parsed`` is immutable), because
drivers send the same unprepared statements over and over.

Bind markers. LALR reduces the leaves of a statement left to right, so ``?`` and ``:name`` are
met in the order they appear; the builder numbers them with a counter that ``parse`` resets
before each statement. That per-parse state is why ``parse`` holds a lock: the parser object
is shared, and the lock keeps two threads from interleaving their counters.

Errors. Everything lark raises (a bad character, an unexpected token, early end of input) is
turned into ``errors.SyntaxException`` worded like Cassandra's ANTLR messages: ``line L:C no
viable alternative at input 'X' (... [X]...)`` with a 0-based column. Checks that need no
schema (one PRIMARY KEY, as many values as columns, ...) raise ``InvalidRequest`` from the
builder. Statements the grammar knows but Skewless does not build (CREATE FUNCTION, GRANT,
...) parse to ``ast.Unsupported``; the executor answers them with ``errors.unsupported``.

The parser does no I/O after import, reads no clock and draws no randomness.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from importlib import resources

from lark import Lark, Token, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from skewless import errors
from skewless.cql import ast, parser_lexer, statement_limits
from skewless.cql.ast_roles import ROLE_STATEMENT_CLASSES
from skewless.cql.parser_permissions import PermissionsBuilder
from skewless.cql.parser_roles import RoleBuilder
from skewless.cql.parser_statements import Qualified, StatementBuilder

__all__ = ["parse"]

_CONTEXT_CHARS_MAX = 40  # how much of the text before an error the message quotes
# Drivers repeat the same unprepared text (system.local, schema agreement polls every 0.2 s).
# Results are immutable, so recent ones are kept; only short texts, to bound the memory.
_CACHE_ENTRIES_MAX = 512
_CACHE_TEXT_CHARS_MAX = 2048
_NO_OP_DROPS = frozenset(("DROP MATERIALIZED VIEW", "DROP FUNCTION", "DROP AGGREGATE",
                          "DROP TRIGGER"))
_STATEMENT_CLASSES = (
    ast.Select, ast.Insert, ast.Update, ast.Delete, ast.Batch, ast.Use, ast.CreateKeyspace,
    ast.AlterKeyspace, ast.DropKeyspace, ast.CreateTable, ast.AlterTable, ast.DropTable,
    ast.Truncate, ast.CreateType, ast.AlterType, ast.DropType, ast.CreateIndex, ast.DropIndex,
    ast.Describe, ast.Permissions, ast.Unsupported, *ROLE_STATEMENT_CLASSES,
)


@v_args(inline=True)
class _Builder(StatementBuilder, RoleBuilder, PermissionsBuilder):
    """The complete set of callbacks: statements, terms, and DESCRIBE / unsupported here."""

    def reset(self) -> None:
        self.bind_names.clear()

    def only(self) -> bool:
        return True

    def full(self) -> bool:
        return True

    def with_internals(self) -> bool:
        return True

    def describe_stmt(
        self, target: ast.Describe | ast.Unsupported, _internals: bool | None
    ) -> ast.Describe | ast.Unsupported:
        return target

    def describe_keyspaces(self) -> ast.Describe:
        return ast.Describe("KEYSPACES")

    def describe_keyspace(self, only: bool | None, name: str | None) -> ast.Describe:
        return ast.Describe("KEYSPACE", keyspace=name, only=bool(only))

    def describe_tables(self) -> ast.Describe:
        return ast.Describe("TABLES")

    def describe_table(self, name: Qualified) -> ast.Describe:
        return ast.Describe("TABLE", name[0], name[1])

    def describe_types(self) -> ast.Describe:
        return ast.Describe("TYPES")

    def describe_type(self, name: Qualified) -> ast.Describe:
        return ast.Describe("TYPE", name[0], name[1])

    def describe_functions(self) -> ast.Describe:
        return ast.Describe("FUNCTIONS")

    def describe_aggregates(self) -> ast.Describe:
        return ast.Describe("AGGREGATES")

    def describe_function(self, _name: Qualified) -> ast.Unsupported:
        return ast.Unsupported("DESCRIBE FUNCTION")

    def describe_aggregate(self, _name: Qualified) -> ast.Unsupported:
        return ast.Unsupported("DESCRIBE AGGREGATE")

    def describe_cluster(self) -> ast.Describe:
        return ast.Describe("CLUSTER")

    def describe_schema(self, full: bool | None) -> ast.Describe:
        return ast.Describe("SCHEMA", full=bool(full))

    def describe_index(self, name: Qualified) -> ast.Describe:
        return ast.Describe("INDEX", name[0], name[1])

    def describe_view(self, name: Qualified) -> ast.Describe:
        return ast.Describe("MATERIALIZED VIEW", name[0], name[1])

    def describe_name(self, name: Qualified) -> ast.Describe:
        return ast.Describe("NAME", name[0], name[1])

    def unsupported_head(self, *tokens: Token | None) -> str:
        words = [t.upper() for t in tokens if t is not None]
        return " ".join(w for w in words if w not in ("OR", "REPLACE"))

    def unsupported_stmt(self, feature: str, rest: Token | None) -> ast.Unsupported:
        # DROP ... IF EXISTS of an object kind that cannot exist here is Cassandra's no-op.
        words = str(rest or "").split()
        if_exists = feature in _NO_OP_DROPS and [w.upper() for w in words[:2]] == ["IF", "EXISTS"]
        return ast.Unsupported(feature, if_exists)


def _build_parser(builder: _Builder) -> Lark:
    grammar = resources.files("skewless.cql").joinpath("grammar.lark").read_text("utf-8")
    parser = Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=True,
        transformer=builder,
    )
    parser_lexer.install(parser)
    return parser


_BUILDER = _Builder()
_PARSER = _build_parser(_BUILDER)
_LOCK = threading.Lock()
# Statements parsed in slices (parser_sliced.py) by the runtime, handed over for the duration of
# one synchronous call into the executor (``handed_over``): text -> its AST or its error.
_HANDED: dict[str, ast.Parsed | errors.CqlError] = {}


@contextlib.contextmanager
def handed_over(outcomes: dict[str, ast.Parsed | errors.CqlError]) -> Iterator[None]:
    """While the block runs, ``parse`` answers these texts with these outcomes unparsed."""
    assert not _HANDED, "handed_over does not nest"
    _HANDED.update(outcomes)
    try:
        yield
    finally:
        _HANDED.clear()


def parse(text: str) -> ast.Parsed:
    """Parse one CQL statement (an optional trailing ';' and comments allowed).

    Raises errors.SyntaxException for text that is not CQL and errors.InvalidRequest for CQL
    that breaks a rule Cassandra checks before looking at the schema."""
    if _HANDED:
        outcome = _HANDED.get(text)
        if isinstance(outcome, ast.Parsed):
            return outcome
        if outcome is not None:
            raise outcome
    if len(text) <= _CACHE_TEXT_CHARS_MAX and "password" not in text.lower():
        return _parse_cached(text)  # a role statement's password is not kept in the cache
    return _parse(text)


@functools.lru_cache(maxsize=_CACHE_ENTRIES_MAX)
def _parse_cached(text: str) -> ast.Parsed:
    return _parse(text)


def _parse(text: str) -> ast.Parsed:
    with _LOCK:
        _BUILDER.reset()
        try:
            statement = _PARSER.parse(text)
        except UnexpectedInput as exc:
            raise _syntax_error(text, exc) from None
        except LarkError as exc:  # any other lark failure is still the text's fault
            raise errors.SyntaxException(f"Invalid CQL: {exc}") from None
        names = tuple(_BUILDER.bind_names)
    return finish(statement, names, check=True)


def finish(statement: object, names: tuple[str | None, ...], check: bool) -> ast.Parsed:
    """The Parsed of a statement lark produced; ``check``: run its shape check here."""
    assert isinstance(statement, _STATEMENT_CLASSES), statement
    if check:
        statement_limits.check(statement)
    return ast.Parsed(statement, len(names), names)


# ---------------------------------------------------------------- error messages


def _line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and 0-based column of character ``pos``, as ANTLR reports them."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1)


def _context(text: str, pos: int, shown: str) -> str:
    before = " ".join(text[:pos].split())
    if len(before) > _CONTEXT_CHARS_MAX:
        before = "..." + before[-_CONTEXT_CHARS_MAX:]
    return f"({before + ' ' if before else ''}[{shown}]...)"


def _syntax_error(text: str, exc: UnexpectedInput) -> errors.SyntaxException:
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    if isinstance(exc, UnexpectedCharacters) or (token is not None and token.type == "REST"):
        # REST (the tail of an unsupported statement) is what the root lexer calls junk.
        pos = exc.pos_in_stream if token is None else token.start_pos
        assert pos is not None
        line, column = _line_column(text, pos)
        return errors.SyntaxException(
            f"line {line}:{column} no viable alternative at character '{text[pos]}'"
        )
    if token is None or token.type == "$END" or token.start_pos is None:
        pos = len(text.rstrip())
        line, column = _line_column(text, pos)
        return errors.SyntaxException(
            f"line {line}:{column} mismatched input '<EOF>' {_context(text, pos, '<EOF>')}"
        )
    shown = str(token.value)
    pos = token.start_pos
    line, column = _line_column(text, pos)
    return errors.SyntaxException(
        f"line {line}:{column} no viable alternative at input '{shown}' "
        f"{_context(text, pos, shown)}"
    )
