"""The cluster metadata log on a node: proposing entries, applying them, catching up.

Theory of operation
-------------------
``MetadataService`` connects the multi-Paxos core (``paxos.MultiPaxos``) to a ``Node``:

* State: a ``MetadataState`` (the schema, the topology change in progress, the log index it
  is at), persisted as one storage meta value together with its index, so applying an entry
  and recording that it was applied are one write. ``node.schema`` is the state's schema.
* Proposing: ``propose(entry, on_outcome)`` queues the entry; once the log reaches it (at
  whatever slot it won) ``on_outcome(outcome, index)`` is called with what applying it did:
  the proposer answers its client from that, so a DDL is acknowledged only after a majority
  chose it. Without a live majority (by the failure detector) the answer is at once an
  Unavailable at SERIAL; an entry not chosen within ``metadata_propose_timeout_ms`` answers a
  WriteTimeout of write type CAS (it may still be chosen later, as a Cassandra CAS timeout).
  ``propose_ddl`` also waits, as the old schema push did, until every live peer has applied
  the log up to the entry (or ``schema_agreement_wait_ms``), so a statement sent to any node
  right after the answer sees the change.
* Applying: every chosen entry, in log order, on every node, by ``entries.apply_entry``; a
  topology entry is then handed to the hooks registered with ``on_topology``.
* Catch-up: the log position rides in gossip (``Heartbeat.schema_ts_us``); a node behind a
  peer pulls the missing entries (or a snapshot) from it, and a proposer learns every slot
  chosen before its own from the acceptors' answers, so it proposes on the current state.
* Members: this node, its seeds, and every node it has ever learned of by gossip, kept
  durably (a restarted node does not shrink its majority to itself). A finished LEAVE or
  REMOVE entry takes its node out (a finished REPLACE the node replaced), at the same log
  position on every node, and its heartbeats no longer bring it back (a JOIN or REPLACE START
  for its address does); until then a node gone for good still counts in the majority (a
  seed is counted as long as it is configured). Two nodes that learn of a new member at
  different moments may briefly disagree on the majority size: a known limit of a member set
  that is not itself decided by the log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import Unavailable, WriteTimeout
from skewless.node import consistency as cl_mod
from skewless.node.metadata import entries
from skewless.node.metadata.entries import (
    DdlEntry,
    Entry,
    MetadataState,
    Outcome,
    TopologyEntry,
)
from skewless.node.metadata.paxos import MetaMessage, MultiPaxos
from skewless.node.schema.codec import decode_schema
from skewless.schema import dropped_by_table

if TYPE_CHECKING:
    from skewless.node.messages import Heartbeat
    from skewless.node.node import Node

log = logging.getLogger("skewless.metadata")

OnOutcome = Callable[[Outcome, int], None]  # what applying our entry did, at which index
TopologyHook = Callable[[TopologyEntry, Outcome, MetadataState], None]
_PREFIX = "mlog/"
_STATE = "metadata_state"


class _Durable:
    """The core's durable keys in the node's storage meta; a write makes the Ready sync."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def get(self, key: str) -> bytes | None:
        return self.node.storage.get_meta(_PREFIX + key)

    def put(self, key: str, value: bytes) -> None:
        self.node.storage.put_meta(_PREFIX + key, value)
        self.node.ready.must_sync_metadata = True

    def delete(self, key: str) -> None:
        self.node.storage.delete_meta(_PREFIX + key)
        self.node.ready.must_sync_metadata = True


