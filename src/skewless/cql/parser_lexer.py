"""Keyword-or-identifier decision for the CQL parser's lexer (see parser.py).

lark's contextual lexer lexes a word as keyword K when K is in the lookahead set of the parser
state it is in. In LALR that set is merged over every context the state serves: after a column
name, the state that reduces ``ident`` also "accepts" SET, because in ``UPDATE t SET`` an
``ident`` is followed by SET. So ``"tags" set<text>`` in CREATE TABLE lexed ``set`` as the
keyword SET, and the parse failed.

``KeywordFallbackLexer`` wraps the contextual lexer and, for every keyword token, replays the
reductions the parser would perform on it (on a copy of the state stack, no callbacks). If the
keyword would be rejected but a NAME would be shifted, the token becomes a NAME. The rule is
therefore exact: a word is a keyword where the grammar can use it as one, and an identifier
everywhere else.

It also counts a statement's tokens and refuses one with more than
``limits.cql_statement_tokens_max``: a parse keeps every token and AST node alive until it
ends, and the garbage collector's full passes over hundreds of thousands of them stop the node
for hundreds of milliseconds each (a 1 MB ``SELECT a, a, ...``), however finely the parse itself
is sliced.

This reaches into lark internals (ParserState.state_stack, ParseConf.states, the frontend's
``lexer`` attribute); pyproject.toml pins lark, and tests/cql/test_parser.py covers the cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import Shift
from lark.utils import TextSlice

from skewless import errors, limits

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*", re.IGNORECASE)  # NAME in grammar.lark
_STACK_STEPS_MAX = 10_000  # reductions replayed for one token: far above any real statement


def _accepts(states: dict[Any, dict[str, tuple[Any, Any]]], stack: list[Any], kind: str) -> bool:
    """Would the parser, with state stack ``stack``, shift a token of type ``kind``?"""
    stack = list(stack)
    for _ in range(_STACK_STEPS_MAX):
        action = states[stack[-1]].get(kind)
        if action is None:
            return False
        what, arg = action
        if what is Shift:
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        stack.append(states[stack[-1]][arg.origin.name][1])
    raise AssertionError("LALR reduction replay did not terminate")


# What is not code in a statement: string and dollar-quoted literals, quoted names, comments.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\$\$.*?\$\$|\"(?:[^\"]|\"\")*\"|--[^\n]*|//[^\n]*"
                       r"|/\*.*?\*/", re.S)


def _too_long(text: Any, tokens_max: int) -> errors.InvalidRequest:
    """The refusal of a statement over ``tokens_max`` tokens: Cassandra's own message when it
    holds more bind markers than a statement may (what Cassandra checks first), else ours."""
    whole = text.text[text.start:text.end] if isinstance(text, TextSlice) else str(text)
    markers = _NOT_CODE.sub(" ", whole).count("?")
    if markers > limits.cql_bind_markers_max:
        return errors.InvalidRequest(f"Too many markers(?). {markers} markers exceed the "
                                     f"allowed maximum of {limits.cql_bind_markers_max}")
    return errors.InvalidRequest(
        f"The statement has more than {tokens_max} tokens (the maximum); send long lists as "
        "bound values of a prepared statement")


class KeywordFallbackLexer:
    """Turns keyword tokens the parser cannot use into NAME tokens (module docstring)."""

    def __init__(self, inner: Any, keyword_types: frozenset[str]) -> None:
        self.inner = inner
        self.keyword_types = keyword_types

    def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        tokens_max = limits.cql_statement_tokens_max
        for n, token in enumerate(self.inner.lex(lexer_state, parser_state)):
            if n >= tokens_max:  # before the parse holds more live objects than is bearable
                raise _too_long(lexer_state.text, tokens_max)
            if token.type in self.keyword_types:
                self._demote(token, parser_state)
            yield token

    def _demote(self, token: Token, parser_state: Any) -> None:
        states = parser_state.parse_conf.states
        stack = parser_state.state_stack
        if "NAME" not in states[stack[-1]]:
            return
        if not _accepts(states, stack, token.type) and _accepts(states, stack, "NAME"):
            token.type = "NAME"


def install(parser: Lark) -> None:
    """Wrap ``parser``'s contextual lexer in a KeywordFallbackLexer."""
    keyword_types = frozenset(
        t.name for t in parser.terminals
        if isinstance(t.pattern, PatternStr) and _NAME_RE.fullmatch(t.pattern.value)
    )
    frontend: Any = parser.parser
    assert not isinstance(frontend.lexer, KeywordFallbackLexer)
    assert keyword_types, "grammar.lark has no keywords?"
    frontend.lexer = KeywordFallbackLexer(frontend.lexer, keyword_types)
