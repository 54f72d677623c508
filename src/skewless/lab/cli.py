"""The ``skewless lab`` commands: ``run`` one simulation, ``swarm`` many seeds.

The fault and workload options are generated from the fields of ``FaultPlan`` and
``WorkloadSpec`` (``--field-name``), the same names ``RunConfig.command`` prints, so a printed
command always parses back to the same run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

import click

from skewless.clock import TIMESTAMP_POLICIES
from skewless.config import COMMITLOG_SYNCS
from skewless.lab.options import FAULT_PROFILES, FaultPlan, WorkloadSpec

CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL")

_HELP = {
    "clock_offset_ms": "Each node's clock offset drawn in [-X, +X] ms.",
    "clock_drift_ppm": "Each node's clock drift drawn in [-X, +X] ppm.",
    "clock_steps": "Clock steps (back or forward) of random nodes at random times.",
    "clock_step_ms": "A clock step's size, drawn in [X/2, X] ms.",
    "leap_second": "A leap second repeated: some nodes' clocks go back 1 s at once.",
    "strobe_ms": "One node's clock strobes: its offset toggles by X ms every 100-500 ms.",
    "clock_fix": "Every clock set exact again 60% into the fault window.",
    "delay_ms": "One-way latency uniform in 0.1..X ms (messages reordered).",
    "loss_pct": "Messages lost, percent.",
    "dup_pct": "Messages duplicated, percent.",
    "partitions": "Partition episodes (two-way split, one-way cut, or one node isolated).",
    "swizzle": "Swizzle clogging: stall nodes' links one by one, release in random order.",
    "crashes": "Crash (kill -9) and restart episodes; state kept is what was synced.",
    "pauses": "Pause (GC pause, SIGSTOP) episodes of 0.2-3 s.",
    "slow_disks": "Slow-disk episodes: one node's fsync takes 20-500 ms for 1-4 s.",
    "repairs": "nodetool repair of every keyspace, started on a random node at a random time.",
    "topology": "Topology changes, one at a time, each drawn among those the cluster allows: "
                "a join (a new node bootstraps), a decommission (a non-seed node, while the "
                "cluster keeps the RF), a removenode or a replacement "
                "(replace_address_first_boot) of a killed non-seed node.",
    "keys": "Registers.",
    "sessions": "Client sessions, each sequential.",
    "write_cl": "Consistency level of the writes.",
    "read_cl": "Consistency level of the reads.",
    "read_pct": "Share of reads among the operations, percent.",
    "think_ms": "Mean think time between a session's operations (0..2X ms).",
    "client_timestamps": "Clients stamp writes (the drivers' default), from skewed clocks.",
    "client_skew_ms": "Each session's clock offset drawn in [-X, +X] ms.",
    "tokens": "Sessions send their session token (skewless-token) with every request.",
    "ordered_writes": "The table has ordered_writes = true.",
    "delete_pct": "Share of writes that DELETE the row (the next write re-INSERTs it), percent.",
    "batch_pct": "Share of writes that are LOGGED BATCHes of two registers, percent.",
    "seed000": "The seed-000 flow: each write followed at once by the register's next write "
               "through another coordinator.",
    "cas_keys": "CAS registers (lab.cas, IF NOT EXISTS claims, IF v = ? increments, SERIAL "
                "reads); 0: no CAS workload.",
    "cas_sessions": "CAS client sessions (with --cas-keys).",
    "counter_keys": "Counters (lab.ctr, increments of -3..5); 0: no counter workload.",
    "counter_sessions": "Counter client sessions (with --counter-keys).",
}


def _dataclass_options(cls: type, skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """click options for the fields of an options dataclass (defaults from the dataclass)."""
    def decorate(f: Any) -> Any:
        for fld in reversed(fields(cls)):
            if fld.name in skip:
                continue
            assert fld.default is not MISSING
            flag = "--" + fld.name.replace("_", "-")
            default = fld.default
            help_text = _HELP[fld.name]
            if isinstance(default, bool):
                f = click.option(flag, is_flag=True, default=False, help=help_text)(f)
            elif fld.name.endswith("_cl"):
                f = click.option(flag, type=click.Choice(CONSISTENCY_LEVELS, case_sensitive=False),
                                 default=default, show_default=True, help=help_text)(f)
            else:
                kind = float if isinstance(default, float) else int
                f = click.option(flag, type=click.FloatRange(0) if kind is float
                                 else click.IntRange(0), default=default, show_default=True,
                                 help=help_text)(f)
        return f
    return decorate


def _pick(cls: type, kwargs: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    values = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
    for k, v in values.items():
        if isinstance(v, str):
            values[k] = v.upper()
    return cls(**values)


def _quiet_logs() -> None:
    """Silence the nodes' own warnings for this command, and only for it: the level is put
    back when the command ends (a command run in-process, as tests do, leaves no trace)."""
    logger = logging.getLogger("skewless")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    click.get_current_context().call_on_close(lambda: logger.setLevel(level))


@click.group()
def lab() -> None:
    """The simulation lab: seeded fault injection and consistency checkers."""


@lab.command("run")
@click.option("--seed", type=int, required=True, help="The run's seed: it fixes everything.")
@click.option("--policy", type=click.Choice(TIMESTAMP_POLICIES), default="hlc",
              show_default=True, help="Timestamp policy of every node.")
@click.option("--nodes", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option("--duration-s", type=click.IntRange(1, 600), default=15, show_default=True,
              help="Simulated seconds of workload (faults in the first 80%).")
@click.option("--trace", "trace_path", default=None, metavar="FILE",
              help="Write the run's trace (byte-identical for the same seed and options).")
@click.option("--history", "history_path", default=None, metavar="FILE",
              help="Write the operation history as JSON lines.")
@click.option("--planted-bug",
              type=click.Choice(["raw-clock", "drop-mutations", "join-without-streaming",
                                 "lose-replies", "skip-prepare", "answer-before-sync",
                                 "counter-replay-twice"]),
              default=None,
              help="For checker tests: node 1 stamps with its raw clock, or drops every third "
                   "mutation it acknowledges; or the topology fault's joiners take their ranges "
                   "without streaming them (auto_bootstrap off); or node 1 loses the reply of "
                   "every fifth write it coordinates; or node 1's Paxos skips the prepare, its "
                   "acceptor answers before syncing, or its counter leader applies a duplicated "
                   "request twice (with --cas-keys / --counter-keys).")
@click.option("--commit-wait", is_flag=True, help="Every node runs with --commit-wait.")
@click.option("--no-restamp", is_flag=True,
              help="Every node runs with --no-restamp (shadowed writes are reported, not "
                   "stamped again): shows what restamping prevents.")
@click.option("--commitlog", type=click.Choice(COMMITLOG_SYNCS), default="batch",
              show_default=True,
              help="Every node's commitlog_sync: periodic syncs every 10 s, so a crash loses "
                   "the writes since (acknowledged or not); batch syncs before answering.")
@_dataclass_options(FaultPlan)
@_dataclass_options(WorkloadSpec)
def lab_run(seed: int, policy: str, nodes: int, duration_s: int, trace_path: str | None,
            history_path: str | None, planted_bug: str | None, commit_wait: bool,
            no_restamp: bool, commitlog: str, **kwargs: Any) -> None:
    """Run one simulation; exit status 1 if any checker fails."""
    from skewless.lab.runner import RunConfig, run

    _quiet_logs()
    faults, workload = _pick(FaultPlan, kwargs), _pick(WorkloadSpec, kwargs)
    assert not kwargs, kwargs
    cfg = RunConfig(seed, policy, nodes, duration_s, faults, workload, planted_bug, commit_wait,
                    commitlog, no_restamp)
    started = time.perf_counter()  # allow-real-clock (the report's elapsed time)
    result = run(cfg, trace=trace_path is not None)
    elapsed = time.perf_counter() - started  # allow-real-clock
    if trace_path:
        with open(trace_path, "w", encoding="utf-8") as f:
            f.write("\n".join(result.trace) + "\n")
    if history_path:
        with open(history_path, "w", encoding="utf-8") as f:
            for op in result.history:
                f.write(json.dumps(op, sort_keys=True) + "\n")
    click.echo(f"run: {cfg.command()}")
    click.echo(f"faults: {faults.describe()}")
    s = result.stats
    click.echo(f"writes: {s['writes']} ({s['writes_acknowledged']} acknowledged, "
               f"{s['writes_indeterminate']} indeterminate); reads: {s['reads']} "
               f"({s['reads_ok']} answered); fault actions: {s['fault_actions']}")
    click.echo(f"simulated {s['simulated_s']:.1f} s in {elapsed:.2f} s; final phase "
               f"{s['final_phase_s']:.1f} s; final values: "
               + ", ".join(f"k{k}={v}" for k, v in sorted(result.final.items())))
    for v in result.verdicts:
        note = f": {v.note}" if v.note else ""
        verdict = ("ok" + (f" ({v.note})" if v.note else "")) if v.ok \
            else f"FAIL ({len(v.details)}{note})"
        click.echo(f"{v.checker}: {verdict}")
        for line in v.details[:20]:
            click.echo(f"  {line}")
        if len(v.details) > 20:
            click.echo(f"  ... and {len(v.details) - 20} more")
    if trace_path:
        click.echo(f"trace: {trace_path} ({len(result.trace)} lines)")
    sys.exit(0 if result.ok else 1)


@lab.command("swarm")
@click.option("--seeds", type=click.IntRange(1, 1_000_000), required=True,
              help="How many seeds to run.")
@click.option("--first-seed", type=int, default=0, show_default=True)
@click.option("--policy", type=click.Choice(TIMESTAMP_POLICIES), default="hlc",
              show_default=True)
@click.option("--nodes", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option("--duration-s", type=click.IntRange(1, 600), default=15, show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes.")
@click.option("--commit-wait", is_flag=True, help="Every node runs with --commit-wait.")
@click.option("--no-restamp", is_flag=True,
              help="Every node runs with --no-restamp: shows what restamping prevents.")
@click.option("--fault-profile", type=click.Choice(FAULT_PROFILES), default="all",
              show_default=True,
              help="steady-clocks: clock offsets of any size from boot and drift within 200 "
                   "ppm, no steps, leap second, strobe or fix; all: every fault; topology: "
                   "every fault, with topology changes and repairs always drawn.")
@_dataclass_options(WorkloadSpec)
def lab_swarm(seeds: int, first_seed: int, policy: str, nodes: int, duration_s: int,
              jobs: int, commit_wait: bool, no_restamp: bool, fault_profile: str,
              **kwargs: Any) -> None:
    """Run SEEDS seeds, each with faults drawn from it; print every failing seed with the
    command that reproduces it. Exit status 1 if any seed fails."""
    from skewless.lab.swarm import swarm

    _quiet_logs()
    workload = _pick(WorkloadSpec, kwargs)
    started = time.perf_counter()  # allow-real-clock

    def elapsed() -> float:
        return time.perf_counter() - started  # allow-real-clock
    failed = swarm(seeds, first_seed, policy, nodes, duration_s, workload, jobs, click.echo,
                   commit_wait, fault_profile, elapsed, no_restamp)
    sys.exit(1 if failed else 0)


def _register() -> None:
    """The scenario replays (``list``, ``scenario``) and the real-process runner (``real``)."""
    from skewless.lab.real import real_command
    from skewless.lab.scenario_cli import list_command, scenario_command

    lab.add_command(list_command, "list")
    lab.add_command(scenario_command, "scenario")
    lab.add_command(real_command, "real")


_register()
