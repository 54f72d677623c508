"""The conformance corpus's vocabulary: a case is a named list of CQL steps, each pinning down
one behaviour of Cassandra 5 that a stock client can observe.

A case runs in a keyspace of its own (``{ks}`` in a statement is replaced by its name; the
session has it as its current keyspace), against one node and against three (RF=1 and RF=3,
every statement at QUORUM unless a step says otherwise), through the stock python driver.
``pins`` names the Cassandra behaviour and, where it is known, the class or file of Cassandra's
source that decides it, so that a failing case says what it expected and why.

Steps:

* ``Ok(cql, *values)``: the statement succeeds.
* ``Rows(cql, rows, *values, ordered=True)``: it succeeds and returns exactly ``rows`` (tuples,
  compared with the driver's decoded values; ``ordered=False`` compares as multisets).
* ``Error(cql, kind, message, *values)``: it fails with the driver exception named ``kind``
  (``InvalidRequest``, ``SyntaxException``, ``AlreadyExists``, ``ConfigurationException``,
  ``Unauthorized``, ...) whose message contains ``message``.
* ``Warns(cql, message, *values)``: it succeeds with a server warning containing ``message``.
* ``Check(fn, what)``: ``fn(session, keyspace)`` does what the table form cannot (prepared
  statements, paging, metadata), asserting as it goes.

Values are passed to the driver as positional bind values of a simple statement (``%s``
markers) when given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra import ConsistencyLevel


@dataclass(frozen=True)
class Ok:
    cql: str
    values: tuple[Any, ...] = ()

    def __init__(self, cql: str, *values: Any) -> None:
        object.__setattr__(self, "cql", cql)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Rows:
    cql: str
    rows: Sequence[tuple[Any, ...]]
    values: tuple[Any, ...] = ()
    ordered: bool = True

    def __init__(self, cql: str, rows: Sequence[tuple[Any, ...]], *values: Any,
                 ordered: bool = True) -> None:
        object.__setattr__(self, "cql", cql)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "ordered", ordered)


@dataclass(frozen=True)
class Error:
    cql: str
    kind: str
    message: str
    values: tuple[Any, ...] = ()

    def __init__(self, cql: str, kind: str, message: str, *values: Any) -> None:
        object.__setattr__(self, "cql", cql)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Warns:
    cql: str
    message: str
    values: tuple[Any, ...] = ()

    def __init__(self, cql: str, message: str, *values: Any) -> None:
        object.__setattr__(self, "cql", cql)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Check:
    fn: Callable[[Any, str], None]
    what: str


Step = Ok | Rows | Error | Warns | Check


@dataclass(frozen=True)
class Case:
    name: str
    pins: str  # the Cassandra behaviour pinned down (and where Cassandra decides it)
    steps: tuple[Step, ...]
    nodes: tuple[int, ...] = field(default=(1, 3))  # cluster sizes the case runs against

    def __init__(self, name: str, pins: str, *steps: Step,
                 nodes: tuple[int, ...] = (1, 3)) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "pins", pins)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "nodes", nodes)


QUORUM = ConsistencyLevel.QUORUM
