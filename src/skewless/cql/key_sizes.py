"""Key size limits, as Cassandra enforces them before a key reaches storage.

A routed partition key (one component as is, several as a CompositeType) and each clustering
value are written with a 16-bit length, so Cassandra refuses anything longer than 65,535 bytes
with "Key length of N is longer than maximum of 65535" (``Validation.validateKey`` for the
partition key, ``ClusteringPrefix.validate`` for clustering values, which reports the whole
clustering's data size).
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless import errors, limits
from skewless.storage import keys


def _too_long(length: int) -> errors.InvalidRequest:
    return errors.InvalidRequest(
        f"Key length of {length} is longer than maximum of {limits.cql_key_bytes_max}")


def routed_key(parts: Sequence[bytes]) -> bytes:
    """The routed partition key of ``parts``, refused when longer than Cassandra allows."""
    if len(parts) == 1:
        length = len(parts[0])
    else:
        length = sum(2 + len(p) + 1 for p in parts)
    if length > limits.cql_key_bytes_max:
        raise _too_long(length)
    return keys.composite_partition_key(parts)


def check_clustering(values: Sequence[bytes]) -> None:
    """Refuse a clustering one of whose values is longer than Cassandra allows."""
    if any(len(v) > limits.cql_key_bytes_max for v in values):
        raise _too_long(sum(len(v) for v in values))
