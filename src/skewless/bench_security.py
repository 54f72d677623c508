"""``python -m skewless.bench_security``: what security costs, measured side by side in one run.

It starts one local 3-node cluster per configuration (node i on 127.0.0.i, each cluster on its
own ports from ``--base-port``), all running for the whole run, and measures QUORUM write
throughput with ``skewless stress`` (RF=3, 100-byte values, ``--duration`` seconds per run, the
stock driver, token-aware) against each in turn, for ``--rounds`` rounds. The order of the
configurations rotates from round to round, so that none always runs first or last on a noisy
machine. It prints every round's ops/s and p99 per configuration (and its ratio to the first
configuration in that round), then the median of the rounds, the ratio of the medians and the
median of the per-round ratios (the runs of one round follow each other, so a slow drift in
the machine's other load mostly cancels in them). Throughput on a shared machine moves with its
other load; the CPU time the nodes and the client spend per write (from /proc and getrusage)
moves much less, and is printed too.

Configurations (``--configs``, the first is the baseline the others are compared with):

- ``none``: no TLS, no internode authentication (``AllowAllInternodeAuthenticator``);
- ``auth``: internode authentication only (shared-secret handshake and a MAC on every frame);
- ``client-tls``: client TLS only (the stress client connects with ``--ssl``);
- ``auth+client-tls``: both (the default comparison: what a secure cluster costs);
- ``auth+client-tls+internode-tls``: both, and internode mutual TLS
  (``internode_encryption: all``, endpoint verification).

A warm-up run (``--warmup`` seconds, not counted) against each cluster first creates the
keyspace and warms the connections. Nothing is asserted: the numbers are for the machine at
hand. Every cluster it starts is stopped by pid when it ends, and its data removed. Every step
is bounded: the stress runs by ``--duration`` plus ``STRESS_SLACK_S``, the starts by
``limits.cluster_start_wait_ms`` and ``GOSSIP_WAIT_S``.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

from skewless import limits
from skewless.config import NodeConfig
from skewless.runtime import cluster as local
from skewless.runtime.cluster import NodeProcess, node_address, start_local_cluster, stop_nodes
from skewless.security import certs
from skewless.security.client import ClientSecurity

NODES = 3
STRESS_SLACK_S = 90  # connect, schema agreement and drain on top of a run's duration
GOSSIP_WAIT_S = 60  # until node 1 sees every node up
POLL_S = 0.5  # between two looks at node 1's view while waiting
DURATION_S_MAX = 600  # one measured run; longer is a soak test
ROUNDS_MAX = 20

# --- internode authentication: the one place its options are passed --------------------------
# Internode authentication (branch sec-internode, issue 12) adds the node options
# --internode-authenticator (SharedSecretInternodeAuthenticator, its default, or
# AllowAllInternodeAuthenticator: off) and --internode-secret-file (a file the local cluster
# helpers make in the cluster's directory, runtime.cluster.ensure_cluster_secret). In a build
# without it, nodes have no internode authentication at all: the configurations that ask for it
# then run without it and the report says so.
INTERNODE_AUTH_AVAILABLE = "internode_authenticator" in {f.name for f in fields(NodeConfig)}


def internode_auth_args(enabled: bool, cluster_dir: Path) -> list[str]:
    if not INTERNODE_AUTH_AVAILABLE:
        return []
    if not enabled:
        return ["--internode-authenticator", "AllowAllInternodeAuthenticator"]
    args = ["--internode-authenticator", "SharedSecretInternodeAuthenticator"]
    ensure_secret = getattr(local, "ensure_cluster_secret", None)
    if ensure_secret is not None:
        args += ["--internode-secret-file", str(ensure_secret(cluster_dir))]
    return args
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    internode_auth: bool
    client_tls: bool
    internode_tls: bool

    def describe(self) -> str:
        auth = ("shared-secret handshake + frame MACs" if INTERNODE_AUTH_AVAILABLE
                else "NOT IN THIS BUILD (runs without)") if self.internode_auth else "off"
        return (f"internode auth {auth}; client TLS {'on' if self.client_tls else 'off'}; "
                f"internode TLS {'all (mutual)' if self.internode_tls else 'off'}")


SETUPS = {
    "none": Setup(False, False, False),
    "auth": Setup(True, False, False),
    "client-tls": Setup(False, True, False),
    "auth+client-tls": Setup(True, True, False),
    "auth+client-tls+internode-tls": Setup(True, True, True),
}
DEFAULT_CONFIGS = "none,auth+client-tls,auth+client-tls+internode-tls"


def node_args(setup: Setup, files: certs.CertFiles, index: int, cluster_dir: Path) -> list[str]:
    keystore, ca = str(files.node_keystores[node_address(index)]), str(files.ca_cert)
    args = internode_auth_args(setup.internode_auth, cluster_dir)
    if setup.client_tls:
        args += ["--client-encryption-enabled", "--client-encryption-keystore", keystore,
                 "--client-encryption-truststore", ca]
    if setup.internode_tls:
        args += ["--internode-encryption", "all", "--server-encryption-keystore", keystore,
                 "--server-encryption-truststore", ca, "--server-encryption-require-client-auth",
                 "--server-encryption-require-endpoint-verification"]
    return args


def client_for(setup: Setup, files: certs.CertFiles) -> ClientSecurity:
    return ClientSecurity(ssl=True, certfile=str(files.ca_cert)) if setup.client_tls \
        else ClientSecurity()


def wait_all_up(port: int, client: ClientSecurity) -> None:
    """Until node 1 sees every node up (bounded by GOSSIP_WAIT_S)."""
    from skewless.clocks_view import fetch_status

    deadline = time.monotonic() + GOSSIP_WAIT_S  # allow-real-clock
    seen = 0
    while time.monotonic() < deadline:  # allow-real-clock
        try:
            seen = sum(1 for r in fetch_status(node_address(1), port, client=client) if r.up)
        except click.ClickException:
            seen = 0
        if seen >= NODES:
            return
        time.sleep(POLL_S)  # allow-real-clock
    raise click.ClickException(f"the cluster on port {port}: node 1 sees {seen} of {NODES} "
                               f"nodes up after {GOSSIP_WAIT_S} s")


def stress_args(port: int, duration_s: float, concurrency: int, client: ClientSecurity
                ) -> list[str]:
    args = [sys.executable, "-m", "skewless.cli", "stress", "write", "--duration",
            f"{duration_s:g}s", "--consistency", "QUORUM", "--replication-factor", str(NODES),
            "--value-size", "100", "--concurrency", str(concurrency),
            "--hosts", ",".join(node_address(i) for i in range(1, NODES + 1)),
            "--port", str(port), "--json", "-"]
    if client.ssl:
        args += ["--ssl", "--ssl-certfile", client.certfile]
    return args


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used (Linux /proc; 0 without)."""
    total = 0
    for pid in pids:
        try:
            fields_ = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields_[11]) + int(fields_[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stress(port: int, duration_s: float, concurrency: int, client: ClientSecurity,
               node_pids: list[int]) -> dict[str, Any]:
    """One run's numbers: ops_per_s, p99_ms, errors, the CPU the nodes and the stress client
    used per operation (µs), or ``failed`` when it gave no report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_")}
    nodes_before, client_before = cpu_seconds(node_pids), _children_cpu_s()
    try:
        out = subprocess.run(stress_args(port, duration_s, concurrency, client),
                             capture_output=True, text=True, env=env,
                             timeout=duration_s + STRESS_SLACK_S)
    except subprocess.TimeoutExpired:
        return {"failed": f"no report within {duration_s + STRESS_SLACK_S:g} s"}
    nodes_cpu = cpu_seconds(node_pids) - nodes_before
    client_cpu = _children_cpu_s() - client_before
    if not out.stdout.strip():
        tail = " ".join(out.stderr.strip().splitlines()[-2:])[:200]
        return {"failed": f"exit {out.returncode}: {tail}"}
    total = json.loads(out.stdout)["total"]
    ops = max(1, int(total["ops"]))
    return {"ops_per_s": float(total["ops_per_s"]), "p99_ms": float(total["p99_ms"] or 0),
            "errors": int(total["errors"]), "ops": int(total["ops"]),
            "node_cpu_us": nodes_cpu / ops * 1e6, "client_cpu_us": client_cpu / ops * 1e6}


def rotated(names: list[str], round_index: int) -> list[str]:
    k = round_index % len(names)
    return names[k:] + names[:k]


def _cell(result: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "failed" in result:
        return f"{'failed':>26}"
    ratio = ""
    if base is not None and base.get("ops_per_s"):
        ratio = f" x{result['ops_per_s'] / base['ops_per_s']:.2f}"
    return f"{result['ops_per_s']:7.0f} p99 {result['p99_ms']:5.1f}ms{ratio:>6}"


def _cpu_cell(cpu: dict[str, float], name: str, baseline: str) -> str:
    if name not in cpu:
        return "?"
    ratio = f" x{cpu[name] / cpu[baseline]:.2f}" if cpu.get(baseline) else ""
    return f"{cpu[name]:6.0f} us/op{ratio}"


def report(names: list[str], rounds: list[dict[str, dict[str, Any]]],
           orders: list[list[str]]) -> list[str]:
    """The table: one line per round, then medians and their ratio to the first config."""
    width = max(28, *(len(n) + 2 for n in names))
    lines = ["round  " + "".join(f"{n:>{width}}" for n in names) + "   order"]
    for i, (results, order) in enumerate(zip(rounds, orders, strict=True), 1):
        base = results.get(names[0])
        cells = "".join(f"{_cell(results[n], None if n == names[0] else base):>{width}}"
                        for n in names)
        lines.append(f"{i:>5}  {cells}   {', '.join(order)}")
    medians: dict[str, float] = {}
    p99s: dict[str, float] = {}
    for n in names:
        ok = [r[n] for r in rounds if "failed" not in r[n]]
        if ok:
            medians[n] = statistics.median(x["ops_per_s"] for x in ok)
            p99s[n] = statistics.median(x["p99_ms"] for x in ok)
    lines.append("median " + "".join(
        f"{(f'{medians[n]:7.0f} p99 {p99s[n]:5.1f}ms' if n in medians else 'no run'):>{width}}"
        for n in names))
    baseline = medians.get(names[0])
    lines.append("ratio  " + "".join(
        f"{(f'{medians[n] / baseline:.3f}' if baseline and n in medians else '?'):>{width}}"
        for n in names) + f"   (median ops/s / median ops/s of {names[0]})")
    paired = {n: [r[n]["ops_per_s"] / r[names[0]]["ops_per_s"] for r in rounds
                  if "failed" not in r[n] and r[names[0]].get("ops_per_s")] for n in names}
    lines.append("paired " + "".join(
        f"{(f'{statistics.median(paired[n]):.3f}' if paired[n] else '?'):>{width}}"
        for n in names) + f"   (median of the rounds' ratios to {names[0]})")
    for key, label in (("node_cpu_us", "nodes"), ("client_cpu_us", "client")):
        cpu = {n: statistics.median(r[n][key] for r in rounds if "failed" not in r[n])
               for n in names if any("failed" not in r[n] for r in rounds)}
        lines.append(f"{label:7}" + "".join(f"{_cpu_cell(cpu, n, names[0]):>{width}}"
                                            for n in names)
                     + f"   (CPU per write, median of the rounds: {label} user + system "
                       "time / ops)")
    errors = {n: sum(r[n].get("errors", 0) for r in rounds) for n in names}
    failed = {n: sum(1 for r in rounds if "failed" in r[n]) for n in names}
    lines.append("errors " + "".join(f"{f'{errors[n]} ops, {failed[n]} runs failed':>{width}}"
                                     for n in names))
    return lines


@click.command()
@click.option("--configs", default=DEFAULT_CONFIGS, show_default=True,
              help=f"Comma-separated, the first is the baseline; of: {', '.join(SETUPS)}.")
@click.option("--rounds", type=click.IntRange(1, ROUNDS_MAX), default=5, show_default=True)
@click.option("--duration", "duration_s", type=click.FloatRange(0.5, DURATION_S_MAX),
              default=10.0, show_default=True, help="Seconds of each measured stress run.")
@click.option("--warmup", "warmup_s", type=click.FloatRange(0.5, DURATION_S_MAX), default=3.0,
              show_default=True, help="Seconds of the uncounted first run per cluster.")
@click.option("--concurrency", type=click.IntRange(1, limits.stress_concurrency_max),
              default=64, show_default=True)
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29900,
              show_default=True, help="Cluster k's CQL port is BASE+k, internode BASE-2000+k.")
def main(configs: str, rounds: int, duration_s: float, warmup_s: float, concurrency: int,
         base_port: int) -> None:
    """Measure QUORUM write throughput with and without security, side by side."""
    names = [n.strip() for n in configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown or not names or len(set(names)) != len(names):
        raise click.BadParameter(f"name distinct configurations of: {', '.join(SETUPS)}",
                                 param_hint="--configs")
    root = Path(tempfile.mkdtemp(prefix="skewless-bench-security-"))
    started: list[list[NodeProcess]] = []
    try:
        files = certs.generate(root / "certs", tuple(node_address(i)
                                                     for i in range(1, NODES + 1)),
                               datetime.datetime.now(datetime.UTC))  # allow-real-clock
        ports: dict[str, int] = {}
        clients: dict[str, ClientSecurity] = {}
        for k, name in enumerate(names):
            setup, cluster_dir = SETUPS[name], root / f"c{k}"
            ports[name], clients[name] = base_port + k, client_for(SETUPS[name], files)
            started.append(start_local_cluster(
                NODES, cluster_dir, [node_args(setup, files, i, cluster_dir)
                                     for i in range(1, NODES + 1)],
                cql_port=ports[name], internode_port=base_port - 2000 + k))
        for name in names:
            wait_all_up(ports[name], clients[name])
        pids = {name: [p.pid for p in nodes] for name, nodes in zip(names, started, strict=True)}
        _measure(names, ports, clients, pids, rounds, duration_s, warmup_s, concurrency)
    except local.ClusterStartError as e:
        raise click.ClickException(f"{e.message}\n{e.log_tail}") from None
    finally:
        for nodes in started:
            stop_nodes(nodes, limits.cluster_stop_grace_ms / 1000)
        shutil.rmtree(root, ignore_errors=True)


def _measure(names: list[str], ports: dict[str, int], clients: dict[str, ClientSecurity],
             pids: dict[str, list[int]], rounds: int, duration_s: float, warmup_s: float,
             concurrency: int) -> None:
    click.echo(f"bench_security: skewless stress write, QUORUM, RF={NODES}, 100-byte values, "
               f"concurrency {concurrency}, {duration_s:g} s per run, {rounds} rounds "
               f"(order rotated), {NODES}-node local clusters on {os.cpu_count()} cores, "
               f"all {len(names)} running throughout")
    for name in names:
        click.echo(f"  {name:30} {SETUPS[name].describe()}")
    for name in names:
        warm = run_stress(ports[name], warmup_s, concurrency, clients[name], pids[name])
        if "failed" in warm:
            raise click.ClickException(f"warm-up against {name} failed: {warm['failed']}")
    results: list[dict[str, dict[str, Any]]] = []
    orders: list[list[str]] = []
    for r in range(rounds):
        order = rotated(names, r)
        orders.append(order)
        results.append({n: run_stress(ports[n], duration_s, concurrency, clients[n], pids[n])
                        for n in order})
        click.echo(f"  round {r + 1}/{rounds} done", err=True)
    for line in report(names, results, orders):
        click.echo(line)


if __name__ == "__main__":
    main()
