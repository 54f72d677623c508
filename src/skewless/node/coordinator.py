"""Coordinator request state: quorum writes and digest reads with blocking read repair.

Theory of operation
-------------------
A request is a small synchronous state machine. The node creates it with the replicas to
contact, feeds it responses (``on_*``) and deadline expiries (``expire``), and the machine calls
its ``done`` continuation exactly once, with a result or a typed error. Machines never send:
they return the ``(address, message)`` pairs to send, and the node puts them in its Ready batch.

Writes (``WriteOp``): the mutation goes to every live replica; ``done`` fires as soon as the
consistency requirement is met by acknowledgements. The op stays registered until every replica
answered or the write timeout passed, so that the node can hint the replicas that did not
answer (``unacknowledged``). If the requirement is unmet at the deadline: WriteTimeout with the
received/required counts.

Reads (``ReadOp``), as Cassandra does them:
1. data from the first chosen replica, digests from the others the requirement needs;
2. when enough responses are in and every digest matches the data: answer;
3. otherwise ask every contacted replica for full data, merge by timestamp, send each stale
   replica the difference and wait for their acknowledgements (blocking read repair), answer
   the merged data. A timeout in any phase is a ReadTimeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from skewless.errors import (
    UNKNOWN_FAILURE,
    CqlError,
    ReadFailure,
    ReadTimeout,
    WriteFailure,
    WriteTimeout,
)
from skewless.node.consistency import Requirement
from skewless.node.messages import Message, MutationRequest, ReadRequest
from skewless.node.tracing.records import Trace
from skewless.storage import codec, merge
from skewless.storage.model import PartitionUpdate, Shadowed

# Where one update of a write goes: (update, replicas, alive replicas, replica -> DC, need).
PlannedWrite = tuple[PartitionUpdate, list[str], list[str], dict[str, str], Requirement]

Send = tuple[str, Message]


@dataclass(slots=True)
class WriteOp:
    req_id: int
    targets: tuple[str, ...]
    requirement: Requirement
    dc_of: Mapping[str, str]
    deadline_ns: int
    cl: int
    write_type: str
    done: Callable[[CqlError | None, tuple[Shadowed, ...]], None]
    payload: bytes  # the encoded update, kept to hint the replicas that do not answer
    acked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    shadowed: list[Shadowed] = field(default_factory=list)
    finished: bool = False
    causes: dict[str, str] = field(default_factory=dict)  # failed replica -> its error

    def on_ack(self, address: str, shadowed: Sequence[Shadowed], error: str) -> None:
        assert address in self.targets
        if address in self.acked or address in self.failed:
            return  # a duplicated response
        if error:
            self.failed.append(address)
            self.causes[address] = error
        else:
            self.acked.append(address)
            self.shadowed.extend(shadowed)
        self._check()

    def _check(self) -> None:
        if self.finished:
            return
        if self.requirement.satisfied(self.acked, self.dc_of):
            self.finished = True
            self.done(None, tuple(self.shadowed))
        elif len(self.targets) - len(self.failed) < self.requirement.block_for:
            self.finished = True
            self.done(
                WriteFailure(self._failure_message(), self.cl, len(self.acked),
                             self.requirement.block_for, len(self.failed), self.write_type,
                             reasons=dict.fromkeys(self.failed, UNKNOWN_FAILURE)),
                (),
            )

    def _failure_message(self) -> str:
        """Cassandra's wording, with each failed replica's cause (the v4 protocol has no
        reason map; v5's codes have none for a full disk)."""
        causes = "; ".join(f"{a}: {self.causes[a]}" for a in self.failed)
        return (f"Operation failed - received {len(self.acked)} responses and "
                f"{len(self.failed)} failures: {causes}")

    def complete(self) -> bool:
        return len(self.acked) + len(self.failed) == len(self.targets)

    def expire(self) -> None:
        if not self.finished:
            self.finished = True
            self.done(
                WriteTimeout(
                    f"Operation timed out - received only {len(self.acked)} responses.",
                    self.cl, len(self.acked), self.requirement.block_for, self.write_type),
                (),
            )

    def unacknowledged(self) -> list[str]:
        return [a for a in self.targets if a not in self.acked]


@dataclass
class ReadOp:
    """One partition read at a consistency level (see the module docstring)."""

    req_id: int
    request: ReadRequest  # the data request (digest=False)
    targets: tuple[str, ...]  # contacted replicas: targets[0] gives data, the rest digests
    block_for: int
    deadline_ns: int
    cl: int
    repair_id: Callable[[], int]  # allocates request ids for repair mutations
    done: Callable[[CqlError | None, PartitionUpdate | None], None]
    phase: str = "first"  # first -> full -> repair -> finished
    data: dict[str, PartitionUpdate] = field(default_factory=dict)
    digests: dict[str, bytes] = field(default_factory=dict)
    repairs_pending: set[int] = field(default_factory=set)
    merged: PartitionUpdate | None = None
    trace: Trace | None = None  # the tracing session of a traced request
    failed: set[str] = field(default_factory=set)
    # live replicas not contacted, and every replica's datacenter: a replica that answers
    # that its data is corrupt (``storage.integrity``) is replaced by a spare of its DC
    spares: tuple[str, ...] = ()
    dc_of: dict[str, str] = field(default_factory=dict)

    def first_sends(self) -> list[Send]:
        sends: list[Send] = [(self.targets[0], self.request)]
        digest = ReadRequest(
            self.req_id, self.request.table, self.request.key, self.request.slices,
            self.request.reverse, self.request.row_limit, True)
        sends.extend((a, digest) for a in self.targets[1:])
        return sends

    def on_response(self, address: str, data: PartitionUpdate | None, digest: bytes) -> list[Send]:
        if self.phase in ("repair", "finished") or address not in self.targets:
            return []
        if data is not None:
            self.data[address] = data
            self.digests[address] = merge.digest(data)
        else:
            self.digests.setdefault(address, digest)
        if self.phase == "first":
            return self._after_first()
        return self._after_full()

    def _after_first(self) -> list[Send]:
        if len(self.digests) < self.block_for or not self.data:
            return []
        if len(set(self.digests.values())) == 1:
            self._finish(None, next(iter(self.data.values())))
            return []
        self.phase = "full"
        responded = [a for a in self.targets if a in self.digests]
        self.targets = tuple(responded)
        return [(a, self.request) for a in responded if a not in self.data]

    def _after_full(self) -> list[Send]:
        if any(a not in self.data for a in self.targets):
            return []
        parts = [self.data[a] for a in self.targets]
        merged = parts[0]
        for p in parts[1:]:
            merged = merge.merge(merged, p)
        self.merged = merged
        sends: list[Send] = []
        for a in self.targets:
            missing = merge.diff(merged, self.data[a])
            if missing is None:
                continue
            rid = self.repair_id()
            self.repairs_pending.add(rid)
            sends.append((a, MutationRequest(rid, codec.encode_update(missing), False)))
        if not sends:
            self._finish(None, merged)
        else:
            self.phase = "repair"
        return sends

    def on_failure(self, address: str, failover: bool = False) -> list[Send]:
        """A replica answered with an error: ReadFailure once block_for is out of reach.

        With ``failover`` (its data is corrupt) and while no digest disagreed yet, a spare
        replica of the same datacenter is asked instead: the data request when the failed one
        held it, a digest otherwise."""
        if self.phase in ("repair", "finished") or address not in self.targets:
            return []
        self.failed.add(address)
        if failover and self.phase == "first":
            dc = self.dc_of.get(address)
            spare = next((a for a in self.spares if self.dc_of.get(a) == dc), None)
            if spare is not None:
                self.spares = tuple(a for a in self.spares if a != spare)
                self.failed.discard(address)  # out of the targets: not counted against them
                gave_data = address == self.targets[0]
                rest = tuple(a for a in self.targets if a != address)
                self.targets = (spare, *rest) if gave_data else (*rest, spare)
                if gave_data:
                    return [(spare, self.request)]
                return [(spare, replace(self.request, digest=True))]
        if len(self.targets) - len(self.failed) < self.block_for:
            received = len([a for a in self.digests if a not in self.failed])
            self._finish(ReadFailure(
                f"Operation failed - received {received} responses and {len(self.failed)} "
                "failures", self.cl, received, self.block_for, len(self.failed),
                bool(self.data), reasons=dict.fromkeys(self.failed, UNKNOWN_FAILURE)), None)
        return []

    def on_repair_ack(self, repair_id: int) -> None:
        self.repairs_pending.discard(repair_id)
        if self.phase == "repair" and not self.repairs_pending:
            assert self.merged is not None
            self._finish(None, self.merged)

    def expire(self) -> None:
        if self.phase == "finished":
            return
        received = len(self.digests)
        self._finish(
            ReadTimeout(
                f"Operation timed out - received only {received} responses.",
                self.cl, min(received, self.block_for - 1) if self.phase == "first" else received,
                self.block_for, bool(self.data)),
            None,
        )

    def _finish(self, error: CqlError | None, result: PartitionUpdate | None) -> None:
        assert self.phase != "finished"
        self.phase = "finished"
        self.done(error, result)


class Join:
    """Waits for ``n`` sub-operations; the first error wins; results kept in order."""

    def __init__(self, n: int, done: Callable[[CqlError | None, list[object]], None]) -> None:
        assert n >= 1
        self.results: list[object] = [None] * n
        self.remaining = n
        self.finished = False
        self.done = done

    def part(self, i: int) -> Callable[[CqlError | None, object], None]:
        def callback(error: CqlError | None, result: object) -> None:
            if self.finished:
                return
            if error is not None:
                self.finished = True
                self.done(error, [])
                return
            self.results[i] = result
            self.remaining -= 1
            if self.remaining == 0:
                self.finished = True
                self.done(None, self.results)
        return callback
