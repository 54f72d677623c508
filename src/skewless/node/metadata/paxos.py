"""Multi-Paxos over the slots of the cluster metadata log: a pure core.

Theory of operation
-------------------
Why multi-Paxos and not Raft: schema changes are rare and may start on any node; with Paxos
per slot any node proposes directly (no leader to find, elect or forward to, no election
timeouts to tune against the failure detector), and the safety argument is the classic one
per slot. The price, two round trips per change and duelling proposers under contention, is
small for DDL; duels are broken by a jittered backoff drawn from a seeded generator.

The log is a sequence of slots 1, 2, 3, ...; each slot chooses one value (an encoded log
entry, ``node.metadata.entries``), and a slot once chosen never changes (``_learn`` asserts
it). Every member is acceptor, learner and proposer:

* Acceptor, per slot: the highest ballot promised and the last (ballot, value) accepted. Both
  are written to durable state before the answer is sent: the host's Ready syncs storage
  before any send leaves the node (``node.effects``), so a crash never forgets a promise.
* Proposer: proposes its queued values one at a time, at the first slot it does not know
  chosen. Phase 1 (Prepare/Promise) with a ballot above every ballot it has seen; if a
  majority promises, phase 2 (Accept/Accepted) with the value of the highest accepted ballot
  among the promises, or its own value if none. A majority of Accepted: the slot is chosen;
  the value is told to every member (Commit). A proposer whose slot went to another value
  learns it, and proposes its own value again at the next slot. A refusal (a higher ballot)
  or a phase unanswered for ``metadata_round_timeout_ms`` restarts the attempt after a
  jittered backoff.
* Learner: chosen values are applied in slot order, exactly once, by the host (``apply``);
  the applied position is the host's, persisted with the state it describes.

Catch-up: an acceptor asked about a slot it knows chosen answers with the value; every
Promise carries the acceptor's highest chosen slot, and a member behind it (or behind a peer's
gossiped position) pulls the chosen values (MetaPull / MetaEntries). Chosen values below
``first_kept`` are compacted away: a puller that needs them gets the host's snapshot (the
applied state at an index) first.

The members are the host's (``members()``): every node the cluster has known, durably. A
majority of them must answer for a slot to be chosen, so no two values can be chosen for one
slot while the member set holds still. Membership changes are not themselves log entries yet
(see ``node.metadata.service``).

Durable keys (through ``Durable``): ``a/<slot>`` acceptor record, ``e/<slot>`` chosen value,
``lo`` first kept chosen slot, ``hi`` highest slot with durable state, ``round`` the highest
round this proposer used (a restarted proposer never reuses a ballot).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgpack

from skewless import limits
from skewless.node.messages import (
    MetaAccept,
    MetaAccepted,
    MetaCommit,
    MetaEntries,
    MetaPrepare,
    MetaPromise,
    MetaPull,
)

Ballot = tuple[int, str]  # (round, proposer address); (0, "") is below every real ballot
ZERO: Ballot = (0, "")
MetaMessage = (MetaPrepare | MetaPromise | MetaAccept | MetaAccepted | MetaCommit | MetaPull
               | MetaEntries)


class Durable(Protocol):
    """The host's durable key-value state: written now, synced before the next send."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...


class Host(Protocol):
    address: str

    def members(self) -> Sequence[str]:
        """Every member of the metadata group, this node included."""
        ...

    def send(self, to: str, message: MetaMessage) -> None: ...

    def apply(self, slot: int, value: bytes) -> None:
        """Apply the chosen value of ``slot`` (called in slot order, once), persisting the
        new state with ``slot`` as its applied index."""
        ...

    def snapshot(self) -> tuple[int, bytes]:
        """The applied index and the state at it."""
        ...

    def install(self, index: int, snapshot: bytes) -> None:
        """Replace the state by a peer's snapshot at ``index`` (above ours)."""
        ...


@dataclass
class _Acceptor:
    promised: Ballot = ZERO
    accepted: Ballot = ZERO
    value: bytes = b""


