"""The failure detector's verdicts: phi-accrual suspicion, SWIM indirect probes, then conviction.

Theory of operation
-------------------
Every tick the detector reads each up peer's phi (``Membership.suspects``, Cassandra's
phi-accrual arithmetic in ``node.phi``). A peer whose phi passes ``phi_convict_threshold``
becomes a *suspect*; Cassandra would convict it now. Here, as in SWIM (Das, Gupta, Motivala
2002), we first ask up to ``swim_probe_helpers_max`` other live peers, drawn at random, to probe
it for us::

    we --ProbeRequest(id, suspect)--> helper --ProbePing(id, we)--> suspect
    we <--ProbeAck(id, we, suspect)-- helper <--ProbeAck(id, we, suspect)-- suspect

Helpers keep no state (the ack names who asked). One acknowledgement within
``swim_probe_timeout_ms`` *refutes* the suspicion: the suspect is alive and only our link to it
is slow or lossy, so it stays up and its silence is counted from the ack (``Membership.refute``:
phi restarts from 0 and no interval is learnt; if its heartbeats still do not come, the cycle
repeats, one probe round per ``threshold`` worth of silence). A heartbeat arriving meanwhile ends
the suspicion too. With no acknowledgement by the deadline, the suspect is convicted (marked
down); with no other live peer to ask (or ``indirect_probes = false``) it is convicted on phi
alone, as Cassandra does.

As Cassandra's ``FailureDetector.interpret``, no verdict follows a pause of this node itself
(a tick more than ``failure_detector_local_pause_ms_max`` after the previous one: a GC or
SIGSTOP of ours, not silence of theirs), nor for that long afterwards.

A node stopping cleanly sends ``Shutdown`` to its live peers first (``announce_shutdown``, as
Cassandra's GOSSIP_SHUTDOWN): they mark it down at once rather than ≈ 20 s later, and ignore
its heartbeats of that generation (one sent while it stopped would bring it back up).

Each verdict is logged once, with its cause (phi, helpers asked, who answered), and counted for
the metrics (``convictions`` by peer and cause, ``refutations`` by peer). Pure: time comes in as
``now_ns``, randomness is the node's injected generator, messages go out through ``Node.send``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from skewless import limits
from skewless.node.membership.membership import Change
from skewless.node.messages import ProbeAck, ProbePing, ProbeRequest, Shutdown

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.failure_detector")

CAUSE_PHI = "phi"  # convicted on phi alone: no other live peer to ask, or probes disabled
CAUSE_PROBES = "probes_unanswered"  # phi past the threshold and no helper reached the suspect
CAUSE_SHUTDOWN = "shutdown"  # the peer announced it was stopping (not a conviction: no wait)


@dataclass(slots=True)
class Suspicion:
    target: str
    probe_id: int
    phi: float  # when the suspicion began
    deadline_ns: int
    helpers: tuple[str, ...]


class FailureDetector:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.suspicions: dict[str, Suspicion] = {}
        self.convictions: Counter[tuple[str, str]] = Counter()  # (peer, cause) -> count
        self.refutations: Counter[str] = Counter()  # peer -> suspicions a probe answered
        self.last_cause: dict[str, str] = {}  # peer -> why it was last marked down (for status)
        self._next_probe_id = 0
        self._last_tick_ns: int | None = None
        self._paused_at_ns: int | None = None

    # ------------------------------------------------------------------ ticks

    def tick(self, now_ns: int) -> list[Change]:
        if self._local_pause(now_ns):
            return []
        membership = self.node.membership
        threshold = self.node.config.phi_convict_threshold
        suspects = dict(membership.suspects(now_ns, threshold))
        for target in [t for t in self.suspicions if t not in suspects]:
            del self.suspicions[target]  # a heartbeat came, or the peer was refuted
        changes: list[Change] = []
        for target, phi in suspects.items():
            s = self.suspicions.get(target)
            if s is None:
                helpers = self._helpers(target)
                if helpers:
                    self._suspect(target, phi, helpers, now_ns)
                else:
                    changes += self._convict(target, phi, CAUSE_PHI, (), now_ns)
            elif now_ns >= s.deadline_ns:
                del self.suspicions[target]
                changes += self._convict(target, phi, CAUSE_PROBES, s.helpers, now_ns)
        return changes

    def _local_pause(self, now_ns: int) -> bool:
        """True while verdicts are suspended after a pause of this node (Cassandra's
        ``max_local_pause_in_ms``)."""
        pause_ns = limits.failure_detector_local_pause_ms_max * 1_000_000
        last, self._last_tick_ns = self._last_tick_ns, now_ns
        if last is not None and now_ns - last > pause_ns:
            log.warning("Not marking nodes down due to local pause of %d ms > %d ms",
                        (now_ns - last) // 1_000_000, limits.failure_detector_local_pause_ms_max)
            self._paused_at_ns = now_ns
            self.suspicions.clear()  # their deadlines ran out while we were not looking
            return True
        return self._paused_at_ns is not None and now_ns - self._paused_at_ns < pause_ns

    def _helpers(self, target: str) -> tuple[str, ...]:
        if not self.node.config.indirect_probes:
            return ()
        live = [a for a, p in sorted(self.node.membership.peers.items())
                if p.up and a != target]
        k = min(limits.swim_probe_helpers_max, len(live))
        return tuple(sorted(self.node.rng.sample(live, k)))

    def _suspect(self, target: str, phi: float, helpers: tuple[str, ...], now_ns: int) -> None:
        self._next_probe_id += 1
        deadline_ns = now_ns + limits.swim_probe_timeout_ms * 1_000_000
        self.suspicions[target] = Suspicion(target, self._next_probe_id, phi, deadline_ns,
                                            helpers)
        log.debug("%s suspected (phi %.1f > %g): asking %s to probe it", target, phi,
                  self.node.config.phi_convict_threshold, ", ".join(helpers))
        for h in helpers:
            self.node.send(h, ProbeRequest(self._next_probe_id, target))

    def _convict(self, target: str, phi: float, cause: str, helpers: tuple[str, ...],
                 now_ns: int) -> list[Change]:
        change = self.node.membership.convict(target, now_ns)
        if change is None:
            return []
        self.convictions[(target, cause)] += 1
        why = (f"phi {phi:.1f} > phi_convict_threshold "
               f"{self.node.config.phi_convict_threshold:g}; ")
        if cause == CAUSE_PROBES:
            why += f"indirect probes via {', '.join(helpers)}: none answered"
        elif self.node.config.indirect_probes:
            why += "no other live peer to probe it"
        else:
            why += "indirect probes disabled"
        self.last_cause[target] = why
        log.info("InetAddress /%s is now DOWN (%s)", target, why)
        return [change]

    def log_change(self, change: Change) -> None:
        """Log a membership change once (a DOWN was logged with its cause at conviction)."""
        if change.kind == "UP":
            self.suspicions.pop(change.address, None)
            log.info("InetAddress /%s is now UP (heartbeat after %.1f s down)", change.address,
                     change.down_for_ns / 1e9)
        elif change.kind != "DOWN":
            log.info("peer %s: %s", change.address, change.kind)

    # ------------------------------------------------------------------ shutdown

    def announce_shutdown(self) -> None:
        """This node is stopping: tell every peer that sees it up (their heartbeats prove it)."""
        for address, p in sorted(self.node.membership.peers.items()):
            if p.up:
                self.node.send(address, Shutdown(self.node.membership.local.generation))

    def _on_shutdown(self, sender: str, m: Shutdown) -> list[Change]:
        change = self.node.membership.on_shutdown(sender, m.generation,
                                                  self.node.clock.monotonic_ns())
        if change is None:
            return []
        self.suspicions.pop(sender, None)
        self.convictions[(sender, CAUSE_SHUTDOWN)] += 1
        self.last_cause[sender] = "announced its shutdown"
        log.info("InetAddress /%s is now DOWN (announced its shutdown)", sender)
        return [change]

    # ------------------------------------------------------------------ probes

    def on_message(self, sender: str, m: ProbeRequest | ProbePing | ProbeAck | Shutdown
                   ) -> list[Change]:
        node = self.node
        if isinstance(m, Shutdown):
            return self._on_shutdown(sender, m)
        if isinstance(m, ProbeRequest):
            if m.target != node.address and m.target != sender:
                node.send(m.target, ProbePing(m.probe_id, sender))  # helper: ping for them
        elif isinstance(m, ProbePing):
            node.send(sender, ProbeAck(m.probe_id, m.requester, node.address))  # suspect: alive
        elif m.requester != node.address:
            if sender == m.target and m.requester != sender:
                node.send(m.requester, m)  # helper: relay the suspect's answer
        else:
            self._on_ack(sender, m)
        return []

    def _on_ack(self, helper: str, m: ProbeAck) -> None:
        s = self.suspicions.get(m.target)
        if s is None or s.probe_id != m.probe_id or helper not in s.helpers:
            return  # late, or for a suspicion already settled
        del self.suspicions[m.target]
        self.node.membership.refute(m.target, self.node.clock.monotonic_ns())
        self.refutations[m.target] += 1
        log.info("%s not convicted: phi %.1f > %g but %s reached it (slow link between us?)",
                 m.target, s.phi, self.node.config.phi_convict_threshold, helper)
