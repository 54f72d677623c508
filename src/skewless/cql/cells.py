"""Serialized cells and collection bodies (protocol v3+): packing and splitting.

Apart from ``cql.terms`` so that ``cql.json_codec`` (which ``cql.terms`` uses) needs nothing of
``cql.terms``: no import cycle.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from skewless import errors


def pack_cell(v: bytes | None) -> bytes:
    return struct.pack(">i", -1) if v is None else struct.pack(">i", len(v)) + v


def pack_collection(items: Sequence[bytes]) -> bytes:
    """Protocol v3+ collection body: int32 count, then (int32 length, bytes) per item."""
    return b"".join([struct.pack(">i", len(items)), *(pack_cell(i) for i in items)])


def pack_map(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Protocol v3+ map body: int32 count of entries, then each key and value as a cell."""
    cells = [pack_cell(x) for kv in pairs for x in kv]
    return b"".join([struct.pack(">i", len(pairs)), *cells])


def split_collection(data: bytes, kind: str) -> list[bytes]:
    """The serialized items of a collection value (map: keys and values alternate)."""
    try:
        count = int(struct.unpack_from(">i", data, 0)[0]) * (2 if kind == "map" else 1)
        pos, items = 4, []
        for _ in range(count):
            size = int(struct.unpack_from(">i", data, pos)[0])
            if size < 0:
                raise errors.InvalidRequest("null is not supported inside collections")
            items.append(data[pos + 4 : pos + 4 + size])
            pos += 4 + size
            if pos > len(data):
                raise struct.error("truncated")
    except struct.error:
        raise errors.InvalidRequest(f"Invalid serialized {kind} value") from None
    if pos != len(data):
        raise errors.InvalidRequest(f"Invalid serialized {kind} value")
    return items


def split_fields(data: bytes, count: int) -> list[bytes | None]:
    """The fields of a serialized tuple or UDT value (missing trailing fields are null)."""
    pos, out = 0, list[bytes | None]()
    try:
        while pos < len(data):
            size = int(struct.unpack_from(">i", data, pos)[0])
            out.append(None if size < 0 else data[pos + 4 : pos + 4 + size])
            pos += 4 + max(size, 0)
    except struct.error:
        raise errors.InvalidRequest("Invalid serialized tuple or user type value") from None
    if pos != len(data) or len(out) > count:
        raise errors.InvalidRequest("Invalid serialized tuple or user type value")
    return out + [None] * (count - len(out))
