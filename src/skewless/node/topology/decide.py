"""Topology decisions through the cluster metadata log: one change at a time, decided once.

Theory of operation
-------------------
Gossip carries node states (JOINING, LEAVING, ...) for what gossip is good at, liveness and
the read and write rings; it cannot decide which of two concurrent changes goes first (two
nodes starting at the same moment both see a quiet ring). So every topology change is a pair
of metadata log entries (``node.metadata.entries.TopologyEntry``): START before the node
changes its gossiped state, FINISH when its streams are complete. The log chooses one entry
per slot on a majority, and applying a START while another change is in progress refuses it
on every node alike: the log is where a second change is refused.

``Decisions`` is the topology module's side of that: at most one proposal of ours in flight
(``inflight``), and after one without an answer (no majority, a timeout) a pause of
``topology_retry_ms`` before the next (``ready``); after a refusal the caller looks at the
log's state, which names the change to wait for. Success is not taken from the proposal's
answer but from the log's state (``mine``: our change is in progress; ``state.ring``,
``state.last_finished``: it finished), which every node applies the same way: a START that
timed out for its proposer but was chosen later, or a node restarted between its START and its
new gossip state, still resumes its own change, and a FINISH proposed twice is decided once
(the second is a no-op).

A refusal is kept in ``refused`` (``nodetool`` shows it and stops waiting) with a message
naming the change in progress and what to do. Without a live majority of the metadata group
``propose`` answers at once with Unavailable: the change is not started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import CqlError, InvalidRequest
from skewless.node.metadata.entries import MetadataState, Outcome, TopologyChange

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.topology")

OPERATOR = {"LEAVE": "decommission", "REMOVE": "removenode", "JOIN": "bootstrap",
            "REPLACE": "replace"}


def busy(what: str, cur: TopologyChange) -> str:
    """The operator's message for a change refused while ``cur`` is in progress."""
    return (f"Other bootstrapping/leaving/moving nodes detected ({cur.op} of {cur.address} "
            f"in progress), cannot {what} while a topology change is in flight: wait until it "
            "completes (nodetool netstats), then retry")


class Decisions:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.inflight: tuple[str, str] | None = None  # (op, phase) proposed, not yet answered
        self.retry_ns = 0  # no proposal before this (after a refusal or a timeout)
        self.refused = ""  # why the log refused the operator's last change ('' : it did not)

    @property
    def state(self) -> MetadataState:
        return self.node.metadata.state

    def in_progress(self) -> TopologyChange | None:
        return self.state.topology_in_progress

    def mine(self, op: str) -> TopologyChange | None:
        """Our own ``op`` change, when the log has it in progress."""
        cur = self.state.topology_in_progress
        node = self.node
        if cur is None or cur.op != op or cur.address != node.address:
            return None
        return cur if cur.host_id == str(node.host_id) else None

    def finished(self, op: str) -> bool:
        """The log's last finished change is our ``op`` (FINISH chosen, answer maybe lost)."""
        return self.in_progress() is None and self.state.last_finished == (op, self.node.address)

    def ready(self, now_ns: int) -> bool:
        """No proposal of ours in flight, and not pausing after a refusal."""
        return self.inflight is None and now_ns >= self.retry_ns

    def behind(self) -> bool:
        """Our log state may be stale (just restarted, or a peer is ahead): decide nothing."""
        return self.node.metadata.behind()

    def propose(self, op: str, phase: str, address: str, host_id: str, tokens: tuple[int, ...],
                on_error: Callable[[CqlError], None], replaces: str = "") -> CqlError | None:
        """Put a topology step in the log. Returns the error at once when there is no live
        majority (nothing started); a later refusal or timeout goes to ``on_error``."""
        assert self.inflight is None, self.inflight
        assert phase in ("START", "FINISH", "CANCEL"), phase
        self.inflight = (op, phase)
        immediate: list[CqlError] = []

        def answered(outcome: Outcome, index: int) -> None:
            self.inflight = None
            if outcome.error is None:
                return
            if not isinstance(outcome.error, InvalidRequest):  # not a refusal: pause
                now_ns = self.node.clock.monotonic_ns()
                self.retry_ns = now_ns + limits.topology_retry_ms * 1_000_000
            log.info("metadata log: %s %s of %s not decided: %s", op, phase, address,
                     outcome.error)
            immediate.append(outcome.error)
            on_error(outcome.error)

        self.node.metadata.propose_topology(op, phase, address, host_id, tokens, answered,
                                            replaces)
        return immediate[0] if immediate else None

    def operator_refused(self, what: str) -> Callable[[CqlError], None]:
        """An ``on_error`` for an operator's START: keeps the message for nodetool."""
        def refused(e: CqlError) -> None:
            cur = self.in_progress()
            self.refused = busy(what, cur) if cur is not None and cur.address != \
                self.node.address else f"Cannot {what}: {e.message}"
            log.error("%s refused: %s", what, self.refused)
        return refused
