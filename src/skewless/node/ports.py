"""Narrow interfaces the node's components are given instead of the whole ``Node``.

A component names what it uses of its host as a Protocol here (a sender, the clock, storage,
the effects batch, ...), and the ``Node`` satisfies each structurally: a component module
imports no ``node.node`` (not even for type checking), so it is not on an import cycle with it
(``tests/test_imports.py``), and what it can touch is stated in one place. Components not yet
moved over still take the ``Node``; ``docs/architecture.md`` lists them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol

from skewless.clock import Clock
from skewless.config import NodeConfig
from skewless.errors import CqlError
from skewless.node.consistency import Requirement
from skewless.node.coordinator import PlannedWrite
from skewless.node.effects import Ready, Reply
from skewless.node.latency import NodeLatency
from skewless.node.membership.membership import Membership
from skewless.node.messages import Message, MutationRequest, ReadRequest
from skewless.node.shadowing import ShadowReport
from skewless.node.tracing.records import Trace
from skewless.schema import KeyspaceDef, Schema, TableDef
from skewless.storage.engine import Storage
from skewless.storage.model import PartitionUpdate, Shadowed

WritesDone = Callable[[CqlError | None, tuple[ShadowReport, ...]], None]  # a whole write


class Sender(Protocol):
    """Sends to peers, in the Ready batch's order (``node.effects``)."""

    @property
    def address(self) -> str: ...

    def send(self, address: str, message: Message) -> None: ...

    def new_req_id(self) -> int: ...


