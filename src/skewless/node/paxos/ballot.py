"""Ballots of partition Paxos (``node.paxos``), drawn from the hybrid clock, and the timestamp
a committed lightweight transaction writes its cells at.

Theory of operation
-------------------
A ballot is ``(us, node)``: microseconds from the node's hybrid logical clock, then the node's
address as the tie-break, so two nodes never issue the same ballot and ballots order like
timestamps. ``BallotClock.next`` issues a ballot strictly above every ballot this node has seen
(``observe`` is fed every ballot that reaches the node: promised, accepted, committed, refused
with) and above the clock reading passed in, in the manner of ``skewless.clock.TimestampSource``.

**Never reused across a restart: a durable high-water mark.** A restarted proposer that issued
ballot B before the crash and issued B again could have two values accepted at one ballot,
which Paxos cannot tell apart. The clock keeps, through the durable port, a ceiling above every
ballot it issued (key ``ballot_ceiling``); when a ballot would reach it, the ceiling moves
``limits.paxos_ballot_lease_ms`` further, written before the ballot is sent (the core's effects
sync before any send). One write per lease, not per ballot. After a restart every ballot is
above the stored ceiling, whatever the clock says. (The HLC's own ``stamp_floor`` is not used:
this core must not depend on the node's stamping, and the ballot's µs can run ahead of the
HLC when a peer's ballot is observed; the host folds ``Effects.observed_us`` into its HLC.)

**The commit timestamp.** A committed LWT's cells are written at
``max(ballot.us, newest timestamp its read saw in the partition + 1)`` (``commit_timestamp``):
above the ballot, so later LWTs (higher ballots, which read this one's data) write above it, and
above every cell the read saw, so an ordinary write acknowledged before the LWT started (and so
seen by its quorum read) never overrides the LWT's result. The update ``decide`` builds may
carry any timestamps; ``shift`` moves all of them by one delta so that its newest is the commit
timestamp (a collection overwrite's tombstone one below its cells stays one below).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from skewless import limits
from skewless.node.paxos.ports import Durable
from skewless.storage import newest
from skewless.storage.model import (
    Cell,
    CellWrite,
    Deletion,
    PartitionUpdate,
    RangeTombstone,
    Row,
)

CEILING_KEY = b"ballot_ceiling"


class Ballot(NamedTuple):
    us: int  # hybrid clock microseconds
    node: str  # the proposer's address: the tie-break

    def __str__(self) -> str:
        return f"{self.us}@{self.node}" if self.us else "none"


ZERO = Ballot(0, "")  # below every real ballot


class BallotClock:
    """Issues ballots strictly above every ballot seen; never reuses one across restarts."""

    def __init__(self, address: str, durable: Durable) -> None:
        assert address
        self.address = address
        self.durable = durable
        raw = self.durable.get(CEILING_KEY)
        self.ceiling_us = int(raw.decode()) if raw is not None else 0
        self.high_us = self.ceiling_us  # after a restart: above everything issued before

    def observe(self, ballot: Ballot) -> None:
        if ballot.us > self.high_us:
            self.high_us = ballot.us

    def next(self, clock_us: int) -> Ballot:
        """A new ballot above ``clock_us`` (an HLC reading) and every ballot seen. Writes the
        durable ceiling when the ballot reaches it (the caller syncs before sending)."""
        us = max(clock_us, self.high_us + 1)
        self.high_us = us
        if us >= self.ceiling_us:
            self.ceiling_us = us + limits.paxos_ballot_lease_ms * 1000
            self.durable.put(CEILING_KEY, str(self.ceiling_us).encode())
        return Ballot(us, self.address)


def newest_us(p: PartitionUpdate) -> int:
    """The newest timestamp anywhere in ``p`` (0 when it holds none)."""
    hi = newest.bounds(p)[1]
    return hi if hi != newest.TS_MIN else 0


def commit_timestamp(ballot: Ballot, read: PartitionUpdate) -> int:
    """The timestamp an LWT decided at ``ballot`` on ``read`` writes its cells at."""
    return max(ballot.us, newest_us(read) + 1)


def _cell(c: Cell, d: int) -> Cell:
    return replace(c, ts_us=c.ts_us + d)


def _del(x: Deletion | None, d: int) -> Deletion | None:
    return None if x is None else replace(x, ts_us=x.ts_us + d)


def _row(r: Row | None, d: int) -> Row | None:
    if r is None:
        return None
    return replace(
        r, marker=None if r.marker is None else _cell(r.marker, d), deletion=_del(r.deletion, d),
        cells=tuple(CellWrite(w.column, w.path, _cell(w.cell, d)) for w in r.cells),
        column_deletions=tuple((c, replace(x, ts_us=x.ts_us + d)) for c, x in r.column_deletions))


def shift(p: PartitionUpdate, ts_us: int) -> PartitionUpdate:
    """``p`` with every timestamp moved by one delta so that its newest is ``ts_us`` (an
    update holding no timestamp is returned as it is)."""
    top = newest.bounds(p)[1]
    if top == newest.TS_MIN or top == ts_us:
        return p
    d = ts_us - top
    rows = tuple(r2 for r in p.rows if (r2 := _row(r, d)) is not None)
    return replace(
        p, deletion=_del(p.deletion, d),
        range_tombstones=tuple(RangeTombstone(t.start, t.start_inclusive, t.end, t.end_inclusive,
                                              replace(t.deletion, ts_us=t.deletion.ts_us + d))
                               for t in p.range_tombstones),
        static_row=_row(p.static_row, d), rows=rows)
