"""LOGGED batches made atomic with a batchlog, as Cassandra does it; and Cassandra's batch checks.

Theory of operation
-------------------
Coordinator (``Batchlog.write_atomic``), for a LOGGED batch of more than one partition update (a
single update is applied atomically by each replica anyway, so it skips the batchlog, as in
Cassandra):

1. check that every mutation's consistency level can be met (Unavailable otherwise, nothing
   sent), and choose the batchlog endpoints (``choose_endpoints``: up to two live nodes of the
   local datacenter other than this one, on different racks when it can; this node when it is
   alone in its datacenter; none: Unavailable "Cannot achieve consistency level ONE");
2. send each endpoint a ``BatchlogStore`` with the batch's mutations, all stamped already (one
   timestamp for the statements without their own). An endpoint keeps it (``Storage.add_batch``)
   (a storage write, so the Ready batch is ``must_sync``): its ``BatchlogAck`` leaves only
   after the fsync;
3. once every endpoint acknowledged, write the mutations as an ordinary write at the client's
   consistency level, write type BATCH (replicas that are down or do not answer are hinted);
4. once every mutation met the consistency level, answer the client and send ``BatchlogRemove``.

A failure in step 2 (an endpoint refuses, or no ack within the write timeout) answers WriteFailure
or WriteTimeout with write type BATCH_LOG before any mutation was sent, and asks every endpoint to
drop the entry (best effort: an entry that survives is replayed, which is still all-or-nothing).
A failure in step 3 answers the error and leaves the entries: the batch will be replayed.

Endpoint: every ``batchlog_replay_interval_ms`` (the first time ``batchlog_replay_startup_delay_ms``
after it started, once gossip has shown it the ring) a node replays the entries it has kept
longer than ``NodeConfig.batchlog_replay_delay_ms`` (by its own clock, from when it stored them):
each mutation goes to every replica of its partition (applied here when this node is one; hinted
for a replica that is down or does not answer within the write timeout), then the entry goes.
Mutations carry their timestamps, so applying one twice (both endpoints replay, or the
coordinator finished after all) changes nothing. Hence every mutation of a batch is eventually
applied, or none is (the coordinator died before an endpoint stored the batch).

Crash points (tests only, ``NodeConfig.crash_point``, FoundationDB's "buggify" in spirit): when the
coordinator reaches the named point for the N-th time it stops working on that batch and sets
``Node.crash_point_reached``; the runtime carries out the Ready batch at hand, then kills its own
process with SIGKILL (the simulator crashes the node). Points: ``batch-before-batchlog`` (nothing
of the batch has left), ``batch-after-batchlog`` (every endpoint holds it, no mutation sent),
``batch-mid-mutations`` (the first half of the batch's mutations sent, the rest never).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgpack

from skewless import limits
from skewless.errors import (
    UNKNOWN_FAILURE,
    CqlError,
    InvalidRequest,
    RemoteProtocolError,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from skewless.node import consistency as cl_mod
from skewless.node.coordinator import Join, PlannedWrite
from skewless.node.messages import (
    BatchlogAck,
    BatchlogRemove,
    BatchlogStore,
    MutationRequest,
    MutationResponse,
)
from skewless.node.planted import CRASH_POINTS as CRASH_POINTS  # re-exported
from skewless.node.planted import parse_crash_point as parse_crash_point
from skewless.node.shadowing import ShadowReport
from skewless.schema import KeyspaceDef, Schema
from skewless.storage import codec
from skewless.storage.diskspace import DiskFull
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.ports import BatchlogHost

log = logging.getLogger("skewless.batchlog")

BatchDone = Callable[[CqlError | None, tuple[ShadowReport, ...]], None]


# --------------------------------------------------------------------------- pure helpers


def encode_mutations(items: Sequence[tuple[str, bytes]]) -> bytes:
    """A batch's mutations as stored in the batchlog: (keyspace, storage.codec update) pairs."""
    data: bytes = msgpack.packb([list(i) for i in items], use_bin_type=True)
    return data


def decode_mutations(data: bytes) -> list[tuple[str, bytes]]:
    """Inverse of ``encode_mutations``; a peer's malformed batch raises RemoteProtocolError."""
    try:
        items = msgpack.unpackb(data, raw=False)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise RemoteProtocolError(f"undecodable batch: {e}") from e
    if not isinstance(items, list) or not all(
            isinstance(i, list) and len(i) == 2 and isinstance(i[0], str)
            and isinstance(i[1], bytes) for i in items):
        raise RemoteProtocolError("a batch is a list of [keyspace, update] pairs")
    out = [(ks, up) for ks, up in items]
    for _, up in out:
        codec.decode_update(up)  # raises RemoteProtocolError
    return out


