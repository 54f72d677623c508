"""Faults (nemeses) applied to a simulated ``World``, all drawn from the run's seed.

Theory of operation
-------------------
A ``FaultPlan`` (in ``lab.options``) says which faults are on and how strong they are; it is
plain data, printed as ``skewless lab run`` options (``FaultPlan.options``), so a run is
reproduced from its seed and its options alone. ``draw_plan`` is the swarm's choice of faults
for a seed.

``Nemesis.start`` turns the plan into a schedule on the world's virtual time: every event's time,
target node and strength come from its own ``random.Random`` seeded from the run's seed, and every
action writes a ``nemesis ...`` line to the trace. Faults act only inside the fault window; at
its end ``heal`` undoes everything but the clocks (network whole again, clogs released, crashed
nodes restarted, paused nodes resumed, no more clock events); the clocks are set exact only once
the sessions have stopped (``exact_clocks``: setting every clock at once is a fault of its own,
``clock_fix``), before the final phase checks convergence.

* Clocks: a node's ``SimClock`` real time is ``EPOCH + elapsed + offset_us + drift``; monotonic
  time is never skewed. Offsets and drifts are set per node from boot (``skew_clocks``), steps
  move ``offset_us`` (a leap second repeated: back 1 s on some nodes
  at the same instant), a strobe toggles one node's offset every 100-500 ms, and ``clock_fix``
  resets every clock to exact time partway through the window (a step too).
* Network: ``LabNetwork`` is the world's ``SimNetwork`` plus clogging. Latency is uniform in
  0.1 ms .. ``delay_ms`` per copy, so messages are reordered; loss and duplication are per
  message. Partitions cut links (two-way split, one-way, or one node isolated) for 0.5-3 s.
  Swizzle clogging (FoundationDB): the nodes' links are stalled one node at a time and released
  in a random order; a message sent on a stalled link is delayed until its release, not lost.
* Repairs: ``nodetool repair`` of every user keyspace, started on a random live node at a random
  time of the window; it runs under the other faults (node.repair).
* Topology (``lab.topology``): joins, decommissions, removenodes and replacements of killed
  nodes, one at a time, each kind drawn among those the cluster allows when it starts; nodes
  that left, were removed or replaced are ``gone``: never restarted by a crash episode or the
  heal. The faults above act on the first nodes only (a joined node's clock is exact).
* Processes: a crash is kill -9: the node stops and keeps only what its ``MemoryKV`` synced. The
  simulator syncs every Ready batch that asks for it before its sends and replies (the batch
  commitlog), so a crash loses no acknowledged write of that node; what is lost is in-flight
  work (requests it coordinated, hints not yet written). It restarts 0.5-3 s later on the same
  storage. A pause (GC pause, SIGSTOP) freezes a node for 0.2-3 s: messages wait, timers stop.
  A slow disk makes one node's every sync take 20, 100 or 500 ms for 1-4 s: the writes it
  coordinates or replicates are answered that much later (a crash meanwhile loses them).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from skewless.lab.options import FaultPlan
from skewless.lab.topology import TopologyDriver
from skewless.sim.world import SimNetwork, World

NS_PER_MS = 1_000_000


@dataclass
class LabNetwork(SimNetwork):
    """``SimNetwork`` plus clogged links: a message on a clogged link waits for its release."""

    world: World | None = None
    clogs: list[tuple[str, int, int]] = field(default_factory=list)  # node, from_ns, until_ns

    def deliveries(self, src: str, dst: str) -> list[int]:
        latencies = super().deliveries(src, dst)
        if not latencies or not self.clogs or self.world is None:
            return latencies
        now = self.world.now_ns
        release = max((until for node, since, until in self.clogs
                       if node in (src, dst) and since <= now < until), default=0)
        if not release:
            return latencies
        wait_us = (release - now) // 1000
        return [wait_us + lat for lat in latencies]


def install_network(world: World) -> LabNetwork:
    """Replace the world's network by a ``LabNetwork`` continuing its random stream."""
    old = world.network
    net = LabNetwork(old.rng, old.latency_us_min, old.latency_us_max, old.drop_per_million,
                     old.duplicate_per_million, set(old.cut), world=world)
    world.network = net
    return net


