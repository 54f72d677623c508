"""The node core's outputs: a Ready batch of effects, with their order stated.

The runtime (and the simulator) carry out a Ready batch in this order:

1. if ``must_sync`` (in batch commit-log mode) or ``must_sync_metadata`` (in any mode): request
   a sync that makes every storage write done so far durable (one fsync for the whole batch:
   group commit; a sync covers every write done before it was requested);
2. while that sync is under way, send the sends ``during_sync`` lets go: the requests this node
   sends as a coordinator (``MutationRequest``, ``ReadRequest``, ``RangeReadRequest``,
   ``IndexScanRequest``: ``LEAVE_DURING_SYNC``; and ``LwtPrepare`` unless ``hold_prepares``: a
   Paxos ballot above the ceiling this batch's sync makes durable), which acknowledge nothing,
   and only when every
   stamp they carry is below a durable stamp ceiling (``node.clock.stamping``: every stamp the
   node issued is below its ceiling ``ceiling_us``; the ceiling a finished sync covered is
   durable; while the ceiling has moved past the last durable one, a crash could forget stamps
   these messages carry, so they wait for the sync like everything else). So a replica's write
   and fsync overlap the coordinator's own fsync instead of following it;
3. once the sync has finished, send every other message in ``sends`` (each one that
   acknowledges a write or carries a promise, e.g. ``MutationResponse``, ``BatchlogAck``, a
   Paxos promise, leaves only after the sync);
4. answer ``replies`` to CQL clients and push ``events`` to the connections registered for them.

Without a sync everything leaves at once, in the order 2-4. Batches are carried out one at a
time, in order: a batch taken while a sync is under way waits for it (a client answer in it may
rest on the writes that sync covers).

Mutations are applied to storage by the core itself (unsynced writes); the sync is what makes an
acknowledgement (a MutationResponse or a CQL reply) mean "durable" in batch commit-log mode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from skewless.frozen import fast_init
from skewless.node.messages import (
    Envelope,
    IndexScanRequest,
    LwtPrepare,
    MutationRequest,
    RangeReadRequest,
    ReadRequest,
)

# A coordinator's requests: they acknowledge nothing this node stored (step 2 above).
LEAVE_DURING_SYNC = (MutationRequest, ReadRequest, RangeReadRequest, IndexScanRequest)
# A Paxos proposer's PREPARE: likewise, unless the batch wrote a ballot ceiling (step 2).
LEAVE_DURING_SYNC_UNLESS_HELD = (*LEAVE_DURING_SYNC, LwtPrepare)


@fast_init  # one per client request
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
    # A Paxos ballot ceiling was written (node.lwt): this batch's LwtPrepares wait for the sync.
    hold_prepares: bool = False
    sends: list[tuple[str, Envelope]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    events: list[ClusterEvent] = field(default_factory=list)
    wake_after_ns: int = 0  # >0: call Node.tick again after this long (a timer, e.g. commit wait)

    def empty(self) -> bool:
        return not (self.must_sync or self.must_sync_metadata or self.sends or self.replies
                    or self.events or self.wake_after_ns)


def during_sync(sends: list[tuple[str, Envelope]], ceiling_durable: bool,
                hold_prepares: bool = False
                ) -> tuple[list[tuple[str, Envelope]], list[tuple[str, Envelope]]]:
    """``sends`` split into (what may leave while the batch's sync is under way, what waits
    for it), each in its order (step 2 above). ``ceiling_durable``: the node's stamp ceiling now
    is at most the ceiling the last finished sync covered (every stamp issued is durably
    bounded); otherwise nothing leaves early. ``hold_prepares``: the batch's
    ``Ready.hold_prepares`` (its Paxos PREPAREs wait too)."""
    if not ceiling_durable:
        return [], sends
    kinds = LEAVE_DURING_SYNC if hold_prepares else LEAVE_DURING_SYNC_UNLESS_HELD
    early: list[tuple[str, Envelope]] = []
    late: list[tuple[str, Envelope]] = []
    for send in sends:
        (early if isinstance(send[1].message, kinds) else late).append(send)
    return early, late
