"""The phi-accrual arithmetic against hand-computed values, and the SWIM probe state machine of
one real Node (memory storage, a clock the test moves), driven message by message."""

from __future__ import annotations

import math
import random

import pytest

from skewless import limits
from skewless.clock import ClockReading
from skewless.config import NodeConfig
from skewless.node.membership.phi import PHI_FACTOR, ArrivalWindow, silence_to_convict_ns
from skewless.node.membership.swim import CAUSE_PHI, CAUSE_PROBES, CAUSE_SHUTDOWN
from skewless.node.messages import Heartbeat, ProbeAck, ProbePing, ProbeRequest, Shutdown
from skewless.node.node import Node
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV

S = 10**9
A, B, C, D = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"


# ---------------------------------------------------------------------------- phi arithmetic


def test_phi_factor_is_log10_e() -> None:
    assert PHI_FACTOR == pytest.approx(0.4342944819032518)


def test_first_arrival_records_the_initial_interval() -> None:
    w = ArrivalWindow()
    assert w.phi(5 * S) == 0.0  # nothing heard yet: no suspicion
    w.add(0)
    assert list(w.intervals) == [limits.failure_detector_initial_interval_ms * 10**6]
    # 3 s of silence over a 2 s mean: 1.5 * log10(e)
    assert w.phi(3 * S) == pytest.approx(1.5 * 0.4342944819032518)


def test_phi_by_hand() -> None:
    w = ArrivalWindow()
    for t in (0, 1 * S, 2 * S):
        w.add(t)
    # intervals 2 s (initial), 1 s, 1 s: mean 4/3 s; 4 s after the last beat
    assert w.mean_ns() == pytest.approx(4 / 3 * S)
    assert w.phi(6 * S) == pytest.approx(4 / (4 / 3) * math.log10(math.e))  # 1.3028834...
    assert w.phi(6 * S) == pytest.approx(1.3028834457)


def test_long_intervals_are_not_learnt() -> None:
    w = ArrivalWindow()
    w.add(0)
    w.add(1 * S)
    w.add(10 * S)  # 9 s gap (a partition): longer than fd_max_interval, not recorded
    assert list(w.intervals) == [2 * S, 1 * S]
    assert w.phi(13 * S) == pytest.approx(3 / 1.5 * 0.4342944819032518)  # 0.8685889638


