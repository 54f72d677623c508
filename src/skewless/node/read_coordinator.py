"""The coordinator side of single-partition reads: targets, dispatch, responses.

Theory of operation
-------------------
``read`` chooses the fewest live replicas that meet the consistency level (this node first,
then its datacenter; replicas whose storage needs a rebuild only when the others are too few),
registers a ``node.coordinator.ReadOp`` under a fresh request id in the host's table of
operations in flight, and carries out what the op asks for: data and digest requests, then
(on a digest mismatch) full data reads, then blocking read repair mutations. Requests to this
node are answered in place, through the replica side (``node.replica``); the others are sent,
wrapped for a tracing session when there is one. Every response goes back to the op, which
returns the next sends; ``done`` fires once, through the op. Timeouts are the host's tick
(``Node._expire_ops``), which also forgets the op's read repair requests.

The op decides; this module only routes. It sees the node through ``ReadCoordinatorHost``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from skewless import limits
from skewless.errors import CqlError, Unavailable
from skewless.node import consistency as cl_mod
from skewless.node import replica
from skewless.node.clock.stamps import max_timestamp
from skewless.node.coordinator import ReadOp, Send
from skewless.node.latency import timed
from skewless.node.messages import MutationRequest, ReadRequest, ReadResponse
from skewless.node.placement import dc_factors
from skewless.node.ports import ReadCoordinatorHost
from skewless.node.tracing.records import THREAD_READ, Trace
from skewless.schema import KeyspaceDef
from skewless.storage import codec, merge
from skewless.storage.diskspace import DiskFull
from skewless.storage.integrity import CORRUPT_PREFIX, gossiped_verdict
from skewless.storage.model import PartitionUpdate

log = logging.getLogger("skewless.node")

ReadDone = Callable[[CqlError | None, PartitionUpdate | None], None]

_PHASE_NOTES = {
    "full": "Digest mismatch: reading full data from every contacted replica",
    "repair": "Replicas differ: blocking read repair",
}


class ReadCoordinator:
    def __init__(self, host: ReadCoordinatorHost) -> None:
        self.host = host

    def read(self, ks: KeyspaceDef, request: ReadRequest, cl: int, done: ReadDone,
             trace: Trace | None = None) -> None:
        """Read one partition at ``cl`` (``request.req_id`` is ignored and reassigned)."""
        host = self.host
        host.check_capacity()
        factors = dc_factors(ks.replication_map(), host.config.dc)
        need = cl_mod.requirement(cl, factors, host.config.dc, write=False)
        replicas = host.replicas_for(ks, request.key)
        targets = self.read_targets(replicas, need, cl)
        req_id = host.new_req_id()
        req = ReadRequest(req_id, request.table, request.key, request.slices, request.reverse,
                          request.row_limit, False)
        deadline_ns = host.clock.monotonic_ns() + limits.read_timeout_ms * 1_000_000
        done = timed(host.clock, host.latency.coordinator_read, host.requests.bind(done))

        def finished(error: CqlError | None, data: PartitionUpdate | None) -> None:
            host.ops.pop(req_id, None)
            if data is not None:
                host.observe(max_timestamp(data))
            if trace is not None:
                trace.event(f"Read failed: {error}" if error is not None else
                            f"Read complete: {len(data.rows) if data else 0} rows")
            done(error, data)

        membership = host.membership
        spares = tuple(sorted((a for a in replicas
                               if a not in targets and membership.is_alive(a)),
                              key=self.needs_rebuild))
        op = ReadOp(req_id, req, tuple(targets), len(targets), deadline_ns, cl,
                    host.new_req_id, finished, trace=trace, spares=spares,
                    dc_of={a: membership.dc_of(a) for a in replicas})
        host.ops[req_id] = op
        if trace is not None:
            trace.event(f"Determining replicas to query: {', '.join(targets)} "
                        f"(of {', '.join(replicas)})")
        self._dispatch(op, op.first_sends())

    def read_targets(self, replicas: list[str], need: cl_mod.Requirement, cl: int) -> list[str]:
        """The live replicas to read from at ``cl``; raises Unavailable when too few are up."""
        membership = self.host.membership
        alive = [a for a in replicas if membership.is_alive(a)]
        dc_of = {a: membership.dc_of(a) for a in replicas}
        damaged = [a for a in alive if self.needs_rebuild(a)]
        targets = None
        if damaged:  # replicas whose storage needs rebuild are asked only when others are too few
            targets = self._fewest([a for a in alive if a not in damaged], dc_of, need)
        targets = targets or self._fewest(alive, dc_of, need)
        if targets is None:
            raise Unavailable("Cannot achieve consistency level " + cl_mod.NAMES[cl], cl,
                              need.block_for, len(alive))
        return targets

    def needs_rebuild(self, address: str) -> bool:
        """Whether that replica's storage is corrupt (ours, or as its gossip says)."""
        if address == self.host.address:
            return bool(gossiped_verdict(self.host.storage.kv))
        peer = self.host.membership.peers.get(address)
        return peer is not None and bool(peer.state.storage)

    def _fewest(self, alive: list[str], dc_of: dict[str, str],
                need: cl_mod.Requirement) -> list[str] | None:
        """The fewest live replicas meeting ``need``: this node first, then its datacenter."""
        me, my_dc = self.host.address, self.host.config.dc
        order = sorted(alive, key=lambda a: (a != me, dc_of[a] != my_dc, a))
        chosen: list[str] = []
        for dc, n in need.per_dc.items():
            chosen.extend([a for a in order if dc_of[a] == dc][:n])
        for a in order:
            if len(chosen) >= need.block_for:
                break
            if a not in chosen:
                chosen.append(a)
        if not need.satisfied(chosen, dc_of) or len(chosen) < need.block_for:
            return None
        return sorted(chosen, key=order.index)

    def on_response(self, sender: str, m: ReadResponse) -> None:
        op = self.host.ops.get(m.req_id)
        if not isinstance(op, ReadOp):
            return
        if m.error:
            log.warning("read %s failed on %s: %s", m.req_id, sender, m.error)
            self._dispatch(op, op.on_failure(sender, m.error.startswith(CORRUPT_PREFIX)))
            return
        data = codec.decode_update(m.data) if m.data else None
        self._dispatch(op, op.on_response(sender, data, m.digest))

    def _dispatch(self, op: ReadOp, sends: list[Send]) -> None:
        trace = op.trace
        if trace is not None and op.phase in _PHASE_NOTES:
            trace.note_once(f"{op.req_id} {op.phase}", _PHASE_NOTES[op.phase])
        for addr, msg in sends:
            if isinstance(msg, MutationRequest):
                self._repair(op, addr, msg)
                continue
            assert isinstance(msg, ReadRequest)
            if trace is not None:
                what = "digest" if msg.digest else "data"
                trace.event(f"reading {what} from {addr}")
            if addr == self.host.address:
                self._read_here(op, msg)
            else:
                self.host.tracer.send(addr, msg, trace)

    def _repair(self, op: ReadOp, addr: str, msg: MutationRequest) -> None:
        """A blocking read repair mutation: applied here or sent, acknowledged to the op."""
        host = self.host
        host.repairs[msg.req_id] = op
        if op.trace is not None:
            op.trace.event(f"Read repair: sending the missing data to {addr}")
        if addr != host.address:
            host.tracer.send(addr, msg, op.trace)
            return
        try:
            host.apply_local(codec.decode_update(msg.update))
        except DiskFull as e:  # as a peer's failed repair: acknowledged anyway
            log.warning("read repair not applied here: %s", e)
        host.repairs.pop(msg.req_id)
        op.on_repair_ack(msg.req_id)

    def _read_here(self, op: ReadOp, msg: ReadRequest) -> None:
        """This node's own data or digest request, answered in place through the replica."""
        host = self.host
        data = replica.read_checked(host, msg)
        if isinstance(data, str):  # corrupt here: ask another replica
            log.warning("read %s failed locally: %s", msg.req_id, data)
            self._dispatch(op, op.on_failure(host.address, failover=True))
            return
        refusal = replica.refusal(host, msg, data)
        if refusal is not None:
            log.warning("read %s refused locally: %s", msg.req_id, refusal)
            op.on_failure(host.address)
            return
        if op.trace is not None:
            op.trace.event(f"Read {len(data.rows)} rows locally", THREAD_READ)
        more = op.on_response(host.address, None if msg.digest else data,
                              merge.digest(data) if msg.digest else b"")
        self._dispatch(op, more)
