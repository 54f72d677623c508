"""The ``skewless stress`` command line (the runner is imported only when a run starts)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

from skewless import limits
from skewless.security.client import ClientSecurity, client_options
from skewless.stress.options import (
    CONSISTENCY_LEVELS,
    KEY_DISTRIBUTIONS,
    KEYSPACE,
    WORKLOADS,
    StressOptions,
    build_options,
)

SUMMARY_WIDTH_COLUMNS_MIN = 110  # columns the summary table needs without folding a cell


@click.command("stress")
@click.argument("workload", type=click.Choice(WORKLOADS))
@click.option("--ops", "-n", type=click.IntRange(1, limits.stress_ops_max), default=None,
              help="Operations to run [default: 10000, or no count bound with --duration].")
@click.option("--duration", default=None, metavar="TIME",
              help=f"Run for TIME (30s, 2m, 1h; at most {limits.stress_run_s_max} s).")
@click.option("--keys", "-k", type=click.IntRange(1, 2**63 - 1), default=None,
              help="Key population 0..K-1 [default: --ops, at most "
                   f"{limits.stress_keys_default_max:,}].")
@click.option("--ratio", default=None, metavar="write=W,read=R",
              help="Mix of the mixed workload [default: write=1,read=1].")
@click.option("--concurrency", "-c", type=click.IntRange(1, limits.stress_concurrency_max),
              default=64, show_default=True, help="Requests in flight.")
@click.option("--consistency", "--cl", default="QUORUM", show_default=True,
              type=click.Choice(CONSISTENCY_LEVELS, case_sensitive=False))
@click.option("--value-size", type=click.IntRange(0, limits.stress_value_bytes_max), default=100,
              show_default=True, help="Bytes per value.")
@click.option("--replication-factor", "--rf",
              type=click.IntRange(1, limits.stress_replication_factor_max), default=3,
              show_default=True, help=f"RF of the {KEYSPACE} keyspace when it is created.")
@click.option("--hosts", default="127.0.0.1", show_default=True,
              help="Comma-separated contact points.")
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@click.option("--key-dist", type=click.Choice(KEY_DISTRIBUTIONS), default=None,
              help="Keys in order or uniformly at random [default: seq for write, else uniform].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the uniform keys.")
@click.option("--token-aware/--no-token-aware", default=True, show_default=True,
              help="Send each request to a replica of its key.")
@click.option("--timestamps", type=click.Choice(["client", "server"]), default="client",
              show_default=True,
              help="Who stamps writes: the driver's clock (its default) or the coordinators.")
@click.option("--json", "json_path", default=None, metavar="FILE",
              help="Also write the report as JSON to FILE ('-': stdout, the rest to stderr).")
@client_options
def stress(workload: str, json_path: str | None, client: ClientSecurity, **kwargs: Any) -> None:
    """Load a serving cluster with WORKLOAD (write, read or mixed) through the stock driver.

    Prints a progress display while it runs, then ops/s and latency percentiles per operation
    type. Exits 1 when any operation failed or was left unanswered (after the full report).
    --ssl (with --ssl-certfile or SSL_CERTFILE) connects with TLS, -u/-p with a password.
    """
    try:
        options = build_options(workload, client=client, **kwargs)
    except ValueError as e:
        option, _, message = str(e).partition(": ")
        raise click.BadParameter(message, param_hint=option) from None
    console = Console(stderr=json_path == "-")
    if not console.is_terminal:  # a pipe or file: room for the whole table, not 80 columns
        console.width = max(console.width, SUMMARY_WIDTH_COLUMNS_MIN)
    doc = _run(options, console)
    from skewless.stress.report import heading, notes, summary_table

    console.print(heading(doc), style="bold", highlight=False)
    console.print(summary_table(doc))
    for line in notes(doc):
        console.print(line, highlight=False)
    if json_path is not None:
        text = json.dumps(doc, indent=2) + "\n"
        if json_path == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(text)
    if doc["total"]["errors"] or doc["unfinished"] or doc["stopped_by"] == "interrupt":
        sys.exit(1)


def _run(options: StressOptions, console: Console) -> dict[str, Any]:
    from cassandra.cluster import NoHostAvailable

    from skewless.stress.runner import run

    try:
        return run(options, console)
    except NoHostAvailable as e:
        raise click.ClickException(
            f"cannot reach a node at {','.join(options.hosts)}:{options.port}: {e}") from None
