"""Counter cells: a per-replica-shard CRDT stored in ``Cell.value``, and the leader's step.

Theory of operation
-------------------
A counter column's live cell (``Cell.counter`` is True) holds a *context*: one shard per
replica that ever led an increment of it, ``(host id, clock, count)``. A replica's shard is
written only by that replica, as the *leader* of an increment (Cassandra's "global shard",
``CounterMutation.applyCounterMutation``): under the node's lock for that cell it reads its own
current shard and replaces it with ``clock = max(now_us, old clock + 1)``, ``count = old count +
delta`` (``leader_step``). The mutation then sent to the other replicas carries that *state*,
not the delta, so replaying it (hints, read repair, batchlog, streaming, a retried internal
send) cannot count an increment twice: merging a shard with itself, or with an older version
of itself, changes nothing. The value read is the sum of the shards' counts (``total``), as a
signed 64-bit integer that wraps like Cassandra's ``long``.

Merge (``merge_values``) is per host: the shard with the higher clock wins, and at equal clocks
the higher count. Shards of different hosts are kept side by side. Laws: the join of a
semilattice (per host, the maximum of ``(clock, count)`` in a total order, taken pointwise over
the union of hosts), so commutative, associative and idempotent. The equal-clock rule is never
needed by a correct cluster: a leader issues each clock of its shard once, strictly increasing
under its lock, so one ``(host, clock)`` never carries two counts. Two only meet after a bug or
after a replica lost its data and its wall clock went back, and then any fixed choice keeps
replicas converging; the higher count is Cassandra's (``CounterContext.merge``, which logs
"invalid global counter shard detected").

Cells (``reconcile``). Cassandra's ``Cells.resolveCounter``: a tombstone wins over a counter
value whatever the timestamps (CASSANDRA-7346; a deleted counter stays deleted until the
tombstone is purged), and two counter values merge their contexts with ``max(ts_us)``. As a
join over *every* cell: live counter cells form the lower layer, every other cell (tombstones,
and live non-counter cells, which a correct schema never puts beside a counter cell) the upper
one, ordered by ``merge``'s regular rank; a cell of the upper layer beats any counter cell.
This is an ordinal sum of two semilattices, hence itself one. A counter column's tombstone is
therefore an ordinary tombstone (``counter`` False): the DELETE path needs no change.

Deletions of a wider scope (row, range, partition, collection) remove a counter cell they
cover whatever the timestamps too (``merge.normalize_row``), where Cassandra compares
timestamps. The reason is the merge laws: normalisation drops a cell tombstone that a wider
deletion shadows, and that tombstone would have beaten any counter cell arriving later, so
only a wider deletion that also removes counter cells keeps ``merge`` associative (Cassandra's
own result there depends on the order of compactions: old shards can come back). The cost: a
counter deleted in any way stays deleted until its deletion is purged (``gc_grace_seconds``);
increments meanwhile are reported as shadowed (``merge.shadowed_by``), not applied. Cassandra's
documentation says the same of deleted counters ("cannot be reused"), for cell deletions.

Why a flag on ``Cell`` and not a marker inside the value: a value's bytes are the client's (a
blob column can hold anything, including bytes that parse as a context), so a marker in the
value could make two blob cells merge as counters. ``Cell.counter`` is set only by this module
and carried by the codec (``storage.codec``), which checks on decode that a counter cell is live,
has no TTL and holds a well-formed context; everything here may then assert that.

Encoding: ``VERSION`` (one byte), then the shards sorted by host id, each 32 bytes: host id (16,
the node's host id UUID), clock and count (signed 64-bit big-endian). At least one shard.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace

from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row, value_class

VERSION = 1
_SHARD = struct.Struct(">16sqq")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

Shards = Mapping[bytes, tuple[int, int]]  # host id (16 bytes) -> (clock, count)


class BadCounterValue(ValueError):
    """Bytes that are not a counter context (a peer's fault when they came from one)."""


def wrap64(x: int) -> int:
    """``x`` as a Java ``long`` would hold it (two's complement, 64 bits)."""
    return ((x - _INT64_MIN) & ((1 << 64) - 1)) + _INT64_MIN


def encode(shards: Shards) -> bytes:
    assert shards, "a counter context has at least one shard"
    out = [bytes((VERSION,))]
    for host in sorted(shards):
        clock, count = shards[host]
        assert len(host) == 16, host
        out.append(_SHARD.pack(host, clock, count))
    return b"".join(out)


def decode(value: bytes) -> dict[bytes, tuple[int, int]]:
    """The shards of an encoded context; ``BadCounterValue`` if it is not one."""
    if not value or value[0] != VERSION:
        raise BadCounterValue("unknown counter context version")
    body = memoryview(value)[1:]
    if not body or len(body) % _SHARD.size:
        raise BadCounterValue(f"a counter context of {len(value)} bytes")
    out: dict[bytes, tuple[int, int]] = {}
    previous = b""
    for host, clock, count in _SHARD.iter_unpack(body):
        if host <= previous:
            raise BadCounterValue("counter shards not in strictly ascending host order")
        out[host] = (clock, count)
        previous = host
    return out


def check(value: bytes) -> str | None:
    """Why ``value`` is not a well-formed context, or None."""
    try:
        decode(value)
    except BadCounterValue as e:
        return str(e)
    return None


def merge_values(a: bytes, b: bytes) -> bytes:
    """The join of two contexts: per host the greater ``(clock, count)``."""
    if a == b:
        return a
    shards = decode(a)
    for host, shard in decode(b).items():
        mine = shards.get(host)
        if mine is None or shard > mine:
            shards[host] = shard
    return encode(shards)


def reconcile(a: Cell, b: Cell) -> Cell:
    """``merge.reconcile_cells`` when at least one side is a counter cell (see the module
    docstring): a non-counter cell (a tombstone) wins; two counter cells merge."""
    assert a.counter or b.counter
    if not a.counter:
        return a
    if not b.counter:
        return b
    value = merge_values(_value(a), _value(b))
    ts = max(a.ts_us, b.ts_us)
    if value == a.value and ts == a.ts_us:
        return a
    if value == b.value and ts == b.ts_us:
        return b
    return Cell(ts, value, counter=True)


def cell(ts_us: int, shards: Shards) -> Cell:
    return Cell(ts_us, encode(shards), counter=True)


def shards_of(c: Cell | None) -> dict[bytes, tuple[int, int]]:
    """The shards a cell holds: none for a missing cell, a tombstone or a non-counter cell."""
    if c is None or not c.counter:
        return {}
    return decode(_value(c))


def leader_step(current: Cell | None, host_id: uuid.UUID, delta: int, now_us: int,
                ts_us: int) -> Cell:
    """The cell the leader writes for an increment of ``delta`` (Cassandra's global shard).

    ``current`` is what the leader's storage holds for the cell (None, a tombstone, or a counter
    cell); the result holds only the leader's own shard, with ``clock = max(now_us, old clock +
    1)`` and ``count = old count + delta`` (wrapping at 64 bits), stamped ``ts_us`` (the
    statement's timestamp). Applied locally and sent to the other replicas as it is, it merges
    with their copies by ``reconcile``: an idempotent state, never a delta. Over a tombstone the
    shard starts afresh and the tombstone still wins (a deleted counter stays deleted)."""
    host = host_id.bytes
    clock, count = shards_of(current).get(host, (None, 0))
    new_clock = now_us if clock is None else max(now_us, min(clock, _INT64_MAX - 1) + 1)
    return cell(ts_us, {host: (new_clock, wrap64(count + delta))})


def total(c: Cell) -> int:
    """The counter's value: the sum of its shards' counts, as a 64-bit signed integer."""
    return wrap64(sum(count for _, count in shards_of(c).values()))


def read_cell(c: Cell) -> Cell:
    """A counter cell as a client reads it: its total as a ``bigint`` (8 bytes), flag cleared;
    any other cell as it is."""
    if not c.counter:
        return c
    return Cell(c.ts_us, struct.pack(">q", total(c)))


@value_class
class Increment:
    """One ``c = c + delta`` of a statement, as the coordinator forwards it to the leader."""

    clustering: bytes  # the row's clustering; b'' with ``static`` for the static row
    column: str
    delta: int
    static: bool = False


def leader_update(table: str, key: bytes, increments: Iterable[Increment],
                  current: PartitionUpdate | None, host_id: uuid.UUID, now_us: int,
                  ts_us: int) -> PartitionUpdate:
    """The mutation a leader applies and sends for a statement's (or a counter batch's)
    increments of one partition: ``leader_step`` on each cell, the deltas of one cell summed
    first (Cassandra adds a statement's increments of one counter together). ``current`` is
    the leader's own read of the partition (normalised, as ``Storage.read`` returns it: a cell a
    deletion covers is already gone, so its shard starts afresh)."""
    sums: dict[tuple[bool, bytes, str], int] = {}
    for inc in increments:
        address = (inc.static, b"" if inc.static else inc.clustering, inc.column)
        sums[address] = wrap64(sums.get(address, 0) + inc.delta)
    have = _cells_by_address(current)
    static: list[CellWrite] = []
    rows: dict[bytes, list[CellWrite]] = {}
    for (is_static, ck, column), delta in sorted(sums.items()):
        new = leader_step(have.get((is_static, ck, column)), host_id, delta, now_us, ts_us)
        (static if is_static else rows.setdefault(ck, [])).append(CellWrite(column, b"", new))
    return PartitionUpdate(
        table, key, static_row=Row(b"", cells=tuple(static)) if static else None,
        rows=tuple(Row(ck, cells=tuple(ws)) for ck, ws in sorted(rows.items())))


def _cells_by_address(p: PartitionUpdate | None) -> dict[tuple[bool, bytes, str], Cell]:
    out: dict[tuple[bool, bytes, str], Cell] = {}
    if p is None:
        return out
    if p.static_row is not None:
        out.update(((True, b"", w.column), w.cell) for w in p.static_row.cells if not w.path)
    for r in p.rows:
        out.update(((False, r.clustering, w.column), w.cell) for w in r.cells if not w.path)
    return out


def read_view(p: PartitionUpdate) -> PartitionUpdate:
    """``p`` with every counter cell as a client reads it (``read_cell``): for rendering a
    SELECT after the coordinator merged the replicas' answers (digests and read repair use
    the contexts themselves)."""
    def row(r: Row) -> Row:
        if not any(w.cell.counter for w in r.cells):
            return r
        return replace(r, cells=tuple(CellWrite(w.column, w.path, read_cell(w.cell))
                                      for w in r.cells))

    return replace(p, static_row=None if p.static_row is None else row(p.static_row),
                   rows=tuple(row(r) for r in p.rows))


def _value(c: Cell) -> bytes:
    assert c.counter and c.value is not None, c
    return c.value
