"""The partition Paxos cores alone (node.paxos): ballots, the commit timestamp, the acceptor's
durable state and its answers to bad input, the proposer's round trips counted message by
message, its timeouts and its handling of in-progress proposals. Deterministic, in memory
(tests/node/lwt_harness.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lwt_harness import TABLE, Cluster, DictData, DictDurable, Faults, register_update, row_value

from skewless import limits
from skewless.errors import ReadTimeout, Unavailable, WriteTimeout
from skewless.node.effects import during_sync
from skewless.node.messages import (
    Envelope,
    LwtAccepted,
    LwtCommit,
    LwtCommitAck,
    LwtPrepare,
    LwtPromise,
    LwtPropose,
    decode,
    encode,
)
from skewless.node.paxos.acceptor import Acceptor, PaxosState, purgeable, state_key
from skewless.node.paxos.ballot import (
    CEILING_KEY,
    ZERO,
    Ballot,
    BallotClock,
    commit_timestamp,
    newest_us,
    shift,
)
from skewless.node.paxos.core import PaxosCore
from skewless.node.paxos.proposer import TRANSITIONS, CasRequest, Phase
from skewless.storage import codec
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row

QUIET = Faults(drop=0, duplicate=0, delay_ms=(1, 1))


class CountingDurable(DictDurable):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, key: bytes, value: bytes) -> None:
        self.puts += 1
        super().put(key, value)


# ---------------------------------------------------------------------- ballots


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10**7)), max_size=60))
def test_ballots_rise_above_everything_seen_and_survive_restarts(steps: list[tuple[bool, int]]
                                                                 ) -> None:
    durable = CountingDurable()
    clock = BallotClock("a", durable)
    issued: list[Ballot] = []
    seen = ZERO
    for is_observe, us in steps:
        if is_observe:
            clock.observe(Ballot(us, "z"))
            seen = max(seen, Ballot(us, "z"))
        else:
            b = clock.next(us)
            assert b.us >= us and b > seen and all(b > x for x in issued)
            issued.append(b)
    durable.sync()
    restarted = BallotClock("a", durable)  # a crash: only synced state is left
    b = restarted.next(0)
    assert all(b > x for x in issued)
    # one durable write per lease, not per ballot
    assert durable.puts <= 1 + len(issued) and (
        not issued or durable.puts <= 1 + (issued[-1].us - issued[0].us)
        // (limits.paxos_ballot_lease_ms * 1000) + len(steps))


def test_the_ceiling_is_written_once_per_lease() -> None:
    durable = CountingDurable()
    clock = BallotClock("a", durable)
    for us in range(1000, 1000 + 500_000, 1000):  # half a lease of ballots
        clock.next(us)
    assert durable.puts == 1
    assert int((durable.get(CEILING_KEY) or b"0").decode()) > clock.high_us


_cells = st.builds(Cell, st.integers(-10**6, 10**12), st.one_of(st.none(), st.binary(max_size=3)))
_rows = st.builds(
    Row, st.binary(max_size=2), st.one_of(st.none(), _cells),
    st.one_of(st.none(), st.builds(Deletion, st.integers(0, 10**12), st.integers(0, 10))),
    st.lists(st.builds(CellWrite, st.sampled_from(["a", "b"]), st.just(b""), _cells),
             max_size=2, unique_by=lambda w: w.column).map(tuple))
_updates = st.builds(PartitionUpdate, st.just(TABLE), st.just(b"k"),
                     st.one_of(st.none(), st.builds(Deletion, st.integers(0, 10**12),
                                                    st.integers(0, 10))),
                     st.just(()), st.one_of(st.none(), _rows),
                     st.lists(_rows, max_size=3, unique_by=lambda r: r.clustering).map(tuple))


@given(_updates, _updates, st.integers(1, 10**13))
def test_commit_timestamp_is_above_the_read_and_the_ballot(read: PartitionUpdate,
                                                           update: PartitionUpdate,
                                                           ballot_us: int) -> None:
    ts = commit_timestamp(Ballot(ballot_us, "a"), read)
    assert ts >= ballot_us and ts > newest_us(read)
    moved = shift(update, ts)
    if newest_us(update) or update != moved:
        assert newest_us(moved) == ts
        # every timestamp moved by the same delta
        assert codec.encode_update(shift(moved, newest_us(update))) == codec.encode_update(update)


# ---------------------------------------------------------------------- acceptor


def _acceptor(name: str = "b") -> tuple[Acceptor, DictDurable, DictData]:
    durable, data = DictDurable(), DictData()
    return Acceptor(name, durable, data, BallotClock(name, durable)), durable, data


def test_acceptor_promises_refuses_accepts_and_commits_on_quorum_knowledge() -> None:
    acc, durable, data = _acceptor()
    up = codec.encode_update(register_update(b"k", 7))
    r = acc.prepare("a", LwtPrepare(1, TABLE, b"k", 10, "a", False))
    assert isinstance(r.message, LwtPromise) and r.message.ok and r.wrote and r.sync
    r = acc.prepare("c", LwtPrepare(2, TABLE, b"k", 5, "c", False))
    assert isinstance(r.message, LwtPromise) and not r.message.ok
    assert (r.message.promised_us, r.message.promised_node) == (10, "a") and not r.wrote
    # accepted, not known chosen: 'a' did not claim its own acceptance
    r = acc.propose("a", LwtPropose(3, TABLE, b"k", 10, "a", up, (), 2, 0, "", b"", 10, "a", 0,
                                    ""))
    assert isinstance(r.message, LwtAccepted) and r.message.ok and not r.message.committed
    assert row_value(data.read(TABLE, b"k")) is None
    st_ = acc.state(TABLE, b"k")
    assert st_.accepted == Ballot(10, "a") and st_.committed == ZERO
    # the same (ballot, value) with the proposer's acceptance: chosen, committed at once
    r = acc.propose("a", LwtPropose(4, TABLE, b"k", 10, "a", up, ("a",), 2, 0, "", b"", 10, "a",
                                    0, ""))
    assert isinstance(r.message, LwtAccepted) and r.message.committed
    assert row_value(data.read(TABLE, b"k")) == 7
    st_ = acc.state(TABLE, b"k")
    assert st_.committed == Ballot(10, "a") and st_.accepted == ZERO
    # a lower ballot is refused
    r = acc.propose("c", LwtPropose(5, TABLE, b"k", 9, "c", up, ("c",), 2, 0, "", b"", 9, "c", 0,
                                    ""))
    assert isinstance(r.message, LwtAccepted) and not r.message.ok


@pytest.mark.parametrize("bad", [
    LwtPrepare(1, TABLE, b"k", -1, "a", False),
    LwtPropose(1, TABLE, b"k", 10, "a", b"\xc1garbage", (), 2, 0, "", b"", 10, "a", 0, ""),
    LwtPropose(1, TABLE, b"k", 10, "a", b"", (), 0, 0, "", b"", 10, "a", 0, ""),
    LwtCommit(1, TABLE, b"k", 10, "a", b"\x00", 10, "a"),
])
def test_a_peers_bad_request_is_answered_not_raised(bad: LwtPrepare | LwtPropose | LwtCommit
                                                    ) -> None:
    acc, durable, _ = _acceptor()
    if isinstance(bad, LwtPrepare):
        r = acc.prepare("a", bad)
    elif isinstance(bad, LwtPropose):
        r = acc.propose("a", bad)
    else:
        r = acc.commit("a", bad)
    assert r.message.error and not r.wrote and not durable.pending


def test_purge_removes_only_old_settled_commits() -> None:
    day_us = 86400 * 10**6
    st_ = PaxosState(Ballot(day_us, "a"), ZERO, b"", Ballot(day_us, "a"), b"")
    assert not purgeable(st_, 2 * day_us, 2 * 86400)
    assert purgeable(st_, 4 * day_us, 2 * 86400)
    assert not purgeable(PaxosState(Ballot(3 * day_us, "b"), ZERO, b"", Ballot(day_us, "a"),
                                    b""), 4 * day_us, 2 * 86400)
    assert not purgeable(PaxosState(), 4 * day_us, 1)
    acc, durable, _ = _acceptor()
    durable.put(state_key(TABLE, b"k"), st_.encode())
    assert not acc.purge(TABLE, b"k", 2 * day_us, 2 * 86400)
    assert acc.purge(TABLE, b"k", 4 * day_us, 2 * 86400)
    assert durable.get(state_key(TABLE, b"k")) is None


def test_lwt_messages_survive_their_wire_form() -> None:
    for m in (LwtPrepare(1, TABLE, b"k", 10, "a", False),
              LwtPromise(2, True, 10, "a", 9, "b", b"x", 8, "c", b"y", b"z", "", 7, "b", 6, "c",
                         ((8, "c", 6, "c"),)),
              LwtPropose(3, TABLE, b"k", 10, "a", b"u", ("a", "b"), 2, 8, "c", b"y", 7, "b", 6,
                         "c"),
              LwtAccepted(4, True, True, 10, "a", ""),
              LwtCommit(5, TABLE, b"k", 10, "a", b"u", 7, "b"),
              LwtCommitAck(6, "")):
        assert decode(encode(Envelope(1, m))).message == m


def test_the_transition_table_is_closed() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.ANSWERED] == frozenset()
    assert all(p in TRANSITIONS[q] or q is Phase.ANSWERED for q in Phase
               for p in [Phase.ANSWERED])


# ---------------------------------------------------------------------- round trips


def _cluster(n: int = 3) -> Cluster:
    c = Cluster(1, n=n, faults=QUIET)
    c.start_ticks()
    return c


def _one(c: Cluster, kind: str, expected: int | None, new: int, at: int = 0, **opts: object
         ) -> tuple[int, object]:
    before = c.messages
    op = c.submit(0, c.addresses[at], b"k", kind, expected, new, **opts)  # type: ignore[arg-type]
    c.run_until(c.now + 100)
    return c.messages - before, c.outcomes[op]


def test_an_uncontended_lwt_takes_two_round_trips() -> None:
    c = _cluster()
    msgs, out = _one(c, "cas", None, 1)
    # prepare + promise, propose + accepted, per remote acceptor (2 of them): 8 messages
    assert (msgs, out.applied, out.round_trips, out.contentions) == (8, True, 2, 0)  # type: ignore[attr-defined]
    assert c.sent == {"LwtPrepare": 2, "LwtPromise": 2, "LwtPropose": 2, "LwtAccepted": 2}
    for node in c.nodes.values():  # every replica committed it with the propose
        assert row_value(node.data.read(TABLE, b"k")) == 1
    msgs, out = _one(c, "cas", 1, 2)
    assert (msgs, out.applied, out.round_trips) == (8, True, 2)  # type: ignore[attr-defined]


def test_a_serial_read_or_a_false_condition_takes_one_when_nothing_is_in_flight() -> None:
    c = _cluster()
    _one(c, "cas", None, 1)
    msgs, out = _one(c, "read", None, 0)
    assert (msgs, out.result, out.round_trips) == (4, 1, 1)  # type: ignore[attr-defined]
    msgs, out = _one(c, "cas", 5, 6)  # the condition is false
    assert (msgs, out.applied, out.result, out.round_trips) == (4, False, 1, 1)  # type: ignore[attr-defined]


def test_rf5_or_a_proposer_outside_the_replicas_falls_back_to_three_round_trips() -> None:
    c = _cluster(5)
    msgs, out = _one(c, "cas", None, 1)
    # one acceptor plus the proposer is short of 3: a separate commit round
    assert (out.applied, out.round_trips) == (True, 3)  # type: ignore[attr-defined]
    c = Cluster(1, n=4, faults=QUIET)
    c.start_ticks()
    replicas = c.addresses[1:]
    node = c.nodes[c.addresses[0]]
    assert node.core is not None
    req = CasRequest(TABLE, b"k", lambda cur: (True, register_update(b"k", 1), None), replicas,
                     replicas, frozenset(c.addresses), commit_required=2)
    c._next_op += 1
    c.ops[c._next_op] = __import__("lwt_harness").Op(0, b"k", "cas", None, 1, 0, node.address)
    c._effects(node, node.core.cas(c._next_op, req, c.now, node.clock(c.now)))
    c.run_until(100)
    out = c.outcomes[c._next_op]
    assert (out.applied, out.round_trips) == (True, 3)


# ---------------------------------------------------------------------- failures


def test_fewer_live_participants_than_a_quorum_is_unavailable() -> None:
    c = _cluster()
    for addr in c.addresses[1:]:
        c.crash(addr)
    _, out = _one(c, "cas", None, 1)
    assert isinstance(out.error, Unavailable)  # type: ignore[attr-defined]
    assert (out.error.required, out.error.alive) == (2, 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind,error", [("cas", WriteTimeout), ("read", ReadTimeout)])
def test_a_silent_quorum_times_out_as_the_drivers_expect(kind: str, error: type) -> None:
    c = Cluster(1, faults=Faults(drop=1.0, duplicate=0, delay_ms=(1, 1)))
    c.start_ticks()
    op = c.submit(0, c.addresses[0], b"k", kind, None, 1)
    c.run_until(limits.paxos_round_timeout_ms + 100)
    out = c.outcomes[op]
    assert isinstance(out.error, error)
    if error is WriteTimeout:
        assert out.error.write_type == "CAS"


def test_contention_is_counted_and_ends_in_a_cas_write_timeout() -> None:
    c = Cluster(3, faults=QUIET)
    c.start_ticks()
    hostile = c.nodes[c.addresses[1]]
    assert hostile.core is not None

    def bump() -> None:  # a rival proposer's prepares, ever higher, keep winning
        for addr in c.addresses:
            n = c.nodes[addr]
            assert n.core is not None
            m = LwtPrepare(0, TABLE, b"k", c.now * 1000 + 10**9, "rival", False)
            c._effects(n, n.core.on_message("rival", m, c.now, n.clock(c.now)))
        if c.now < 3000:
            c.at(c.now + 1, bump)
    c.at(0, bump)
    op = c.submit(0, c.addresses[0], b"k", "cas", None, 1, contention_timeout_ms=300)
    c.run_until(1000)
    out = c.outcomes[op]
    assert isinstance(out.error, WriteTimeout) and out.error.write_type == "CAS"
    assert out.contentions >= 2 and out.error.contentions == out.contentions


# ---------------------------------------------------------------------- in progress, clocks


def test_an_in_progress_proposal_is_finished_before_our_own() -> None:
    c = _cluster()
    # 10.0.0.2 accepted (ballot 50, value 9) and nobody learnt it: it may have been chosen
    b = c.nodes[c.addresses[1]]
    st_ = PaxosState(Ballot(50, "x"), Ballot(50, "x"),
                     codec.encode_update(shift(register_update(b"k", 9), 50)))
    b.durable.put(state_key(TABLE, b"k"), st_.encode())
    b.durable.sync()
    msgs, out = _one(c, "cas", None, 1, at=1)  # IF NOT EXISTS through the node that holds it
    assert out.applied is False and out.result == 9  # type: ignore[attr-defined]
    for node in c.nodes.values():
        assert row_value(node.data.read(TABLE, b"k")) == 9
    msgs, out = _one(c, "cas", 9, 2, at=2)
    assert out.applied and row_value(c.nodes[c.addresses[0]].data.read(TABLE, b"k")) == 2  # type: ignore[attr-defined]


def test_the_lwt_is_stamped_above_the_newest_cell_its_read_saw() -> None:
    c = _cluster()
    future_us = 10**12  # an ordinary write from a clock far ahead, on one replica only
    plain = PartitionUpdate(TABLE, b"k", rows=(Row(b"", cells=(
        CellWrite("v", b"", Cell(future_us, b"5")),)),))
    c.nodes[c.addresses[1]].data.apply(plain)
    _, out = _one(c, "cas", 5, 6, at=1)
    assert out.applied and out.ts_us == future_us + 1  # type: ignore[attr-defined]
    for node in c.nodes.values():
        assert row_value(node.data.read(TABLE, b"k")) in (6, None)
    assert row_value(c.nodes[c.addresses[1]].data.read(TABLE, b"k")) == 6


def test_effects_sync_before_sending() -> None:
    durable, data = DictDurable(), DictData()
    core = PaxosCore("10.0.0.1", durable, data, random.Random(1))
    req = CasRequest(TABLE, b"k", lambda cur: (True, None, None), ("10.0.0.1", "10.0.0.2",
                     "10.0.0.3"), ("10.0.0.1", "10.0.0.2", "10.0.0.3"),
                     frozenset({"10.0.0.1", "10.0.0.2", "10.0.0.3"}))
    fx = core.cas(1, req, 0, 1000)
    assert fx.sync and len(fx.sends) == 2 and not fx.early_sends  # our promise, then prepares
    assert fx.observed_us >= 1000
    assert all(isinstance(m, LwtPrepare) for _, m in fx.sends)
    assert fx.ceiling_moved  # the first ballot wrote the ceiling: these PREPAREs wait
    req2 = CasRequest(TABLE, b"k2", req.decide, req.participants, req.replicas, req.alive)
    fx2 = core.cas(2, req2, 1, 1001)  # within the lease: the ceiling stays where it was
    assert fx2.sync and not fx2.ceiling_moved and len(fx2.sends) == 2


def test_prepares_leave_during_the_sync_unless_the_batch_wrote_a_ballot_ceiling() -> None:
    """node.effects step 2: a PREPARE acknowledges nothing this node stored; only a ballot
    above the durable ceiling keeps it for after the sync (and, like the coordinator's other
    requests, a stamp ceiling not yet durable)."""
    prepare = ("10.0.0.2", Envelope(1, LwtPrepare(1, TABLE, b"k", 5, "10.0.0.1", False)))
    ack = ("10.0.0.3", Envelope(1, LwtCommitAck(7, "")))  # acknowledges a commit: after
    assert during_sync([prepare, ack], True) == ([prepare], [ack])
    assert during_sync([prepare, ack], True, hold_prepares=True) == ([], [prepare, ack])
    assert during_sync([prepare, ack], False) == ([], [prepare, ack])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32))
def test_a_restarted_proposer_never_reuses_a_ballot(seed: int) -> None:
    durable, data = DictDurable(), DictData()
    rng = random.Random(seed)
    seen: set[Ballot] = set()
    clock_us = rng.randint(0, 10**6)
    for _ in range(5):
        core = PaxosCore("a", durable, data, random.Random(rng.random()))
        for _ in range(rng.randint(1, 5)):
            b = core.clock.next(clock_us)
            assert b not in seen
            seen.add(b)
            durable.sync()  # the effects' sync, before the ballot leaves
        durable.crash()
        clock_us -= rng.randint(0, 10**6)  # the clock stepped back across the restart


def _promise(corigin: Ballot = ZERO, recent: tuple[tuple[int, str, int, str], ...] = ()
             ) -> LwtPromise:
    return LwtPromise(1, True, 0, "", 0, "", b"", 0, "", b"", b"", "", 0, "", *corigin, recent)


def test_a_refused_proposers_value_is_settled_by_the_recent_commits() -> None:
    from skewless.node.paxos.proposer import _fate
    mine = Ballot(100, "a")
    keep = limits.paxos_recent_commits_kept
    assert _fate(mine, [_promise(mine), _promise()]) == "chosen"
    assert _fate(mine, [_promise(), _promise(recent=((120, "b", 100, "a"),))]) == "chosen"
    assert _fate(mine, [_promise(), _promise(recent=((90, "b", 90, "b"),))]) == "lost"
    full_above = tuple((200 + i, "b", 200 + i, "b") for i in range(keep))
    assert _fate(mine, [_promise(), _promise(recent=full_above)]) == "unknown"
    full_reaching_below = ((50, "b", 50, "b"), *full_above[1:])
    assert _fate(mine, [_promise(), _promise(recent=full_reaching_below)]) == "lost"


def test_seed_9_a_duplicated_propose_accepted_then_refused_applies_no_cas_twice() -> None:
    """A PROPOSE's copy was accepted, then the original refused after a higher promise: the
    proposer took the refusals as proof its value was lost, decided again and answered
    'not applied' while another proposer finished its value (found by the sim, seed 9)."""
    from lwt_harness import cas_workload
    c = Cluster(9, faults=Faults(crash_every_ms=20, down_ms=(1, 10), sync_every_ms=1000))
    c.start_ticks()
    cas_workload(c, 4, 2, 2000)
    c.run_until(3000)
    lin, forks = c.check()
    assert lin.verdict == "linearizable" and forks == [], (str(lin), forks)


def test_a_peers_garbage_reply_is_dropped_not_raised() -> None:
    durable, data = DictDurable(), DictData()
    core = PaxosCore("10.0.0.1", durable, data, random.Random(1))
    peers = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    req = CasRequest(TABLE, b"k", lambda cur: (True, register_update(b"k", 1), None), peers,
                     peers, frozenset(peers))
    fx = core.cas(1, req, 0, 1000)
    prep = fx.sends[0][1]
    assert isinstance(prep, LwtPrepare)
    b = (prep.ballot_us, prep.ballot_node)
    bad = LwtPromise(prep.req_id, True, *b, 0, "", b"", 0, "", b"", b"\xc1", "", 0, "", 0, "", ())
    fx = core.on_message("10.0.0.2", bad, 1, 1001)
    assert not fx.sends and not fx.answers
    good = LwtPromise(prep.req_id, True, *b, 0, "", b"", 0, "", b"",
                      codec.encode_update(PartitionUpdate(TABLE, b"k")), "", 0, "", 0, "", ())
    fx = core.on_message("10.0.0.3", good, 2, 1002)
    assert [type(m) for _, m in fx.sends] == [LwtPropose, LwtPropose] and fx.sync


def test_when_an_lwt_is_answered_its_commit_is_durable_on_a_quorum() -> None:
    c = Cluster(2, faults=Faults(drop=0, duplicate=0, delay_ms=(1, 5), sync_every_ms=10**9))
    c.start_ticks()
    durable_at_answer: list[int] = []

    def done(op: object, outcome: object) -> None:
        durable_at_answer.append(sum(
            1 for n in c.nodes.values()
            if row_value(n.data.synced.get((TABLE, b"k"), PartitionUpdate(TABLE, b"k"))) == 1))
    c.on_done = done  # type: ignore[assignment]
    c.submit(0, c.addresses[0], b"k", "cas", None, 1)
    c.run_until(100)
    assert durable_at_answer and durable_at_answer[0] >= 2


def test_replicas_outside_the_serial_participants_get_the_commit() -> None:
    """LOCAL_SERIAL: Paxos among the local replicas; every replica gets the commit."""
    from lwt_harness import Op
    c = Cluster(1, n=4, faults=QUIET)
    c.start_ticks()
    local, everyone = c.addresses[:3], c.addresses
    node = c.nodes[c.addresses[0]]
    assert node.core is not None
    req = CasRequest(TABLE, b"k", lambda cur: (True, register_update(b"k", 1), None), local,
                     everyone, frozenset(everyone), commit_required=3)
    c.ops[1000] = Op(0, b"k", "cas", None, 1, 0, node.address)
    c._effects(node, node.core.cas(1000, req, c.now, node.clock(c.now)))
    c.run_until(100)
    out = c.outcomes[1000]
    assert (out.applied, out.round_trips) == (True, 2)
    assert c.sent["LwtPrepare"] == 2 and c.sent["LwtCommit"] == 1
    assert all(row_value(n.data.read(TABLE, b"k")) == 1 for n in c.nodes.values())


_ballots = st.builds(Ballot, st.integers(0, 2**62), st.text(max_size=8))


@given(st.builds(PaxosState, _ballots, _ballots, st.binary(max_size=8), _ballots,
                 st.binary(max_size=8), _ballots, _ballots,
                 st.lists(st.tuples(_ballots, _ballots), max_size=4)))
def test_acceptor_state_survives_its_durable_form(state: PaxosState) -> None:
    assert PaxosState.decode(state.encode()) == state
