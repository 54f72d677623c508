"""``python -m skewless.bench_etcd`` (also ``skewless bench etcd``): Skewless beside etcd.

It starts 3 Skewless nodes (``skewless.runtime.cluster``: node i on 127.0.0.i, RF=3 keyspace,
the batch commit log, ``--timestamp-policy`` hlc unless told) and 3 etcd members on 127.0.0.1
(each in its own temporary directory and ports), preloads ``--read-keys`` keys into both, then
alternates the two systems in rounds: for each round, for each kind (writes, reads, one write
at a time), each system runs ``--seconds`` of it (after ``--warmup`` unmeasured seconds), the
order of the two systems swapped every other round. Each client runs in a process of its own
(one cassandra-driver process for Skewless; aetcd with one client per endpoint for etcd), so
its CPU per operation is its own. Each round prints throughput, p50/p99 latency, the servers'
CPU per operation (utime + stime of the 3 server processes, from /proc) and the client's; the
end prints each side's medians and their ratios.

``--against wallclock`` compares instead the Skewless cluster under ``--timestamp-policy``
(hlc by default) with a second Skewless cluster under ``wallclock``, side by side in the same
alternation: what the default clock safety costs. etcd is then not needed.

Prerequisites, installed on demand: etcd (when ``etcd`` is not on PATH and we are root,
Debian's ``etcd-server`` with apt-get; otherwise a message says what to install) and the aetcd
client, pinned (``AETCD_REQUIREMENTS``, the same pins as pyproject.toml's ``bench`` extra), into
this Python's environment with pip. A missing prerequisite that cannot be installed ends the
command with exit code ``EXIT_MISSING`` and a message.

Nothing is asserted: the numbers are the machine's. Every wait is bounded; every process
started is stopped by its pid and the temporary directories are removed at the end.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from skewless import limits
from skewless.bench_etcd_clients import KINDS, RoundResult, RoundSpec, run_round
from skewless.bench_support import connect_driver, now_s, wait_all_up
from skewless.runtime.cluster import (
    ClusterStartError,
    NodeProcess,
    node_address,
    start_local_cluster,
    stop_nodes,
)

NODES = 3
EXIT_MISSING = 3  # a prerequisite (etcd, aetcd) is missing and could not be installed
# The same pins as pyproject.toml's optional extra `bench` (a test checks they agree).
AETCD_REQUIREMENTS = ("aetcd==1.0.0", "grpcio==1.85.4", "protobuf==7.36.2")
ETCD_PACKAGE = "etcd-server"  # Debian's package of the etcd server (3.4 on Debian 12)
INSTALL_TIMEOUT_S = 600  # apt-get or pip, each
ETCD_READY_S = 60  # until every member answers /health
ROUND_TIMEOUT_S_EXTRA = 120  # a client process's connect, warm-up drain and slack
LOAD_TIMEOUT_S = 600  # preloading the read keys
STOP_GRACE_S = 10.0
KIND_TITLES = {"writes": "writes", "reads": "reads", "serial": "one-at-a-time writes"}


class Missing(Exception):
    """A prerequisite is missing and could not be installed (the message says what to do)."""


# ------------------------------------------------------------------ prerequisites


def ensure_etcd(echo: bool = True) -> str:
    """The path of the etcd binary, installing Debian's etcd-server when root and missing."""
    path = shutil.which("etcd")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Missing(f"etcd is not on PATH; install it (Debian: apt-get install {ETCD_PACKAGE}"
                      ") or run this command as root to have it installed")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if echo:
        click.echo(f"etcd is not on PATH: apt-get install -y {ETCD_PACKAGE}", err=True)
    install = ["apt-get", "install", "-y", "--no-install-recommends", ETCD_PACKAGE]
    if _run(install, env).returncode != 0:  # perhaps no package lists yet
        _run(["apt-get", "update"], env)
        done = _run(install, env)
        if done.returncode != 0:
            raise Missing(f"apt-get install {ETCD_PACKAGE} failed:\n{done.stdout[-2000:]}")
    path = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)
    if path is None:
        raise Missing(f"{ETCD_PACKAGE} installed but no etcd binary on PATH")
    return path


