"""The client side of ``bench_etcd``: one round of one kind against one system, run in a
process of its own (so that its CPU is its own, and a round never shares a GIL with the
orchestrator or with the other system's client).

Kinds of round:

- ``load``: writes keys 0..read_keys-1 once (before the rounds), for the reads to find;
- ``writes``: ``concurrency`` writes in flight of random keys, 100-byte values by default;
  Skewless: a prepared INSERT at QUORUM with server-side timestamps through one stock
  cassandra-driver session; etcd: ``put`` through aetcd, one client per endpoint and the
  ``concurrency`` tasks spread over them;
- ``reads``: the same shape, reading preloaded keys: a QUORUM SELECT by key against a
  serializable ``get``;
- ``serial``: one write at a time (its p50 is the figure of merit).

Each round first runs ``warmup_s`` of the same load, unmeasured, then measures ``seconds``: the
answers, their latencies, the client's own CPU (``time.process_time``) and the servers' CPU
(``/proc`` utime + stime of their processes, read at the window's two ends by this process).
"""

from __future__ import annotations

import asyncio  # allow-real-clock (the etcd client is asyncio gRPC)
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from skewless.bench_support import (
    DriverLoop,
    LoopResult,
    Measured,
    connect_driver,
    cpu_seconds,
    now_s,
)

KEYSPACE = "bench_etcd"
TABLE = "kv"
WRITE_KEYS = 1_000_000  # random write keys are drawn from this many
ETCD_REQUEST_TIMEOUT_S = 20  # one aetcd request's timeout
ERROR_PAUSE_S = 0.01  # an etcd task that got an error waits this long before its next request
KINDS = ("writes", "reads", "serial")


@dataclass(frozen=True)
class RoundSpec:
    system: str  # "skewless" or "etcd"
    kind: str  # "load" or one of KINDS
    hosts: tuple[str, ...]  # Skewless: contact points; etcd: the members' client hosts
    ports: tuple[int, ...]  # Skewless: (cql port,); etcd: one client port per host
    server_pids: tuple[int, ...]
    seconds: float
    warmup_s: float
    concurrency: int
    value_bytes: int
    read_keys: int
    seed: int


@dataclass(frozen=True)
class RoundResult(Measured):
    client_cpu_s: float
    unfinished: int

    @property
    def client_us_per_op(self) -> float:
        return self.client_cpu_s * 1e6 / self.ops if self.ops else float("nan")


def _result(loop: LoopResult, server_cpu_s: float, client_cpu_s: float) -> RoundResult:
    return RoundResult(loop.ops, loop.errors, loop.error_text(), loop.elapsed_s,
                       loop.percentile_ms(0.5), loop.percentile_ms(0.99), server_cpu_s,
                       client_cpu_s, loop.unfinished)


def run_round(spec: RoundSpec) -> RoundResult:
    """One round (in the calling process): warm-up, then the measured window."""
    if spec.system == "skewless":
        return _skewless_round(spec)
    assert spec.system == "etcd", spec.system
    return asyncio.run(_etcd_round(spec))


# ------------------------------------------------------------------ Skewless


def ensure_schema(session: Any) -> None:
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}", timeout=60)
    session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} "
                    "(k bigint PRIMARY KEY, v blob)", timeout=60)


