"""Failure detection in the simulator: a slow link does not convict a node others reach (SWIM's
indirect probes), the same run without probes does, and a crashed node is still convicted
within the phi bound (detection times printed, in virtual seconds)."""

from __future__ import annotations

from skewless import limits
from skewless.node.membership import phi
from skewless.node.membership.swim import CAUSE_PHI, CAUSE_PROBES, CAUSE_SHUTDOWN
from skewless.sim.world import World

A, B, C = "127.0.0.1", "127.0.0.2", "127.0.0.3"
SEC = 10**9
DELAY_MS = 40_000  # far beyond the ≈ 18 s of silence phi 8 needs at one beat a second


def _world(seed: int, n_nodes: int = 3, probes: bool = True) -> World:
    w = World(seed, n_nodes=n_nodes, node_options={"indirect_probes": probes})
    assert w.stabilize()
    w.run_for(15 * SEC)  # the phi windows learn the one-second rhythm
    return w


def _downs(w: World, observer: str) -> list[str]:
    """The peers ``observer`` has convicted so far (one entry per conviction)."""
    fd = w.nodes[observer].node.fd
    return sorted(peer for (peer, _), n in fd.convictions.items() for _ in range(n))


def _run_watching(w: World, observer: str, target: str, duration_ns: int) -> bool:
    """Run ``duration_ns``; True if ``observer`` saw ``target`` down at any tick."""
    seen_down = False
    step = limits.tick_interval_ms * 1_000_000
    for _ in range(duration_ns // step):
        w.run_for(step)
        seen_down |= not w.nodes[observer].node.membership.is_alive(target)
    return seen_down


def test_slow_link_does_not_convict_a_node_others_reach() -> None:
    w = _world(11)
    w.network.delay_link(B, A, DELAY_MS)  # B's messages to A take 40 s more; all else is fine
    seen_down = _run_watching(w, A, B, 70 * SEC)
    fd = w.nodes[A].node.fd
    print(f"\nslow link {B}->{A} +{DELAY_MS} ms: refutations by A {dict(fd.refutations)}, "
          f"convictions {dict(fd.convictions)}")
    assert not seen_down, f"{A} convicted {B} over one slow link"
    assert fd.refutations[B] >= 1  # the probes, not luck, kept it up
    assert all(not _downs(w, a) for a in (A, B, C)), {a: _downs(w, a) for a in (A, B, C)}


def test_slow_link_convicts_without_indirect_probes() -> None:
    """The same run with probes off (as Cassandra): A convicts B, on phi alone."""
    w = _world(11, probes=False)
    w.network.delay_link(B, A, DELAY_MS)
    seen_down = _run_watching(w, A, B, 70 * SEC)
    fd = w.nodes[A].node.fd
    assert seen_down
    assert fd.convictions[(B, CAUSE_PHI)] >= 1, dict(fd.convictions)
    assert "indirect probes disabled" in fd.last_cause[B]
    assert not _downs(w, C)  # only A's link to B is slow
    # The delayed heartbeats arrive in the end: B is up again at A.
    assert w.nodes[A].node.membership.is_alive(B)


def test_a_few_seconds_of_delay_is_below_phi_even_without_probes() -> None:
    """5 s on one link (the former fixed 4 s timeout convicted it): one gap of ≈ 6 s is phi
    2.6, far below 8, so even phi alone keeps the node up."""
    w = _world(16, probes=False)
    w.network.delay_link(B, A, 5000)
    assert not _run_watching(w, A, B, 20 * SEC)
    assert not w.nodes[A].node.fd.convictions


def _detection_s(w: World, victim: str, observers: list[str]) -> dict[str, float]:
    means = {o: w.nodes[o].node.membership.windows[victim].mean_ns() for o in observers}
    crashed_ns = w.now_ns
    w.crash(victim)
    found: dict[str, float] = {}
    step = limits.tick_interval_ms * 1_000_000
    bound_ns = int(phi.convict_within_ms() * 1_000_000)
    while len(found) < len(observers) and w.now_ns - crashed_ns < bound_ns:
        w.run_for(step)
        for o in observers:
            if o not in found and not w.nodes[o].node.membership.is_alive(victim):
                found[o] = (w.now_ns - crashed_ns) / SEC
    assert set(found) == set(observers), f"not convicted within {bound_ns / SEC} s: {found}"
    for o, t in found.items():
        # Not before phi passes the threshold for the mean this observer had learnt, and
        # within it plus the probes' deadline and a gossip interval of phase.
        silence_s = phi.silence_to_convict_ns(limits.phi_convict_threshold_default,
                                              means[o]) / SEC
        assert silence_s - 1 <= t <= silence_s + (limits.swim_probe_timeout_ms
                                                  + limits.gossip_interval_ms
                                                  + 2 * limits.tick_interval_ms) / 1000, (o, t)
    return found


def test_crashed_node_is_convicted_within_the_phi_bound() -> None:
    w = _world(12)
    found = _detection_s(w, B, [A, C])
    print(f"\ncrash of {B}: convicted after {found} virtual s (phi 8, probes via the other)")
    for o in (A, C):
        assert w.nodes[o].node.fd.convictions[(B, CAUSE_PROBES)] == 1
        assert "none answered" in w.nodes[o].node.fd.last_cause[B]


def test_with_no_other_peer_a_node_convicts_on_phi_alone() -> None:
    w = _world(13, n_nodes=2)
    found = _detection_s(w, B, [A])
    print(f"\ncrash of {B} in a 2-node cluster: convicted after {found} virtual s")
    assert w.nodes[A].node.fd.convictions[(B, CAUSE_PHI)] == 1
    assert "no other live peer" in w.nodes[A].node.fd.last_cause[B]


def test_an_isolated_node_is_convicted_by_the_others() -> None:
    """A partition (no probe can reach the node either): the others convict it."""
    w = _world(14)
    w.network.isolate(C, [A, B])
    assert _run_watching(w, A, C, int(phi.convict_within_ms() * 1_000_000))
    assert not w.nodes[B].node.membership.is_alive(C)
    assert w.nodes[A].node.membership.is_alive(B)  # A and B still see each other
    w.network.heal()
    assert w.stabilize(5 * SEC)


def test_a_clean_stop_is_seen_down_at_once_and_a_restart_up() -> None:
    w = _world(15)
    w.stop(B)
    w.run_for(100 * 10**6)  # one message latency, not ≈ 20 s of phi
    for o in (A, C):
        fd = w.nodes[o].node.fd
        assert not w.nodes[o].node.membership.is_alive(B)
        assert fd.convictions == {(B, CAUSE_SHUTDOWN): 1}
        assert fd.last_cause[B] == "announced its shutdown"
    w.run_for(30 * SEC)
    assert all(not w.nodes[o].node.fd.convictions.get((B, CAUSE_PROBES)) for o in (A, C))
    w.restart(B)
    assert w.stabilize(5 * SEC)  # a new generation: up again
