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
    clock_offset_us: int = 0  # this node's clock minus cluster time, as the answering node sees it
    clock_uncertainty_us: int = 0  # error bound of that measurement
    clock_alarm: bool = False  # offset beyond clock_alarm_ms, or no agreement on cluster time
    clock_in_bounds: bool = True  # agreed and within max_offset_ms: may stamp writes
    load_bytes: int = 0
    phi: float | None = None  # the answering node's phi-accrual suspicion of this peer
    down_cause: str | None = None  # why the answering node convicted it (while down)
    storage: str | None = None  # the answering node's own storage verdict (storage.integrity)
