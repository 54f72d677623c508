"""Streaming: moving the partitions of token ranges from the node that has them to a new owner.

Theory of operation
-------------------
Streams are pulled. The node that gains ranges (a joining node, or a node inheriting the ranges
of a leaving or removed one) holds an ``Inbound`` plan: one ``Task`` per (source, table, token
range). It keeps up to ``limits.stream_sessions_inflight_max`` tasks in flight, each with one
``StreamRequest`` outstanding naming the resume point (the last partition key applied). The
source answers with a ``StreamChunk`` of whole partitions in ring order, up to
``limits.stream_chunk_bytes`` (``serve``), read with tombstones and applied by the receiver
through ``Storage.apply`` like any mutation (merge rules, and whatever Storage.apply maintains),
so a partition already written to the new owner by a client meanwhile merges, never regresses.

A source the failure detector holds down is not asked (``requests``); once it has been silent
for ``stream_source_silence_ms`` its tasks are ``stalled``: the topology module either moves
them, resume point kept, to another live replica holding the range (``consistent_range_movement``
off) or keeps the change paused, with the reason logged, until the source is back.

After each chunk the receiver records the task's resume point in its meta (synced with the
applied partitions, in the same Ready batch), so a receiver that crashes resumes every range
where it was; a request lost to a partition or a source restart is asked again after
``limits.stream_retry_ms`` from the same resume point (a re-sent chunk merges idempotently).

The source paces its answers to ``stream_throughput_outbound`` MiB/s (``Throttle``): an answer
whose bytes exceed the budget waits, in the node's tick, until the budget allows it.
Nothing here reads a clock: times are passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import msgpack

from skewless import limits
from skewless.node.messages import StreamChunk, StreamRequest
from skewless.storage import codec
from skewless.storage.engine import Storage

log = logging.getLogger("skewless.streaming")


@dataclass
class Task:
    """One table's token range (start, end] streamed from ``source``."""

    change: str  # the topology change this serves (node.topology)
    source: str
    table: str
    start: int
    end: int
    after_key: bytes | None = None  # resume point: the last partition applied
    done: bool = False
    partitions: int = 0
    bytes: int = 0
    req_id: int = 0  # the outstanding request (0: none)
    sent_ns: int = 0
    heard_ns: int = 0  # when the source last answered, or we first asked it (0: not yet)

    @property
    def session(self) -> str:
        return f"{self.change}|{self.table}|{self.start}|{self.end}"

    def row(self) -> list[object]:
        return [self.change, self.source, self.table, self.start, self.end, self.after_key,
                self.done, self.partitions, self.bytes]


