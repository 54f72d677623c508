"""One client read (a SELECT's page) as one record: its phase and its transitions.

Theory of operation
-------------------
``Executor`` plans a SELECT (``cql.select.plan_select``) and hands the plan to a
``ReadRecord``, which takes it to its one answer (the machinery, shared with writes, is
``node.record``'s: a phase, a transition table, inputs queued and never run re-entrantly). The
phases:

* ``START``: nothing asked yet (a plan with no partition answers at once, an empty page);
* ``READING``: each partition the plan names is read at the consistency level (with a session
  token, at least at the level that sees the token's writes: ``node.session_token``); the page
  is rendered once every read is in, with the read thresholds' and the key warnings;
* ``SCANNING``: a range scan's or an index query's page (``node.scan_page``,
  ``node.index.read``), which runs its own rounds and hands back the page;
* ``ANSWERED``: the one answer given.

Pure, like the executor: cluster time is read once, at the start.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless.cql import select
from skewless.cql.results import RowsResult
from skewless.errors import CqlError
from skewless.node import scan_page, thresholds
from skewless.node.clock import session_token
from skewless.node.clock.stamps import max_timestamp
from skewless.node.coordinator import Join
from skewless.node.index import read as index_read
from skewless.node.messages import ReadRequest
from skewless.node.params import Params
from skewless.node.record import Answer, Record
from skewless.schema import KeyspaceDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.node import Node
    from skewless.node.tracing.records import Trace


class Phase(enum.Enum):
    START = "start"
    READING = "reading"
    SCANNING = "scan page"
    ANSWERED = "answered"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.START: frozenset({Phase.READING, Phase.SCANNING, Phase.ANSWERED}),
    Phase.READING: frozenset({Phase.ANSWERED}),
    Phase.SCANNING: frozenset({Phase.ANSWERED}),
    Phase.ANSWERED: frozenset(),
}

Page = Callable[[select.ReadPlan, list[PartitionUpdate], int], RowsResult]


class ReadRecord(Record):
    """One client read (see the module docstring)."""

    TRANSITIONS = TRANSITIONS
    START = Phase.START
    ANSWERED = Phase.ANSWERED
    KIND = "read"

    __slots__ = ("node", "page", "ks", "plan", "params", "trace", "now_s")

    def __init__(self, node: Node, reply: Answer, page: Page, conn: int, stream: int,
                 ks: KeyspaceDef, plan: select.ReadPlan, params: Params,
                 trace: Trace | None) -> None:
        super().__init__(node.requests, reply, conn, stream)
        self.node = node
        self.page = page  # renders a page (the executor's ``_page``)
        self.ks = ks
        self.plan = plan
        self.params = params
        self.trace = trace
        self.now_s = 0

    def start(self) -> None:
        self._begin(self._start)

    def _start(self) -> None:
        node, plan, params = self.node, self.plan, self.params
        self.now_s = node.physical_us() // 1_000_000
        if plan.partition_keys is None:
            self._to(Phase.SCANNING)
            read = index_read.read_index if plan.index is not None else scan_page.read_scan
            read(node, self.ks, plan, params.consistency, self.now_s,
                 node.requests.bind(self._scanned))
            return
        keys = list(plan.partition_keys)
        if not keys:
            self._answer(self.page(plan, [], self.now_s))
            return
        row_limit = plan.row_limit_hint() or 0
        cl = params.consistency
        if params.token_us is not None:
            cl = session_token.read_consistency(cl)
        self._to(Phase.READING)
        join = Join(len(keys), self._read)
        for i, key in enumerate(keys):
            slices = tuple((x.start, x.start_inclusive, x.end, x.end_inclusive)
                           for x in plan.slices_for(key))
            req = ReadRequest(0, plan.table.table_key, key, slices, plan.reversed, row_limit,
                              False)
            node.read(self.ks, req, cl, join.part(i), self.trace)  # bound to the request there

    def _scanned(self, error: CqlError | None, rows: RowsResult | None) -> None:
        self._input(self._on_scanned, error, rows)

    def _on_scanned(self, error: CqlError | None, rows: RowsResult | None) -> None:
        self._answer(error if error is not None else rows, scan_page.warnings_of(self.plan))

    def _read(self, error: CqlError | None, results: list[object]) -> None:
        self._input(self._on_read, error, results)

    def _on_read(self, error: CqlError | None, results: list[object]) -> None:
        if error is not None:
            self._answer(error)
            return
        plan = self.plan
        parts = [r for r in results if isinstance(r, PartitionUpdate)]
        token = max([self.params.token_us or 0] + [max_timestamp(p) for p in parts])
        page = self.page(plan, parts, self.node.physical_us() // 1_000_000)
        name = f"{plan.table.keyspace}.{plan.table.name}"
        warnings = thresholds.read_warnings(parts, len(page.rows), name) + select.key_warnings(plan)
        self._answer(page, warnings, token)
