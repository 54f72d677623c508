"""``python -m skewless.bench_lwt`` (also ``skewless bench lwt``): lightweight transactions
against plain QUORUM writes, internode messages per LWT, and contended CAS on one partition.

It starts 3 local Skewless nodes (``skewless.runtime.cluster``: node i on 127.0.0.i, batch
commit log, a Prometheus endpoint each), makes an RF=3 keyspace and drives it through one stock
cassandra-driver process (this one) with prepared statements and server-side timestamps.

Each of ``--rounds`` rounds measures, after ``--warmup`` unmeasured seconds each:

- the uncontended shapes, ``--seconds`` each, LWT and plain alternating which goes first:
  ``INSERT ... VALUES (?, ?) IF NOT EXISTS`` against ``INSERT ... VALUES (?, ?)`` at QUORUM
  (serial consistency SERIAL), every request on a fresh key (so every LWT is uncontended and
  applies), first ``--concurrency`` in flight, then one at a time: throughput, p50/p99 and the
  servers' CPU per operation (utime + stime of the 3 node processes, from /proc);
- internode messages per operation of the one-at-a-time windows: the sum over the nodes of the
  transport's sent-message counter (``nodetool netstats``' ``messages.sent``, through each
  node's admin endpoint) read before and after the window, less the background rate (gossip,
  clock probes) measured on the idle cluster before the rounds;
- contended CAS: ``--concurrency`` client threads all incrementing ONE register by
  read-compare-set (``UPDATE ... SET v = ? WHERE k = 0 IF v = ?``, the current value taken from
  the not-applied answer, or from a SERIAL read after a timeout), ``--seconds`` long: applied/s,
  not-applied/s, timeouts, and the contentions the nodes counted
  (``skewless_cas_contentions_total``, summed over the nodes' metrics). The register's final
  value is checked against the count: applied <= increase <= applied + timeouts.

The end prints the medians over the rounds and the ratios LWT ÷ plain. Nothing is asserted:
the numbers are the machine's. Every wait is bounded; the nodes are stopped by pid and the
temporary directory removed at the end.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from skewless.bench_support import (
    DriverLoop,
    LoopResult,
    Measured,
    bench_cluster,
    connect_driver,
    cpu_seconds,
    now_s,
    wait_all_up,
)
from skewless.nodetool.client import AdminClient
from skewless.runtime.cluster import (
    NodeProcess,
    admin_port_for,
)

NODES = 3
RF = 3
KEYSPACE = "bench_lwt"
METRICS_PORT_FROM_BASE = 5  # each node's Prometheus port: BASE + 5 (on its own address)
INTERNODE_PORT_FROM_BASE = -2000  # internode port: BASE - 2000 (admin: that + 199)
KEY_BLOCK = 1 << 40  # each measured or warm-up window writes fresh keys from its own block
IDLE_S_MAX = 3.0  # the idle window that measures the background message rate
THREAD_JOIN_S_EXTRA = 60.0  # contended clients: after the window, how long they may finish
SHAPES = ("LWT", "plain")
MODES = ("many", "one")


@dataclass(frozen=True)
class Window(Measured):
    """One measured window of one shape."""

    messages: int  # internode messages sent by all nodes during the window


@dataclass(frozen=True)
class Contended:
    applied: int
    not_applied: int
    timeouts: int  # CAS WriteTimeouts (contention or no quorum): applied or not, unknown
    read_timeouts: int  # SERIAL reads of the register that timed out
    errors: int
    error_kinds: str
    elapsed_s: float
    contentions: int
    increase: int  # the register's value after the window minus before

    def line(self, clients: int) -> str:
        s = max(self.elapsed_s, 1e-9)
        errors = f" ({self.error_kinds})" if self.errors else ""
        return (f"contended, {clients} clients on one partition: applied "
                f"{self.applied / s:,.1f}/s  not applied {self.not_applied / s:,.1f}/s  "
                f"timeouts {self.timeouts} CAS, {self.read_timeouts} SERIAL reads  "
                f"errors {self.errors}{errors}  contentions {self.contentions:,}  "
                f"register +{self.increase:,} for {self.applied:,} applied")


class Counters:
    """The nodes' internode sent-message counters (admin endpoint) and CAS contentions
    (Prometheus endpoint), each summed over the nodes."""

    def __init__(self, hosts: Sequence[str], internode_port: int, metrics_port: int) -> None:
        self.admins = [AdminClient(h, admin_port_for(internode_port)) for h in hosts]
        self.metrics = [f"http://{h}:{metrics_port}/metrics" for h in hosts]

    def messages_sent(self) -> int:
        return sum(int(a.call("netstats")["messages"]["sent"]) for a in self.admins)

    def contentions(self) -> int:
        total = 0.0
        for url in self.metrics:
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
            total += metric_value(text, "skewless_cas_contentions_total")
        return int(total)


def metric_value(text: str, name: str) -> float:
    """The value of the unlabelled sample ``name`` in a Prometheus text exposition (0 if
    absent)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return 0.0


