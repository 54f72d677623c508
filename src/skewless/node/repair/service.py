"""Anti-entropy repair (``nodetool repair``): Merkle trees per token range, only the differing
leaves exchanged.

Theory of operation
-------------------
A repair *command* (``ActiveRepairService.repair``) covers a keyspace's tables on the token
ranges of this node (``node.repair_ranges``: all it replicates, its primary ranges with ``-pr``,
or a sub-range with ``-st``/``-et``). This node coordinates; its ranges run one after another,
each as a *session* (Cassandra's ``RepairSession``) and, inside it, one *job* per table and
non-wrapping piece of the range:

1. Trees. Every replica of the range (this node included) hashes its partitions of the piece
   into a Merkle tree (``node.merkle``, ``MerkleTreeRequest``), at a depth chosen from its own
   partition count; the coordinator folds them to the shallowest depth and finds the leaves
   whose hashes are not equal on every replica. None: the job streams nothing.
2. Fetch. For each differing leaf (a bounded batch at a time, ``limits.repair_leaves_per_round``)
   the replicas fall into groups of equal leaf hash, hence equal data. One member of each group
   (this node when it is in it) hands out its partitions of the leaf (``LeafRequest``, resumable
   at a byte bound).
3. Stream. Per partition, the groups' copies are merged (``storage.merge``: the newest
   timestamp of every cell wins, tombstones included) and each group is sent only what it
   lacks (``storage.merge.diff``), as ``RepairStream`` to each of its members, which merge it in
   through the normal apply path and acknowledge after their sync. Writes racing with the
   repair are harmless: merging is idempotent and never goes back in time.
4. Done. Each replica records the piece as repaired as of the session's start
   (``RangeRepaired``, ``node.repaired``), which ``only_purge_repaired_tombstones`` relies on.

A replica that is down when a session starts fails the session ("Cannot proceed on repair because
a neighbor ... is dead"), as does an error answer or no answer within the time-outs; the next
sessions still run and the command ends FAILED. Progress goes to the log and to the command's
``RepairStatus`` lines, in ``nodetool repair``'s wording; the status ends with a summary (ranges
compared and differing, partitions and bytes streamed, bytes fetched, duration).

Only full repair exists (``-full`` is the default; an incremental request runs a full repair and
says so). Pure: driven by ``repair``, ``on_message`` and ``tick``; acts through the node.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import InvalidRequest
from skewless.node.messages import (
    LeafRequest,
    LeafResponse,
    MerkleLeavesRequest,
    MerkleLeavesResponse,
    MerkleTreeRequest,
    MerkleTreeResponse,
    Message,
    RangeRepaired,
    RepairStream,
    RepairStreamAck,
)
from skewless.node.placement import replication_factor
from skewless.node.repair import merkle
from skewless.node.repair import replica as repair_replica
from skewless.node.repair.ranges import RepairRange, node_ranges, options_text, stamp, sub_range
from skewless.node.repair.repaired import RepairedRanges
from skewless.node.repair.status import FAILED, RUNNING, SUCCESSFUL, RepairStatus
from skewless.node.schema.system_tables import keyspace_tables
from skewless.ring import token_of
from skewless.schema import TableDef
from skewless.storage import codec
from skewless.storage.merge import diff, merge
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.repair")

REPAIR_MESSAGES = (MerkleTreeRequest, MerkleTreeResponse, MerkleLeavesRequest,
                   MerkleLeavesResponse, LeafRequest, LeafResponse, RepairStream,
                   RepairStreamAck, RangeRepaired)
@dataclass
class _Job:
    table: TableDef
    lo: int
    hi: int
    trees: dict[str, merkle.Leaves] = field(default_factory=dict)  # ours whole, peers' tops
    depths: dict[str, int] = field(default_factory=dict)  # each replica's whole tree's depth
    depth: int = 0  # the compared depth: the shallowest replica's
    level: int = 0  # the top level compared first
    hashes: dict[str, dict[int, int]] = field(default_factory=dict)  # replica -> leaf -> hash
    local_build: repair_replica.TreeBuild | None = None  # our tree, while it is being built
    differing: list[int] = field(default_factory=list)
    next_leaf: int = 0
    groups: dict[int, list[list[str]]] = field(default_factory=dict)  # leaf -> groups
    copies: dict[str, dict[bytes, PartitionUpdate]] = field(default_factory=dict)  # rep -> data
    streamed: int = 0


@dataclass
class _Session:
    range: RepairRange
    jobs: list[_Job]
    session_id: uuid.UUID
    started_s: int
    job: int = 0
    differing: bool = False
    error: str = ""


@dataclass
class _Command:
    status: RepairStatus
    sessions: list[_Session]
    current: int = 0


@dataclass
class _Pending:
    command: _Command
    replica: str
    deadline_ns: int
    request: Message


class ActiveRepairService:
    """Repair commands this node coordinates, and its replica side (``node.repair_replica``)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.repaired = RepairedRanges(node.storage)
        self.commands: dict[int, _Command] = {}
        self._last_command = 0
        self.pending: dict[int, _Pending] = {}
        # replica side: (coordinator, table, start, end) -> (partitions, leaves), oldest first
        self.trees: dict[tuple[str, str, int, int], tuple[int, merkle.Leaves]] = {}
        self.builds: list[repair_replica.TreeBuild] = []  # trees being built, oldest first

    # ------------------------------------------------------------------ API

    def repair(self, keyspace: str, tables: Sequence[str] = (), primary_range: bool = False,
               full: bool = True, start_token: int | None = None,
               end_token: int | None = None) -> int:
        """Start a repair command; its number, for ``status``. InvalidRequest on bad input."""
        node = self.node
        ks = node.schema.keyspace(keyspace)
        if ks is None:
            raise InvalidRequest(f"Keyspace [{keyspace}] does not exist.")
        defs = self._tables(keyspace, tables)
        sub = sub_range(start_token, end_token)
        self._last_command += 1
        number = self._last_command
        now_us = node.clock.real_time_us()
        status = RepairStatus(number, keyspace, started_us=now_us)
        replication = ks.replication_map()
        ranges = [r for r in node_ranges(node.membership.ring(), replication, node.address,
                                         primary_range, sub) if len(r.replicas) > 1]
        names = tuple(t.name for t in defs) if tables else ()
        command_id = uuid.UUID(int=node.rng.getrandbits(128), version=1)
        self._line(status, f"Starting repair command #{number} ({command_id}), repairing "
                   f"keyspace {keyspace} with repair options "
                   f"({options_text(primary_range, names, len(ranges), sub)})")
        if not full:
            self._line(status, "Incremental repair is not supported: running a full repair")
        command = _Command(status, [self._session(r, defs) for r in ranges])
        self.commands[number] = command
        self._forget_old()
        if not ranges:
            why = (f"Replication factor is 1. No repair is needed for keyspace '{keyspace}'"
                   if replication_factor(replication) <= 1 else
                   f"Nothing to repair for {sub and f'({sub[0]},{sub[1]}]' or 'any range'} "
                   f"in keyspace {keyspace}")
            self._line(status, why)
        self._next_session(command)
        return number

    def status(self, number: int) -> RepairStatus | None:
        """A command's status (lines so far), or None when unknown or long forgotten."""
        c = self.commands.get(number)
        return None if c is None else c.status

    def purge(self, keyspace: str, tables: Sequence[str] = ()) -> int:
        """Drop purgeable tombstones of the tables (``node.repaired``); entries removed."""
        if self.node.schema.keyspace(keyspace) is None:
            raise InvalidRequest(f"Keyspace [{keyspace}] does not exist.")
        now_s = self.node.physical_us() // 1_000_000
        removed = sum(self.repaired.purge(t, now_s) for t in self._tables(keyspace, tables))
        return removed

    def _tables(self, keyspace: str, names: Sequence[str]) -> list[TableDef]:
        schema = self.node.schema
        tables = keyspace_tables(schema, keyspace)  # system_auth's too, once altered
        if not names:
            return tables
        out = []
        for name in names:
            t = next((x for x in tables if x.name == name), None)
            if t is None:
                raise InvalidRequest(f"Unknown keyspace/cf pair ({keyspace}.{name})")
            out.append(t)
        return out

    def _session(self, r: RepairRange, tables: list[TableDef]) -> _Session:
        jobs = [_Job(t, lo, hi) for lo, hi in r.pieces() for t in tables]
        sid = uuid.UUID(int=self.node.rng.getrandbits(128), version=1)
        return _Session(r, jobs, sid, 0)

    def _forget_old(self) -> None:
        done = [n for n, c in self.commands.items() if c.status.state != RUNNING]
        for n in done[:max(0, len(done) - limits.repair_commands_kept)]:
            del self.commands[n]

    def _line(self, status: RepairStatus, text: str) -> None:
        status.lines.append(f"{stamp(self.node.clock.real_time_us())} {text}")
        log.info("repair #%d: %s", status.command, text)

    # ------------------------------------------------------------------ sessions and jobs

    def _next_session(self, command: _Command) -> None:
        while command.current < len(command.sessions):
            s = command.sessions[command.current]
            dead = [a for a in s.range.replicas[1:] if not self.node.membership.is_alive(a)]
            if dead:
                self._end_session(command, s, f"Cannot proceed on repair because a neighbor "
                                  f"(/{dead[0]}) is dead: session failed")
                continue
            s.started_s = self.node.physical_us() // 1_000_000
            if self._start_job(command, s):
                return
        self._end_command(command)

    def _start_job(self, command: _Command, s: _Session) -> bool:
        """Start the session's next job; False when the session had none left (it ended)."""
        if s.job >= len(s.jobs):
            self._end_session(command, s, "")
            return False
        job = s.jobs[s.job]
        job.local_build = repair_replica.TreeBuild("", 0, job.table.table_key, job.lo, job.hi)
        self.builds.append(job.local_build)
        self._wake()
        for a in s.range.replicas[1:]:
            self._send(command, a, MerkleTreeRequest(
                self.node.new_req_id(), job.table.table_key, job.lo, job.hi),
                limits.repair_tree_timeout_ms)
        return True

    def _send(self, command: _Command, address: str, m: Message, timeout_ms: int) -> None:
        req_id = getattr(m, "req_id")  # noqa: B009 - every request kind has one
        deadline = self.node.clock.monotonic_ns() + timeout_ms * 1_000_000
        self.pending[req_id] = _Pending(command, address, deadline, m)
        self.node.send(address, m)

    def _waiting(self, command: _Command) -> bool:
        """Whether the command's current step still waits for a peer or its own tree."""
        if any(p.command is command for p in self.pending.values()):
            return True
        return command.current < len(command.sessions) and \
            self._current(command)[1].local_build is not None

    def _wake(self) -> None:
        gap_ns = limits.repair_hash_step_gap_ms * 1_000_000
        ready = self.node.ready
        ready.wake_after_ns = min(ready.wake_after_ns or gap_ns, gap_ns)

    def _build_step(self) -> None:
        """Hash a bounded number of partitions of the oldest tree being built; answer or use
        it when done; ask to be woken again soon while more remain."""
        if not self.builds:
            return
        build = self.builds[0]
        if build.step(self.node, limits.repair_hash_partitions_per_step):
            self.builds.pop(0)
            if build.sender:
                self.node.send(build.sender, repair_replica.tree_reply(self.node, build))
            else:
                self._own_tree(build)
        if self.builds:
            self._wake()

    def _own_tree(self, build: repair_replica.TreeBuild) -> None:
        for command in self.commands.values():
            if command.current >= len(command.sessions):
                continue
            _, job = self._current(command)
            if job.local_build is build:
                job.local_build = None
                _, leaves = build.result()
                job.trees[self.node.address] = leaves
                job.depths[self.node.address] = merkle.depth_of(leaves)
                if not self._waiting(command):
                    self._compare(command)
                return

    def _current(self, command: _Command) -> tuple[_Session, _Job]:
        s = command.sessions[command.current]
        return s, s.jobs[s.job]

    def _compare(self, command: _Command) -> None:
        """Compare the tops of the trees; where they differ below the top, ask for the leaves
        under the unequal nodes (second round), else group the replicas at once."""
        s, job = self._current(command)
        job.depth = min(job.depths.values())
        job.level = min(job.depth, limits.merkle_top_depth)
        top = {a: merkle.at_depth(t, job.level) for a, t in job.trees.items()}
        unequal = merkle.differing_leaves([top[a] for a in s.range.replicas])
        if not unequal or job.level == job.depth:
            job.hashes = {a: {i: top[a][i] for i in unequal} for a in s.range.replicas}
            self._group(command, unequal)
            return
        index = _under(job, unequal)
        me = self.node.address
        job.hashes = {me: dict(zip(index, merkle.under(job.trees[me], job.level, job.depth,
                                                       unequal), strict=True))}
        for a in s.range.replicas[1:]:
            self._send(command, a, MerkleLeavesRequest(
                self.node.new_req_id(), job.table.table_key, job.lo, job.hi, job.level,
                job.depth, tuple(unequal)), limits.repair_tree_timeout_ms)

    def _group(self, command: _Command, leaves: list[int]) -> None:
        """Group the replicas of each differing leaf by its hash, then exchange the leaves."""
        s, job = self._current(command)
        job.differing = [i for i in leaves if len({job.hashes[a][i] for a in job.hashes}) > 1]
        for leaf in job.differing:
            groups: dict[int, list[str]] = {}
            for a in s.range.replicas:
                groups.setdefault(job.hashes[a][leaf], []).append(a)
            job.groups[leaf] = list(groups.values())
        if job.differing:
            s.differing = True
            command.status.leaves_differing += len(job.differing)
            self._line(command.status, f"[repair #{s.session_id}] {job.table.keyspace}."
                       f"{job.table.name}: {len(job.differing)} of {1 << job.depth} leaves of "
                       f"({job.lo},{job.hi}] out of sync among "
                       f"{', '.join('/' + a for a in s.range.replicas)}")
        self._next_round(command)

    def _next_round(self, command: _Command) -> None:
        s, job = self._current(command)
        batch = job.differing[job.next_leaf:job.next_leaf + limits.repair_leaves_per_round]
        job.next_leaf += len(batch)
        if not batch:
            self._end_job(command)
            return
        job.copies = {}
        wanted: dict[str, list[tuple[int, int]]] = {}
        for leaf in batch:
            for members in job.groups[leaf]:
                rep = self.node.address if self.node.address in members else members[0]
                wanted.setdefault(rep, []).append(
                    merkle.leaf_range(job.lo, job.hi, job.depth, leaf))
        for rep, ranges in wanted.items():
            job.copies[rep] = {}
            if rep == self.node.address:
                parts, _, _ = repair_replica.local_leaves(
                    self.node, job.table.table_key, tuple(ranges), b"", 1 << 62)
                self._keep(job, rep, parts)
            else:
                self._send(command, rep, LeafRequest(
                    self.node.new_req_id(), job.table.table_key, tuple(ranges), b"",
                    limits.repair_stream_bytes_max), limits.repair_stream_timeout_ms)
        if not self._waiting(command):
            self._stream(command)

    def _keep(self, job: _Job, rep: str, parts: Sequence[bytes]) -> None:
        for data in parts:
            p = codec.decode_update(data)
            job.copies[rep][p.key] = p

    def _stream(self, command: _Command) -> None:
        """Merge the fetched copies and send each group what it lacks."""
        s, job = self._current(command)
        out: dict[str, list[bytes]] = {}
        keys = {k for copy in job.copies.values() for k in copy}
        for key in sorted(keys):
            leaf = merkle.leaf_of(job.lo, job.hi, job.depth, token_of(key))
            groups = job.groups.get(leaf)
            if groups is None:
                continue  # a fetch overshoot cannot happen: leaves are fetched whole
            reps = [self.node.address if self.node.address in g else g[0] for g in groups]
            empty = PartitionUpdate(job.table.table_key, key)
            copies = [job.copies[r].get(key, empty) for r in reps]
            merged = copies[0]
            for c in copies[1:]:
                merged = merge(merged, c)
            for members, have in zip(groups, copies, strict=True):
                d = diff(merged, have)
                if d is not None:
                    data = codec.encode_update(d)
                    for a in members:
                        out.setdefault(a, []).append(data)
        job.copies = {}
        status = command.status
        for address, parts in sorted(out.items()):
            status.partitions_streamed += len(parts)
            status.bytes_streamed += sum(len(p) for p in parts)
            job.streamed += len(parts)
            if address == self.node.address:
                error = repair_replica.apply_stream(self.node, tuple(parts))
                assert not error, error  # our own reads decoded: a broken invariant otherwise
                continue
            for chunk in _chunks(parts, limits.repair_stream_bytes_max):
                self._send(command, address, RepairStream(self.node.new_req_id(), chunk),
                           limits.repair_stream_timeout_ms)
        if not self._waiting(command):
            self._next_round(command)

    def _end_job(self, command: _Command) -> None:
        s, job = self._current(command)
        node = self.node
        key = job.table.table_key
        self.repaired.record(key, job.lo, job.hi, s.started_s)
        for a in s.range.replicas[1:]:
            node.send(a, RangeRepaired(key, job.lo, job.hi, s.started_s))
        if job.streamed:
            log.info("repair session %s: %s.%s (%d,%d]: %d partitions streamed", s.session_id,
                     job.table.keyspace, job.table.name, job.lo, job.hi, job.streamed)
        s.job += 1
        if not self._start_job(command, s):
            self._next_session(command)

    def _end_session(self, command: _Command, s: _Session, error: str) -> None:
        status = command.status
        s.error = error
        command.current += 1
        progress = command.current * 100 // max(1, len(command.sessions))
        if error:
            status.sessions_failed += 1
            self._line(status, f"Repair session {s.session_id} for range [{s.range.text()}] "
                       f"failed with error {error}")
            return
        status.ranges_compared += 1
        status.ranges_differing += s.differing
        self._line(status, f"Repair session {s.session_id} for range [{s.range.text()}] "
                   f"finished (progress: {progress}%)")

    def _end_command(self, command: _Command) -> None:
        status = command.status
        status.finished_us = self.node.clock.real_time_us()
        secs = (status.finished_us - status.started_us) // 1_000_000
        status.state = FAILED if status.sessions_failed else SUCCESSFUL
        if status.state == SUCCESSFUL:
            self._line(status, "Repair completed successfully")
        self._line(status, (f"Repair summary: {status.ranges_compared} ranges compared, "
                            f"{status.ranges_differing} differing ({status.leaves_differing} "
                            f"leaves), {status.partitions_streamed} partitions "
                            f"({status.bytes_streamed} bytes) streamed, {status.bytes_fetched} "
                            f"bytes fetched, {status.tree_bytes} bytes of trees"))
        ending = "finished" if status.state == SUCCESSFUL else "finished with error"
        self._line(status, f"Repair command #{status.command} {ending} in {secs} seconds")

    def _fail(self, command: _Command, error: str) -> None:
        for r in [r for r, p in self.pending.items() if p.command is command]:
            del self.pending[r]
        s, job = self._current(command)
        if job.local_build is not None:
            self.builds.remove(job.local_build)
            job.local_build = None
        self._end_session(command, s, error)
        self._next_session(command)

    # ------------------------------------------------------------------ messages and time

    def on_message(self, sender: str, m: Message) -> None:
        node = self.node
        if isinstance(m, MerkleTreeRequest):
            refusal = repair_replica.tree_request(node, sender, m)
            if refusal is not None:
                node.send(sender, refusal)
            else:
                self._wake()
        elif isinstance(m, MerkleLeavesRequest):
            node.send(sender, repair_replica.subtree_reply(node, sender, m))
        elif isinstance(m, LeafRequest):
            node.send(sender, repair_replica.leaves_reply(node, m))
        elif isinstance(m, RepairStream):
            node.send(sender, repair_replica.stream_reply(node, m))
        elif isinstance(m, RangeRepaired):
            repair_replica.on_repaired(node, m)
        elif isinstance(m, MerkleTreeResponse | MerkleLeavesResponse | LeafResponse
                        | RepairStreamAck):
            p = self.pending.get(m.req_id)
            if p is None or p.replica != sender:
                return  # late, or from a failed session
            del self.pending[m.req_id]
            if m.error:
                self._fail(p.command, f"{m.error} (from /{sender})")
            else:
                self._on_answer(p, m)

    def _on_answer(self, p: _Pending, m: MerkleTreeResponse | MerkleLeavesResponse
                   | LeafResponse | RepairStreamAck) -> None:
        command = p.command
        _, job = self._current(command)
        if isinstance(m, MerkleTreeResponse | MerkleLeavesResponse):
            command.status.tree_bytes += len(m.leaves)
            try:
                self._take_tree(job, p, m)
            except ValueError as e:
                self._fail(command, f"{e} (from /{p.replica})")
                return
            if self._waiting(command):
                return
            if isinstance(m, MerkleTreeResponse):
                self._compare(command)
            else:
                assert isinstance(p.request, MerkleLeavesRequest)
                self._group(command, _under(job, p.request.nodes))
        elif isinstance(m, LeafResponse):
            assert isinstance(p.request, LeafRequest)
            command.status.bytes_fetched += sum(len(x) for x in m.partitions)
            self._keep(job, p.replica, m.partitions)
            rest = p.request.ranges[m.ranges_done:]
            if rest:
                self._send(command, p.replica, LeafRequest(
                    self.node.new_req_id(), p.request.table, rest, m.last_key,
                    p.request.byte_limit), limits.repair_stream_timeout_ms)
            elif not self._waiting(command):
                self._stream(command)
        elif not self._waiting(command):
            self._next_round(command)

    def _take_tree(self, job: _Job, p: _Pending, m: MerkleTreeResponse | MerkleLeavesResponse
                   ) -> None:
        """Keep a replica's tree top or leaves; ValueError when they do not fit the request."""
        if isinstance(m, MerkleTreeResponse):
            top = merkle.decode_leaves(m.leaves)
            if not 0 <= m.depth <= limits.merkle_depth_max or \
                    merkle.depth_of(top) != min(m.depth, limits.merkle_top_depth):
                raise ValueError(f"a Merkle tree top of {len(top)} nodes for depth {m.depth}")
            job.trees[p.replica], job.depths[p.replica] = top, m.depth
            return
        assert isinstance(p.request, MerkleLeavesRequest)
        index = _under(job, p.request.nodes)
        job.hashes[p.replica] = dict(zip(index, merkle.decode_hashes(m.leaves, len(index)),
                                         strict=True))

    def tick(self, now_ns: int) -> None:
        self._build_step()
        alive = self.node.membership.is_alive
        late = [p for p in self.pending.values() if p.deadline_ns <= now_ns or not alive(p.replica)]
        failed: set[int] = set()
        for p in late:
            if id(p.command) not in failed and p.command.current < len(p.command.sessions):
                failed.add(id(p.command))
                why = "in time" if alive(p.replica) else "before it went down"
                self._fail(p.command, f"Did not get a reply from /{p.replica} {why}")


def _under(job: _Job, nodes: Sequence[int]) -> list[int]:
    """The leaves (at the job's depth) under these nodes of its top level."""
    width = 1 << (job.depth - job.level)
    return [j for i in nodes for j in range(i * width, (i + 1) * width)]


def _chunks(parts: list[bytes], byte_limit: int) -> list[tuple[bytes, ...]]:
    out: list[tuple[bytes, ...]] = []
    chunk: list[bytes] = []
    size = 0
    for p in parts:
        chunk.append(p)
        size += len(p)
        if size >= byte_limit:
            out.append(tuple(chunk))
            chunk, size = [], 0
    if chunk:
        out.append(tuple(chunk))
    return out
