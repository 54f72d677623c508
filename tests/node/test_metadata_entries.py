"""Metadata log entries (node.metadata.entries): codecs, DDL applied from the entry alone,
and the one-topology-change-at-a-time rule decided at apply time."""

from __future__ import annotations

import uuid

from skewless import errors
from skewless.node.metadata.entries import (
    DdlEntry,
    TopologyEntry,
    apply_entry,
    decode_entry,
    decode_state,
    encode_entry,
    encode_state,
    initial_state,
)

TABLE_ID = uuid.UUID(int=7, version=4).bytes


def _ddl(i: int, cql: str, keyspace: str | None = None, drop_us: int = 0) -> DdlEntry:
    return DdlEntry(bytes([i]) * 16, cql, keyspace, TABLE_ID, drop_us, ("datacenter1",))


def _topo(i: int, op: str, phase: str, address: str) -> TopologyEntry:
    return TopologyEntry(bytes([i]) * 16, op, phase, address, "host", (1, 2), "")


def test_codecs_round_trip() -> None:
    for e in (_ddl(1, "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1}", "ks", 5),
              _topo(2, "REPLACE", "START", "127.0.0.4")):
        assert decode_entry(encode_entry(e)) == e
    state = initial_state()
    state, _ = apply_entry(state, 1, _topo(3, "JOIN", "START", "127.0.0.4"))
    assert decode_state(encode_state(state)) == state


def test_ddl_applied_from_the_entry_alone_is_deterministic() -> None:
    log = [
        _ddl(1, "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}"),
        _ddl(2, "CREATE TABLE t (a int PRIMARY KEY, b int)", "k"),
        _ddl(3, "ALTER TABLE k.t DROP b", drop_us=1234),
    ]
    states = []
    for _ in range(2):
        s = initial_state()
        for i, e in enumerate(log, 1):
            s, outcome = apply_entry(s, i, e)
            assert outcome.error is None and outcome.change is not None
        states.append(s)
    assert states[0] == states[1] and states[0].index == 3
    table = states[0].schema.table("k", "t")
    assert table is not None and table.id == uuid.UUID(bytes=TABLE_ID)
    assert [d.dropped_us for d in table.dropped] == [1234]  # the entry's drop time


def test_a_losing_create_answers_already_exists_and_changes_nothing() -> None:
    s = initial_state()
    s, _ = apply_entry(s, 1, _ddl(1, "CREATE KEYSPACE k WITH replication = "
                                     "{'class': 'SimpleStrategy', 'replication_factor': 1}"))
    s, first = apply_entry(s, 2, _ddl(2, "CREATE TABLE k.t (a int PRIMARY KEY)"))
    before = s.schema
    s, second = apply_entry(s, 3, _ddl(3, "CREATE TABLE k.t (a int PRIMARY KEY, x int)"))
    assert first.error is None
    assert isinstance(second.error, errors.AlreadyExists)
    assert s.schema == before and s.index == 3
    s, third = apply_entry(s, 4, _ddl(4, "CREATE TABLE IF NOT EXISTS k.t (a int PRIMARY KEY)"))
    assert third.error is None and third.change is None  # a no-op, answered Void


def test_one_topology_change_in_flight() -> None:
    s = initial_state()
    s, a = apply_entry(s, 1, _topo(1, "JOIN", "START", "127.0.0.4"))
    s, b = apply_entry(s, 2, _topo(2, "LEAVE", "START", "127.0.0.2"))
    assert a.error is None
    assert isinstance(b.error, errors.InvalidRequest)
    assert "JOIN of 127.0.0.4" in str(b.error)
    assert s.topology_in_progress is not None
    assert s.topology_in_progress.address == "127.0.0.4"
    assert s.topology_in_progress.started_at == 1
    s, wrong = apply_entry(s, 3, _topo(3, "LEAVE", "FINISH", "127.0.0.2"))
    assert isinstance(wrong.error, errors.InvalidRequest)
    s, done = apply_entry(s, 4, _topo(4, "JOIN", "FINISH", "127.0.0.4"))
    assert done.error is None and s.topology_in_progress is None
    s, again = apply_entry(s, 5, _topo(5, "LEAVE", "START", "127.0.0.2"))
    assert again.error is None
    s, cancel = apply_entry(s, 6, _topo(6, "LEAVE", "CANCEL", "127.0.0.2"))
    assert cancel.error is None and s.topology_in_progress is None


def _step(i: int, op: str, phase: str, address: str, host: str = "host",
          tokens: tuple[int, ...] = (1, 2), replaces: str = "") -> TopologyEntry:
    return TopologyEntry(bytes([i]) * 16, op, phase, address, host, tokens, replaces)


def test_the_log_keeps_a_ring_refuses_collisions_and_decides_each_change_once() -> None:
    s = initial_state()
    s, _ = apply_entry(s, 1, _step(1, "JOIN", "START", "127.0.0.4", tokens=(10, 20)))
    # the joiner's retry of its START (after a timeout) is its change, not a second one
    s, again = apply_entry(s, 2, _step(2, "JOIN", "START", "127.0.0.4", tokens=(11, 21)))
    assert again.error is None and s.topology_in_progress is not None
    assert s.topology_in_progress.tokens == (10, 20) and s.topology_in_progress.started_at == 1
    s, _ = apply_entry(s, 3, _step(3, "JOIN", "FINISH", "127.0.0.4"))
    assert s.ring == (("127.0.0.4", (10, 20)),) and s.topology_in_progress is None
    s, twice = apply_entry(s, 4, _step(4, "JOIN", "FINISH", "127.0.0.4"))  # decided already
    assert twice.error is None and s.ring == (("127.0.0.4", (10, 20)),)
    s, clash = apply_entry(s, 5, _step(5, "JOIN", "START", "127.0.0.5", tokens=(5, 20)))
    assert isinstance(clash.error, errors.InvalidRequest)
    assert "Bootstrapping to existing token 20 is not allowed" in str(clash.error)
    assert s.topology_in_progress is None
    # a replacement takes its dead node's tokens; the finished REPLACE swaps the owners
    s, rep = apply_entry(s, 6, _step(6, "REPLACE", "START", "127.0.0.6", tokens=(10, 20),
                                     replaces="127.0.0.4"))
    assert rep.error is None
    s, _ = apply_entry(s, 7, _step(7, "REPLACE", "FINISH", "127.0.0.6"))
    assert s.ring == (("127.0.0.6", (10, 20)),)
    s, _ = apply_entry(s, 8, _step(8, "LEAVE", "START", "127.0.0.6"))
    s, _ = apply_entry(s, 9, _step(9, "LEAVE", "FINISH", "127.0.0.6"))
    assert s.ring == () and s.last_finished == ("LEAVE", "127.0.0.6")
    assert decode_state(encode_state(s)) == s
    s, stray = apply_entry(s, 10, _step(10, "JOIN", "FINISH", "127.0.0.7"))
    assert isinstance(stray.error, errors.InvalidRequest)  # never started: refused
