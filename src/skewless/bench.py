"""``skewless bench``: QUORUM write and read throughput and latency through the stock driver.

It runs against a cluster that is already serving (``skewless cluster start``), keeps
``concurrency`` requests in flight with ``execute_async``, records each request's latency in an
HDR histogram, and prints ops/s, p50, p99 and p999 for the write phase and the read phase.
"""

from __future__ import annotations

import threading
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from hdrh.histogram import HdrHistogram

from skewless import limits


def _phase(session, stmt, args: list[tuple[object, ...]], concurrency: int  # type: ignore[no-untyped-def]
           ) -> tuple[float, HdrHistogram, int, int]:
    """(seconds, latency histogram in µs, requests finished, errors) of one phase."""
    hist = HdrHistogram(1, 60_000_000, 3)
    lock = threading.Lock()
    done = threading.Event()
    state = {"next": 0, "finished": 0, "errors": 0}

    def launch() -> None:
        with lock:
            i = state["next"]
            if i >= len(args):
                return
            state["next"] = i + 1
        started = time.perf_counter()  # allow-real-clock
        f = session.execute_async(stmt, args[i])
        f.add_callbacks(lambda _r: finish(started, False), lambda _e: finish(started, True))

    def finish(started: float, error: bool) -> None:
        hist.record_value(max(1, int((time.perf_counter() - started) * 1e6)))  # allow-real-clock
        with lock:
            state["finished"] += 1
            state["errors"] += int(error)
            last = state["finished"] == len(args)
        if last:
            done.set()
        else:
            launch()

    t0 = time.perf_counter()  # allow-real-clock
    for _ in range(min(concurrency, len(args))):
        launch()
    done.wait(timeout=limits.bench_phase_s_max)
    secs = time.perf_counter() - t0  # allow-real-clock
    with lock:
        return secs, hist, state["finished"], state["errors"]


def run_bench(host: str, port: int, ops: int, concurrency: int) -> list[str]:
    cluster = Cluster([host], port=port, protocol_version=4)
    session = cluster.connect()
    session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    session.execute("CREATE TABLE IF NOT EXISTS bench.kv (k int PRIMARY KEY, v blob)")
    ins = session.prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
    sel = session.prepare("SELECT v FROM bench.kv WHERE k = ?")
    for p in (ins, sel):
        p.consistency_level = ConsistencyLevel.QUORUM
    lines = []
    value = b"x" * 100
    writes: list[tuple[object, ...]] = [(i, value) for i in range(ops)]
    reads: list[tuple[object, ...]] = [(i,) for i in range(ops)]
    for name, stmt, args in (("write", ins, writes), ("read", sel, reads)):
        secs, h, finished, errors = _phase(session, stmt, args, concurrency)
        lines.append(
            f"QUORUM {name:5}: {finished / secs:8.0f} ops/s ({finished} of {ops} finished)"
            f"  p50 {h.get_value_at_percentile(50) / 1000:6.2f} ms"
            f"  p99 {h.get_value_at_percentile(99) / 1000:6.2f} ms"
            f"  p999 {h.get_value_at_percentile(99.9) / 1000:6.2f} ms  errors {errors}")
    cluster.shutdown()
    return lines
