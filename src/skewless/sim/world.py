"""The deterministic simulator: N nodes of the production code on virtual time, one process.

Theory of operation
-------------------
``World`` owns virtual time (``now_ns``), a heap of scheduled events ordered by (time, sequence
number) and one ``random.Random`` seeded from the run's seed; every other random source (each
node's, the network's) is derived from it, so one seed fixes the whole run. Nothing here reads
the real clock.

Each simulated node is the real ``skewless.node.node.Node`` with its ``Executor``, over the real
storage engine on ``MemoryKV`` (which models fsync: ``crash`` keeps only synced data; synced
before each Ready's sends under ``commitlog_sync = batch``, every ``commitlog_periodic_ms``
under ``periodic``; a slow disk, ``SimNode.disk_sync_ns``, holds a batch's replies and the
sends that must wait for the sync until it ends, and a crash in between loses them), with a
``SimClock``: monotonic time is the world's time; real time is the world's time plus the node's
own offset, drift and steps (only real time is ever skewed, as in TigerBeetle's TimeSim).

Messages between nodes go through the real wire codec (``node.messages.encode``/``decode``) and
a ``SimNetwork`` that delays (a seeded latency), drops, duplicates or cuts them (partitions). A
node's Ready batch is carried out exactly as the runtime does (the order ``node.effects``
states): sync requested, the coordinator's requests sent while it runs (when the stamp ceiling
is durable: ``SimNode.durable_ceiling_us``), the other sends once it has ended, then replies.

Every event appends one line to ``trace``: the same seed and options give a byte-identical
trace (tests check it), and a failing run is reproduced from its seed.

Client requests: ``request`` opens each in the node's registry (``node.requests``) as the
runtime does and keeps its own ledger of the requests each live node owes a reply. A reply
nobody is owed, a request a live node still owes at the end (``request_problems``), a reply lost
and answered only at its deadline, or an internal error (not a planted one) fails the run: an
internal error at once (``AssertionError`` from the exception), the others through the lab's
``exactly_one_reply`` verdict or a test's ``check_requests``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from skewless import limits
from skewless.clock import ClockReading
from skewless.config import NodeConfig
from skewless.node.batchlog import Batchlog
from skewless.node.effects import Ready, Reply, during_sync
from skewless.node.executor import Executor, Params
from skewless.node.messages import Envelope, decode, encode
from skewless.node.node import Node
from skewless.node.planted import Planted
from skewless.node.requests import TIMEOUT_MS
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV

EPOCH_US = 1_750_000_000_000_000  # virtual real time starts here (2025-06-15), any fixed value


@dataclass
class SimClock:
    world: World
    offset_us: int = 0
    drift_ppm: float = 0.0

    def monotonic_ns(self) -> int:
        return self.world.now_ns

    def real_time_us(self) -> int:
        elapsed_us = self.world.now_ns // 1000
        return EPOCH_US + elapsed_us + self.offset_us + int(elapsed_us * self.drift_ppm / 1e6)

    def reading(self) -> ClockReading:
        """Virtual time stands still within a step: every bracket is exact."""
        now_ns = self.world.now_ns
        return ClockReading(now_ns, self.real_time_us(), now_ns)


@dataclass
class SimNetwork:
    rng: random.Random
    latency_us_min: int = 100
    latency_us_max: int = 2000
    drop_per_million: int = 0
    duplicate_per_million: int = 0
    cut: set[tuple[str, str]] = field(default_factory=set)  # one-way (src, dst) pairs
    slow: dict[tuple[str, str], int] = field(default_factory=dict)  # (src, dst) -> extra µs
    withheld: set[tuple[str, str]] = field(default_factory=set)  # (dst, message type) lost

    def partition(self, a: str, b: str, both_ways: bool = True) -> None:
        self.cut.add((a, b))
        if both_ways:
            self.cut.add((b, a))

    def heal(self) -> None:
        self.cut.clear()
        self.slow.clear()

    def delay_link(self, src: str, dst: str, extra_ms: int) -> None:
        """Every message from ``src`` to ``dst`` takes ``extra_ms`` longer (a slow or congested
        one-way link; nothing is lost); 0 restores the link."""
        assert extra_ms >= 0
        if extra_ms:
            self.slow[(src, dst)] = extra_ms * 1000
        else:
            self.slow.pop((src, dst), None)

    def isolate(self, a: str, others: list[str]) -> None:
        for b in others:
            if b != a:
                self.partition(a, b)

    def deliveries(self, src: str, dst: str) -> list[int]:
        """Latencies (µs) of the copies of one message that arrive: none if cut or dropped."""
        if (src, dst) in self.cut:
            return []
        if self.rng.randrange(1_000_000) < self.drop_per_million:
            return []
        copies = 2 if self.rng.randrange(1_000_000) < self.duplicate_per_million else 1
        extra_us = self.slow.get((src, dst), 0)
        return [extra_us + self.rng.randint(self.latency_us_min, self.latency_us_max)
                for _ in range(copies)]


@dataclass
class SimNode:
    address: str
    config: NodeConfig
    clock: SimClock
    kv: MemoryKV
    node: Node
    executor: Executor
    up: bool = True
    paused: bool = False
    disk_sync_ns: int = 0  # a slow disk: each sync of a Ready batch takes this long
    # Batches taken while a slow sync is under way: they leave after it, in order, as the
    # runtime's flush loop carries out one batch at a time (a read answer must not overtake
    # the sync of a write it saw).
    behind_sync: list[Ready] | None = None
    errors_seen: int = 0  # node.requests.internal_errors already raised (check_errors)
    # The highest stamp ceiling a finished sync covered (node.effects, step 2); at boot the one
    # read from storage.
    durable_ceiling_us: int = 0


class World:
    def __init__(self, seed: int, n_nodes: int = 3, timestamp_policy: str = "hlc",
                 trace_enabled: bool = True,
                 node_options: Mapping[str, object] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now_ns = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.trace: list[str] = []
        self.trace_enabled = trace_enabled
        self.network = SimNetwork(random.Random(self.rng.getrandbits(64)))
        self.nodes: dict[str, SimNode] = {}
        self.replies: dict[int, Callable[[Reply], None]] = {}
        self.policy = timestamp_policy
        self.node_options = dict(node_options or {})  # more NodeConfig fields, for every node
        # (address, conn, stream) -> replies the node owes (its process: cleared by a crash)
        self.owed: dict[tuple[str, int, int], int] = {}
        self.reply_problems: list[str] = []  # replies nobody was owed
        addresses = [f"127.0.0.{i}" for i in range(1, n_nodes + 1)]
        for a in addresses:
            self._boot(a, MemoryKV(), SimClock(self))

    # ------------------------------------------------------------------ scheduling

    def at(self, delay_ns: int, fn: Callable[[], None]) -> None:
        assert delay_ns >= 0
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ns + delay_ns, self._seq, fn))

    def log(self, line: str) -> None:
        if self.trace_enabled:
            self.trace.append(f"{self.now_ns:>14} {line}")

    def run_for(self, duration_ns: int) -> None:
        end = self.now_ns + duration_ns
        events_max = duration_ns // 1000 + 1_000_000  # a bound on the loop, far above need
        for _ in range(events_max):
            if not self._queue or self._queue[0][0] > end:
                break
            t, _, fn = heapq.heappop(self._queue)
            self.now_ns = t
            fn()
        else:
            raise AssertionError("simulation event bound reached")
        self.now_ns = end

    def run_until(self, cond: Callable[[], bool], timeout_ns: int) -> bool:
        step = limits.tick_interval_ms * 1_000_000
        waited = 0
        while not cond():
            if waited >= timeout_ns:
                return False
            self.run_for(step)
            waited += step
        return True

    # ------------------------------------------------------------------ nodes

    def add_node(self, address: str, **options: object) -> None:
        """Start a new node (empty data) with the same seeds: it joins (node.topology)."""
        assert address not in self.nodes
        self._boot(address, MemoryKV(), SimClock(self), options)

    def _boot(self, address: str, kv: MemoryKV, clock: SimClock,
              extra: Mapping[str, object] | None = None) -> None:
        cfg = NodeConfig(address=address, seeds=("127.0.0.1",), data_dir=f"sim/{address}",
                         timestamp_policy=self.policy,  # type: ignore[arg-type]
                         **{**self.node_options, **(extra or {})})  # type: ignore[arg-type]
        node = Node(cfg, clock, random.Random(self.rng.getrandbits(64)), Storage(kv))
        executor = Executor(node, random.Random(self.rng.getrandbits(64)))
        sn = SimNode(address, cfg, clock, kv, node, executor,
                     durable_ceiling_us=node.stamping.ceiling_us)
        self.nodes[address] = sn
        self.log(f"{address} boot host_id={node.host_id}")
        self._flush(sn)
        self._schedule_tick(sn, node.membership.local.generation)
        if cfg.commitlog_sync == "periodic":
            self._schedule_sync(sn, node.membership.local.generation)

    def _schedule_tick(self, sn: SimNode, generation: int) -> None:
        def tick() -> None:
            if not sn.up or sn.node.membership.local.generation != generation:
                return
            if not sn.paused:
                sn.node.tick()
                self._flush(sn)
                self.check_errors(sn)
            self._schedule_tick(sn, generation)
        self.at(limits.tick_interval_ms * 1_000_000, tick)

    def _schedule_sync(self, sn: SimNode, generation: int) -> None:
        """``commitlog_sync = periodic``: storage synced every ``commitlog_periodic_ms`` only
        (as the runtime does), so a crash loses what was written since, acknowledged or not."""
        def sync() -> None:
            if not sn.up or sn.node.membership.local.generation != generation:
                return
            if not sn.paused:
                self._sync(sn)
            self._schedule_sync(sn, generation)
        self.at(sn.config.commitlog_periodic_ms * 1_000_000, sync)

    def _waker(self, sn: SimNode, generation: int) -> Callable[[], None]:
        """A timer a node asked for (``Ready.wake_after_ns``): one extra tick."""
        def wake() -> None:
            if sn.up and not sn.paused and sn.node.membership.local.generation == generation:
                sn.node.tick()
                self._flush(sn)
        return wake

    def _flush(self, sn: SimNode) -> None:
        """Carry out a node's Ready batch: sync, then send, then reply (as the runtime does)."""
        ready = sn.node.take_ready()
        if ready.wake_after_ns:
            self.at(ready.wake_after_ns, self._waker(sn, sn.node.membership.local.generation))
        if sn.behind_sync is not None:
            sn.behind_sync.append(ready)  # leaves once the sync under way has ended
        else:
            self._carry_out(sn, ready)
        if sn.node.crash_point_reached and sn.up:
            self.log(f"{sn.address} crash point {sn.node.crash_point_reached}")
            self.crash(sn.address)

    def _sync(self, sn: SimNode) -> None:
        """Sync the node's storage now: the stamp ceiling it covers is durable."""
        ceiling = sn.node.stamping.ceiling_us
        sn.kv.sync()
        sn.durable_ceiling_us = max(sn.durable_ceiling_us, ceiling)

    def _carry_out(self, sn: SimNode, ready: Ready) -> None:
        if (ready.must_sync and sn.config.commitlog_sync == "batch") \
                or ready.must_sync_metadata:
            early, late = during_sync(
                ready.sends, sn.node.stamping.ceiling_us <= sn.durable_ceiling_us,
                ready.hold_prepares)
            self._send(sn, early)  # while the sync runs (node.effects, step 2)
            ready = replace(ready, sends=late)
            if sn.disk_sync_ns:
                sn.behind_sync = []
                # A slow disk: the other sends and the replies wait for the sync; a crash
                # before it ends loses them (never synced, never sent), as on a power cut.
                self.at(sn.disk_sync_ns, self._synced(sn, sn.node, ready))
            else:
                self._sync(sn)
                self._send_ready(sn, ready)
        else:
            self._send_ready(sn, ready)

    def _synced(self, sn: SimNode, node: Node, ready: Ready) -> Callable[[], None]:
        def done() -> None:
            if sn.node is not node or not sn.up:
                return  # the process that asked for the sync is gone
            if sn.paused:
                self.at(limits.tick_interval_ms * 1_000_000, done)
                return
            self._sync(sn)
            self._send_ready(sn, ready)
            later, sn.behind_sync = sn.behind_sync or [], None
            if later:  # what the runtime takes next: one batch of all that came meanwhile
                self._carry_out(sn, Ready(
                    must_sync=any(r.must_sync for r in later),
                    must_sync_metadata=any(r.must_sync_metadata for r in later),
                    hold_prepares=any(r.hold_prepares for r in later),
                    sends=[x for r in later for x in r.sends],
                    replies=[x for r in later for x in r.replies],
                    events=[x for r in later for x in r.events]))
        return done

    def _send(self, sn: SimNode, sends: list[tuple[str, Envelope]]) -> None:
        for dst, env in sends:
            if (dst, type(env.message).__name__) in self.network.withheld:
                continue
            data = encode(env)
            for latency_us in self.network.deliveries(sn.address, dst):
                self.at(latency_us * 1000, self._deliverer(sn.address, dst, data))

    def _send_ready(self, sn: SimNode, ready: Ready) -> None:
        self._send(sn, ready.sends)
        for r in ready.replies:
            key = (sn.address, r.conn, r.stream)
            owed = self.owed.get(key, 0)
            if owed <= 0:
                self.reply_problems.append(f"{sn.address} replied on conn {r.conn} stream "
                                           f"{r.stream} with no request open there")
            elif owed == 1:
                del self.owed[key]
            else:
                self.owed[key] = owed - 1
            cb = self.replies.get(r.conn)
            if cb is not None:
                cb(r)

    def _deliverer(self, src: str, dst: str, data: bytes) -> Callable[[], None]:
        def deliver() -> None:
            target = self.nodes.get(dst)
            if target is None or not target.up:
                return
            if target.paused:
                self.at(limits.tick_interval_ms * 1_000_000, deliver)
                return
            env = decode(data)
            self.log(f"{src}->{dst} {type(env.message).__name__} ts={env.sender_ts_us}")
            target.node.peer_message(src, env)
            self._flush(target)
            self.check_errors(target)
        return deliver

    def crash(self, address: str) -> None:
        """Kill -9: the node stops; its storage keeps only what was synced."""
        sn = self.nodes[address]
        sn.up = False
        sn.kv = sn.kv.crash()
        self._forget_owed(address)
        self.log(f"{address} crash")

    def stop(self, address: str) -> None:
        """A clean stop (SIGTERM): the node tells its peers it is shutting down, syncs, ends."""
        sn = self.nodes[address]
        sn.node.fd.announce_shutdown()
        self._flush(sn)
        self._sync(sn)
        sn.up = False
        self._forget_owed(address)
        self.log(f"{address} stop")

    def restart(self, address: str) -> None:
        sn = self.nodes[address]
        assert not sn.up
        self.log(f"{address} restart")
        self._boot(address, sn.kv, sn.clock)

    def set_crash_point(self, address: str, point: str) -> None:
        """Test-only ``--crash-point`` for one node (its current process only)."""
        sn = self.nodes[address]
        sn.node.config = replace(sn.node.config, crash_point=point)
        sn.node.batchlog = Batchlog(sn.node)
        self.log(f"{address} crash point set: {point}")

    def set_raise_at(self, address: str, point: str) -> None:
        """Test-only ``--raise-at`` for one node (its current process only)."""
        sn = self.nodes[address]
        sn.node.requests.planted = Planted(point)
        self.log(f"{address} raise at {point}")

    def pause(self, address: str, paused: bool) -> None:
        self.nodes[address].paused = paused
        self.log(f"{address} {'pause' if paused else 'resume'}")

    # ------------------------------------------------------------------ clients

    def request(self, address: str, conn: int, stream: int, run: Callable[[], object],
                kind: str = "request") -> None:
        """A client request on (conn, stream) to a live node: opened in its registry and run
        there as the runtime does (``run`` calls the executor), then its Ready carried out."""
        sn = self.nodes[address]
        assert sn.up
        key = (address, conn, stream)
        self.owed[key] = self.owed.get(key, 0) + 1
        entry = sn.node.requests.open_request(conn, stream, kind)
        sn.node.requests.run(entry, run)
        self._flush(sn)
        self.check_errors(sn)

    def check_errors(self, sn: SimNode) -> None:
        """Raise at once on an internal error the node caught (logged, answered ServerError
        in a process): a bug the simulation must not hide. Planted ones are not counted."""
        requests = sn.node.requests
        if requests.internal_errors > sn.errors_seen:
            sn.errors_seen = requests.internal_errors
            raise AssertionError(f"{sn.address}: internal error") \
                from requests.last_internal_error

    def _forget_owed(self, address: str) -> None:
        """The process is gone: what it owed is lost (its clients time out)."""
        for key in [k for k in self.owed if k[0] == address]:
            del self.owed[key]

    def request_problems(self) -> list[str]:
        """Every request must have ended in exactly one reply: what says otherwise (empty
        when all is well). Nodes down are not asked."""
        out = list(self.reply_problems)
        for address, sn in sorted(self.nodes.items()):
            if not sn.up:
                continue
            out += [f"{address}: {p}" for p in sn.node.requests.problems()]
            owed = sum(n for (a, _, _), n in self.owed.items() if a == address)
            if owed:
                out.append(f"{address}: owes {owed} reply(ies) to the simulated clients")
        return out

    def settle_requests(self) -> bool:
        """Run until no live node has a request open, bounded by the longest deadline a
        request can have (a request still open then is a leak)."""
        bound_ns = (max(TIMEOUT_MS.values()) + limits.client_request_deadline_slack_ms) * 10**6
        return self.run_until(lambda: not any(
            sn.up and len(sn.node.requests) for sn in self.nodes.values()), bound_ns)

    def check_requests(self) -> None:
        """Assert every request ended in exactly one reply (after ``settle_requests``)."""
        self.settle_requests()
        problems = self.request_problems()
        assert not problems, "; ".join(problems)

    def client_query(self, address: str, conn: int, query: str, cl: int,
                     on_reply: Callable[[Reply], None], keyspace: str | None = None,
                     timestamp_us: int | None = None, tracing: bool = False,
                     token_us: int | None = None) -> None:
        """A CQL QUERY from a client connection ``conn`` to node ``address`` (with the tracing
        flag if ``tracing``; the client's address is then 10.0.0.``conn``), carrying the session
        token ``token_us`` if given."""
        sn = self.nodes[address]
        self.replies[conn] = on_reply
        self.log(f"client{conn}->{address} {query}")
        if not sn.up:
            return
        client = f"10.0.0.{conn % 256}" if tracing else ""
        self.request(address, conn, 0, lambda: sn.executor.query(
            conn, 0, query, Params(consistency=cl, timestamp=timestamp_us, token_us=token_us,
                                   tracing=tracing, client=client), keyspace))

    def query(self, address: str, text: str, cl: int, wait_ns: int, conn: int = 1) -> object:
        """``client_query`` run until it is answered: the reply's body, or None when no reply
        came within ``wait_ns`` of virtual time (tests)."""
        out: list[object] = []
        self.client_query(address, conn, text, cl, lambda r: out.append(r.body))
        self.run_until(lambda: bool(out), wait_ns)
        return out[0] if out else None

    def query_once(self, address: str, text: str, params: Params, wait_ns: int,
                   conn: int = 1) -> object:
        """``client_execute`` run until it is answered, then one more virtual second, in which a
        second reply to the one request would come: the reply's body (tests; no answer, or
        two, fails the assertion)."""
        out: list[object] = []
        self.client_execute(address, conn, text, params, lambda r: out.append(r.body))
        assert self.run_until(lambda: bool(out), wait_ns), f"no answer to {text}"
        self.run_for(10**9)
        assert len(out) == 1, out
        return out[0]

    def client_execute(self, address: str, conn: int, query: str, params: Params,
                       on_reply: Callable[[Reply], None]) -> None:
        """A CQL QUERY with full parameters (page size, paging state) from connection ``conn``."""
        sn = self.nodes[address]
        self.replies[conn] = on_reply
        self.log(f"client{conn}->{address} {query} page_size={params.page_size}")
        if not sn.up:
            return
        self.request(address, conn, 0, lambda: sn.executor.query(conn, 0, query, params, None))

    def stabilize(self, timeout_ns: int = 10 * 10**9) -> bool:
        """Run until every node sees every other node up and in the ring (node.topology)."""
        def all_up() -> bool:
            ups = [n for n in self.nodes.values() if n.up]
            return all(all(x.node.membership.is_alive(y.address)
                           and x.node.membership.status_of(y.address) not in ("STARTING", "")
                           for y in ups) for x in ups)
        return self.run_until(all_up, timeout_ns)