@dataclass
class _Attempt:
    slot: int
    ballot: Ballot
    value: bytes  # our queue head: proposed unless a promise carries an accepted value
    deadline_ns: int
    phase: int = 1
    promises: dict[str, MetaPromise] = field(default_factory=dict)
    accepts: set[str] = field(default_factory=set)


class MultiPaxos:
    def __init__(self, host: Host, durable: Durable, applied: int, seed: int) -> None:
        self.host = host
        self.durable = durable
        self.rng = random.Random(seed)
        self.applied = applied
        self.first_kept = _int(durable.get("lo"), 1)
        self.highest = _int(durable.get("hi"), applied)
        self.chosen: dict[int, bytes] = {}
        self.acceptors: dict[int, _Acceptor] = {}
        for slot in range(self.first_kept, self.highest + 1):
            v = durable.get(f"e/{slot}")
            if v is not None:
                self.chosen[slot] = v
            a = durable.get(f"a/{slot}")
            if a is not None:
                pr, pn, ar, an, val = msgpack.unpackb(a)
                self.acceptors[slot] = _Acceptor((pr, pn), (ar, an), val)
        self.max_round = max([a.promised[0] for a in self.acceptors.values()]
                             + [_int(durable.get("round"), 0)])
        self.queue: list[bytes] = []
        self.attempt: _Attempt | None = None
        self.retry_at_ns = 0  # backoff: no new attempt before this

    def start(self) -> None:
        """Apply what was chosen but not applied before a crash (the host is ready now)."""
        self._apply_ready()

    # ------------------------------------------------------------------ queries

    def last_chosen(self) -> int:
        """The highest slot known chosen here (not necessarily contiguous)."""
        return max([self.applied, *self.chosen])

    def next_slot(self) -> int:
        slot = self.applied + 1
        while slot in self.chosen:
            slot += 1
        return slot

    def quorum(self) -> int:
        return len(self.host.members()) // 2 + 1

    # ------------------------------------------------------------------ proposer

    def propose(self, value: bytes, now_ns: int) -> None:
        """Queue ``value`` for the log; it is chosen at most once (the host recognises it
        when applied: values carry a unique id). Withdraw with ``withdraw``."""
        self.queue.append(value)
        self._maybe_start(now_ns)

    def withdraw(self, value: bytes) -> None:
        """Stop proposing ``value`` (a timed-out request). A value already accepted by some
        acceptor may still be chosen: its outcome is then unknown to the client, as a
        Cassandra write timeout."""
        if value in self.queue:
            self.queue.remove(value)

    def tick(self, now_ns: int) -> None:
        a = self.attempt
        if a is not None and now_ns >= a.deadline_ns:
            self._give_up(now_ns)
        self._maybe_start(now_ns)

    def _maybe_start(self, now_ns: int) -> None:
        if self.attempt is not None or not self.queue or now_ns < self.retry_at_ns:
            return
        self.max_round += 1
        self.durable.put("round", str(self.max_round).encode())  # never reuse a ballot
        ballot = (self.max_round, self.host.address)
        slot = self.next_slot()
        self.attempt = _Attempt(slot, ballot, self.queue[0],
                                now_ns + limits.metadata_round_timeout_ms * 1_000_000)
        self._broadcast(MetaPrepare(slot, ballot[0], ballot[1]), now_ns)

    def _give_up(self, now_ns: int) -> None:
        """This attempt failed: try again (a new ballot, maybe a new slot) after a backoff."""
        self.attempt = None
        backoff_ms = self.rng.uniform(0, limits.metadata_backoff_ms_max)
        self.retry_at_ns = now_ns + int(backoff_ms * 1_000_000)

    def _broadcast(self, message: MetaMessage, now_ns: int) -> None:
        for member in self.host.members():
            if member == self.host.address:
                self.on_message(member, message, now_ns)
            else:
                self.host.send(member, message)

    def _to(self, member: str, message: MetaMessage, now_ns: int) -> None:
        if member == self.host.address:
            self.on_message(member, message, now_ns)
        else:
            self.host.send(member, message)

    def _on_promise(self, sender: str, m: MetaPromise, now_ns: int) -> None:
        self._note_chosen_elsewhere(m.last_chosen, sender)
        a = self.attempt
        if m.chosen:
            self._learn(m.slot, m.chosen, now_ns)
        if a is None or a.phase != 1 or m.slot != a.slot or (m.round, m.proposer) != a.ballot:
            return
        if not m.ok:
            self.max_round = max(self.max_round, m.promised_round)
            self._give_up(now_ns)
            return
        a.promises[sender] = m
        if len(a.promises) < self.quorum():
            return
        best = max(a.promises.values(), key=lambda p: (p.accepted_round, p.accepted_proposer))
        if best.accepted_round > 0:
            a.value = best.accepted_value
        a.phase = 2
        a.deadline_ns = now_ns + limits.metadata_round_timeout_ms * 1_000_000
        self._broadcast(MetaAccept(a.slot, a.ballot[0], a.ballot[1], a.value), now_ns)

    def _on_accepted(self, sender: str, m: MetaAccepted, now_ns: int) -> None:
        a = self.attempt
        if a is None or a.phase != 2 or m.slot != a.slot or (m.round, m.proposer) != a.ballot:
            return
        if not m.ok:
            self.max_round = max(self.max_round, m.promised_round)
            self._give_up(now_ns)
            return
        a.accepts.add(sender)
        if len(a.accepts) >= self.quorum():
            self._broadcast(MetaCommit(a.slot, a.value), now_ns)

    # ------------------------------------------------------------------ acceptor

    def _acceptor(self, slot: int) -> _Acceptor:
        return self.acceptors.setdefault(slot, _Acceptor())

    def _save_acceptor(self, slot: int, a: _Acceptor) -> None:
        self.durable.put(f"a/{slot}", msgpack.packb(
            [a.promised[0], a.promised[1], a.accepted[0], a.accepted[1], a.value]))
        self._raise_highest(slot)

    def _raise_highest(self, slot: int) -> None:
        if slot > self.highest:
            self.highest = slot
            self.durable.put("hi", str(slot).encode())

    def _known_value(self, slot: int) -> bytes | None:
        """The chosen value of ``slot`` if we still hold it."""
        return self.chosen.get(slot)

    def _on_prepare(self, sender: str, m: MetaPrepare, now_ns: int) -> None:
        ballot = (m.round, m.proposer)
        self.max_round = max(self.max_round, m.round)
        last = self.last_chosen()
        known = self._known_value(m.slot)
        if known is not None or m.slot <= self.applied:
            # Chosen already: tell the value (or, compacted, make the proposer pull).
            self._to(sender, MetaPromise(m.slot, m.round, m.proposer, False, 0, "", 0, "", b"",
                                         known or b"", last), now_ns)
            return
        a = self._acceptor(m.slot)
        ok = ballot > a.promised
        if ok:
            a.promised = ballot
            self._save_acceptor(m.slot, a)
        self._to(sender, MetaPromise(
            m.slot, m.round, m.proposer, ok, a.promised[0], a.promised[1], a.accepted[0],
            a.accepted[1], a.value, b"", last), now_ns)

    def _on_accept(self, sender: str, m: MetaAccept, now_ns: int) -> None:
        ballot = (m.round, m.proposer)
        self.max_round = max(self.max_round, m.round)
        known = self._known_value(m.slot)
        if known is not None:
            self._to(sender, MetaCommit(m.slot, known), now_ns)
            return
        if m.slot <= self.applied:
            return  # compacted: the proposer learns the slot from its other acceptors
        a = self._acceptor(m.slot)
        ok = ballot >= a.promised
        if ok:
            a.promised = a.accepted = ballot
            a.value = m.value
            self._save_acceptor(m.slot, a)
        self._to(sender, MetaAccepted(m.slot, m.round, m.proposer, ok, a.promised[0],
                                      a.promised[1]), now_ns)

    # ------------------------------------------------------------------ learner

    def _learn(self, slot: int, value: bytes, now_ns: int) -> None:
        if slot <= self.applied and slot not in self.chosen:
            return  # applied and compacted
        known = self.chosen.get(slot)
        if known is not None:
            assert known == value, f"metadata log slot {slot} chosen twice with different values"
            return
        self.chosen[slot] = value
        self.durable.put(f"e/{slot}", value)
        self._raise_highest(slot)
        if slot in self.acceptors:
            del self.acceptors[slot]
            self.durable.delete(f"a/{slot}")
        if value in self.queue:
            self.queue.remove(value)
        a = self.attempt
        if a is not None and a.slot == slot:
            self.attempt = None  # decided: the next value (or ours again) at the next slot
        self._apply_ready()
        self._maybe_start(now_ns)

    def _apply_ready(self) -> None:
        while self.applied + 1 in self.chosen:
            self.applied += 1
            self.host.apply(self.applied, self.chosen[self.applied])
        self._compact()

    def _compact(self) -> None:
        keep = limits.metadata_log_entries_kept
        if self.applied - self.first_kept + 1 <= 2 * keep:
            return
        new_first = self.applied - keep + 1
        for slot in range(self.first_kept, new_first):
            if self.chosen.pop(slot, None) is not None:
                self.durable.delete(f"e/{slot}")
        self.first_kept = new_first
        self.durable.put("lo", str(new_first).encode())

    def _note_chosen_elsewhere(self, slot: int, holder: str) -> None:
        if slot >= self.next_slot():
            self.pull_from(holder)

    def pull_from(self, holder: str) -> None:
        """Ask ``holder`` for the chosen entries we miss."""
        if holder != self.host.address:
            self.host.send(holder, MetaPull(self.applied + 1))

    def _on_pull(self, sender: str, m: MetaPull) -> None:
        snap_index, snap = 0, b""
        first = max(m.from_slot, 1)
        if first < self.first_kept:
            snap_index, snap = self.host.snapshot()
            first = snap_index + 1
        values: list[bytes] = []
        slot = first
        while slot in self.chosen and len(values) < limits.metadata_pull_entries_max:
            values.append(self.chosen[slot])
            slot += 1
        if snap or values:
            self.host.send(sender, MetaEntries(snap_index, snap, first, tuple(values)))

    def _on_entries(self, sender: str, m: MetaEntries, now_ns: int) -> None:
        if m.snapshot and m.snapshot_index > self.applied:
            self.host.install(m.snapshot_index, m.snapshot)
            for slot in [s for s in self.chosen if s <= m.snapshot_index]:
                del self.chosen[slot]
                self.durable.delete(f"e/{slot}")
            for slot in [s for s in self.acceptors if s <= m.snapshot_index]:
                del self.acceptors[slot]  # decided: what we accepted there no longer matters
                self.durable.delete(f"a/{slot}")
            self.applied = m.snapshot_index
            self.first_kept = m.snapshot_index + 1
            self.durable.put("lo", str(self.first_kept).encode())
            self._raise_highest(m.snapshot_index)
        for i, value in enumerate(m.values):
            self._learn(m.first_slot + i, value, now_ns)
        if len(m.values) == limits.metadata_pull_entries_max:
            self.pull_from(sender)  # more to come

    # ------------------------------------------------------------------ dispatch

    def on_message(self, sender: str, m: MetaMessage, now_ns: int) -> None:
        if isinstance(m, MetaPrepare):
            self._on_prepare(sender, m, now_ns)
        elif isinstance(m, MetaPromise):
            self._on_promise(sender, m, now_ns)
        elif isinstance(m, MetaAccept):
            self._on_accept(sender, m, now_ns)
        elif isinstance(m, MetaAccepted):
            self._on_accepted(sender, m, now_ns)
        elif isinstance(m, MetaCommit):
            self._learn(m.slot, m.value, now_ns)
        elif isinstance(m, MetaPull):
            self._on_pull(sender, m)
        else:
            self._on_entries(sender, m, now_ns)


def _int(raw: bytes | None, default: int) -> int:
    return int(raw.decode()) if raw is not None else default

