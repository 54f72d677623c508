"""The lab's run options as plain data: the faults (``FaultPlan``), the workload
(``WorkloadSpec``), their command-line form, and the swarm's draw of faults for a seed.

Light on purpose (no simulator import): the ``skewless`` command line builds its ``lab`` options
from these fields at start-up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class FaultPlan:
    clock_offset_ms: int = 0  # each node's clock offset drawn in [-x, +x]
    clock_drift_ppm: int = 0  # each node's drift drawn in [-x, +x]
    clock_steps: int = 0  # clock steps of random nodes, back or forward
    clock_step_ms: int = 1000  # a step's size is drawn in [x/2, x]
    leap_second: bool = False  # some nodes' clocks go back 1 s at the same instant
    strobe_ms: int = 0  # one node's offset toggles by this much every 100-500 ms for a while
    clock_fix: bool = False  # every clock set exact again partway through the window
    delay_ms: int = 2  # one-way latency uniform in 0.1 ms .. x (messages reordered)
    loss_pct: float = 0.0
    dup_pct: float = 0.0
    partitions: int = 0  # episodes: a two-way split, a one-way cut, or one node isolated
    swizzle: bool = False  # clog nodes' links one by one, release them in a random order
    crashes: int = 0  # kill -9 and restart episodes
    pauses: int = 0  # GC-pause / SIGSTOP episodes
    slow_disks: int = 0  # episodes: one node's fsync takes 20-500 ms for 1-4 s
    repairs: int = 0  # nodetool repair of every keyspace, started on a random node
    topology: int = 0  # topology changes, one at a time: join, decommission, removenode, replace

    def options(self) -> list[str]:
        """The ``skewless lab run`` options that give this plan (defaults left out)."""
        return cli_options(self)

    def describe(self) -> str:
        return " ".join(self.options()) or "none"


def cli_options(obj: Any) -> list[str]:
    """A frozen options dataclass as command-line options: ``--field-name value`` for each field
    that differs from its default, a bare ``--flag`` for a true bool."""
    out: list[str] = []
    default = type(obj)()
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag)
        else:
            out.extend([flag, f"{value:g}" if isinstance(value, float) else str(value)])
    return out


FAULT_PROFILES = ("all", "steady-clocks", "topology")


def draw_plan(seed: int, profile: str = "all") -> FaultPlan:
    """The swarm's faults for ``seed``: which are on, and how strong.

    ``steady-clocks`` keeps the clocks steady: offsets of any size from boot on and drift
    within 200 ppm, but no steps, leap second, strobe or fix (the network and process faults
    are all drawn); ``all`` draws everything; ``topology`` draws everything as ``all`` does
    and always adds topology changes and repairs (1-3 of each)."""
    assert profile in FAULT_PROFILES, profile
    rng = random.Random(f"lab-swarm-{seed}")

    def on(p: float) -> bool:
        return rng.random() < p

    steady = profile == "steady-clocks"
    steps = rng.randint(1, 3) if on(0.3) and not steady else 0
    drifts = [50, 200] if steady else [50, 200, 1000, 10000]
    plan = FaultPlan(
        clock_offset_ms=rng.choice([5, 20, 100, 400, 1000, 3000]) if on(0.45) else 0,
        clock_drift_ppm=rng.choice(drifts) if on(0.3) else 0,
        clock_steps=steps,
        clock_step_ms=rng.choice([50, 300, 1000, 10000]) if steps else 1000,
        leap_second=on(0.2) and not steady,
        strobe_ms=rng.choice([20, 200, 1000]) if on(0.15) and not steady else 0,
        clock_fix=on(0.3) and not steady,
        delay_ms=rng.choice([2, 2, 2, 5, 20, 100]),
        loss_pct=float(rng.choice([1, 5, 20])) if on(0.25) else 0.0,
        dup_pct=float(rng.choice([1, 10])) if on(0.2) else 0.0,
        partitions=rng.randint(1, 3) if on(0.3) else 0,
        swizzle=on(0.15),
        crashes=rng.randint(1, 2) if on(0.25) else 0,
        pauses=rng.randint(1, 3) if on(0.25) else 0,
        slow_disks=rng.randint(1, 3) if on(0.2) else 0,
        repairs=rng.randint(1, 3) if on(0.3) else 0,  # drawn after the above: theirs unchanged
        topology=rng.randint(1, 3) if on(0.3) else 0,  # drawn last likewise
    )
    if profile == "topology":
        plan = replace(plan, repairs=plan.repairs or rng.randint(1, 3),
                       topology=plan.topology or rng.randint(1, 3))
    return plan


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    keys: int = 5
    sessions: int = 4
    write_cl: str = "QUORUM"
    read_cl: str = "QUORUM"
    read_pct: int = 50
    think_ms: int = 40
    client_timestamps: bool = False
    client_skew_ms: int = 0  # each session's clock offset drawn in [-x, +x] (client timestamps)
    tokens: bool = False
    ordered_writes: bool = False  # the table option: stamp above the replicas' newest
    delete_pct: int = 0  # share of writes that DELETE the row (the next write re-INSERTs it)
    batch_pct: int = 0  # share of writes that are LOGGED BATCHes of two registers
    seed000: bool = False  # each write followed at once by one more through another node
    cas_keys: int = 0  # CAS registers (lab.cas_workload): 0 runs no CAS workload
    cas_sessions: int = 4  # CAS sessions (with cas_keys)
    counter_keys: int = 0  # counters (lab.cas_workload): 0 runs no counter workload
    counter_sessions: int = 4  # counter sessions (with counter_keys)

    def options(self) -> list[str]:
        return cli_options(self)
