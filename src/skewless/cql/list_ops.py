"""List operations that need the list's current elements (read before the write).

``l[i] = v``, ``DELETE l[i]`` and ``l = l - [...]`` name elements by position or value, but a
non-frozen list is stored as one cell per element keyed by a time-ordered path (see
``dml.list_path``). As in Cassandra, the coordinator reads the list first; then an index
operation overwrites or deletes the cell of the element at that position (same path, the
statement's timestamp), and a removal deletes every element equal to a removed value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from skewless import errors
from skewless.storage.model import Cell


@dataclass(slots=True)
class ListSeq:
    """Numbers the list elements a coordinator adds, so that each gets a cell path of its own
    even when several statements (a batch), assignments or writes share one timestamp (a
    client's USING TIMESTAMP), as Cassandra's fresh TimeUUID per element does
    (``Lists.Appender``/``Prepender``). Appends take increasing numbers, prepends decreasing
    ones from 2**32 (a later prepend lands first), so that at one timestamp paths sort in the
    order the coordinator saw them, each statement's elements in their own order. The count
    starts over after 2**31 elements (only elements sharing a timestamp across that point
    could then sort out of order)."""

    used: int = 0

    def take(self, n: int, prepend: bool) -> int:
        """The first of ``n`` consecutive element numbers."""
        if self.used + n > 2**31:
            self.used = 0
        start = self.used
        self.used += n
        return 2**32 - self.used if prepend else start


@dataclass(frozen=True, slots=True)
class ListOp:
    """``set_index`` (``l[i] = v``; ``value`` None deletes), ``delete_index`` (``DELETE l[i]``)
    or ``discard`` (``l = l - [...]``, ``values``)."""

    column: str
    kind: str
    index: int = 0
    value: bytes | None = None
    values: tuple[bytes, ...] = ()


def apply_list_op(op: ListOp, elements: Sequence[tuple[bytes, Cell]], live: Callable[[bytes], Cell],
          tombstone: Callable[[], Cell]) -> dict[bytes, Cell]:
    """The cells (by path) ``op`` writes, given the list's live elements in order."""
    if op.kind == "discard":
        drop = set(op.values)
        return {path: tombstone() for path, cell in elements if cell.value in drop}
    if not elements:
        what = "set an element on" if op.kind == "set_index" else "delete an element from"
        raise errors.InvalidRequest(f"Attempted to {what} a list which is null")
    if not 0 <= op.index < len(elements):
        raise errors.InvalidRequest(
            f"List index {op.index} out of bound, list has size {len(elements)}")
    path = elements[op.index][0]
    value = op.value if op.kind == "set_index" else None
    return {path: tombstone() if value is None else live(value)}
