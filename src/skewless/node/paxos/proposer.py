"""One lightweight transaction (or SERIAL read) as an explicit record: the proposer of partition
Paxos, a pure core.

Theory of operation
-------------------
A ``Proposer`` runs one ``CasRequest`` from ``start`` to its one ``Outcome``, in the manner of
``node.record`` (a phase enum, a transition table, a move outside it is an assert). Phases:

* ``PREPARING``: prepare with the read. A ballot from the ballot clock is sent to every live
  participant (the replicas counted by the serial consistency level); each promise carries the
  acceptor's partition, its accepted-but-uncommitted proposal and its most recent commit (MRC).
  A refusal restarts (``BACKOFF``). With a quorum of promises:

  - the highest accepted proposal above the highest MRC is *in progress* (unless empty: it
    changes nothing): it may have been chosen, so Paxos requires proposing it: ``FINISHING``
    re-proposes it at our ballot, then the record starts over with a new ballot (or, when it
    was our own earlier proposal, answers);
  - the MRC is *missing* on a promise (an older or no commit there, commits older than
    gc_grace ignored): it is repaired by piggy-backing it on our PROPOSE (acceptors apply it
    before accepting), so every commit is on a quorum before anything newer is proposed;
  - else ``decide(read)`` runs on the promises' partitions merged. Applied: the update, shifted
    to ``commit_timestamp`` (``node.paxos.ballot``), is proposed (``PROPOSING``). Not applied
    (or a SERIAL read): **answered at once when nothing is in flight**, that is when no promise
    holds an accepted proposal above the MRC and every promise holds the MRC; otherwise an
    empty update is proposed (with the repair) and the answer follows its commit.

  Why answering without proposing is safe (CASSANDRA-12126's worry): a value not visible in our
  quorum Q cannot be chosen at its own ballot any more (every quorum meets Q, which promised
  above it), only re-proposed later at a higher ballot, which orders it after this read; and
  its client cannot have been told it succeeded (that needs a quorum at its ballot, which meets
  Q). When Q is not unanimous the empty proposal makes it so, as Cassandra does.

* ``PROPOSING``/``FINISHING``, at most two round trips: when this node is a participant its
  own acceptor accepts first (durably, if it promised nothing higher since), and PROPOSE names
  it in ``accepted_by``; an acceptor that accepts and so completes a quorum knows the value
  chosen and commits it at once (``node.paxos.acceptor``). With a quorum of accepts the value
  is chosen: the proposer commits locally; once ``commit_required`` replicas have committed the
  record answers: prepare + propose, the commit riding on the propose. When the proposer is not
  a participant, or RF > 3 (one acceptor plus the proposer is then short of a quorum), the
  acceptors cannot know: a separate COMMIT round (``COMMITTING``) makes it three round trips.
* A propose round that cannot reach a quorum any more restarts (``BACKOFF``), counted as a
  contention. Our own value may still have been accepted somewhere (partially accepted, an
  acceptor silent, or even refused: a duplicated PROPOSE may have been accepted before a
  higher promise refused its copy), so its outcome stays open (``mines``) and every later
  prepare asks for the acceptors' recent commits to settle it, through the values' *origins*
  (the ballot a value was first proposed at, kept by re-proposals; ballots are unique):

  - one of ours in progress: finished, and answered as applied. Its read is still the state
    it applies to: anything chosen between its ballot and ours would show in our quorum as a
    higher proposal in progress or a newer MRC;
  - one of ours among a promise's MRC or recent commits: chosen, answered as applied (after
    repairing the MRC onto a quorum when some promise lacks it);
  - none, and every promise's recent commits reach below its origin (``_fate``): not chosen
    *yet*. Had it been chosen, it was committed on a quorum before anything later was chosen
    (each proposal carries the MRC it saw missing), and our quorum meets that one. The record
    decides afresh, and whatever it then gets chosen (its new update, or an empty one when
    the condition is now false: never an answer without proposing while ours are open) makes
    every older value of ours stale for good;
  - otherwise the outcome is unknown: WriteTimeout (CAS), as Cassandra answers, never a second
    application of the same CAS.
* Backoff: jittered, ``uniform(0, paxos_backoff_ms_max)`` from the injected random; a restart
  that would begin after ``cas_contention_timeout`` ends the record in WriteTimeout (CAS, with
  its contentions) or, for a SERIAL read, ReadTimeout. A round unanswered for
  ``paxos_round_timeout_ms`` ends it the same way; fewer live participants than a quorum is
  Unavailable at the start.

Planted bug ``skip-prepare`` (tests only): the proposer evaluates ``decide`` on its own replica's
data and proposes at a fresh ballot without a prepare round.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from skewless import limits
from skewless.errors import CqlError, ReadTimeout, Unavailable, WriteTimeout
from skewless.node import consistency as cl_mod
from skewless.node.messages import (
    LwtAccepted,
    LwtCommit,
    LwtCommitAck,
    LwtPrepare,
    LwtPromise,
    LwtPropose,
)
from skewless.node.paxos.acceptor import Acceptor
from skewless.node.paxos.ballot import ZERO, Ballot, BallotClock, commit_timestamp, shift
from skewless.storage import codec
from skewless.storage.merge import merge_many
from skewless.storage.model import PartitionUpdate

SKIP_PREPARE = "skip-prepare"

# decide(current) -> (applied, update or None, result): the CQL part's condition and update.
Decide = Callable[[PartitionUpdate], tuple[bool, PartitionUpdate | None, object]]


class Phase(enum.Enum):
    START = "start"
    PREPARING = "preparing"
    FINISHING = "finishing an in-progress proposal"
    PROPOSING = "proposing"
    COMMITTING = "committing"
    BACKOFF = "backoff"
    ANSWERED = "answered"


_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.START: frozenset({_P.PREPARING, _P.PROPOSING, _P.ANSWERED}),  # PROPOSING: skip-prepare
    _P.PREPARING: frozenset({_P.FINISHING, _P.PROPOSING, _P.BACKOFF, _P.ANSWERED}),
    _P.FINISHING: frozenset({_P.PREPARING, _P.COMMITTING, _P.BACKOFF, _P.ANSWERED}),
    _P.PROPOSING: frozenset({_P.COMMITTING, _P.BACKOFF, _P.ANSWERED}),
    _P.COMMITTING: frozenset({_P.PREPARING, _P.ANSWERED}),
    _P.BACKOFF: frozenset({_P.PREPARING, _P.PROPOSING, _P.ANSWERED}),
    _P.ANSWERED: frozenset(),
}


@dataclass(frozen=True)
class CasRequest:
    """One LWT or SERIAL read of one partition, as the CQL part hands it over."""

    table: str  # table id
    key: bytes  # partition key as routed
    decide: Decide
    participants: tuple[str, ...]  # the replicas the serial level counts (local DC for LOCAL_)
    replicas: tuple[str, ...]  # every replica (the commit reaches these)
    alive: frozenset[str]
    serial_cl: int = cl_mod.SERIAL
    commit_cl: int = cl_mod.QUORUM
    # replicas that must have committed before the answer (the commit level's block-for: 0 for
    # ANY); None: a quorum of ``replicas``
    commit_required: int | None = None
    read_only: bool = False  # a SERIAL read: timeouts are ReadTimeout, nothing is applied
    contention_timeout_ms: int = limits.cas_contention_timeout_ms_default
    round_timeout_ms: int = limits.paxos_round_timeout_ms
    gc_grace_s: int = limits.gc_grace_seconds_default


@dataclass(frozen=True)
class Outcome:
    applied: bool
    result: object  # decide's result (a SERIAL read's: the read)
    error: CqlError | None
    contentions: int
    round_trips: int  # rounds that waited for remote answers
    ts_us: int  # the applied update's timestamp (0 when not applied)


class Hub(Protocol):
    """What a record needs of ``node.paxos.core.PaxosCore``."""

    address: str
    clock: BallotClock
    acceptor: Acceptor
    rng: random.Random
    planted: frozenset[str]

    def send(self, to: str, m: LwtPrepare | LwtPropose | LwtCommit) -> None: ...

    def new_round(self, record: Proposer) -> int: ...

    def answer(self, record: Proposer, outcome: Outcome) -> None: ...


class _Repair(NamedTuple):
    """A commit some promises lacked, carried by the next PROPOSE."""

    update: bytes
    ballot: Ballot
    origin: Ballot


NO_REPAIR = _Repair(b"", ZERO, ZERO)


@dataclass(frozen=True)
class _Mine:
    """Our own proposal whose outcome a refused round left unknown."""

    origin: Ballot  # the ballot we proposed it at
    result: object
    ts_us: int


class Proposer:
    def __init__(self, hub: Hub, op_id: int, req: CasRequest, now_ms: int) -> None:
        assert req.participants and set(req.participants) <= set(req.replicas)
        self.hub = hub
        self.op_id = op_id
        self.req = req
        self.phase = Phase.START
        self.trail = [Phase.START]
        self.quorum = len(req.participants) // 2 + 1
        self.commit_required = (len(req.replicas) // 2 + 1 if req.commit_required is None
                                else req.commit_required)
        self.started_ms = now_ms
        self.deadline_ms = 0
        self.retry_at_ms = 0
        self.ballot = ZERO
        self.req_id = 0
        self.contentions = 0
        self.round_trips = 0
        self.promises: dict[str, LwtPromise] = {}
        self.refused: set[str] = set()
        self.targets: set[str] = set()
        self.accepts: set[str] = set()
        self.committed: set[str] = set()
        self.update = b""  # the value proposed this round
        self.origin = ZERO  # the ballot it was first proposed at
        self.kind = ""  # 'own', 'empty' or 'finish'
        self.result: object = None
        self.ts_us = 0
        self.commit_sent: set[str] = set()
        self.commit_acked = False
        self.mines: list[_Mine] = []  # our proposals refused, whose outcome is still open
        self.resolved: _Mine | None = None  # the one of them found chosen

    def __repr__(self) -> str:
        return f"LWT proposer ({self.phase.value})"

    def _to(self, phase: Phase) -> None:
        assert phase in TRANSITIONS[self.phase], f"{self!r}: no transition to {phase.value}"
        self.phase = phase
        self.trail.append(phase)

    @property
    def answered(self) -> bool:
        return self.phase is Phase.ANSWERED

    def _answer(self, applied: bool, result: object, error: CqlError | None = None,
                ts_us: int = 0) -> None:
        self._to(Phase.ANSWERED)
        self.hub.answer(self, Outcome(applied, result, error, self.contentions,
                                      self.round_trips, ts_us))

    def _alive(self) -> list[str]:
        return [p for p in self.req.participants if p in self.req.alive or p == self.hub.address]

    # ------------------------------------------------------------------ inputs

    def start(self, now_ms: int, clock_us: int) -> None:
        alive = self._alive()
        if len(alive) < self.quorum:
            self._answer(False, None, Unavailable(
                "Cannot achieve consistency level " + cl_mod.NAMES[self.req.serial_cl],
                self.req.serial_cl, self.quorum, len(alive)))
            return
        self._prepare(now_ms, clock_us)

    def tick(self, now_ms: int, clock_us: int) -> None:
        if self.phase is Phase.BACKOFF and now_ms >= self.retry_at_ms:
            self._prepare(now_ms, clock_us)
        elif self.phase in _WAITING and now_ms >= self.deadline_ms:
            if (self.phase in (Phase.PROPOSING, Phase.FINISHING)
                    and len(self.req.participants) - len(self.refused) < self.quorum):
                self._lost(now_ms)  # refused by enough, the rest silent
            else:
                self._timed_out()

    def on_promise(self, sender: str, m: LwtPromise, now_ms: int, clock_us: int) -> None:
        if (self.phase is not Phase.PREPARING or sender not in self.targets
                or sender in self.promises or sender in self.refused):
            return
        if not _well_formed(m):
            return  # a peer's garbage: as if unanswered
        if m.error or not m.ok:
            self.hub.clock.observe(Ballot(m.promised_us, m.promised_node))
            self._contended(now_ms)
            return
        self.promises[sender] = m
        self.hub.clock.observe(max(Ballot(m.accepted_us, m.accepted_node),
                                   Ballot(m.committed_us, m.committed_node)))
        if len(self.promises) >= self.quorum:
            self._promised(now_ms, clock_us)

    def on_accepted(self, sender: str, m: LwtAccepted, now_ms: int, clock_us: int) -> None:
        if self.phase is Phase.COMMITTING and sender in self.targets:
            self._late_accepted(sender, m, now_ms, clock_us)
            return
        if (self.phase not in (Phase.PROPOSING, Phase.FINISHING) or sender not in self.targets
                or sender in self.accepts or sender in self.refused):
            return
        if m.error or not m.ok:
            if isinstance(m.promised_us, int) and isinstance(m.promised_node, str):
                self.hub.clock.observe(Ballot(m.promised_us, m.promised_node))
            self.refused.add(sender)
        else:
            self.accepts.add(sender)
            if m.committed:
                self.committed.add(sender)
        self._check_proposal(now_ms, clock_us)

    def _late_accepted(self, sender: str, m: LwtAccepted, now_ms: int, clock_us: int) -> None:
        """A participant's answer to the PROPOSE while the commit is awaited: committed, it
        counts; otherwise it is sent the commit."""
        if sender in self.committed or sender in self.commit_sent:
            return
        if m.ok and m.committed and not m.error:
            self.committed.add(sender)
            if len(self.committed) >= self.commit_required:
                self._round_done(now_ms, clock_us)
        else:
            self._send_commit([sender])

    def on_commit_ack(self, sender: str, m: LwtCommitAck, now_ms: int, clock_us: int) -> None:
        if self.phase is not Phase.COMMITTING or m.error or sender not in self.req.replicas:
            return
        self.committed.add(sender)
        self.commit_acked = True
        if len(self.committed) >= self.commit_required:
            self._round_done(now_ms, clock_us)

    # ------------------------------------------------------------------ prepare

    def _prepare(self, now_ms: int, clock_us: int) -> None:
        self.ballot = self.hub.clock.next(clock_us)
        if SKIP_PREPARE in self.hub.planted:  # planted bug: no prepare, our own data as the read
            self._decide(self.hub.acceptor.data.read(self.req.table, self.req.key), NO_REPAIR,
                         now_ms, clock_us)
            return
        self._to(Phase.PREPARING)
        self.req_id = self.hub.new_round(self)
        self.promises, self.refused = {}, set()
        self.targets = set(self._alive())
        self._round(now_ms, self.targets)
        m = LwtPrepare(self.req_id, self.req.table, self.req.key, *self.ballot,
                       bool(self.mines))
        for p in sorted(self.targets):
            self.hub.send(p, m)

    def _round(self, now_ms: int, targets: set[str]) -> None:
        self.deadline_ms = now_ms + self.req.round_timeout_ms
        if targets - {self.hub.address}:
            self.round_trips += 1

    def _promised(self, now_ms: int, clock_us: int) -> None:
        self.resolved = None
        ps = list(self.promises.values())
        mrc_p = max(ps, key=lambda p: (p.committed_us, p.committed_node))
        mrc = Ballot(mrc_p.committed_us, mrc_p.committed_node)
        fresh = mrc != ZERO and clock_us - mrc.us <= self.req.gc_grace_s * 1_000_000
        missing = fresh and any(Ballot(p.committed_us, p.committed_node) < mrc for p in ps)
        repair = NO_REPAIR
        if missing:
            repair = _Repair(mrc_p.committed_update, mrc, Ballot(mrc_p.committed_origin_us,
                                                                 mrc_p.committed_origin_node))
        top = max(ps, key=lambda p: (p.accepted_us, p.accepted_node))
        in_progress = Ballot(top.accepted_us, top.accepted_node)
        if in_progress > mrc and not self._is_empty(top.accepted_update):
            origin = Ballot(top.accepted_origin_us, top.accepted_origin_node)
            origin = origin if origin != ZERO else in_progress
            self.resolved = next((m for m in self.mines if m.origin == origin), None)
            self._propose("finish", top.accepted_update, origin, repair, now_ms, clock_us)
            return
        fates = [(_fate(m.origin, ps), m) for m in self.mines]
        chosen = [m for fate, m in fates if fate == "chosen"]
        if chosen:
            self.resolved = chosen[0]  # answered once the MRC is on a quorum
            if missing:
                self._propose("finish", self._empty(), self.ballot, repair, now_ms, clock_us)
            else:
                self._answer(True, chosen[0].result, None, chosen[0].ts_us)
            return
        if any(fate == "unknown" for fate, _ in fates):
            self._answer(False, None, self._write_timeout(0, self.quorum))
            return
        # none of ours chosen yet: whatever we propose now, once chosen, makes them stale
        read = merge_many([codec.decode_update(p.data) for p in ps])
        self._decide(read, repair, now_ms, clock_us)

    def _decide(self, read: PartitionUpdate, repair: _Repair, now_ms: int, clock_us: int
                ) -> None:
        try:
            applied, update, result = self.req.decide(read)
        except CqlError as e:
            self._answer(False, None, e)
            return
        self.result = result
        if self.req.read_only or not applied:
            if repair == NO_REPAIR and not self.mines:
                self._answer(False, result)  # nothing in flight: one round trip
                return
            self._propose("empty", self._empty(), self.ballot, repair, now_ms, clock_us)
            return
        self.ts_us = commit_timestamp(self.ballot, read)
        own = shift(update or PartitionUpdate(self.req.table, self.req.key), self.ts_us)
        self._propose("own", codec.encode_update(own), self.ballot, repair, now_ms, clock_us)

    def _is_empty(self, update: bytes) -> bool:
        """An empty proposal changes nothing: left unfinished (as Cassandra does), it is not
        in flight."""
        return not update or codec.decode_update(update) == PartitionUpdate(self.req.table,
                                                                            self.req.key)

    def _empty(self) -> bytes:
        return codec.encode_update(PartitionUpdate(self.req.table, self.req.key))

    # ------------------------------------------------------------------ propose

    def _propose(self, kind: str, update: bytes, origin: Ballot, repair: _Repair, now_ms: int,
                 clock_us: int) -> None:
        self._to(Phase.FINISHING if kind == "finish" else Phase.PROPOSING)
        self.kind, self.update, self.origin = kind, update, origin
        self.req_id = self.hub.new_round(self)
        self.accepts, self.committed, self.refused = set(), set(), set()
        self.targets = set(self._alive())
        me = self.hub.address
        acceptor = self.hub.acceptor
        if me in self.targets:
            if repair != NO_REPAIR:
                acceptor.commit_local(self.req.table, self.req.key, repair.ballot, repair.update,
                                      repair.origin)
            if acceptor.accept_local(self.req.table, self.req.key, self.ballot, update, origin):
                self.accepts.add(me)
            else:
                self.refused.add(me)
        m = LwtPropose(self.req_id, self.req.table, self.req.key, *self.ballot, update,
                       tuple(self.accepts), self.quorum, *repair.ballot, repair.update, *origin,
                       *repair.origin)
        remote = self.targets - {me}
        self._round(now_ms, remote)
        for p in sorted(remote):
            self.hub.send(p, m)
        self._check_proposal(now_ms, clock_us)

    def _check_proposal(self, now_ms: int, clock_us: int) -> None:
        if len(self.accepts) >= self.quorum:
            self._chosen(now_ms, clock_us)
            return
        if len(self.req.participants) - len(self.refused) >= self.quorum:
            return  # a quorum may still accept
        self._lost(now_ms)

    def _lost(self, now_ms: int) -> None:
        """The proposal can no longer reach a quorum at this ballot: start over. Our own value
        may still have been accepted somewhere (even a refusal does not prove it was not: a
        duplicated PROPOSE may have been accepted before a higher promise refused its copy),
        so its outcome stays open."""
        if self.kind == "own":
            self.mines.append(_Mine(self.origin, self.result, self.ts_us))
        self._contended(now_ms)

    def _chosen(self, now_ms: int, clock_us: int) -> None:
        me = self.hub.address
        if me in self.req.replicas and me not in self.committed:
            self.hub.acceptor.commit_local(self.req.table, self.req.key, self.ballot, self.update,
                                           self.origin)
            self.committed.add(me)
        self.commit_sent, self.commit_acked = set(), False
        # Replicas outside the Paxos participants (LOCAL_SERIAL: other DCs) and participants
        # that answered without committing get the commit; the others may still answer
        # "accepted+committed" to the PROPOSE (``_late_accepted``).
        answered = self.accepts | self.refused
        need = [r for r in self.req.replicas if r not in self.committed
                and (r not in self.req.participants or r in answered)]
        if len(self.committed) >= self.commit_required:
            self.req_id = 0  # nobody waits: acks are dropped
            self._send_commit([r for r in need if r not in self.req.participants])
            self._round_done(now_ms, clock_us)
            return
        self._to(Phase.COMMITTING)  # same round id: the PROPOSE's answers still count
        self.deadline_ms = now_ms + self.req.round_timeout_ms
        self._send_commit(need)

    def _send_commit(self, to: list[str]) -> None:
        m = LwtCommit(self.req_id, self.req.table, self.req.key, *self.ballot, self.update,
                      *self.origin)
        for r in to:
            self.commit_sent.add(r)
            self.hub.send(r, m)

    def _round_done(self, now_ms: int, clock_us: int) -> None:
        if self.phase is Phase.COMMITTING and self.commit_acked:
            self.round_trips += 1  # a third round trip was needed
        if self.kind == "own":
            self._answer(True, self.result, None, self.ts_us)
        elif self.resolved is not None:
            self._answer(True, self.resolved.result, None, self.resolved.ts_us)
        elif self.kind == "empty":
            self._answer(False, self.result)
        else:  # someone's in-progress proposal is done: our own attempt starts over
            self._prepare(now_ms, clock_us)

    # ------------------------------------------------------------------ failures

    def _contended(self, now_ms: int) -> None:
        self.contentions += 1
        delay = int(self.hub.rng.uniform(0, limits.paxos_backoff_ms_max))
        if now_ms + delay >= self.started_ms + self.req.contention_timeout_ms:
            self._answer(False, None, self._timeout(0, self.quorum))
            return
        self._to(Phase.BACKOFF)
        self.retry_at_ms = now_ms + delay

    def _timed_out(self) -> None:
        if self.phase is Phase.COMMITTING:
            n, need = len(self.committed), self.commit_required
            self._answer(False, None, WriteTimeout(
                f"Operation timed out - received only {n} responses.", self.req.commit_cl, n,
                need, "CAS", self.contentions))
            return
        got = len(self.promises) if self.phase is Phase.PREPARING else len(self.accepts)
        self._answer(False, None, self._timeout(got, self.quorum))

    def _timeout(self, received: int, block_for: int) -> CqlError:
        if self.req.read_only:
            return ReadTimeout(f"Operation timed out - received only {received} responses.",
                               self.req.serial_cl, received, block_for, False)
        return self._write_timeout(received, block_for)

    def _write_timeout(self, received: int, block_for: int) -> WriteTimeout:
        return WriteTimeout(
            f"CAS operation timed out: received {received} of {block_for} required responses "
            f"after {self.contentions} contention retries", self.req.serial_cl, received,
            block_for, "CAS", self.contentions)


def _well_formed(m: LwtPromise) -> bool:
    ints = (m.promised_us, m.accepted_us, m.committed_us, m.accepted_origin_us,
            m.committed_origin_us)
    strs = (m.promised_node, m.accepted_node, m.committed_node, m.accepted_origin_node,
            m.committed_origin_node)
    if not (all(isinstance(x, int) for x in ints) and all(isinstance(x, str) for x in strs)
            and isinstance(m.recent, tuple)):
        return False
    for r in m.recent:
        if not (isinstance(r, tuple) and len(r) == 4 and isinstance(r[0], int)
                and isinstance(r[1], str) and isinstance(r[2], int) and isinstance(r[3], str)):
            return False
    try:
        for raw in (m.data, m.accepted_update, m.committed_update):
            if raw:
                codec.decode_update(raw)
    except Exception:  # undecodable: a peer's garbage
        return False
    return True


def _fate(origin: Ballot, ps: list[LwtPromise]) -> str:
    """Whether our own value (first proposed at ``origin``, not in progress in this quorum) was
    chosen, per a quorum's promises: 'chosen', 'lost' or 'unknown'.

    Had it been chosen, it was committed on a quorum before any later value was chosen (each
    proposal carries the MRC it saw missing), so some member of this quorum applied it: its
    recent commits hold it unless evicted by later ones, and eviction drops the lowest commit
    ballot first, so a member whose recent commits are not full or reach below ``origin``
    (every commit of our value is at or above it) would still show it."""
    keep = limits.paxos_recent_commits_kept
    for p in ps:
        if Ballot(p.committed_origin_us, p.committed_origin_node) == origin or any(
                Ballot(ou, on) == origin for _, _, ou, on in p.recent):
            return "chosen"
    if all(len(p.recent) < keep or Ballot(*p.recent[0][:2]) < origin for p in ps):
        return "lost"
    return "unknown"


_WAITING = frozenset({Phase.PREPARING, Phase.PROPOSING, Phase.FINISHING, Phase.COMMITTING})
