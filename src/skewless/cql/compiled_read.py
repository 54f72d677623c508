"""A SELECT by full primary key compiled once into its read plan.

Theory of operation
-------------------
``select.plan_select`` turns a SELECT and its bound values into a ``ReadPlan``: it binds the
selectors, collects the WHERE clause, chooses an index, works out slices, order, limits and
the result columns. For the point read a workload repeats (``SELECT cols FROM t WHERE pk = ?
[AND ck = ?]``) only the partition key and the clustering depend on the values, and the page
size on the request. So the first execution plans as usual and, when the statement is of that
form, keeps the plan's other fields as a template; later executions validate the bound values
(in the WHERE clause's order, with ``where.collect``'s errors), encode the key and the
clustering, and fill the template in.

The form (``compile_read``): each partition key column restricted by one ``=`` to a bind marker
or a constant, and every clustering column the same way or none; plain column selectors (or
``*``), with or without JSON; no DISTINCT, GROUP BY or filtering; literal limits only; no
paging state (a later page resumes through ``plan_select``). Column types are simple values
naming no user type (``compiled.simple_type``). The first plan is checked against the
template's own key and slices before the template is kept, so a plan the template would not
reproduce keeps going through ``plan_select``.

``ReadPlans`` caches templates by statement object; an entry remembers the ``TableDef`` and the
``Schema`` it was made with (the plan carries the schema for rendering), so any schema change
makes it again. Bounded by ``limits.cql_compiled_plans_max``.
"""

from __future__ import annotations

from dataclasses import fields

from skewless import errors, limits
from skewless.cql import ast, key_sizes, select
from skewless.cql.compiled import CK, PK, NoPlan, Step, key_steps, validate
from skewless.cql.paging import PagingState
from skewless.cql.select import FULL_SLICE, ClusteringSlice, ReadPlan
from skewless.cql.terms import EvalContext, Unset
from skewless.schema import Schema, TableDef
from skewless.storage import keys

_FILLED = ("partition_keys", "slices", "page_size")  # what each execution fills in


class ReadTemplate:
    """A compiled point read (see the module docstring); ``base`` is set by the first plan."""

    __slots__ = ("steps", "n_pk", "clustering", "by_clustering", "base")

    def __init__(self, steps: list[Step], table: TableDef) -> None:
        self.steps = tuple(steps)
        self.n_pk = len(table.partition_key)
        self.clustering = tuple((c.type, c.clustering_order == "desc") for c in table.clustering)
        self.by_clustering = any(s.place == CK for s in steps)  # else the whole partition
        self.base: dict[str, object] | None = None

    def key_and_slices(self, values: tuple[object, ...] | list[object]
                       ) -> tuple[bytes, tuple[ClusteringSlice, ...]]:
        """The routed partition key and the clustering slice the values name."""
        pk: list[bytes] = [b""] * self.n_pk
        ck: list[bytes] = [b""] * len(self.clustering) if self.by_clustering else []
        for s in self.steps:
            if s.index >= 0:
                if s.index >= len(values):
                    raise errors.InvalidRequest(f"There were {len(values)} markers(?) in CQL "
                                                f"but {s.index + 1} or more needed")
                v = values[s.index]
                if isinstance(v, bytes) and v and s.width and len(v) != s.width:
                    validate(s, v)
            else:
                v = s.const
            if v is None:
                raise errors.InvalidRequest(
                    f"Invalid null value in condition for column {s.name}")
            if isinstance(v, Unset):
                raise errors.InvalidRequest(f"Invalid unset value for column {s.name}")
            assert isinstance(v, bytes)
            if s.place == PK:
                pk[s.slot] = v
            else:
                ck[s.slot] = v
        key = key_sizes.routed_key(pk)
        if not ck:
            return key, (FULL_SLICE,)
        c = keys.encode_clustering(
            [(t, desc, v) for (t, desc), v in zip(self.clustering, ck, strict=True)])
        return key, (ClusteringSlice(c, True, c, True),)

    def plan(self, ctx: EvalContext, page_size: int | None) -> ReadPlan:
        assert self.base is not None
        key, slices = self.key_and_slices(list(ctx.values))
        return ReadPlan(partition_keys=(key,), slices=slices, page_size=page_size,
                        **self.base)  # type: ignore[arg-type]


def compile_read(stmt: ast.Select, table: TableDef) -> ReadTemplate | None:
    """The template of ``stmt`` on ``table``, or None when ``plan_select`` must plan it."""
    try:
        return _compile(stmt, table)
    except (NoPlan, errors.CqlError):
        return None


def _compile(stmt: ast.Select, table: TableDef) -> ReadTemplate:
    if stmt.distinct or stmt.group_by or stmt.allow_filtering or any(
            not isinstance(s.expr, ast.ColumnRef) for s in stmt.selectors) or any(
            t is not None and not isinstance(t, ast.Constant)
            for t in (stmt.limit, stmt.per_partition_limit)):
        raise NoPlan
    steps, restricted = key_steps(stmt.where, table)
    pk = {c.name for c in table.partition_key}
    ck = {c.name for c in table.clustering}
    if restricted not in (pk, pk | ck):
        raise NoPlan
    return ReadTemplate(steps, table)


class ReadPlans:
    """A node's compiled point reads (see the module docstring)."""

    def __init__(self) -> None:
        self._plans: dict[int, tuple[ast.Select, TableDef, Schema, ReadTemplate | None]] = {}

    def plan(self, stmt: ast.Select, table: TableDef, schema: Schema, ctx: EvalContext,
             paging: PagingState | None = None, page_size: int | None = None) -> ReadPlan:
        """``select.plan_select``, from the statement's template when it has one."""
        entry = self._plans.get(id(stmt))
        if entry is not None and entry[0] is stmt and entry[1] is table and entry[2] is schema:
            template = entry[3]
            if template is not None and template.base is not None and paging is None:
                return template.plan(ctx, page_size)
        else:
            template = compile_read(stmt, table)
            self._plans.pop(id(stmt), None)
            self._plans[id(stmt)] = (stmt, table, schema, template)  # holds stmt: id stays
            if len(self._plans) > limits.cql_compiled_plans_max:
                del self._plans[next(iter(self._plans))]
        plan = select.plan_select(stmt, table, schema, ctx, paging, page_size)
        if template is not None and template.base is None and paging is None:
            _keep(template, plan, ctx, page_size)
        return plan


def _keep(template: ReadTemplate, plan: ReadPlan, ctx: EvalContext,
          page_size: int | None) -> None:
    """Keep ``plan``'s fields as the template's base if the template reproduces it."""
    key, slices = template.key_and_slices(list(ctx.values))
    if plan.partition_keys != (key,) or plan.slices != slices or plan.page_size != page_size \
            or plan.start is not None or plan.index is not None:
        return
    base = {f.name: getattr(plan, f.name) for f in fields(ReadPlan) if f.name not in _FILLED}
    if ReadPlan(partition_keys=(key,), slices=slices, page_size=page_size,
                **base) == plan:
        template.base = base
