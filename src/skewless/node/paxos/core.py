"""Partition Paxos on one node: the acceptor, the ballot clock and the proposers in flight, a
pure core driven by client requests, peers' messages and ticks, returning its effects as data.

Theory of operation
-------------------
``PaxosCore`` is what the node wires (``cas``, ``on_message``, ``tick``): every input returns
an ``Effects`` whose order is the contract:

1. durable state and committed data were written through the ports during the input;
2. ``sync``: the host syncs them (storage's sync) before anything below leaves the node, except
   the PREPAREs of this node's proposers unless ``ceiling_moved``: a PREPARE acknowledges
   nothing this node stored, and its ballot is below the ballot ceiling a finished sync
   covered, so it may leave while the sync runs (``node.effects.during_sync``); the proposer
   counts its own promise at once, but its PROPOSE comes from a later input, whose sends leave
   after this sync;
3. ``sends`` go out and ``answers`` are given to clients (an answer can report a commit only
   once it is durable, a promise or an acceptance only once it is).

Messages this node sends itself (its own acceptor, a participant) are handled inside the input,
after the handler that sent them returns (a queue, never re-entrantly), so one input may run a
whole local round; their durable writes are covered by the same sync. ``observed_us`` is the
highest ballot or commit timestamp the input saw or made: the host folds it into its hybrid
clock, so later ordinary writes from this node are stamped above every LWT it took part in.

Round ids: each round of a proposer gets a fresh ``req_id`` (replies to an older round are
dropped), drawn from a counter that starts at a random 62-bit point per incarnation (the
injected random), so a restarted node does not take a reply meant for its former self.

Wiring (the node's part, not done here): one ``PaxosCore`` per node. ``Durable`` on the node's
local storage (keys ``paxos/<table id>/<partition key>`` and ``ballot_ceiling``), ``Data.read``
the local partition with its tombstones, ``Data.apply`` the replica's ordinary apply path, both
durable at the node's Ready sync. ``cas`` with a ``CasRequest`` per LWT or SERIAL read,
``on_message`` for every ``Lwt*`` message, ``tick`` on the node's tick; ``now_ms`` monotonic,
``clock_us`` an HLC reading (ballots are drawn from it). Per ``Effects``: sync if asked, then
send and answer; fold ``observed_us`` into the HLC (``stamping.observe``).

Planted bug ``answer-before-sync`` (tests only): the acceptor's answers are in ``early_sends``,
to be sent before the sync, and its writes do not ask for one (the host syncs them later, as a
periodic commitlog would); ``skip-prepare`` is the proposer's (``node.paxos.proposer``).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from skewless.node.messages import (
    LwtAccepted,
    LwtCommit,
    LwtCommitAck,
    LwtPrepare,
    LwtPromise,
    LwtPropose,
)
from skewless.node.paxos.acceptor import ANSWER_BEFORE_SYNC, Acceptor
from skewless.node.paxos.ballot import BallotClock
from skewless.node.paxos.ports import Data, Durable
from skewless.node.paxos.proposer import SKIP_PREPARE, CasRequest, Outcome, Proposer
from skewless.storage.model import PartitionUpdate

PLANTED_BUGS = (SKIP_PREPARE, ANSWER_BEFORE_SYNC)

LwtMessage = LwtPrepare | LwtPromise | LwtPropose | LwtAccepted | LwtCommit | LwtCommitAck


@dataclass
class Effects:
    sync: bool = False  # sync durable state and data before any send or answer below
    sends: list[tuple[str, LwtMessage]] = field(default_factory=list)
    answers: list[tuple[int, Outcome]] = field(default_factory=list)  # (op id, outcome)
    early_sends: list[tuple[str, LwtMessage]] = field(default_factory=list)  # planted bug only
    observed_us: int = 0  # fold into the node's hybrid clock
    # The ballot ceiling was written: a PREPARE's ballot may be above the durable ceiling, so
    # the PREPAREs must wait for the sync too (without it they may leave during it: step 2).
    ceiling_moved: bool = False


class _Tracked:
    """The ports, noting whether the input wrote anything (then it must sync)."""

    def __init__(self, durable: Durable, data: Data) -> None:
        self.durable = durable
        self.data = data
        self.dirty = False
        self.quiet = False  # planted answer-before-sync: the acceptor's writes ask for no sync

    def get(self, key: bytes) -> bytes | None:
        return self.durable.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.dirty = self.dirty or not self.quiet
        self.durable.put(key, value)

    def delete(self, key: bytes) -> None:
        self.dirty = self.dirty or not self.quiet
        self.durable.delete(key)

    def read(self, table: str, key: bytes) -> PartitionUpdate:
        return self.data.read(table, key)

    def apply(self, update: PartitionUpdate) -> None:
        self.dirty = self.dirty or not self.quiet
        self.data.apply(update)


class PaxosCore:
    def __init__(self, address: str, durable: Durable, data: Data, rng: random.Random,
                 planted: frozenset[str] = frozenset()) -> None:
        assert planted <= set(PLANTED_BUGS), planted
        self.address = address
        self.rng = rng
        self.planted = planted
        self._ports = _Tracked(durable, data)
        self.clock = BallotClock(address, self._ports)
        self.acceptor = Acceptor(address, self._ports, self._ports, self.clock, planted)
        self.proposers: dict[int, Proposer] = {}  # op id -> record in flight
        self._rounds: dict[int, Proposer] = {}  # round req id -> record
        self._round_of: dict[int, int] = {}  # op id -> its current round's req id
        self._next_req = rng.getrandbits(62)
        self._local: deque[tuple[str, LwtMessage]] = deque()
        self._fx = Effects()
        self._ceiling_us = self.clock.ceiling_us
        self._now = (0, 0)

    # ------------------------------------------------------------------ inputs

    def cas(self, op_id: int, req: CasRequest, now_ms: int, clock_us: int) -> Effects:
        """Start one LWT or SERIAL read; its Outcome comes in some input's ``answers``."""
        assert op_id not in self.proposers, op_id
        self._begin(now_ms, clock_us)
        p = Proposer(self, op_id, req, now_ms)
        self.proposers[op_id] = p
        p.start(now_ms, clock_us)
        return self._end()

    def on_message(self, sender: str, m: LwtMessage, now_ms: int, clock_us: int) -> Effects:
        self._begin(now_ms, clock_us)
        self._dispatch(sender, m)
        return self._end()

    def tick(self, now_ms: int, clock_us: int) -> Effects:
        self._begin(now_ms, clock_us)
        for p in list(self.proposers.values()):
            if not p.answered:
                p.tick(now_ms, clock_us)
            self._drain()
        return self._end()

    def purge(self, table: str, key: bytes, now_us: int, gc_grace_s: int) -> Effects:
        """Remove one partition's Paxos state once ``acceptor.purgeable`` (compaction, sweeps)."""
        self._begin(0, 0)
        self.acceptor.purge(table, key, now_us, gc_grace_s)
        return self._end()

    # ------------------------------------------------------------------ Hub (for proposers)

    def send(self, to: str, m: LwtPrepare | LwtPropose | LwtCommit) -> None:
        if to == self.address:
            self._local.append((to, m))
        else:
            self._fx.sends.append((to, m))

    def new_round(self, record: Proposer) -> int:
        self._rounds.pop(self._round_of.get(record.op_id, -1), None)
        self._next_req = (self._next_req + 1) % (1 << 62)
        self._rounds[self._next_req] = record
        self._round_of[record.op_id] = self._next_req
        return self._next_req

    def answer(self, record: Proposer, outcome: Outcome) -> None:
        self._fx.answers.append((record.op_id, outcome))
        self._observe(outcome.ts_us)
        self.proposers.pop(record.op_id, None)
        self._rounds.pop(self._round_of.pop(record.op_id, -1), None)

    # ------------------------------------------------------------------ internals

    def _begin(self, now_ms: int, clock_us: int) -> None:
        self._fx = Effects()
        self._ports.dirty = False
        self._ceiling_us = self.clock.ceiling_us  # moved during the input: PREPAREs wait
        self._now = (now_ms, clock_us)

    def _end(self) -> Effects:
        self._drain()
        fx = self._fx
        fx.sync = self._ports.dirty
        fx.ceiling_moved = self.clock.ceiling_us != self._ceiling_us
        self._observe(self.clock.high_us)
        self._fx = Effects()
        return fx

    def _observe(self, us: int) -> None:
        self._fx.observed_us = max(self._fx.observed_us, us)

    def _drain(self) -> None:
        while self._local:
            sender, m = self._local.popleft()
            self._dispatch(sender, m)

    def _dispatch(self, sender: str, m: LwtMessage) -> None:
        now_ms, clock_us = self._now
        if isinstance(m, (LwtPrepare, LwtPropose, LwtCommit)):
            self._serve(sender, m)
        else:
            p = self._rounds.get(m.req_id)
            if p is None or p.answered:
                return  # a reply to a round that is over
            if isinstance(m, LwtPromise):
                p.on_promise(sender, m, now_ms, clock_us)
            elif isinstance(m, LwtAccepted):
                p.on_accepted(sender, m, now_ms, clock_us)
            else:
                p.on_commit_ack(sender, m, now_ms, clock_us)
        self._drain()

    def _serve(self, sender: str, m: LwtPrepare | LwtPropose | LwtCommit) -> None:
        """The acceptor's side: answer through the queue (local) or the effects (remote)."""
        self._ports.quiet = not self.acceptor.sync and sender != self.address
        try:
            if isinstance(m, LwtPrepare):
                reply = self.acceptor.prepare(sender, m)
            elif isinstance(m, LwtPropose):
                reply = self.acceptor.propose(sender, m)
            else:
                reply = self.acceptor.commit(sender, m)
        finally:
            self._ports.quiet = False
        if isinstance(m, LwtCommit) and m.req_id == 0:
            return  # a commit nobody waits for
        if sender == self.address:
            self._local.append((sender, reply.message))
        elif reply.sync:
            self._fx.sends.append((sender, reply.message))
        else:
            self._fx.early_sends.append((sender, reply.message))