def _skewless_round(spec: RoundSpec) -> RoundResult:
    cluster = connect_driver(spec.hosts, spec.ports[0])
    try:
        session = cluster.connect()
        session.use_client_timestamp = False  # the coordinator stamps every write
        if spec.kind == "load":
            ensure_schema(session)
        insert = session.prepare(f"INSERT INTO {KEYSPACE}.{TABLE} (k, v) VALUES (?, ?)")
        select = session.prepare(f"SELECT v FROM {KEYSPACE}.{TABLE} WHERE k = ?")
        value = random.Random(spec.seed).randbytes(spec.value_bytes)
        rng = random.Random(spec.seed + 1)
        statement: Any
        args_for: Callable[[int], tuple[Any, ...]]
        if spec.kind == "load":
            statement, args_for = insert, lambda i: (i, value)
        elif spec.kind == "reads":
            statement, args_for = select, lambda i: (rng.randrange(spec.read_keys),)
        else:
            statement = insert
            args_for = lambda i: (spec.read_keys + rng.randrange(WRITE_KEYS), value)  # noqa: E731
        concurrency = 1 if spec.kind == "serial" else spec.concurrency

        def loop(seconds: float | None, total: int | None = None) -> LoopResult:
            deadline = None if seconds is None else now_s() + seconds
            return DriverLoop(session, statement, args_for, concurrency, deadline_s=deadline,
                              total=total).run()

        if spec.kind == "load":
            return _measured(lambda: loop(None, spec.read_keys), spec.server_pids)
        if spec.warmup_s > 0:
            loop(spec.warmup_s)
        return _measured(lambda: loop(spec.seconds), spec.server_pids)
    finally:
        cluster.shutdown()


def _measured(body: Callable[[], LoopResult], server_pids: Sequence[int]) -> RoundResult:
    server0, client0 = cpu_seconds(server_pids), time.process_time()
    result = body()
    server1, client1 = cpu_seconds(server_pids), time.process_time()
    return _result(result, server1 - server0, client1 - client0)


# ------------------------------------------------------------------ etcd


async def _etcd_round(spec: RoundSpec) -> RoundResult:
    import aetcd

    clients = [aetcd.Client(host=h, port=p, timeout=ETCD_REQUEST_TIMEOUT_S)
               for h, p in zip(spec.hosts, spec.ports, strict=True)]
    try:
        for c in clients:
            await c.connect()
        value = random.Random(spec.seed).randbytes(spec.value_bytes)
        rng = random.Random(spec.seed + 1)

        def op_for(client: Any, i: int) -> Awaitable[Any]:
            if spec.kind == "load":
                return client.put(b"%d" % i, value)  # type: ignore[no-any-return]
            if spec.kind == "reads":
                return client.get(  # type: ignore[no-any-return]
                    b"%d" % rng.randrange(spec.read_keys), serializable=True)
            return client.put(  # type: ignore[no-any-return]
                b"%d" % (spec.read_keys + rng.randrange(WRITE_KEYS)), value)

        concurrency = 1 if spec.kind == "serial" else spec.concurrency
        if spec.kind == "load":
            server0, client0 = cpu_seconds(spec.server_pids), time.process_time()
            result = await _etcd_loop(clients, op_for, concurrency, None, spec.read_keys)
        else:
            if spec.warmup_s > 0:
                await _etcd_loop(clients, op_for, concurrency, now_s() + spec.warmup_s, None)
            server0, client0 = cpu_seconds(spec.server_pids), time.process_time()
            result = await _etcd_loop(clients, op_for, concurrency, now_s() + spec.seconds, None)
        server1, client1 = cpu_seconds(spec.server_pids), time.process_time()
        return _result(result, server1 - server0, client1 - client0)
    finally:
        for c in clients:
            await c.close()


async def _etcd_loop(clients: Sequence[Any], op_for: Callable[[Any, int], Awaitable[Any]],
                     concurrency: int, deadline_s: float | None, total: int | None
                     ) -> LoopResult:
    """``concurrency`` tasks, task t on client t mod len(clients), each one request at a time
    until the deadline or the total."""
    result = LoopResult()
    issued = 0
    started = last = now_s()

    async def task(client: Any) -> None:
        nonlocal issued, last
        while True:
            if deadline_s is not None and now_s() >= deadline_s:
                return
            if total is not None and issued >= total:
                return
            i = issued
            issued += 1
            t0 = now_s()
            try:
                await op_for(client, i)
            except Exception as e:  # counted by kind; the task goes on
                result.errors += 1
                name = type(e).__name__
                result.error_kinds[name] = result.error_kinds.get(name, 0) + 1
                last = now_s()
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            last = now_s()
            result.ops += 1
            result.latencies_s.append(last - t0)

    await asyncio.gather(*(task(clients[t % len(clients)]) for t in range(concurrency)))
    result.elapsed_s = last - started
    return result
