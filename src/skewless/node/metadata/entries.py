"""Cluster metadata log entries and the state they build, applied the same way on every node.

An entry is what one slot of the log chooses (``node.metadata.paxos``): a schema change or a
topology change, with a unique ``entry_id`` (the proposer recognises its own entry when the
log reaches it, whoever got it chosen). ``apply_entry`` is pure and deterministic: it depends
only on the state before and the entry, never on the applying node, so every node that applies
the same entries in the same order holds the same state (and the same content-derived schema
version).

* ``DdlEntry``: the statement's CQL text and everything its outcome would otherwise take from
  the proposing node: the keyspace in use, the id of a created table, the drop time of a
  dropped column, the cluster's datacenters (NetworkTopologyStrategy validation). It is
  applied by ``ddl.apply_ddl``; an entry that fails at its position (say a CREATE TABLE that
  lost the race to a CREATE TABLE of the same name, AlreadyExists) leaves the state unchanged,
  and its error is the proposer's answer, as Cassandra's.
* ``TopologyEntry``: a step of a topology change (join, leave, replace, remove; phase START,
  FINISH or CANCEL). One change in flight at a time: a START while another change is in
  progress is refused at apply time (the log decides which of two concurrent STARTs wins);
  FINISH and CANCEL must name the change in progress. The state records the change in progress
  and the log's ring: the tokens of every node whose JOIN or REPLACE finished (a finished LEAVE
  or REMOVE takes the node out, a finished REPLACE the node replaced). A JOIN or REPLACE START
  whose tokens collide with the log's ring is refused. Decisions are idempotent: a START of the
  change already in progress by the same node (its retry after a timeout) is that change, and a
  FINISH of the change finished last is a no-op, so a change is never decided twice. Seeds that
  took their tokens at first boot are not in the log's ring (they never needed the log); the
  topology module allocates against the union of the gossiped ring and the log's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import msgpack

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse
from skewless.cql.results import SchemaChange
from skewless.node.schema import ddl
from skewless.node.schema.codec import decode_schema, encode_schema
from skewless.schema import Schema

TOPOLOGY_OPS = ("JOIN", "LEAVE", "REPLACE", "REMOVE")
TOPOLOGY_PHASES = ("START", "FINISH", "CANCEL")


@dataclass(frozen=True, slots=True)
class DdlEntry:
    entry_id: bytes
    cql: str
    keyspace: str | None  # the session's keyspace (USE) when the statement was issued
    new_id: bytes  # 16 bytes: the id of a table this statement creates
    drop_us: int  # the drop time of a column this statement drops (0: none)
    datacenters: tuple[str, ...]  # the cluster's datacenters as the proposer saw them


@dataclass(frozen=True, slots=True)
class TopologyEntry:
    entry_id: bytes
    op: str  # one of TOPOLOGY_OPS
    phase: str  # one of TOPOLOGY_PHASES
    address: str  # the node joining, leaving, being removed, or replacing
    host_id: str
    tokens: tuple[int, ...]
    replaces: str = ""  # REPLACE: the address of the dead node whose tokens are taken


Entry = DdlEntry | TopologyEntry


@dataclass(frozen=True, slots=True)
class TopologyChange:
    """The topology change in progress (at most one)."""

    op: str
    address: str
    host_id: str
    tokens: tuple[int, ...]
    replaces: str
    started_at: int  # the log index of its START entry


RingEntry = tuple[str, tuple[int, ...]]  # (address, tokens), sorted by address


@dataclass(frozen=True, slots=True)
class MetadataState:
    index: int  # the log index this state is at (0: nothing applied)
    schema: Schema
    topology_in_progress: TopologyChange | None = None
    ring: tuple[RingEntry, ...] = ()  # nodes that joined through the log, with their tokens
    last_finished: tuple[str, str] = ("", "")  # (op, address) of the change finished last

    def tokens_of(self, address: str) -> tuple[int, ...]:
        return next((toks for a, toks in self.ring if a == address), ())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one entry did: a schema change (None: an IF [NOT] EXISTS no-op), or
    the error that made it a no-op."""

    change: SchemaChange | None = None
    error: errors.CqlError | None = None


def initial_state(schema: Schema | None = None) -> MetadataState:
    return MetadataState(0, (schema or Schema()).with_version())


# ---------------------------------------------------------------- codec


def encode_entry(e: Entry) -> bytes:
    if isinstance(e, DdlEntry):
        body: list[object] = ["ddl", e.entry_id, e.cql, e.keyspace, e.new_id, e.drop_us,
                              list(e.datacenters)]
    else:
        body = ["topology", e.entry_id, e.op, e.phase, e.address, e.host_id, list(e.tokens),
                e.replaces]
    data: bytes = msgpack.packb(body, use_bin_type=True)
    return data


