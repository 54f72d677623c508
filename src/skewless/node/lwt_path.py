"""Conditional statements, conditional batches and SERIAL reads on a coordinator: each one a
``CasRecord`` from its plan to its one answer, through the node's partition Paxos
(``node.lwt``).

Theory of operation
-------------------
The executor hands over a conditional INSERT/UPDATE/DELETE (``cql.cas.is_conditional``), a
BATCH holding one, or a SELECT at SERIAL/LOCAL_SERIAL. ``LwtPath`` validates what Cassandra
validates before Paxos starts (counter tables first, as ``cql.counter_rules`` says; the serial
level must be SERIAL or LOCAL_SERIAL, the commit level must not be; a SERIAL read names one
partition), plans the statement (``cql.cas.plan_statement`` / ``plan_batch``: every other
refusal with Cassandra's message) and starts a ``CasRecord``:

* ``START``: the ``CasRequest`` is built. Participants: the partition's natural and pending
  replicas (``Node.write_replicas``), only the local datacenter's for LOCAL_SERIAL; the serial
  level is the request's serial consistency (default SERIAL), the commit level its consistency
  (its block-for replicas must have committed before the answer; 0 for ANY);
* ``PAXOS``: the core runs it. ``decide`` (called by the proposer on the partition its
  promises returned, merged) evaluates the plan's conditions (``cas_results.evaluate``) and,
  when they hold, builds the update with ``plan.mutation`` at ``stamp_floor(read)``: the
  proposer shifts it to its commit timestamp (above the ballot and everything the read saw,
  ``node.paxos.ballot.commit_timestamp``), keeping the deletions one below the cells;
* ``ANSWERED``: the ``[applied]`` result set (``cas_results.result_set``), the SERIAL read's
  page (rendered like any SELECT), or the core's error (WriteTimeout with write_type CAS and
  its contentions, ReadTimeout for a SERIAL read, Unavailable). Session tokens
  (``node.clock.session_token``): a request's token is folded into the clock before the ballot
  is drawn; the answer carries the commit timestamp of an applied LWT, the newest timestamp of
  a SERIAL read's partition.

A protocol BATCH message carries one set of bound values per statement, each numbered from 0:
its statements' bind markers are renumbered into one sequence so that one evaluation context
serves the whole conditional batch (``renumbered``).

Pure, like the executor: it acts only through the node it is given.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from skewless import limits
from skewless.cql import ast, cas, cas_results, counter_rules, paging, select
from skewless.cql.compiled_read import ReadPlans
from skewless.cql.results import RowsResult
from skewless.cql.terms import EvalContext
from skewless.errors import InvalidRequest, Unavailable
from skewless.node import consistency as cl_mod
from skewless.node.clock import session_token
from skewless.node.clock.stamps import max_timestamp
from skewless.node.latency import timed
from skewless.node.params import Params, Value
from skewless.node.paxos.proposer import CasRequest, Decide, Outcome
from skewless.node.placement import dc_factors
from skewless.node.record import Answer, Record
from skewless.schema import KeyspaceDef, TableDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.node import Node

Modification = ast.Insert | ast.Update | ast.Delete
ONE_PARTITION = ("SERIAL/LOCAL_SERIAL consistency may only be requested for one partition at "
                 "a time")


class Phase(enum.Enum):
    START = "start"
    PAXOS = "paxos"
    ANSWERED = "answered"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.START: frozenset({Phase.PAXOS, Phase.ANSWERED}),
    Phase.PAXOS: frozenset({Phase.ANSWERED}),
    Phase.ANSWERED: frozenset(),
}


class ExecutorSide(Protocol):
    """What the LWT path needs of the executor (``node.executor`` provides it)."""

    read_plans: ReadPlans

    def answer(self, conn: int, stream: int, body: object,
               warnings: tuple[str, ...] = (), token_us: int | None = None) -> None: ...

    def context(self, values: Sequence[Value], keyspace: str | None,
                now_us: int | None = None) -> EvalContext: ...

    def table(self, stmt_ks: str | None, name: str, keyspace: str | None
              ) -> tuple[KeyspaceDef, TableDef]: ...


# an Outcome -> the client's answer and its session token (``node.clock.session_token``)
Render = Callable[[Outcome], tuple[object, int | None]]


class CasRecord(Record):
    """One LWT or SERIAL read (see the module docstring)."""

    TRANSITIONS = TRANSITIONS
    START = Phase.START
    ANSWERED = Phase.ANSWERED
    KIND = "lwt"

    __slots__ = ("node", "req", "render")

    def __init__(self, node: Node, reply: Answer, conn: int, stream: int, req: CasRequest,
                 render: Render) -> None:
        super().__init__(node.requests, reply, conn, stream)
        self.node = node
        self.req = req
        self.render = render

    def start(self) -> None:
        self._begin(self._start)

    def _start(self) -> None:
        self._to(Phase.PAXOS)
        node = self.node
        latency = (node.latency.coordinator_cas_read if self.req.read_only
                   else node.latency.coordinator_cas_write)  # nodetool proxyhistograms
        node.lwt.cas(self.req, timed(node.clock, latency, node.requests.bind(self._done)))

    def _done(self, outcome: Outcome) -> None:
        self._input(self._on_done, outcome)

    def _on_done(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            self._answer(outcome.error)
        else:
            body, token_us = self.render(outcome)
            self._answer(body, (), token_us)


class LwtPath:
    def __init__(self, executor: ExecutorSide, node: Node,
                 page: Callable[[select.ReadPlan, list[PartitionUpdate], int], RowsResult]
                 ) -> None:
        self.ex = executor
        self.node = node
        self.page = page

    # ------------------------------------------------------------------ writes

    def write(self, conn: int, stream: int, stmt: Modification | ast.Batch,
              values: tuple[Value, ...], params: Params, keyspace: str | None) -> None:
        """A conditional statement, or a BATCH holding one, with its bound values."""
        statements = stmt.statements if isinstance(stmt, ast.Batch) else (stmt,)
        tables = [self.ex.table(s.keyspace, s.table, keyspace) for s in statements]
        for s, (_, t) in zip(statements, tables, strict=True):
            counter_rules.check_prepare(s, t)  # INSERT on a counter table: its message first
        serial = _serial_level(params)
        if params.consistency in (cl_mod.SERIAL, cl_mod.LOCAL_SERIAL):
            raise InvalidRequest(
                f"{cl_mod.NAMES[params.consistency]} is not supported as conditional update "
                "commit consistency. Use ANY if you mean \"make sure it is accepted but I "
                "don't care how many replicas commit it for non-SERIAL reads\"")
        cl_mod.check_cl(params.consistency)
        ctx = self.ex.context(values, keyspace)
        schema = self.node.schema
        plan = cas.plan_batch(stmt, schema, ctx) if isinstance(stmt, ast.Batch) else \
            cas.plan_statement(stmt, tables[0][1], schema, ctx)
        ks = tables[0][0]
        factors = dc_factors(ks.replication_map(), self.node.config.dc)
        commit = 0 if params.consistency == cl_mod.ANY else cl_mod.requirement(
            params.consistency, factors, self.node.config.dc, write=True).block_for
        req = self._request(ks, plan.table_def, plan.key, _decide(self.node, plan), serial,
                            params.consistency, commit, False, params.token_us)

        def render(outcome: Outcome) -> tuple[object, int | None]:
            assert isinstance(outcome.result, cas_results.CasOutcome), outcome.result
            return cas_results.result_set(plan, outcome.result), outcome.ts_us or None

        CasRecord(self.node, self.ex.answer, conn, stream, req, render).start()

    # ------------------------------------------------------------------ SERIAL reads

    def serial_read(self, conn: int, stream: int, stmt: ast.Select, values: tuple[Value, ...],
                    params: Params, keyspace: str | None) -> None:
        """A SELECT at SERIAL or LOCAL_SERIAL: one partition, through Paxos."""
        ks, table = self.ex.table(stmt.keyspace, stmt.table, keyspace)
        ctx = self.ex.context(values, keyspace)
        state = paging.decode_paging_state(params.paging_state) if params.paging_state else None
        page_size = min(params.page_size, limits.cql_page_rows_max) if \
            params.page_size is not None and params.page_size > 0 else None
        plan = self.ex.read_plans.plan(stmt, table, self.node.schema, ctx, state, page_size)
        if plan.partition_keys is None or len(plan.partition_keys) > 1:
            raise InvalidRequest(ONE_PARTITION)
        if not plan.partition_keys:
            self.ex.answer(conn, stream, self.page(plan, [], self._now_s()))
            return
        key = plan.partition_keys[0]

        def decide(current: PartitionUpdate) -> tuple[bool, PartitionUpdate | None, object]:
            return False, None, current

        req = self._request(ks, table, key, decide, params.consistency, cl_mod.QUORUM, None,
                            True, params.token_us)

        def render(outcome: Outcome) -> tuple[object, int | None]:
            result = outcome.result
            assert isinstance(result, PartitionUpdate), result
            return self.page(plan, [result], self._now_s()), max_timestamp(result) or None

        CasRecord(self.node, self.ex.answer, conn, stream, req, render).start()

    # ------------------------------------------------------------------ internals

    def _now_s(self) -> int:
        return self.node.physical_us() // 1_000_000

    def _request(self, ks: KeyspaceDef, table: TableDef, key: bytes, decide: Decide,
                 serial: int, commit_cl: int, commit_required: int | None, read_only: bool,
                 token_us: int | None) -> CasRequest:
        node = self.node
        node.check_capacity()
        if token_us is not None:  # the ballot, and so the commit, above the session's token
            session_token.check(token_us, node.physical_us(), node.config.max_offset_ms)
            node.observe(token_us)
        replicas, _pending = node.write_replicas(ks, key)
        participants = replicas
        if serial == cl_mod.LOCAL_SERIAL:
            participants = [a for a in replicas if node.membership.dc_of(a) == node.config.dc]
        alive = frozenset(a for a in replicas if a == node.address or node.membership.is_alive(a))
        if not participants:
            raise Unavailable("Cannot achieve consistency level " + cl_mod.NAMES[serial],
                              serial, 1, 0)
        return CasRequest(table.table_key, key, decide, tuple(participants), tuple(replicas),
                          alive, serial, commit_cl, commit_required, read_only,
                          node.config.cas_contention_timeout_in_ms)


def check_at_prepare(stmt: Modification) -> None:
    """What Cassandra refuses when it prepares a conditional statement (ModificationStatement)
    that only the text shows: a custom timestamp."""
    if cas.is_conditional(stmt) and stmt.using.timestamp is not None:
        raise InvalidRequest("Cannot provide custom timestamp for conditional updates")


def _serial_level(params: Params) -> int:
    serial = cl_mod.SERIAL if params.serial_consistency is None else params.serial_consistency
    if serial not in (cl_mod.SERIAL, cl_mod.LOCAL_SERIAL):
        raise InvalidRequest("Invalid consistency for conditional update. Must be one of SERIAL "
                             "or LOCAL_SERIAL")
    return serial


def _decide(node: Node, plan: cas.CasPlan) -> Decide:
    """The plan's condition and update on the partition Paxos read (see the docstring)."""
    def decide(current: PartitionUpdate) -> tuple[bool, PartitionUpdate | None, object]:
        now_s = node.physical_us() // 1_000_000
        outcome = cas_results.evaluate(plan, current, now_s)
        if not outcome.applied:
            return False, None, outcome
        return True, plan.mutation(cas.stamp_floor(current), now_s, current), outcome
    return decide


