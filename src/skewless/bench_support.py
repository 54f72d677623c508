"""What the throughput benchmarks (``bench_etcd``, ``bench_load``, ``bench_lwt``) share.

- ``bench_cluster``: a local cluster in a temporary directory for the length of a run, its
  failure to start answered as a command-line error, stopped by pid and removed at the end.
- Process accounting from /proc: the CPU seconds (utime + stime) of a set of server processes,
  the resident memory of one, and the bytes a data directory holds on disk.
- ``DriverLoop``: keeps N requests of one prepared statement in flight through the stock
  cassandra-driver, each answer's callback (on the driver's event-loop thread) recording it and
  issuing the next, until a deadline or a number of requests. A callback that would issue while
  an issue is already under way on the same thread (the driver calls the callbacks of an already
  failed future on the spot) only counts it, and the outer loop sends it: the stack stays flat
  even when every request fails at once.

Nothing here asserts a number: benchmarks measure the machine at hand.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from skewless import limits
from skewless.runtime.cluster import (
    ClusterStartError,
    NodeProcess,
    start_local_cluster,
    stop_nodes,
)

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
DRAIN_S_MAX = 30.0  # after the deadline, how long the answers still in flight are awaited
REQUEST_TIMEOUT_S = 20.0  # one benchmark request's driver timeout
GOSSIP_WAIT_S = 60.0  # until the first node sees every node up


def now_s() -> float:
    return time.perf_counter()  # allow-real-clock


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of ``pids`` together (a process that is gone counts 0)."""
    ticks = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / CLOCK_TICKS_PER_S


