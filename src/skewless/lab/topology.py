"""Topology changes as a lab fault: joins, decommissions, removenodes and replacements, drawn
from the run's seed and carried out one at a time under the workload and the other faults.

Theory of operation
-------------------
``FaultPlan.topology`` asks for N changes. Each gets a start time in the first half of the
fault window; a change starts at its time or once the one before it is complete, whichever is
later, and only inside the window (a change not started by the heal is not started at all). At
its start the change's kind is drawn among those the cluster allows at that moment (the
nemesis's random stream, so the same seed gives the same changes):

* ``join``: a new node (the next free address, empty storage, the cluster's seeds) boots and
  bootstraps (``node.topology.changes``): JOINING, streaming, NORMAL.
* ``decommission`` of a NORMAL non-seed node, only while the NORMAL members outnumber the
  largest replication factor (``nodetool decommission``, ``skewless.admin``). Once every live
  member sees it LEFT, its process is stopped (a decommissioned Cassandra node is shut down).
* ``removenode`` of a crashed non-seed node: the node is killed (kill -9, or a clean stop
  that tells its peers at once), never to come back; once a live NORMAL member sees it down,
  that member runs ``nodetool removenode`` with its host id. Only while the members outnumber
  the replication factor.
* ``replace`` of a crashed non-seed node: killed likewise; once every live member sees it
  down, a new node boots with ``replace_address_first_boot`` and takes its tokens.

Refusals (``AdminError``) are retried at the next poll; a new node that refuses to join (its
``topology.error``) is stopped and counted as refused. Nodes that left, were removed or
replaced are ``gone``: the nemesis never restarts them, clients never pick them, and the
checkers leave their storage out. ``settled`` says whether every started change completed:
the run's final phase waits for it (bounded) and the convergence checker reports a change
that never completed.

``planted`` (``join-without-streaming``) starts the joiners with ``auto_bootstrap`` off: they
take their tokens without streaming, the path Cassandra's docs warn loses data; the lost-write
checker must see it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from skewless.admin.registry import AdminError
from skewless.node.placement import replication_factor
from skewless.sim.admin import admin_call
from skewless.sim.world import World

NS_PER_MS = 1_000_000
poll_ms = 200  # how often the driver looks at the cluster while a change is under way
nodes_max = 9  # addresses 127.0.0.1 .. 127.0.0.9 (the lab's --nodes bound)
KINDS = ("join", "decommission", "removenode", "replace")


@dataclass
class _Change:
    kind: str
    subject: str  # the node joining, leaving, removed or replaced
    newcomer: str = ""  # replace: the node taking its place
    coordinator: str = ""  # removenode: who runs it
    stage: str = "started"


@dataclass
class TopologyDriver:
    world: World
    rng: random.Random
    log: Callable[[str], None]
    planted: str | None = None
    gone: set[str] = field(default_factory=set)
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    refused: int = 0
    current: _Change | None = None
    pending: list[int] = field(default_factory=list)  # start times (ns, absolute) not started
    window_end_ns: int = 0

    def start(self, changes: int, window_ns: int) -> None:
        now = self.world.now_ns
        self.window_end_ns = now + window_ns
        self.pending = sorted(now + self.rng.randrange(max(1, window_ns // 2))
                              for _ in range(changes))
        self.world.at(poll_ms * NS_PER_MS, self._poll)

    def settled(self) -> bool:
        """No change under way and none left to start."""
        return self.current is None and not self._may_start_more()

    def unfinished(self) -> str:
        c = self.current
        return "" if c is None else f"{c.kind} of {c.subject} ({c.stage})"

    def _may_start_more(self) -> bool:
        return bool(self.pending) and self.world.now_ns < self.window_end_ns

    # ------------------------------------------------------------------ the cluster

    def members(self) -> list[str]:
        """Nodes in the cluster or on their way in (not gone), sorted."""
        return [a for a in sorted(self.world.nodes) if a not in self.gone]

    def _live(self) -> list[str]:
        return [a for a in self.members() if self.world.nodes[a].up]

    def _status(self, address: str) -> str:
        return self.world.nodes[address].node.membership.local.status

    def _normal_live(self) -> list[str]:
        return [a for a in self._live() if self._status(a) == "NORMAL"]

    def _rf(self) -> int:
        node = self.world.nodes[self._live()[0]].node
        return max([replication_factor(ks.replication_map()) for ks in node.schema.keyspaces
                    if not ks.name.startswith("system")] + [1])

    def _seeds(self) -> tuple[str, ...]:
        return self.world.nodes[self.members()[0]].config.seeds

    def _candidates(self) -> list[str]:
        """NORMAL non-seed members that are up (not paused: its own view is current)."""
        seeds = self._seeds()
        return [a for a in self._normal_live() if a not in seeds
                and not self.world.nodes[a].paused]

    def _next_address(self) -> str | None:
        for i in range(1, nodes_max + 1):
            if f"127.0.0.{i}" not in self.world.nodes:
                return f"127.0.0.{i}"
        return None

    def _everyone_sees(self, test: Callable[[str], bool]) -> bool:
        return all(test(a) for a in self._live())

    # ------------------------------------------------------------------ the driver

    def _poll(self) -> None:
        if self.current is not None:
            self._advance(self.current)
        elif self._may_start_more() and self.pending[0] <= self.world.now_ns:
            self._begin()
        if self.current is not None or self._may_start_more():
            self.world.at(poll_ms * NS_PER_MS, self._poll)

    def _quiet(self) -> bool:
        """No live member sees a change under way (one at a time, as the nodes require)."""
        for a in self._live():
            m = self.world.nodes[a].node.membership
            if m.changing() or m.removing or self._status(a) not in ("NORMAL",):
                return False
        return True

    def _begin(self) -> None:
        if not self._quiet():
            return  # a crashed or paused node's view is behind: try at the next poll
        members, normal = self.members(), self._normal_live()
        rf = self._rf()
        address = self._next_address()
        kinds = []
        if address is not None:
            kinds.append("join")
        candidates = self._candidates()
        if candidates and len(normal) > rf:
            kinds.append("decommission")
        if candidates and len(members) > rf:
            kinds.append("removenode")
        if candidates and address is not None:
            kinds.append("replace")
        if not kinds:
            self.pending.pop(0)
            return
        self.pending.pop(0)
        kind = self.rng.choice(kinds)
        if kind == "join":
            assert address is not None
            self.current = _Change(kind, address)
            self.log(f"topology join {address}")
            self._boot(address)
            return
        subject = self.rng.choice(candidates)
        change = self.current = _Change(kind, subject)
        if kind == "decommission":
            self.log(f"topology decommission {subject}")
            change.stage = "refused"
            self._advance(change)
            return
        assert address is not None or kind == "removenode"
        change.newcomer = address or ""
        self.gone.add(subject)
        if self.rng.random() < 0.5:
            self.world.crash(subject)
            how = "killed"
        else:
            self.world.stop(subject)
            how = "stopped"
        self.log(f"topology {kind} {subject}: {how}")
        change.stage = "dead"

    def _boot(self, address: str, **options: object) -> None:
        if self.planted == "join-without-streaming":
            options["auto_bootstrap"] = False
        self.world.add_node(address, **options)

    def _advance(self, c: _Change) -> None:
        w = self.world
        if c.kind == "join":
            self._joining(c.subject, c)
        elif c.kind == "decommission":
            if c.stage == "refused":  # not started yet: the node refused or was not ready
                if w.nodes[c.subject].up and not w.nodes[c.subject].paused:
                    try:
                        admin_call(w, c.subject, "decommission")
                        c.stage = "leaving"
                    except AdminError as e:
                        self._refused(c, str(e))
            elif c.stage == "leaving" and self._status(c.subject) == "LEFT" \
                    and self._everyone_sees(lambda a: w.nodes[a].node.membership
                                            .out_of_cluster(c.subject)):
                self.gone.add(c.subject)
                if w.nodes[c.subject].up:
                    w.stop(c.subject)
                self._complete(c)
        elif c.kind == "removenode":
            self._removing(c)
        else:
            self._replacing(c)

    def _joining(self, address: str, c: _Change) -> None:
        sn = self.world.nodes[address]
        if sn.node.topology.error:
            self.log(f"topology {c.kind} {address} refused: {sn.node.topology.error}")
            self.refused += 1
            self.gone.add(address)
            if sn.up:
                self.world.stop(address)
            self.current = None
            return
        if sn.up and self._status(address) == "NORMAL" and self._everyone_sees(
                lambda a: self.world.nodes[a].node.membership.status_of(address) == "NORMAL"
                and not self.world.nodes[a].node.membership.changing()):
            self._complete(c)

    def _removing(self, c: _Change) -> None:
        w = self.world
        if c.stage == "dead":
            live = [a for a in self._normal_live() if not w.nodes[a].paused
                    and not w.nodes[a].node.membership.is_alive(c.subject)]
            if not live:
                return
            c.coordinator = self.rng.choice(live)
            host_id = str(w.nodes[c.subject].node.host_id)
            try:
                admin_call(w, c.coordinator, "removenode", {"host_id": host_id})
            except AdminError as e:
                self._refused(c, str(e))
                return
            self.log(f"topology removenode {c.subject} by {c.coordinator}")
            c.stage = "removing"
        elif self._everyone_sees(lambda a: w.nodes[a].node.membership.out_of_cluster(c.subject)
                                 and not w.nodes[a].node.membership.changing()):
            self._complete(c)

    def _replacing(self, c: _Change) -> None:
        w = self.world
        if c.stage == "dead":
            if not self._everyone_sees(
                    lambda a: not w.nodes[a].node.membership.is_alive(c.subject)):
                return
            self.log(f"topology replace {c.subject} by {c.newcomer}")
            self._boot(c.newcomer, replace_address_first_boot=c.subject)
            c.stage = "replacing"
            return
        self._joining(c.newcomer, c)

    def _refused(self, c: _Change, why: str) -> None:
        self.log(f"topology {c.kind} {c.subject} refused for now: {why}")

    def _complete(self, c: _Change) -> None:
        self.done[c.kind] += 1
        self.log(f"topology {c.kind} {c.subject} complete")
        self.current = None
