"""What a node knows about itself and each peer: the rows of system.local and system.peers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

RELEASE_VERSION = "5.0.0-skewless"  # cqlsh checks '5.0.0' before the last '-'
CQL_VERSION = "3.4.7"  # what Cassandra 5.0 reports
CLUSTER_NAME_DEFAULT = "Skewless Cluster"
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    host_id: uuid.UUID
    address: str  # 127.0.0.i: the internode, CQL (rpc) and broadcast address
    cql_port: int
    internode_port: int
    dc: str
    rack: str
    tokens: tuple[int, ...]  # sorted
    schema_version: uuid.UUID
    release_version: str = RELEASE_VERSION
    up: bool = True
    clock_offset_us: int = 0  # measured offset of this node's clock from the cluster (issue 4)
    load_bytes: int = 0