@dataclass
class Nemesis:
    world: World
    plan: FaultPlan
    rng: random.Random
    on_restart: Callable[[str], None] = lambda address: None  # re-plants a planted bug
    healed: bool = False
    actions: int = 0
    cuts: dict[int, set[tuple[str, str]]] = field(default_factory=dict)  # episode -> links
    busy_until: dict[str, int] = field(default_factory=dict)  # node -> end of its episode
    network: LabNetwork | None = None
    planted: str | None = None  # the run's planted bug (the topology driver plants its own)
    topology: TopologyDriver | None = None

    # ------------------------------------------------------------------ schedule

    def skew_clocks(self) -> None:
        """Each node's clock offset and drift, from the start (call before the cluster forms:
        set later, they would be a step of every clock at once)."""
        p = self.plan
        for a in sorted(self.world.nodes):
            clock = self.world.nodes[a].clock
            clock.offset_us = self.rng.randint(-p.clock_offset_ms, p.clock_offset_ms) * 1000
            clock.drift_ppm = float(self.rng.randint(-p.clock_drift_ppm, p.clock_drift_ppm))
            if clock.offset_us or clock.drift_ppm:
                self._log(f"clock {a} offset {clock.offset_us / 1000:+.0f} ms "
                          f"drift {clock.drift_ppm:+.0f} ppm")

    def start(self, window_ns: int) -> None:
        """Apply the plan from now for ``window_ns`` of virtual time, then heal."""
        self.network = install_network(self.world)
        p, w = self.plan, self.world
        self.network.latency_us_min = 100
        self.network.latency_us_max = max(100, p.delay_ms * 1000)
        self.network.drop_per_million = int(p.loss_pct * 10_000)
        self.network.duplicate_per_million = int(p.dup_pct * 10_000)
        nodes = sorted(w.nodes)
        clock_end = window_ns * 6 // 10 if p.clock_fix else window_ns
        for _ in range(p.clock_steps):
            self._step(self.rng.randrange(clock_end), self.rng.choice(nodes),
                       self.rng.choice([-1, 1]) * self.rng.randint(p.clock_step_ms // 2,
                                                                   p.clock_step_ms) * 1000)
        if p.leap_second:
            at = self.rng.randrange(clock_end)
            for a in self.rng.sample(nodes, self.rng.randint(1, len(nodes))):
                self._step(at, a, -1_000_000, "leap second")
        if p.strobe_ms:
            self._strobe(self.rng.choice(nodes), self.rng.randrange(clock_end), clock_end)
        if p.clock_fix:
            self._later(clock_end, self._fix_clocks)
        for i in range(p.partitions):
            self._partition(i, window_ns)
        if p.swizzle:
            self._swizzle(window_ns)
        for _ in range(p.crashes):
            self._episode(window_ns, 500, 3000, self._crash)
        for _ in range(p.pauses):
            self._episode(window_ns, 200, 3000, self._pause)
        for _ in range(p.slow_disks):
            self._slow_disk(window_ns)
        for _ in range(p.repairs):
            at, address = self.rng.randrange(window_ns), self.rng.choice(nodes)
            self._later(at, self._repairer(address))
        if p.topology:  # its own stream, drawn last: the faults above are as without it
            self.topology = TopologyDriver(w, random.Random(self.rng.getrandbits(64)),
                                           self._log, self.planted)
            self.topology.start(p.topology, window_ns)
        self._later(window_ns, self.heal)

    def _log(self, text: str) -> None:
        self.actions += 1
        self.world.log(f"nemesis {text}")

    def _later(self, at_ns: int, fn: Callable[[], None]) -> None:
        def run() -> None:
            if not self.healed:
                fn()
        self.world.at(at_ns, run)

    # ------------------------------------------------------------------ clocks

    def _step(self, at_ns: int, address: str, step_us: int, why: str = "step") -> None:
        def step() -> None:
            self.world.nodes[address].clock.offset_us += step_us
            self._log(f"clock {address} {why} {step_us / 1000:+.0f} ms")
        self._later(at_ns, step)

    def _strobe(self, address: str, from_ns: int, until_ns: int) -> None:
        amplitude_us = self.plan.strobe_ms * 1000
        period_ns = self.rng.randint(100, 500) * NS_PER_MS
        flips = min(40, (until_ns - from_ns) // period_ns)
        for i in range(flips):
            sign = 1 if i % 2 == 0 else -1
            self._step(from_ns + i * period_ns, address, sign * amplitude_us, "strobe")

    def _fix_clocks(self) -> None:
        for a, sn in sorted(self.world.nodes.items()):
            if sn.clock.offset_us or sn.clock.drift_ppm:
                sn.clock.drift_ppm = 0.0
                sn.clock.offset_us = 0
                self._log(f"clock {a} fixed")

    # ------------------------------------------------------------------ network

    def _set_cut(self) -> None:
        assert self.network is not None
        self.network.cut = set().union(*self.cuts.values()) if self.cuts else set()

    def _partition(self, episode: int, window_ns: int) -> None:
        nodes = sorted(self.world.nodes)
        start = self.rng.randrange(window_ns)
        end = min(window_ns, start + self.rng.randint(500, 3000) * NS_PER_MS)
        kind = self.rng.choice(["split", "one-way", "isolate"])
        shuffled = self.rng.sample(nodes, len(nodes))
        if kind == "isolate":
            side = shuffled[:1]
        else:
            side = shuffled[:self.rng.randint(1, max(1, len(nodes) // 2))]
        links = {(a, b) for a in side for b in nodes if b not in side}
        if kind != "one-way":
            links |= {(b, a) for a, b in links}

        def cut() -> None:
            self.cuts[episode] = links
            self._set_cut()
            self._log(f"partition {kind} {','.join(side)} ({len(links)} links)")

        def mend() -> None:
            self.cuts.pop(episode, None)
            self._set_cut()
            self._log(f"partition {kind} {','.join(side)} healed")
        self._later(start, cut)
        self._later(end, mend)

    def _swizzle(self, window_ns: int) -> None:
        assert self.network is not None
        nodes = self.rng.sample(sorted(self.world.nodes), len(self.world.nodes))
        clogged = nodes[:self.rng.randint(1, len(nodes))]
        t = self.rng.randrange(window_ns // 2)
        starts = {}
        for a in clogged:
            starts[a] = t
            t += self.rng.randint(100, 500) * NS_PER_MS
        now = self.world.now_ns
        for a in self.rng.sample(clogged, len(clogged)):
            t = min(window_ns, t + self.rng.randint(100, 500) * NS_PER_MS)
            self.network.clogs.append((a, now + starts[a], now + t))
            self._later(starts[a], lambda a=a: self._log(f"swizzle clog {a}"))  # type: ignore[misc]
            self._later(t, lambda a=a: self._log(f"swizzle release {a}"))  # type: ignore[misc]

    # ------------------------------------------------------------------ processes

    def _episode(self, window_ns: int, min_ms: int, max_ms: int,
                 act: Callable[[str, bool], None]) -> None:
        """One crash or pause episode on a node with no other episode in that time."""
        start = self.rng.randrange(window_ns)
        end = min(window_ns, start + self.rng.randint(min_ms, max_ms) * NS_PER_MS)
        free = [a for a in sorted(self.world.nodes) if self.busy_until.get(a, -1) < start]
        if not free:
            return
        address = self.rng.choice(free)
        self.busy_until[address] = end
        self._later(start, lambda: act(address, True))
        self._later(end, lambda: act(address, False))

    def gone(self, address: str) -> bool:
        """Left, removed or replaced by a topology change: never restarted."""
        return self.topology is not None and address in self.topology.gone

    def _crash(self, address: str, down: bool) -> None:
        if self.gone(address):
            return
        sn = self.world.nodes[address]
        if down and sn.up:
            self.world.crash(address)
            self._log(f"crash {address}")
        elif not down and not sn.up:
            self._log(f"restart {address}")
            self.world.restart(address)
            self.on_restart(address)

    def _repairer(self, address: str) -> Callable[[], None]:
        return lambda: self._repair(address)

    def _repair(self, address: str) -> None:
        """``nodetool repair`` of every user keyspace on ``address`` (node.repair): it runs
        under the other faults, and a session may fail (a neighbour down); what it streams is
        merged by timestamp, so the checkers must see no difference but convergence."""
        sn = self.world.nodes[address]
        if not sn.up or sn.paused:
            return
        node = sn.node
        for ks in sorted(k.name for k in node.schema.keyspaces):
            if not ks.startswith("system"):
                number = node.active_repair.repair(ks)
                self._log(f"repair {ks} on {address} (command #{number})")

    def _pause(self, address: str, paused: bool) -> None:
        if self.world.nodes[address].up:
            self.world.pause(address, paused)
            self._log(f"{'pause' if paused else 'resume'} {address}")

    def _slow_disk(self, window_ns: int) -> None:
        address = self.rng.choice(sorted(self.world.nodes))
        sync_ms = self.rng.choice([20, 100, 500])
        start = self.rng.randrange(window_ns)
        end = min(window_ns, start + self.rng.randint(1000, 4000) * NS_PER_MS)

        def slow(on: bool) -> None:
            self.world.nodes[address].disk_sync_ns = sync_ms * NS_PER_MS if on else 0
            self._log(f"disk {address} " + (f"slow: {sync_ms} ms per sync" if on else "normal"))
        self._later(start, lambda: slow(True))
        self._later(end, lambda: slow(False))

    # ------------------------------------------------------------------ healing

    def heal(self) -> None:
        """Every fault undone: the liveness phase starts from a whole, exact cluster."""
        if self.healed:
            return
        self.healed = True
        net = self.network
        if net is not None:
            net.cut = set()
            net.clogs.clear()
            net.drop_per_million = 0
            net.duplicate_per_million = 0
        self.cuts.clear()
        for a, sn in sorted(self.world.nodes.items()):
            sn.disk_sync_ns = 0
            if self.gone(a):
                continue
            if not sn.up:
                self.world.restart(a)
                self.on_restart(a)
            elif sn.paused:
                self.world.pause(a, False)
        self.world.log("nemesis healed: network whole, nodes up (clocks as they are)")

    def exact_clocks(self) -> None:
        """Every clock exact, once the sessions have stopped writing (setting every clock at
        once is itself a fault: see ``clock_fix``)."""
        for sn in self.world.nodes.values():
            sn.clock.offset_us = 0
            sn.clock.drift_ppm = 0.0
        self.world.log("nemesis clocks exact")
