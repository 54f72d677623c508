"""The [value] list reader's inlined loop (every EXECUTE) against one ``value`` read at a time:
the same values, the same error, for well-formed and truncated or malformed bodies."""

from __future__ import annotations

import random
import struct

from skewless import errors
from skewless.cql.protocol import _Reader


def _one_at_a_time(data: bytes, version: int) -> object:
    r = _Reader(data, version)
    try:
        count = r.short()
        return tuple(r.value() for _ in range(count)), r.pos
    except errors.RemoteProtocolError as e:
        return str(e)


def _inlined(data: bytes, version: int) -> object:
    r = _Reader(data, version)
    try:
        values, names = r.values(with_names=False)
        assert names is None
        return values, r.pos
    except errors.RemoteProtocolError as e:
        return str(e)


def test_values_read_inline_as_one_at_a_time() -> None:
    rng = random.Random(13)
    for _ in range(3000):
        items = []
        for _ in range(rng.randrange(5)):
            n = rng.choice([-1, -2, -3, -7, 0, 1, 4, 9])
            body = bytes(rng.randrange(256) for _ in range(max(n, 0)))
            items.append(struct.pack(">i", n) + body)
        count = len(items) + rng.choice([0, 0, 0, 1, -1])
        data = struct.pack(">H", max(count, 0)) + b"".join(items) + b"tail"[:rng.randrange(5)]
        if rng.random() < 0.3:
            data = data[:rng.randrange(len(data) + 1)]  # truncated anywhere
        for version in (3, 4, 5):
            assert _inlined(data, version) == _one_at_a_time(data, version), (data, version)
