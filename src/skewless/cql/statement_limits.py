"""Bounds on the shape of one parsed statement, checked before anything recurses over it.

Theory of operation
-------------------
The parser (lark, LALR) builds the AST bottom-up without recursion, so any nesting parses;
what recurses is everything after it: term evaluation, type inference, rendering. A statement
nested deeper than the interpreter's stack (``(int)`` cast 10,000 times, a 100,000-deep
parenthesis that still nests function calls) would end in RecursionError. ``ShapeCheck``
therefore walks the finished AST *iteratively* (an explicit stack, no recursion) and refuses a
statement whose nodes nest deeper than ``limits.cql_expression_depth_max`` or whose SELECT
clause lists more than ``limits.cql_select_selectors_max`` selectors, before any other code
sees it.

The walk is resumable: ``step(nodes_max)`` visits at most that many nodes and says whether it
is done, so the runtime can check a megabyte statement in slices between which the node serves
its other clients and peers (see runtime/parse_slices.py). ``check(statement)`` runs it to
the end, for statements parsed inline (short texts).

Depth counts AST nodes (dataclasses), not tuples: ``SELECT * FROM t WHERE k = 1`` is about 4
deep, a cast adds one level, a function call or a collection literal one more.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from skewless import errors, limits
from skewless.cql import ast

__all__ = ["ShapeCheck", "check"]

_FIELDS: dict[type, tuple[str, ...]] = {}  # a node class's field names, computed once


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls))
        _FIELDS[cls] = names
    return names


def too_many_selectors(n: int) -> errors.InvalidRequest:
    return errors.InvalidRequest(
        f"The SELECT clause has {n} selectors, more than the maximum of "
        f"{limits.cql_select_selectors_max}")


def too_deep() -> errors.SyntaxException:
    return errors.SyntaxException(
        f"The statement nests expressions deeper than the maximum of "
        f"{limits.cql_expression_depth_max} levels")


class ShapeCheck:
    """An iterative, resumable walk over one statement (module docstring)."""

    def __init__(self, statement: object) -> None:
        if isinstance(statement, ast.Select) and \
                len(statement.selectors) > limits.cql_select_selectors_max:
            raise too_many_selectors(len(statement.selectors))
        self._stack: list[tuple[Any, int]] = [(statement, 1)]

    def step(self, nodes_max: int) -> bool:
        """Visit up to ``nodes_max`` values; True when the whole statement was checked.
        Raises SyntaxException when it nests too deep."""
        stack = self._stack
        depth_max = limits.cql_expression_depth_max
        for _ in range(nodes_max):
            if not stack:
                return True
            value, depth = stack.pop()
            if isinstance(value, tuple | list):
                stack.extend((v, depth) for v in value)
            elif isinstance(value, dict):
                stack.extend((v, depth) for v in value.values())
            elif is_dataclass(value) and not isinstance(value, type):
                if depth > depth_max:
                    raise too_deep()
                for name in _field_names(type(value)):
                    child = getattr(value, name)
                    if child is not None and not isinstance(child, str | int | float | bool):
                        stack.append((child, depth + 1))
        return not stack


def check(statement: object) -> None:
    """Run the whole shape check at once (raises InvalidRequest or SyntaxException)."""
    walk = ShapeCheck(statement)
    while not walk.step(1 << 20):
        pass
