"""Parsing a long statement a few tokens at a time, so that the node serves others meanwhile.

Theory of operation
-------------------
``parse`` (parser.py) runs lark to the end in one call: about 5 µs per character here, so a
1 MB statement would hold the node's event loop for seconds. ``SlicedParse`` drives the same
lark parser through its interactive interface (``parse_interactive`` / ``iter_parse``), which
lexes and shifts one token per step: ``step(tokens_max)`` feeds at most that many tokens and
returns, and the runtime (runtime/parse_slices.py) calls it again on a later turn of its loop
until it is done. The statement then goes through the same shape check as every parse
(statement_limits.ShapeCheck), in slices too, and the outcome (``result`` or ``error``) is
handed to the executor with ``parser.handed_over``.

The parser object and its builder are shared with ``parser.parse``; the builder's only
per-statement state is its list of bind-marker names, so each step swaps in this statement's
own list under the parser's lock and puts the other back: short statements parsed inline
between two steps are unaffected.

Pure: no I/O, no clock (the runtime decides how many steps fit in a turn).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.exceptions import LarkError, UnexpectedInput

from skewless import errors
from skewless.cql import ast, parser, statement_limits

__all__ = ["SlicedParse"]


class SlicedParse:
    """One statement's parse, advanced by ``step``; then ``result`` or ``error`` is set."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.result: ast.Parsed | None = None
        self.error: errors.CqlError | None = None
        self._names: list[str | None] = []
        self._interactive: Any = None
        self._tokens: Iterator[Token] | None = None
        self._last: Token | None = None
        self._statement: object = None
        self._shape: statement_limits.ShapeCheck | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def outcome(self) -> ast.Parsed | errors.CqlError:
        assert self.done
        return self.result if self.result is not None else self.error  # type: ignore[return-value]

    def step(self, tokens_max: int, nodes_max: int) -> bool:
        """Parse up to ``tokens_max`` more tokens (or, once parsed, shape-check up to
        ``nodes_max`` nodes); True when the outcome is known."""
        if self.done:
            return True
        try:
            if self._shape is None:
                self._parse_step(tokens_max)
            elif self._shape.step(nodes_max):
                self.result = parser.finish(self._statement, tuple(self._names), check=False)
        except errors.CqlError as e:
            self.error = e
        return self.done

    def _parse_step(self, tokens_max: int) -> None:
        with parser._LOCK:
            builder = parser._BUILDER
            saved = builder.bind_names
            builder.bind_names = self._names
            try:
                self._advance(tokens_max)
            except UnexpectedInput as exc:
                raise parser._syntax_error(self.text, exc) from None
            except LarkError as exc:
                raise errors.SyntaxException(f"Invalid CQL: {exc}") from None
            finally:
                builder.bind_names = saved

    def _advance(self, tokens_max: int) -> None:
        if self._interactive is None:
            self._interactive = parser._PARSER.parse_interactive(self.text)
            self._tokens = self._interactive.iter_parse()
        assert self._tokens is not None
        for _ in range(tokens_max):
            token = next(self._tokens, None)
            if token is None:
                self._statement = self._interactive.feed_eof(self._last)
                self._shape = statement_limits.ShapeCheck(self._statement)
                return
            self._last = token
