"""The node core's outputs: a Ready batch of effects, with their order stated.

The runtime (and the simulator) carry out a Ready batch in this order:

1. if ``must_sync`` (in batch commit-log mode) or ``must_sync_metadata`` (in any mode): make
   every storage write done so far durable (one fsync for the whole batch: group commit)
   BEFORE anything below leaves the node;
2. send ``sends`` to peers;
3. answer ``replies`` to CQL clients and push ``events`` to the connections registered for them.

Mutations are applied to storage by the core itself (unsynced writes); step 1 is what makes an
acknowledgement (a MutationResponse or a CQL reply) mean "durable" in batch commit-log mode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from skewless.node.messages import Envelope


@dataclass(frozen=True, slots=True)
class Reply:
    conn: int
    stream: int
    body: object  # a cql.results.Result, a Prepared result, or a CqlError
    warnings: tuple[str, ...] = ()
    custom_payload: tuple[tuple[str, bytes], ...] = ()
    tracing_id: uuid.UUID | None = None  # the tracing session of a traced request


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """A CQL event for registered connections: kind TOPOLOGY_CHANGE / STATUS_CHANGE with
    change NEW_NODE / REMOVED_NODE / UP / DOWN and the node's address, or SCHEMA_CHANGE with a
    results.SchemaChange in ``schema_change``."""

    kind: str
    change: str = ""
    address: str = ""
    port: int = 0
    schema_change: object = None


@dataclass
class Ready:
    # Storage was written since the last Ready (derived at ``Node.take_ready`` from
    # ``Storage.take_unsynced``, never set by hand): sync before the sends in batch mode.
    must_sync: bool = False
    # Consensus state (node.metadata: a Paxos promise or accept) was written: sync before the
    # sends even in periodic commit-log mode, or a crash could forget a promise already made.
    must_sync_metadata: bool = False
    sends: list[tuple[str, Envelope]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    events: list[ClusterEvent] = field(default_factory=list)
    wake_after_ns: int = 0  # >0: call Node.tick again after this long (a timer, e.g. commit wait)

    def empty(self) -> bool:
        return not (self.must_sync or self.must_sync_metadata or self.sends or self.replies
                    or self.events or self.wake_after_ns)