def choose_endpoints(local: str, local_rack: str, dc_nodes: Sequence[tuple[str, str, bool]],
                     rng: random.Random, is_any: bool) -> list[str]:
    """Cassandra's batchlog endpoints among the local datacenter's ``(address, rack, alive)``:
    this node if it is alone there; else up to two live others, from racks other than ours
    when there are two such, from two different racks when there are several."""
    if len(dc_nodes) == 1:
        return [dc_nodes[0][0]]
    by_rack: dict[str, list[str]] = {}
    for address, rack, alive in sorted(dc_nodes):
        if address != local and alive:
            by_rack.setdefault(rack, []).append(address)
    live = sorted(a for members in by_rack.values() for a in members)
    if len(live) <= limits.batchlog_endpoints_max:
        return live or ([local] if is_any else [])
    if len(live) - len(by_rack.get(local_rack, [])) >= 2:
        by_rack.pop(local_rack, None)
    racks = sorted(by_rack)
    if len(racks) == 1:
        return sorted(rng.sample(by_rack[racks[0]], 2))
    if len(racks) > 2:
        racks = sorted(rng.sample(racks, 2))
    return [rng.choice(by_rack[r]) for r in racks]


def batch_warnings(schema: Schema, updates: Sequence[tuple[str, PartitionUpdate]],
                   logged: bool) -> tuple[str, ...]:
    """Cassandra's checks of a BATCH of more than one partition, as client warnings: its size
    (the encoded mutations) above ``batch_size_bytes_warn``, and an UNLOGGED batch over more
    than ``batch_unlogged_partitions_warn`` partitions. Above ``batch_size_bytes_fail``:
    InvalidRequest "Batch too large"."""
    if len({(ks, u.key) for ks, u in updates}) <= 1:
        return ()
    warnings = []
    size = sum(len(codec.encode_update(u)) for _, u in updates)
    warn, fail = limits.batch_size_bytes_warn, limits.batch_size_bytes_fail
    if size > warn:
        tables = _table_names(schema, updates)
        if size > fail:
            log.error("Batch for %s is of size %d, exceeding specified threshold of %d by %d. "
                      "(see batch_size_bytes_fail)", _listed(tables), size, fail, size - fail)
            raise InvalidRequest("Batch too large")
        warnings.append(f"Batch for {_listed(tables)} is of size {size}, exceeding specified "
                        f"threshold of {warn} by {size - warn}.")
    keys = {u.key for _, u in updates}
    if not logged and len(keys) > limits.batch_unlogged_partitions_warn:
        tables = _table_names(schema, updates)
        plural = "" if len(tables) == 1 else "s"
        warnings.append(f"Unlogged batch covering {len(keys)} partitions detected against "
                        f"table{plural} {_listed(tables)}. You should use a logged batch for "
                        "atomicity, or asynchronous writes for performance.")
    return tuple(warnings)


def _table_names(schema: Schema, updates: Sequence[tuple[str, PartitionUpdate]]) -> list[str]:
    names = set()
    for _, u in updates:
        t = schema.table_by_key(u.table)
        names.add(u.table if t is None else f"{t.keyspace}.{t.name}")
    return sorted(names)