def test_window_is_bounded_and_keeps_the_latest_intervals() -> None:
    w = ArrivalWindow(size=3)
    for t in (0, 1 * S, 2 * S, 3 * S, 3 * S + S // 2):
        w.add(t)
    assert list(w.intervals) == [1 * S, 1 * S, S // 2]
    assert w.mean_ns() == pytest.approx(2.5 / 3 * S)


def test_refute_counts_silence_from_the_ack_without_learning_an_interval() -> None:
    w = ArrivalWindow()
    for t in range(0, 11 * S, S):
        w.add(t)
    before = list(w.intervals)
    w.refute(25 * S)
    assert list(w.intervals) == before
    assert w.phi(25 * S) == 0.0
    assert w.phi(26 * S) == pytest.approx(1 / w.mean_ns() * S * PHI_FACTOR)


def test_silence_needed_at_threshold_8_and_one_beat_a_second() -> None:
    # 8 / log10(e) = 8 ln 10 = 18.42 s, Cassandra's detection time at phi 8
    assert silence_to_convict_ns(8.0, 1 * S) / S == pytest.approx(18.420680743952367)


@pytest.mark.parametrize("bad", [4.9, 16.5, float("nan"), "8", True])
def test_phi_convict_threshold_is_checked_as_cassandra_does(bad: object) -> None:
    with pytest.raises(ValueError, match="phi_convict_threshold"):
        NodeConfig(phi_convict_threshold=bad)  # type: ignore[arg-type]


def test_phi_convict_threshold_message() -> None:
    with pytest.raises(ValueError, match="phi_convict_threshold must be between 5 and 16, "
                                         "but was 20"):
        NodeConfig(phi_convict_threshold=20.0)
    assert NodeConfig(phi_convict_threshold=12).phi_convict_threshold == 12


# ---------------------------------------------------------------------------- probe machine


class ManualClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def monotonic_ns(self) -> int:
        return self.now_ns

    def real_time_us(self) -> int:
        return 1_750_000_000_000_000 + self.now_ns // 1000

    def reading(self) -> ClockReading:
        return ClockReading(self.now_ns, self.real_time_us(), self.now_ns)


class Harness:
    """Node A hearing heartbeats from ``peers`` once a second until told otherwise."""

    def __init__(self, peers: tuple[str, ...], **options: object) -> None:
        self.clock = ManualClock()
        cfg = NodeConfig(address=A, seeds=(A,), data_dir="mem", **options)  # type: ignore[arg-type]
        self.node = Node(cfg, self.clock, random.Random(7), Storage(MemoryKV()))
        self.beats = {p: 0 for p in peers}
        self.silent: set[str] = set()
        self.events: list[tuple[str, str]] = []  # (change, address) pushed to CQL clients

    def beat(self, peer: str) -> None:
        self.beats[peer] += 1
        self.node.peer_message(peer, _env(_hb(peer, self.beats[peer])))

    def run(self, seconds: float) -> list[tuple[str, object]]:
        """Advance in ticks, beating each non-silent peer on whole seconds; the sends."""
        sends: list[tuple[str, object]] = []
        step = limits.tick_interval_ms * 10**6
        for _ in range(int(seconds * S) // step):
            self.clock.now_ns += step
            if self.clock.now_ns % S == 0:
                for p in sorted(self.beats):
                    if p not in self.silent:
                        self.beat(p)
            self.node.tick()
            ready = self.node.take_ready()
            sends += [(dst, env.message) for dst, env in ready.sends]
            self.events += [(e.change, e.address) for e in ready.events]
        return sends

    def up(self, peer: str) -> bool:
        return self.node.membership.is_alive(peer)


def _hb(address: str, beat: int, generation: int = 1) -> Heartbeat:
    return Heartbeat(address, f"host-{address}", generation, beat, "datacenter1", "rack1",
                     (hash(address) % 1000,), 9042, "v", 0, (), 0)


def _env(m: object) -> object:
    from skewless.node.messages import Envelope
    return Envelope(0, m)  # type: ignore[arg-type]


def _probe_requests(sends: list[tuple[str, object]]) -> list[tuple[str, ProbeRequest]]:
    return [(d, m) for d, m in sends if isinstance(m, ProbeRequest)]


def test_suspect_is_probed_via_helpers_and_an_ack_refutes_it() -> None:
    h = Harness((B, C, D))
    h.run(20)
    h.silent.add(B)
    sends = h.run(17)  # below 8 ln 10 = 18.4 s of silence (at a ~1.05 s mean): no suspicion
    assert not _probe_requests(sends)
    sends = h.run(3)
    reqs = _probe_requests(sends)
    assert sorted(d for d, _ in reqs) == [C, D]  # k = 3 capped by the other live peers
    assert {m.target for _, m in reqs} == {B} and len({m.probe_id for _, m in reqs}) == 1
    probe_id = reqs[0][1].probe_id
    assert h.up(B)
    # An ack from a peer not asked, or for another probe, settles nothing.
    h.node.peer_message(B, _env(ProbeAck(probe_id, A, B)))
    h.node.peer_message(C, _env(ProbeAck(probe_id + 1, A, B)))
    assert h.node.fd.suspicions
    h.node.peer_message(D, _env(ProbeAck(probe_id, A, B)))  # D reached B
    assert not h.node.fd.suspicions and h.node.fd.refutations[B] == 1
    assert h.node.membership.phi(B, h.clock.now_ns) == 0.0
    h.run(5)
    assert h.up(B) and not h.node.fd.convictions


def test_no_ack_by_the_deadline_convicts_with_the_cause() -> None:
    h = Harness((B, C))
    h.run(20)
    h.silent.add(B)
    sends = h.run(21)  # 19.3 s of silence (mean 1.05 s), then the 1 s probe deadline
    reqs = _probe_requests(sends)
    assert [d for d, _ in reqs] == [C]
    assert not h.up(B)
    assert h.node.fd.convictions == {(B, CAUSE_PROBES): 1}
    assert "indirect probes via 127.0.0.3: none answered" in h.node.fd.last_cause[B]
    assert [e for e in h.events if e[0] in ("UP", "DOWN")] == [("DOWN", B)]  # to clients, once
    h.silent.discard(B)
    h.run(1)
    assert h.up(B)  # its next heartbeat brings it back


def test_a_heartbeat_ends_the_suspicion() -> None:
    h = Harness((B, C))
    h.run(20)
    h.silent.add(B)
    h.run(19.5)
    assert B in h.node.fd.suspicions
    h.beat(B)
    h.run(0.1)
    assert not h.node.fd.suspicions
    h.silent.discard(B)
    h.run(3)
    assert h.up(B) and not h.node.fd.convictions


def test_alone_with_the_suspect_convicts_on_phi() -> None:
    h = Harness((B,))
    h.run(20)
    h.silent.add(B)
    sends = h.run(20)
    assert not _probe_requests(sends)
    assert h.node.fd.convictions == {(B, CAUSE_PHI): 1}
    assert "no other live peer" in h.node.fd.last_cause[B]


def test_probes_disabled_convicts_on_phi() -> None:
    h = Harness((B, C), indirect_probes=False)
    h.run(20)
    h.silent.add(B)
    assert not _probe_requests(h.run(20))
    assert h.node.fd.convictions == {(B, CAUSE_PHI): 1}


def test_a_higher_threshold_waits_longer() -> None:
    h = Harness((B,), phi_convict_threshold=12.0)
    h.run(20)
    h.silent.add(B)
    h.run(25)  # 8 would have convicted after ~19 s; 12 needs 12 ln 10 ≈ 27.6 s (× the mean)
    assert h.up(B)
    h.run(5)
    assert not h.up(B)


def test_helper_and_suspect_roles() -> None:
    h = Harness((B, C))
    h.run(3)
    node = h.node
    node.peer_message(B, _env(ProbeRequest(5, C)))  # B asks us to probe C
    assert [(d, m) for d, env in node.take_ready().sends for m in [env.message]] == [
        (C, ProbePing(5, B))]
    node.peer_message(C, _env(ProbeAck(5, B, C)))  # C answers: relay to B
    assert [(d, env.message) for d, env in node.take_ready().sends] == [(B, ProbeAck(5, B, C))]
    node.peer_message(B, _env(ProbeAck(5, D, C)))  # not from the target: not relayed
    assert not node.take_ready().sends
    node.peer_message(C, _env(ProbePing(9, B)))  # C pings us for B: we answer C
    assert [(d, env.message) for d, env in node.take_ready().sends] == [(C, ProbeAck(9, B, A))]


def test_no_verdict_after_a_local_pause() -> None:
    """This node stopped for 30 s (GC, SIGSTOP): every peer looks silent; none is convicted."""
    h = Harness((B, C))
    h.run(20)
    h.clock.now_ns += 30 * S  # no ticks, no heartbeats processed
    h.node.tick()
    h.run(limits.failure_detector_local_pause_ms_max / 1000 - 1)
    assert h.up(B) and h.up(C) and not h.node.fd.convictions


def test_announced_shutdown_is_down_at_once_until_a_new_generation() -> None:
    h = Harness((B, C))
    h.run(5)
    h.node.peer_message(B, _env(Shutdown(0)))  # not B's generation: ignored
    assert h.up(B)
    h.node.peer_message(B, _env(Shutdown(1)))
    assert not h.up(B)
    assert h.node.fd.convictions == {(B, CAUSE_SHUTDOWN): 1}
    assert h.node.fd.last_cause[B] == "announced its shutdown"
    h.run(3)  # B's heartbeats of generation 1 (sent while it stopped) do not bring it back
    assert not h.up(B)
    h.node.peer_message(B, _env(_hb(B, 1, generation=2)))  # restarted
    assert h.up(B)


def test_a_stopping_node_tells_the_peers_it_sees_up() -> None:
    h = Harness((B, C))
    h.run(3)
    h.node.fd.announce_shutdown()
    gen = h.node.membership.local.generation
    assert sorted((d, env.message) for d, env in h.node.take_ready().sends) == [
        (B, Shutdown(gen)), (C, Shutdown(gen))]


def test_out_of_round_beats_do_not_shorten_the_learnt_interval() -> None:
    """A beat sent early (``gossip_now``: a metadata-log or topology step) is not a gossip
    round: counted, two such beats a second halved the mean and convicted a killed node
    sooner than phi allows at the gossip interval (seen on real processes, where every
    non-seed's JOIN START/FINISH now goes through the log)."""
    from skewless.node.membership.phi import ArrivalWindow

    steady, bursty = ArrivalWindow(), ArrivalWindow()
    ms = 1_000_000
    for i in range(20):
        steady.add(i * limits.gossip_interval_ms * ms)
        bursty.add(i * limits.gossip_interval_ms * ms)
        bursty.add(i * limits.gossip_interval_ms * ms + 100 * ms)  # an early extra beat
    assert bursty.intervals == steady.intervals
