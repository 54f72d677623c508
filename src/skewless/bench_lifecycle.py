"""``python -m skewless.bench_lifecycle``: grow, kill -9 and replace, shrink a loaded cluster
under load, repair it, and count what was lost.

It starts a local 3-node cluster (seed 127.0.0.1), loads ``--rows`` rows at replication factor
``--rf``, and starts ``--clients`` client processes that write new rows and read loaded ones at
QUORUM for the whole flow (each records every write the cluster acknowledged). Then, each phase
bounded by ``--phase-timeout-s``:

1. node 4 joins, then node 5 (each waited for until every node lists every node Up/Normal);
2. node 3 is killed with kill -9 and, once the others see it down, replaced by node 6 started
   with ``replace_address_first_boot=127.0.0.3``;
3. ``nodetool decommission`` on node 5, then on node 4 (5 -> 3 nodes); with ``--removenode``
   the second shrink is instead a kill -9 of node 4 and ``nodetool removenode <its host id>``;
4. the clients stop (every acknowledged write is now before the repair), then ``nodetool
   repair`` runs on each node left.

Then it checks every loaded row and every acknowledged write: through each node alone at ONE
(the coordinator reads itself first when it is a replica: the node's own data, counted for the
keys it replicates) and at QUORUM. It prints rows, acknowledged and failed writes (with their
errors), failed QUORUM reads per phase, what each change streamed, how long each phase took,
lost writes and rows invisible at ONE per replica; it exits 1 if anything was lost, invisible
or wrong, or a step failed.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args

from skewless.bench_join import CLIENT_KEY_BASE, ROWS_MAX, driver_session
from skewless.nodetool.parse import parse_status
from skewless.runtime.cluster import (
    NodeProcess,
    admin_port_for,
    node_address,
    node_argv,
    start_local_cluster,
    stop_nodes,
)

CLIENT_STOP_WAIT_S = 120  # a client that does not report this long after being stopped is stuck
POLL_S = 1.0  # between two nodetool status or log reads while waiting
KILLED, REPLACEMENT = 3, 6  # node 3 (not the seed) is killed; node 6 takes its place
RANGE_DONE = re.compile(r"complete: (\d+) partitions, (\d+) bytes \(\d+/\d+ ranges\)")
REPAIR_SUMMARY = re.compile(r"(\d+) partitions \((\d+) bytes\) streamed")


class StepFailed(Exception):
    """A step of the flow did not complete (the message says which and why)."""


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    streamed_partitions: int = 0
    streamed_bytes: int = 0
    note: str = ""


@dataclass
class Report:
    rows: int = 0
    phases: list[Phase] = field(default_factory=list)
    acked: int = 0
    writes_failed: Counter[str] = field(default_factory=Counter)  # phase -> failed writes
    write_errors: Counter[str] = field(default_factory=Counter)  # error kind -> count
    reads: Counter[str] = field(default_factory=Counter)  # phase -> QUORUM reads
    reads_failed: Counter[str] = field(default_factory=Counter)  # phase -> failed
    read_errors: Counter[str] = field(default_factory=Counter)
    lost_quorum: int = 0  # acknowledged writes or loaded rows absent (or another value) at QUORUM
    quorum_read_errors: str = ""
    invisible_at_one: dict[str, int] = field(default_factory=dict)  # node -> rows it lacks
    replicated_by: dict[str, int] = field(default_factory=dict)  # node -> rows it replicates
    one_read_errors: dict[str, str] = field(default_factory=dict)
    # node -> (loaded rows, acknowledged writes) it lacked alone at ONE before the repair: a
    # loaded row (written at ALL before any change) missing here is a streaming loss
    pre_repair_invisible: dict[str, tuple[int, int]] = field(default_factory=dict)
    pre_repair_errors: dict[str, str] = field(default_factory=dict)
    repair_streamed: dict[str, str] = field(default_factory=dict)  # node -> summary
    failure: str = ""

    @property
    def ok(self) -> bool:
        return (not self.failure and self.lost_quorum == 0 and not self.quorum_read_errors
                and all(loaded == 0 for loaded, _ in self.pre_repair_invisible.values())
                and all(v == 0 for v in self.invisible_at_one.values())
                and all(not v for v in self.one_read_errors.values()))


def _error_kind(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:100]}"


def _client(index: int, port: int, rows: int, phase: Any, stop: Any, out: Any) -> None:
    """A client process: alternately a QUORUM write of a new key and a QUORUM read of a loaded
    key, until ``stop``; counts per phase (``phase.value``); puts what it saw on ``out``."""
    cluster, s = driver_session(port)
    ins = s.prepare("INSERT INTO bench.t (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.QUORUM
    sel = s.prepare("SELECT v FROM bench.t WHERE k = ?")
    sel.consistency_level = ConsistencyLevel.QUORUM
    rng = random.Random(index)
    acked: list[int] = []
    counts: Counter[tuple[int, str]] = Counter()  # (phase, what) -> n
    errors: Counter[tuple[str, str]] = Counter()  # (write|read, kind) -> n
    n = 0
    while not stop.is_set():
        p = phase.value
        key = CLIENT_KEY_BASE + index * 10_000_000 + n
        n += 1
        try:
            s.execute(ins, (key, f"client-{key}"))
            acked.append(key)
        except Exception as e:  # noqa: BLE001 - a failed write is counted, not acknowledged
            counts[(p, "writes_failed")] += 1
            errors[("write", _error_kind(e))] += 1
        counts[(p, "reads")] += 1
        k = rng.randrange(rows)
        try:
            got = list(s.execute(sel, (k,)))
            if len(got) != 1 or got[0].v != f"row-{k:09d}":
                counts[(p, "reads_failed")] += 1
                errors[("read", f"wrong answer: {got!r}"[:100])] += 1
        except Exception as e:  # noqa: BLE001 - counted
            counts[(p, "reads_failed")] += 1
            errors[("read", _error_kind(e))] += 1
    cluster.shutdown()
    out.put((acked, dict(counts), dict(errors)))


class Flow:
    """The nodes and the bookkeeping of one run."""

    def __init__(self, root: Path, cql_port: int, internode_port: int, timeout_s: float,
                 echo: Callable[[str], None], node_args: Sequence[str] = ()) -> None:
        self.root = root
        self.node_args = list(node_args)
        self.cql_port = cql_port
        self.internode_port = internode_port
        self.timeout_s = timeout_s
        self.echo = echo
        self.procs: dict[int, NodeProcess] = {}
        self.log_offsets: dict[Path, int] = {}

    # ------------------------------------------------------------------ nodes

    def live(self) -> list[NodeProcess]:
        return [p for _, p in sorted(self.procs.items()) if p.running()]

    def start_node(self, index: int, extra: list[str] | None = None) -> NodeProcess:
        data = self.root / f"node{index}"
        p = NodeProcess(index=index, address=node_address(index), cql_port=self.cql_port,
                        data_dir=data,
                        argv=node_argv(index, data, seeds=[node_address(1)],
                                       cql_port=self.cql_port,
                                       internode_port=self.internode_port,
                                       extra_args=self.node_args + (extra or [])))
        self.procs[index] = p
        p.start()
        return p

    def nodetool(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "skewless.nodetool.cli", "-h", host, "-p",
                str(admin_port_for(self.internode_port)), *args]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as e:
            raise StepFailed(f"nodetool {' '.join(args)} on {host} did not return within "
                             f"{self.timeout_s:g} s") from e

    def wait_status(self, up: set[str], down: set[str] | None = None) -> None:
        """Until every live node's ``nodetool status`` lists exactly ``up`` as UN and ``down``
        as DN (bounded)."""
        deadline = time.monotonic() + self.timeout_s  # allow-real-clock
        seen = ""
        while time.monotonic() < deadline:  # allow-real-clock
            views = []
            for p in self.live():
                r = self.nodetool(p.address, "status")
                lines = parse_status(r.stdout) if r.returncode == 0 else []
                views.append({ln.address: ln.status + ln.state for ln in lines})
                seen = f"{p.address}: {r.stdout.strip() or r.stderr.strip()}"
            want = {a: "UN" for a in up} | {a: "DN" for a in down or ()}
            if views and all(v == want for v in views):
                return
            time.sleep(POLL_S)  # allow-real-clock
        raise StepFailed(f"the nodes did not all show {sorted(up)} up, {sorted(down or ())} down "
                         f"within {self.timeout_s:g} s; last view {seen}")

    def wait_log(self, p: NodeProcess, text: str) -> str:
        after = self.log_offsets.get(p.log_path, 0)
        deadline = time.monotonic() + self.timeout_s  # allow-real-clock
        while time.monotonic() < deadline:  # allow-real-clock
            log = p.log_path.read_text(errors="replace")[after:]
            if text in log:
                return log
            if not p.running():
                raise StepFailed(f"{p.address} exited:\n{p.log_tail()}")
            time.sleep(POLL_S)  # allow-real-clock
        raise StepFailed(f"{p.address} never logged {text!r} in {self.timeout_s:g} s:\n"
                         f"{p.log_tail()}")

    # ------------------------------------------------------------------ what moved

    def mark_logs(self) -> None:
        for p in self.procs.values():
            self.log_offsets[p.log_path] = _size(p.log_path)

    def streamed_since_mark(self) -> tuple[int, int]:
        """(partitions, bytes) of every stream range any node completed since ``mark_logs``."""
        partitions = nbytes = 0
        for p in self.procs.values():
            text = p.log_path.read_text(errors="replace")[self.log_offsets.get(p.log_path, 0):]
            for m in RANGE_DONE.finditer(text):
                partitions += int(m[1])
                nbytes += int(m[2])
        return partitions, nbytes

    def host_id(self, of: str, via: str) -> str:
        r = self.nodetool(via, "status")
        for ln in parse_status(r.stdout):
            if ln.address == of:
                return ln.host_id
        raise StepFailed(f"{via}'s nodetool status does not list {of}:\n{r.stdout}{r.stderr}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _expected(rows: int, acked: list[int]) -> dict[int, str]:
    out = {k: f"row-{k:09d}" for k in range(rows)}
    out.update((k, f"client-{k}") for k in acked)
    return out


def _check(port: int, address: str | None, expected: dict[int, str], cl: int
           ) -> tuple[int, list[int], str]:
    """Reads every expected key at ``cl`` (through ``address`` alone, or the whole cluster):
    (keys checked, keys absent or with another value, read errors). Through one node, only the
    keys that node replicates (the driver's token map) are checked: those it reads from
    itself."""
    cluster, s = driver_session(port, address)
    try:
        keys = list(expected)
        if address is not None:
            tm = cluster.metadata.token_map
            if tm is not None:
                keys = [k for k in keys if any(
                    h.address == address
                    for h in cluster.metadata.get_replicas("bench", struct.pack(">i", k)))]
        sel = s.prepare("SELECT v FROM bench.t WHERE k = ?")
        sel.consistency_level = cl
        res = execute_concurrent_with_args(s, sel, [(k,) for k in keys], concurrency=32,
                                           raise_on_first_error=False)
        errors: Counter[str] = Counter()
        bad: list[int] = []
        for k, (ok, r) in zip(keys, res, strict=True):
            if not ok:
                errors[type(r).__name__] += 1
                continue
            got = list(r)
            if not got or got[0].v != expected[k]:
                bad.append(k)
        return len(keys), bad, ", ".join(f"{n} {e}" for e, n in sorted(errors.items()))
    finally:
        cluster.shutdown()


def run(root: Path, rows: int, rf: int, clients: int, cql_port: int, internode_port: int,
        timeout_s: float, removenode: bool = False,
        echo: Callable[[str], None] = click.echo, node_args: Sequence[str] = ()) -> Report:
    """The whole flow; every node it started is stopped (by pid) before it returns.
    ``node_args`` are given to every node (e.g. ``--phi-convict-threshold 5``)."""
    report = Report(rows=rows)
    flow = Flow(root, cql_port, internode_port, timeout_s, echo, node_args)
    procs = start_local_cluster(3, root, [list(node_args)] * 3, cql_port=cql_port,
                                internode_port=internode_port)
    flow.procs.update((p.index, p) for p in procs)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    phase = ctx.Value("i", 0)
    out: Any = ctx.Queue()
    workers: list[Any] = []
    try:
        try:
            _flow(flow, report, rows, rf, clients, removenode, ctx, stop, phase, out, workers)
        except StepFailed as e:
            report.failure = str(e)
            echo(f"FAILED: {e}")
        finally:
            stop.set()
            for w in workers:
                w.join(CLIENT_STOP_WAIT_S)
                if w.is_alive():
                    w.kill()
    finally:
        stop_nodes(list(flow.procs.values()), 10.0)
    return report


def _flow(flow: Flow, report: Report, rows: int, rf: int, clients: int, removenode: bool,
          ctx: Any, stop: Any, phase: Any, out: Any, workers: list[Any]) -> None:
    echo = flow.echo
    port = flow.cql_port
    addrs = {node_address(i) for i in (1, 2, 3)}
    flow.wait_status(addrs)
    cluster, s = driver_session(port)
    s.execute("CREATE KEYSPACE bench WITH replication = "
              f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
    s.execute("CREATE TABLE bench.t (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO bench.t (k, v) VALUES (?, ?)")
    ins.consistency_level = ConsistencyLevel.ALL
    t0 = time.monotonic()  # allow-real-clock
    res = execute_concurrent_with_args(s, ins, [(k, f"row-{k:09d}") for k in range(rows)],
                                       concurrency=64, raise_on_first_error=False)
    cluster.shutdown()
    failed = sum(1 for ok, _ in res if not ok)
    if failed:
        raise StepFailed(f"the initial load failed for {failed} of {rows} rows")
    took = time.monotonic() - t0  # allow-real-clock
    echo(f"loaded {rows} rows at RF={rf} (ALL) in {took:.1f} s")

    names: list[str] = []
    phase_t0 = 0.0

    def begin(name: str) -> None:
        nonlocal phase_t0
        names.append(name)
        phase.value = len(names) - 1
        flow.mark_logs()
        phase_t0 = time.monotonic()  # allow-real-clock
        echo(f"-- {name}")

    def end(note: str = "") -> None:
        partitions, nbytes = flow.streamed_since_mark()
        took = time.monotonic() - phase_t0  # allow-real-clock
        ph = Phase(names[-1], took, partitions, nbytes, note)
        report.phases.append(ph)
        echo(f"   {ph.name}: {ph.seconds:.1f} s, streamed {partitions} partitions, "
             f"{nbytes} bytes{'; ' + note if note else ''}")

    begin("load only (3 nodes)")
    for i in range(clients):
        w = ctx.Process(target=_client, args=(i, port, rows, phase, stop, out))
        w.start()
        workers.append(w)
    time.sleep(3)  # allow-real-clock  (the clients connect and run on 3 nodes a while)
    end()

    for index in (4, 5):
        begin(f"join node {index}")
        p = flow.start_node(index)
        flow.wait_log(p, "is now NORMAL")
        addrs.add(p.address)
        flow.wait_status(addrs)
        end()

    begin(f"kill -9 node {KILLED}, wait until seen down")
    killed = flow.procs[KILLED]
    killed.kill9()
    addrs.discard(killed.address)
    flow.wait_status(addrs, {killed.address})
    end()

    begin(f"replace node {KILLED} by node {REPLACEMENT}")
    p = flow.start_node(REPLACEMENT, ["--replace-address-first-boot", killed.address])
    flow.wait_log(p, "is now NORMAL")
    addrs.add(p.address)
    flow.wait_status(addrs)
    end()

    for index in (5, 4):
        leaving = flow.procs[index]
        if removenode and index == 4:
            begin(f"kill -9 node {index}, removenode")
            host_id = flow.host_id(leaving.address, node_address(1))
            leaving.kill9()
            addrs.discard(leaving.address)
            flow.wait_status(addrs, {leaving.address})
            r = flow.nodetool(node_address(1), "removenode", host_id)
            if r.returncode != 0:
                raise StepFailed(f"nodetool removenode {host_id}: {r.stdout}{r.stderr}")
            addrs_now = set(addrs)
            flow.wait_status(addrs_now)
            end(f"removed {leaving.address} ({host_id})")
            continue
        begin(f"decommission node {index}")
        r = flow.nodetool(leaving.address, "decommission")
        if r.returncode != 0:
            raise StepFailed(f"nodetool decommission on {leaving.address}: {r.stdout}{r.stderr}")
        addrs.discard(leaving.address)
        leaving.terminate()  # LEFT: out of the ring; the process is stopped as an operator would
        flow.wait_status(addrs)
        end()

    stop.set()
    acked: list[int] = []
    counts: Counter[tuple[int, str]] = Counter()
    for _ in workers:
        try:
            a, c, errs = out.get(timeout=CLIENT_STOP_WAIT_S)
        except Exception as e:  # noqa: BLE001 - queue.Empty: a client did not report
            raise StepFailed(f"a client did not report within {CLIENT_STOP_WAIT_S} s") from e
        acked.extend(a)
        counts.update(c)
        for (what, kind), n in errs.items():
            (report.write_errors if what == "write" else report.read_errors)[kind] += n
    for (ph, what), n in counts.items():
        getattr(report, what)[names[ph]] += n
    report.acked = len(acked)

    expected = _expected(rows, acked)
    begin("check at ONE per replica before repair")
    for p in flow.live():
        _, bad, errors = _check(port, p.address, expected, ConsistencyLevel.ONE)
        loaded = sum(1 for k in bad if k < rows)
        report.pre_repair_invisible[p.address] = (loaded, len(bad) - loaded)
        if errors:
            report.pre_repair_errors[p.address] = errors
    end()

    begin("repair (load stopped)")
    for p in flow.live():
        r = flow.nodetool(p.address, "repair")
        summary = next((ln.split("] ", 1)[-1] for ln in r.stdout.splitlines()
                        if "Repair summary" in ln), "no summary")
        report.repair_streamed[p.address] = summary
        echo(f"   nodetool repair on {p.address}: exit {r.returncode}; {summary}")
        if r.returncode != 0:
            raise StepFailed(f"nodetool repair on {p.address}: {r.stdout[-2000:]}{r.stderr}")
    repaired = sum(int(m[1]) for v in report.repair_streamed.values()
                   for m in REPAIR_SUMMARY.finditer(v))
    end(f"repair streamed {repaired} partitions")

    begin("verify")
    for p in flow.live():  # ONE first: a QUORUM read could read-repair what a replica lacks
        checked, bad, errors = _check(port, p.address, expected, ConsistencyLevel.ONE)
        report.replicated_by[p.address] = checked
        report.invisible_at_one[p.address] = len(bad)
        if errors:
            report.one_read_errors[p.address] = errors
    _, bad, errors = _check(port, None, expected, ConsistencyLevel.QUORUM)
    report.lost_quorum, report.quorum_read_errors = len(bad), errors
    end()


def print_report(report: Report, echo: Callable[[str], None] = click.echo) -> None:
    echo("")
    echo(f"rows loaded: {report.rows}")
    echo(f"writes acknowledged (QUORUM): {report.acked}; failed: "
         f"{sum(report.writes_failed.values())}")
    for kind, n in report.write_errors.most_common(8):
        echo(f"    {n} x {kind}")
    echo("phase                                      seconds  streamed partitions/bytes  "
         "QUORUM reads failed/total  writes failed")
    for ph in report.phases:
        echo(f"  {ph.name:<40} {ph.seconds:8.1f}  {ph.streamed_partitions:>9} / "
             f"{ph.streamed_bytes:<12}  {report.reads_failed[ph.name]:>6} / "
             f"{report.reads[ph.name]:<8}  {report.writes_failed[ph.name]}")
    for kind, n in report.read_errors.most_common(8):
        echo(f"    read error: {n} x {kind}")
    for address, summary in report.repair_streamed.items():
        echo(f"repair via {address}: {summary}")
    total = report.rows + report.acked
    for address, (loaded, acked) in report.pre_repair_invisible.items():
        echo(f"before repair, replica {address} alone at ONE lacked {loaded} loaded rows and "
             f"{acked} acknowledged writes (read errors: "
             f"{report.pre_repair_errors.get(address) or 'none'})")
    echo(f"lost at QUORUM (absent or another value): {report.lost_quorum} of {total} "
         f"(read errors: {report.quorum_read_errors or 'none'})")
    for address, n in report.invisible_at_one.items():
        echo(f"invisible at ONE on replica {address} alone: {n} of the "
             f"{report.replicated_by[address]} rows it replicates "
             f"(read errors: {report.one_read_errors.get(address) or 'none'})")
    if report.failure:
        echo(f"FAILED: {report.failure}")
    echo("OK: nothing lost" if report.ok else "NOT OK")


@click.command()
@click.option("--rows", type=click.IntRange(1, ROWS_MAX), default=20_000, show_default=True)
@click.option("--rf", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--clients", type=click.IntRange(0, 16), default=3, show_default=True,
              help="Client processes writing and reading at QUORUM throughout.")
@click.option("--removenode", is_flag=True,
              help="Shrink 4 -> 3 by kill -9 and nodetool removenode instead of decommission.")
@click.option("--phi-convict-threshold", type=float, default=None,
              help="Given to every node (Cassandra's phi_convict_threshold; 5 detects the "
                   "killed node sooner).")
@click.option("--phase-timeout-s", type=click.FloatRange(10, 7200), default=1200,
              show_default=True, help="A step that takes longer fails the run.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the nodes keep their data (default: a new temporary directory).")
@click.option("--cql-port", type=int, default=29042, show_default=True)
@click.option("--internode-port", type=int, default=27000, show_default=True)
def main(rows: int, rf: int, clients: int, removenode: bool, phi_convict_threshold: float | None,
         phase_timeout_s: float, data_dir: str | None, cql_port: int, internode_port: int
         ) -> None:
    """Grow 3 -> 5, kill -9 and replace one, shrink 5 -> 3 under load, repair; print what was
    lost (exit 1 if anything)."""
    root = Path(data_dir or tempfile.mkdtemp(prefix="skewless-bench-lifecycle-"))
    click.echo(f"data in {root}")
    t0 = time.monotonic()  # allow-real-clock
    node_args = ([] if phi_convict_threshold is None
                 else ["--phi-convict-threshold", str(phi_convict_threshold)])
    report = run(root, rows, rf, clients, cql_port, internode_port, phase_timeout_s, removenode,
                 node_args=node_args)
    print_report(report)
    click.echo(f"total {time.monotonic() - t0:.1f} s")  # allow-real-clock
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
