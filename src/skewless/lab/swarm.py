"""Swarm testing: many seeds, each with its own faults drawn from it (``faults.draw_plan``).

Each seed is one ``runner.run`` with the trace off (the trace never changes what happens, so
``skewless lab run`` with the printed options repeats the run exactly, trace on or off). A
failing seed is printed with the command that reproduces it; then how many seeds drew each
fault, the topology changes completed per kind, and the last line is
``violations: K of N seeds``. With ``jobs`` > 1 the seeds run in that many worker processes;
the output is the same, in seed order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

from skewless.lab.options import FaultPlan, WorkloadSpec, draw_plan
from skewless.lab.runner import RunConfig, run

details_shown_max = 3  # violations printed per failing checker of a failing seed


@dataclass(frozen=True, slots=True)
class SeedOutcome:
    seed: int
    ok: bool
    command: str
    failures: tuple[str, ...]  # "checker: detail" lines
    writes_acknowledged: int
    silent: int  # lost acknowledged writes nobody was told about
    topology: tuple[tuple[str, int], ...] = ()  # topology changes completed per kind, refused
    cas_ops: int = 0  # CAS operations checked (with cas_keys)
    counter_ops: int = 0  # counter operations checked (with counter_keys)


def config_for(seed: int, policy: str, nodes: int, duration_s: int, workload: WorkloadSpec,
               commit_wait: bool = False, profile: str = "all",
               no_restamp: bool = False) -> RunConfig:
    return RunConfig(seed, policy, nodes, duration_s, draw_plan(seed, profile), workload,
                     commit_wait=commit_wait, no_restamp=no_restamp)


def run_seed(cfg: RunConfig) -> SeedOutcome:
    result = run(cfg, trace=False)
    failures = []
    for v in result.verdicts:
        if not v.ok:
            more = len(v.details) - details_shown_max
            note = f" ({v.note})" if v.note else ""
            failures.append(f"{v.checker}: {len(v.details)} violation(s){note}")
            failures += [f"  {d}" for d in v.details[:details_shown_max]]
            if more > 0:
                failures.append(f"  ... and {more} more")
    return SeedOutcome(cfg.seed, result.ok, cfg.command(), tuple(failures),
                       result.stats["writes_acknowledged"], sum(v.silent for v in result.verdicts),
                       tuple(sorted(result.stats["topology"].items())),
                       result.stats.get("cas_ops", 0), result.stats.get("counter_ops", 0))


def _outcomes(configs: list[RunConfig], jobs: int) -> Iterator[SeedOutcome]:
    if jobs <= 1:
        for cfg in configs:
            yield run_seed(cfg)
        return
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=_quiet) as pool:
        yield from pool.imap(run_seed, configs, chunksize=4)


def _quiet() -> None:
    import logging
    logging.getLogger("skewless").setLevel(logging.CRITICAL)


def swarm(seeds: int, first_seed: int, policy: str, nodes: int, duration_s: int,
          workload: WorkloadSpec, jobs: int, out: Callable[[str], None],
          commit_wait: bool = False, profile: str = "all",
          elapsed_s: Callable[[], float] | None = None, no_restamp: bool = False) -> int:
    """Run the seeds, print each failing one with its command; the number of failing seeds."""
    configs = [config_for(s, policy, nodes, duration_s, workload, commit_wait, profile,
                          no_restamp)
               for s in range(first_seed, first_seed + seeds)]
    failed = acked = silent = cas_ops = counter_ops = 0
    drawn = {f.name: 0 for f in fields(FaultPlan)}
    default = FaultPlan()
    for cfg in configs:
        for name in drawn:
            drawn[name] += getattr(cfg.faults, name) != getattr(default, name)
    changes: dict[str, int] = {}
    for o in _outcomes(configs, jobs):
        acked += o.writes_acknowledged
        cas_ops += o.cas_ops
        counter_ops += o.counter_ops
        for kind, n in o.topology:
            changes[kind] = changes.get(kind, 0) + n
        if o.ok:
            continue
        failed += 1
        silent += o.silent > 0
        out(f"seed {o.seed}: FAIL")
        for line in o.failures:
            out(f"  {line}")
        out(f"  reproduce: {o.command}")
    out(f"acknowledged writes checked: {acked}")
    if cas_ops or counter_ops:
        out(f"CAS operations checked: {cas_ops}; counter operations checked: {counter_ops}")
    out("seeds drawing each fault: " + ", ".join(f"{k} {n}" for k, n in drawn.items() if n))
    if changes:
        out("topology changes completed: " + ", ".join(
            f"{k} {n}" for k, n in changes.items() if k != "refused")
            + f" (joins refused: {changes.get('refused', 0)})")
    out(f"seeds with a silent lost write (no shadowing warning): {silent}")
    if elapsed_s is not None:
        out(f"time: {elapsed_s():.1f} s")
    out(f"violations: {failed} of {seeds} seeds")
    return failed
