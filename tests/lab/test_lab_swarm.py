"""`skewless lab swarm`: seeds with faults drawn from each; failing seeds are reproducible.

With every fault drawn (clock offsets, drift, steps, leap seconds, strobes and fixes; network
and process faults), Cassandra's wallclock stamping loses acknowledged writes and Skewless's
default does not, on the same 30 seeds. A failing seed's printed command, run in a new process,
fails the same way."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from skewless.cli import main
from skewless.lab.options import FaultPlan, draw_plan

pytestmark = pytest.mark.timeout(600)

SEEDS = "30"  # the default mix now draws topology changes too: each seed runs longer


def _swarm(policy: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, ["lab", "swarm", "--seeds", SEEDS, "--policy", policy,
                                    "--fault-profile", "all", "--duration-s", "8"])
    return out.exit_code, out.output


def test_wallclock_loses_writes_hlc_does_not() -> None:
    code, wallclock = _swarm("wallclock")
    lines = wallclock.strip().splitlines()
    assert code == 1, wallclock
    assert lines[-1].startswith("violations: ") and lines[-1].endswith(f" of {SEEDS} seeds")
    lost_seeds = int(lines[-1].split()[1])
    assert lost_seeds > 0
    code, hlc = _swarm("hlc")
    assert code == 0, hlc
    assert hlc.strip().splitlines()[-1] == f"violations: 0 of {SEEDS} seeds"
    print(f"\nwallclock: {lines[-1]}; hlc: {hlc.strip().splitlines()[-1]}")


def test_printed_command_reproduces_the_failure() -> None:
    out = CliRunner().invoke(main, ["lab", "swarm", "--seeds", "6", "--first-seed", "100",
                                    "--policy", "wallclock"])
    lines = out.output.splitlines()
    commands = [ln.split("reproduce: ", 1)[1] for ln in lines if "reproduce: " in ln]
    assert commands, out.output
    command = commands[0]
    seed = command.split("--seed ")[1].split()[0]
    swarm_lines = _verdict_lines(lines[lines.index(f"seed {seed}: FAIL"):])
    argv = shlex.split(command)
    assert argv[:3] == ["skewless", "lab", "run"]
    again = subprocess.run([sys.executable, "-m", "skewless", *argv[1:]], capture_output=True,
                           text=True, timeout=120, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"run: {command}" in again.stdout
    for line in swarm_lines:  # the violations the swarm printed, found again
        assert line.strip() in again.stdout, (line, again.stdout)


def _verdict_lines(lines: list[str]) -> list[str]:
    out = []
    for ln in lines[1:]:
        if ln.startswith("  reproduce: "):
            break
        if ln.startswith("    ") and not ln.strip().startswith("..."):
            out.append(ln)
    return out


def test_plans_are_drawn_from_the_seed() -> None:
    plans = [draw_plan(s) for s in range(200)]
    assert plans == [draw_plan(s) for s in range(200)]
    assert len(set(plans)) > 150
    assert any(p.leap_second for p in plans) and any(p.crashes for p in plans)
    steady = [draw_plan(s, "steady-clocks") for s in range(200)]
    assert not any(p.leap_second or p.clock_steps or p.strobe_ms or p.clock_fix
                   for p in steady)
    assert all(p.clock_drift_ppm <= 200 for p in steady)
    assert FaultPlan().options() == []
