"""``python -m skewless.bench_abuse``: a canary client beside each abusive request (issue 15).

It starts a local 3-node cluster (node i on 127.0.0.i, ports from ``--base-port``), creates a
keyspace with RF=3, and runs a *canary*: one stock cassandra-driver session through node 1
doing QUORUM writes and reads of small rows one after another, for the whole run. Beside it,
each abusive case in turn sends its requests to node 1 (the coordinator under test):

- ``select-1mb``: ``SELECT a, a, a, ... FROM t WHERE k = 0``, about 1 MB of text;
- ``batch-10k``: a BATCH of 10,000 unprepared INSERTs into distinct partitions;
- ``batch-10k-1p``: a BATCH of 10,000 prepared INSERTs into one partition (no size
  threshold applies);
- ``paren-100k``: a relation whose value is nested in 100,000 parentheses;
- ``cast-10k``: a value cast to ``(int)`` 10,000 times over;
- ``in-100k``: an unprepared ``SELECT ... WHERE k IN (...)`` of 100,000 keys;
- ``set-65535``: an INSERT of a set of 65,535 text elements (about 2.4 MB);
- ``set-max``: the same with as many elements as ``items_per_collection`` lets through;
- ``pipeline``: 8 raw connections that pipeline SELECTs of a 200 KB row and never read.

``--scale`` shrinks every size (the test runs at a small scale). A ``baseline`` case (no
abuse) comes first. For each case it prints: what the abusive request got (its error or ok,
and how long), the canary's request count, p50, p99 and max latency (ms) and its errors during
the case, whether a ServerError or a traceback appeared in any node's log meanwhile, and how
many "is now DOWN" verdicts the nodes logged meanwhile. Nothing is asserted: latencies move with
the machine's other load. Every step is bounded in time; the cluster is stopped by pid and its
data removed at the end.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import socket  # allow-real-clock (the pipelining clients speak raw CQL)
import statistics
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from skewless import limits
from skewless.bench_support import bench_cluster
from skewless.runtime.cluster import NodeProcess, node_address

NODES = 3
KEYSPACE = "abuse"
GOSSIP_WAIT_S = 60  # until the driver sees every node up
ABUSE_TIMEOUT_S = 60  # one abusive request's driver timeout (the node answers its own first)
CASE_TIMEOUT_S = 2 * ABUSE_TIMEOUT_S  # connect, prepare, then the request itself
CANARY_TIMEOUT_S = 10  # one canary request's driver timeout
PIPELINE_CLIENTS = 8
PIPELINE_ROW_BYTES = 200 * 1024
CASES = ("select-1mb", "batch-10k", "batch-10k-1p", "paren-100k", "cast-10k", "in-100k",
         "set-65535", "set-max", "pipeline")


@dataclass
class Sample:
    start: float
    latency_s: float
    error: str | None


@dataclass
class Canary:
    """QUORUM write then read of a small row, one request at a time, until stopped."""

    session: Any
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    inflight_since: float | None = None  # the start of the request under way, if any

    def window(self, t0: float) -> list[Sample]:
        """The samples of requests under way at or after ``t0``, the one still under way
        counted with its age so far."""
        now = time.monotonic()  # allow-real-clock
        out = [s for s in list(self.samples) if s.start + s.latency_s >= t0]
        since = self.inflight_since
        if since is not None:
            out.append(Sample(since, now - since, None))
        return out

    def run(self) -> None:
        from cassandra import ConsistencyLevel

        write = self.session.prepare(f"INSERT INTO {KEYSPACE}.canary (k, v) VALUES (?, ?)")
        read = self.session.prepare(f"SELECT v FROM {KEYSPACE}.canary WHERE k = ?")
        write.consistency_level = read.consistency_level = ConsistencyLevel.QUORUM
        i = 0
        while not self.stop.is_set():
            i += 1
            for stmt, values in ((write, (i % 100, i)), (read, (i % 100,))):
                t0 = time.monotonic()  # allow-real-clock
                self.inflight_since = t0
                error = None
                try:
                    self.session.execute(stmt, values, timeout=CANARY_TIMEOUT_S)
                except Exception as e:  # the canary counts every failure by its kind
                    error = type(e).__name__
                self.samples.append(Sample(t0, time.monotonic() - t0, error))  # allow-real-clock
                self.inflight_since = None
            time.sleep(0.002)  # allow-real-clock


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def canary_stats(samples: list[Sample]) -> str:
    ok = sorted(s.latency_s * 1000 for s in samples)
    if not ok:
        return "canary: no request"
    errors = Counter(s.error for s in samples if s.error)
    text = ", ".join(f"{n} {k}" for k, n in errors.items()) or "0"
    return (f"canary {len(ok):5d} req  p50 {statistics.median(ok):7.1f}  p99 "
            f"{_percentile(ok, 0.99):7.1f}  max {ok[-1]:7.1f} ms  errors {text}")


# ------------------------------------------------------------------ the abusive cases


def _scaled(n: int, scale: float) -> int:
    return max(2, int(n * scale))


def _driver_request(session: Any, statement: Any, values: Any = None) -> str:
    try:
        session.execute(statement, values, timeout=ABUSE_TIMEOUT_S)
        return "ok"
    except Exception as e:  # the abusive request's answer is the point: report it
        return f"{type(e).__name__}: {str(e)[:110]}"


def case_select(session: Any, scale: float) -> str:
    n = _scaled(333_000, scale)
    return _driver_request(session, "SELECT " + "a, " * n + f"a FROM {KEYSPACE}.t WHERE k = 0")


def case_batch(session: Any, scale: float) -> str:
    from cassandra.query import BatchStatement, SimpleStatement

    batch = BatchStatement()
    for i in range(min(_scaled(10_000, scale), 10_000)):
        batch.add(SimpleStatement(f"INSERT INTO {KEYSPACE}.t (k, a) VALUES ({i}, {i})"))
    return _driver_request(session, batch)


def case_batch_one_partition(session: Any, scale: float) -> str:
    from cassandra.query import BatchStatement

    insert = session.prepare(f"INSERT INTO {KEYSPACE}.rows (k, c, a) VALUES (5, ?, ?)")
    batch = BatchStatement()
    for i in range(min(_scaled(10_000, scale), 10_000)):
        batch.add(insert, (i, i))
    return _driver_request(session, batch)


def case_paren(session: Any, scale: float) -> str:
    n = _scaled(100_000, scale)
    return _driver_request(session, f"SELECT * FROM {KEYSPACE}.t WHERE k = " + "(" * n + "0"
                           + ")" * n)


def case_cast(session: Any, scale: float) -> str:
    n = _scaled(10_000, scale)
    return _driver_request(session, f"SELECT * FROM {KEYSPACE}.t WHERE k = " + "(int)" * n + "0")


def case_in(session: Any, scale: float) -> str:
    keys = ", ".join(str(i) for i in range(_scaled(100_000, scale)))
    return _driver_request(session, f"SELECT * FROM {KEYSPACE}.t WHERE k IN ({keys})")


def case_set(session: Any, scale: float, n: int = 65_535) -> str:
    prepared = session.prepare(f"INSERT INTO {KEYSPACE}.t (k, s) VALUES (?, ?)")
    elements = {f"element-{i:08d}-{'x' * 19}" for i in range(_scaled(n, scale))}
    return _driver_request(session, prepared, (1, elements))


def case_set_max(session: Any, scale: float) -> str:
    return case_set(session, scale, limits.items_per_collection_fail_threshold)


def _frame(stream: int, opcode: int, body: bytes) -> bytes:
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body


def _startup() -> bytes:
    items = [b"CQL_VERSION", b"3.0.0"]
    body = struct.pack(">H", 1) + b"".join(struct.pack(">H", len(x)) + x for x in items)
    return _frame(0, 0x01, body)


def _query(stream: int, text: str) -> bytes:
    q = text.encode()
    return _frame(stream, 0x07, struct.pack(">I", len(q)) + q + struct.pack(">HB", 1, 0))


def case_pipeline(session: Any, scale: float, address: str, port: int, seconds: float) -> str:
    """8 raw connections pipeline SELECTs of a 200 KB row for ``seconds`` without reading."""
    session.execute(f"INSERT INTO {KEYSPACE}.t (k, big) VALUES (2, %s)",
                    (b"b" * _scaled(PIPELINE_ROW_BYTES, scale),), timeout=ABUSE_TIMEOUT_S)
    socks = []
    sent = 0
    try:
        for _ in range(PIPELINE_CLIENTS):
            s = socket.create_connection((address, port), timeout=5)
            s.sendall(_startup())
            s.setblocking(False)
            socks.append(s)
        deadline = time.monotonic() + seconds  # allow-real-clock
        stream = 0
        while time.monotonic() < deadline:  # allow-real-clock
            progressed = False
            for s in socks:
                stream = (stream + 1) % 30000
                try:
                    s.send(_query(1 + stream, f"SELECT big FROM {KEYSPACE}.t WHERE k = 2"))
                    sent += 1
                    progressed = True
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    return f"a pipelining connection closed after {sent} requests: {e}"
            if not progressed:
                time.sleep(0.01)  # allow-real-clock
    finally:
        for s in socks:
            s.close()
    return f"ok ({sent} requests sent, none read)"


def run_case(name: str, scale: float, port: int, pipeline_seconds: float) -> str:
    """One abusive case, run in the abusive client's own process; its outcome as text."""
    host = node_address(1)
    driver, session = _connect(port, host)
    try:
        if name == "pipeline":
            return case_pipeline(session, scale, host, port, pipeline_seconds)
        action: Callable[[Any, float], str] = {
            "select-1mb": case_select, "batch-10k": case_batch,
            "batch-10k-1p": case_batch_one_partition, "paren-100k": case_paren,
            "cast-10k": case_cast, "in-100k": case_in, "set-65535": case_set,
            "set-max": case_set_max}[name]
        return action(session, scale)
    finally:
        driver.shutdown()