class Bench:
    def __init__(self, session: Any, pids: tuple[int, ...], counters: Counters,
                 concurrency: int, value: bytes) -> None:
        self.session = session
        self.pids = pids
        self.counters = counters
        self.concurrency = concurrency
        self.value = value
        self.next_block = 1
        self.statements = {
            "LWT": session.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v) VALUES (?, ?) "
                                   "IF NOT EXISTS"),
            "plain": session.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v) VALUES (?, ?)")}
        self.cas = session.prepare(f"UPDATE {KEYSPACE}.reg SET v = ? WHERE k = 0 IF v = ?")
        self.read_serial = session.prepare(f"SELECT v FROM {KEYSPACE}.reg WHERE k = 0")
        from cassandra import ConsistencyLevel

        self.read_serial.consistency_level = ConsistencyLevel.SERIAL

    def _loop(self, shape: str, concurrency: int, seconds: float) -> LoopResult:
        base = self.next_block * KEY_BLOCK
        self.next_block += 1
        value = self.value
        return DriverLoop(self.session, self.statements[shape], lambda i: (base + i, value),
                          concurrency, deadline_s=now_s() + seconds).run()

    def window(self, shape: str, mode: str, seconds: float, warmup_s: float) -> Window:
        concurrency = self.concurrency if mode == "many" else 1
        if warmup_s > 0:
            self._loop(shape, concurrency, warmup_s)
        sent0 = self.counters.messages_sent() if mode == "one" else 0
        cpu0 = cpu_seconds(self.pids)
        r = self._loop(shape, concurrency, seconds)
        cpu1 = cpu_seconds(self.pids)
        sent1 = self.counters.messages_sent() if mode == "one" else 0
        return Window(r.ops, r.errors, r.error_text(), r.elapsed_s, r.percentile_ms(0.5),
                      r.percentile_ms(0.99), cpu1 - cpu0, sent1 - sent0)

    def background_per_s(self) -> float:
        """Internode messages per second of the idle cluster (gossip, clock probes)."""
        t0, sent0 = now_s(), self.counters.messages_sent()
        time.sleep(IDLE_S_MAX)  # allow-real-clock
        t1, sent1 = now_s(), self.counters.messages_sent()
        return (sent1 - sent0) / (t1 - t0)

    def register(self) -> int:
        row = self.session.execute(self.read_serial, timeout=30).one()
        return int(row.v)

    def contended(self, seconds: float) -> Contended:
        start_value, contentions0 = self.register(), self.counters.contentions()
        deadline = now_s() + seconds
        tally = Tally()
        threads = [threading.Thread(target=self._cas_client, args=(deadline, tally), daemon=True)
                   for _ in range(self.concurrency)]
        started = now_s()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - now_s()) + THREAD_JOIN_S_EXTRA)
        elapsed = now_s() - started
        increase = self.register() - start_value
        with tally.lock:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(tally.error_kinds.items()))
            return Contended(tally.applied, tally.not_applied, tally.timeouts,
                             tally.read_timeouts, tally.errors, kinds, elapsed,
                             self.counters.contentions() - contentions0, increase)

    def _cas_client(self, deadline: float, tally: Tally) -> None:
        from cassandra import ReadTimeout, WriteTimeout

        current: int | None = None
        while now_s() < deadline:
            if current is None:
                try:
                    current = self.register()
                except ReadTimeout:
                    tally.count("read_timeouts")
                    continue
                except Exception as e:  # counted by kind; the client reads again
                    tally.count("errors", type(e).__name__)
                    continue
            try:
                rs = self.session.execute(self.cas, (current + 1, current))
                applied = rs.was_applied
                current = current + 1 if applied else int(rs.one().v)
                tally.count("applied" if applied else "not_applied")
            except WriteTimeout:
                current = None
                tally.count("timeouts")
            except Exception as e:  # counted by kind; the client reads the register again
                current = None
                tally.count("errors", type(e).__name__)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.applied = self.not_applied = self.timeouts = self.read_timeouts = self.errors = 0
        self.error_kinds: dict[str, int] = {}

    def count(self, what: str, kind: str = "") -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)
            if kind:
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


