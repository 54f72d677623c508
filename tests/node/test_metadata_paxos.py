"""The metadata log's multi-Paxos core alone (node.metadata.paxos), driven by a harness that
loses, duplicates and reorders messages and crashes members (durable state kept, memory lost):
a slot once chosen never changes, every member applies the same values in the same order, and
every value is chosen at most once. Once the faults stop, every proposed value that was not
withdrawn is chosen and every member has applied the whole log."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import limits
from skewless.node.messages import (
    Envelope,
    MetaAccept,
    MetaAccepted,
    MetaPrepare,
    MetaPromise,
    decode,
    encode,
)
from skewless.node.metadata.paxos import MetaMessage, MultiPaxos

MS = 1_000_000


class DictDurable:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@dataclass
class Member:
    address: str
    cluster: Cluster
    durable: DictDurable = field(default_factory=DictDurable)
    log: list[bytes] = field(default_factory=list)  # applied values, slot i at log[i - 1]
    applied_state: list[bytes] = field(default_factory=list)  # durable copy (host state)
    core: MultiPaxos | None = None

    def boot(self, seed: int) -> None:
        self.log = list(self.applied_state)
        self.core = MultiPaxos(self, self.durable, len(self.log), seed)
        self.core.start()

    # paxos.Host
    def members(self) -> Sequence[str]:
        return self.cluster.addresses

    def send(self, to: str, message: MetaMessage) -> None:
        self.cluster.sent.append((self.address, to, encode(Envelope(0, message))))

    def apply(self, slot: int, value: bytes) -> None:
        assert slot == len(self.log) + 1
        self.log.append(value)
        self.applied_state = list(self.log)  # persisted with its index
        self.cluster.record(slot, value)

    def snapshot(self) -> tuple[int, bytes]:
        return len(self.log), msgpack.packb(self.log)

    def install(self, index: int, snapshot: bytes) -> None:
        log = list(msgpack.unpackb(snapshot))
        assert len(log) == index
        for slot, value in enumerate(log, 1):
            self.cluster.record(slot, value)
        self.log = log
        self.applied_state = list(log)


class Cluster:
    def __init__(self, n: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.addresses = [f"10.0.0.{i}" for i in range(1, n + 1)]
        self.members = {a: Member(a, self) for a in self.addresses}
        self.sent: list[tuple[str, str, bytes]] = []
        self.chosen: dict[int, bytes] = {}  # every value any member applied, by slot
        self.now_ns = 0
        self.down: set[str] = set()
        for m in self.members.values():
            m.boot(self.rng.getrandbits(32))

    def record(self, slot: int, value: bytes) -> None:
        known = self.chosen.setdefault(slot, value)
        assert known == value, f"slot {slot} applied with two values"

    def core(self, address: str) -> MultiPaxos:
        c = self.members[address].core
        assert c is not None
        return c

    def step(self, drop: float, dup: float) -> None:
        """Deliver one random in-flight message (or tick a random member)."""
        self.now_ns += self.rng.randint(0, 3 * MS)
        if not self.sent or self.rng.random() < 0.1:
            a = self.rng.choice(self.addresses)
            if a not in self.down:
                self.core(a).tick(self.now_ns)
            return
        i = self.rng.randrange(len(self.sent))  # any order: reordering
        src, dst, data = self.sent[i]
        if self.rng.random() >= dup:
            self.sent.pop(i)
        if dst in self.down or self.rng.random() < drop:
            return
        message = decode(data).message
        self.core(dst).on_message(src, message, self.now_ns)  # type: ignore[arg-type]

    def crash(self, address: str) -> None:
        self.down.add(address)
        self.members[address].core = None

    def restart(self, address: str) -> None:
        self.down.discard(address)
        self.members[address].boot(self.rng.getrandbits(32))

    def settle(self, max_steps: int = 200_000) -> None:
        """No faults from now on: run until nothing is queued, in flight or behind."""
        for a in list(self.down):
            self.restart(a)
        for _ in range(max_steps):
            if not self.sent:
                self.now_ns += limits.metadata_round_timeout_ms * MS
                for a in self.addresses:
                    self.core(a).tick(self.now_ns)
                busy = any(self.core(a).queue or self.core(a).attempt for a in self.addresses)
                top = max(self.core(a).applied for a in self.addresses)
                behind = [a for a in self.addresses if self.core(a).applied < top]
                for a in behind:
                    holder = next(b for b in self.addresses if self.core(b).applied == top)
                    self.core(a).pull_from(holder)
                if not busy and not behind and not self.sent:
                    return
                continue
            self.step(0.0, 0.0)
        raise AssertionError("the log did not settle")

    def check(self) -> None:
        logs = [self.members[a].log for a in self.addresses]
        longest = max(logs, key=len)
        for log in logs:
            assert log == longest[:len(log)], "members applied different logs"
        assert len(set(longest)) == len(longest), "a value was chosen twice"


def run_schedule(seed: int, n: int, proposals: int, drop: float, dup: float,
                 crashes: bool, crash_rate: float = 0.005) -> Cluster:
    c = Cluster(n, seed)
    values: list[bytes] = []
    for _step in range(4000):
        if len(values) < proposals and c.rng.random() < 0.03:
            for a in c.rng.sample(c.addresses, c.rng.randint(1, n)):  # concurrent proposers
                if a not in c.down:
                    v = f"v{len(values)}@{a}".encode()
                    values.append(v)
                    c.core(a).propose(v, c.now_ns)
        if crashes and c.rng.random() < crash_rate:
            a = c.rng.choice(c.addresses)
            if a in c.down:
                c.restart(a)
            elif len(c.down) < (n - 1) // 2:
                c.crash(a)
        c.step(drop, dup)
        c.check()
    c.settle()
    c.check()
    return c


def test_two_proposers_same_slot_one_value_chosen() -> None:
    c = Cluster(3, 1)
    c.core("10.0.0.1").propose(b"a", 0)
    c.core("10.0.0.2").propose(b"b", 0)
    c.settle()
    c.check()
    logs = {tuple(m.log) for m in c.members.values()}
    assert len(logs) == 1
    (log,) = logs
    assert sorted(log) == [b"a", b"b"]  # the loser was proposed again at the next slot


def test_single_member_chooses_at_once() -> None:
    c = Cluster(1, 2)
    c.core("10.0.0.1").propose(b"x", 0)
    assert c.members["10.0.0.1"].log == [b"x"]  # no message, no tick needed
    assert not c.sent


def test_no_majority_no_choice() -> None:
    c = Cluster(3, 3)
    c.crash("10.0.0.2")
    c.crash("10.0.0.3")
    c.core("10.0.0.1").propose(b"x", 0)
    for _ in range(2000):
        c.step(0.0, 0.0)
    assert c.members["10.0.0.1"].log == []
    c.settle()
    assert all(m.log == [b"x"] for m in c.members.values())


def test_prepare_for_chosen_slot_answers_the_value() -> None:
    c = Cluster(3, 4)
    c.core("10.0.0.1").propose(b"first", 0)
    c.settle()
    c.sent.clear()
    # A stale proposer's Prepare for slot 1: the acceptor tells it the chosen value.
    c.core("10.0.0.2").on_message("10.0.0.3", MetaPrepare(1, 99, "10.0.0.3"), 0)
    (src, dst, data) = c.sent[0]
    promise = decode(data).message
    assert dst == "10.0.0.3" and promise.chosen == b"first"  # type: ignore[union-attr]


def test_lossy_reordering_network_with_duplicates() -> None:
    for seed in range(30):
        run_schedule(seed, 3, 30, drop=0.2, dup=0.1, crashes=False)


def test_crashes_keep_durable_promises() -> None:
    for seed in range(30):
        run_schedule(100 + seed, 5, 30, drop=0.1, dup=0.05, crashes=True)


def test_frequent_crashes_forget_nothing_durable() -> None:
    for seed in range(40):
        run_schedule(200 + seed, 3, 30, drop=0.3, dup=0.0, crashes=True, crash_rate=0.05)


def _deliver(c: Cluster, dst: str, kind: type) -> int:
    """Deliver every in-flight message of ``kind`` to ``dst`` (drop nothing else)."""
    done = 0
    for item in list(c.sent):
        src, to, data = item
        message = decode(data).message
        if to == dst and isinstance(message, kind):
            c.sent.remove(item)
            c.core(dst).on_message(src, message, c.now_ns)  # type: ignore[arg-type]
            done += 1
    return done


def test_a_crashed_acceptor_remembers_what_it_accepted() -> None:
    """A chooses v with B's accept; every Commit is lost; B crashes and restarts; C, cut from
    A, proposes w at slot 1: B's durable accept makes C propose v, not w."""
    a, b, cc = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    c = Cluster(3, 6)
    c.core(a).propose(b"v", 0)
    assert _deliver(c, b, MetaPrepare) == 1
    assert _deliver(c, a, MetaPromise) == 1
    assert _deliver(c, b, MetaAccept) == 1
    assert _deliver(c, a, MetaAccepted) == 1
    assert c.members[a].log == [b"v"]  # chosen (A and B accepted it)
    c.sent.clear()  # the Commits, and what went to C, are lost
    c.crash(b)
    c.restart(b)
    c.core(cc).propose(b"w", 0)
    c.sent = [m for m in c.sent if m[1] != a]
    _deliver(c, b, MetaPrepare)
    _deliver(c, cc, MetaPromise)
    _deliver(c, b, MetaAccept)
    _deliver(c, cc, MetaAccepted)
    assert c.members[cc].log[:1] == [b"v"]
    c.settle()
    c.check()
    assert c.members[a].log == c.members[cc].log == [b"v", b"w"]


def test_catch_up_after_compaction_uses_a_snapshot() -> None:
    c = Cluster(3, 5)
    c.crash("10.0.0.3")
    keep = limits.metadata_log_entries_kept
    limits.metadata_log_entries_kept = 3
    try:
        for i in range(12):
            c.core("10.0.0.1").propose(f"e{i}".encode(), c.now_ns)
            for _ in range(200):
                if not c.sent:
                    break
                c.step(0.0, 0.0)
        assert c.core("10.0.0.1").first_kept > 1  # compacted
        c.settle()
    finally:
        limits.metadata_log_entries_kept = keep
    c.check()
    assert c.members["10.0.0.3"].log == [f"e{i}".encode() for i in range(12)]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.sampled_from([3, 5]), drop=st.floats(0, 0.3),
       dup=st.floats(0, 0.2), crashes=st.booleans())
def test_hypothesis_schedules(seed: int, n: int, drop: float, dup: float,
                              crashes: bool) -> None:
    run_schedule(seed, n, 20, drop, dup, crashes)
