"""A BATCH's size measured a few statements at a time, before the write path builds it at once.

Theory of operation
-------------------
Cassandra refuses a BATCH over more than one partition whose mutations are larger than
``batch_size_fail_threshold`` ("Batch too large"; batchlog.batch_warnings here). The write path
can only measure that once it has built every statement's mutation, in one synchronous call: for
a 10,000-statement batch about a second of the node's loop, during which no other client and no
peer is served, only to refuse it. ``BatchPreflight`` builds the same mutations a statement per
``step`` (the runtime drives the steps in slices, runtime/parse_slices.drive) and adds up their
encoded sizes; once more than one partition is written and the sum is beyond
``_REFUSE_FACTOR`` times the fail threshold, the batch is refused then and there, with the same
error and log line. Below that, or on any error of its own (an unknown table, a bad value), it
steps aside: the write path builds the batch and decides exactly as always (the margin covers
the difference between this sum, taken before mutations of one partition are merged and with a
placeholder timestamp, and the exact size).

It reads the executor's schema and prepared statements and evaluates values as the write path
does; it sends nothing and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from skewless import limits
from skewless.cql import ast, dml
from skewless.cql.parser import parse
from skewless.errors import CqlError, InvalidRequest
from skewless.node.executor import Executor, Params, Value
from skewless.storage import codec

log = logging.getLogger(__name__)

_REFUSE_FACTOR = 2  # the estimate is refused only when clearly beyond the exact check's bound
_STATEMENTS_MIN = 32  # smaller batches are built at once by the write path: cheap enough


class BatchPreflight:
    """Steps through one BATCH's statements (module docstring). ``error``: the refusal."""

    def __init__(self, ex: Executor, entries: Sequence[tuple[str | bytes, tuple[Value, ...]]],
                 keyspace: str | None,
                 parsed: Mapping[str, ast.Parsed | CqlError] | None = None) -> None:
        self.ex = ex
        self.parsed = parsed or {}  # texts already parsed (in slices) and their outcomes
        self.entries = entries if len(entries) >= _STATEMENTS_MIN else ()
        self.keyspace = keyspace
        self.next = 0
        self.size = 0
        self.partitions: set[tuple[str, bytes]] = set()
        self.tables: set[str] = set()
        self.error: CqlError | None = None

    def step(self) -> bool:
        """Measure one more statement; True when done (refused, or no refusal from here)."""
        if self.error is not None or self.next >= len(self.entries):
            return True
        query_or_id, values = self.entries[self.next]
        self.next += 1
        try:
            parsed = self.ex._prepared(query_or_id).parsed if isinstance(query_or_id, bytes) \
                else self._parse(query_or_id)
            stmt = parsed.statement
            if not isinstance(stmt, ast.Insert | ast.Update | ast.Delete):
                return self._step_aside()  # the executor answers the wrong statement
            ks, table = self.ex._table(stmt.keyspace, stmt.table, self.keyspace)
            ctx = self.ex._ctx(self.ex._values(parsed, Params(values=values)), self.keyspace)
            updates = dml.build_mutations(stmt, table, self.ex.node.schema, ctx, 0,
                                          ctx.now_us // 1_000_000)
        except CqlError:
            return self._step_aside()  # the write path answers it exactly as always
        for u in updates:
            self.size += len(codec.encode_update(u))
            self.partitions.add((ks.name, u.key))
        self.tables.add(f"{ks.name}.{table.name}")
        fail = limits.batch_size_bytes_fail
        if len(self.partitions) > 1 and self.size > _REFUSE_FACTOR * fail:
            log.error("Batch for %s is of size at least %d (measured over its first %d "
                      "statements), exceeding specified threshold of %d. (see "
                      "batch_size_bytes_fail)", ", ".join(sorted(self.tables)), self.size,
                      self.next, fail)
            self.error = InvalidRequest("Batch too large")
            return True
        return False

    def _parse(self, text: str) -> ast.Parsed:
        outcome = self.parsed.get(text)
        if outcome is None:
            return parse(text)
        if isinstance(outcome, CqlError):
            raise outcome
        return outcome

    def _step_aside(self) -> bool:
        self.next = len(self.entries)
        return True
