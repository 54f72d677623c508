"""Fixed-width numbers read from values a client sent.

A bound value of a fixed-width type may still be empty (Cassandra's serializers accept "0 byte"
ints and longs as the empty value), so a statement part that needs the number (a LIMIT, a TTL,
a token, a function argument) refuses it with InvalidRequest rather than failing to unpack it.
"""

from __future__ import annotations

import struct

from skewless import errors


def unpack(fmt: str, data: bytes, what: str) -> int:
    """The one integer ``fmt`` (a struct format such as ``>i``) decodes from ``data``."""
    if len(data) != struct.calcsize(fmt):
        raise errors.InvalidRequest(f"Invalid {'empty' if not data else 'malformed'} value for "
                                    f"{what}")
    return int(struct.unpack(fmt, data)[0])
