"""One lab run: a seeded world, a fault plan, a workload, the final phase and the checkers.

Theory of operation
-------------------
``run(RunConfig)`` builds a ``World`` from the seed (trace on or off: the trace never changes
what happens), forms the cluster, creates the register table, then starts the workload and the
nemesis together. Faults act during the first 80% of the workload's duration; then the nemesis
heals everything but the clocks, the sessions finish, the clocks are set exact, and the final
phase waits (bounded) for every node to see every other up, lets hints and clock agreement
settle, reads every register at ALL and compares the replicas' stored data. The checkers then
judge the history:

* ``superseded_writes`` (lost acknowledged writes, ``skewless.lab.checkers``), with the final ALL
  reads as the final state;
* ``convergence``: after the heal every node is up, every register was read at ALL within the
  bound and all its replicas hold identical data (sampled every 500 ms from the heal, timed by
  ``skewless.lab.convergence``);
* ``read_your_writes``, ``monotonic_reads`` (``skewless.lab.session_checks``) and
  ``linearizability`` (``skewless.lab.linearizability``);
* ``exactly_one_reply``: every client request to a live node ended in exactly one reply, given
  by its own processing (none left open, none answered twice, none answered only by its
  deadline, no internal error: ``sim.world.request_problems``).

Deletes: the value-ordered checkers see each read of a deleted row resolved to the delete it
saw (``checkers.resolve_deletes``, done once per run), linearizability sees deletes as writes
of nothing (``checkers.as_register_writes``).

Randomness: the world's own stream (nodes, network) comes from the seed; the nemesis and the
workload each get a ``random.Random`` derived from the seed by name, so turning a fault on does
not shift the workload's choices more than the faults themselves do.

``planted_bug`` exists to show the checkers catch bugs: ``raw-clock`` makes node 1 stamp with
its raw clock as ``wallclock`` does (no correction, no hybrid clock, no fencing) whatever the
policy; ``drop-mutations`` makes node 1's storage acknowledge every third mutation without
applying it; ``join-without-streaming`` makes the topology fault's joiners start with
``auto_bootstrap`` off (they own ranges without having streamed them: ``lab.topology``);
``lose-replies`` makes node 1 lose the continuation of every fifth write it coordinates (the
request is answered only by its deadline: ``exactly_one_reply`` fails); ``skip-prepare``,
``answer-before-sync`` and ``counter-replay-twice`` are the LWT and counter paths' bugs
(``lab.lab_planted``).

CAS registers and counters (``cas_keys``, ``counter_keys``; off by default, so runs without them
are what they were): ``lab.cas_runs`` runs those workloads beside the register one and adds
their verdicts (``cas_linearizability``, ``cas_final_count``, ``counter_bounds``,
``counter_replicas``); their operations are in ``RunResult.extra_history``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skewless.clock import TimestampSource
from skewless.lab import cas_runs, convergence, lab_planted, session_checks
from skewless.lab.checkers import as_register_writes, resolve_deletes, superseded_writes
from skewless.lab.faults import Nemesis
from skewless.lab.linearizability import linearizable
from skewless.lab.options import FaultPlan, WorkloadSpec
from skewless.lab.workloads import Workload
from skewless.node.node import Node
from skewless.sim.world import World

NS_PER_S = 1_000_000_000
settle_s = 5  # after the heal and the sessions' end: hints replayed, clocks agreed again
stabilize_timeout_s = 30  # a healed cluster must see every node up within this
final_read_timeout_s = 30  # the final ALL reads must all answer within this
convergence_sample_ms = 500  # how often the replicas are compared after the heal
convergence_samples_max = 200  # a bound on the sampling (100 s at 500 ms)
convergence_bound_s = 60  # replicas must agree this long after the heal at most
topology_settle_s = 90  # a topology change under way at the heal must complete within this
PLANTED_BUGS = ("raw-clock", "drop-mutations", "join-without-streaming", "lose-replies",
                *lab_planted.PLANTED_BUGS)


@dataclass(frozen=True, slots=True)
class RunConfig:
    seed: int
    policy: str = "hlc"
    nodes: int = 3
    duration_s: int = 15
    faults: FaultPlan = field(default_factory=FaultPlan)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    planted_bug: str | None = None
    commit_wait: bool = False  # every node acknowledges writes once certainly past them
    commitlog: str = "batch"  # every node's commitlog_sync: batch, or periodic (10 s)
    no_restamp: bool = False  # shadowed writes reported, not stamped again (shows what it does)

    def command(self) -> str:
        """The ``skewless lab run`` command line that repeats this run."""
        parts = ["skewless", "lab", "run", "--seed", str(self.seed), "--policy", self.policy]
        if self.nodes != 3:
            parts += ["--nodes", str(self.nodes)]
        if self.duration_s != 15:
            parts += ["--duration-s", str(self.duration_s)]
        if self.commit_wait:
            parts.append("--commit-wait")
        if self.commitlog != "batch":
            parts += ["--commitlog", self.commitlog]
        if self.no_restamp:
            parts.append("--no-restamp")
        parts += self.faults.options() + self.workload.options()
        if self.planted_bug:
            parts += ["--planted-bug", self.planted_bug]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    checker: str
    ok: bool
    details: tuple[str, ...] = ()
    note: str = ""
    silent: int = 0  # violations nobody was told about (superseded_writes)


@dataclass
class RunResult:
    config: RunConfig
    history: list[dict[str, Any]]
    final: dict[int, object]
    verdicts: list[Verdict]
    trace: list[str]
    stats: dict[str, Any]
    extra_history: list[dict[str, Any]] = field(default_factory=list)  # CAS and counter ops

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def run(cfg: RunConfig, trace: bool = True) -> RunResult:
    assert cfg.planted_bug in (None, *PLANTED_BUGS), cfg.planted_bug
    options: dict[str, object] = {"commitlog_sync": cfg.commitlog}
    if cfg.commit_wait:
        options["commit_wait"] = True
    if cfg.no_restamp:
        options["restamp_shadowed_writes"] = False
    world = World(cfg.seed, n_nodes=cfg.nodes, timestamp_policy=cfg.policy, trace_enabled=trace,
                  node_options=options)
    plant = _planter(world, cfg.planted_bug)
    nemesis = Nemesis(world, cfg.faults, random.Random(f"lab-faults-{cfg.seed}"),
                      on_restart=plant, planted=cfg.planted_bug)
    nemesis.skew_clocks()
    assert world.stabilize(), "the cluster did not form"
    workload = Workload(world, cfg.workload, random.Random(f"lab-workload-{cfg.seed}"))
    workload.setup()
    extra = cas_runs.Extra.make(world, cfg.workload, cfg.seed)
    for address in sorted(world.nodes):
        plant(address)
    duration_ns = cfg.duration_s * NS_PER_S
    started_ns = world.now_ns
    nemesis.start(duration_ns * 8 // 10)
    workload.start(duration_ns)
    extra.start(duration_ns)
    world.run_for(duration_ns)
    nemesis.heal()
    finished = world.run_until(lambda: workload.finished() and extra.finished(),
                               10 * NS_PER_S)
    nemesis.exact_clocks()
    healed_ns = world.now_ns
    samples = _sample_convergence(world, workload)
    topology = nemesis.topology
    if topology is not None:  # a change under way at the heal completes (bounded)
        world.run_until(topology.settled, topology_settle_s * NS_PER_S)
    stable = world.stabilize(stabilize_timeout_s * NS_PER_S)
    world.run_for(settle_s * NS_PER_S)
    final = workload.final_reads(final_read_timeout_s * NS_PER_S)
    extra_verdicts = extra.verdicts(final_read_timeout_s * NS_PER_S)
    samples.append((world.now_ns / 1e9, convergence.converged(*workload.replica_contents())))
    world.settle_requests()
    requests = world.request_problems()
    stats = _stats(workload.history, final, nemesis.actions)
    stats.update(simulated_s=round((world.now_ns - started_ns) / 1e9, 3),
                 final_phase_s=round((world.now_ns - healed_ns) / 1e9, 3),
                 sessions_finished=finished, cluster_stable=stable,
                 topology={} if topology is None else
                 {**topology.done, "refused": topology.refused})
    resolved = resolve_deletes(workload.history)
    unfinished = "" if topology is None else topology.unfinished()
    verdicts = [_lost_writes(workload.history, resolved, final),
                _convergence(cfg.workload.keys, final, stable, workload, samples,
                             healed_ns / 1e9, unfinished)]
    verdicts += _extra_checkers(workload.history, resolved)
    verdicts += [Verdict(name, not found, tuple(found), note)
                 for name, found, note in extra_verdicts]
    verdicts.append(Verdict("exactly_one_reply", not requests, tuple(requests)))
    stats.update(extra.stats())
    return RunResult(cfg, workload.history, final, verdicts, world.trace, stats,
                     extra.history())


def _stats(history: list[dict[str, Any]], final: dict[int, object],
           fault_actions: int) -> dict[str, Any]:
    def count(op: str, ok: bool | None = None, error: str | None = None) -> int:
        return sum(1 for h in history if h["op"] == op and (ok is None or h["ok"] == ok)
                   and (error is None or h["error"] == error))
    return {"writes": count("write"), "writes_acknowledged": count("write", True),
            "writes_indeterminate": count("write", error="timeout"),
            "reads": count("read"), "reads_ok": count("read", True),
            "fault_actions": fault_actions, "registers_read_final": len(final)}


def _lost_writes(history: list[dict[str, Any]], resolved: list[Mapping[str, Any]],
                 final: dict[int, object]) -> Verdict:
    """Lost acknowledged writes; those whose writer was told (a shadowing warning in the
    write's response: Skewless makes the loss loud, not impossible) are marked so."""
    violations = superseded_writes(resolved, _resolve_final(history, final))
    warned = {(h["key"], h["value"]) for h in history
              if h["op"] == "write" and h.get("shadowed")}
    loud = [(v.key, v.acknowledged) in warned for v in violations]
    details = tuple(str(v) + (" (its writer got a shadowing warning)" if w else " (silently)")
                    for v, w in zip(violations, loud, strict=True))
    silent = loud.count(False)
    note = f"{len(loud) - silent} loud (shadowing warning), {silent} silent" if loud else ""
    return Verdict("superseded_writes", not violations, details, note, silent)


def _resolve_final(history: list[dict[str, Any]], final: dict[int, object]
                   ) -> dict[object, object]:
    """Final values with a deleted register's ``None`` resolved as a read at the very end."""
    reads = [{"op": "read", "key": k, "value": v, "start": float("inf"), "end": float("inf"),
              "ok": True} for k, v in final.items()]
    return {op["key"]: op["value"] for op in resolve_deletes([*history, *reads])[len(history):]}


def _sample_convergence(world: World, workload: Workload) -> list[tuple[float, bool]]:
    """Whether every register's replicas agree, sampled every ``convergence_sample_ms`` until
    the final reads end (the list is appended to as the world runs)."""
    samples: list[tuple[float, bool]] = []

    def sample() -> None:
        if len(samples) < convergence_samples_max:
            samples.append((world.now_ns / 1e9,
                            convergence.converged(*workload.replica_contents())))
            world.at(convergence_sample_ms * 1_000_000, sample)
    sample()
    return samples


def _convergence(keys: int, final: dict[int, object], stable: bool, workload: Workload,
                 samples: list[tuple[float, bool]], healed_at: float,
                 unfinished: str = "") -> Verdict:
    """After the heal: every topology change complete, every member up, every register read
    at ALL, all its replicas identical (``skewless.lab.convergence``), within
    ``convergence_bound_s``."""
    problems = []
    if unfinished:
        problems.append(f"topology change {unfinished} not complete {topology_settle_s} s "
                        "after the heal")
    if not stable:
        problems.append(f"nodes still not all up {stabilize_timeout_s} s after the heal")
    missing = sorted(set(range(keys)) - set(final))
    if missing:
        problems.append(f"registers {missing} not readable at ALL within "
                        f"{final_read_timeout_s} s")
    contents, owners = workload.replica_contents()
    problems += [str(d) for d in convergence.divergent_keys(contents, owners)]
    timing = convergence.convergence_time(samples, healed_at, convergence_bound_s)
    if not timing.ok and not problems:
        problems.append(str(timing))
    return Verdict("convergence", not problems, tuple(problems), str(timing))


def _extra_checkers(history: list[dict[str, Any]], resolved: list[Mapping[str, Any]]
                    ) -> list[Verdict]:
    """Read-your-writes and monotonic reads (on ``resolved``: deletes resolved), and
    linearizability (on ``history``, deletes as writes of nothing)."""
    out = []
    for name, check in (("read_your_writes", session_checks.read_your_writes),
                        ("monotonic_reads", session_checks.monotonic_reads)):
        found = check(resolved)
        out.append(Verdict(name, not found, tuple(str(v) for v in found)))
    result = linearizable(as_register_writes(history))
    unknown = len(result.unknown)
    out.append(Verdict("linearizability", not result.violations,
                       tuple(str(k) for k in result.violations),
                       f"{unknown} keys unknown (search limit)" if unknown else ""))
    return out


# ---------------------------------------------------------------------- planted bugs


def _planter(world: World, bug: str | None) -> Callable[[str], None]:
    """Plants ``bug`` in node 1's current process (again after each of its restarts)."""
    target = sorted(world.nodes)[0]

    def plant(address: str) -> None:
        if bug in (None, "join-without-streaming") or address != target:
            return
        node = world.nodes[address].node
        if bug in lab_planted.PLANTED_BUGS:
            lab_planted.plant(world, node, bug)
        elif bug == "raw-clock":
            _stamp_with_raw_clock(node)
        elif bug == "lose-replies":
            _lose_every_fifth_write_continuation(node)
        else:
            _drop_every_third_mutation(node)
        world.log(f"lab planted bug {bug} on {address}")
    return plant


def _stamp_with_raw_clock(node: Node) -> None:
    s = node.stamping
    s.hlc = False  # no fencing, no restart floor, no step extrapolation
    s.ts = TimestampSource("wallclock", s.ts.last_us)  # nothing observed from others
    s._anchor = None
    s.clocks.compensate = False
    s.clocks.current = s.clocks.current  # re-derive: no correction


def _drop_every_third_mutation(node: Node) -> None:
    apply = node.apply_local
    calls = [0]

    def dropping(update: Any) -> Any:
        calls[0] += 1
        if calls[0] % 3 == 0:
            return ()
        return apply(update)
    setattr(node, "apply_local", dropping)  # noqa: B010 (an instance attribute on purpose)


def _lose_every_fifth_write_continuation(node: Node) -> None:
    write_planned = node.write_planned
    calls = [0]

    def losing(plans: Any, cl: int, write_type: str, done: Any, trace: Any = None) -> None:
        calls[0] += 1
        if calls[0] % 5 == 0:
            done = lambda *args: None  # noqa: E731 (the continuation is lost)
        write_planned(plans, cl, write_type, done, trace)
    setattr(node, "write_planned", losing)  # noqa: B010 (an instance attribute on purpose)