def _in_child(pool: concurrent.futures.ProcessPoolExecutor, name: str, scale: float,
              port: int, pipeline_seconds: float) -> str:
    future = pool.submit(run_case, name, scale, port, pipeline_seconds)
    try:
        return future.result(timeout=CASE_TIMEOUT_S + pipeline_seconds)
    except concurrent.futures.TimeoutError:
        return f"no outcome within {CASE_TIMEOUT_S + pipeline_seconds:g} s"
    except Exception as e:  # the case's own failure (connecting, preparing) is its outcome
        return f"{type(e).__name__}: {str(e)[:110]}"


# ------------------------------------------------------------------ node logs


def log_sizes(nodes: list[NodeProcess]) -> list[int]:
    return [n.log_path.stat().st_size if n.log_path.exists() else 0 for n in nodes]


def log_findings(nodes: list[NodeProcess], since: list[int]) -> str:
    server_errors = tracebacks = downs = 0
    for node, offset in zip(nodes, since, strict=True):
        with node.log_path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        server_errors += text.count("ServerError") + text.count("Internal error")
        tracebacks += text.count("Traceback")
        downs += text.count("is now DOWN")
        if "Traceback" in text:  # the first one, on stderr, so a failed run says what broke
            start = text.index("Traceback")
            sys.stderr.write(f"{node.log_path}:\n{text[max(0, start - 300):start + 3000]}\n")
    return f"logs: {server_errors} ServerError, {tracebacks} tracebacks, {downs} DOWN"


