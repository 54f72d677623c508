"""The token ring. The token function comes first: storage orders partitions by it.

``token_of`` is Cassandra's Murmur3Partitioner token, computed exactly as the drivers compute it
(``cassandra.metadata.Murmur3Token.hash_fn``) so that token-aware routing in a driver picks the
replicas this server places data on. Cassandra never hands out the minimum long as a token
(it is the ring's "minimum token", an exclusive lower bound), so a hash equal to it maps to
MAX_TOKEN.
"""

from __future__ import annotations

from cassandra.murmur3 import murmur3

MIN_TOKEN = -(2**63)  # the ring's minimum: never a partition's token; a range (MIN, x] starts here
MAX_TOKEN = 2**63 - 1


def token_of(partition_key: bytes) -> int:
    """The Murmur3Partitioner token of a routed partition key (composite-encoded if compound)."""
    h = int(murmur3(partition_key))
    token = MAX_TOKEN if h == MIN_TOKEN else h
    assert MIN_TOKEN < token <= MAX_TOKEN
    return token