# ------------------------------------------------------------------ printing


def mode_title(mode: str, concurrency: int) -> str:
    return f"{concurrency} in flight" if mode == "many" else "one at a time"


def window_line(round_no: int, shape: str, title: str, w: Window) -> str:
    errors = f"  errors {w.errors} ({w.error_kinds})" if w.errors else ""
    return (f"round {round_no} {shape:5} {title:14} {w.per_s:8,.0f}/s  p50 {w.p50_ms:7.2f} ms  "
            f"p99 {w.p99_ms:7.2f} ms  server CPU {w.server_us_per_op:6,.0f} µs/op{errors}")


def per_op_messages(w: Window, background_per_s: float) -> float:
    """Internode messages per operation of a one-at-a-time window, background removed."""
    if not w.ops:
        return float("nan")
    return max(0.0, w.messages - background_per_s * w.elapsed_s) / w.ops


def messages_line(round_no: int, lwt: Window, plain: Window, background_per_s: float) -> str:
    m_lwt = per_op_messages(lwt, background_per_s)
    m_plain = per_op_messages(plain, background_per_s)
    return (f"round {round_no} internode messages per LWT {m_lwt:.2f} "
            f"({m_lwt / (RF - 1):.2f} per remote replica), per plain write {m_plain:.2f} "
            f"(background {background_per_s:.1f}/s removed)")


def summary(windows: dict[tuple[str, str], list[Window]], messages: list[float],
            contended: list[Contended], concurrency: int) -> list[str]:
    lines = ["medians over the rounds:"]
    for mode in MODES:
        med: dict[str, tuple[float, float, float, float]] = {}
        for shape in SHAPES:
            ws = windows[(shape, mode)]
            med[shape] = (statistics.median(w.per_s for w in ws),
                          statistics.median(w.p50_ms for w in ws),
                          statistics.median(w.p99_ms for w in ws),
                          statistics.median(w.server_us_per_op for w in ws))
            per_s, p50, p99, cpu = med[shape]
            lines.append(f"  {shape:5} {mode_title(mode, concurrency):14} {per_s:8,.0f}/s  "
                         f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  server CPU {cpu:6,.0f} µs/op")
        a, b = med["LWT"], med["plain"]
        lines.append(f"  ratio LWT ÷ plain, {mode_title(mode, concurrency)}: throughput "
                     f"{_ratio(a[0], b[0])}, p50 {_ratio(a[1], b[1])}, p99 {_ratio(a[2], b[2])}, "
                     f"server CPU/op {_ratio(a[3], b[3])}")
    m = statistics.median(messages)
    lines.append(f"  internode messages per LWT {m:.2f} ({m / (RF - 1):.2f} per remote replica)")
    applied = statistics.median(c.applied / max(c.elapsed_s, 1e-9) for c in contended)
    refused = statistics.median(c.not_applied / max(c.elapsed_s, 1e-9) for c in contended)
    lines.append(f"  contended: applied {applied:,.1f}/s  not applied {refused:,.1f}/s  "
                 f"timeouts {statistics.median(c.timeouts for c in contended):g}  "
                 f"contentions {statistics.median(c.contentions for c in contended):,.0f}")
    return lines


def _ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}" if y > 0 and x == x and y == y else "n/a"


# ------------------------------------------------------------------ the command


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    warmup_s: float
    concurrency: int
    value_bytes: int


