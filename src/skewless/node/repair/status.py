"""A repair command's status as ``nodetool repair`` shows it (``node.repair``): its progress
lines in Cassandra's wording, its state, and the summary of what it compared and moved."""

from __future__ import annotations

from dataclasses import dataclass, field

RUNNING, SUCCESSFUL, FAILED = "RUNNING", "SUCCESSFUL", "FAILED"


@dataclass
class RepairStatus:
    """What ``nodetool repair`` shows: progress lines, then the outcome and a summary."""

    command: int
    keyspace: str
    state: str = RUNNING
    lines: list[str] = field(default_factory=list)
    ranges_compared: int = 0
    sessions_failed: int = 0  # the command stays RUNNING to its last session, then FAILED
    ranges_differing: int = 0
    leaves_differing: int = 0
    partitions_streamed: int = 0
    bytes_streamed: int = 0  # repair mutations applied on replicas (this node's included)
    bytes_fetched: int = 0  # leaf partitions received from peers to be merged here
    tree_bytes: int = 0  # Merkle trees received from peers
    started_us: int = 0
    finished_us: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "command": self.command, "keyspace": self.keyspace, "state": self.state,
            "ranges_compared": self.ranges_compared, "ranges_differing": self.ranges_differing,
            "sessions_failed": self.sessions_failed,
            "leaves_differing": self.leaves_differing,
            "partitions_streamed": self.partitions_streamed,
            "bytes_streamed": self.bytes_streamed, "bytes_fetched": self.bytes_fetched,
            "tree_bytes": self.tree_bytes,
            "duration_ms": max(0, self.finished_us - self.started_us) // 1000,
        }