# ------------------------------------------------------------------ the command


def _connect(port: int, host: str) -> tuple[Any, Any]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]),
                               request_timeout=ABUSE_TIMEOUT_S)
    driver = Cluster(contact_points=[host], port=port, protocol_version=4, connect_timeout=10,
                     execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    return driver, driver.connect()


def _wait_all_up(session: Any) -> None:
    """Until node 1 sees every node up (its system.skewless_status)."""
    deadline = time.monotonic() + GOSSIP_WAIT_S  # allow-real-clock
    seen = 0
    while time.monotonic() < deadline:  # allow-real-clock
        try:
            rows = session.execute("SELECT * FROM system.skewless_status", timeout=10)
            seen = sum(1 for r in rows if r.up)
        except Exception:  # not answering yet: ask again until the deadline
            seen = 0
        if seen >= NODES:
            return
        time.sleep(0.5)  # allow-real-clock
    raise click.ClickException(f"node 1 sees {seen} of {NODES} nodes up after "
                               f"{GOSSIP_WAIT_S} s")


def _schema(session: Any) -> None:
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                    f"{{'class': 'SimpleStrategy', 'replication_factor': {NODES}}}", timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.canary (k int PRIMARY KEY, v int)",
                    timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.t (k int PRIMARY KEY, a int, "
                    "s set<text>, big blob)", timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.rows (k int, c int, a int, "
                    "PRIMARY KEY (k, c))", timeout=60)
    session.execute(f"INSERT INTO {KEYSPACE}.t (k, a) VALUES (0, 0)", timeout=60)


@click.command()
@click.option("--cases", default=",".join(CASES), show_default=True,
              help=f"Comma-separated, of: {', '.join(CASES)}.")
@click.option("--scale", type=click.FloatRange(0.0001, 1.0), default=1.0, show_default=True,
              help="Every abusive size multiplied by this (1: the sizes of issue 15).")
@click.option("--settle", "settle_s", type=click.FloatRange(0.2, 60), default=2.0,
              show_default=True, help="Seconds the canary goes on after each case's request.")
@click.option("--pipeline-seconds", type=click.FloatRange(0.5, 120), default=5.0,
              show_default=True, help="How long the non-reading clients pipeline.")
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29800,
              show_default=True, help="CQL port BASE, internode BASE-2000.")
def main(cases: str, scale: float, settle_s: float, pipeline_seconds: float,
         base_port: int) -> None:
    """Measure a canary's latency beside each abusive request to one node."""
    names = [c.strip() for c in cases.split(",") if c.strip()]
    if not names or any(n not in CASES for n in names):
        raise click.BadParameter(f"of: {', '.join(CASES)}", param_hint="--cases")
    with bench_cluster("bench-abuse", NODES, [], base_port, base_port - 2000) as nodes:
        _run_cases(nodes, names, scale, settle_s, pipeline_seconds, base_port)


def _run_cases(nodes: list[NodeProcess], names: list[str], scale: float, settle_s: float,
               pipeline_seconds: float, base_port: int) -> None:
    """The canary beside the baseline and each case, on the started cluster."""
    drivers: list[Any] = []
    canary: Canary | None = None
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    thread: threading.Thread | None = None
    try:
        host = node_address(1)
        canary_driver, canary_session = _connect(base_port, host)
        drivers.append(canary_driver)
        _wait_all_up(canary_session)
        _schema(canary_session)
        canary = Canary(canary_session)
        thread = threading.Thread(target=canary.run, name="canary", daemon=True)
        thread.start()
        # The abusive client runs in a process of its own: its client-side work (building a
        # megabyte of text, encoding 10,000 statements) must not take the canary's GIL.
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
        click.echo(f"bench_abuse: {NODES}-node local cluster, canary QUORUM write+read through "
                   f"node 1 beside each case, scale {scale:g}, settle {settle_s:g} s")
        for name in ["baseline", *names]:
            since = log_sizes(nodes)
            t0 = time.monotonic()  # allow-real-clock
            outcome = "no abuse" if name == "baseline" else _in_child(
                pool, name, scale, base_port, pipeline_seconds)
            took = time.monotonic() - t0  # allow-real-clock
            time.sleep(settle_s if name != "baseline" else max(settle_s, 1.0))  # allow-real-clock
            window = canary.window(t0)
            click.echo(f"{name:11} {canary_stats(window)}  {log_findings(nodes, since)}")
            click.echo(f"{'':11} abusive request: {outcome} ({took:.2f} s)")
    finally:
        if canary is not None:
            canary.stop.set()
        if thread is not None:
            thread.join(CANARY_TIMEOUT_S + 5)
        for d in drivers:
            d.shutdown()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

if __name__ == "__main__":
    main()
