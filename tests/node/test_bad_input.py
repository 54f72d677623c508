"""Bad input never answers ServerError (issue 10's "Bad input" rule), in process.

Generated and mutated CQL (``cql_fuzz_gen``) with arbitrary bound values goes through the
production executor of a one-node simulated cluster (``skewless.sim.World``: the real node code,
virtual time) as QUERY, PREPARE + EXECUTE (with odd page sizes, paging states and client
timestamps) and BATCH. Every answer must be a result or a client error (Invalid, Syntax,
Configuration, AlreadyExists, Unprepared...), never ServerError, and nothing may be logged at
ERROR (the executor logs a traceback for every internal error).

Bounded: hypothesis runs a fixed, derandomized number of examples (SKEWLESS_FUZZ_EXAMPLES
scales it for a longer local run) and each test stops drawing work past its time budget.
The real-node counterpart is tests/integration/test_bad_input_real.py.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

import pytest
from cql_fuzz_gen import SCHEMA, bound_values, statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skewless.cql.terms import UNSET
from skewless.errors import ServerError
from skewless.node.consistency import ONE
from skewless.node.effects import Reply
from skewless.node.executor import Params, PreparedResult
from skewless.sim.world import World

SCALE = float(os.environ.get("SKEWLESS_FUZZ_EXAMPLES_SCALE", "1"))
BUDGET_S = 8.0 * SCALE  # per test; the suite's three tests stay well under 30 s together
NODE = "127.0.0.1"
CONN = 1


def _settings(examples: int) -> settings:
    return settings(max_examples=int(examples * SCALE), deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Harness:
    """One simulated node with the fuzz schema; ``call`` runs one request to its answer."""

    def __init__(self) -> None:
        self.world = World(11, n_nodes=1, trace_enabled=False)
        assert self.world.stabilize()
        self.node = self.world.nodes[NODE]
        self.answers: list[object] = []
        self.errors = _Errors()
        logging.getLogger("skewless").addHandler(self.errors)
        for cql in SCHEMA:
            body = self.call(lambda cql=cql: self.node.executor.query(
                CONN, 0, cql, Params(consistency=ONE), None))
            assert type(body).__name__ == "SchemaChange", (cql, body)
        self.deadline = 0.0

    def call(self, request: Callable[[], None]) -> object:
        self.answers.clear()
        self.errors.records.clear()
        self.world.replies[CONN] = lambda r: self.answers.append(r.body) if isinstance(
            r, Reply) else None
        self.world.request(NODE, CONN, 0, request)
        self.world.run_for(20 * 10**6)
        assert len(self.answers) == 1, f"expected one answer, got {self.answers}"
        return self.answers[0]

    def check(self, what: str, body: object) -> object:
        assert not isinstance(body, ServerError), f"{what}: ServerError {body.message}"
        assert not self.errors.records, \
            f"{what}: logged {[r.getMessage() for r in self.errors.records]}"
        return body

    def over_budget(self) -> bool:
        return time.monotonic() > self.deadline

    def close(self) -> None:
        logging.getLogger("skewless").removeHandler(self.errors)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


@pytest.fixture
def budget(harness: Harness) -> Harness:
    harness.deadline = time.monotonic() + BUDGET_S
    return harness


values_lists = st.lists(st.one_of(bound_values(), st.just(UNSET)), max_size=5)


@_settings(400)
@given(cql=statements(), values=values_lists)
def test_queries_never_answer_server_error(budget: Harness, cql: str,
                                           values: list[bytes | None]) -> None:
    if budget.over_budget():
        return
    ex = budget.node.executor
    body = budget.call(lambda: ex.query(CONN, 0, cql, Params(consistency=ONE,
                                                             values=tuple(values)), "ks"))
    budget.check(cql, body)


@_settings(250)
@given(cql=statements(), values=values_lists, data=st.data())
def test_prepared_never_answer_server_error(budget: Harness, cql: str,
                                            values: list[bytes | None], data: st.DataObject
                                            ) -> None:
    if budget.over_budget():
        return
    ex = budget.node.executor
    prepared = budget.check(cql, budget.call(lambda: ex.prepare(CONN, 0, cql, "ks")))
    if not isinstance(prepared, PreparedResult):
        return
    params = Params(
        consistency=ONE, values=tuple(values),
        page_size=data.draw(st.sampled_from((None, 1, 2, 0, -1, 5000))),
        paging_state=data.draw(st.one_of(st.none(), st.binary(max_size=30))),
        timestamp=data.draw(st.sampled_from((None, 0, -(2**63), 2**63 - 1))))
    body = budget.call(lambda: ex.execute(CONN, 0, prepared.statement_id, params, "ks"))
    budget.check(f"EXECUTE {cql} {values}", body)


@_settings(120)
@given(entries=st.lists(st.tuples(statements(), st.lists(bound_values(), max_size=4).map(tuple)),
                        min_size=1, max_size=4),
       kind=st.sampled_from((0, 1, 2, 7)))
def test_batches_never_answer_server_error(
        budget: Harness, entries: list[tuple[str, tuple[bytes | None, ...]]], kind: int) -> None:
    if budget.over_budget():
        return
    ex = budget.node.executor
    body = budget.call(lambda: ex.batch(CONN, 0, kind, list(entries), Params(consistency=ONE),
                                        "ks"))
    budget.check(f"BATCH {entries}", body)
