"""Running a stress workload through the stock cassandra-driver (the runtime part of stress).

Concurrency without threads of our own: ``Engine.start`` issues ``concurrency`` requests with
``execute_async``, and each one's callback (on the driver's event-loop thread) records it and
issues the next, so exactly ``concurrency`` requests are in flight until the run's operations are
all issued or the run is stopped. A callback that would issue a request while an issue is under
way on the same thread (the driver calls callbacks of an already failed future on the spot)
only counts it, and the outer issue loop sends it: the stack stays flat even when every request
fails at once.

The main thread only watches: it redraws the progress display, and stops the engine at the
duration, at ``limits.stress_run_s_max`` or on Ctrl-C. After a stop it waits at most
``limits.stress_drain_s_max`` for the requests in flight, reports the ones still unanswered as
unfinished, and shuts the driver down.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.metadata import SimpleStrategy
from cassandra.policies import DCAwareRoundRobinPolicy, LoadBalancingPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from skewless import __version__, limits
from skewless.stress.options import KEYSPACE, TABLE, StressOptions
from skewless.stress.report import OpTally, document, latency_stats, stats_table
from skewless.stress.workload import KeyChooser, OperationMix, value_for

REFRESH_S = 0.5  # how often the progress display is redrawn


def _now() -> float:
    return time.perf_counter()  # allow-real-clock


class Engine:
    """Keeps ``concurrency`` requests in flight until ``ops`` are issued or ``stop()``."""

    def __init__(self, session: Session, statements: dict[str, PreparedStatement],
                 options: StressOptions) -> None:
        self._session = session
        self._statements = statements
        self._options = options
        self._mix = OperationMix(options.ratio)
        self._keys = KeyChooser(options.keys, options.key_dist, options.seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.tallies = {op: OpTally() for op, _ in options.ratio}
        self.issued = 0
        self.finished = 0
        self.last_finish_s = 0.0
        self.stopping = False
        self.idle = threading.Event()  # set once nothing is in flight and nothing more will go

    def start(self) -> None:
        for _ in range(min(self._options.concurrency, self._options.ops)):
            self._issue()

    def stop(self) -> None:
        with self._lock:
            self.stopping = True
            self._check_idle()

    def snapshot(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """(finished, per-op live numbers) for the progress display."""
        with self._lock:
            rows = {}
            for op, t in self.tallies.items():
                rows[op] = {"ops": t.ops, "errors": t.errors, **latency_stats(t.histogram)}
            return self.finished, rows

    def report(self, started: float, stopped_by: str) -> dict[str, Any]:
        """The JSON report: throughput over the time from the start to the last answer."""
        with self._lock:
            end = self.last_finish_s if self.finished else _now()
            return document(self._options.to_json(), self.tallies, end - started, stopped_by,
                            self.issued - self.finished, __version__)

    def _issue(self) -> None:
        local = self._local
        if getattr(local, "issuing", False):
            local.pending += 1
            return
        local.issuing, local.pending = True, 1
        try:
            while local.pending > 0:
                local.pending -= 1
                self._issue_one()
        finally:
            local.issuing = False

    def _issue_one(self) -> None:
        with self._lock:
            if self.stopping or self.issued >= self._options.ops:
                self._check_idle()
                return
            self.issued += 1
            op = self._mix.next()
            key = self._keys.key(self.issued - 1)
        size = self._options.value_size
        args = (key, value_for(key, size)) if op == "write" else (key,)
        started = _now()
        try:
            future = self._session.execute_async(self._statements[op], args)
        except Exception as e:  # noqa: BLE001 - a request that cannot even be sent is an error
            self._finish(op, started, type(e).__name__)
            return
        future.add_callbacks(self._on_result, self._on_error,
                             callback_args=(op, key, started), errback_args=(op, started))

    def _on_result(self, rows: Any, op: str, key: int, started: float) -> None:
        error, miss, mismatch = None, False, False
        if op == "read":
            try:
                row = rows[0] if rows else None
                miss = row is None
                mismatch = row is not None and row.v != value_for(key, self._options.value_size)
            except Exception as e:  # noqa: BLE001 - the driver would swallow it, and the slot
                error = f"client {type(e).__name__}"
        self._finish(op, started, error, miss, mismatch)

    def _on_error(self, error: BaseException, op: str, started: float) -> None:
        self._finish(op, started, type(error).__name__)

    def _finish(self, op: str, started: float, error: str | None, miss: bool = False,
                mismatch: bool = False) -> None:
        ended = _now()
        with self._lock:
            tally = self.tallies[op]
            if error is None:
                tally.record_ok(int((ended - started) * 1e6))
                tally.not_found += miss
                tally.mismatched += mismatch
            else:
                tally.record_error(error)
            self.finished += 1
            self.last_finish_s = ended
        self._issue()

    def _check_idle(self) -> None:
        """Under the lock: nothing in flight and nothing more to issue means the run is over."""
        if self.issued == self.finished and (self.stopping or self.issued >= self._options.ops):
            self.idle.set()


def connect(options: StressOptions) -> Cluster:
    policy: LoadBalancingPolicy = DCAwareRoundRobinPolicy()
    if options.token_aware:
        policy = TokenAwarePolicy(policy)
    profile = ExecutionProfile(
        load_balancing_policy=policy,
        request_timeout=limits.stress_request_timeout_s,
        consistency_level=ConsistencyLevel.name_to_value[options.consistency],
    )
    return Cluster(list(options.hosts), port=options.port, protocol_version=4,
                   connect_timeout=limits.stress_connect_timeout_s,
                   execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                   **options.client.driver_kwargs())


def ensure_schema(cluster: Cluster, session: Session, options: StressOptions) -> list[str]:
    """Create the keyspace and table if missing; warnings when the keyspace differs."""
    warnings = []
    existing = cluster.metadata.keyspaces.get(KEYSPACE)
    if existing is not None:
        strategy = existing.replication_strategy
        if not (isinstance(strategy, SimpleStrategy)
                and strategy.replication_factor == options.replication_factor):
            warnings.append(
                f"keyspace {KEYSPACE} already exists with replication "
                f"{strategy.export_for_schema()}; --replication-factor "
                f"{options.replication_factor} is not applied (DROP KEYSPACE {KEYSPACE} first)")
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = {{'class': "
        f"'SimpleStrategy', 'replication_factor': {options.replication_factor}}}")
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} (k bigint PRIMARY KEY, v blob)")
    return warnings


def prepare(session: Session, options: StressOptions) -> dict[str, PreparedStatement]:
    queries = {"write": f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES (?, ?)",
               "read": f"SELECT v FROM {KEYSPACE}.{TABLE} WHERE k = ?"}
    return {op: session.prepare(queries[op]) for op, _ in options.ratio}


class Display:
    """The live view: a progress bar over the run (ops, or seconds of a --duration run) and a
    table of each operation type's numbers so far, with its rate over the last redraw."""

    def __init__(self, options: StressOptions, started: float) -> None:
        self._by_time = options.duration_s is not None
        self._started = started
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[ops]}") if self._by_time else MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("[red]{task.fields[errors]}"),
        )
        total = options.duration_s if options.duration_s is not None else options.ops
        self._task = self.progress.add_task(f"stress {options.workload}", total=total, ops="",
                                            rate="", errors="")
        self._last: tuple[float, dict[str, int]] = (started, {})

    def render(self, now: float, finished: int, rows: dict[str, dict[str, Any]]) -> Group:
        seconds = max(now - self._last[0], 1e-9)
        for op, row in rows.items():
            row["ops_per_s"] = (row["ops"] - self._last[1].get(op, 0)) / seconds
        self._last = (now, {op: row["ops"] for op, row in rows.items()})
        errors = sum(r["errors"] for r in rows.values())
        rate = sum(r["ops_per_s"] for r in rows.values())
        self.progress.update(
            self._task, completed=now - self._started if self._by_time else finished,
            ops=f"{finished:,} ops", rate=f"{rate:,.0f} ops/s",
            errors=f"{errors:,} errors" if errors else "")
        return Group(self.progress, stats_table(rows, "so far (ops/s: since the last redraw)"))