def rss_bytes(pid: int) -> int | None:
    """The resident set size of ``pid`` (VmRSS), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def disk_bytes(path: Path, skip_names: tuple[str, ...] = ("node.log",)) -> int:
    """Bytes allocated on disk to the files under ``path`` (as ``du``), the node's own log
    left out (RocksDB's write-ahead ``*.log`` files count: they are data)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name in skip_names:
                continue
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # a file compacted away meanwhile
                continue
    return total


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    raise AssertionError("unreachable")


def connect_driver(hosts: Sequence[str], port: int, consistency: str = "QUORUM") -> Any:
    """A stock driver Cluster (token-aware, protocol v4, server-side timestamps)."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        request_timeout=REQUEST_TIMEOUT_S,
        consistency_level=ConsistencyLevel.name_to_value[consistency])
    return Cluster(list(hosts), port=port, protocol_version=4, connect_timeout=10,
                   execution_profiles={EXEC_PROFILE_DEFAULT: profile})


def wait_all_up(session: Any, nodes: int, timeout_s: float = GOSSIP_WAIT_S) -> None:
    """Until the contacted node sees ``nodes`` nodes up (its system.skewless_status)."""
    deadline = now_s() + timeout_s
    seen = 0
    while now_s() < deadline:
        try:
            rows = session.execute("SELECT * FROM system.skewless_status", timeout=10)
            seen = sum(1 for r in rows if r.up)
        except Exception:  # not answering yet: ask again until the deadline
            seen = 0
        if seen >= nodes:
            return
        time.sleep(0.5)  # allow-real-clock
    raise RuntimeError(f"the first node sees {seen} of {nodes} nodes up after {timeout_s:g} s")


@dataclass
class LoopResult:
    ops: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)  # of the successful requests
    elapsed_s: float = 0.0  # from the first issue to the last answer
    unfinished: int = 0  # still in flight when the drain gave up

    def error_text(self) -> str:
        """The errors by kind, e.g. "3 WriteTimeout, 1 Unavailable" ('' without errors)."""
        return ", ".join(f"{n} {k}" for k, n in sorted(self.error_kinds.items()))

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the successful requests' latencies, in ms."""
        return percentile(sorted(self.latencies_s), q) * 1000


@dataclass(frozen=True)
class Measured:
    """One measured window of a benchmark: what a ``LoopResult`` gives, with the servers' CPU
    time over it (the benchmarks add their own fields)."""

    ops: int
    errors: int
    error_kinds: str
    elapsed_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float

    @property
    def per_s(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def server_us_per_op(self) -> float:
        return self.server_cpu_s * 1e6 / self.ops if self.ops else float("nan")


class DriverLoop:
    """``concurrency`` requests of ``statement`` in flight until ``deadline_s`` (perf_counter)
    or ``total`` requests; request i binds ``args_for(i)``; ``on_done(finished)`` is called
    after each answer (on the driver's thread, under the loop's lock: keep it short) with the
    count of answers so far."""

    def __init__(self, session: Any, statement: Any, args_for: Callable[[int], tuple[Any, ...]],
                 concurrency: int, *, deadline_s: float | None = None, total: int | None = None,
                 keep_latencies: bool = True,
                 on_done: Callable[[int], None] | None = None) -> None:
        assert concurrency >= 1 and (deadline_s is not None or total is not None)
        self._session = session
        self._statement = statement
        self._args_for = args_for
        self._concurrency = concurrency
        self._deadline = deadline_s
        self._total = total
        self._keep = keep_latencies
        self._on_done = on_done
        self._lock = threading.Lock()
        self._local = threading.local()
        self._issued = 0
        self._finished = 0
        self._stopping = False
        self._idle = threading.Event()
        self._started = 0.0
        self._last = 0.0
        self.result = LoopResult()

    def run(self) -> LoopResult:
        """Run to the deadline or the total, wait for the answers in flight (bounded)."""
        self._started = self._last = now_s()
        for _ in range(self._concurrency if self._total is None
                       else min(self._concurrency, self._total)):
            self._issue()
        while not self._idle.wait(0.2):
            if self._deadline is not None and now_s() >= self._deadline:
                break
        with self._lock:
            self._stopping = True
            self._check_idle()
        self._idle.wait(DRAIN_S_MAX)
        with self._lock:
            self.result.elapsed_s = self._last - self._started
            self.result.unfinished = self._issued - self._finished
            return self.result

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
            past = self._deadline is not None and now_s() >= self._deadline
            if self._stopping or past or (self._total is not None
                                          and self._issued >= self._total):
                self._stopping = True
                self._check_idle()
                return
            i = self._issued
            self._issued += 1
        started = now_s()
        try:
            future = self._session.execute_async(self._statement, self._args_for(i))
        except Exception as e:  # a request that cannot even be sent counts as an error
            self._finish(started, type(e).__name__)
            return
        future.add_callbacks(self._on_result, self._on_error, callback_args=(started,),
                             errback_args=(started,))

    def _on_result(self, _rows: Any, started: float) -> None:
        self._finish(started, None)

    def _on_error(self, error: BaseException, started: float) -> None:
        self._finish(started, type(error).__name__)

    def _finish(self, started: float, error: str | None) -> None:
        ended = now_s()
        with self._lock:
            r = self.result
            if error is None:
                r.ops += 1
                if self._keep:
                    r.latencies_s.append(ended - started)
            else:
                r.errors += 1
                r.error_kinds[error] = r.error_kinds.get(error, 0) + 1
            self._finished += 1
            self._last = ended
            if self._on_done is not None:  # before the run can be seen to end
                self._on_done(self._finished)
            self._check_idle()
        self._issue()

    def _check_idle(self) -> None:
        """Under the lock: nothing in flight and nothing more to issue ends the run."""
        done = self._stopping or (self._total is not None and self._issued >= self._total)
        if done and self._issued == self._finished:
            self._idle.set()


@contextmanager
def bench_cluster(name: str, nodes: int, args: Sequence[str], cql_port: int,
                  internode_port: int, data_parent: str | None = None
                  ) -> Iterator[list[NodeProcess]]:
    """``nodes`` local nodes started with ``args`` in a fresh directory (``skewless-<name>-``
    under ``data_parent``, default the system's), for the ``with`` block; a start that fails
    is a ``click.ClickException`` with the node's log tail."""
    root = Path(tempfile.mkdtemp(prefix=f"skewless-{name}-", dir=data_parent))
    started: list[NodeProcess] = []
    try:
        started = start_local_cluster(nodes, root, [list(args)] * nodes, cql_port=cql_port,
                                      internode_port=internode_port)
        yield started
    except ClusterStartError as e:
        raise click.ClickException(f"{e.message}\n{e.log_tail}") from None
    finally:
        stop_nodes(started, limits.cluster_stop_grace_ms / 1000)
        shutil.rmtree(root, ignore_errors=True)
