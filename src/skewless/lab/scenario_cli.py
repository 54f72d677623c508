"""``skewless lab list`` and ``skewless lab scenario NAME``: the seeds' anomalies, replayed.

Two plain click commands (``list_command``, ``scenario_command``); the ``skewless lab`` group
registers them. Output goes through rich at a fixed width, so it is the same for a given seed
wherever it runs.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skewless.lab.scenario_catalog import describe, run_scenario, scenario_names
from skewless.lab.scenarios import (
    POLICIES,
    Run,
    ScenarioResult,
)

WIDTH = 160  # fixed: the output must not depend on the terminal
POLICY_LABELS = {"wallclock": "wallclock (Cassandra-style: the coordinator's raw clock)",
                 "hlc": "hlc (Skewless's default)"}


@click.command("list")
def list_command() -> None:
    """Name the scenarios, one line each."""
    for name in scenario_names():
        s = describe(name)
        click.echo(f"{name:<20} {s.description} ({s.source})")


@click.command("scenario")
@click.argument("name", type=click.Choice(scenario_names()))
@click.option("--seed", type=int, default=1, show_default=True,
              help="Simulator seed: the same seed gives the same output.")
@click.option("--policy", "policies", type=click.Choice(POLICIES), multiple=True,
              help="Timestamp policy to run (repeatable); default: wallclock and hlc.")
def scenario_command(name: str, seed: int, policies: tuple[str, ...]) -> None:
    """Replay the anomaly NAME step by step, one table per timestamp policy."""
    result = run_scenario(name, seed, policies or POLICIES)
    print_result(result, Console(width=WIDTH, soft_wrap=False, highlight=False))


def print_result(result: ScenarioResult, console: Console) -> None:
    console.print(f"[bold]{result.name}[/bold]: {result.description} (seed {result.seed})")
    for policy in dict.fromkeys(r.policy for r in result.runs):
        console.print()
        console.print(f"[bold]== {POLICY_LABELS.get(policy, policy)} ==[/bold]")
        for run in result.runs_of(policy):
            console.print(_table(run))
            mark = "kept" if not run.lost else "LOST, client warned" if run.loud else "LOST"
            console.print(f"verdict ({policy}) [{mark}]: {run.verdict}", markup=False)


def _table(run: Run) -> Table:
    table = Table(title=run.title, title_justify="left", show_lines=False)
    for header, justify in (("Step", "right"), ("Time (real)", "right"), ("Who", "left"),
                            ("Node", "left"), ("Event", "left"), ("Stamped (µs)", "right"),
                            ("Result", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for i, s in enumerate(run.steps, 1):
        stamped = "-" if s.stamped_us is None else f"{s.stamped_us:,}"
        table.add_row(str(i), f"t={s.t_ms}ms", escape(s.actor), escape(s.node),
                      escape(s.event), stamped, escape(s.result))  # "[applied]" is no markup
    return table
