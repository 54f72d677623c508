"""Which SET items of one UPDATE may name the same column (Cassandra's ``Operation.RawUpdate
.isCompatibleWith``, checked by its parser's ``addRawUpdate``).

A whole-column assignment (``c = v``) goes with nothing else on that column; two assignments
of one UDT field (``u.f = 1, u.f = 2``) are refused; any other mix (``s = s + {1}, s = s - {2}``,
``m[k] = v, m = m + {...}``, ``l = l + [1], l[0] = 5``) is accepted, every item applied at the
statement's timestamp, so cells two items write at one address reconcile as Cassandra's do.
A refusal is a syntax error, as Cassandra's parser reports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless import errors
from skewless.cql import ast


def _compatible(earlier: ast.Assignment, later: ast.Assignment) -> bool:
    if earlier.op == "set":
        return False
    if earlier.op == "set_field" and later.op == "set_field":
        return earlier.field != later.field
    return later.op != "set"


def check_compatible(assignments: Sequence[ast.Assignment]) -> None:
    """Refuse two incompatible SET items on one column."""
    for n, later in enumerate(assignments):
        for earlier in assignments[:n]:
            if earlier.column == later.column and not _compatible(earlier, later):
                raise errors.SyntaxException(
                    f"Multiple incompatible setting of column {later.column}")
