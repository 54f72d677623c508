"""The node core: one replica and coordinator, synchronous, driven by inputs, emitting Ready.

Theory of operation
-------------------
A ``Node`` owns the node's protocol state: membership (gossip and failure detection), the
schema, the timestamp source, in-flight coordinator requests, hint replay, and the replica side
of reads and writes. Its inputs are method calls: ``peer_message`` (an internode envelope),
``tick`` (timers), and the CQL entry points of ``node.executor.Executor`` which call ``write``
and ``read`` here, and ``metadata.propose`` (schema changes: ``node.metadata``). Its outputs
accumulate in a ``Ready`` batch that the runtime or simulator takes with ``take_ready`` and
carries out in the order ``node.effects`` states (sync, then send, then reply).

Everything nondeterministic is injected: ``clock`` (monotonic and real time apart), ``rng`` (a
seeded ``random.Random`` for host ids and tokens) and ``storage`` (RocksDB or memory). The same
code runs in a node process and, N at a time, in the simulator.

Clock: every envelope we send carries our timestamp source's reading; every envelope received,
mutation applied and read result merged is ``observe``d, so under ``hlc`` a node stamps every
write above anything it has seen (see ``skewless.clock``).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from skewless import limits
from skewless.clock import Clock
from skewless.config import NodeConfig
from skewless.errors import CqlError, Overloaded, Unavailable
from skewless.node import consistency as cl_mod
from skewless.node import replica, scan
from skewless.node.auth.permissions_cache import PermissionsCache
from skewless.node.batchlog import Batchlog
from skewless.node.clock.stamping import Stamping
from skewless.node.coordinator import Join, PlannedWrite, ReadOp, WriteOp
from skewless.node.counter_write import CounterLeader
from skewless.node.effects import ClusterEvent, Ready, Reply
from skewless.node.index import read as index_read
from skewless.node.index.manager import IndexManager
from skewless.node.latency import NodeLatency, timed
from skewless.node.lwt import LWT_MESSAGES, Lwt
from skewless.node.membership.membership import Change, Membership
from skewless.node.membership.peers_store import PeerStore
from skewless.node.membership.swim import FailureDetector
from skewless.node.messages import (
    BatchlogAck,
    BatchlogRemove,
    BatchlogStore,
    ClockPing,
    ClockPong,
    CounterMutationRequest,
    CounterMutationResponse,
    Envelope,
    FloorQuery,
    FloorReply,
    Heartbeat,
    IndexScanRequest,
    IndexScanResponse,
    Message,
    MutationRequest,
    MutationResponse,
    PermissionsInvalidate,
    ProbeAck,
    ProbePing,
    ProbeRequest,
    RangeReadRequest,
    RangeReadResponse,
    ReadRequest,
    ReadResponse,
    RemoveNode,
    ReplaceInfo,
    ReplaceQuery,
    Shutdown,
    StampRequest,
    StampResponse,
    StreamChunk,
    StreamDone,
    StreamRequest,
    TracedRequest,
    TracedResponse,
    TruncateRequest,
    TruncateResponse,
)
from skewless.node.metadata.paxos import MetaMessage
from skewless.node.metadata.service import MetadataService
from skewless.node.ordered import OrderedWrites
from skewless.node.placement import dc_factors
from skewless.node.read_coordinator import ReadCoordinator, ReadDone
from skewless.node.repair.anti_entropy import AntiEntropy
from skewless.node.repair.service import REPAIR_MESSAGES, ActiveRepairService
from skewless.node.requests import ClientRequests
from skewless.node.schema.system_tables import stored_table_by_key
from skewless.node.shadowing import ShadowReport, unique
from skewless.node.topology.changes import Topology
from skewless.node.topology.pending import pending_for
from skewless.node.tracing.records import THREAD_MUTATION, Trace
from skewless.node.tracing.tracer import Tracer
from skewless.node.truncation import Truncations
from skewless.ring import token_of
from skewless.schema import KeyspaceDef, Schema, TableDef, dropped_by_table
from skewless.storage import codec
from skewless.storage import newest as newest_timestamps
from skewless.storage.diskspace import DiskFull
from skewless.storage.engine import Storage
from skewless.storage.integrity import CORRUPT_PREFIX, StorageCorruption, gossiped_verdict
from skewless.storage.model import PartitionUpdate, Shadowed

log = logging.getLogger("skewless.node")

WriteDone = Callable[[CqlError | None, tuple[Shadowed, ...]], None]  # one partition's replicas
WritesDone = Callable[[CqlError | None, tuple[ShadowReport, ...]], None]  # a whole write
# One mutation ready to send: the update, its replicas, the live ones, their DCs, the need.


class Node:
    def __init__(self, config: NodeConfig, clock: Clock, rng: random.Random,
                 storage: Storage) -> None:
        self.config = config
        self.address = config.address
        self.clock = clock
        self.rng = rng
        self.storage = storage
        self.ready = Ready()
        self._next_req_id = 1
        self.ops: dict[int, WriteOp | ReadOp | scan.RangeRound | index_read.IndexRound] = {}
        self.repairs: dict[int, ReadOp] = {}
        self.hint_replays: dict[int, tuple[str, bytes, int]] = {}  # req -> target, id, deadline_ns
        self.topology = Topology(self)
        self.host_id, tokens, generation = self._identity()
        tokens, status = self.topology.initial(tokens)
        self.stamping = Stamping(self)
        self.ordered = OrderedWrites(self)
        self.ts = self.stamping.ts
        self.clocks = self.stamping.clocks
        self.shadowed_writes: Counter[str] = Counter()  # table id -> cells reported shadowed
        self.restamped_writes: Counter[str] = Counter()  # table id -> writes stamped again
        self.metadata = MetadataService(self, self.host_id.int)  # no draw from rng
        self.schema: Schema = self.metadata.state.schema
        self.storage.dropped = dropped_by_table(self.schema)
        self.beat = 0
        self.membership = Membership(self._heartbeat(tokens, generation, status), config.seeds)
        self.peer_store = PeerStore(self.storage, self._must_sync_metadata)
        for hb in self.peer_store.load():  # down until heard, as Cassandra's system.peers
            self.membership.add_dead(hb, self.clock.monotonic_ns())
        self.topology.load_removed()
        self.fd = FailureDetector(self)  # phi-accrual suspicion, SWIM probes, convictions
        self._last_gossip_ns = -(10**18)
        self._last_hint_round_ns = -(10**18)
        self.crash_point_reached = ""  # set by a test-only crash point: the runtime kills us
        self.requests: ClientRequests = ClientRequests(self)  # open client requests: one reply each
        self.batchlog = Batchlog(self)
        self.truncations = Truncations(self)
        self.tracer = Tracer(self)
        self.reads = ReadCoordinator(self)  # the coordinator side of partition reads
        self.counters = CounterLeader(self)  # counter writes' leader side (node.counter_write)
        self.indexes = IndexManager(self)  # after the schema: it builds what the schema lists
        self.active_repair = ActiveRepairService(self)  # nodetool repair (node.repair)
        self.anti_entropy = AntiEntropy(self)  # background repair (node.anti_entropy)
        self.latency = NodeLatency()  # nodetool tablestats/histograms
        self.lwt = Lwt(self, generation)  # partition Paxos: LWTs and SERIAL reads (node.lwt)
        self.permissions = PermissionsCache(  # roles' grants (node.auth.authorizer)
            config.permissions_validity, limits.permissions_cache_entries_max)
        self.metadata.start()  # last: applying entries may touch the parts above

    # ------------------------------------------------------------------ identity and schema

    def _identity(self) -> tuple[uuid.UUID, tuple[int, ...], int]:
        raw = self.storage.get_meta("host_id")
        if raw is None:
            host_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            self.storage.put_meta("host_id", host_id.bytes)
            self.storage.sync()
        else:
            host_id = uuid.UUID(bytes=raw)
        # node.topology chooses a new node's tokens (empty until then)
        tokens_raw = self.storage.get_meta("tokens") or b""
        tokens = tuple(int(t) for t in tokens_raw.decode().split(",") if t)
        # A restart is a newer gossip generation even if the clock now reads earlier than at
        # the last start (peers ignore heartbeats of an older generation: the node would never
        # be seen up again). Synced before the first heartbeat leaves.
        last = self.storage.get_meta("generation")
        generation = max(self.clock.real_time_us(), int(last.decode()) + 1 if last else 0)
        self.storage.put_meta("generation", str(generation).encode())
        self.storage.sync()
        return host_id, tokens, generation

    def next_timestamp(self) -> int:
        return self.stamping.next_timestamp()

    def observe(self, ts_us: int) -> None:
        self.stamping.observe(ts_us)

    def _heartbeat(self, tokens: tuple[int, ...], generation: int, status: str) -> Heartbeat:
        return Heartbeat(
            self.address, str(self.host_id), generation, self.beat, self.config.dc,
            self.config.rack, tokens, self.config.cql_port, str(self.schema.version),
            self.metadata.index, (), self.storage.size_bytes(), status, self.config.cluster_name,
            self.topology.replacing, gossiped_verdict(self.storage.kv))

    def set_local_state(self, tokens: tuple[int, ...], status: str) -> None:
        """node.topology: our tokens and status changed (gossiped next)."""
        local = self.membership.local
        self.membership.update_local(self._heartbeat(tokens, local.generation, status))

    # ------------------------------------------------------------------ outputs

    def take_ready(self) -> Ready:
        """The effects accumulated since the last call. ``must_sync`` is derived: it is set
        when anything was written to storage meanwhile (``Storage.take_unsynced``)."""
        r, self.ready = self.ready, Ready()
        if self.storage.take_unsynced():
            r.must_sync = True
        return r

    def send(self, address: str, message: Message) -> None:
        assert address != self.address
        env = Envelope(self.stamping.peek(), message)
        self.ready.sends.append((address, env))

    def physical_us(self) -> int:
        """Cluster time as this node reads it (see ``node.stamping``)."""
        return self.stamping.physical_us()

    def begin_input(self) -> None:
        """An input starts: cluster time is read once for all of it (``node.stamping``)."""
        self.stamping.begin_input()

    def end_input(self) -> None:
        self.stamping.end_input()

    def reply(self, reply: Reply) -> None:
        """A client request's reply: delivered if it is the request's first (node.requests)."""
        if self.requests.close(reply.conn, reply.stream):
            self.ready.replies.append(reply)

    def reply_error(self, conn: int, stream: int, error: CqlError) -> None:
        self.reply(Reply(conn, stream, error))

    def event(self, event: ClusterEvent) -> None:
        self.ready.events.append(event)

    def new_req_id(self) -> int:
        self._next_req_id += 1
        return self._next_req_id

    # ------------------------------------------------------------------ inputs

    def peer_message(self, sender: str, env: Envelope) -> None:
        """A peer's message. An exception out of a client request's continuation is that
        request's reply (node.requests); any other is logged with an error id and counted."""
        self.requests.in_peer_message = True
        self.stamping.begin_input()  # cluster time is read once for the whole message
        try:
            self._peer_message(sender, env)
        except StorageCorruption:  # recorded by the store; the runtime logs it once
            raise
        except Exception as e:
            self.requests.unattributed(
                f"handling a {type(env.message).__name__} from {sender}", e)
        finally:
            self.requests.in_peer_message = False
            self.stamping.end_input()

    def _peer_message(self, sender: str, env: Envelope) -> None:
        self.observe(env.sender_ts_us)
        m = env.message
        if isinstance(m, Heartbeat):
            self._on_heartbeat(m)
        elif isinstance(m, MutationRequest):
            self._on_mutation(sender, m)
        elif isinstance(m, MutationResponse):
            self._on_mutation_response(sender, m)
        elif isinstance(m, ReadRequest):
            self._on_read(sender, m)
        elif isinstance(m, ReadResponse):
            self.reads.on_response(sender, m)
        elif isinstance(m, RangeReadRequest):
            self.send(sender, scan.serve_range(self.storage, self.schema, m, self._now_s(),
                                                   self.address))
        elif isinstance(m, RangeReadResponse):
            scan.on_range_response(self, sender, m)
        elif isinstance(m, LWT_MESSAGES):
            self.lwt.on_message(sender, m)
        elif isinstance(m, MetaMessage):
            self.metadata.on_message(sender, m)
        elif isinstance(m, IndexScanRequest):
            self.send(sender, index_read.serve(self, m))
        elif isinstance(m, IndexScanResponse):
            index_read.on_response(self, sender, m)
        elif isinstance(m, BatchlogStore | BatchlogAck | BatchlogRemove):
            self.batchlog.on_message(sender, m)
        elif isinstance(m, ClockPing | ClockPong | StampRequest | StampResponse):
            self.stamping.on_message(sender, m)
        elif isinstance(m, FloorQuery | FloorReply):
            self.ordered.on_message(sender, m)
        elif isinstance(m, TracedRequest):
            self.tracer.on_request(sender, m)
        elif isinstance(m, ProbeRequest | ProbePing | ProbeAck | Shutdown):
            for change in self.fd.on_message(sender, m):
                self._membership_event(change)
        elif isinstance(m, REPAIR_MESSAGES):
            self.active_repair.on_message(sender, m)
        elif isinstance(m, TruncateRequest):
            self.truncations.on_request(sender, m)
        elif isinstance(m, TruncateResponse):
            self.truncations.on_response(sender, m)
        elif isinstance(m, StreamRequest | StreamChunk | StreamDone | RemoveNode | ReplaceQuery
                        | ReplaceInfo):
            self.topology.on_message(sender, m)
        elif isinstance(m, CounterMutationRequest):
            self.counters.on_request(sender, m)
        elif isinstance(m, CounterMutationResponse):
            self.counters.on_response(sender, m)
        elif isinstance(m, PermissionsInvalidate):  # a peer's GRANT / REVOKE / DROP
            names = m.roles if isinstance(m.roles, tuple) and \
                all(isinstance(r, str) for r in m.roles) else None
            self.permissions.invalidate(None if m.all or names is None else names)
        elif isinstance(m, TracedResponse):
            inner = self.tracer.on_response(sender, m)
            if isinstance(inner, MutationResponse):
                self._on_mutation_response(sender, inner)
            elif isinstance(inner, ReadResponse):
                self.reads.on_response(sender, inner)
            self.tracer.settle(self.clock.monotonic_ns())

    def tick(self) -> None:
        self.stamping.begin_input()  # cluster time is read once for the whole tick
        try:
            self._tick()
        finally:
            self.stamping.end_input()

    def _tick(self) -> None:
        now_ns = self.clock.monotonic_ns()
        for change in self.fd.tick(now_ns):
            self._membership_event(change)
        self._expire_ops(now_ns)
        self.counters.tick(now_ns)
        self.tracer.settle(now_ns)
        self.metadata.tick(now_ns)
        if now_ns - self._last_gossip_ns >= limits.gossip_interval_ms * 1_000_000:
            self._last_gossip_ns = now_ns
            self._gossip()
        self.stamping.tick(now_ns)
        self.ordered.tick(now_ns)
        if now_ns - self._last_hint_round_ns >= limits.hint_replay_interval_ms * 1_000_000:
            self._last_hint_round_ns = now_ns
            self._storage_step(self._replay_hints, now_ns)
        self._storage_step(self.batchlog.tick, now_ns)
        self.truncations.tick(now_ns)
        self._storage_step(lambda _: self.indexes.tick(), now_ns)
        self._storage_step(self.active_repair.tick, now_ns)
        self._storage_step(self.anti_entropy.tick, now_ns)
        self._storage_step(self.topology.tick, now_ns)
        self._storage_step(self.lwt.tick, now_ns)
        self.requests.tick(now_ns)  # last: the timeouts above answer first

    def _storage_step(self, step: Callable[[int], None], now_ns: int) -> None:
        """One part of the tick that reads storage: corruption under it (recorded by the store,
        ``storage.integrity``) ends that part's round, not the whole tick."""
        try:
            step(now_ns)
        except StorageCorruption as e:  # the store logged the mark once (runtime.quarantine)
            log.debug("corrupt storage under the tick: %s", e)

    # ------------------------------------------------------------------ gossip

    def gossip_now(self) -> None:
        self._gossip()

    def _gossip(self) -> None:
        self.beat += 1
        local = self.membership.local
        hb = replace(self._heartbeat(local.tokens, local.generation, local.status),
                     known=self.membership.known_addresses())
        self.membership.update_local(hb)
        for addr in self.membership.gossip_targets():
            self.send(addr, hb)

    def _on_heartbeat(self, hb: Heartbeat) -> None:
        if hb.address == self.address:
            return
        for change in self.membership.on_heartbeat(hb, self.clock.monotonic_ns()):
            self._membership_event(change)
        peer = self.membership.peers.get(hb.address)
        if peer is not None and peer.state is hb:  # accepted (not refused, stale or duplicated)
            self.peer_store.note(hb)
        self.metadata.on_heartbeat(hb)

    def _must_sync_metadata(self) -> None:
        self.ready.must_sync_metadata = True

    def _membership_event(self, change: Change) -> None:
        self.fd.log_change(change)  # DOWN and UP with their cause
        if change.kind == "RESTARTED":
            self.clocks.forget(change.address)
        port = self.config.cql_port
        if change.kind == "NEW_NODE":
            self.event(ClusterEvent("TOPOLOGY_CHANGE", "NEW_NODE", change.address, port))
        elif change.kind in ("UP", "DOWN"):
            self.event(ClusterEvent("STATUS_CHANGE", change.kind, change.address, port))

    # ------------------------------------------------------------------ replica side

    def _now_s(self) -> int:
        return self.physical_us() // 1_000_000

    def apply_local(self, update: PartitionUpdate) -> tuple[Shadowed, ...]:
        bounds = newest_timestamps.bounds(update)  # the storage needs them too: worked out once
        self.observe(max(bounds[1], 0))  # max_timestamp(update)
        started_ns = self.clock.monotonic_ns()
        report = self.storage.apply(update, self._now_s(), bounds)
        self.latency.local_write(update.table, self.clock.monotonic_ns() - started_ns)
        return report.shadowed

    def table_by_key(self, table_key: str) -> TableDef | None:
        """A user table, or a system_auth / system_traces table (system tables stored as
        data)."""
        return self.schema.table_by_key(table_key) or stored_table_by_key(table_key)

    def _on_mutation(self, sender: str, m: MutationRequest) -> None:
        self.send(sender, replica.mutation_reply(self, m))

    def _on_read(self, sender: str, r: ReadRequest) -> None:
        self.send(sender, replica.read_reply(self, r))

    # ------------------------------------------------------------------ coordinator: writes

    def replicas_for(self, ks: KeyspaceDef, key: bytes) -> list[str]:
        return self.membership.ring().replicas(token_of(key), ks.replication_map())

    def write_replicas(self, ks: KeyspaceDef, key: bytes) -> tuple[list[str], list[str]]:
        """Natural replicas then pending ones (node.pending), and the pending ones alone."""
        natural = self.replicas_for(ks, key)
        if not self.membership.changing():
            return natural, []
        pending = pending_for(self.membership.ring(), self.membership.future_ring(),
                              token_of(key), ks.replication_map(), natural)
        return natural + pending, pending

    def check_capacity(self) -> None:
        if len(self.ops) + len(self.batchlog.stores) >= limits.coordinator_requests_inflight_max:
            raise Overloaded("Too many in-flight requests on this coordinator")

    def write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int,
              write_type: str, done: WritesDone, trace: Trace | None = None) -> None:
        """Replicate ``updates`` (stamped already); ``done`` fires once ``cl`` is met or not,
        with what the acknowledging replicas reported shadowed (``node.shadowing``).

        Raises Unavailable (before anything is sent) when too few replicas are alive."""
        assert updates
        self.check_capacity()
        self.write_planned(self.plan_write(ks, updates, cl), cl, write_type, done, trace)

    def plan_write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int
                   ) -> list[PlannedWrite]:
        """Where each update goes; raises Unavailable when too few replicas are alive."""
        factors = dc_factors(ks.replication_map(), self.config.dc)
        need = cl_mod.requirement(cl, factors, self.config.dc, write=True)
        plans: list[PlannedWrite] = []
        for u in updates:
            replicas, pending = self.write_replicas(ks, u.key)
            alive = [a for a in replicas if self.membership.is_alive(a)]
            dc_of = {a: self.membership.dc_of(a) for a in replicas}
            need_u = cl_mod.with_pending(need, pending, dc_of) if pending else need
            if cl != cl_mod.ANY and not need_u.satisfied(alive, dc_of):
                raise Unavailable(
                    "Cannot achieve consistency level " + cl_mod.NAMES[cl], cl,
                    need_u.block_for, len(alive))
            plans.append((u, replicas, alive, dc_of, need_u))
        return plans

    def write_planned(self, plans: Sequence[PlannedWrite], cl: int, write_type: str,
                      done: WritesDone, trace: Trace | None = None) -> None:
        """Send planned mutations (see ``plan_write``); ``done`` fires once ``cl`` is met."""
        done = timed(self.clock, self.latency.coordinator_write, self.requests.bind(done))
        if len(plans) == 1:  # one partition (most writes): no join
            u, replicas, alive, dc_of, need = plans[0]

            def single(error: CqlError | None, sh: tuple[Shadowed, ...]) -> None:
                done(error, tuple(unique([ShadowReport(u.table, u.key, s) for s in sh])))

            if trace is not None:
                trace.event(f"Determining replicas for mutation: {', '.join(replicas)} "
                            f"(alive: {', '.join(alive) or 'none'})")
            self._write_one(u, replicas, alive, dc_of, need, cl, write_type, single, trace)
            return
        shadowed_all: list[ShadowReport] = []

        def joined(error: CqlError | None, results: list[object]) -> None:
            done(error, tuple(unique(shadowed_all)))

        join = Join(len(plans), joined)
        for i, (u, replicas, alive, dc_of, need) in enumerate(plans):
            part = join.part(i)

            def one(error: CqlError | None, sh: tuple[Shadowed, ...],
                    part: Callable[[CqlError | None, object], None] = part,
                    u: PartitionUpdate = u) -> None:
                shadowed_all.extend(ShadowReport(u.table, u.key, s) for s in sh)
                part(error, None)

            if trace is not None:
                trace.event(f"Determining replicas for mutation: {', '.join(replicas)} "
                            f"(alive: {', '.join(alive) or 'none'})")
            self._write_one(u, replicas, alive, dc_of, need, cl, write_type, one, trace)

    def _write_one(self, u: PartitionUpdate, replicas: list[str], alive: list[str],
                   dc_of: dict[str, str], need: cl_mod.Requirement, cl: int, write_type: str,
                   done: WriteDone, trace: Trace | None = None) -> None:
        req_id = self.new_req_id()
        now_ns = self.clock.monotonic_ns()
        payload = codec.encode_update(u)
        op = WriteOp(req_id, tuple(alive), need, dc_of,
                     now_ns + limits.write_timeout_ms * 1_000_000, cl, write_type, done, payload)
        self.ops[req_id] = op
        for a in replicas:
            if a not in alive:
                self.hint(a, payload, now_ns)
                if trace is not None:
                    trace.event(f"{a} is down: storing a hint for it")
        if cl == cl_mod.ANY and not alive:
            op.finished = True
            done(None, ())
        for a in alive:
            if a == self.address:
                try:
                    shadowed = self.apply_local(u)
                except StorageCorruption as e:  # recorded (storage.integrity): a failed replica
                    op.on_ack(a, (), f"{CORRUPT_PREFIX} {self.address}: {e}")
                    continue
                except DiskFull as e:  # refused or failed here: a replica's failure
                    op.on_ack(a, (), str(e))
                    continue
                if trace is not None:
                    trace.event(f"Applied mutation locally ({len(u.rows)} rows)"
                                f"{replica.shadow_note(shadowed)}", THREAD_MUTATION)
                op.on_ack(a, shadowed, "")
            elif trace is None:
                self.send(a, MutationRequest(req_id, payload, False))
            else:
                self.tracer.send(a, MutationRequest(req_id, payload, False), trace)
        self._retire_if_complete(req_id)

    def _on_mutation_response(self, sender: str, m: MutationResponse) -> None:
        if self.batchlog.on_mutation_response(sender, m):
            return
        if m.req_id in self.hint_replays:
            target, hint_id, _ = self.hint_replays.pop(m.req_id)
            if not m.error and target == sender:
                self.storage.remove_hints(target, [hint_id])
                if all(t != target for t, _, _ in self.hint_replays.values()):
                    self._replay_hints(self.clock.monotonic_ns())  # the next batch at once
            return
        if m.req_id in self.repairs:
            self.repairs.pop(m.req_id).on_repair_ack(m.req_id)
            return
        op = self.ops.get(m.req_id)
        if not isinstance(op, WriteOp) or sender not in op.targets:
            return  # late response to an expired request
        shadowed = tuple(Shadowed(*s) for s in m.shadowed)
        op.on_ack(sender, shadowed, m.error)
        self._retire_if_complete(m.req_id)

    def _retire_if_complete(self, req_id: int) -> None:
        op = self.ops.get(req_id)
        if isinstance(op, WriteOp) and op.complete():
            del self.ops[req_id]

    # ------------------------------------------------------------------ hints

    def hint(self, target: str, payload: bytes, now_ns: int) -> None:
        if not self.config.hinted_handoff_enabled:
            return
        if self.membership.down_for_ns(target, now_ns) > self.config.max_hint_window_ms * 10**6:
            return  # down longer than max_hint_window: repair must bring it back
        try:
            stored = self.storage.add_hint(target, self.physical_us(), payload)
        except DiskFull as e:  # the store failed (storage.diskspace): repair brings it back
            log.warning("cannot store a hint for %s: %s", target, e)
            return
        if not stored:
            log.warning("hint log for %s is full; dropping a hint", target)

    def _replay_hints(self, now_ns: int) -> None:
        inflight = {t for t, _, _ in self.hint_replays.values()}
        for target in self.storage.hint_targets():
            if target in inflight or not self.membership.is_alive(target):
                continue
            if target == self.address:
                continue
            for hint_id, _created, payload in self.storage.hints(
                    target, limits.hint_replay_batch_max):
                rid = self.new_req_id()
                deadline_ns = now_ns + limits.write_timeout_ms * 1_000_000
                self.hint_replays[rid] = (target, hint_id, deadline_ns)
                self.send(target, MutationRequest(rid, payload, True))

    # ------------------------------------------------------------------ coordinator: reads

    def read(self, ks: KeyspaceDef, request: ReadRequest, cl: int, done: ReadDone,
             trace: Trace | None = None) -> None:
        """Read one partition at ``cl`` (``node.read_coordinator``)."""
        self.reads.read(ks, request, cl, done, trace)

    def read_targets(self, replicas: list[str], need: cl_mod.Requirement, cl: int) -> list[str]:
        """The live replicas to read from at ``cl``; raises Unavailable when too few are up."""
        return self.reads.read_targets(replicas, need, cl)

    def needs_rebuild(self, address: str) -> bool:
        """Whether that replica's storage is corrupt (ours, or as its gossip says)."""
        return self.reads.needs_rebuild(address)

    # ------------------------------------------------------------------ timeouts

    def _expire_ops(self, now_ns: int) -> None:
        for req_id in [r for r, op in self.ops.items() if op.deadline_ns <= now_ns]:
            op = self.ops.pop(req_id)
            if isinstance(op, WriteOp):
                op.expire()
                for a in op.unacknowledged():
                    self.hint(a, op.payload, now_ns)
            else:
                for rid in [r for r, o in self.repairs.items() if o is op]:
                    del self.repairs[rid]
                op.expire()
        for rid in [r for r, (_, _, d) in self.hint_replays.items() if d <= now_ns]:
            del self.hint_replays[rid]

