"""node.counter_write's pure parts: splitting delta cells into increments, the leader choice,
the leader's answers and their errors, the messages on the wire, and a peer's bad counter
mutations answered (never raised)."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skewless.errors import (
    CqlError,
    InvalidRequest,
    Overloaded,
    ServerError,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from skewless.node import messages
from skewless.node.consistency import QUORUM
from skewless.node.counter_write import choose_leader, error_of, response_of, split
from skewless.node.messages import CounterMutationRequest, CounterMutationResponse, Envelope
from skewless.sim.world import World
from skewless.storage.counters import Increment
from skewless.storage.model import Cell, CellWrite, Deletion, PartitionUpdate, Row


def _delta(n: int) -> Cell:
    return Cell(10, struct.pack(">q", n))


def test_split_takes_delta_cells_and_keeps_deletions() -> None:
    u = PartitionUpdate(
        "t", b"k", static_row=Row(b"", cells=(CellWrite("s", b"", _delta(4)),)),
        rows=(Row(b"c1", cells=(CellWrite("n", b"", _delta(-2)),
                                CellWrite("m", b"", Cell(10, None, deleted_s=1)))),
              Row(b"c2", cells=(CellWrite("n", b"", _delta(9)),))))
    incs, rest = split(u)
    assert incs == [Increment(b"", "s", 4, True), Increment(b"c1", "n", -2),
                    Increment(b"c2", "n", 9)]
    assert rest is not None and rest.static_row is None
    assert [(r.clustering, [w.column for w in r.cells]) for r in rest.rows] == [(b"c1", ["m"])]
    incs, rest = split(PartitionUpdate("t", b"k", deletion=Deletion(5, 1)))
    assert incs == [] and rest is not None and rest.deletion == Deletion(5, 1)
    assert split(PartitionUpdate("t", b"k", rows=(Row(b"c", cells=(
        CellWrite("n", b"", _delta(1)),)),))) == ([Increment(b"c", "n", 1)], None)


def test_choose_leader_prefers_itself_then_its_dc() -> None:
    dc = {"a": "dc1", "b": "dc2", "c": "dc1", "me": "dc1"}
    rng = random.Random(1)
    assert choose_leader(["a", "me", "b"], ["a", "me", "b"], "me", dc, "dc1", rng) == "me"
    assert {choose_leader(["a", "b", "c"], ["a", "b", "c"], "me", dc, "dc1", rng)
            for _ in range(50)} == {"a", "c"}
    assert choose_leader(["a", "b"], ["b"], "me", dc, "dc1", rng) == "b"
    assert choose_leader(["a", "b"], [], "me", dc, "dc1", rng) is None


@pytest.mark.parametrize("error", [
    None,
    WriteTimeout("Operation timed out - received only 1 responses.", QUORUM, 1, 2, "COUNTER"),
    Unavailable("Cannot achieve consistency level QUORUM", QUORUM, 2, 1),
    WriteFailure("Operation failed", QUORUM, 1, 2, 1, "COUNTER", reasons={}),
    Overloaded("Too many"),
    InvalidRequest("unknown table x"),
    ServerError("Internal error"),
])
def test_a_leaders_answer_crosses_the_wire_as_the_same_error(error: CqlError | None) -> None:
    wire = messages.decode(messages.encode(Envelope(7, response_of(3, error))))
    assert isinstance(wire.message, CounterMutationResponse)
    back = error_of(wire.message, QUORUM)
    if error is None:
        assert back is None
        return
    assert back is not None and str(back) == str(error)
    assert type(back) is type(error)
    for field in ("received", "block_for", "required", "alive", "failures"):
        assert getattr(back, field, None) == getattr(error, field, None)
    if isinstance(back, WriteTimeout | WriteFailure):
        assert back.write_type == "COUNTER"


@given(st.lists(st.tuples(st.binary(max_size=8), st.text(max_size=5),
                          st.integers(-(2**63), 2**63 - 1), st.booleans()), max_size=4))
def test_requests_round_trip(increments: list[tuple[bytes, str, int, bool]]) -> None:
    m = CounterMutationRequest(1, 2**62, "tid", b"k", 5, QUORUM, tuple(increments), b"")
    assert messages.decode(messages.encode(Envelope(1, m))).message == m


def _query(w: World, text: str) -> object:
    out: list[object] = []
    w.client_query("127.0.0.1", 1, text, QUORUM, lambda r: out.append(r.body))
    w.run_until(lambda: bool(out), 3_000_000_000)
    assert out and not isinstance(out[0], CqlError), out
    return out[0]


def test_a_peers_bad_counter_mutations_are_answered_not_raised() -> None:
    from skewless.node.consistency import ANY, ONE
    from skewless.storage import codec

    w = World(5, n_nodes=3)
    assert w.stabilize()
    _query(w, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 3}")
    _query(w, "CREATE TABLE ks.c (k int, ck int, s counter static, n counter, "
              "PRIMARY KEY (k, ck))")
    node = w.nodes["127.0.0.1"].node
    table = node.schema.table("ks", "c")
    assert table is not None
    tid, key = table.table_key, (1).to_bytes(4, "big")
    good = (b"\x00\x00\x00\x01", "n", 1, False)
    other = codec.encode_update(PartitionUpdate(tid, b"other"))
    bad = {
        "unknown table": CounterMutationRequest(1, 1, "no-such-table", key, 5, ONE, (), b""),
        "ANY": CounterMutationRequest(1, 2, tid, key, 5, ANY, (good,), b""),
        "no such level": CounterMutationRequest(1, 3, tid, key, 5, 99, (good,), b""),
        "not a counter column": CounterMutationRequest(
            1, 4, tid, key, 5, ONE, ((b"", "k", 1, False),), b""),
        "static flag on a regular column": CounterMutationRequest(
            1, 5, tid, key, 5, ONE, ((b"", "n", 1, True),), b""),
        "malformed increment": CounterMutationRequest(
            1, 6, tid, key, 5, ONE, ((b"", "n", "1", False),), b""),  # type: ignore[arg-type]
        "undecodable rest": CounterMutationRequest(1, 7, tid, key, 5, ONE, (good,), b"\xc1"),
        "rest of another partition": CounterMutationRequest(
            1, 8, tid, key, 5, ONE, (good,), other),
    }
    for why, m in bad.items():
        answers: list[CqlError | None] = []
        node.counters.lead(m, lambda e, _reports, into=answers: into.append(e))
        assert len(answers) == 1 and isinstance(answers[0], InvalidRequest), (why, answers)
    assert node.counters.applied == 0 and node.counters.inflight == 0
    answers = []
    node.counters.lead(CounterMutationRequest(1, 9, tid, key, 5, ONE, (good,), b""),
                       lambda e, _reports: answers.append(e))
    w.run_for(500_000_000)
    assert answers == [None] and node.counters.applied == 1 and node.counters.inflight == 0
