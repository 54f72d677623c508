"""Parsing long statements in slices on the node's event loop (see cql/parser_sliced.py).

A QUERY or PREPARE whose text is longer than ``limits.cql_parse_inline_chars_max``, and a
BATCH with long texts or many statements, are parsed here before they reach the executor: each
turn of the loop parses (then shape-checks) for at most ``limits.cql_parse_slice_ms``, then yields
with ``call_soon``, so a megabyte statement costs the other clients and the peers a few
milliseconds per turn instead of seconds at once. When every text's outcome is known, the
request goes to the executor in one synchronous call inside ``parser.handed_over``, so its
``parse`` calls find the outcomes instead of parsing again; a text's syntax error or shape
refusal is then raised there, as an inline parse would have, and answered as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from skewless import limits
from skewless.cql import ast
from skewless.cql import parser as cql_parser
from skewless.cql import protocol as proto
from skewless.cql.parser_sliced import SlicedParse
from skewless.errors import CqlError

Outcomes = dict[str, ast.Parsed | CqlError]
_BATCH_INLINE_ENTRIES_MAX = 16  # a BATCH of more statements goes through the slices too


def texts_to_slice(req: proto.Request) -> list[str] | None:
    """The statement texts of ``req`` to parse in slices (perhaps none: a BATCH of many
    prepared statements, measured in slices after); None when it goes to the executor at
    once."""
    if isinstance(req, proto.Query | proto.Prepare):
        return [req.query] if len(req.query) > limits.cql_parse_inline_chars_max else None
    if isinstance(req, proto.Batch):
        texts = [e.statement for e in req.entries if isinstance(e.statement, str)]
        if len(req.entries) > _BATCH_INLINE_ENTRIES_MAX or \
                any(len(t) > limits.cql_parse_inline_chars_max for t in texts):
            return list(dict.fromkeys(texts))  # each distinct text once
    return None


def run(texts: list[str], then: Callable[[Outcomes], None]) -> None:
    """Parse ``texts`` in slices on the running loop, then call ``then(outcomes)``; the
    caller hands them over to ``parse`` (``parser.handed_over``) around the executor's call."""
    slicer = _Slicer(texts)
    drive(slicer.step, lambda: then(slicer.outcomes))


def drive(step: Callable[[], bool], then: Callable[[], None]) -> None:
    """Call ``step`` (a little work; True when all is done) for at most
    ``limits.cql_parse_slice_ms`` per turn of the running loop, then ``then``."""
    deadline = time.monotonic() + limits.cql_parse_slice_ms / 1000  # allow-real-clock
    while time.monotonic() < deadline:  # allow-real-clock
        if step():
            then()
            return
    asyncio.get_running_loop().call_soon(drive, step, then)


class _Slicer:
    def __init__(self, texts: list[str]) -> None:
        self.pending = list(reversed(texts))
        self.current: SlicedParse | None = None
        self.outcomes: Outcomes = {}

    def step(self) -> bool:
        if self.current is None:
            if not self.pending:
                return True
            text = self.pending.pop()
            if len(text) <= limits.cql_parse_inline_chars_max:
                try:
                    self.outcomes[text] = cql_parser.parse(text)
                except CqlError as e:
                    self.outcomes[text] = e
                return False
            self.current = SlicedParse(text)
        if self.current.step(limits.cql_parse_slice_tokens, limits.cql_parse_slice_nodes):
            self.outcomes[self.current.text] = self.current.outcome()
            self.current = None
        return False