class NodeCore(Sender, Protocol):
    """What most components read of the node: its configuration, injected clock, the peers'
    liveness and its storage (the Protocols below add what each needs beyond that)."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def membership(self) -> Membership: ...

    @property
    def storage(self) -> Storage: ...


class StampingHost(NodeCore, Protocol):
    """What timestamp issuing and the cluster clock use (``node.clock.stamping``): the node's
    configuration, its injected clock, the peers' liveness, the stamp ceiling's storage, and
    the effects batch (a durable ceiling moved; a wake-up for commit waiters)."""

    @property
    def ready(self) -> Ready: ...


class OrderedHost(NodeCore, Protocol):
    """What ordered writes' floor queries use (``node.ordered``): placement, liveness, the
    schema and storage (a replica's newest timestamp), and cluster time."""

    @property
    def schema(self) -> Schema: ...

    def replicas_for(self, ks: KeyspaceDef, key: bytes) -> list[str]: ...

    def physical_us(self) -> int: ...


class TruncationCover(Protocol):
    def covers(self, update: PartitionUpdate) -> bool: ...


class ReplicaHost(Protocol):
    """What a replica's answers to mutations and reads use (``node.replica``): local storage
    and the schema, truncation records (a hint older than a truncation is dropped), the
    latency histograms, the clock and cluster time."""

    @property
    def address(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def latency(self) -> NodeLatency: ...

    @property
    def truncations(self) -> TruncationCover: ...

    def physical_us(self) -> int: ...

    def table_by_key(self, table_key: str) -> TableDef | None: ...

    def apply_local(self, update: PartitionUpdate) -> tuple[Shadowed, ...]: ...


class TracerHost(ReplicaHost, Sender, Protocol):
    """What tracing sessions use (``node.tracing.tracer``): a replica's side (traced
    mutations and reads), the node's identity and randomness for session ids, and a
    coordinator write with its own stamp for the trace rows."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def host_id(self) -> uuid.UUID: ...

    def next_timestamp(self) -> int: ...

    def write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int,
              write_type: str, done: WritesDone, trace: Trace | None = None) -> None: ...


class BatchlogHost(NodeCore, Protocol):
    """What the batchlog uses (``node.batchlog``): planned coordinator writes and the
    capacity check, hints, local application and placement for replay, the batchlog's
    storage, truncation records, liveness and racks for its endpoints, randomness for batch
    ids, the effects batch (a stored batch is acknowledged once durable), and the test-only
    crash point."""

    crash_point_reached: str

    @property
    def rng(self) -> random.Random: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def ready(self) -> Ready: ...

    @property
    def truncations(self) -> TruncationCover: ...

    def check_capacity(self) -> None: ...

    def plan_write(self, ks: KeyspaceDef, updates: Sequence[PartitionUpdate], cl: int
                   ) -> list[PlannedWrite]: ...

    def write_planned(self, plans: Sequence[PlannedWrite], cl: int, write_type: str,
                      done: WritesDone, trace: Trace | None = None) -> None: ...

    def hint(self, target: str, payload: bytes, now_ns: int) -> None: ...

    def replicas_for(self, ks: KeyspaceDef, key: bytes) -> list[str]: ...

    def apply_local(self, update: PartitionUpdate) -> tuple[Shadowed, ...]: ...


class ScanHost(NodeCore, Protocol):
    """What range scans use (``node.scan``, ``node.scan_page``): the coordinator's table of
    operations in flight and its capacity check, placement and read targets, local storage
    and application (read repair), timestamps seen folded into the clock, the range latency
    histogram."""

    @property
    def schema(self) -> Schema: ...

    @property
    def latency(self) -> NodeLatency: ...

    @property
    def ops(self) -> MutableMapping[int, Any]: ...

    def check_capacity(self) -> None: ...

    def read_targets(self, replicas: list[str], need: Requirement, cl: int) -> list[str]: ...

    def physical_us(self) -> int: ...

    def observe(self, ts_us: int) -> None: ...

    def apply_local(self, update: PartitionUpdate) -> tuple[Shadowed, ...]: ...


class RequestBinder(Protocol):
    def bind(self, fn: Callable[..., None]) -> Callable[..., None]: ...


class ReplicaRequestSender(Protocol):
    def send(self, address: str, message: MutationRequest | ReadRequest,
             trace: Trace | None) -> None: ...


class ReadCoordinatorHost(ReplicaHost, NodeCore, Protocol):
    """What the coordinator side of reads uses (``node.read_coordinator``): a replica's side
    (its own reads and read repairs are answered in place), placement, liveness and the
    capacity check, the coordinator's tables of operations and read repairs in flight,
    timestamps seen folded into the clock, the client request binding of continuations, and
    the tracer's sender (requests wrapped for a tracing session)."""

    @property
    def ops(self) -> MutableMapping[int, Any]: ...

    @property
    def repairs(self) -> MutableMapping[int, Any]: ...

    @property
    def requests(self) -> RequestBinder: ...

    @property
    def tracer(self) -> ReplicaRequestSender: ...

    def check_capacity(self) -> None: ...

    def replicas_for(self, ks: KeyspaceDef, key: bytes) -> list[str]: ...

    def observe(self, ts_us: int) -> None: ...


class RequestsHost(Protocol):
    """What the client request registry uses (``node.requests``): the clock for deadlines,
    the planted-exception option, the gossip generation for error ids, the reply, and the
    bounds of an input (cluster time is read once per input, ``node.clock.stamping``)."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def membership(self) -> Membership: ...

    def reply(self, reply: Reply) -> None: ...

    def begin_input(self) -> None: ...

    def end_input(self) -> None: ...


class TruncationHost(Sender, Protocol):
    """What TRUNCATE uses (``node.truncation``): liveness, local storage and the effects
    batch (a truncation record made durable), the tables, stamps for the truncation time."""

    @property
    def clock(self) -> Clock: ...

    @property
    def membership(self) -> Membership: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def ready(self) -> Ready: ...

    def next_timestamp(self) -> int: ...

    def observe(self, ts_us: int) -> None: ...

    def table_by_key(self, table_key: str) -> TableDef | None: ...


class LwtHost(NodeCore, Protocol):
    """What ``node.lwt`` (the partition Paxos wiring) uses of the node."""

    @property
    def ready(self) -> Ready: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def host_id(self) -> uuid.UUID: ...

    def physical_us(self) -> int: ...

    def next_timestamp(self) -> int: ...

    def observe(self, ts_us: int) -> None: ...

    @property
    def truncations(self) -> TruncationCover: ...

    def table_by_key(self, table_key: str) -> TableDef | None: ...

    def apply_local(self, update: PartitionUpdate) -> tuple[Shadowed, ...]: ...