def _listed(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"  # as Java prints a set


# --------------------------------------------------------------------------- the state machine


@dataclass
class _Store:
    """Coordinator: a batch waiting for its batchlog endpoints' acknowledgements."""

    batch_id: bytes
    endpoints: tuple[str, ...]
    deadline_ns: int
    proceed: Callable[[], None]
    fail: Callable[[CqlError], None]
    acked: set[str] = field(default_factory=set)

    @property
    def block_cl(self) -> int:
        return cl_mod.ONE if len(self.endpoints) == 1 else cl_mod.TWO


@dataclass
class _Replay:
    """Endpoint: a stored batch being replayed; ``pending`` maps request id -> (replica,
    encoded update) for the mutations not yet acknowledged."""

    deadline_ns: int
    pending: dict[int, tuple[str, bytes]]


class Batchlog:
    """The batchlog of one node: coordinator side (``write_atomic``) and endpoint side."""

    def __init__(self, node: BatchlogHost) -> None:
        self.node = node
        self.stores: dict[int, _Store] = {}
        self.replays: dict[bytes, _Replay] = {}
        self.replay_reqs: dict[int, bytes] = {}  # mutation request id -> batch id
        self._last_round_ns = -(10**18)
        self._started_ns: int | None = None  # the first tick: replay waits to know the ring
        self.crash_name, self.crash_nth = parse_crash_point(node.config.crash_point)
        self._crash_hits = 0

    # ------------------------------------------------------------------ coordinator

    def write_atomic(self, groups: Sequence[tuple[KeyspaceDef, Sequence[PartitionUpdate]]],
                     cl: int, done: BatchDone) -> None:
        """Apply a LOGGED batch through the batchlog (see the module docstring). Raises
        Unavailable or Overloaded before anything is sent."""
        node = self.node
        node.check_capacity()
        plans = [node.plan_write(ks, ups, cl) for ks, ups in groups]
        endpoints = self._endpoints(cl == cl_mod.ANY)
        if not endpoints:
            raise Unavailable("Cannot achieve consistency level ONE", cl_mod.ONE, 1, 0)
        batch_id = node.rng.randbytes(16)
        payload = encode_mutations(
            [(ks.name, codec.encode_update(u)) for ks, ups in groups for u in ups])

        def proceed() -> None:
            self._mutate(batch_id, endpoints, [p for ps in plans for p in ps], cl, done)

        def fail(error: CqlError) -> None:
            for e in endpoints:
                self._remove(e, batch_id)
            done(error, ())

        if self._crash_here("batch-before-batchlog"):
            return
        req_id = node.new_req_id()
        deadline_ns = node.clock.monotonic_ns() + limits.write_timeout_ms * 1_000_000
        self.stores[req_id] = _Store(batch_id, tuple(endpoints), deadline_ns, proceed, fail)
        for e in endpoints:
            if e == node.address:
                self._on_ack(req_id, e, self._store_here(batch_id, payload))
            else:
                node.send(e, BatchlogStore(req_id, batch_id, payload))

    def _endpoints(self, is_any: bool) -> list[str]:
        node = self.node
        dc = node.config.dc
        dc_nodes = [(node.address, node.config.rack, True)] + [
            (a, p.state.rack, p.up) for a, p in sorted(node.membership.peers.items())
            if p.state.dc == dc]
        return choose_endpoints(node.address, node.config.rack, dc_nodes, node.rng, is_any)

    def _on_ack(self, req_id: int, sender: str, error: str) -> None:
        st = self.stores.get(req_id)
        if st is None or sender not in st.endpoints or sender in st.acked:
            return  # late, duplicated or foreign
        if error:
            del self.stores[req_id]
            st.fail(WriteFailure(f"Batchlog write failed on {sender}: {error}", st.block_cl,
                                 len(st.acked), len(st.endpoints), 1, "BATCH_LOG",
                                 reasons={sender: UNKNOWN_FAILURE}))
            return
        st.acked.add(sender)
        if len(st.acked) == len(st.endpoints):
            del self.stores[req_id]
            st.proceed()

    def _mutate(self, batch_id: bytes, endpoints: list[str], plans: list[PlannedWrite],
                cl: int, done: BatchDone) -> None:
        node = self.node
        if self._crash_here("batch-after-batchlog"):
            return
        if self._crash_here("batch-mid-mutations"):
            for plan in plans[: len(plans) // 2]:
                node.write_planned([plan], cl, "BATCH", _ignore)
            return

        reports: list[ShadowReport] = []

        def finished(error: CqlError | None, _results: list[object]) -> None:
            if error is None:
                for e in endpoints:
                    self._remove(e, batch_id)
            done(error, tuple(reports))

        join = Join(len(plans), finished)
        for i, plan in enumerate(plans):
            part = join.part(i)

            def one(error: CqlError | None, sh: tuple[ShadowReport, ...],
                    part: Callable[[CqlError | None, object], None] = part) -> None:
                reports.extend(sh)
                part(error, None)

            node.write_planned([plan], cl, "BATCH", one)

    def _remove(self, endpoint: str, batch_id: bytes) -> None:
        if endpoint == self.node.address:
            self.node.storage.remove_batch(batch_id)
        else:
            self.node.send(endpoint, BatchlogRemove(batch_id))

    def _crash_here(self, point: str) -> bool:
        if point != self.crash_name:
            return False
        self._crash_hits += 1
        if self._crash_hits != self.crash_nth:
            return False
        log.warning("crash point %s reached (test option --crash-point)", point)
        self.node.crash_point_reached = point
        return True

    # ------------------------------------------------------------------ endpoint

    def on_message(self, sender: str, m: BatchlogStore | BatchlogAck | BatchlogRemove) -> None:
        if isinstance(m, BatchlogStore):
            try:
                decode_mutations(m.mutations)
                error = self._store_here(m.batch_id, m.mutations)
            except RemoteProtocolError as e:
                error = str(e)
            self.node.send(sender, BatchlogAck(m.req_id, error))
        elif isinstance(m, BatchlogAck):
            self._on_ack(m.req_id, sender, m.error)
        else:
            self.node.storage.remove_batch(m.batch_id)

    def _store_here(self, batch_id: bytes, payload: bytes) -> str:
        node = self.node
        if len(batch_id) != 16:
            return "a batch id has 16 bytes"
        if not node.storage.add_batch(batch_id, node.clock.real_time_us(), payload):
            log.warning("batchlog full (%d entries); refusing a batch", node.storage.batch_count())
            return f"batchlog full on {node.address}"
        return ""

    def tick(self, now_ns: int) -> None:
        for req_id in [r for r, st in self.stores.items() if st.deadline_ns <= now_ns]:
            st = self.stores.pop(req_id)
            st.fail(WriteTimeout(
                f"Operation timed out - received only {len(st.acked)} responses.",
                st.block_cl, len(st.acked), len(st.endpoints), "BATCH_LOG"))
        for batch_id in [b for b, r in self.replays.items() if r.deadline_ns <= now_ns]:
            replay = self.replays.pop(batch_id)
            for rid, (target, data) in replay.pending.items():
                self.replay_reqs.pop(rid, None)
                self.node.hint(target, data, now_ns)
            self.node.storage.remove_batch(batch_id)
        if self._started_ns is None:
            self._started_ns = now_ns
        if now_ns - self._started_ns < limits.batchlog_replay_startup_delay_ms * 1_000_000:
            return  # right after a restart this node does not know its peers yet
        if now_ns - self._last_round_ns >= limits.batchlog_replay_interval_ms * 1_000_000:
            self._last_round_ns = now_ns
            self._replay_round(now_ns)

    def _replay_round(self, now_ns: int) -> None:
        node = self.node
        room = limits.batchlog_replays_inflight_max - len(self.replays)
        if room <= 0:
            return
        cutoff_us = node.clock.real_time_us() - node.config.batchlog_replay_delay_ms * 1000
        for batch_id, _created_us, payload in node.storage.batches_before(
                cutoff_us, room + len(self.replays)):
            if room <= 0:
                break
            if batch_id not in self.replays:
                room -= 1
                try:
                    self._replay(batch_id, payload, now_ns)
                except DiskFull as e:  # kept, replayed again later (replaying twice is harmless)
                    log.warning("batch %s not replayed: %s", batch_id.hex(), e)
                    return

    def _replay(self, batch_id: bytes, payload: bytes, now_ns: int) -> None:
        node = self.node
        items = decode_mutations(payload)  # checked when stored
        log.info("replaying batch %s (%d mutations)", batch_id.hex(), len(items))
        pending: dict[int, tuple[str, bytes]] = {}
        for ks_name, data in items:
            ks = node.schema.keyspace(ks_name)
            update = codec.decode_update(data)
            if ks is None or node.schema.table_by_key(update.table) is None:
                continue  # dropped since: nothing to apply
            if node.truncations.covers(update):
                continue  # written before the table was truncated (node.truncation)
            for a in node.replicas_for(ks, update.key):
                if a == node.address:
                    node.apply_local(update)
                elif node.membership.is_alive(a):
                    rid = node.new_req_id()
                    pending[rid] = (a, data)
                    self.replay_reqs[rid] = batch_id
                    node.send(a, MutationRequest(rid, data, False))
                else:
                    node.hint(a, data, now_ns)
        if pending:
            self.replays[batch_id] = _Replay(
                now_ns + limits.write_timeout_ms * 1_000_000, pending)
        else:
            node.storage.remove_batch(batch_id)

    def on_mutation_response(self, sender: str, m: MutationResponse) -> bool:
        """Take a replayed mutation's response; False if it is not one."""
        batch_id = self.replay_reqs.pop(m.req_id, None)
        if batch_id is None:
            return False
        replay = self.replays.get(batch_id)
        if replay is None:
            return True
        entry = replay.pending.pop(m.req_id, None)
        if entry is not None and (m.error or entry[0] != sender):
            log.warning("replayed mutation of batch %s failed on %s: %s", batch_id.hex(),
                        sender, m.error or "wrong sender")
        if not replay.pending:
            del self.replays[batch_id]
            self.node.storage.remove_batch(batch_id)
        return True


def _ignore(_error: CqlError | None, _shadowed: tuple[ShadowReport, ...]) -> None:
    """The continuation of the mutations a crash point lets out: nobody waits for them."""
