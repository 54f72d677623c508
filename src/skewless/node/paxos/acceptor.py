"""The acceptor of partition Paxos: durable state per (table id, partition key), a pure core.

Theory of operation
-------------------
Per partition the acceptor keeps (``PaxosState``, under ``state_key``): the highest ballot
promised, the proposal accepted and not yet known committed (ballot and update), and the most
recent commit (ballot and update; the update kept for proposers that find the commit missing on
some of their promises and repair it). Each value also carries its *origin*, the ballot it was
first proposed at (a re-proposal keeps it), so that a proposer whose round was refused can
recognise its own value once another proposer finished or committed it. Every change goes
through the ``Durable`` port and the answer that follows it is sent only after the host's sync
(the handlers return whether they wrote; ``node.paxos.core`` turns that into
``Effects.sync``), so a crash never forgets a promise
or an acceptance that was answered.

* ``prepare``: a ballot above the promised one is promised; either way the answer carries the
  accepted proposal and the most recent commit, and a promise carries the partition's contents
  (the LWT's read travels with its prepare: ``Data.read``).
* ``propose``: a ballot at or above the promised one is accepted (promised and accepted become
  it). A repair commit it carries is applied first. When the acceptor plus the acceptors the
  proposer names in ``accepted_by`` make ``quorum``, the value is chosen (each of them has
  durably accepted this ballot's one value), so the acceptor commits it at once: applies the
  update to the partition (``Data.apply``) and answers ``committed``.
* ``commit``: applies a chosen update (idempotent: the data merge is), raises the most recent
  commit, and forgets an accepted proposal at or below it.

A commit's data is applied even when an acceptor holds a newer commit: merging is by
timestamp, so the older update changes nothing it should not. A peer's malformed request (an
undecodable update, a quorum below 1) is answered with an error, never raised.

Purge: ``purgeable`` says when a partition's state may go (its commit older than
``gc_grace_seconds``, nothing accepted above it, no promise above it); the host calls ``purge``
(from compaction or a sweep: the port has no scan). A proposer ignores commits older than
gc_grace when it checks that its promises agree, so a purged commit is never repaired back
(it could resurrect data whose tombstones were purged).

Planted bug ``answer-before-sync`` (tests only): the acceptor's answers leave before its state is
synced (``Reply.sync`` False), so a crash right after loses the promise it answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

from skewless import limits
from skewless.node.messages import (
    LwtAccepted,
    LwtCommit,
    LwtCommitAck,
    LwtPrepare,
    LwtPromise,
    LwtPropose,
)
from skewless.node.paxos.ballot import ZERO, Ballot, BallotClock
from skewless.node.paxos.ports import Data, Durable
from skewless.storage import codec

ANSWER_BEFORE_SYNC = "answer-before-sync"


@dataclass
class PaxosState:
    promised: Ballot = ZERO
    accepted: Ballot = ZERO
    accepted_update: bytes = b""
    committed: Ballot = ZERO
    committed_update: bytes = b""
    accepted_origin: Ballot = ZERO  # the ballot the accepted value was first proposed at
    committed_origin: Ballot = ZERO
    # the highest commits applied here, (ballot, origin), ascending, at most
    # limits.paxos_recent_commits_kept: what a refused proposer checks its own value against
    recent: list[tuple[Ballot, Ballot]] = field(default_factory=list)

    def encode(self) -> bytes:
        out: bytes = msgpack.packb([*self.promised, *self.accepted, self.accepted_update,
                                    *self.committed, self.committed_update,
                                    *self.accepted_origin, *self.committed_origin,
                                    [[*b, *o] for b, o in self.recent]], use_bin_type=True)
        return out

    @staticmethod
    def decode(raw: bytes) -> PaxosState:
        pu, pn, au, an, aup, cu, cn, cup, aou, aon, cou, con, rec = msgpack.unpackb(raw,
                                                                                  raw=False)
        return PaxosState(Ballot(pu, pn), Ballot(au, an), aup, Ballot(cu, cn), cup,
                          Ballot(aou, aon), Ballot(cou, con),
                          [(Ballot(bu, bn), Ballot(ou, on)) for bu, bn, ou, on in rec])


def state_key(table: str, key: bytes) -> bytes:
    return b"paxos/" + table.encode() + b"/" + key


def purgeable(st: PaxosState, now_us: int, gc_grace_s: int) -> bool:
    """The partition's Paxos state may be removed: its most recent commit is older than
    gc_grace and nothing was promised or accepted above it since."""
    return (st.committed != ZERO and now_us - st.committed.us > gc_grace_s * 1_000_000
            and st.promised <= st.committed and st.accepted <= st.committed)


@dataclass(frozen=True, slots=True)
class Reply:
    to: str
    message: LwtPromise | LwtAccepted | LwtCommitAck
    wrote: bool  # durable state changed: sync before sending
    sync: bool  # False only under the planted bug


def _ballot(us: object, node: object) -> Ballot | None:
    if isinstance(us, int) and isinstance(node, str) and us >= 0:
        return Ballot(us, node)
    return None


def _decodes(raw: object) -> bool:
    if not isinstance(raw, bytes):
        return False
    try:
        codec.decode_update(raw)
    except Exception:  # a peer's garbage: answered, never raised
        return False
    return True


def _addressed(m: LwtPrepare | LwtPropose | LwtCommit) -> bool:
    return isinstance(m.table, str) and isinstance(m.key, bytes)


class Acceptor:
    def __init__(self, address: str, durable: Durable, data: Data, clock: BallotClock,
                 planted: frozenset[str] = frozenset()) -> None:
        self.address = address
        self.durable = durable
        self.data = data
        self.clock = clock
        self.sync = ANSWER_BEFORE_SYNC not in planted

    # ------------------------------------------------------------------ state

    def state(self, table: str, key: bytes) -> PaxosState:
        raw = self.durable.get(state_key(table, key))
        return PaxosState() if raw is None else PaxosState.decode(raw)

    def _save(self, table: str, key: bytes, st: PaxosState) -> None:
        self.durable.put(state_key(table, key), st.encode())

    def purge(self, table: str, key: bytes, now_us: int, gc_grace_s: int) -> bool:
        """Remove the partition's state if ``purgeable``; True when removed."""
        raw = self.durable.get(state_key(table, key))
        if raw is None or not purgeable(PaxosState.decode(raw), now_us, gc_grace_s):
            return False
        self.durable.delete(state_key(table, key))
        return True

    def _commit(self, table: str, key: bytes, st: PaxosState, ballot: Ballot, update: bytes,
                origin: Ballot) -> None:
        """Apply a chosen update and record it (the caller saves ``st``)."""
        self.data.apply(codec.decode_update(update))
        if ballot > st.committed:
            st.committed, st.committed_update, st.committed_origin = ballot, update, origin
        if st.accepted <= ballot:
            st.accepted, st.accepted_update, st.accepted_origin = ZERO, b"", ZERO
        if (ballot, origin) not in st.recent:
            st.recent = sorted([*st.recent, (ballot, origin)])[-limits.paxos_recent_commits_kept:]

    # ------------------------------------------------------------------ handlers

    def prepare(self, sender: str, m: LwtPrepare) -> Reply:
        ballot = _ballot(m.ballot_us, m.ballot_node)
        if ballot is None or not _addressed(m) or not isinstance(m.recent, bool):
            return self._reply(sender, LwtPromise(m.req_id, False, 0, "", 0, "", b"", 0, "", b"",
                                                  b"", "bad prepare", 0, "", 0, "", ()),
                               False)
        self.clock.observe(ballot)
        st = self.state(m.table, m.key)
        ok = ballot > st.promised
        if ok:
            st.promised = ballot
            self._save(m.table, m.key, st)
        data = codec.encode_update(self.data.read(m.table, m.key)) if ok else b""
        return self._reply(sender, LwtPromise(
            m.req_id, ok, *st.promised, *st.accepted, st.accepted_update, *st.committed,
            st.committed_update, data, "", *st.accepted_origin, *st.committed_origin,
            tuple((*b, *o) for b, o in st.recent) if m.recent else ()), ok)

    def accept_local(self, table: str, key: bytes, ballot: Ballot, update: bytes,
                     origin: Ballot) -> bool:
        """The proposer's own acceptance before it sends PROPOSE: only if nothing higher was
        promised here since its prepare."""
        st = self.state(table, key)
        if ballot < st.promised:
            return False
        st.promised = st.accepted = ballot
        st.accepted_update, st.accepted_origin = update, origin
        self._save(table, key, st)
        return True

    def commit_local(self, table: str, key: bytes, ballot: Ballot, update: bytes,
                     origin: Ballot) -> None:
        st = self.state(table, key)
        self._commit(table, key, st, ballot, update, origin)
        self._save(table, key, st)

    def propose(self, sender: str, m: LwtPropose) -> Reply:
        ballot = _ballot(m.ballot_us, m.ballot_node)
        repair = _ballot(m.repair_us, m.repair_node)
        origin = _ballot(m.origin_us, m.origin_node)
        repair_origin = _ballot(m.repair_origin_us, m.repair_origin_node)
        if (ballot is None or repair is None or origin is None or repair_origin is None
                or not _addressed(m) or not isinstance(m.quorum, int) or m.quorum < 1
                or not _decodes(m.update) or (m.repair_us and not _decodes(m.repair_update))
                or not isinstance(m.accepted_by, tuple)):
            return self._reply(sender, LwtAccepted(m.req_id, False, False, 0, "",
                                                   "bad propose"), False)
        self.clock.observe(ballot)
        st = self.state(m.table, m.key)
        wrote = False
        if repair != ZERO:
            self._commit(m.table, m.key, st, repair, m.repair_update, repair_origin)
            wrote = True
        ok = ballot >= st.promised
        committed = False
        if ok:
            st.promised = st.accepted = ballot
            st.accepted_update, st.accepted_origin = m.update, origin
            knows = {self.address, *[a for a in m.accepted_by if isinstance(a, str)]}
            if len(knows) >= m.quorum:
                self._commit(m.table, m.key, st, ballot, m.update, origin)
                committed = True
            wrote = True
        if wrote:
            self._save(m.table, m.key, st)
        return self._reply(sender, LwtAccepted(m.req_id, ok, committed, *st.promised, ""), wrote)

    def commit(self, sender: str, m: LwtCommit) -> Reply:
        ballot = _ballot(m.ballot_us, m.ballot_node)
        origin = _ballot(m.origin_us, m.origin_node)
        if ballot is None or origin is None or not _addressed(m) or not _decodes(m.update):
            return self._reply(sender, LwtCommitAck(m.req_id, "bad commit"), False)
        self.clock.observe(ballot)
        st = self.state(m.table, m.key)
        self._commit(m.table, m.key, st, ballot, m.update, origin)
        self._save(m.table, m.key, st)
        return self._reply(sender, LwtCommitAck(m.req_id, ""), True)

    def _reply(self, to: str, m: LwtPromise | LwtAccepted | LwtCommitAck, wrote: bool) -> Reply:
        return Reply(to, m, wrote, self.sync)
