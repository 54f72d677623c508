"""LOGGED batches are all-or-nothing when their coordinator dies (real processes, kill -9), and
the batch warnings reach the stock driver.

Each trial restarts node 3, sends it a stream of 4-partition LOGGED batches at QUORUM (several
in flight) and kills it mid-stream: with ``kill -9`` at a random moment, or with the test-only
``--crash-point`` (SIGKILL from inside the node right after the batchlog write, or after half of
a batch's mutations went out). After the survivors' replay delay every batch the stream sent is
read back at QUORUM from the survivors: each must be applied fully or not at all.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Sequence

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import BatchStatement, BatchType

from skewless import bench_batch, limits
from skewless.node.membership import phi

REPLAY_DELAY_MS = 1500
# Heartbeat mean interval the survivors have learnt by the kill: one a second, plus the 2 s
# initial sample of the phi window still weighing on a young cluster's mean.
CONVICT_MEAN_MS = 1.25 * limits.gossip_interval_ms
PARTS = 4  # partitions per batch
INFLIGHT = 8
STREAM_MAX = 400  # batches per trial at most
KS = "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
PHI_CONVICT_THRESHOLD = 5.0  # Cassandra's minimum: each trial waits for the conviction
# One trial of each kind in the suite; SKEWLESS_BATCHLOG_ROUNDS=N repeats the three N times.
TRIALS = [("kill9", ""), ("crash", "batch-mid-mutations"), ("crash", "batch-after-batchlog")
          ] * int(os.environ.get("SKEWLESS_BATCHLOG_ROUNDS", "1"))


def _keys(trial: int, b: int) -> list[int]:
    return [trial * 100_000 + b * PARTS + j for j in range(PARTS)]


def _set_crash_point(argv: list[str], point: str) -> list[str]:
    out = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--crash-point":
            skip = True
        else:
            out.append(a)
    return out + (["--crash-point", point] if point else [])


def _stream(session: Session, trial: int, stop: threading.Event) -> tuple[list[int], set[int]]:
    """Send LOGGED batches (INFLIGHT at a time) until ``stop`` or an error; returns the batches
    sent and those acknowledged."""
    ins = session.prepare("INSERT INTO ks.t (k, b) VALUES (?, ?)")
    sent: list[int] = []
    acked: set[int] = set()
    futures: list[tuple[int, object]] = []
    failed = False

    def settle(b: int, f: object) -> bool:
        try:
            f.result()  # type: ignore[attr-defined]
            acked.add(b)
            return True
        except Exception:
            return False

    for b in range(STREAM_MAX):
        if stop.is_set() or failed:
            break
        batch = BatchStatement(BatchType.LOGGED, consistency_level=ConsistencyLevel.QUORUM)
        for k in _keys(trial, b):
            batch.add(ins, (k, b))
        try:
            futures.append((b, session.execute_async(batch, timeout=10)))
        except Exception:
            break
        sent.append(b)
        if len(futures) >= INFLIGHT:
            failed = not settle(*futures.pop(0))
    for b, f in futures:
        settle(b, f)
    return sent, acked


def _check(session: Session, trial: int, sent: Sequence[int]) -> tuple[int, int, list[int]]:
    """(fully applied, not applied, partial batch numbers), read at QUORUM."""
    sel = session.prepare("SELECT k, b FROM ks.t WHERE k IN ?")
    sel.consistency_level = ConsistencyLevel.QUORUM
    full = none = 0
    partial = []
    for b in sent:
        rows = list(session.execute(sel, (_keys(trial, b),)))
        assert all(r.b == b for r in rows)
        if len(rows) == PARTS:
            full += 1
        elif not rows:
            none += 1
        else:
            partial.append(b)
    return full, none, partial


def test_logged_batches_all_or_nothing_when_coordinator_killed(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--batchlog-replay-delay-ms", str(REPLAY_DELAY_MS),
              "--phi-convict-threshold", str(PHI_CONVICT_THRESHOLD)]] * 3
    c = cluster_factory(3, extra=extra)
    s = c.session()
    s.execute(KS)
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, b int)")
    survivors = [n.address for n in c.nodes[:2]]
    readers = Cluster(survivors, port=c.nodes[0].cql_port, protocol_version=4,
                      load_balancing_policy=WhiteListRoundRobinPolicy(survivors))
    c.clusters.append(readers)
    reader = readers.connect()
    victim = c.nodes[2]
    rng = random.Random(2026)
    totals = {"batches": 0, "acked": 0, "full": 0, "none": 0, "partial": 0}
    for trial, (how, point) in enumerate(TRIALS):
        nth = rng.randint(5, 40)
        victim.argv = _set_crash_point(victim.argv, f"{point}:{nth}" if point else "")
        if trial > 0 or point:
            victim.restart()
            for n in c.nodes:
                c.wait_gossip(3, via=n.address)
        session = c.session_to(victim.address)
        stop = threading.Event()
        killer = None
        if how == "kill9":
            delay = rng.uniform(0.3, 1.5)
            def kill(stop: threading.Event = stop) -> None:
                stop.set()
                victim.kill9()

            killer = threading.Timer(delay, kill)
            killer.start()
        sent, acked = _stream(session, trial, stop)
        if killer is not None:
            killer.join()
        else:
            deadline = time.monotonic() + 10
            while victim.returncode() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert victim.returncode() is not None, "the crash point was not reached"
            victim.kill9()  # reaps it and removes its pid file
        # The survivors convict the dead node, then replay what their batchlogs hold.
        time.sleep((phi.convict_within_ms(PHI_CONVICT_THRESHOLD, CONVICT_MEAN_MS) + REPLAY_DELAY_MS
                    + 2 * limits.batchlog_replay_interval_ms) / 1000)
        full, none, partial = _check(reader, trial, sent)
        print(f"\ntrial {trial} ({how} {point or ''}{':' + str(nth) if point else ''}): "
              f"{len(sent)} batches sent, {len(acked)} acknowledged; {full} fully applied, "
              f"{none} not applied, {len(partial)} partial {partial[:5]}")
        assert not partial, (trial, partial)
        assert not [b for b in acked if b not in set(sent)]
        assert full >= len(acked)  # every acknowledged batch is applied
        totals["batches"] += len(sent)
        totals["acked"] += len(acked)
        totals["full"] += full
        totals["none"] += none
        totals["partial"] += len(partial)
    print(f"\n{len(TRIALS)} trials: {totals}")
    assert totals["partial"] == 0


def _warnings_of(session: Session, stmt: object) -> list[str]:
    f = session.execute_async(stmt)
    f.result()
    return list(f.warnings or [])


def test_batch_warnings_reach_the_stock_driver_and_latency(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3)
    s = c.session()
    s.execute(KS)
    s.execute("CREATE TABLE ks.w (k int PRIMARY KEY, v text)")
    ins = s.prepare("INSERT INTO ks.w (k, v) VALUES (?, ?)")

    def batch(kind: BatchType, rows: list[tuple[int, str]]) -> BatchStatement:
        b = BatchStatement(kind, consistency_level=ConsistencyLevel.QUORUM)
        for r in rows:
            b.add(ins, r)
        return b

    big = batch(BatchType.LOGGED, [(1, "x" * 3000), (2, "y" * 3000)])
    warnings = _warnings_of(s, big)
    print(f"\nwarnings of a 6 KB batch: {warnings}")
    assert len(warnings) == 1
    m = re.fullmatch(r"Batch for \[ks\.w\] is of size (\d+), exceeding specified threshold of "
                     r"5120 by (\d+)\.", warnings[0])
    assert m is not None and int(m.group(1)) - 5120 == int(m.group(2)), warnings
    with pytest.raises(InvalidRequest, match="Batch too large"):
        s.execute(batch(BatchType.LOGGED, [(3, "x" * 30_000), (4, "y" * 30_000)]))
    assert s.execute("SELECT k FROM ks.w WHERE k IN (3, 4)").all() == []
    eleven = [(100 + i, "v") for i in range(11)]
    warnings = _warnings_of(s, batch(BatchType.UNLOGGED, eleven))
    print(f"warnings of an 11-partition UNLOGGED batch: {warnings}")
    assert warnings == [
        "Unlogged batch covering 11 partitions detected against table [ks.w]. You should use a "
        "logged batch for atomicity, or asynchronous writes for performance."]
    assert _warnings_of(s, batch(BatchType.LOGGED, eleven)) == []
    assert _warnings_of(s, batch(BatchType.UNLOGGED, eleven[:10])) == []
    # The latency the batchlog adds (printed, not asserted): the bench_batch tool's measurement.
    print(bench_batch.report(*bench_batch.measure(s, 300, 4), 4))