def watch(engine: Engine, options: StressOptions, console: Console, started: float) -> str:
    """Redraw progress until the run ends or is stopped; what stopped it."""
    display = Display(options, started)
    deadline = started + (options.duration_s or limits.stress_run_s_max)
    stopped_by = "ops"
    with Live(console=console, transient=True, refresh_per_second=4) as live:
        try:
            while not engine.idle.wait(REFRESH_S):
                now = _now()
                live.update(display.render(now, *engine.snapshot()))
                if now >= deadline:
                    stopped_by = "duration" if options.duration_s is not None else "time limit"
                    break
        except KeyboardInterrupt:
            stopped_by = "interrupt"
    if stopped_by != "ops":
        engine.stop()
        try:
            engine.idle.wait(limits.stress_drain_s_max)
        except KeyboardInterrupt:
            pass
    return stopped_by


def run(options: StressOptions, console: Console) -> dict[str, Any]:
    """Run the workload and return the JSON report; the driver is shut down in every case."""
    cluster = connect(options)
    try:
        session = cluster.connect()
        session.use_client_timestamp = not options.server_timestamps
        for warning in ensure_schema(cluster, session, options):
            console.print(f"[yellow]warning:[/yellow] {warning}")
        statements = prepare(session, options)
        engine = Engine(session, statements, options)
        started = _now()
        engine.start()
        stopped_by = watch(engine, options, console, started)
        return engine.report(started, stopped_by)
    finally:
        cluster.shutdown()