# ---------------------------------------------------------------- protocol batches

T = TypeVar("T")


def _shift(node: T, offset: int) -> T:
    """``node`` (an AST value) with every bind marker's index moved by ``offset``."""
    if isinstance(node, ast.BindMarker):
        return dataclasses.replace(node, index=node.index + offset)
    if isinstance(node, tuple):
        return tuple(_shift(x, offset) for x in node)  # type: ignore[return-value]
    if isinstance(node, list):
        return [_shift(x, offset) for x in node]  # type: ignore[return-value]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {f.name: _shift(getattr(node, f.name), offset)
                   for f in dataclasses.fields(node) if f.init}
        return dataclasses.replace(node, **changes)
    return node


def renumbered(kind: str, stmts: Sequence[Modification], values: Sequence[tuple[Value, ...]]
               ) -> tuple[ast.Batch, tuple[Value, ...]]:
    """A protocol BATCH's statements as one ``ast.Batch`` whose markers index one value
    sequence (each statement's values follow the previous statement's)."""
    out: list[Modification] = []
    flat: list[Value] = []
    for s, v in zip(stmts, values, strict=True):
        out.append(_shift(s, len(flat)))
        flat.extend(v)
    return ast.Batch("UNLOGGED" if kind == "UNLOGGED" else "LOGGED", tuple(out)), tuple(flat)