def make_schema(session: Any) -> None:
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                    f"{{'class': 'SimpleStrategy', 'replication_factor': {RF}}}", timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.kv (k bigint PRIMARY KEY, v blob)",
                    timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.reg (k int PRIMARY KEY, v bigint)",
                    timeout=60)
    session.execute(f"INSERT INTO {KEYSPACE}.reg (k, v) VALUES (0, 0) IF NOT EXISTS", timeout=60)


def run(nodes: Sequence[NodeProcess], base_port: int, options: Options) -> list[str]:
    hosts = tuple(n.address for n in nodes)
    counters = Counters(hosts, base_port + INTERNODE_PORT_FROM_BASE,
                        base_port + METRICS_PORT_FROM_BASE)
    driver = connect_driver(hosts, base_port)
    try:
        session = driver.connect()
        session.use_client_timestamp = False  # the coordinator stamps every write
        wait_all_up(session, NODES)
        make_schema(session)
        value = random.Random(1).randbytes(options.value_bytes)
        bench = Bench(session, tuple(n.pid for n in nodes), counters, options.concurrency,
                      value)
        background = bench.background_per_s()
        windows: dict[tuple[str, str], list[Window]] = {(s, m): [] for s in SHAPES
                                                         for m in MODES}
        messages: list[float] = []
        contended: list[Contended] = []
        for round_no in range(1, options.rounds + 1):
            order = SHAPES if round_no % 2 else tuple(reversed(SHAPES))
            for mode in MODES:
                title = mode_title(mode, options.concurrency)
                for shape in order:
                    w = bench.window(shape, mode, options.seconds, options.warmup_s)
                    windows[(shape, mode)].append(w)
                    click.echo(window_line(round_no, shape, title, w))
            lwt, plain = windows[("LWT", "one")][-1], windows[("plain", "one")][-1]
            messages.append(per_op_messages(lwt, background))
            click.echo(messages_line(round_no, lwt, plain, background))
            c = bench.contended(options.seconds)
            contended.append(c)
            click.echo(f"round {round_no} {c.line(options.concurrency)}")
        return summary(windows, messages, contended, options.concurrency)
    finally:
        driver.shutdown()


@click.command()
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--seconds", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              help="Measured seconds of each window (each shape and mode, and contended).")
@click.option("--warmup", "warmup_s", type=click.FloatRange(0, 60), default=1.0,
              show_default=True, help="Unmeasured seconds before each uncontended window.")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Requests in flight, and clients of the contended partition.")
@click.option("--value-bytes", type=click.IntRange(1, 1_000_000), default=100,
              show_default=True)
@click.option("--timestamp-policy", type=click.Choice(["hlc", "wallclock"]), default="hlc",
              show_default=True, help="The nodes' timestamp policy.")
@click.option("--base-port", type=click.IntRange(3000, 60000), default=29500,
              show_default=True,
              help="CQL port BASE, internode BASE-2000 (admin BASE-1801), metrics BASE+5.")
def main(rounds: int, seconds: float, warmup_s: float, concurrency: int, value_bytes: int,
         timestamp_policy: str, base_port: int) -> None:
    """LWTs against plain QUORUM writes, messages per LWT, contended CAS on one partition."""
    options = Options(rounds, seconds, warmup_s, concurrency, value_bytes)
    args = ["--timestamp-policy", timestamp_policy, "--commitlog-sync", "batch",
            "--metrics-port", str(base_port + METRICS_PORT_FROM_BASE)]
    with bench_cluster("bench-lwt", NODES, args, base_port,
                       base_port + INTERNODE_PORT_FROM_BASE) as nodes:
        click.echo(f"bench_lwt: {NODES} local nodes ({timestamp_policy}), RF={RF}, QUORUM "
                   f"(serial SERIAL), batch commit log, one driver process; {rounds} round(s) "
                   f"of {seconds:g} s per window (after {warmup_s:g} s warm-up); LWT = INSERT "
                   f"IF NOT EXISTS on fresh keys, plain = INSERT; {concurrency} in flight; "
                   f"{value_bytes}-byte values; {os.cpu_count()} CPUs")
        for line in run(nodes, base_port, options):
            click.echo(line)


if __name__ == "__main__":
    main()