class MetadataService:
    def __init__(self, node: Node, seed: int) -> None:
        self.node = node
        self.address = node.address
        self.durable = _Durable(node)
        self.state = self._load()
        raw = self.durable.get("members")
        self._members = set(raw.decode().split(",")) if raw else set()
        removed = self.durable.get("removed")
        self._removed = set(removed.decode().split(",")) if removed else set()
        self._members.update(set(node.config.seeds) - self._removed)
        self._members.add(node.address)
        self.waiters: dict[bytes, tuple[bytes, int, OnOutcome]] = {}  # id -> value, deadline
        self.agreement: list[tuple[int, int, Callable[[], None]]] = []  # index, deadline, done
        self.hooks: list[TopologyHook] = []
        self.paxos = MultiPaxos(self, self.durable, self.state.index, seed)
        self._gossip_due = False  # applied something: tell the peers our new position

    def start(self) -> None:
        """Once the node is built: apply entries chosen but not applied before a crash."""
        self.paxos.start()
        self._gossip_due = False

    def _load(self) -> MetadataState:
        raw = self.node.storage.get_meta(_STATE)
        if raw is not None:
            return entries.decode_state(raw)
        legacy = self.node.storage.get_meta("schema")  # a node from before the log
        return entries.initial_state(decode_schema(legacy) if legacy else None)

    # ------------------------------------------------------------------ paxos.Host

    def members(self) -> list[str]:
        return sorted(self._members)

    def send(self, to: str, message: MetaMessage) -> None:
        self.node.send(to, message)

    def apply(self, slot: int, value: bytes) -> None:
        entry = entries.decode_entry(value)
        before = self.state
        self.state, outcome = entries.apply_entry(self.state, slot, entry)
        self._persist()
        self._gossip_due = True
        if self.state.schema is not before.schema:
            self._schema_changed()
        if outcome.error is not None:
            log.info("metadata log %d: %s refused: %s", slot, _describe(entry), outcome.error)
        else:
            log.info("metadata log %d: %s", slot, _describe(entry))
        if isinstance(entry, TopologyEntry):
            if outcome.error is None:
                self._topology_members(entry)
            for hook in self.hooks:
                hook(entry, outcome, self.state)
        waiter = self.waiters.pop(entry.entry_id, None)
        if waiter is not None:
            waiter[2](outcome, slot)

    def _topology_members(self, e: TopologyEntry) -> None:
        """A started JOIN or REPLACE puts its node in the metadata group (back, if it had been
        removed); a finished LEAVE or REMOVE takes the node out, a finished REPLACE the node
        replaced: on every node at the same log position. A removed node's heartbeats no
        longer make it a member."""
        if e.phase == "START" and e.op in ("JOIN", "REPLACE") and e.address != self.address:
            self._members.add(e.address)
            self._removed.discard(e.address)
            self.durable.put("members", ",".join(sorted(self._members)).encode())
            self.durable.put("removed", ",".join(sorted(self._removed)).encode())
            return
        gone = e.address if e.op in ("LEAVE", "REMOVE") else e.replaces
        if e.phase != "FINISH" or not gone or gone not in self._members \
                or gone == self.address:
            return
        self._members.discard(gone)
        self._removed.add(gone)  # a seed no longer counted after a restart either
        self.durable.put("members", ",".join(sorted(self._members)).encode())
        self.durable.put("removed", ",".join(sorted(self._removed)).encode())

    def snapshot(self) -> tuple[int, bytes]:
        return self.state.index, entries.encode_state(self.state)

    def install(self, index: int, snapshot: bytes) -> None:
        state = entries.decode_state(snapshot)
        assert state.index == index, (state.index, index)
        changed = state.schema.version != self.state.schema.version
        self.state = state
        self._persist()
        self._gossip_due = True
        if changed:
            self._schema_changed()
        log.info("metadata log: installed a peer's snapshot at %d", index)

    def _persist(self) -> None:
        self.node.storage.put_meta(_STATE, entries.encode_state(self.state))
        self.node.ready.must_sync_metadata = True

    def _schema_changed(self) -> None:
        node = self.node
        node.schema = self.state.schema
        node.storage.dropped = dropped_by_table(node.schema)
        node.indexes.on_schema()  # builds the indexes the schema now lists (node.index_build)

    def _tell_position(self) -> None:
        if self._gossip_due:
            self._gossip_due = False
            self.node.gossip_now()  # a DDL's proposer is waiting for our position

    # ------------------------------------------------------------------ proposing

    @property
    def index(self) -> int:
        """The log position applied here (gossiped as the node's metadata position)."""
        return self.state.index

    def propose(self, entry: Entry, on_outcome: OnOutcome) -> None:
        """Put ``entry`` in the log; ``on_outcome`` is called once: with what applying it did
        at the index it got, or with an Unavailable / WriteTimeout error (index 0)."""
        alive = [m for m in self._members
                 if m == self.address or self.node.membership.is_alive(m)]
        quorum = self.paxos.quorum()
        if len(alive) < quorum:
            on_outcome(Outcome(error=Unavailable(
                f"Cannot achieve consistency level SERIAL: a cluster metadata change needs "
                f"{quorum} of the {len(self._members)} nodes of the cluster, {len(alive)} "
                "alive", cl_mod.SERIAL, quorum, len(alive))), 0)
            return
        now_ns = self.node.clock.monotonic_ns()
        value = entries.encode_entry(entry)
        deadline_ns = now_ns + limits.metadata_propose_timeout_ms * 1_000_000
        self.waiters[entry.entry_id] = (value, deadline_ns, on_outcome)
        self.paxos.propose(value, now_ns)
        self._tell_position()

    def propose_ddl(self, entry: DdlEntry, on_outcome: Callable[[Outcome], None]) -> None:
        """``propose`` for a schema change, answering once live peers have applied it too."""
        def chosen(outcome: Outcome, index: int) -> None:
            if outcome.error is not None or outcome.change is None:
                on_outcome(outcome)
                return
            deadline_ns = self.node.clock.monotonic_ns() + \
                limits.schema_agreement_wait_ms * 1_000_000
            self.agreement.append((index, deadline_ns, lambda: on_outcome(outcome)))
            self._check_agreement()
        self.propose(entry, chosen)

    def propose_topology(self, op: str, phase: str, address: str, host_id: str,
                         tokens: tuple[int, ...], on_outcome: OnOutcome,
                         replaces: str = "") -> None:
        """Put a topology step in the log (op JOIN/LEAVE/REPLACE/REMOVE, phase START/FINISH/
        CANCEL). A START while another change is in progress comes back with
        ``outcome.error`` set (InvalidRequest naming the change in progress): one change in
        flight at a time, decided by the log, never twice."""
        self.propose(TopologyEntry(self.new_entry_id(), op, phase, address, host_id, tokens,
                                   replaces), on_outcome)

    def gone(self) -> frozenset[str]:
        """Nodes a finished LEAVE, REMOVE or REPLACE took out of the cluster (durable)."""
        return frozenset(self._removed)

    def behind(self) -> bool:
        """Whether we may be missing log entries: a live peer gossips a later position than
        ours, or we have not yet heard from enough peers to make a majority with us (just
        restarted): our schema cannot be trusted to refuse a DDL, the log decides."""
        peers = self.node.membership.peers
        heard = sum(1 for address, p in peers.items() if p.heard and address in self._members)
        return heard + 1 < self.paxos.quorum() or any(
            p.up and p.state.schema_ts_us > self.state.index for p in peers.values())

    def on_topology(self, hook: TopologyHook) -> None:
        """Call ``hook(entry, outcome, state)`` on every node as each topology entry is
        applied (``outcome.error`` set when the entry was refused, e.g. another change in
        progress)."""
        self.hooks.append(hook)

    def new_entry_id(self) -> bytes:
        return uuid.UUID(int=self.paxos.rng.getrandbits(128), version=4).bytes

    # ------------------------------------------------------------------ inputs

    def on_message(self, sender: str, m: MetaMessage) -> None:
        self.paxos.on_message(sender, m, self.node.clock.monotonic_ns())
        self._tell_position()

    def on_heartbeat(self, hb: Heartbeat) -> None:
        if hb.address not in self._members and hb.address not in self._removed:
            self._members.add(hb.address)
            self.durable.put("members", ",".join(sorted(self._members)).encode())
        if hb.schema_ts_us > self.state.index:
            self.paxos.pull_from(hb.address)
        self._check_agreement()

    def tick(self, now_ns: int) -> None:
        self.paxos.tick(now_ns)
        for entry_id in [i for i, (_, d, _) in self.waiters.items() if d <= now_ns]:
            value, _, on_outcome = self.waiters.pop(entry_id)
            self.paxos.withdraw(value)
            quorum = self.paxos.quorum()
            on_outcome(Outcome(error=WriteTimeout(
                "Operation timed out - received only 0 responses.", cl_mod.SERIAL, 0, quorum,
                "CAS")), 0)
        self._tell_position()
        self._check_agreement()

    def _check_agreement(self) -> None:
        if not self.agreement:
            return
        now_ns = self.node.clock.monotonic_ns()
        alive = [p.state for p in self.node.membership.peers.values() if p.up]
        keep = []
        for index, deadline_ns, done in self.agreement:
            if now_ns >= deadline_ns or all(s.schema_ts_us >= index for s in alive):
                done()
            else:
                keep.append((index, deadline_ns, done))
        self.agreement = keep


def _describe(entry: Entry) -> str:
    if isinstance(entry, DdlEntry):
        return entry.cql
    return f"{entry.op} {entry.phase} of {entry.address}"