def decode_entry(data: bytes) -> Entry:
    items = msgpack.unpackb(data, raw=False)
    kind = items[0]
    if kind == "ddl":
        _, entry_id, cql, keyspace, new_id, drop_us, dcs = items
        return DdlEntry(entry_id, cql, keyspace, new_id, drop_us, tuple(dcs))
    assert kind == "topology", f"unknown metadata log entry kind {kind!r}"
    _, entry_id, op, phase, address, host_id, tokens, replaces = items
    return TopologyEntry(entry_id, op, phase, address, host_id, tuple(tokens), replaces)


def encode_state(s: MetadataState) -> bytes:
    t = s.topology_in_progress
    topo = None if t is None else [t.op, t.address, t.host_id, list(t.tokens), t.replaces,
                                   t.started_at]
    ring = [[a, list(toks)] for a, toks in s.ring]
    data: bytes = msgpack.packb([2, s.index, encode_schema(s.schema), topo, ring,
                                 list(s.last_finished)], use_bin_type=True)
    return data


def decode_state(data: bytes) -> MetadataState:
    items = msgpack.unpackb(data, raw=False)
    version, index, schema, topo = items[:4]
    assert version in (1, 2), f"metadata state format {version}"
    t = None if topo is None else TopologyChange(topo[0], topo[1], topo[2], tuple(topo[3]),
                                                 topo[4], topo[5])
    if version == 1:  # before the log kept a ring
        return MetadataState(index, decode_schema(schema), t)
    ring = tuple((a, tuple(toks)) for a, toks in items[4])
    return MetadataState(index, decode_schema(schema), t, ring, (items[5][0], items[5][1]))


# ---------------------------------------------------------------- apply


def apply_entry(state: MetadataState, index: int, entry: Entry) -> tuple[MetadataState, Outcome]:
    """The state after applying ``entry`` at log ``index`` (= state.index + 1)."""
    assert index == state.index + 1, (index, state.index)
    if isinstance(entry, DdlEntry):
        try:
            schema, change = apply_ddl_entry(state.schema, entry)
        except errors.CqlError as e:
            return replace(state, index=index), Outcome(error=e)
        return replace(state, index=index, schema=schema), Outcome(change=change)
    try:
        new = _apply_topology(state, index, entry)
    except errors.CqlError as e:
        return replace(state, index=index), Outcome(error=e)
    return replace(new, index=index), Outcome()


def apply_ddl_entry(schema: Schema, entry: DdlEntry) -> tuple[Schema, SchemaChange | None]:
    """``ddl.apply_ddl`` with everything taken from the entry; raises the statement's error."""
    stmt = parse(entry.cql).statement
    assert not isinstance(stmt, ast.Select | ast.Insert | ast.Update | ast.Delete | ast.Batch)
    new, change = ddl.apply_ddl(schema, stmt, entry.keyspace,  # type: ignore[arg-type]
                                uuid.UUID(bytes=entry.new_id), entry.drop_us,
                                frozenset(entry.datacenters))
    return (new if change is not None else schema), change


def _apply_topology(state: MetadataState, index: int, e: TopologyEntry) -> MetadataState:
    assert e.op in TOPOLOGY_OPS and e.phase in TOPOLOGY_PHASES, (e.op, e.phase)
    current = state.topology_in_progress
    if e.phase == "START":
        if current is not None and (current.op, current.address, current.host_id) == (
                e.op, e.address, e.host_id):
            return state  # the proposer's retry of the change it already started
        if current is not None:
            raise errors.InvalidRequest(
                f"Another topology change is in progress ({current.op} of {current.address}); "
                "wait for it to finish (nodetool netstats), or cancel it, before starting "
                f"a {e.op} of {e.address}")
        if e.op in ("JOIN", "REPLACE"):
            _check_collision(state, e)
        started = TopologyChange(e.op, e.address, e.host_id, e.tokens, e.replaces, index)
        return replace(state, topology_in_progress=started)
    if current is None and e.phase == "FINISH" and state.last_finished == (e.op, e.address):
        return state  # decided already: a FINISH retried, or proposed by two nodes
    if current is None or (current.op, current.address) != (e.op, e.address):
        raise errors.InvalidRequest(
            f"No {e.op} of {e.address} is in progress to {e.phase.lower()}")
    if e.phase == "CANCEL":
        return replace(state, topology_in_progress=None)
    ring = dict(state.ring)
    if current.op in ("LEAVE", "REMOVE"):
        ring.pop(current.address, None)
    else:
        ring.pop(current.replaces, None)
        ring[current.address] = current.tokens
    return replace(state, topology_in_progress=None, ring=tuple(sorted(ring.items())),
                   last_finished=(e.op, e.address))


def _check_collision(state: MetadataState, e: TopologyEntry) -> None:
    """A joiner's tokens must be free in the log's ring (a replacement takes its dead node's)."""
    mine = set(e.tokens)
    for address, toks in state.ring:
        if address in (e.address, e.replaces):
            continue
        taken = sorted(mine.intersection(toks))
        if taken:
            raise errors.InvalidRequest(
                f"Bootstrapping to existing token {taken[0]} is not allowed (it is "
                f"{address}'s; decommission/removenode the old node first)")
