"""``nodetool cleanup``: dropping the partitions a node no longer replicates.

After a topology change the old owners of the ranges a new node took keep their copies (as in
Cassandra, nothing is deleted by the change itself); ``drop_unowned`` removes, table by table,
the partitions whose replicas in the natural ring no longer include this node, with their
secondary index entries (``Storage.drop_partition``). ``topology.changes`` refuses it while a
change is in flight: the natural ring is about to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from skewless.errors import InvalidRequest
from skewless.ring import token_of

if TYPE_CHECKING:
    from skewless.node.node import Node


def drop_unowned(node: Node, keyspace: str | None, tables: Iterable[str]) -> dict[str, int]:
    """Partitions removed per ``keyspace.table``."""
    if keyspace is not None and node.schema.keyspace(keyspace) is None:
        raise InvalidRequest(f"Keyspace {keyspace} does not exist")
    wanted = set(tables)
    ring = node.membership.ring()
    out: dict[str, int] = {}
    for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
        if keyspace is not None and ks.name != keyspace:
            continue
        repl = ks.replication_map()
        for t in sorted((x for x in node.schema.tables if x.keyspace == ks.name),
                        key=lambda x: x.name):
            if wanted and t.name not in wanted:
                continue
            gone = [k for k in node.storage.partition_keys(t.table_key, 0, 0)
                    if node.address not in ring.replicas(token_of(k), repl)]
            now_s = node.physical_us() // 1_000_000
            for k in gone:
                node.storage.drop_partition(t.table_key, k, now_s)
            out[f"{ks.name}.{t.name}"] = len(gone)
    return out
