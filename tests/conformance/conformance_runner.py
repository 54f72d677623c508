"""Runs conformance cases (``conformance_cases``) against a live cluster through the stock
driver. Every ``cases_*.py`` module in this directory contributes its ``CASES``."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from conformance_cases import QUORUM, Case, Check, Error, Ok, Rows, Step, Warns

HERE = Path(__file__).resolve().parent


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(HERE.glob("cases_*.py")):
        module = importlib.import_module(path.stem)
        cases.extend(module.CASES)
    names = Counter(c.name for c in cases)
    dup = [n for n, k in names.items() if k > 1]
    assert not dup, f"conformance case names must be unique: {dup}"
    return cases


def keyspace_for(case: Case) -> str:
    return "c_" + re.sub(r"[^a-z0-9_]", "_", case.name.lower())[:46]


def _statement(session: Session, cql: str, ks: str) -> SimpleStatement:
    return SimpleStatement(cql.replace("{ks}", ks), consistency_level=QUORUM)


def _norm(row: Any) -> tuple[Any, ...]:
    return tuple(row)


def run_step(session: Session, ks: str, step: Step) -> None:
    if isinstance(step, Check):
        step.fn(session, ks)
        return
    stmt = _statement(session, step.cql, ks)
    values = step.values or None
    where = f"{step.cql!r}"
    if isinstance(step, Error):
        try:
            session.execute(stmt, values)
        except Exception as e:
            kind = type(e).__name__
            assert kind == step.kind, f"{where}: expected {step.kind}, got {kind}: {e}"
            assert step.message in str(e), \
                f"{where}: expected a message containing {step.message!r}, got {e}"
            return
        raise AssertionError(f"{where}: expected {step.kind} ({step.message!r}), it succeeded")
    future = session.execute_async(stmt, values)
    result = future.result()
    if isinstance(step, Ok):
        return
    if isinstance(step, Warns):
        warnings = future.warnings or []
        assert any(step.message in w for w in warnings), \
            f"{where}: expected a warning containing {step.message!r}, got {warnings}"
        return
    assert isinstance(step, Rows)
    got = [_norm(r) for r in result]
    want = [tuple(r) for r in step.rows]
    if step.ordered:
        assert got == want, f"{where}: expected rows {want}, got {got}"
    else:
        assert Counter(map(repr, got)) == Counter(map(repr, want)), \
            f"{where}: expected rows {want} (any order), got {got}"


def run_case(session: Session, case: Case, rf: int) -> None:
    ks = keyspace_for(case)
    session.execute(SimpleStatement(
        f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}", consistency_level=QUORUM))
    session.set_keyspace(ks)
    try:
        for step in case.steps:
            run_step(session, ks, step)
    finally:
        session.execute(SimpleStatement(f"DROP KEYSPACE IF EXISTS {ks}",
                                        consistency_level=QUORUM))
