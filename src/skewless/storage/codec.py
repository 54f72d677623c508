"""msgpack encoding of the storage model: PartitionUpdates on the wire, cells on disk.

A PartitionUpdate is one msgpack array ``[version, table, key, deletion, range_tombstones,
static_row, rows]``. A cell is ``[ts_us, value]`` with ``ttl_s, expires_s, deleted_s`` appended
only when one of them is non-zero, so the common cell costs a few bytes; a counter cell is
``[ts_us, context, True]`` (live, no TTL: decoding checks that and the context's shape). The
encoding of a given PartitionUpdate is deterministic (fields in order, tuples in order), which
makes it usable as the canonical form ``merge.digest`` hashes.

Decoding checks every type and shape: a malformed message raises ``RemoteProtocolError`` (the
peer's fault), never a stray ``TypeError``. The common shapes (a live cell, a row without
deletions) are checked inline, once per field, since a replica decodes every mutation it gets.

``pack`` is one shared msgpack ``Packer`` (``use_bin_type``): building a Packer per call costs
more than packing a cell. Sharing it is safe because the C Packer packs these plain values
without releasing the GIL; the pure-Python fallback would not be, so it is used only with the C
extension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from skewless.errors import RemoteProtocolError
from skewless.storage import counters
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

VERSION = 1


def _packer() -> Callable[[object], bytes]:
    if msgpack.Packer.__module__ == "msgpack._cmsgpack":
        pack: Callable[[object], bytes] = msgpack.Packer(use_bin_type=True).pack
        return pack
    return lambda x: msgpack.packb(x, use_bin_type=True)


pack = _packer()


# --- encoding ----------------------------------------------------------------------------------
def cell_fields(c: Cell) -> list[Any]:
    if c.counter:
        assert c.value is not None and not (c.ttl_s or c.expires_s or c.deleted_s), c
        return [c.ts_us, c.value, True]
    if c.ttl_s or c.expires_s or c.deleted_s:
        return [c.ts_us, c.value, c.ttl_s, c.expires_s, c.deleted_s]
    return [c.ts_us, c.value]


def deletion_fields(d: Deletion | None) -> list[int] | None:
    return None if d is None else [d.ts_us, d.deleted_s]


def row_fields(r: Row | None) -> list[Any] | None:
    if r is None:
        return None
    return [
        r.clustering,
        None if r.marker is None else cell_fields(r.marker),
        deletion_fields(r.deletion),
        [[w.column, w.path, cell_fields(w.cell)] for w in r.cells],
        [[col, deletion_fields(d)] for col, d in r.column_deletions],
    ]


def encode_update(p: PartitionUpdate) -> bytes:
    rts = [
        [t.start, t.start_inclusive, t.end, t.end_inclusive, deletion_fields(t.deletion)]
        for t in p.range_tombstones
    ]
    body = [
        VERSION, p.table, p.key, deletion_fields(p.deletion), rts, row_fields(p.static_row),
        [row_fields(r) for r in p.rows],
    ]
    return pack(body)


def encode_cell(c: Cell) -> bytes:
    if c.counter:
        return pack(cell_fields(c))
    if c.ttl_s or c.expires_s or c.deleted_s:
        return pack([c.ts_us, c.value, c.ttl_s, c.expires_s, c.deleted_s])
    return pack([c.ts_us, c.value])


def encode_deletion(d: Deletion) -> bytes:
    return pack([d.ts_us, d.deleted_s])


# --- decoding ----------------------------------------------------------------------------------
def _int(x: object) -> int:
    if type(x) is not int:
        raise RemoteProtocolError(f"expected an integer, got {type(x).__name__}")
    return x


def _bytes(x: object) -> bytes:
    if type(x) is not bytes:
        raise RemoteProtocolError(f"expected bytes, got {type(x).__name__}")
    return x


def _str(x: object) -> str:
    if type(x) is not str:
        raise RemoteProtocolError(f"expected a string, got {type(x).__name__}")
    return x


def _bool(x: object) -> bool:
    if type(x) is not bool:
        raise RemoteProtocolError(f"expected a boolean, got {type(x).__name__}")
    return x


def _list(x: object, size: int | None = None) -> list[Any]:
    if type(x) is not list or (size is not None and len(x) != size):
        raise RemoteProtocolError(f"expected a list of {size} items")
    return x


def cell_from(x: object) -> Cell:
    if type(x) is list and len(x) == 2:  # the common cell: checked inline
        ts, value = x
        if type(ts) is int and (type(value) is bytes or value is None):
            return Cell(ts, value)
    f = _list(x)
    if len(f) == 3:
        return _counter_cell(f)
    if len(f) not in (2, 5):
        raise RemoteProtocolError("a cell has 2, 3 or 5 fields")
    value = None if f[1] is None else _bytes(f[1])
    if len(f) == 2:
        return Cell(_int(f[0]), value)
    return Cell(_int(f[0]), value, _int(f[2]), _int(f[3]), _int(f[4]))


def _counter_cell(f: list[Any]) -> Cell:
    """``[ts_us, context, True]``: a live counter cell holding a well-formed context."""
    if f[2] is not True:
        raise RemoteProtocolError("a 3-field cell is a counter cell")
    value = _bytes(f[1])
    problem = counters.check(value)
    if problem is not None:
        raise RemoteProtocolError(f"bad counter cell: {problem}")
    return Cell(_int(f[0]), value, counter=True)


def deletion_from(x: object) -> Deletion | None:
    if x is None:
        return None
    f = _list(x, 2)
    return Deletion(_int(f[0]), _int(f[1]))


def required_deletion(x: object) -> Deletion:
    d = deletion_from(x)
    if d is None:
        raise RemoteProtocolError("missing deletion")
    return d


def row_from(x: object) -> Row | None:
    if x is None:
        return None
    f = _list(x, 5)
    clustering, marker, deletion, cells, column_deletions = f
    if type(cells) is not list:
        raise RemoteProtocolError("expected a list of cells")
    writes = []
    for c in cells:
        if type(c) is not list or len(c) != 3:
            raise RemoteProtocolError("expected a list of 3 items")
        column, path, cell = c
        if type(column) is not str or type(path) is not bytes:
            raise RemoteProtocolError("a cell's address is a string and bytes")
        writes.append(CellWrite(column, path, cell_from(cell)))
    return Row(
        _bytes(clustering),
        None if marker is None else _marker(marker),
        None if deletion is None else deletion_from(deletion),
        tuple(writes),
        () if column_deletions == [] else tuple(
            (_str(cd[0]), required_deletion(cd[1]))
            for cd in (_list(y, 2) for y in _list(column_deletions))),
    )


def _marker(x: object) -> Cell:
    marker = cell_from(x)
    if marker.counter:
        raise RemoteProtocolError("a row marker is not a counter cell")
    return marker


def _range_tombstone(x: object) -> RangeTombstone:
    f = _list(x, 5)
    return RangeTombstone(
        _bytes(f[0]), _bool(f[1]), _bytes(f[2]), _bool(f[3]), required_deletion(f[4])
    )


def _required_row(x: object) -> Row:
    r = row_from(x)
    if r is None:
        raise RemoteProtocolError("missing row")
    return r


def decode_update(b: bytes) -> PartitionUpdate:
    """The PartitionUpdate ``encode_update`` encoded; RemoteProtocolError if malformed."""
    try:
        body = msgpack.unpackb(b, raw=False, use_list=True)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise RemoteProtocolError(f"undecodable partition update: {e}") from e
    f = _list(body, 7)
    version, table, key, deletion, rts, static, rows = f
    if type(version) is not int or version != VERSION:
        raise RemoteProtocolError(f"unknown partition update version {version}")
    return PartitionUpdate(
        _str(table), _bytes(key), None if deletion is None else deletion_from(deletion),
        () if rts == [] else tuple(_range_tombstone(t) for t in _list(rts)),
        None if static is None else row_from(static),
        tuple(_required_row(r) for r in _list(rows)),
    )


def decode_cell(b: bytes) -> Cell:
    """A cell stored by ``encode_cell`` (storage's own bytes: corruption is an assertion)."""
    return cell_from(msgpack.unpackb(b, raw=False))


def decode_deletion(b: bytes) -> Deletion:
    return required_deletion(msgpack.unpackb(b, raw=False))
