"""Paging state: where the next page of a SELECT starts, as opaque self-contained bytes.

The paging state may come back on another connection or to another node, so it carries all it
needs: the last partition key and clustering returned (clustering None once that partition is
finished), the rows still allowed by LIMIT and by PER PARTITION LIMIT in that partition, behind
a version byte. Anything that does not decode is Cassandra's "Invalid value for the paging
state".
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from skewless import errors

VERSION = 1


@dataclass(frozen=True, slots=True)
class PagingState:
    partition_key: bytes
    clustering: bytes | None  # the last row returned; None: the partition was finished
    remaining: int | None  # rows LIMIT still allows (None: no LIMIT)
    partition_remaining: int | None  # rows PER PARTITION LIMIT still allows in that partition


def encode_paging_state(state: PagingState) -> bytes:
    body = msgpack.packb([state.partition_key, state.clustering, state.remaining,
                          state.partition_remaining], use_bin_type=True)
    assert isinstance(body, bytes)
    return bytes((VERSION,)) + body


def _invalid() -> errors.InvalidRequest:
    return errors.InvalidRequest("Invalid value for the paging state")


def decode_paging_state(data: bytes) -> PagingState:
    if not data or data[0] != VERSION:
        raise _invalid()
    try:
        items = msgpack.unpackb(data[1:], raw=False)
    except Exception:  # msgpack raises several unrelated types on garbage
        raise _invalid() from None
    if not isinstance(items, list) or len(items) != 4:
        raise _invalid()
    key, clustering, remaining, part_remaining = items
    if not isinstance(key, bytes) or not (clustering is None or isinstance(clustering, bytes)):
        raise _invalid()
    for n in (remaining, part_remaining):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise _invalid()
    return PagingState(key, clustering, remaining, part_remaining)