def ensure_aetcd(echo: bool = True) -> None:
    """Import aetcd, installing the pinned requirements with pip first if it is missing."""
    try:
        importlib.import_module("aetcd")
        return
    except ImportError:
        pass
    if echo:
        click.echo(f"aetcd is missing: pip install {' '.join(AETCD_REQUIREMENTS)}", err=True)
    done = _run([sys.executable, "-m", "pip", "install", "-q", *AETCD_REQUIREMENTS], None)
    importlib.invalidate_caches()
    try:
        importlib.import_module("aetcd")
    except ImportError:
        raise Missing(f"could not install aetcd into {sys.prefix} (pip install "
                      f"'skewless[bench]' installs it):\n{done.stdout[-2000:]}") from None


def _run(argv: list[str], env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 1, f"{type(e).__name__}: {e}", "")


# ------------------------------------------------------------------ etcd members


@dataclass
class EtcdCluster:
    root: Path
    client_ports: tuple[int, ...]
    procs: list[subprocess.Popen[bytes]]

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(STOP_GRACE_S)


def start_etcd(binary: str, root: Path, base_port: int, members: int = NODES) -> EtcdCluster:
    """``members`` etcd members on 127.0.0.1 (client ports base.., peer ports base+10..);
    returns once every member reports itself healthy."""
    host = "127.0.0.1"
    client_ports = tuple(base_port + i for i in range(members))
    peer_ports = tuple(base_port + 10 + i for i in range(members))
    initial = ",".join(f"m{i + 1}=http://{host}:{p}" for i, p in enumerate(peer_ports))
    procs: list[subprocess.Popen[bytes]] = []
    cluster = EtcdCluster(root, client_ports, procs)
    try:
        for i in range(members):
            data = root / f"m{i + 1}"
            data.mkdir(parents=True)
            argv = [binary, "--name", f"m{i + 1}", "--data-dir", str(data),
                    "--listen-client-urls", f"http://{host}:{client_ports[i]}",
                    "--advertise-client-urls", f"http://{host}:{client_ports[i]}",
                    "--listen-peer-urls", f"http://{host}:{peer_ports[i]}",
                    "--initial-advertise-peer-urls", f"http://{host}:{peer_ports[i]}",
                    "--initial-cluster", initial, "--initial-cluster-state", "new",
                    "--initial-cluster-token", f"skewless-bench-{base_port}"]
            with (root / f"m{i + 1}.log").open("ab") as log:
                procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT,
                                              start_new_session=True))
        deadline = now_s() + ETCD_READY_S
        for i, port in enumerate(client_ports):
            while not _etcd_healthy(host, port):
                if procs[i].poll() is not None or now_s() > deadline:
                    tail = (root / f"m{i + 1}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"etcd member m{i + 1} not healthy:\n{tail}")
                time.sleep(0.2)  # allow-real-clock
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _etcd_healthy(host: str, port: int) -> bool:
    import urllib.request  # here: `skewless` (and every node) imports this module

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as r:
            return bool(json.loads(r.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------ sides and rounds


@dataclass
class Side:
    name: str  # as printed
    system: str  # "skewless" or "etcd"
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    pids: tuple[int, ...]

    def spec(self, kind: str, options: Options, seed: int) -> RoundSpec:
        return RoundSpec(self.system, kind, self.hosts, self.ports, self.pids, options.seconds,
                         options.warmup_s, options.concurrency, options.value_bytes,
                         options.read_keys, seed)


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    warmup_s: float
    kinds: tuple[str, ...]
    concurrency: int
    value_bytes: int
    read_keys: int


def start_skewless(root: Path, cql_port: int, internode_port: int, policy: str
                   ) -> tuple[list[NodeProcess], Side]:
    args = ["--timestamp-policy", policy, "--commitlog-sync", "batch"]
    nodes = start_local_cluster(NODES, root, [args] * NODES, cql_port=cql_port,
                                internode_port=internode_port)
    hosts = tuple(node_address(i) for i in range(1, NODES + 1))
    driver = connect_driver(hosts, cql_port)
    try:
        wait_all_up(driver.connect(), NODES)
    finally:
        driver.shutdown()
    side = Side(f"skewless/{policy}", "skewless", hosts, (cql_port,),
                tuple(n.pid for n in nodes))
    return nodes, side


def _in_child(pool: concurrent.futures.ProcessPoolExecutor, spec: RoundSpec,
              timeout_s: float) -> RoundResult:
    """The round, run in the side's client process; its failure ends the command."""
    try:
        return pool.submit(run_round, spec).result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise click.ClickException(f"{spec.system} {spec.kind}: no result within "
                                   f"{timeout_s:g} s") from None
    except Exception as e:  # the client's own failure (connecting, the schema): say which
        raise click.ClickException(f"{spec.system} {spec.kind} round failed: "
                                   f"{type(e).__name__}: {e}") from None


def round_line(round_no: int, kind: str, side: Side, r: RoundResult) -> str:
    errors = f"  errors {r.errors} ({r.error_kinds})" if r.errors else ""
    unfinished = f"  unfinished {r.unfinished}" if r.unfinished else ""
    return (f"round {round_no} {KIND_TITLES[kind]:21} {side.name:18} {r.per_s:8,.0f}/s  "
            f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  server CPU "
            f"{r.server_us_per_op:6,.0f} µs/op  client CPU {r.client_us_per_op:5,.0f} µs/op"
            f"{errors}{unfinished}")


def summary(results: dict[tuple[str, str], list[RoundResult]], sides: Sequence[Side],
            kinds: Sequence[str]) -> list[str]:
    """Medians per kind and side, and the first side's ratios to the second."""
    a, b = sides
    lines = [f"medians over the rounds ({a.name} against {b.name}):"]
    for kind in kinds:
        med: dict[str, dict[str, float]] = {}
        for side in sides:
            rs = results[(kind, side.name)]
            med[side.name] = {
                "per_s": statistics.median(r.per_s for r in rs),
                "p50": statistics.median(r.p50_ms for r in rs),
                "p99": statistics.median(r.p99_ms for r in rs),
                "server": statistics.median(r.server_us_per_op for r in rs),
                "client": statistics.median(r.client_us_per_op for r in rs)}
            m = med[side.name]
            lines.append(f"  {KIND_TITLES[kind]:21} {side.name:18} {m['per_s']:8,.0f}/s  "
                         f"p50 {m['p50']:7.2f} ms  p99 {m['p99']:7.2f} ms  server CPU "
                         f"{m['server']:6,.0f} µs/op  client CPU {m['client']:5,.0f} µs/op")
        ma, mb = med[a.name], med[b.name]
        lines.append(f"  {'':21} ratio {a.name} ÷ {b.name}: throughput "
                     f"{_ratio(ma['per_s'], mb['per_s'])}, p50 {_ratio(ma['p50'], mb['p50'])}, "
                     f"p99 {_ratio(ma['p99'], mb['p99'])}, server CPU/op "
                     f"{_ratio(ma['server'], mb['server'])}")
    return lines


def _ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}" if y > 0 and x == x and y == y else "n/a"


def run_bench(options: Options, sides: Sequence[Side]) -> list[str]:
    """Preload both sides, then the alternating rounds; returns the summary lines."""
    assert len(sides) == 2
    ctx = mp.get_context("spawn")
    round_timeout = options.seconds + options.warmup_s + ROUND_TIMEOUT_S_EXTRA
    results: dict[tuple[str, str], list[RoundResult]] = {
        (k, s.name): [] for k in options.kinds for s in sides}
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool_a, \
            concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool_b:
        pools = {sides[0].name: pool_a, sides[1].name: pool_b}
        for side in sides:  # the schema, and the keys for the reads
            r = _in_child(pools[side.name], side.spec("load", options, 1), LOAD_TIMEOUT_S)
            click.echo(f"preloaded {options.read_keys:,} keys into {side.name}: "
                       f"{r.per_s:,.0f}/s, {r.errors} errors")
        for round_no in range(1, options.rounds + 1):
            for kind in options.kinds:
                order = sides if round_no % 2 else list(reversed(sides))
                for side in order:
                    spec = side.spec(kind, options, 10 * round_no + KINDS.index(kind))
                    r = _in_child(pools[side.name], spec, round_timeout)
                    results[(kind, side.name)].append(r)
                    click.echo(round_line(round_no, kind, side, r))
    return summary(results, sides, options.kinds)


# ------------------------------------------------------------------ the command


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds or any(k not in KINDS for k in kinds):
        raise click.BadParameter(f"a comma-separated list of: {', '.join(KINDS)}",
                                 param_hint="--kinds")
    return kinds


@click.command()
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Rounds; each runs every kind on each side once.")
@click.option("--seconds", type=click.FloatRange(0.5, 600), default=15.0, show_default=True,
              help="Measured seconds of one kind on one side in one round.")
@click.option("--warmup", "warmup_s", type=click.FloatRange(0, 60), default=2.0,
              show_default=True, help="Unmeasured seconds before each measured window.")
@click.option("--kinds", default=",".join(KINDS), show_default=True,
              help="Comma-separated, of: writes, reads, serial (one write at a time).")
@click.option("--timestamp-policy", type=click.Choice(["hlc", "wallclock"]), default="hlc",
              show_default=True, help="The Skewless nodes' timestamp policy.")
@click.option("--against", type=click.Choice(["etcd", "wallclock"]), default="etcd",
              show_default=True,
              help="What Skewless runs beside: etcd, or Skewless under wallclock.")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Requests in flight (writes and reads).")
@click.option("--value-bytes", type=click.IntRange(1, 1_000_000), default=100,
              show_default=True)
@click.option("--read-keys", type=click.IntRange(1, 10_000_000), default=10_000,
              show_default=True, help="Keys preloaded for the reads.")
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29400,
              show_default=True,
              help="Skewless CQL port BASE (internode BASE-2000; a wallclock cluster BASE+1); "
                   "etcd client ports BASE+10.., peer ports BASE+20...")
def main(rounds: int, seconds: float, warmup_s: float, kinds: str, timestamp_policy: str,
         against: str, concurrency: int, value_bytes: int, read_keys: int,
         base_port: int) -> None:
    """Skewless against etcd (or against itself under wallclock), alternating rounds."""
    if against == "wallclock" and timestamp_policy == "wallclock":
        raise click.BadParameter("--against wallclock compares another policy with wallclock",
                                 param_hint="--timestamp-policy")
    options = Options(rounds, seconds, warmup_s, _kinds(kinds), concurrency, value_bytes,
                      read_keys)
    etcd_binary = ""
    try:
        if against == "etcd":
            etcd_binary = ensure_etcd()
            ensure_aetcd()
    except Missing as e:
        click.echo(f"bench_etcd: {e}", err=True)
        sys.exit(EXIT_MISSING)
    root = Path(tempfile.mkdtemp(prefix="skewless-bench-etcd-"))
    nodes: list[NodeProcess] = []
    etcd: EtcdCluster | None = None
    try:
        started, side_a = start_skewless(root / "skewless", base_port, base_port - 2000,
                                         timestamp_policy)
        nodes += started
        if against == "etcd":
            etcd = start_etcd(etcd_binary, root / "etcd", base_port + 10)
            side_b = Side("etcd", "etcd", ("127.0.0.1",) * NODES, etcd.client_ports, etcd.pids)
        else:
            started, side_b = start_skewless(root / "wallclock", base_port + 1, base_port - 1999,
                                             "wallclock")
            nodes += started
        click.echo(f"bench_etcd: {side_a.name} against {side_b.name}; {rounds} round(s) of "
                   f"{seconds:g} s per kind and side (after {warmup_s:g} s warm-up); "
                   f"{concurrency} in flight, {value_bytes}-byte values, RF=3, QUORUM, "
                   f"batch commit log; {os.cpu_count()} CPUs")
        for line in run_bench(options, (side_a, side_b)):
            click.echo(line)
    except ClusterStartError as e:
        raise click.ClickException(f"{e.message}\n{e.log_tail}") from None
    finally:
        stop_nodes(nodes, limits.cluster_stop_grace_ms / 1000)
        if etcd is not None:
            etcd.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