@dataclass
class Inbound:
    """The streams a node receives for one topology change, resumable from its meta."""

    change: str
    tasks: list[Task]
    meta_name: str = ""  # where progress is kept ('' : not durable)
    reported_ns: int | None = None  # when StreamDone was last sent (None: not yet)

    def complete(self) -> bool:
        return all(t.done for t in self.tasks)

    def encode(self) -> bytes:
        data: bytes = msgpack.packb([t.row() for t in self.tasks], use_bin_type=True)
        return data

    @staticmethod
    def decode(change: str, raw: bytes, meta_name: str) -> Inbound:
        rows = msgpack.unpackb(raw, raw=False)
        tasks = [Task(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), r[5], bool(r[6]),
                      int(r[7]), int(r[8])) for r in rows]
        return Inbound(change, tasks, meta_name)

    def requests(self, now_ns: int, new_req_id: object, alive: Callable[[str], bool]
                 ) -> list[tuple[str, StreamRequest]]:
        """The requests to send now: new tasks up to the window, and stale ones again; none
        to a source the failure detector holds down (paused until it is back)."""
        out: list[tuple[str, StreamRequest]] = []
        active = [t for t in self.tasks if not t.done and t.req_id]
        retry_ns = limits.stream_retry_ms * 1_000_000
        for t in active:
            if now_ns - t.sent_ns >= retry_ns and alive(t.source):
                out.append(self._ask(t, now_ns, new_req_id))
        free = limits.stream_sessions_inflight_max - len(active)
        for t in self.tasks:
            if free <= 0:
                break
            if not t.done and not t.req_id and alive(t.source):
                out.append(self._ask(t, now_ns, new_req_id))
                free -= 1
        return out

    def stalled(self, now_ns: int, alive: Callable[[str], bool]) -> list[Task]:
        """Unfinished tasks whose source is down and silent for ``stream_source_silence_ms``."""
        silence_ns = limits.stream_source_silence_ms * 1_000_000
        return [t for t in self.tasks if not t.done and not alive(t.source)
                and now_ns - t.heard_ns >= silence_ns]

    @staticmethod
    def _ask(t: Task, now_ns: int, new_req_id: object) -> tuple[str, StreamRequest]:
        assert callable(new_req_id)
        t.req_id = int(new_req_id())
        t.sent_ns = now_ns
        t.heard_ns = t.heard_ns or now_ns
        req = StreamRequest(t.session, t.req_id, t.table, t.start, t.end, t.after_key or b"",
                            t.after_key is not None, limits.stream_chunk_bytes)
        return t.source, req

    def on_chunk(self, sender: str, m: StreamChunk) -> Task | None:
        """The task a chunk answers (None for a stale or unknown one); the caller applies the
        partitions, then calls ``advance``."""
        for t in self.tasks:
            if t.session == m.session and t.req_id == m.req_id and t.source == sender:
                return t
        return None

    @staticmethod
    def advance(t: Task, m: StreamChunk) -> None:
        if m.partitions:
            t.after_key = m.partitions[-1][0]
            t.partitions += len(m.partitions)
            t.bytes += sum(len(k) + len(u) for k, u in m.partitions)
        t.done = m.done
        t.req_id = 0

    def progress(self) -> list[dict[str, object]]:
        by_peer: dict[str, dict[str, object]] = {}
        for t in self.tasks:
            p = by_peer.setdefault(t.source, {
                "peer": t.source, "direction": "RECEIVING", "change": self.change,
                "ranges_done": 0, "ranges_total": 0, "partitions": 0, "bytes": 0})
            p["ranges_total"] = int(str(p["ranges_total"])) + 1
            p["ranges_done"] = int(str(p["ranges_done"])) + (1 if t.done else 0)
            p["partitions"] = int(str(p["partitions"])) + t.partitions
            p["bytes"] = int(str(p["bytes"])) + t.bytes
        return [by_peer[k] for k in sorted(by_peer)]


def serve(storage: Storage, m: StreamRequest, now_s: int) -> StreamChunk:
    """The next chunk of ``m``'s range: whole partitions with their tombstones, in ring order."""
    out: list[tuple[bytes, bytes]] = []
    size = 0
    after = m.after_key if m.has_after else None
    limit = max(1, min(m.byte_limit, limits.stream_chunk_bytes))
    for key in storage.partition_keys(m.table, m.start_token, m.end_token, after):
        if size >= limit:
            return StreamChunk(m.session, m.req_id, "", tuple(out), False)
        data = codec.encode_update(storage.read(m.table, key, now_s))
        out.append((key, data))
        size += len(key) + len(data)
    return StreamChunk(m.session, m.req_id, "", tuple(out), True)


@dataclass
class Outbound:
    """What this node streamed out, per receiving peer (for netstats)."""

    ranges_done: int = 0
    partitions: int = 0
    bytes: int = 0


@dataclass
class Throttle:
    """Paces outgoing chunks to ``mib_s`` (0: unthrottled)."""

    mib_s: float
    next_free_ns: int = 0
    queue: list[tuple[int, str, StreamChunk]] = field(default_factory=list)

    def schedule(self, now_ns: int, size: int) -> int:
        """When a chunk of ``size`` bytes may leave."""
        if self.mib_s <= 0:
            return now_ns
        at = max(now_ns, self.next_free_ns)
        self.next_free_ns = at + int(size * 1e9 / (self.mib_s * 1024 * 1024))
        return at

    def due(self, now_ns: int) -> list[tuple[str, StreamChunk]]:
        ready = [(a, c) for t, a, c in self.queue if t <= now_ns]
        self.queue = [q for q in self.queue if q[0] > now_ns]
        return ready


def chunk_bytes(c: StreamChunk) -> int:
    return sum(len(k) + len(u) for k, u in c.partitions)
